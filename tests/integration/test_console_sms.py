"""SMS Settings: Enterprise only (refused on other plans, said on the page), the default country's E.164 example,
the seed's three questions answered, saving audited."""

from __future__ import annotations

import pytest
from django.urls import reverse

from cmsf.billing.models import BillingAccount, Plan
from cmsf.maintenance.models import AuditEntry
from cmsf.options.models import SmsSettings

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_page_answers_the_three_questions_and_shows_the_transform(client, alice):
    client.force_login(alice)
    SmsSettings.objects.update_or_create(pk=1, defaults={"default_country": "US"})
    html = client.get(reverse("console:sms")).content.decode()
    for question in ("Do I need to install anything else?", "Is there any additional cost?",
                     "Can I see SMS activity history?"):  # fmt: skip
        assert question in html
    assert "API does not give SMS activity" in html
    assert 'data-testid="sms-example">+15555551234<' in html
    assert 'data-testid="sms-plan"' not in html  # a new installation's trial is Enterprise


def test_enabling_sms_is_saved_and_audited_on_enterprise_and_refused_on_other_plans(client, alice, start_emulators):
    start_emulators(47)  # the consent field is checked against the org's Contact
    client.force_login(alice)
    form = {"enabled": "on", "default_country": "GB", "contact_consent_field": "CMSF_SMS_Consent__c"}
    assert client.post(reverse("console:sms_save"), form).status_code == 302
    sms = SmsSettings.load()
    assert (sms.enabled, sms.default_country, sms.contact_consent_field) == (True, "GB", "CMSF_SMS_Consent__c")
    assert AuditEntry.objects.get(action="Change the SMS settings").after["default_country"] == "GB"

    SmsSettings.objects.filter(pk=1).update(enabled=False)
    account = BillingAccount.load()
    account.plan = Plan.STANDARD
    account.save()
    refused = client.post(reverse("console:sms_save"), form)
    assert refused.status_code == 400 and "SMS is part of the Enterprise plan" in refused.content.decode()
    assert not SmsSettings.load().enabled
    assert 'data-testid="sms-plan"' in client.get(reverse("console:sms")).content.decode()


def test_sms_needs_a_default_country(client, alice):
    client.force_login(alice)
    response = client.post(reverse("console:sms_save"), {"enabled": "on", "default_country": ""})
    assert response.status_code == 400 and "Choose the default country" in response.content.decode()
