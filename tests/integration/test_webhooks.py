"""Real time: cmsf served over TLS with the sandbox's certificate, its list webhooks registered by the sync, and the
Campaign Monitor emulator POSTing subscribes, deactivates and updates to it, applied in Salesforce before any sync;
a batch POSTed twice counts once; a wrong secret is refused; disconnecting removes the webhooks.

Issue 17, cases 1 and 2: a malformed event is quarantined alone and never blocks the events after it (also when it
was stored before events were checked on receipt, and when Salesforce refuses its row); events wait, and are not
quarantined, while Salesforce does not answer; a sync from a process without CMSF_PUBLIC_URL removes nothing, and
only an admin clearing or changing the stored public URL moves the webhooks; events of lists not watched are
counted. A property-based test sends random batches, sound and malformed, interleaved with apply jobs."""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from django.core.asgi import get_asgi_application
from django.db import connection
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import event as hypothesis_event
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from cmsf.campaign_monitor.records import SubscriberInput, webhook_event_problem
from cmsf.connections import services as connections
from cmsf.connections.models import CampaignMonitorAccount
from cmsf.maintenance.models import MaintenanceMessage
from cmsf.options.models import GeneralOptions
from cmsf.sync import clients, webhooks
from cmsf.sync import services as sync
from cmsf.sync import tasks as sync_tasks
from cmsf.sync.models import ListWebhook, SyncRun, SyncSettings, UnwatchedWebhookList, WebhookEvent
from cmsf.sync.webhooks import HOOK_PATH
from cmsf_sandbox.server import serve_in_thread
from tests import emulators
from tests.emulators import sync_every_client

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
def live(settings, immediate_queue, start_emulators) -> Iterator[Live]:
    running = start_emulators(41)
    with serve_in_thread(get_asgi_application(), tls=running.tls) as base:
        settings.CMSF_PUBLIC_URL = base
        settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
        sync_every_client()
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


def test_the_secret_is_in_no_column_of_the_database_and_events_still_arrive(live):
    """Issue 18, item 1: the webhook secret is kept encrypted (with the account, and in the registered URLs), so a
    backup of the database does not let anyone post events; cmsf still recognises its webhooks and their events."""
    secret, quote = live.secret(), connection.ops.quote_name
    assert ListWebhook.objects.exists() and all(h.url.endswith(secret) for h in ListWebhook.objects.all())
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            columns = [c.name for c in connection.introspection.get_table_description(cursor, table)]
            cursor.execute(f"SELECT {', '.join(quote(c) for c in columns)} FROM {quote(table)}")
            for row in cursor.fetchall():
                found += [(table, c) for c, value in zip(columns, row, strict=True) if secret in str(value)]
    assert found == []
    row = live.rows("State__c = 'Active' AND Contact__c != null")[0]
    live.cm.unsubscribe(row["List__r.List_Id__c"], row["Email__c"])
    assert eventually(lambda: live.rows(f"Id = '{row['Id']}'")[0]["State__c"] == "Unsubscribed")
    wrong = requests.post(f"{live.base}/{HOOK_PATH}{secret[:-1]}x", json={"ListID": "x", "Events": []},
                          verify=live.running.ca, timeout=30)  # fmt: skip
    assert wrong.status_code == 404


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


# -- issue 17, case 1: one malformed event never blocks the others -------------------------------------------------


def event(kind: str, email: str, **more: Any) -> dict[str, Any]:
    base = {"Type": kind, "EmailAddress": email, "Name": "Webhook Person", "Date": "2024-05-06 07:08:09",
            "CustomFields": [{"Key": "Colour", "Value": "blue"}]}  # fmt: skip
    if kind != "Subscribe":
        base["State"] = "Unsubscribed" if kind == "Deactivate" else "Active"
    return {**base, **more}


def post(live: Live, list_id: str, events: list[Any]) -> requests.Response:
    url = f"{live.base}/{HOOK_PATH}{live.secret()}"
    return requests.post(url, json={"ListID": list_id, "Events": events}, verify=live.running.ca, timeout=30)


def watched_list() -> str:
    return ListWebhook.objects.order_by("list_id").first().list_id  # type: ignore[union-attr]


def quarantine_messages() -> list[MaintenanceMessage]:
    return list(MaintenanceMessage.objects.filter(support_code=webhooks.QUARANTINED))


def test_case_1_an_event_with_custom_fields_as_text_is_quarantined_alone_and_later_batches_apply(live, caplog):
    list_id = watched_list()
    bad = event("Subscribe", "poison@example.org", CustomFields="Colour=blue")
    with caplog.at_level(logging.WARNING):
        answer = post(
            live, list_id, [event("Subscribe", "first@example.org"), bad, event("Subscribe", "second@example.org")]
        )
    assert answer.status_code == 200 and answer.json() == {"received": 2, "refused": 1, "unwatched": 0}
    assert eventually(lambda: len(live.rows("Email__c IN ('first@example.org', 'second@example.org')")) == 2)
    assert not live.rows("Email__c = 'poison@example.org'")
    stored = WebhookEvent.objects.get(payload__EmailAddress="poison@example.org")
    assert stored.quarantined_at is not None and stored.applied_at is None
    assert "CustomFields must be a list" in stored.problem
    [message] = quarantine_messages()
    assert f"Webhook event {stored.pk} (Subscribe of poison@example.org" in message.message
    quarantined = [r for r in caplog.records if "quarantined" in r.getMessage()]
    assert len(quarantined) == 1 and quarantined[0].exc_info is None  # one line, no traceback

    later = post(live, list_id, [event("Subscribe", "later@example.org")])
    assert later.json()["received"] == 1
    assert eventually(lambda: live.rows("Email__c = 'later@example.org'"))
    assert not WebhookEvent.objects.filter(applied_at=None, quarantined_at=None).exists()


def test_case_1_a_bad_event_stored_before_events_were_checked_no_longer_blocks_the_queue(live):
    """What an older cmsf kept: the bad event first, pending, then 30 sound ones. Every apply job crashed on it."""
    list_id, now = watched_list(), timezone.now()
    bad = event("Update", "stuck@example.org", CustomFields="not a list")
    payloads = [bad] + [event("Subscribe", f"waiting{n}@example.org") for n in range(30)]
    for n, payload in enumerate(payloads):
        WebhookEvent.objects.create(key=f"legacy-{n}", list_id=list_id, kind=payload["Type"], payload=payload,
                                    received_at=now)  # fmt: skip
    assert sync_tasks.apply_webhooks.call_local() == 30  # the job ends; nothing escapes it
    written = live.rows("Email__c LIKE 'waiting%'")
    assert len(written) == 30 and {r["State__c"] for r in written} == {"Active"}
    stuck = WebhookEvent.objects.get(key="legacy-0")
    assert stuck.quarantined_at is not None and "CustomFields" in stuck.problem
    assert WebhookEvent.objects.filter(key__startswith="legacy-", applied_at__isnull=False).count() == 30
    assert len(quarantine_messages()) >= 1


def test_an_event_salesforce_refuses_is_quarantined_and_the_rest_of_its_batch_applies(live):
    list_id = watched_list()
    long_email = "a" * 90 + "@example.org"  # Campaign Monitor takes it; the Email field of Salesforce holds 80
    events = [event("Subscribe", "fine1@example.org"), event("Deactivate", "frozen@example.org", State="Frozen"),
              event("Subscribe", long_email), event("Subscribe", "fine2@example.org")]  # fmt: skip
    assert post(live, list_id, events).json() == {"received": 4, "refused": 0, "unwatched": 0}
    assert eventually(lambda: len(live.rows("Email__c IN ('fine1@example.org', 'fine2@example.org')")) == 2)
    frozen = WebhookEvent.objects.get(payload__EmailAddress="frozen@example.org")
    longer = WebhookEvent.objects.get(payload__EmailAddress=long_email)
    assert (frozen.quarantined_at and "State__c" in frozen.problem) or "Frozen" in frozen.problem
    assert longer.quarantined_at and "STRING_TOO_LONG" in longer.problem
    assert WebhookEvent.objects.filter(payload__EmailAddress__startswith="fine", applied_at__isnull=False).count() == 2
    [message] = quarantine_messages()  # one message for the client's quarantined events (grouped)
    assert message.support_code == "CMSF-WEBHOOK-EVENT"


def test_events_wait_while_salesforce_does_not_answer_and_are_applied_once_it_does(live):
    live.running.sf_admin("POST", "/faults", json={"profile": "limits", "after": 0})
    try:
        assert post(live, watched_list(), [event("Subscribe", "patient@example.org")]).json()["received"] == 1
        waiting = WebhookEvent.objects.get(payload__EmailAddress="patient@example.org")
        assert waiting.applied_at is None and waiting.quarantined_at is None  # waiting, not quarantined
        assert MaintenanceMessage.objects.filter(support_code=webhooks.WAITING).exists()
    finally:
        live.running.sf_admin("POST", "/faults", json={"profile": "none"})
    assert sync_tasks.webhooks_tick.call_local() is True
    assert live.rows("Email__c = 'patient@example.org'")
    assert not quarantine_messages()


# -- issue 17, case 2: nothing unregisters the webhooks by accident ------------------------------------------------


def registered(live: Live) -> dict[str, list[str]]:
    return {h.list_id: [w.url for w in live.cm.webhooks(h.list_id)] for h in ListWebhook.objects.all()}


def test_case_2_a_sync_without_cmsf_public_url_keeps_the_webhooks(live, settings):
    before = registered(live)
    assert before and all(len(urls) == 1 for urls in before.values())
    assert SyncSettings.load().public_url == live.base  # seeded from CMSF_PUBLIC_URL by the first read
    settings.CMSF_PUBLIC_URL = ""  # `cmsf sync` from a shell without it
    for client in sync.clients_to_sync():
        assert sync.sync_client(client=client).status == SyncRun.Status.SUCCEEDED
    assert registered(live) == before
    row = live.rows("State__c = 'Active'")[0]
    live.cm.unsubscribe(row["List__r.List_Id__c"], row["Email__c"])  # real time still works
    assert eventually(lambda: live.rows(f"Id = '{row['Id']}'")[0]["State__c"] == "Unsubscribed")


def test_changing_the_public_url_moves_the_webhooks_and_clearing_it_removes_them(live, settings):
    lists = set(registered(live))
    moved = live.base.replace("127.0.0.1", "localhost")
    assert clients.set_public_url(moved, actor="alice@example.com")  # the queue job follows at once here
    assert all(urls == [f"{moved}/{HOOK_PATH}{live.secret()}"] for urls in registered(live).values())
    assert set(registered(live)) == lists

    settings.CMSF_PUBLIC_URL = live.base  # the environment no longer matters: the admin chose
    assert clients.set_public_url("", actor="alice@example.com")
    assert not ListWebhook.objects.exists()
    assert all(live.cm.webhooks(list_id) == [] for list_id in lists)
    for client in sync.clients_to_sync():
        sync.sync_client(client=client)
    assert not ListWebhook.objects.exists() and SyncSettings.load().public_url == ""  # not seeded again


def test_events_of_a_list_not_watched_are_counted_and_shown(live, client, alice):
    answer = post(live, "list-nobody-watches", [event("Subscribe", "x@example.org"), event("Update", "y@example.org")])
    assert answer.status_code == 200 and answer.json() == {"received": 0, "refused": 0, "unwatched": 2}
    post(live, "list-nobody-watches", [event("Subscribe", "z@example.org")])
    assert UnwatchedWebhookList.objects.get(list_id="list-nobody-watches").events == 3
    client.force_login(alice)
    page = client.get("/options", HTTP_HOST="localhost").content.decode()
    assert "3 events arrived for 1 list cmsf does not watch" in page and "list-nobody-watches: 3 events" in page


# -- the property: every sound event applied exactly once, whatever arrives around it ----------------------------

RUNS = itertools.count()
NAMES = ("ann", "bob", "cy", "dee")
text = st.text(st.characters(codec="utf-8"), max_size=12)
sound_event = st.builds(
    lambda kind, name, state, second, value: {
        "Type": kind,
        "EmailAddress": name,  # made unique to the example when sent
        "Name": name.title(),
        "Date": f"2024-05-06 07:08:{second:02d}",
        "CustomFields": [{"Key": "Colour", "Value": value}],
        **({} if kind == "Subscribe" else {"State": state if kind == "Deactivate" else "Active"}),
    },
    st.sampled_from(("Subscribe", "Deactivate", "Update")),
    st.sampled_from(NAMES),
    st.sampled_from(("Unsubscribed", "Deleted")),
    st.integers(0, 59),
    st.sampled_from(("red", "blue", "")),
)
refused_later = sound_event.map(lambda e: {**e, "Type": "Deactivate", "State": "Frozen"})  # Salesforce refuses it
bad_event = st.one_of(
    refused_later,
    sound_event.map(lambda e: {**e, "CustomFields": "Colour=red"}),  # case 1 itself
    sound_event.map(lambda e: {**e, "CustomFields": [["Colour", "red"]]}),
    sound_event.map(lambda e: {**e, "Type": "Explode"}),
    sound_event.map(lambda e: {k: v for k, v in e.items() if k != "EmailAddress"}),
    sound_event.map(lambda e: {**e, "EmailAddress": 42}),
    sound_event.map(lambda e: {**e, "Date": "yesterday"}),
    sound_event.map(lambda e: {**e, "Name": "nul\x00name"}),
    sound_event.map(lambda e: {**e, "Extra": {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}}),
    st.one_of(
        st.none(), st.integers(), text, st.lists(st.integers(), max_size=3), st.dictionaries(text, text, max_size=3)
    ),
)
NOT_A_BATCH = [b"not json", b"[]", b'{"Events": 3, "ListID": "x"}', b"[" * 5000, b'{"Events": [NaN], "ListID": "x"}']
batch = st.lists(st.one_of(sound_event, sound_event, bad_event), min_size=1, max_size=8)  # sound ones twice as often
step = st.one_of(
    st.tuples(st.just("post"), batch),
    st.tuples(st.just("post"), batch),
    st.tuples(st.just("apply"), st.none()),
    st.tuples(st.just("again"), st.integers(0, 20)),
    st.tuples(st.just("unwatched"), st.lists(sound_event, min_size=1, max_size=2)),
    st.tuples(st.just("raw"), st.sampled_from(NOT_A_BATCH)),
)


@hypothesis_settings(max_examples=40, deadline=None, derandomize=True, database=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
@given(first=st.lists(sound_event, min_size=2, max_size=8), steps=st.lists(step, min_size=2, max_size=10))
def test_random_batches_every_sound_event_is_applied_exactly_once_and_no_exception_escapes(live, first, steps):
    steps = [("post", first), *steps]
    run = next(RUNS)
    WebhookEvent.objects.all().delete()  # each example on its own: a bad event may repeat an earlier example's
    list_id, secret = watched_list(), live.secret()

    def mine(e: Any) -> Any:
        if isinstance(e, dict) and e.get("EmailAddress") in NAMES:
            return {**e, "EmailAddress": f"{e['EmailAddress']}.{run}@prop.example.org"}
        return e

    posted: list[list[Any]] = []
    sound: dict[str, dict[str, Any]] = {}  # each distinct sound event, by what it says, in the order first received
    bad: set[str] = set()
    unwatched, applied = 0, 0
    for kind, arg in steps:
        if kind == "apply":
            applied += sync_tasks.apply_webhooks.call_local()
            continue
        if kind == "raw":
            with pytest.raises(ValueError):
                webhooks.receive(secret, arg)
            continue
        if kind == "again" and not posted:
            continue
        batch = [mine(e) for e in (posted[arg % len(posted)] if kind == "again" else arg)]
        target = f"unwatched-{run}" if kind == "unwatched" else list_id
        webhooks.receive(secret, json.dumps({"ListID": target, "Events": batch}).encode())
        if kind == "unwatched":
            unwatched += len(batch)
            continue
        posted.append(batch)
        for e in batch:
            said = json.dumps(e, sort_keys=True)
            if webhook_event_problem(e) or (isinstance(e, dict) and e.get("State") == "Frozen"):
                bad.add(said)  # refused when received, or by Salesforce when applied: quarantined either way
            else:
                sound.setdefault(said, e)
    applied += sync_tasks.apply_webhooks.call_local()
    hypothesis_event(f"sound events: {min(len(sound), 5)}{'+' if len(sound) > 5 else ''}")

    assert applied == len(sound)  # each sound event applied once: a second application would count again
    events = list(WebhookEvent.objects.all())
    assert sum(1 for e in events if e.applied_at and not e.quarantined_at) == len(sound)
    assert sum(1 for e in events if e.quarantined_at) == len(bad)
    assert not any(e.applied_at is None and e.quarantined_at is None for e in events)
    assert unwatched == sum(
        UnwatchedWebhookList.objects.filter(list_id=f"unwatched-{run}").values_list("events", flat=True)
    )
    expected: dict[str, str] = {}
    for e in sound.values():
        expected[e["EmailAddress"]] = "Active" if e["Type"] == "Subscribe" else e["State"]
    if expected:
        emails = ", ".join(f"'{email}'" for email in expected)
        rows = live.rows(f"Email__c IN ({emails}) AND List__r.List_Id__c = '{list_id}'")
        assert {r["Email__c"]: r["State__c"] for r in rows} == expected
