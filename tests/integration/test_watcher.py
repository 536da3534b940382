"""The Salesforce change watcher and the opt-out options, against both emulators over TLS: email changes, Email Opt
Out (with the conflict rule), deletes, merges and lead conversions pushed to Campaign Monitor; the opt-out pass of
the primary sync; Disable triggers stopping every outbound call, counted at the emulator."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from django.utils import timezone

from cmsf.campaign_monitor.api import CampaignMonitor
from cmsf.campaign_monitor.errors import TransientError
from cmsf.campaign_monitor.records import SubscriberInput
from cmsf.connections import services as connections
from cmsf.maintenance.models import AuditEntry, MaintenanceMessage
from cmsf.options.models import GeneralOptions
from cmsf.salesforce.adapter import parse_datetime
from cmsf.sync import services as sync
from cmsf.sync.models import DirectoryEntry, PersonState, RecordMap, SyncRun, WatchCursor, WatchRun
from cmsf.sync.transforms import member_key, sf_datetime
from cmsf.sync.watcher import due, watch_once
from tests import emulators
from tests.emulators import sync_every_client, watched

pytestmark = pytest.mark.django_db(transaction=True)
MEMBER_SOQL = (
    "SELECT Id, Member_Key__c, Email__c, State__c, State_Changed__c, Contact__c, Lead__c, List__r.List_Id__c "
    "FROM CMSF_Subscriber__c"
)


class World:
    """The connected emulators after a first sync and a first watch (which starts watching from then)."""

    def __init__(self, running: emulators.Connected) -> None:
        self.running = running
        self.sf = connections.salesforce()
        self.cm = connections.campaign_monitor()

    def members(self, where: str = "") -> list[dict[str, Any]]:
        rows = list(self.sf.query(MEMBER_SOQL + (f" WHERE {where}" if where else "")))
        for row in rows:
            row["list_id"] = row.pop("List__r.List_Id__c")
        return rows

    def cm_state(self, list_id: str, email: str) -> str | None:
        found = self.cm.subscriber(list_id, email, zone="(GMT) Coordinated Universal Time")
        return found.state if found else None

    def cm_calls(self) -> int:
        response = requests.get(f"{self.running.cm_base}/admin/calls", verify=self.running.ca, timeout=30)
        response.raise_for_status()
        return int(response.json()["total"])

    def person(self, record_id: str, fields: str = "Email, HasOptedOutOfEmail") -> dict[str, Any]:
        sobject = "Lead" if record_id.startswith("00Q") else "Contact"
        return next(self.sf.query(f"SELECT {fields} FROM {sobject} WHERE Id = '{record_id}'"))

    def alone(
        self, sobject: str, state: str = "Active", *, but: str = "", at_least: int = 1
    ) -> tuple[str, list[dict[str, Any]]]:
        """A contact (or lead) whose email no other record has, with memberships of `state` linked to it only."""
        field, other = ("Contact__c", "Lead__c") if sobject == "Contact" else ("Lead__c", "Contact__c")
        emails = Counter(DirectoryEntry.objects.exclude(email_lower="").values_list("email_lower", flat=True))
        by_person: dict[str, list[dict[str, Any]]] = {}
        for row in self.members(f"{field} != null AND {other} = null"):
            by_person.setdefault(row[field], []).append(row)
        for person, rows in sorted(by_person.items()):
            if person == but or len(rows) < at_least:
                continue
            email = rows[0]["Email__c"].lower()
            if emails[email] == 1 and all(r["State__c"] == state and r["Email__c"].lower() == email for r in rows):
                return person, rows
        raise AssertionError(f"no {sobject} alone with {state} memberships in the dataset")


def options(**values: Any) -> None:
    general = GeneralOptions.load()
    for name, value in values.items():
        setattr(general, name, value)
    general.save()


@pytest.fixture
def world(start_emulators):
    running = start_emulators(41)
    sync_every_client()
    first = watched()
    assert "started watching" in first.message and first.sf_calls == 0 and first.cm_calls == 0
    assert set(WatchCursor.objects.values_list("sobject", flat=True)) == {"Contact", "Lead"}
    return World(running)


def test_a_changed_email_moves_the_subscribers_in_campaign_monitor_and_a_rerun_does_nothing(world):
    contact, rows = world.alone("Contact")
    world.sf.update("Contact", [{"Id": contact, "Email": "Moved.Person@Example.org"}])
    run = watched()
    assert run.read["Contact"] >= 1 and run.done["email_changed"] == len(rows), run.problems
    for row in rows:
        assert world.cm_state(row["list_id"], "Moved.Person@Example.org") == "Active"
        assert world.cm_state(row["list_id"], row["Email__c"]) is None
    after = {r["Id"]: r for r in world.members(f"Contact__c = '{contact}'")}
    assert {r["Email__c"] for r in after.values()} == {"Moved.Person@Example.org"}
    assert {r["Member_Key__c"] for r in after.values()} == {member_key(r["list_id"], "Moved.Person@Example.org")
                                                             for r in rows}  # fmt: skip
    assert RecordMap.objects.filter(
        sobject="CMSF_Subscriber__c", key=member_key(rows[0]["list_id"], "moved.person@example.org")
    ).exists()
    assert AuditEntry.objects.filter(actor="cmsf", action="Change an email in Campaign Monitor").count() == len(rows)

    again = watched()  # the same changes are read again (the lag): nothing is done twice
    assert again.done == {} and again.problems == []
    # The next primary sync finds the moved subscribers where the watcher put them: nothing doubles.
    for client in sync.clients_to_sync():
        sync.sync_client(client=client)
    assert len(world.members("Email__c = 'Moved.Person@Example.org'")) == len(rows)


def test_a_run_that_fails_half_way_leaves_the_rest_of_an_email_change_to_the_next(world, monkeypatch):
    contact, rows = world.alone("Contact", at_least=2)
    original, calls = CampaignMonitor.update_subscriber, []

    def fails_second(self, *args, **kwargs):  # Campaign Monitor stops answering after the first move
        calls.append(args)
        if len(calls) == 2:
            raise TransientError("Campaign Monitor server error", endpoint="PUT /subscribers/{listid}.json")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(CampaignMonitor, "update_subscriber", fails_second)
    world.sf.update("Contact", [{"Id": contact, "Email": "half.way@example.org"}])
    assert watch_once().status == WatchRun.Status.FAILED
    monkeypatch.setattr(CampaignMonitor, "update_subscriber", original)
    run = watched()  # the same change again: the first move is taken as done, the rest are made
    assert run.done.get("email_changed") == len(rows), run.problems
    assert all(world.cm_state(r["list_id"], "half.way@example.org") == "Active" for r in rows)
    assert {r["Email__c"] for r in world.members(f"Contact__c = '{contact}'")} == {"half.way@example.org"}


def test_email_opt_out_unsubscribes_only_when_the_option_is_on(world):
    contact, rows = world.alone("Contact")
    world.sf.update("Contact", [{"Id": contact, "HasOptedOutOfEmail": True}])
    assert watched().done == {}  # off by default
    assert all(world.cm_state(r["list_id"], r["Email__c"]) == "Active" for r in rows)

    options(unsubscribe_on_opt_out=True)
    world.sf.update("Contact", [{"Id": contact, "Title": "Edited"}])  # seen again, still opted out
    run = watched()
    assert run.done["unsubscribed"] == len(rows)
    assert all(world.cm_state(r["list_id"], r["Email__c"]) == "Unsubscribed" for r in rows)
    assert {r["State__c"] for r in world.members(f"Contact__c = '{contact}'")} == {"Unsubscribed"}
    assert watched().done == {}


def test_the_later_change_wins_and_an_opt_out_wins_a_tie(world):
    options(unsubscribe_on_opt_out=True)
    later, later_rows = world.alone("Contact")
    world.sf.update("Contact", [{"Id": later, "HasOptedOutOfEmail": True}])
    modified = parse_datetime(world.person(later, "LastModifiedDate")["LastModifiedDate"])
    # Campaign Monitor changed the subscriber after the opt-out (as the sync or a webhook would have written it).
    world.sf.update("CMSF_Subscriber__c", [{"Id": r["Id"], "State_Changed__c": sf_datetime(modified + timedelta(
        seconds=5))} for r in later_rows])  # fmt: skip
    run = watched()
    assert run.done.get("kept_by_later_change") == len(later_rows) and "unsubscribed" not in run.done
    assert all(world.cm_state(r["list_id"], r["Email__c"]) == "Active" for r in later_rows)
    state = PersonState.objects.get(record_id=later)
    assert state.opted_out and state.opted_out_at == modified

    # A tie: the same second on both sides. The opt-out wins.
    world.sf.update("CMSF_Subscriber__c", [{"Id": r["Id"], "State_Changed__c": sf_datetime(modified)}
                                           for r in later_rows])  # fmt: skip
    world.sf.update("Contact", [{"Id": later, "Title": "Seen again"}])
    assert watched().done["unsubscribed"] == len(later_rows)
    assert all(world.cm_state(r["list_id"], r["Email__c"]) == "Unsubscribed" for r in later_rows)


def test_a_deleted_contact_deletes_its_subscribers_only_with_the_option(world):
    kept, kept_rows = world.alone("Contact")
    world.sf.delete("Contact", [kept])
    run = watched()
    assert "deleted" not in run.done and run.read["Contact"] >= 1
    assert all(world.cm_state(r["list_id"], r["Email__c"]) == "Active" for r in kept_rows)

    options(delete_subscribers_on_record_delete=True)
    contact, rows = world.alone("Contact")
    world.sf.delete("Contact", [contact])
    run = watched()
    assert run.done["deleted"] == len(rows)
    assert all(world.cm_state(r["list_id"], r["Email__c"]) == "Deleted" for r in rows)
    assert {r["State__c"] for r in world.members(f"Email__c = '{rows[0]['Email__c']}'")} == {"Deleted"}
    assert watched().done == {}


def test_a_contact_purged_from_the_recycle_bin_before_the_watcher_read_it_is_still_seen(world):
    """queryAll no longer shows a purged record; the deleted-records API does, and the directory mirror knows its
    email."""
    options(delete_subscribers_on_record_delete=True)
    contact, rows = world.alone("Contact")
    world.sf.delete("Contact", [contact])
    world.running.sf_admin("POST", "/recycle-bin/empty", json={"ids": [contact]})
    assert not list(world.sf.query(f"SELECT Id FROM Contact WHERE Id = '{contact}'", include_deleted=True))
    time.sleep(1.1)  # the API is asked to the second: a deletion in this very second is read by the next run
    run = watched()
    assert run.read["deleted"] == 1 and run.done["deleted"] == len(rows), run.problems
    assert all(world.cm_state(r["list_id"], r["Email__c"]) == "Deleted" for r in rows)
    assert watched().done == {}


def test_a_deleted_record_whose_email_another_record_has_keeps_its_subscribers(world):
    options(delete_subscribers_on_record_delete=True)
    contact, rows = world.alone("Contact")
    twin = world.sf.insert("Lead", [{"LastName": "Twin", "Company": "Twin Co", "Email": rows[0]["Email__c"]}])[0].id
    assert twin
    world.sf.delete("Contact", [contact])
    run = watched()
    assert "deleted" not in run.done
    assert all(world.cm_state(r["list_id"], r["Email__c"]) == "Active" for r in rows)


def test_a_merge_moves_the_losers_subscribers_to_the_master_instead_of_deleting_them(world):
    options(delete_subscribers_on_record_delete=True)
    loser, rows = world.alone("Contact")
    master = world.sf.insert("Contact", [{"LastName": "Master", "Email": "master@example.org"}])[0].id
    world.running.sf_admin("POST", "/merge", json={"sobject": "Contact", "master_id": master, "loser_ids": [loser]})
    activities = RecordMap.objects.filter(person_id=loser).count()
    run = watched()
    assert run.done["merged"] == 1 and "deleted" not in run.done
    assert run.done["email_changed"] == len(rows), run.problems
    moved = world.members(f"Contact__c = '{master}'")
    assert len(moved) == len(rows) and {r["Email__c"] for r in moved} == {"master@example.org"}
    assert all(world.cm_state(r["list_id"], "master@example.org") == "Active" for r in rows)
    assert RecordMap.objects.filter(person_id=loser).count() == 0
    assert RecordMap.objects.filter(person_id=master).count() == activities


def test_a_converted_lead_moves_its_memberships_and_history_to_the_contact(world):
    lead, rows = world.alone("Lead")
    history = list(world.sf.query(f"SELECT Id FROM CMSF_Email_Activity__c WHERE Lead__c = '{lead}'"))
    converted = world.running.sf_admin("POST", "/leads/convert", json={"lead_id": lead})
    run = watched()
    assert run.done["converted"] == 1, run.problems
    contact = converted["contact_id"]
    moved = world.members(f"Contact__c = '{contact}'")
    assert {r["Id"] for r in moved} == {r["Id"] for r in rows} and all(r["Lead__c"] is None for r in moved)
    after = list(world.sf.query(f"SELECT Id, Contact__c, Lead__c FROM CMSF_Email_Activity__c WHERE "
                                f"Contact__c = '{contact}'"))  # fmt: skip
    assert {r["Id"] for r in after} == {r["Id"] for r in history} and all(r["Lead__c"] is None for r in after)
    assert not RecordMap.objects.filter(person_id=lead).exists()
    assert watched().done == {}


def test_fixing_a_bounced_email_resubscribes_as_the_add_rules_and_trigger_journeys_say(world, monkeypatch):
    """A resubscribe is an add: it starts journeys as "Trigger journeys" says, and is refused (and reported) for an
    opted-out person when adding them is prevented, and for an address in the suppression list."""
    adds: list[tuple[str, bool]] = []
    original = CampaignMonitor.add_subscriber

    def spy(self, list_id, subscriber, **kwargs):  # the call goes through; what cmsf asked is kept
        adds.append((subscriber.email, kwargs["restart_journeys"]))
        return original(self, list_id, subscriber, **kwargs)

    monkeypatch.setattr(CampaignMonitor, "add_subscriber", spy)
    bounced, seen = [], set()
    for row in world.members("State__c = 'Bounced' AND Contact__c != null AND Lead__c = null"):
        if row["Contact__c"] not in seen:
            seen.add(row["Contact__c"])
            bounced.append(row)
    assert len(bounced) >= 4, "the dataset has bounced subscribers linked to four contacts"
    first, second, third, fourth = bounced[:4]

    world.sf.update("Contact", [{"Id": first["Contact__c"], "Email": "fixed.one@example.org"}])
    run = watched()
    assert run.done.get("resubscribed", 0) >= 1, run.problems
    assert world.cm_state(first["list_id"], "fixed.one@example.org") == "Active"
    assert ("fixed.one@example.org", True) in adds  # journeys start: the option is on by default

    options(trigger_journeys=False)
    world.sf.update("Contact", [{"Id": fourth["Contact__c"], "Email": "fixed.four@example.org"}])
    assert watched().done.get("resubscribed", 0) >= 1
    assert ("fixed.four@example.org", False) in adds and ("fixed.four@example.org", True) not in adds

    options(prevent_adding_opted_out=True)
    world.sf.update("Contact", [{"Id": second["Contact__c"], "Email": "fixed.two@example.org",
                                 "HasOptedOutOfEmail": True}])  # fmt: skip
    run = watched()
    assert run.done.get("email_changed", 0) >= 1 and "resubscribed" not in run.done
    assert world.cm_state(second["list_id"], "fixed.two@example.org") == "Bounced"
    assert any("not resubscribed" in p["reason"] and "Email Opt Out" in p["reason"] for p in run.problems)

    client_id = next(c.cm_client_id for c in sync.clients_to_sync()
                     if third["list_id"] in {s.list_id for s in world.cm.lists(c.cm_client_id)})  # fmt: skip
    world.cm.suppress(client_id, ["fixed.three@example.org"])
    world.sf.update("Contact", [{"Id": third["Contact__c"], "Email": "fixed.three@example.org"}])
    run = watched()
    assert "resubscribed" not in run.done and world.cm_state(third["list_id"], "fixed.three@example.org") == "Bounced"
    assert any("suppression list" in p["reason"] for p in run.problems)


def test_disable_triggers_stops_the_watcher_and_every_call_to_campaign_monitor(world):
    options(disable_triggers=True, unsubscribe_on_opt_out=True, delete_subscribers_on_record_delete=True)
    contact, rows = world.alone("Contact")
    world.sf.update("Contact", [{"Id": contact, "Email": "quiet@example.org", "HasOptedOutOfEmail": True}])
    before = world.cm_calls()
    run = watch_once()
    assert run.status == WatchRun.Status.SKIPPED and "Disable triggers" in run.message
    assert world.cm_calls() == before and run.cm_calls == 0 and run.sf_calls == 0
    # The sync from Campaign Monitor goes on.
    for client in sync.clients_to_sync():
        assert sync.sync_client(client=client).status == SyncRun.Status.SUCCEEDED
    assert all(world.cm_state(r["list_id"], r["Email__c"]) == "Active" for r in rows)
    # Turned back on, the changes made meanwhile are pushed: the cursor did not move.
    options(disable_triggers=False)
    run = watched()
    assert run.done["email_changed"] == len(rows) and run.done["unsubscribed"] == len(rows)


def test_the_sync_checks_email_opt_out_when_every_list_is_unsubscribed_or_deleted(world):
    def unsubscribe_everywhere(but: str = "") -> str:
        contact, rows = world.alone("Contact", but=but)
        for row in rows:
            world.cm.unsubscribe(row["list_id"], row["Email__c"])
        return contact

    def sync_all() -> None:
        for client in sync.clients_to_sync():
            assert sync.sync_client(client=client).status == SyncRun.Status.SUCCEEDED

    left_alone = unsubscribe_everywhere()
    sync_all()
    assert world.person(left_alone)["HasOptedOutOfEmail"] is False  # off by default

    options(opt_out_when_unsubscribed_everywhere=True)
    # The watcher saw this contact edited (its box clear) before the unsubscribes: it never saw the box cleared,
    # so that edit does not outweigh Campaign Monitor.
    seen_first = world.alone("Contact")[0]
    world.sf.update("Contact", [{"Id": seen_first, "Title": "Edited before"}])
    watched()
    assert PersonState.objects.get(record_id=seen_first).opted_out is False
    assert unsubscribe_everywhere() == seen_first
    checked = seen_first
    # Email Opt Out was cleared in Salesforce after Campaign Monitor's unsubscribe: the later change wins.
    cleared = unsubscribe_everywhere(but=checked)
    PersonState.objects.create(record_id=cleared, opted_out=False, opted_out_at=timezone.now() + timedelta(hours=1))
    sync_all()
    assert world.person(checked)["HasOptedOutOfEmail"] is True
    assert world.person(cleared)["HasOptedOutOfEmail"] is False
    audited = {e.after["record"] for e in AuditEntry.objects.filter(action="Check Email Opt Out in Salesforce")}
    assert f"Contact {checked}" in audited and f"Contact {cleared}" not in audited
    # The watcher then sees the box checked: nothing is left to unsubscribe.
    options(unsubscribe_on_opt_out=True)
    assert "unsubscribed" not in watched().done


def test_the_watcher_is_due_every_interval_and_never_while_triggers_are_disabled():
    now = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    assert due(now) and not due(now + timedelta(minutes=4, seconds=59))
    assert due(now + timedelta(minutes=5))
    options(watch_interval_minutes=15)  # the run due at 10:10 sets the next one 15 minutes on
    assert due(now + timedelta(minutes=10))
    assert not due(now + timedelta(minutes=24)) and due(now + timedelta(minutes=25))
    options(disable_triggers=True)
    assert not due(now + timedelta(hours=5))


def test_a_run_whose_lease_another_worker_took_stops_before_its_next_call(world, monkeypatch):
    from cmsf.sync import watcher
    from cmsf.sync.models import Watcher

    contact, rows = world.alone("Contact")
    world.sf.update("Contact", [{"Id": contact, "Email": "Taken.Over@Example.org"}])
    monkeypatch.setattr(watcher, "RENEW_EVERY", 0.0)  # renew before every call
    original = watcher.Outbound.change_email

    def taken_over(self, *args, **kwargs):  # the lease ran out and another worker claimed it meanwhile
        Watcher.objects.filter(pk=1).update(owner="another-worker")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(watcher.Outbound, "change_email", taken_over)
    calls = world.cm_calls()
    run = watch_once()
    assert run.status == WatchRun.Status.FAILED and "another worker took over the watcher" in run.message
    assert world.cm_calls() == calls  # nothing sent after the lease was lost
    assert world.cm_state(rows[0]["list_id"], rows[0]["Email__c"]) == "Active"


def test_after_a_merge_campaign_monitor_holds_the_masters_id_and_the_next_sync_links_to_it(world):
    """Issue 17, case 7: the loser's subscribers held its Id in their "Salesforce ID" custom field (as the import
    wizard writes it); after the merge the field names the master, a subscriber whose field names someone else is
    left alone, and the next sync links every membership to the master with no refusal."""
    loser, rows = world.alone("Contact")
    other, other_rows = world.alone("Contact", but=loser)
    for row, holder in [*((r, loser) for r in rows), *((r, other) for r in other_rows[:1])]:
        key = next((f.key for f in world.cm.custom_fields(row["list_id"]) if f.name == "Salesforce ID"), "")
        key = key or world.cm.create_custom_field(row["list_id"], "Salesforce ID", "Text",
                                                  visible_in_preference_center=False)  # fmt: skip
        world.cm.update_subscriber(row["list_id"], row["Email__c"], SubscriberInput(
            email=row["Email__c"], custom_fields=((key, holder[:15]),)))  # fmt: skip
    master = world.sf.insert("Contact", [{"LastName": "Master", "Email": rows[0]["Email__c"].upper()}])[0].id
    world.running.sf_admin("POST", "/merge", json={"sobject": "Contact", "master_id": master, "loser_ids": [loser]})
    run = watched()
    assert run.done["merged"] == 1 and run.done["salesforce_id_replaced"] == len(rows), (run.done, run.problems)

    def held(row: dict[str, Any]) -> list[str]:
        found = world.cm.subscriber(row["list_id"], row["Email__c"], zone="(GMT) Coordinated Universal Time")
        assert found is not None
        return found.field_values("Salesforce ID")

    assert all(held(r) == [master] for r in rows)
    assert held(other_rows[0]) == [other[:15]]
    for client in sync.clients_to_sync():
        done = sync.sync_client(client=client, full=True)
        assert done.status == SyncRun.Status.SUCCEEDED and not done.failed, (done.message, done.failed)
    assert {r["Contact__c"] for r in world.members(f"Email__c = '{rows[0]['Email__c']}'")} == {master}
    assert watched().done == {}


def salesforce_id_field(world: World, list_id: str) -> str:
    key = next((f.key for f in world.cm.custom_fields(list_id) if f.name == "Salesforce ID"), "")
    return key or world.cm.create_custom_field(list_id, "Salesforce ID", "Text", visible_in_preference_center=False)


def test_a_sync_right_after_contacts_are_deleted_never_links_to_them(world):
    """Issue 17, case 7: contacts deleted (one of them purged from the recycle bin too) within the minute the
    directory mirror counts as fresh; their subscribers hold the deleted Id in "Salesforce ID". The next sync links
    no row to them (the deleted Id does not win matching; a refusal makes the directory follow Salesforce and the row
    is linked again by its email, to a lead of the same email here) and refuses nothing."""
    deleted, rows = world.alone("Contact")
    purged, purged_rows = world.alone("Contact", but=deleted)
    for row, holder in [*((r, deleted) for r in rows), *((r, purged) for r in purged_rows)]:
        world.cm.update_subscriber(row["list_id"], row["Email__c"], SubscriberInput(
            email=row["Email__c"], custom_fields=((salesforce_id_field(world, row["list_id"]), holder),)))  # fmt: skip
    twin = world.sf.insert("Lead", [{"LastName": "Twin", "Company": "Twin Co", "Email": rows[0]["Email__c"]}])[0].id
    world.sf.delete("Contact", [deleted, purged])
    world.running.sf_admin("POST", "/recycle-bin/empty", json={"ids": [purged]})
    for client in sync.clients_to_sync():
        done = sync.sync_client(client=client, full=True)
        assert done.status == SyncRun.Status.SUCCEEDED and not done.failed, (done.message, done.failed)
    members = world.members(f"Email__c IN ('{rows[0]['Email__c']}', '{purged_rows[0]['Email__c']}')")
    assert {r["Contact__c"] for r in members} == {None}
    assert {r["Lead__c"] for r in members if r["Email__c"] == rows[0]["Email__c"]} == {twin}
    assert not DirectoryEntry.objects.filter(record_id__in=[deleted, purged]).exists()
    tracking = list(world.sf.query(f"SELECT Id FROM CMSF_Email_Activity__c WHERE Contact__c IN ('{deleted}', "
                                   f"'{purged}')"))  # fmt: skip
    assert tracking == []


def test_changes_the_watcher_cannot_handle_are_one_maintenance_message_resolved_by_a_clean_run(world):
    """Salesforce keeps refusing the membership rows the watcher updates (a lock held past every retry): the
    records are one message with a count, kept out of nobody's sight; a later run that handles everything resolves
    it."""
    options(unsubscribe_on_opt_out=True)
    contact, _ = world.alone("Contact")
    world.running.sf_admin("POST", "/faults/locks", json={"sobject": "CMSF_Subscriber__c", "calls": 20, "every": 1})
    world.sf.update("Contact", [{"Id": contact, "HasOptedOutOfEmail": True}])
    run = watched()
    assert run.problems and all("CMSF_Subscriber__c" in p["key"] for p in run.problems)
    [message] = MaintenanceMessage.objects.filter(support_code="CMSF-WATCH-RECORDS")
    assert message.job == "CMSF_SF_WATCHER" and message.resolved_at is None
    assert "UNABLE_TO_LOCK_ROW" in message.details and message.severity == "warning"
    world.running.sf_admin("POST", "/faults/locks", json={"sobject": "CMSF_Subscriber__c", "calls": 0})  # fixed
    world.sf.update("Contact", [{"Id": contact, "Title": "Seen again"}])
    assert not watched().problems
    message.refresh_from_db()
    assert message.resolved_at is not None
