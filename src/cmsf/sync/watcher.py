"""The Salesforce change watcher: what changed in Salesforce since the last run, pushed to Campaign Monitor.

Every few minutes (General Options' interval; `cmsf watch --once` in the foreground) one worker at a time:

1. reads the Contacts and Leads changed since its cursor, less a lag, with one REST queryAll each (so that
   records deleted since come back, with IsDeleted and the MasterRecordId of a merge, and converted leads with
   their contact), and the Ids deleted since with the deleted-records API (records purged from the recycle bin
   too; their email comes from the directory mirror);
2. reads the memberships (`CMSF_Subscriber__c`) of the people concerned, 200 people a query;
3. applies the rules, through `sync.outbound` (so that Disable triggers stops every push):
   - **lead conversion**: the lead's memberships and tracking history move to its contact, in Salesforce and in
     cmsf's ledger (campaign members and their aggregates follow);
   - **merge**: Salesforce moves the loser's records to the master; cmsf moves its ledger, and the loser's
     subscribers take the master's email in Campaign Monitor (below) and, where their "Salesforce ID" custom field
     names a loser, the master's Id (one read each), so that later syncs keep matching them; they are not deleted;
   - **delete** (option): the subscribers of a deleted contact's or lead's email are set to Deleted in Campaign
     Monitor, unless another contact or lead still has that email;
   - **email change**: the subscribers of the old email move to the new one in Campaign Monitor; a bounced one is
     resubscribed (fixing the email reactivates it) when the add rules allow;
   - **Email Opt Out** (option): checked -> the person's active subscribers are unsubscribed, unless Campaign
     Monitor changed the subscriber later (the later change wins; a tie goes to the opt-out);
   - **field mappings** toward Campaign Monitor (per list): the person's mapped fields are sent to each of its
     subscribers of that list when they differ from what was last sent;
   - **subscriber rules** (per list, at most four): a record that meets an add rule's criteria is added to the
     list, one that meets a remove rule's has its active subscribers of the list deleted (on every edit, on
     creation only, or when an edit makes it meet the criteria it did not meet before); with the account
     trigger (General Options), the contacts of a changed account are evaluated again by the contact rules that
     read an account field;
4. updates the memberships it changed in Salesforce (state, email, key), and writes those of the subscribers its
   rules added (through the sync's ledger), so that a rerun finds nothing to do,
   and moves its cursors: changes to the newest SystemModstamp read, deletions to what the API covered.

A run costs 4 Salesforce calls when nothing changed (a queryAll and a getDeleted per object), plus a query per
200 people concerned and the writes of what it changed. The first run starts watching from then: nothing that
changed before cmsf watched is pushed.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from cmsf.campaign_monitor.api import CampaignMonitor
from cmsf.campaign_monitor.errors import CampaignMonitorError
from cmsf.campaign_monitor.records import SubscriberInput
from cmsf.connections import services as connections
from cmsf.maintenance import observe, support_codes
from cmsf.maintenance.models import GovernorLimit
from cmsf.maintenance.services import record_message, resolve_cleared
from cmsf.options.models import FieldMapping, GeneralOptions, SubscriberRule
from cmsf.salesforce import soql
from cmsf.salesforce.adapter import SalesforceAdapter, parse_bool, parse_datetime
from cmsf.salesforce.errors import SalesforceError
from cmsf.sync import field_values, rule_logic
from cmsf.sync.field_values import as_text
from cmsf.sync.leases import LeaseLost
from cmsf.sync.models import (
    DirectoryEntry,
    PersonState,
    PushedFields,
    RecordMap,
    RuleMatch,
    WatchCursor,
    Watcher,
    WatchRun,
)
from cmsf.sync.outbound import Outbound, Refused, TriggersDisabled
from cmsf.sync.transforms import ACTIVITY, SUBSCRIBER, Link, content_hash, member_key, sf_datetime, subscriber_row
from cmsf.sync.writer import Writer, WriteTally

log = logging.getLogger(__name__)

LAG = timedelta(minutes=2)  # changes are read from the cursor less this: a save committed late is still seen
LEASE = timedelta(minutes=10)
CHUNK = 200  # Ids or emails in one IN (...)
JOB = "CMSF_SF_WATCHER"  # its governor limit is the batch of rows updated at once
CODE = "CMSF-WATCHER"
RECORDS_CODE = "CMSF-WATCH-RECORDS"
PROBLEMS_KEPT = 100
OBJECTS = ("Contact", "Lead")
FIELDS = {
    "Contact": ("Id", "Email", "HasOptedOutOfEmail", "LastModifiedDate", "SystemModstamp", "IsDeleted",
                "MasterRecordId"),
    "Lead": ("Id", "Email", "HasOptedOutOfEmail", "LastModifiedDate", "SystemModstamp", "IsDeleted", "MasterRecordId",
             "IsConverted", "ConvertedContactId"),
}  # fmt: skip
MEMBER_FIELDS = (
    "Id, Member_Key__c, Email__c, Name__c, State__c, State_Changed__c, Contact__c, Lead__c, List__r.List_Id__c"
)
ACTIVE_STATES = ("Active", "Unconfirmed")
NEVER = datetime(1970, 1, 1, tzinfo=UTC)  # the time of an Email Opt Out the watcher never saw cleared


# -- what is read --------------------------------------------------------------------------------------


@dataclass
class Person:
    """A contact or lead as the watcher read it."""

    id: str
    sobject: str
    email: str
    opted_out: bool
    modified: datetime
    deleted: bool = False
    master_id: str = ""
    converted_contact_id: str = ""
    stamp: datetime | None = None  # SystemModstamp: the version read
    values: dict[str, str] = field(default_factory=dict)  # fields read for mappings and rules, as text
    created: datetime | None = None  # CreatedDate, when rules need it

    @property
    def email_lower(self) -> str:
        return self.email.strip().lower()

    @classmethod
    def of(cls, sobject: str, record: dict[str, Any], now: datetime) -> Person:
        return cls(
            id=str(record["Id"]),
            sobject=sobject,
            email=str(record.get("Email") or "").strip(),
            opted_out=parse_bool(record.get("HasOptedOutOfEmail")),
            modified=parse_datetime(record.get("LastModifiedDate")) or now,
            deleted=parse_bool(record.get("IsDeleted")),
            master_id=str(record.get("MasterRecordId") or ""),
            converted_contact_id=str(record.get("ConvertedContactId") or "")
            if parse_bool(record.get("IsConverted"))
            else "",
            stamp=parse_datetime(record.get("SystemModstamp")),
        )


@dataclass
class Membership:
    """A `CMSF_Subscriber__c` row: one email on one list, linked to a contact, a lead, or both."""

    id: str
    key: str
    list_id: str
    email: str
    name: str
    state: str
    state_changed: datetime | None
    contact_id: str
    lead_id: str

    @classmethod
    def of(cls, record: dict[str, Any]) -> Membership:
        return cls(
            id=str(record["Id"]),
            key=str(record.get("Member_Key__c") or ""),
            list_id=str(record.get("List__r.List_Id__c") or ""),
            email=str(record.get("Email__c") or ""),
            name=str(record.get("Name__c") or ""),
            state=str(record.get("State__c") or ""),
            state_changed=parse_datetime(record.get("State_Changed__c")),
            contact_id=str(record.get("Contact__c") or ""),
            lead_id=str(record.get("Lead__c") or ""),
        )


# -- running -------------------------------------------------------------------------------------------


def due(now: datetime) -> bool:
    """True when the scheduler should start a watch now (and moves the next run on by the interval)."""
    options = GeneralOptions.load()
    if options.disable_triggers:
        return False
    watcher = Watcher.load()
    if watcher.next_run is not None and watcher.next_run > now:
        return False
    Watcher.objects.filter(pk=watcher.pk).update(next_run=now + timedelta(minutes=options.watch_interval_minutes))
    return True


def watch_once(*, now: datetime | None = None) -> WatchRun:
    """One run of the watcher, recorded as a `WatchRun` (skipped when Disable triggers is on, when Salesforce or
    Campaign Monitor is not connected, or when another worker is watching)."""
    now = now or timezone.now()
    run = WatchRun.objects.create(started_at=now)
    if GeneralOptions.load().disable_triggers:
        return _observe(_end(run, WatchRun.Status.SKIPPED, "Disable triggers is on: cmsf does not watch Salesforce"))
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    if not _claim(owner, now):
        return _observe(_end(run, WatchRun.Status.SKIPPED, "another worker is watching Salesforce"))
    sf: SalesforceAdapter | None = None
    cm: CampaignMonitor | None = None
    try:
        sf, cm = connections.salesforce(), connections.campaign_monitor()
        _Run(sf, Outbound(cm, heartbeat=_Lease(owner).keep), run, now).go()
        _report(run)
        return _end(run, WatchRun.Status.SUCCEEDED, run.message)
    except LeaseLost as error:
        return _end(run, WatchRun.Status.FAILED, f"{error}; the next run reads the same changes again")
    except connections.NotConnected as error:
        return _end(run, WatchRun.Status.SKIPPED, str(error))
    except TriggersDisabled as error:  # turned on while this run went on
        return _end(run, WatchRun.Status.SKIPPED, str(error))
    except (SalesforceError, CampaignMonitorError) as error:
        log.warning("the watcher stopped: %s", error)
        record_message(support_code=CODE, job=JOB, message="The Salesforce change watcher stopped.",
                       details=str(error), guidance=support_codes.guidance(CODE))  # fmt: skip
        return _end(run, WatchRun.Status.FAILED, f"{error}; the next run reads the same changes again")
    except Exception as error:  # told and ended, then raised for the queue's log: a run never stays "running"
        record_message(support_code=CODE, job=JOB, message="The Salesforce change watcher stopped unexpectedly.",
                       details=f"{type(error).__name__}: {error}", guidance=support_codes.guidance(CODE))  # fmt: skip
        _end(run, WatchRun.Status.FAILED, f"the run ended unexpectedly: {type(error).__name__}: {error}")
        raise
    finally:
        if sf is not None:
            run.sf_calls = sf.meter.total
        if cm is not None:
            run.cm_calls = sum(cm.transport.calls.values())
        run.save(update_fields=["sf_calls", "cm_calls"])
        Watcher.objects.filter(pk=1, owner=owner).update(owner="", lease_expires_at=None)
        _observe(run, observe.ApiUse.of(cm, sf))


def _observe(run: WatchRun, api: observe.ApiUse | None = None) -> WatchRun:
    """The run's line in the log and its counters (`maintenance.observe`)."""
    wrong = sum(1 for problem in run.problems if not problem.get("kept_out"))
    observe.run_ended(
        kind="watch",
        run_id=run.pk,
        outcome=run.status,
        started=run.started_at,
        finished=run.finished_at,
        read=run.read,
        written=run.done,
        refused={RECORDS_CODE: wrong},
        api=api,
        support_code=CODE if run.status == WatchRun.Status.FAILED else "",
        message=run.message,
    )
    return run


RENEW_EVERY = 60.0  # seconds between two renewals of the lease during a run


class _Lease:
    """The watcher's lease, renewed as a long run goes on; lost (another worker took over after it ran out), the
    run stops before its next call to Campaign Monitor."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.renewed = time.monotonic()

    def keep(self) -> None:
        if time.monotonic() - self.renewed < RENEW_EVERY:
            return
        until = timezone.now() + LEASE
        if not Watcher.objects.filter(pk=1, owner=self.owner).update(lease_expires_at=until):
            raise LeaseLost("another worker took over the watcher: this run's lease ran out")
        self.renewed = time.monotonic()


def _claim(owner: str, now: datetime) -> bool:
    Watcher.load()
    free = Q(owner="") | Q(lease_expires_at__lt=now) | Q(lease_expires_at__isnull=True)
    return Watcher.objects.filter(free, pk=1).update(owner=owner, lease_expires_at=now + LEASE) == 1


SHOWN = 20  # records named in a maintenance message


def _report(run: WatchRun) -> None:
    """A run that went through: the records it could not handle (a Campaign Monitor refusal, a rule's add or remove,
    a mapped value) are one maintenance message while the problem goes on; the watcher's earlier messages that this
    run did not meet again are resolved."""
    wrong = [problem for problem in run.problems if not problem.get("kept_out")]
    if wrong:
        count = len(wrong)
        lines = [f"{problem['key']}: {problem['reason']}" for problem in wrong[:SHOWN]]
        more = count - len(lines)
        record_message(
            support_code=RECORDS_CODE,
            job=JOB,
            severity="warning",
            message=f"{count:,} Salesforce change{'s' if count != 1 else ''} could not be handled by the watcher.",
            details="\n".join(lines + ([f"... and {more:,} more on General Options"] if more > 0 else [])),
            guidance=support_codes.guidance(RECORDS_CODE),
            subject="records",
        )
    resolve_cleared(jobs=[JOB], since=run.started_at)


def _end(run: WatchRun, status: str, message: str) -> WatchRun:
    run.status, run.message, run.finished_at = status, message, timezone.now()
    run.save()
    return run


class _Run:
    """One run's reading and doing."""

    def __init__(self, sf: SalesforceAdapter, out: Outbound, run: WatchRun, now: datetime) -> None:
        self.sf, self.out, self.run, self.now = sf, out, run, now
        self.options = out.options
        self.read: Counter[str] = Counter()
        self.problems: list[dict[str, str]] = []
        self.updates: dict[str, dict[str, Any]] = {}  # membership Id -> fields to write
        self.renamed: dict[str, tuple[str, str]] = {}  # ledger key of a membership -> (its new key, its row's Id)
        self.seen: dict[str, dict[str, Any]] = {}  # person Id -> what `_handled` keeps of it
        # Field mappings toward Campaign Monitor: list id -> its mappings; object -> the fields they read.
        self.pushes: dict[str, list[FieldMapping]] = {}
        for mapping in FieldMapping.objects.filter(direction=FieldMapping.Direction.TO_CM):
            self.pushes.setdefault(mapping.list_id, []).append(mapping)
        # Subscriber rules: object -> its active rules (one evaluated "when edited to subsequently meet the
        # criteria" once it knows the records that met them as it started).
        self.rules: dict[str, list[SubscriberRule]] = {sobject: [] for sobject in OBJECTS}
        for rule in SubscriberRule.objects.filter(active=True).order_by("list_id", "kind"):
            if rule.evaluate != SubscriberRule.When.MET or rule.matches_from is not None:
                self.rules[rule.sobject].append(rule)
        # Those rules' records that met the criteria when last seen, as read (rule, record), and what changed.
        self.tokens = {r.pk: r.matches_token for rs in self.rules.values() for r in rs
                       if r.evaluate == SubscriberRule.When.MET}  # fmt: skip
        self.matches: set[tuple[int, str]] = set()
        self.match_changes: dict[tuple[int, str], bool] = {}
        self.added_rows: dict[int, list[dict[str, Any]]] = {}  # client -> membership rows of the rules' adds
        self.losers: dict[str, set[str]] = {}  # a merge's master -> the Ids of the records merged into it
        self.moved_rows: set[str] = set()  # membership keys whose person lookup a merge moved in Salesforce
        self.extra: dict[str, list[str]] = {}  # object -> the fields read besides FIELDS
        for sobject in OBJECTS:
            wanted = [m.salesforce_field for ms in self.pushes.values() for m in ms if m.sobject == sobject]
            for rule in self.rules[sobject]:
                wanted += ["Name", "CreatedDate", *rule_logic.fields_of(rule.criteria)]
            self.extra[sobject] = list(dict.fromkeys(wanted))

    def go(self) -> None:
        cursors = {c.sobject: c for c in WatchCursor.objects.all()}
        if len(cursors) < len(OBJECTS):
            for sobject in OBJECTS:
                WatchCursor.objects.get_or_create(sobject=sobject, defaults={"position": self.now,
                                                                             "deleted_until": self.now})  # fmt: skip
            self.run.message = "started watching Salesforce: changes from now on are pushed"
            return
        people: list[Person] = []
        newest: dict[str, datetime] = {}
        covered: dict[str, datetime] = {}
        for sobject in OBJECTS:
            cursor = cursors[sobject]
            found, newest[sobject] = self._changes(sobject, cursor.position - LAG)
            deleted = self.sf.deleted(sobject, cursor.deleted_until - LAG, self.now)
            covered[sobject] = deleted.latest_covered
            seen = {p.id for p in found}
            found += self._purged(sobject, [rid for rid in deleted.ids if rid not in seen])
            people += found
        people = self._unhandled(people)
        self._apply(people)
        self._account_changes({p.id for p in people})
        self._keep_matches()
        self._write()
        self._handled(people)
        self.run.read, self.run.done = dict(self.read), dict(self.out.done)
        self.run.problems = self.problems[:PROBLEMS_KEPT]
        if len(self.problems) > PROBLEMS_KEPT:
            self.run.message = f"{len(self.problems)} records could not be handled; the first {PROBLEMS_KEPT} are kept"
        for sobject in OBJECTS:
            WatchCursor.objects.filter(sobject=sobject).update(
                position=max(cursors[sobject].position, min(newest[sobject], self.now)),
                deleted_until=max(cursors[sobject].deleted_until, min(covered[sobject], self.now)),
            )

    # -- reading ---------------------------------------------------------------------------------------

    def _changes(self, sobject: str, since: datetime) -> tuple[list[Person], datetime]:
        soql_text = (
            f"SELECT {', '.join(self._fields(sobject))} FROM {sobject} "
            f"WHERE SystemModstamp >= {soql.datetime_literal(since)} ORDER BY SystemModstamp"
        )
        people, newest = [], since + LAG
        for record in self.sf.query(soql_text, include_deleted=True):
            people.append(self._person(sobject, record))
            stamp = parse_datetime(record.get("SystemModstamp"))
            if stamp is not None and stamp > newest:
                newest = stamp
        self.read[sobject] += len(people)
        return people, newest

    def _fields(self, sobject: str) -> list[str]:
        return list(dict.fromkeys([*FIELDS[sobject], *self.extra[sobject]]))

    def _person(self, sobject: str, record: dict[str, Any]) -> Person:
        person = Person.of(sobject, record, self.now)
        person.values = {name: as_text(record.get(name)) for name in self.extra[sobject]}
        person.created = parse_datetime(record.get("CreatedDate"))
        return person

    def _purged(self, sobject: str, ids: list[str]) -> list[Person]:
        """Records deleted and gone from the recycle bin before the watcher read them: their email, from the
        directory mirror, is all that is known."""
        emails = dict(DirectoryEntry.objects.filter(record_id__in=ids).values_list("record_id", "email_lower"))
        self.read["deleted"] += len(ids)
        return [Person(rid, sobject, emails.get(rid, ""), False, self.now, deleted=True) for rid in ids]

    def _memberships(self, where: str, values: Iterable[str]) -> Iterator[Membership]:
        values = sorted(set(v for v in values if v))
        for start in range(0, len(values), CHUNK):
            literals = soql.quote_list(values[start : start + CHUNK])
            text = f"SELECT {MEMBER_FIELDS} FROM CMSF_Subscriber__c WHERE {where.format(literals)}"
            for record in self.sf.query(text):
                yield Membership.of(record)

    def _unhandled(self, people: list[Person]) -> list[Person]:
        """Leave out the versions a run handled already (read again within the lag)."""
        states = {s.record_id: s for s in PersonState.objects.filter(record_id__in=[p.id for p in people])}
        fresh = []
        for person in people:
            state = states.get(person.id)
            if state is not None and person.deleted and state.deleted:
                continue
            if (
                state is not None
                and not person.deleted
                and state.stamp
                and person.stamp
                and person.stamp <= state.stamp
            ):
                continue
            fresh.append(person)
        return fresh

    def _handled(self, people: list[Person]) -> None:
        """Once the run's changes are written: the versions it handled."""
        for person in people:
            seen = self.seen.get(person.id, {})
            PersonState.objects.update_or_create(
                record_id=person.id,
                defaults={"stamp": person.stamp, "deleted": person.deleted, **seen},
                create_defaults={
                    "opted_out": person.opted_out,
                    "opted_out_at": person.modified if person.opted_out else NEVER,
                    "email_lower": person.email_lower,
                    "stamp": person.stamp,
                    "deleted": person.deleted,
                    **seen,
                },
            )

    # -- doing -----------------------------------------------------------------------------------------

    def _apply(self, people: list[Person]) -> None:
        converted = [p for p in people if p.converted_contact_id and not p.deleted]
        removed = [p for p in people if p.deleted]
        live = [p for p in people if not p.deleted and not p.converted_contact_id]
        if converted:
            self._convert(converted)
        merged_into: dict[str, set[str]] = {}
        for person in removed:
            if person.master_id:
                merged_into.setdefault(person.master_id, set()).add(person.email_lower)
                self.losers.setdefault(person.master_id, set()).add(person.id)
                self._move_ledger(person.id, person.master_id)
                self.out.done["merged"] = self.out.done.get("merged", 0) + 1
        plain = [p for p in removed if not p.master_id and p.email_lower]
        if plain and self.options.delete_subscribers_on_record_delete:
            self._delete(plain, still_held={p.email_lower for p in live})
        if live:
            self._live(live, merged_into)

    def _convert(self, leads: list[Person]) -> None:
        """Memberships and tracking history of converted leads move to their contacts (a lead read again, its
        history already moved, counts for nothing)."""
        contact_of = {p.id: p.converted_contact_id for p in leads}
        moved: set[str] = set()
        for membership in self._memberships("Lead__c IN ({})", contact_of):
            self._update(membership.id, Contact__c=contact_of[membership.lead_id], Lead__c=None)
            moved.add(membership.lead_id)
        activities = list(self._activities(contact_of))
        if activities:
            rows = [{"Id": rid, "Contact__c": contact_of[lead], "Lead__c": None} for rid, lead in activities]
            self._send(ACTIVITY.sobject, rows)
            moved.update(lead for _, lead in activities)
        for lead, contact in contact_of.items():
            if self._move_ledger(lead, contact):
                moved.add(lead)
        if moved:
            self.out.done["converted"] = self.out.done.get("converted", 0) + len(moved)

    def _activities(self, contact_of: dict[str, str]) -> Iterator[tuple[str, str]]:
        ids = sorted(contact_of)
        for start in range(0, len(ids), CHUNK):
            text = f"SELECT Id, Lead__c FROM {ACTIVITY.sobject} WHERE Lead__c IN ({soql.quote_list(ids[start : start + CHUNK])})"
            for record in self.sf.query(text):
                yield str(record["Id"]), str(record["Lead__c"])

    def _move_ledger(self, old: str, new: str) -> int:
        """cmsf's ledger follows a lead to its contact or a merged record to its master: tracking rows' person,
        and campaign members' keys (campaign:person), unless the new person is already a member."""
        moved = RecordMap.objects.filter(person_id=old).update(person_id=new)
        for entry in RecordMap.objects.filter(sobject="CampaignMember", key__endswith=f":{old}"):
            campaign = entry.key.rsplit(":", 1)[0]
            if not RecordMap.objects.filter(sobject="CampaignMember", key=f"{campaign}:{new}").exists():
                moved += RecordMap.objects.filter(pk=entry.pk).update(key=f"{campaign}:{new}")
        return moved

    def _delete(self, removed: list[Person], *, still_held: set[str]) -> None:
        """Option: the subscribers of a deleted record's email become Deleted, unless another contact or lead
        still has the email."""
        gone = {p.id for p in removed}
        held = still_held | set(
            DirectoryEntry.objects.filter(email_lower__in={p.email_lower for p in removed}, is_converted=False)
            .exclude(record_id__in=gone)
            .values_list("email_lower", flat=True)
        )
        emails = {p.email_lower for p in removed} - held
        for membership in self._memberships("Email__c IN ({})", emails):
            if membership.state == "Deleted" or membership.email.lower() not in emails:
                continue
            self.out.delete(
                membership.list_id, membership.email, because="its contact or lead was deleted in Salesforce"
            )
            self._update(membership.id, State__c="Deleted", State_Changed__c=sf_datetime(self.now))

    def _live(self, people: list[Person], merged_into: dict[str, set[str]]) -> None:
        by_id = {p.id: p for p in people}
        self._load_matches(list(by_id))
        states = {s.record_id: s for s in PersonState.objects.filter(record_id__in=by_id)}
        mirror = dict(
            DirectoryEntry.objects.filter(
                record_id__in=[rid for rid in by_id if rid not in states or not states[rid].email_lower]
            ).values_list("record_id", "email_lower")
        )
        memberships: dict[str, list[Membership]] = {}
        for membership in self._memberships("Contact__c IN ({0}) OR Lead__c IN ({0})", by_id):
            for person_id in {membership.contact_id, membership.lead_id} & by_id.keys():
                memberships.setdefault(person_id, []).append(membership)
        for person in people:
            state = states.get(person.id)
            before = (state.email_lower if state else "") or mirror.get(person.id, "")
            old = ({before} if before else set()) | merged_into.get(person.id, set())
            old.discard(person.email_lower)
            opted_out_at = self._remember(person, state)
            for membership in memberships.get(person.id, ()):
                try:
                    if person.email and membership.email.lower() in old:
                        self._move(person, membership)
                    if person.id in self.losers:
                        self._merged(person, membership)
                    if person.opted_out and self.options.unsubscribe_on_opt_out:
                        self._opt_out(person, membership, opted_out_at)
                    self._push_fields(person, membership)
                except Refused as refused:
                    self._problem(membership.key or membership.id, str(refused), kept_out=True)
            self._rules(person, memberships.get(person.id, []))

    def _remember(self, person: Person, state: PersonState | None) -> datetime:
        """What was seen of the person, kept once the run's changes are written (`_handled`: a run that fails
        leaves it as it was, so the next run sees the same changes); the time its Email Opt Out took its present
        value: when the watcher saw it change, or, first seen, its LastModifiedDate when checked and NEVER when
        clear (a box the watcher never saw cleared does not outweigh an unsubscribe in Campaign Monitor)."""
        if state is not None and state.opted_out == person.opted_out:
            at = state.opted_out_at
        elif state is None and not person.opted_out:
            at = NEVER
        else:
            at = person.modified
        self.seen[person.id] = {"email_lower": person.email_lower, "opted_out": person.opted_out, "opted_out_at": at}
        return at

    def _move(self, person: Person, membership: Membership) -> None:
        """The person's email changed (or a merged record's email is now its master's): the subscriber follows."""
        moved = self.out.change_email(
            membership.list_id, membership.email, person.email, name=membership.name,
            reactivate=membership.state == "Bounced", opted_out=person.opted_out,
            because=f"the email of {person.sobject} {person.id} changed in Salesforce",
        )  # fmt: skip
        new_key = member_key(membership.list_id, person.email)
        if moved.not_resubscribed:
            self._problem(new_key, f"moved to the new email but not resubscribed: {moved.not_resubscribed}")
        fields: dict[str, Any] = {"Email__c": person.email, "Member_Key__c": new_key}
        if moved.resubscribed:
            fields |= {"State__c": "Active", "State_Changed__c": sf_datetime(self.now)}
            membership.state = "Active"
        self._update(membership.id, **fields)
        if membership.key:
            self.renamed[membership.key] = (new_key, membership.id)
        membership.email, membership.key = person.email, new_key

    def _merged(self, person: Person, membership: Membership) -> None:
        """A membership of a merge's master (Salesforce moved the losers' rows to it): a "Salesforce ID" in Campaign
        Monitor that names a loser takes the master's Id, so matching never meets a deleted Id again; the ledger's
        row no longer tells what Salesforce holds (its lookup moved), so the sync writes it whole when next read."""
        self.out.replace_salesforce_id(
            membership.list_id, membership.email, old_ids=self.losers[person.id], new_id=person.id, zone="",
            because=f"{', '.join(sorted(self.losers[person.id]))} merged into {person.sobject} {person.id}",
        )  # fmt: skip
        if membership.key:
            self.moved_rows.add(membership.key)

    def _opt_out(self, person: Person, membership: Membership, opted_out_at: datetime) -> None:
        """Email Opt Out is checked: unsubscribe, unless Campaign Monitor changed the subscriber later."""
        if membership.state not in ACTIVE_STATES:
            return
        if membership.state_changed is not None and membership.state_changed > opted_out_at:
            self.out.done["kept_by_later_change"] = self.out.done.get("kept_by_later_change", 0) + 1
            return
        self.out.unsubscribe(membership.list_id, membership.email,
                             because=f"Email Opt Out was checked on {person.sobject} {person.id}")  # fmt: skip
        membership.state = "Unsubscribed"
        self._update(membership.id, State__c="Unsubscribed", State_Changed__c=sf_datetime(self.now))

    def _rules(self, person: Person, memberships: list[Membership], *, via_account: bool = False) -> None:
        """The subscriber rules of the person's object: met, an add rule adds the person to its list (unless a
        subscriber of the list already, in any state: an add never resubscribes), a remove rule deletes its active
        subscribers of the list. A rule evaluated on creation only applies to a record read as it was created (not
        edited since; an account's change does not count); one evaluated "when edited to subsequently meet the
        criteria" applies to a record that meets them now and did not when last seen (or when the rule started)."""
        # a version that is the record's creation: never edited since (LastModifiedDate is its CreatedDate)
        created = not via_account and person.created is not None and person.modified <= person.created
        for rule in self.rules[person.sobject]:
            if rule.evaluate == SubscriberRule.When.CREATED and not created:
                continue
            met = rule_logic.met(rule.criteria, rule.logic, person.values)
            if rule.evaluate == SubscriberRule.When.MET and self._met_before(rule, person, met):
                continue
            if not met:
                continue
            on_list = [m for m in memberships if m.list_id == rule.list_id]
            because = f"the {rule.get_kind_display().lower()} rule of list {rule.list_name or rule.list_id}"
            try:
                if rule.adds and not on_list:  # a subscriber of the list in any state already: left as it is
                    self._add(rule, person, because)
                    self._added_row(rule, person)
                elif not rule.adds:
                    for membership in (m for m in on_list if m.state in ACTIVE_STATES):
                        self.out.delete(membership.list_id, membership.email, because=because)
                        membership.state = "Deleted"
                        self._update(membership.id, State__c="Deleted", State_Changed__c=sf_datetime(self.now))
            except Refused as refused:
                self._problem(f"{person.sobject} {person.id}", f"not added by {because}: {refused}", kept_out=True)

    def _met_before(self, rule: SubscriberRule, person: Person, met: bool) -> bool:
        """Whether the person met the rule's criteria when last seen (so that meeting them now is no change); the
        answer now is kept for the next time."""
        key = (rule.pk, person.id)
        before = key in self.matches
        if met != before:
            self.match_changes[key] = met
            if met:
                self.matches.add(key)
            else:
                self.matches.discard(key)
        return before

    def _load_matches(self, ids: list[str]) -> None:
        """What `_met_before` needs of these records (a query per 500 of them, when such a rule is active)."""
        for start in range(0, len(ids) if self.tokens else 0, 500):
            self.matches.update(RuleMatch.objects.filter(
                rule_id__in=list(self.tokens), record_id__in=ids[start : start + 500]
            ).values_list("rule_id", "record_id"))  # fmt: skip

    def _keep_matches(self) -> None:
        """The records that came to meet, or stopped meeting, such a rule's criteria: kept, unless the rule was
        saved again during the run (its records are then being read afresh)."""
        if not self.match_changes:
            return
        current = dict(SubscriberRule.objects.filter(pk__in=list(self.tokens)).values_list("pk", "matches_token"))
        kept = {key: met for key, met in self.match_changes.items() if current.get(key[0]) == self.tokens[key[0]]}
        gone: dict[int, list[str]] = {}
        for (rule_id, record_id), met in kept.items():
            if not met:
                gone.setdefault(rule_id, []).append(record_id)
        with transaction.atomic():
            RuleMatch.objects.bulk_create([RuleMatch(rule_id=rule_id, record_id=record_id)
                                           for (rule_id, record_id), met in kept.items() if met],
                                          ignore_conflicts=True)  # fmt: skip
            for rule_id, record_ids in gone.items():
                for start in range(0, len(record_ids), 500):
                    RuleMatch.objects.filter(rule_id=rule_id, record_id__in=record_ids[start : start + 500]).delete()

    def _add(self, rule: SubscriberRule, person: Person, because: str) -> None:
        if not person.email:
            raise Refused("the record has no email address")
        entries, consent = self._mapped(person, rule.list_id, clear_blank=False)
        subscriber = SubscriberInput(email=person.email, name=person.values.get("Name", ""),
                                     custom_fields=tuple(entries.values), consent_to_track=consent)  # fmt: skip
        self.out.add(rule.list_id, subscriber, opted_out=person.opted_out, because=because)

    def _added_row(self, rule: SubscriberRule, person: Person) -> None:
        """The membership row of the subscriber a rule added, as Campaign Monitor now holds it (one read: an add
        never resubscribes, so its state may not be Active), written with the run's writes through the sync's
        ledger: Salesforce shows the membership at once, and a remove rule finds it before the next sync."""
        found = self.out.cm.subscriber(rule.list_id, person.email, zone=rule.client.time_zone)
        if found is None:
            return
        link = Link(contact_id=person.id) if person.sobject == "Contact" else Link(lead_id=person.id)
        row = subscriber_row(rule.list_id, found, link, owner_id=rule.client.security_owner_id)
        self.added_rows.setdefault(rule.client_id, []).append(row)

    def _account_changes(self, already: set[str]) -> None:
        """Option (account trigger): the contacts of accounts changed since the last read are evaluated again by
        the contact rules that read an account field (one query for the accounts, one per 200 of them for their
        contacts). The first run starts watching accounts from then."""
        readers = [
            r for r in self.rules["Contact"] if any(f.startswith("Account.") for f in rule_logic.fields_of(r.criteria))
        ]
        if not readers or not self.options.account_trigger:
            return
        cursor, made = WatchCursor.objects.get_or_create(sobject="Account", defaults={"position": self.now,
                                                                                        "deleted_until": self.now})  # fmt: skip
        if made:
            return
        since = cursor.position - LAG
        newest = cursor.position
        accounts: list[str] = []
        text = f"SELECT Id, SystemModstamp FROM Account WHERE SystemModstamp >= {soql.datetime_literal(since)}"
        for record in self.sf.query(text):
            accounts.append(str(record["Id"]))
            stamp = parse_datetime(record.get("SystemModstamp"))
            newest = max(newest, stamp) if stamp else newest
        self.read["Account"] += len(accounts)
        fields = [name for name in self._fields("Contact") if name != "IsDeleted"]
        people: list[Person] = []
        for start in range(0, len(accounts), CHUNK):
            text = (f"SELECT {', '.join(fields)} FROM Contact "
                    f"WHERE AccountId IN ({soql.quote_list(accounts[start : start + CHUNK])})")  # fmt: skip
            people += [p for p in (self._person("Contact", r) for r in self.sf.query(text)) if p.id not in already]
        if people:
            self._load_matches([p.id for p in people])
            memberships: dict[str, list[Membership]] = {}
            for membership in self._memberships("Contact__c IN ({})", [p.id for p in people]):
                memberships.setdefault(membership.contact_id, []).append(membership)
            for person in people:
                self._rules(person, memberships.get(person.id, []), via_account=True)
        WatchCursor.objects.filter(sobject="Account").update(position=min(newest, self.now))

    def _mapped(self, person: Person, list_id: str, *, clear_blank: bool) -> tuple[field_values.Entries, str]:
        """The person's values for the list's mappings toward Campaign Monitor, and its consent to track
        (Unchanged unless mapped; a value that is not Yes, No or Unchanged is a problem, sent as Unchanged)."""
        mappings = [m for m in self.pushes.get(list_id, ()) if m.sobject == person.sobject]
        custom = [(m.salesforce_field, m.campaign_monitor, m.campaign_monitor_type or "Text")
                  for m in mappings if not m.is_consent]  # fmt: skip
        entries = field_values.to_campaign_monitor(person.values, custom, clear_blank=clear_blank)
        consent = "Unchanged"
        for mapping in (m for m in mappings if m.is_consent):
            found = field_values.consent(person.values.get(mapping.salesforce_field, ""))
            if found is None:
                entries.problems.append(f"consent to track {person.values.get(mapping.salesforce_field)!r} in "
                                        f"{mapping.salesforce_field} is not Yes, No or Unchanged: sent as Unchanged")  # fmt: skip
            else:
                consent = found
        return entries, consent

    def _push_fields(self, person: Person, membership: Membership) -> None:
        """The list's field mappings toward Campaign Monitor: the person's mapped values are sent when they differ
        from what was last sent (a blank value clears the custom field: Salesforce is its source)."""
        if membership.state == "Deleted" or not any(
            m.sobject == person.sobject for m in self.pushes.get(membership.list_id, ())
        ):
            return
        entries, consent = self._mapped(person, membership.list_id, clear_blank=True)
        for reason in entries.problems:
            self._problem(f"{person.sobject} {person.id}", reason)
        digest = content_hash({"values": entries.values, "clear": entries.clear, "consent": consent})
        done = PushedFields.objects.filter(list_id=membership.list_id, record_id=person.id, content_hash=digest)
        if done.exists():
            return
        sent = self.out.update_fields(
            membership.list_id, membership.email, name=membership.name, custom_fields=tuple(entries.values),
            clear_fields=tuple(entries.clear), consent_to_track=consent,
            because=f"mapped fields of {person.sobject} {person.id} changed in Salesforce",
        )  # fmt: skip
        if sent:
            PushedFields.objects.update_or_create(list_id=membership.list_id, record_id=person.id,
                                                  defaults={"content_hash": digest})  # fmt: skip

    # -- writing ---------------------------------------------------------------------------------------

    def _update(self, membership_id: str, **fields: Any) -> None:
        self.updates.setdefault(membership_id, {"Id": membership_id}).update(fields)

    def _write(self) -> None:
        refused = self._send(SUBSCRIBER.sobject, list(self.updates.values())) if self.updates else set()
        for client_id, rows in self.added_rows.items():
            tally = WriteTally()
            Writer(adapter=self.sf, client_id=client_id, dry_run=False, tally=tally).write(
                SUBSCRIBER, rows, batch_size=GovernorLimit.batch_size_for(JOB)
            )
            if tally.written[SUBSCRIBER.sobject]:
                self.out.done["membership_rows"] = (
                    self.out.done.get("membership_rows", 0) + tally.written[SUBSCRIBER.sobject]
                )
            for failure in tally.failures:
                self._problem(failure.key, f"its membership row: {failure.error.code}: {failure.error.message}")
        moved = sorted(self.moved_rows - self.renamed.keys())
        for start in range(0, len(moved), 500):
            RecordMap.objects.filter(sobject=SUBSCRIBER.sobject, key__in=moved[start : start + 500]).update(
                content_hash=""
            )
        for old, (new, row_id) in self.renamed.items():
            if row_id in refused:
                continue  # the row keeps its old key in Salesforce: so does the ledger
            if not RecordMap.objects.filter(sobject=SUBSCRIBER.sobject, key=new).exists():
                RecordMap.objects.filter(sobject=SUBSCRIBER.sobject, key=old).update(key=new, content_hash="")

    def _send(self, sobject: str, rows: list[dict[str, Any]]) -> set[str]:
        """Update rows in batches of the watcher's governor limit; a refused row is reported with its Id. Returns
        the Ids refused."""
        size = GovernorLimit.batch_size_for(JOB)
        results = [
            r for start in range(0, len(rows), size) for r in self.sf.update(sobject, rows[start : start + size])
        ]
        refused: set[str] = set()
        for row, result in zip(rows, results, strict=True):
            if not result.success:
                reasons = "; ".join(f"{e.code}: {e.message}" for e in result.errors)
                self._problem(f"{sobject} {row['Id']}", reasons)
                refused.add(str(row["Id"]))
        return refused

    def _problem(self, key: str, reason: str, *, kept_out: bool = False) -> None:
        """A record this run could not handle, with its key and why; `kept_out`: the rules of every add kept it out
        on purpose (suppressed, opted out, forgotten): listed with the run, not a problem to tell."""
        self.problems.append({"key": key, "reason": reason, **({"kept_out": "yes"} if kept_out else {})})
