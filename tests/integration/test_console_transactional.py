"""The console's Transactional section: the selected clients' smart emails, their recent sends with the Task, and
"Send a test" (CM Full Access), which goes through `sync.smart_emails` and shows its refusals; the plan said."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.urls import reverse

from cmsf.billing.models import BillingAccount, Plan
from cmsf.connections import services as connections
from cmsf.sync.models import SmartEmailMessage

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def running(start_emulators):
    cache.clear()
    yield start_emulators(23)
    cache.clear()


def _smart(running, status: str):
    return next(e for e in running.world.smart_emails.values() if e.status == status)


def test_the_page_lists_smart_emails_and_a_test_send_shows_among_recent_sends(client, alice, running):
    contact = connections.salesforce().insert("Contact", [{"LastName": "Tester", "Email": "tester@example.com"}])[0]
    client.force_login(alice)
    active, draft = _smart(running, "active"), _smart(running, "draft")
    html = client.get(reverse("console:transactional")).content.decode()
    assert (
        f'data-smart-email="{active.smart_email_id}"' in html and f'data-smart-email="{draft.smart_email_id}"' in html
    )
    assert 'data-testid="no-sends"' in html and 'data-testid="transactional-plan"' not in html
    assert f'<option value="{draft.smart_email_id}"' not in html  # a draft is not offered

    form = {"smart_email": active.smart_email_id, "recipient": "tester@example.com", "variables": '{"firstname": "T"}',
            "consent_to_track": "Yes"}  # fmt: skip
    sent = client.post(reverse("console:transactional_send"), form, follow=True)
    message = SmartEmailMessage.objects.get()
    assert sent.status_code == 200 and "Test sent: tester@example.com (Received" in sent.content.decode()
    assert f'data-message="{message.message_id}"' in sent.content.decode()
    assert message.who_id == contact.id and f"/{message.task_id}" in sent.content.decode()


def test_bad_input_and_refusals_are_said_on_the_form(client, alice, running):
    client.force_login(alice)
    active = _smart(running, "active")
    form = {"smart_email": active.smart_email_id, "recipient": "tester@example.com", "consent_to_track": "Yes"}
    bad_json = client.post(reverse("console:transactional_send"), {**form, "variables": "{firstname"})
    assert bad_json.status_code == 400 and "This is not JSON" in bad_json.content.decode()
    not_object = client.post(reverse("console:transactional_send"), {**form, "variables": "[1]"})
    assert not_object.status_code == 400 and "must be a JSON object" in not_object.content.decode()
    big = client.post(reverse("console:transactional_send"), {**form, "variables": '{"x": "' + "y" * 102400 + '"}'})
    assert big.status_code == 400 and "100 KB at most. (Campaign Monitor code 996)" in big.content.decode()
    draft = client.post(
        reverse("console:transactional_send"), {**form, "smart_email": _smart(running, "draft").smart_email_id}
    )
    assert draft.status_code == 400 and 'data-error-for="smart_email"' in draft.content.decode()
    assert not SmartEmailMessage.objects.exists()


def test_cm_user_access_sees_but_cannot_send_and_other_plans_are_told(client, bob, running):
    client.force_login(bob)
    active = _smart(running, "active")
    html = client.get(reverse("console:transactional")).content.decode()
    assert "Sending a test needs CM Full Access" in html and f'data-smart-email="{active.smart_email_id}"' in html
    form = {"smart_email": active.smart_email_id, "recipient": "t@example.com", "consent_to_track": "Yes"}
    assert client.post(reverse("console:transactional_send"), form).status_code == 403

    BillingAccount.objects.filter(pk=BillingAccount.load().pk).update(plan=Plan.STANDARD)
    html = client.get(reverse("console:transactional")).content.decode()
    assert 'data-testid="transactional-plan"' in html and "Standard plan" in html
    assert 'data-testid="smart-email-list"' not in html
