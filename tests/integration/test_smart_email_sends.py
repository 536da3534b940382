"""Smart emails sent through cmsf's service (`sync.smart_emails`) against both emulators: the send recorded by the
Campaign Monitor emulator and read by the official SDK, its Task in Salesforce updated by the update job after the
emulator's clock produces an open; the refusals, with Campaign Monitor's codes, before any call; the plan; and the
update job that calls nothing while no message is recent."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests
from django.core.cache import cache
from django.utils import timezone

from cmsf.billing.services import choose_plan
from cmsf.connections import services as connections
from cmsf.connections.models import CampaignMonitorClient
from cmsf.maintenance.models import AuditEntry, MaintenanceMessage
from cmsf.sync import smart_emails, transactional
from cmsf.sync.models import SmartEmailMessage
from cmsf.sync.smart_emails import SendNotAllowed, SendRefused, SmartEmailNotFound
from cmsf_sandbox.campaign_monitor.app import create_app
from cmsf_sandbox.server import serve_in_thread
from tests.emulators import Connected

pytestmark = pytest.mark.django_db(transaction=True)
SEED = 22


@pytest.fixture
def running(start_emulators) -> Iterator[Connected]:
    cache.clear()  # the list of smart emails is kept a minute: each test reads its own emulators'
    yield start_emulators(SEED)
    cache.clear()


def cm_admin(running: Connected, method: str, path: str, **kwargs: Any) -> Any:
    response = requests.request(method, f"{running.cm_base}/admin{path}", verify=running.ca, timeout=30, **kwargs)
    response.raise_for_status()
    return response.json()


def active_smart_email(running: Connected) -> smart_emails.SmartEmail:
    return next(e for e in smart_emails.smart_emails() if e.status == "active")


def send(smart_email_id: str, to: list[str], **kwargs: Any) -> Any:
    options: dict[str, Any] = {"data": {}, "consent_to_track": "Yes", "actor": "tester"}
    return smart_emails.send_smart_email(smart_email_id, to=to, **{**options, **kwargs})


@pytest.fixture
def sdk(running: Connected) -> Iterator[Any]:
    """createsend-python pointed at a plain-HTTP emulator of the same world (as test_cm_client_transactional does)."""
    import createsend
    import createsend.createsend as core

    saved = (core.VerifiedHTTPSConnection, createsend.CreateSend.base_uri)
    with serve_in_thread(create_app(running.world, "none")) as base:
        core.VerifiedHTTPSConnection = http.client.HTTPConnection
        createsend.CreateSend.base_uri = f"{base}/api/v3.3"
        try:
            yield createsend
        finally:
            core.VerifiedHTTPSConnection, createsend.CreateSend.base_uri = saved


def test_a_send_is_recorded_read_by_the_sdk_written_as_tasks_and_updated_after_an_open(running, sdk):
    sf = connections.salesforce()
    people = [f"Reader {i} <reader{i}@example.com>" for i in range(10)]
    contacts = sf.insert("Contact", [{"LastName": f"Reader {i}", "Email": f"reader{i}@example.com"} for i in range(10)])
    listed = smart_emails.smart_emails()
    selected = {c.client_id for c in running.world.clients.values()}
    assert listed and {e.client_id for e in listed} <= selected and {e.status for e in listed} == {"active", "draft"}
    smart = next(e for e in listed if e.status == "active")

    sent = send(smart.id, people, data={"firstname": "Reader"}, actor="alice")
    assert [m.recipient for m in sent] == people and {m.status for m in sent} == {"Received"}

    recorded = {m["message_id"]: m for m in cm_admin(running, "GET", "/transactional/messages")["messages"]}
    assert {m.message_id for m in sent} <= set(recorded)
    assert recorded[sent[0].message_id]["smart_email_id"] == smart.id
    assert recorded[sent[0].message_id]["data"] == {"firstname": "Reader"}

    tx = sdk.Transactional({"api_key": running.world.account_api_key}, smart.client_id)
    read = tx.message_details(sent[0].message_id)
    assert (read.MessageID, read.Status, read.SmartEmailID) == (sent[0].message_id, "Received", smart.id)

    ids = ", ".join(f"'{m.message_id}'" for m in sent)
    tasks = {t["CMSF_Message_Id__c"]: t for t in sf.query(f"SELECT Id, WhoId, CMSF_Message_Id__c, CMSF_Status__c, "
                                                          f"CMSF_Opens__c FROM Task WHERE CMSF_Message_Id__c IN ({ids})")}  # fmt: skip
    assert set(tasks) == {m.message_id for m in sent}
    assert {t["WhoId"] for t in tasks.values()} == {c.id for c in contacts}
    assert {t["CMSF_Status__c"] for t in tasks.values()} == {"Received"}
    kept = SmartEmailMessage.objects.get(message_id=sent[0].message_id)
    assert (kept.cm_client_id, kept.smart_email_name, kept.task_id) == (
        smart.client_id,
        smart.name,
        tasks[kept.message_id]["Id"],
    )

    entry = AuditEntry.objects.get(section=smart_emails.SECTION)
    assert entry.actor == "alice" and entry.after["recipients"] == 10 and entry.after["smart_email_id"] == smart.id
    assert "firstname" not in str(entry.after) and "reader0" not in str(entry.after)  # neither data nor addresses

    cm_admin(running, "POST", "/advance", json={"forward_seconds": 2 * 86400})
    outcome = smart_emails.refresh_recent(timezone.now())
    assert outcome is not None and outcome.checked == 10 and outcome.failed == 0
    after = {t["CMSF_Message_Id__c"]: t for t in sf.query(f"SELECT CMSF_Message_Id__c, CMSF_Status__c, CMSF_Opens__c "
                                                          f"FROM Task WHERE CMSF_Message_Id__c IN ({ids})")}  # fmt: skip
    opened = [t for t in after.values() if t["CMSF_Opens__c"]]
    assert opened and {t["CMSF_Status__c"] for t in opened} <= {"Opened", "Clicked"}
    assert {t["CMSF_Status__c"] for t in after.values()} <= {"Delivered", "Opened", "Clicked"}
    assert outcome.tasks_updated == 10  # every message moved on: delivered at least
    again = tx.message_details(next(m for m, t in after.items() if t["CMSF_Opens__c"]), statistics=True)
    assert again.TotalOpens >= 1


def test_refusals_before_any_call_with_campaign_monitors_codes(running):
    smart = active_smart_email(running)
    before = len(cm_admin(running, "GET", "/transactional/messages")["messages"])
    cases = [
        ({"to": [f"p{i}@example.com" for i in range(26)]}, 954, "25 recipients at most"),
        ({"to": []}, 952, "At least one recipient"),
        ({"to": ["Nobody <nobody>"]}, 1, "not a valid email address"),
        ({"to": ["a" * 245 + "@example.com"]}, 953, "longer than 250"),
        ({"to": ["p@example.com"], "data": {"big": "x" * (100 * 1024)}}, 996, "100 KB at most"),
        ({"to": ["p@example.com"], "data": ["not", "an", "object"]}, 400, "JSON object"),
        ({"to": ["p@example.com"], "consent_to_track": "maybe"}, 974, "Yes, No or Unchanged"),
        ({"to": ["p@example.com"], "related_record_id": "003-bad"}, None, "not a Salesforce record Id"),
    ]
    for options, code, words in cases:
        with pytest.raises(SendRefused) as refused:
            send(smart.id, **options)
        assert (refused.value.code, type(refused.value)) == (code, SendRefused) and words in refused.value.message

    draft = next(e for e in smart_emails.smart_emails() if e.status == "draft")
    with pytest.raises(SendRefused) as drafted:
        send(draft.id, ["p@example.com"])
    assert drafted.value.code == 929 and "is a draft" in drafted.value.message
    with pytest.raises(SmartEmailNotFound) as unknown:
        send("0b2c9f7e-1111-4c2a-9d55-3e0f7a6b8c9d", ["p@example.com"])
    assert unknown.value.code == 926 and unknown.value.http_status == 404
    assert len(cm_admin(running, "GET", "/transactional/messages")["messages"]) == before  # nothing went out
    assert not SmartEmailMessage.objects.exists() and not AuditEntry.objects.filter(section="transactional").exists()


def test_a_client_no_longer_selected_has_no_smart_email_to_send(running):
    smart = active_smart_email(running)
    CampaignMonitorClient.objects.filter(cm_client_id=smart.client_id).update(selected=False)
    with pytest.raises(SmartEmailNotFound):
        send(smart.id, ["p@example.com"])


def test_the_plan_and_campaign_monitors_plan_refuse_with_the_reason(running):
    smart = active_smart_email(running)
    choose_plan("standard", actor="tester")
    with pytest.raises(SendNotAllowed) as plan:
        send(smart.id, ["p@example.com"])
    assert "Enterprise plan" in plan.value.message and "Standard" in plan.value.message
    assert plan.value.http_status == 403
    with pytest.raises(SendNotAllowed):
        smart_emails.smart_emails()
    choose_plan("enterprise", actor="tester")

    cm_admin(running, "POST", "/transactional", json={"enabled": False})
    with pytest.raises(SendNotAllowed) as off:
        send(smart.id, ["p@example.com"])  # the kept list finds the smart email: Campaign Monitor refuses the send
    assert off.value.code == 980 and "not enabled on the Campaign Monitor account" in off.value.message
    with pytest.raises(SendNotAllowed) as listing:
        smart_emails.smart_emails(fresh=True)
    assert listing.value.code == 980
    assert not SmartEmailMessage.objects.exists()


def test_the_update_job_calls_nothing_while_no_message_is_recent_and_says_when_it_cannot_run(running, monkeypatch):
    def no_client() -> None:
        raise AssertionError("no client may be made while no message is recent")

    smart = active_smart_email(running)
    with monkeypatch.context() as patched:
        patched.setattr(connections, "campaign_monitor", no_client)
        patched.setattr(connections, "salesforce", no_client)
        assert smart_emails.refresh_recent(timezone.now()) is None
    sent = send(smart.id, ["Nobody Known <unknown.person@example.com>"])
    assert SmartEmailMessage.objects.get(message_id=sent[0].message_id).problem  # no contact: kept without a Task
    assert smart_emails.refresh_recent(timezone.now() + timedelta(days=transactional.RECENT_DAYS + 1)) is None

    connections.disconnect_salesforce(actor="tester")
    assert smart_emails.refresh_recent(timezone.now()) is None
    message = MaintenanceMessage.objects.get(support_code=transactional.STATUS_CODE)
    assert "Salesforce is not connected" in message.details
