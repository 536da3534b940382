"""Salesforce field pickers against the Salesforce emulator: each picker offers the fields of its object(s) from
describe, filtered by type, labelled "Label (Name)"; a field the org lacks (or of the wrong type) is refused when it
is saved, naming it; a page reads each object's describe once, however many pickers and checks it has."""

from __future__ import annotations

import html as htmllib
import re

import pytest
from django.urls import reverse

from cmsf.audience import fields as audience_fields
from cmsf.audience.models import ImportWizard
from cmsf.connections import services as connections
from cmsf.connections.models import CampaignMonitorClient
from cmsf.console import pickers
from cmsf.options.models import FieldMapping, SmsSettings, SubscriberRule

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(start_emulators):
    return start_emulators(47)


@pytest.fixture
def describes(monkeypatch):
    """The objects described by the requests of the test, one entry per describe call made."""
    called: list[str] = []
    original = connections.salesforce

    def counted(*args, **kwargs):
        adapter = original(*args, **kwargs)

        def note(response, *a, **k):
            path = response.request.path_url.split("?", 1)[0]
            if path.endswith("/describe") and "/listviews/" not in path and "/analytics/" not in path:
                called.append(path.split("/sobjects/", 1)[1].split("/", 1)[0])

        adapter.session.hooks["response"].append(note)
        return adapter

    monkeypatch.setattr(connections, "salesforce", counted)
    return called


def _options(page: str, element_id: str) -> dict[str, str]:
    found = re.search(rf'<datalist id="{element_id}"[^>]*>(.*?)</datalist>', page, re.S)
    assert found, f"no datalist {element_id}"
    return {htmllib.unescape(v): htmllib.unescape(t)
            for v, t in re.findall(r'<option value="([^"]*)">([^<]*)</option>', found.group(1))}  # fmt: skip


def _types(sobject: str) -> dict[str, str]:
    return {str(f["name"]): str(f["type"]) for f in connections.salesforce().fields(sobject).values()}


def _target() -> str:
    client = CampaignMonitorClient.objects.order_by("pk").first()
    lst = connections.campaign_monitor().lists(client.cm_client_id)[0]
    return f"{client.pk}:{lst.list_id}"


def test_sms_consent_pickers_offer_checkboxes_and_a_missing_or_wrong_field_is_refused(client, alice, world, describes):
    client.force_login(alice)
    page = client.get(reverse("console:sms")).content.decode()
    assert sorted(describes) == ["Contact", "Lead"]
    for element_id, sobject in (("contact-consent-fields", "Contact"), ("lead-consent-fields", "Lead")):
        options = _options(page, element_id)
        types = _types(sobject)
        assert "CMSF_SMS_Consent__c" in options and "Email" not in options
        assert {types[name] for name in options} == {"boolean"}
        label = connections.salesforce().fields(sobject)["cmsf_sms_consent__c"]["label"]
        assert options["CMSF_SMS_Consent__c"] == f"{label} (CMSF_SMS_Consent__c)"

    form = {"enabled": "on", "default_country": "GB", "contact_consent_field": "No_Such_Field__c"}
    missing = client.post(reverse("console:sms_save"), form)
    assert missing.status_code == 400 and "Contact has no field No_Such_Field__c" in missing.content.decode()
    wrong = client.post(reverse("console:sms_save"), {**form, "contact_consent_field": "",
                                                      "lead_consent_field": "Email"})  # fmt: skip
    assert wrong.status_code == 400
    assert "Lead.Email is a email field; consent to send SMS takes a checkbox field." in htmllib.unescape(
        wrong.content.decode()
    )
    assert not SmsSettings.load().contact_consent_field and not SmsSettings.load().lead_consent_field
    saved = client.post(reverse("console:sms_save"), {**form, "contact_consent_field": "cmsf_sms_consent__c"})
    assert saved.status_code == 302
    assert SmsSettings.load().contact_consent_field == "CMSF_SMS_Consent__c"  # as Salesforce spells it


def test_the_mapping_picker_offers_both_objects_fields_and_an_unknown_field_is_refused(client, alice, world, describes):
    client.force_login(alice)
    page = client.get(reverse("console:mappings")).content.decode()
    assert sorted(describes) == ["Contact", "Lead"]
    options = _options(page, "mapping-fields")
    contact, lead = _types("Contact"), _types("Lead")
    assert "Title" in options and "Department" in options
    assert options["Department"].endswith("(Department), Contact only")
    assert {({**lead, **contact})[name] for name in options} <= pickers.MAPPABLE
    assert not [name for name, kind in contact.items() if kind == "address" and name in options]

    del describes[:]
    form = {"target": _target(), "sobject": "Contact", "salesforce_field": "Nope__c", "campaign_monitor": "consent",
            "direction": FieldMapping.Direction.TO_CM}  # fmt: skip
    refused = client.post(reverse("console:mappings_create"), form)
    assert refused.status_code == 400 and "Contact has no field Nope__c." in refused.content.decode()
    assert not FieldMapping.objects.exists()
    assert sorted(describes) == ["Contact", "Lead"]  # the check and the page's picker share one describe


def test_the_wizard_pickers_are_filtered_by_type_and_an_unknown_field_is_refused(client, alice, world, describes):
    client.force_login(alice)
    SmsSettings.objects.update_or_create(pk=1, defaults={"enabled": True, "default_country": "US"})  # mobile fields
    page = client.get(reverse("console:imports_new")).content.decode()
    assert sorted(describes) == ["Contact", "Lead"]  # six pickers, one describe an object
    types = {**_types("Lead"), **_types("Contact")}
    wanted = {"wizard-email-fields": {"email", "string"}, "wizard-consent-fields": audience_fields.CONSENT_TYPES,
              "wizard-mobile-fields": {"phone", "string"}, "wizard-sms-consent-fields": audience_fields.CONSENT_TYPES,
              "wizard-name-fields": pickers.MAPPABLE, "wizard-mapping-fields": pickers.MAPPABLE}  # fmt: skip
    for element_id, allowed in wanted.items():
        options = _options(page, element_id)
        assert options and {types[name] for name in options} <= allowed, element_id
    assert "Email" in _options(page, "wizard-email-fields") and "MobilePhone" in _options(page, "wizard-mobile-fields")
    assert "Email" not in _options(page, "wizard-mobile-fields")

    del describes[:]
    form = {"name": "Buyers", "target": _target(), "active": "on", "source": "soql",
            "soql": "SELECT Id FROM Contact", "sobject": "Contact", "mode": "update", "email_field": "Emial",
            "name_field": "Name"}  # fmt: skip
    refused = client.post(reverse("console:imports_create"), form)
    assert refused.status_code == 400 and "Contact has no field Emial." in refused.content.decode()
    assert not ImportWizard.objects.exists()
    assert describes.count("Contact") == 1


def test_the_rule_picker_offers_the_objects_and_account_fields_and_an_unknown_field_is_refused(
    client, alice, world, describes
):
    client.force_login(alice)
    page = client.get(reverse("console:rules")).content.decode()
    assert sorted(describes) == ["Account", "Contact", "Lead"]
    options = _options(page, "rule-fields")
    assert "LeadSource" in options and "Account.Industry" in options
    assert options["Account.Industry"].endswith("(Account.Industry)")

    del describes[:]
    form = {"target": _target(), "kind": SubscriberRule.Kind.ADD_LEAD, "criteria": "Nope__c is_not_blank",
            "evaluate": SubscriberRule.When.EDITED, "active": "on"}  # fmt: skip
    refused = client.post(reverse("console:rules_save"), form)
    assert refused.status_code == 400 and "Criterion 1: Lead has no field Nope__c." in refused.content.decode()
    assert not SubscriberRule.objects.exists()
    assert sorted(describes) == ["Account", "Contact", "Lead"]  # the check and the page's picker share them


def test_a_picker_says_when_salesforce_cannot_be_read(client, alice):
    client.force_login(alice)
    page = client.get(reverse("console:sms")).content.decode()
    assert 'data-testid="contact-consent-fields-problem"' in page and "type the field" in page
    assert page.count("could not be read") == 1  # said once, and the org is not asked again for the next picker
