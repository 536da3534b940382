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

This module orchestrates the run and applies Email Opt Out and the field mappings; the identity rules (conversion,
merge, delete, email change) are `sync.identity`, the subscriber rules and their match bookkeeping
`sync.rule_matches`, and what the parts hand on to each other `sync.watched`.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from cmsf.campaign_monitor.api import CampaignMonitor
from cmsf.campaign_monitor.errors import CampaignMonitorError
from cmsf.connections import services as connections
from cmsf.maintenance import observe, support_codes
from cmsf.maintenance.models import GovernorLimit
from cmsf.maintenance.services import record_message, resolve_cleared
from cmsf.options.models import FieldMapping, GeneralOptions
from cmsf.salesforce.adapter import SalesforceAdapter
from cmsf.salesforce.errors import SalesforceError
from cmsf.sync import identity
from cmsf.sync.identity import Identity
from cmsf.sync.leases import LeaseLost
from cmsf.sync.models import DirectoryEntry, PersonState, PushedFields, RecordMap, WatchCursor, Watcher, WatchRun
from cmsf.sync.outbound import Outbound, Refused, TriggersDisabled
from cmsf.sync.rule_matches import Matches, RuleEvaluation, active_rules, fields_read
from cmsf.sync.transforms import SUBSCRIBER, content_hash, sf_datetime
from cmsf.sync.watched import (
    ACTIVE_STATES,
    JOB,
    LAG,
    OBJECTS,
    Membership,
    Pending,
    Person,
    Reader,
    mapped,
    send,
    sms_country,
)
from cmsf.sync.writer import Writer, WriteTally

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=10)
CODE = "CMSF-WATCHER"
RECORDS_CODE = "CMSF-WATCH-RECORDS"
PROBLEMS_KEPT = 100
NEVER = datetime(1970, 1, 1, tzinfo=UTC)  # the time of an Email Opt Out the watcher never saw cleared

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
    """One run's reading and doing: reads the changes, hands each person to the identity rules
    (`sync.identity`), opt-out and field mappings, and the subscriber rules (`sync.rule_matches`), then writes
    what they left in `pending` and moves the cursors."""

    def __init__(self, sf: SalesforceAdapter, out: Outbound, run: WatchRun, now: datetime) -> None:
        self.sf, self.out, self.run, self.now = sf, out, run, now
        self.options = out.options
        self.pending = Pending()
        self.seen: dict[str, dict[str, Any]] = {}  # person Id -> what `_handled` keeps of it
        # Field mappings toward Campaign Monitor: list id -> its mappings.
        self.pushes: dict[str, list[FieldMapping]] = {}
        self.sms_country = sms_country(now)
        for mapping in FieldMapping.objects.filter(direction=FieldMapping.Direction.TO_CM):
            if mapping.is_sms and self.sms_country is None:
                continue  # the mobile number and SMS consent are sent only with SMS on (SMS Settings, Enterprise)
            self.pushes.setdefault(mapping.list_id, []).append(mapping)
        rules = active_rules()
        extra: dict[str, list[str]] = {}  # object -> the fields read besides FIELDS
        for sobject in OBJECTS:
            wanted = [m.salesforce_field for ms in self.pushes.values() for m in ms if m.sobject == sobject]
            extra[sobject] = list(dict.fromkeys(wanted + fields_read(rules[sobject])))
        self.reader = Reader(sf, now, extra)
        self.identity = Identity(self.reader, out, self.pending, now)
        self.matches = Matches.of(rules)
        self.rules = RuleEvaluation(rules, self.matches, self.pushes, out, self.pending, now, sms=self.sms_country)

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
            found, newest[sobject] = self.reader.changes(sobject, cursor.position - LAG)
            deleted = self.sf.deleted(sobject, cursor.deleted_until - LAG, self.now)
            covered[sobject] = deleted.latest_covered
            seen = {p.id for p in found}
            found += self.reader.purged(sobject, [rid for rid in deleted.ids if rid not in seen])
            people += found
        people = self._unhandled(people)
        self._apply(people)
        self.rules.account_changes(self.reader, {p.id for p in people}, account_trigger=self.options.account_trigger)
        self.matches.keep()
        self._write()
        self._handled(people)
        problems = self.pending.problems
        self.run.read, self.run.done = dict(self.reader.read), dict(self.out.done)
        self.run.problems = problems[:PROBLEMS_KEPT]
        if len(problems) > PROBLEMS_KEPT:
            self.run.message = f"{len(problems)} records could not be handled; the first {PROBLEMS_KEPT} are kept"
        for sobject in OBJECTS:
            WatchCursor.objects.filter(sobject=sobject).update(
                position=max(cursors[sobject].position, min(newest[sobject], self.now)),
                deleted_until=max(cursors[sobject].deleted_until, min(covered[sobject], self.now)),
            )

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
        parts = identity.split(people)
        if parts.converted:
            self.identity.convert(parts.converted)
        merges = self.identity.merge(parts.removed)
        plain = identity.plainly_deleted(parts.removed)
        if plain and self.options.delete_subscribers_on_record_delete:
            self.identity.delete(plain, still_held={p.email_lower for p in parts.live})
        if parts.live:
            self._live(parts.live, merges)

    def _live(self, people: list[Person], merges: identity.Merges) -> None:
        by_id = {p.id: p for p in people}
        self.matches.load(list(by_id))
        states = {s.record_id: s for s in PersonState.objects.filter(record_id__in=by_id)}
        mirror = dict(
            DirectoryEntry.objects.filter(
                record_id__in=[rid for rid in by_id if rid not in states or not states[rid].email_lower]
            ).values_list("record_id", "email_lower")
        )
        memberships: dict[str, list[Membership]] = {}
        for membership in self.reader.memberships("Contact__c IN ({0}) OR Lead__c IN ({0})", by_id):
            for person_id in {membership.contact_id, membership.lead_id} & by_id.keys():
                memberships.setdefault(person_id, []).append(membership)
        for person in people:
            state = states.get(person.id)
            before = (state.email_lower if state else "") or mirror.get(person.id, "")
            old = identity.old_emails(person, before, merges)
            opted_out_at = self._remember(person, state)
            for membership in memberships.get(person.id, ()):
                try:
                    if person.email and membership.email.lower() in old:
                        self.identity.move(person, membership)
                    if person.id in merges.losers:
                        self.identity.merged(person, membership, merges.losers[person.id])
                    if person.opted_out and self.options.unsubscribe_on_opt_out:
                        self._opt_out(person, membership, opted_out_at)
                    self._push_fields(person, membership)
                except Refused as refused:
                    self.pending.problem(membership.key or membership.id, str(refused), kept_out=True)
            self.rules.evaluate(person, memberships.get(person.id, []))

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
        self.pending.update(membership.id, State__c="Unsubscribed", State_Changed__c=sf_datetime(self.now))

    def _push_fields(self, person: Person, membership: Membership) -> None:
        """The list's field mappings toward Campaign Monitor: the person's mapped values are sent when they differ
        from what was last sent (a blank value clears the custom field: Salesforce is its source)."""
        if membership.state == "Deleted" or not any(
            m.sobject == person.sobject for m in self.pushes.get(membership.list_id, ())
        ):
            return
        values = mapped(person, self.pushes.get(membership.list_id, ()), clear_blank=True, sms_country=self.sms_country)
        entries, consent = values.entries, values.consent
        for reason in entries.problems:
            self.pending.problem(f"{person.sobject} {person.id}", reason)
        sent_state: dict[str, Any] = {"values": entries.values, "clear": entries.clear, "consent": consent}
        if values.mobile is not None:  # so that a hash made before SMS was mapped stays the same
            sent_state.update(mobile=values.mobile, sms_consent=values.sms_consent)
        digest = content_hash(sent_state)
        done = PushedFields.objects.filter(list_id=membership.list_id, record_id=person.id, content_hash=digest)
        if done.exists():
            return
        sent = self.out.update_fields(
            membership.list_id, membership.email, name=membership.name, custom_fields=tuple(entries.values),
            clear_fields=tuple(entries.clear), consent_to_track=consent, mobile_number=values.mobile,
            consent_to_send_sms=values.sms_consent,
            because=f"mapped fields of {person.sobject} {person.id} changed in Salesforce",
        )  # fmt: skip
        if sent:
            PushedFields.objects.update_or_create(list_id=membership.list_id, record_id=person.id,
                                                  defaults={"content_hash": digest})  # fmt: skip

    # -- writing ---------------------------------------------------------------------------------------

    def _write(self) -> None:
        pending = self.pending
        refused = (
            send(self.sf, SUBSCRIBER.sobject, list(pending.updates.values()), pending) if pending.updates else set()
        )
        for client_id, rows in pending.added_rows.items():
            tally = WriteTally()
            Writer(adapter=self.sf, client_id=client_id, dry_run=False, tally=tally).write(
                SUBSCRIBER, rows, batch_size=GovernorLimit.batch_size_for(JOB)
            )
            if tally.written[SUBSCRIBER.sobject]:
                self.out.done["membership_rows"] = (
                    self.out.done.get("membership_rows", 0) + tally.written[SUBSCRIBER.sobject]
                )
            for failure in tally.failures:
                pending.problem(failure.key, f"its membership row: {failure.error.code}: {failure.error.message}")
        moved = sorted(pending.moved_rows - pending.renamed.keys())
        for start in range(0, len(moved), 500):
            RecordMap.objects.filter(sobject=SUBSCRIBER.sobject, key__in=moved[start : start + 500]).update(
                content_hash=""
            )
        for old, (new, row_id) in pending.renamed.items():
            if row_id in refused:
                continue  # the row keeps its old key in Salesforce: so does the ledger
            if not RecordMap.objects.filter(sobject=SUBSCRIBER.sobject, key=new).exists():
                RecordMap.objects.filter(sobject=SUBSCRIBER.sobject, key=old).update(key=new, content_hash="")
