"""Smart emails through the HTTP API against both emulators: listed, sent with a token of the send scope (each message
a Task on the related record), refused with Campaign Monitor's codes, and the Task moved on after the emulator's
clock produces opens."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from django.core.cache import cache
from django.utils import timezone

from cmsf.connections import services as connections
from cmsf.maintenance.models import AuditEntry
from cmsf.sync import smart_emails
from tests.api_calls import call, make_token
from tests.emulators import Connected

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def running(start_emulators) -> Iterator[Connected]:
    cache.clear()  # the list of smart emails is kept a minute: each test reads its own emulators'
    yield start_emulators(23)
    cache.clear()


def advance(running: Connected, seconds: int) -> Any:
    response = requests.post(f"{running.cm_base}/admin/advance", json={"forward_seconds": seconds},
                             verify=running.ca, timeout=30)  # fmt: skip
    response.raise_for_status()
    return response.json()


def test_a_token_lists_and_sends_a_smart_email_and_its_task_follows_the_opens(client, running):
    secret = make_token("survey", scopes=("send",))
    listed = call(client, "GET", "/api/v1/smart-emails", token=secret)
    assert listed.status == 200 and listed.body
    assert set(listed.body[0]) == {"id", "name", "status", "client"}
    active = next(e for e in listed.body if e["status"] == "active")
    draft = next(e for e in listed.body if e["status"] == "draft")

    sf = connections.salesforce()
    [contact] = sf.insert("Contact", [{"LastName": "Lovelace", "Email": "ada@example.com"}])
    body = {"to": ["Ada Lovelace <ada@example.com>"], "data": {"firstname": "Ada"}, "consent_to_track": "Yes",
            "related_record_id": contact.id}  # fmt: skip
    sent = call(client, "POST", f"/api/v1/smart-emails/{active['id']}/send", token=secret, body=body)
    assert sent.status == 202
    [message] = sent.body["messages"]
    assert message["recipient"] == "Ada Lovelace <ada@example.com>" and message["status"] == "Received"
    [task] = list(sf.query(f"SELECT Id, WhoId, Subject, CMSF_Status__c FROM Task "
                           f"WHERE CMSF_Message_Id__c = '{message['message_id']}'"))  # fmt: skip
    assert task["WhoId"] == contact.id and task["Subject"] == f"Email: {active['name']}"
    assert task["CMSF_Status__c"] == "Received"
    entry = AuditEntry.objects.filter(action="API: Send a smart email").get()
    assert entry.actor == "API token survey" and entry.after["messages"] == [message["message_id"]]

    advance(running, 3 * 86400)
    outcome = smart_emails.refresh_recent(timezone.now())
    assert outcome is not None and outcome.checked == 1
    [task] = list(sf.query(f"SELECT CMSF_Status__c FROM Task WHERE Id = '{task['Id']}'"))
    assert task["CMSF_Status__c"] in {"Delivered", "Opened", "Clicked"}

    # Campaign Monitor's rules, with its codes, before anything is sent.
    too_many = {**body, "to": [f"r{i}@example.com" for i in range(26)]}
    refused = call(client, "POST", f"/api/v1/smart-emails/{active['id']}/send", token=secret, body=too_many)
    assert (refused.status, refused.body["error"]["code"]) == (400, "954")
    bad = {**body, "to": ["not an address"]}
    refused = call(client, "POST", f"/api/v1/smart-emails/{active['id']}/send", token=secret, body=bad)
    assert (refused.status, refused.body["error"]["code"]) == (400, "1")
    refused = call(client, "POST", f"/api/v1/smart-emails/{draft['id']}/send", token=secret, body=body)
    assert (refused.status, refused.body["error"]["code"]) == (400, "929")
    unknown = "00000000-0000-0000-0000-000000000000"
    refused = call(client, "POST", f"/api/v1/smart-emails/{unknown}/send", token=secret, body=body)
    assert (refused.status, refused.body["error"]["code"]) == (404, "926")
    big = {**body, "data": {"text": "x" * 110_000}}
    refused = call(client, "POST", f"/api/v1/smart-emails/{active['id']}/send", token=secret, body=big)
    assert (refused.status, refused.body["error"]["code"]) == (400, "996")
    assert len(list(sf.query("SELECT Id FROM Task WHERE CMSF_Message_Id__c != null"))) == 1  # nothing else sent

    # A token without the send scope.
    other = make_token("subscribers-only", scopes=("subscribers",))
    refused = call(client, "POST", f"/api/v1/smart-emails/{active['id']}/send", token=other, body=body)
    assert (refused.status, refused.body["error"]["code"]) == (403, "missing_scope")
