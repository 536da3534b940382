"""Real time: cmsf served over TLS with the sandbox's certificate, its list webhooks registered by the sync, and the
Campaign Monitor emulator POSTing subscribes, deactivates and updates to it, applied in Salesforce before any sync;
a batch POSTed twice counts once; a wrong secret is refused; disconnecting removes the webhooks."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from django.core.asgi import get_asgi_application

from cmsf.campaign_monitor.records import SubscriberInput
from cmsf.connections import services as connections
from cmsf.connections.models import CampaignMonitorAccount
from cmsf.options.models import GeneralOptions
from cmsf.sandbox.dataset import generate_world
from cmsf.sandbox.salesforce.data import generate_org
from cmsf.sandbox.server import serve_in_thread
from cmsf.sync import clients
from cmsf.sync import services as sync
from cmsf.sync.models import ListWebhook, SyncRun, WebhookEvent
from cmsf.sync.webhooks import HOOK_PATH
from tests import emulators

pytestmark = pytest.mark.django_db(transaction=True)
SOQL = "SELECT Id, Member_Key__c, Email__c, State__c, Contact__c, Lead__c, List__r.List_Id__c FROM CMSF_Subscriber__c"


class Live:
    def __init__(self, running: emulators.Connected, base: str) -> None:
        self.running, self.base = running, base
        self.sf, self.cm = connections.salesforce(), connections.campaign_monitor()

    def rows(self, where: str) -> list[dict[str, Any]]:
        return list(self.sf.query(f"{SOQL} WHERE {where}"))

    def secret(self) -> str:
        return CampaignMonitorAccount.load().webhook_secret


def eventually(check: Callable[[], Any], seconds: float = 15.0) -> Any:
    """What `check` returns once it is true: a webhook arrives within seconds, not at once."""
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


@pytest.fixture
def live(tmp_path, settings, immediate_queue) -> Iterator[Live]:
    with emulators.connected(tmp_path, world=generate_world("tiny", 41), org=generate_org("tiny", 41)) as running:
        with serve_in_thread(get_asgi_application(), tls=running.tls) as base:
            settings.CMSF_PUBLIC_URL = base
            settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
            for client in sync.clients_to_sync():
                assert sync.sync_client(client=client).status == SyncRun.Status.SUCCEEDED
            yield Live(running, base)


def test_the_sync_registers_a_webhook_on_every_list_once(live):
    hooks = list(ListWebhook.objects.all())
    lists = {s.list_id for c in sync.clients_to_sync() for s in live.cm.lists(c.cm_client_id)}
    assert {h.list_id for h in hooks} == lists and len(live.secret()) >= 40
    for hook in hooks:
        registered = live.cm.webhooks(hook.list_id)
        assert [(w.url, set(w.events)) for w in registered] == [
            (f"{live.base}/{HOOK_PATH}{live.secret()}", {"Subscribe", "Deactivate", "Update"})
        ]
    before = webhook_calls(live)
    for client in sync.clients_to_sync():
        run = sync.sync_client(client=client)
        assert run.status == SyncRun.Status.SUCCEEDED
    assert webhook_calls(live) == before  # once all are registered, a sync makes no webhook call
    assert ListWebhook.objects.count() == len(hooks)
    assert all(len(live.cm.webhooks(h.list_id)) == 1 for h in hooks)


def webhook_calls(live: Live) -> int:
    """The webhook calls the Campaign Monitor emulator has answered."""
    response = requests.get(f"{live.running.cm_base}/admin/calls", verify=live.running.ca, timeout=30)
    return sum(n for kind, n in response.json()["calls"].items() if "webhooks" in kind)


def test_an_unsubscribe_reaches_salesforce_before_the_next_sync_and_a_repeat_counts_once(live):
    row = live.rows("State__c = 'Active' AND Contact__c != null")[0]
    list_id, email = row["List__r.List_Id__c"], row["Email__c"]
    live.cm.unsubscribe(list_id, email)
    assert eventually(lambda: live.rows(f"Id = '{row['Id']}'")[0]["State__c"] == "Unsubscribed")
    event = WebhookEvent.objects.get(kind="Deactivate", payload__EmailAddress=email)
    assert event.applied_at is not None and "membership rows written" in event.outcome

    # Campaign Monitor delivers the same batch again: stored once, applied once.
    body = {"ListID": list_id, "Events": [event.payload]}
    url = f"{live.base}/{HOOK_PATH}{live.secret()}"
    again = requests.post(url, json=body, verify=live.running.ca, timeout=30)
    assert again.status_code == 200 and again.json() == {"received": 0, "refused": 0, "unwatched": 0}
    assert WebhookEvent.objects.filter(kind="Deactivate", payload__EmailAddress=email).count() == 1


def test_a_subscribe_and_an_email_update_in_campaign_monitor_are_applied(live):
    # A single opt-in list: on a confirmed opt-in list, Subscribe fires when the confirmation link is clicked.
    list_id = next(h.list_id for h in ListWebhook.objects.order_by("list_id")
                   if not live.cm.list_details(h.list_id).confirmed_opt_in)  # fmt: skip
    live.cm.add_subscriber(list_id, SubscriberInput(email="new.reader@example.org", name="New Reader"))
    assert eventually(lambda: live.rows("Email__c = 'new.reader@example.org'"))
    added = live.rows("Email__c = 'new.reader@example.org'")[0]
    assert added["State__c"] == "Active" and added["List__r.List_Id__c"] == list_id

    live.cm.update_subscriber(list_id, "new.reader@example.org", SubscriberInput(email="renamed.reader@example.org",
                                                                                 name="New Reader"))  # fmt: skip
    assert eventually(lambda: live.rows("Email__c = 'renamed.reader@example.org'"))
    renamed = live.rows("Email__c = 'renamed.reader@example.org'")
    assert [r["Id"] for r in renamed] == [added["Id"]]  # the same row, under its new key: nothing doubles
    assert not live.rows("Email__c = 'new.reader@example.org'")


def test_email_opt_out_is_checked_from_webhooks_when_every_list_is_left(live):
    GeneralOptions.objects.filter(pk=GeneralOptions.load().pk).update(opt_out_when_unsubscribed_everywhere=True)
    rows = live.rows("State__c = 'Active' AND Contact__c != null AND Lead__c = null")
    contact = rows[0]["Contact__c"]
    for row in live.rows(f"Contact__c = '{contact}'"):
        live.cm.unsubscribe(row["List__r.List_Id__c"], row["Email__c"])

    def opted_out() -> bool:
        return bool(next(live.sf.query(f"SELECT HasOptedOutOfEmail FROM Contact WHERE Id = '{contact}'"))[
            "HasOptedOutOfEmail"])  # fmt: skip

    assert eventually(opted_out)


def test_a_wrong_secret_or_a_bad_body_is_refused(live):
    url = f"{live.base}/{HOOK_PATH}"
    refused = requests.post(url + "not-the-secret", json={"ListID": "x", "Events": []}, verify=live.running.ca,
                            timeout=30)  # fmt: skip
    assert refused.status_code == 404
    bad = requests.post(url + live.secret(), data=b"not json", verify=live.running.ca, timeout=30)
    assert bad.status_code == 400 and "not JSON" in bad.json()["error"]
    assert requests.get(url + live.secret(), verify=live.running.ca, timeout=30).status_code == 405


def test_disconnecting_removes_every_webhook(live):
    hooks = list(ListWebhook.objects.all())
    assert hooks
    clients.disconnect(actor="test")
    assert not ListWebhook.objects.exists() and CampaignMonitorAccount.load().webhook_secret == ""
    for hook in hooks:
        assert live.cm.webhooks(hook.list_id) == []


def test_a_preference_centre_edit_reaches_the_mapped_contact_field_before_the_next_sync(live):
    from cmsf.audience import fields as mapping_fields
    from cmsf.audience import services as audience
    from cmsf.options.models import FieldMapping
    from cmsf.sync.outbound import ANY_ZONE

    hooked = {h.list_id: h.client for h in ListWebhook.objects.select_related("client")}
    row = next(r for r in live.rows("Contact__c != null AND Lead__c = null AND State__c = 'Active'")
               if r["List__r.List_Id__c"] in hooked)  # fmt: skip
    list_id, email, contact = row["List__r.List_Id__c"], row["Email__c"], row["Contact__c"]
    key = live.cm.create_custom_field(list_id, "Preferred department", "Text")
    mapping = FieldMapping(client=hooked[list_id], list_id=list_id, sobject="Contact", salesforce_field="Department",
                           campaign_monitor=key, direction=FieldMapping.Direction.TO_SF)  # fmt: skip
    assert not mapping_fields.check_mapping(mapping, live.cm, live.sf)
    audience.save_mapping(mapping, actor="test")
    name = live.cm.subscriber(list_id, email, zone=ANY_ZONE).name
    live.cm.update_subscriber(list_id, email, SubscriberInput(email=email, name=name,
                                                              custom_fields=((key, "Research"),)))  # fmt: skip

    def department() -> str:
        return next(live.sf.query(f"SELECT Department FROM Contact WHERE Id = '{contact}'"))["Department"] or ""

    assert eventually(lambda: department() == "Research")
