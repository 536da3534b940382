"""Writing rows to Salesforce through the ledger: unchanged rows are not sent, each batch follows the job's
governor limit, every success is recorded (object, key, Salesforce Id, hash), every failure is kept with
its key and reason while the rest of the batch goes on."""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from cmsf.maintenance.support_codes import SALESFORCE_PREFIX
from cmsf.salesforce.adapter import SalesforceAdapter
from cmsf.salesforce.errors import RecordError, RecordResult
from cmsf.sync.models import RecordMap
from cmsf.sync.transforms import Row, Target, content_hash

log = logging.getLogger(__name__)
SAMPLED_FAILURES = 50  # failures kept with their keys, per object and error code; the rest are counted
LOOKUP_CHUNK = 500  # keys per ledger query, inside SQLite's parameter limit


@dataclass
class Failure:
    sobject: str
    key: str
    error: RecordError
    job: str = ""  # the job whose write it was, when the object does not tell (a contact's mapped fields)


LEDGER_DATE, LEDGER_KIND = "_ledger_activity_date", "_ledger_activity_kind"  # see WriteContext.ledger_in_row
LEDGER_LABEL = "_ledger_status_label"  # a campaign member's status as written (see RecordMap.status_label)
PERSON_FIELDS = ("Contact__c", "Lead__c")  # the lookups of cmsf's rows to the people they concern
GONE = frozenset({"INVALID_CROSS_REFERENCE_KEY", "ENTITY_IS_DELETED"})  # a lookup to a record no longer there
Relink = Callable[[list[Row]], list[Row | None]]  # rows refused for a gone person -> each linked afresh, or None


def refused_for_a_gone_person(row: Row, result: RecordResult) -> bool:
    """Salesforce refused the row because a contact or lead it links to is gone (deleted, merged away): every
    error says so, naming a person lookup (or no field), and the row has one."""
    if result.success or not any(row.get(name) for name in PERSON_FIELDS):
        return False
    return all(e.code in GONE and set(e.fields) <= set(PERSON_FIELDS) for e in result.errors)


@dataclass(frozen=True)
class WriteContext:
    """How rows of one kind are written, beside their target and batch size (`Writer.prepare`, `Writer.write`).

    `activity_date`, `activity_kind`, `person`: what the ledger keeps of each row, taken from the row. `create_only`:
    fields Salesforce takes on create but refuses on update (a CampaignMember's CampaignId): left out of a row the
    ledger already holds. `ledger_in_row`: each row carries what the ledger keeps of it in LEDGER_DATE and LEDGER_KIND
    (and LEDGER_LABEL, when given), which are taken out before the row is hashed and sent."""

    activity_date: Callable[[Row], datetime | None] | None = None
    activity_kind: Callable[[Row], str] | None = None
    person: Callable[[Row], str] | None = None
    create_only: tuple[str, ...] = ()
    ledger_in_row: bool = False


PLAIN = WriteContext()  # rows whose ledger entries keep only their key, Salesforce Id and hash


@dataclass
class Batch:
    """Rows of one object that differ from the ledger, ready to send, with what the ledger will keep of them."""

    sobject: str
    external_id: str
    keys: list[str]
    rows: list[Row]
    hashes: list[str]
    activity_dates: list[datetime | None] | None
    activity_kinds: list[str] | None
    people: list[str] | None = None  # the Contact or Lead of each row, for the ledger
    job: str = ""  # as `Failure.job`
    labels: list[str | None] | None = None  # a campaign member's status as written, for the ledger


@dataclass
class WriteTally:
    written: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    skipped: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    failed: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    deleted: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    failures: list[Failure] = field(default_factory=list)  # at most SAMPLED_FAILURES per object and error code
    failure_counts: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))

    def fail(self, failure: Failure) -> None:
        """Count a failure; keep it (its key and reason) while its object and code have fewer than SAMPLED_FAILURES,
        so a run where a whole org refuses every row (storage full) does not hold a million failures."""
        group = (failure.sobject, failure.error.code)
        self.failure_counts[group] += 1
        if self.failure_counts[group] <= SAMPLED_FAILURES:
            self.failures.append(failure)


def _warn_refused(operation: str, sobject: str, refused: Counter[str], size: int) -> None:
    """One WARNING per support code for the records of a batch Salesforce refused (counts only: a key may hold an
    email address); the run's maintenance messages list the records."""
    for code, n in sorted(refused.items()):
        log.warning("[%s%s] Salesforce refused %d of %d %s records of a batch (%s)", SALESFORCE_PREFIX, code, n, size,
                    sobject, operation)  # fmt: skip


def record_ledger(client_id: int, sobject: str, entries: list[tuple[Any, ...]], now: datetime) -> None:
    """Insert or update ledger rows, given as (key, Salesforce Id, hash, activity date, activity kind, person, status
    label), in one
    statement per row (INSERT ... ON CONFLICT, which SQLite and PostgreSQL share) and one transaction; the ORM's
    bulk upsert spends more time building SQL than the database spends running it."""
    if not entries:
        return
    meta = RecordMap._meta
    q = connection.ops.quote_name
    columns = [
        "client_id",
        "sobject",
        "key",
        "salesforce_id",
        "content_hash",
        "activity_date",
        "activity_kind",
        "person_id",
        "status_label",
        "synced_at",
    ]
    updated = ", ".join(f"{q(c)} = excluded.{q(c)}" for c in columns if c not in ("sobject", "key"))
    sql = (
        f"INSERT INTO {q(meta.db_table)} ({', '.join(q(c) for c in columns)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))}) "
        f"ON CONFLICT ({q('sobject')}, {q('key')}) DO UPDATE SET {updated}"
    )
    adapt = connection.ops.adapt_datetimefield_value
    synced_at = adapt(now)
    params = [
        (
            client_id,
            sobject,
            key,
            sf_id,
            digest,
            adapt(when) if when is not None else None,
            kind,
            person,
            label,
            synced_at,
        )
        for key, sf_id, digest, when, kind, person, label in entries
    ]
    with transaction.atomic(), connection.cursor() as cursor:  # one commit, not one per row
        cursor.executemany(sql, params)


def _person_of(row: Row) -> str:
    return str(row.get("Contact__c") or row.get("Lead__c") or "")


def _batches(rows: Iterable[Row], size: int) -> Iterable[list[Row]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


class Writer:
    def __init__(
        self,
        *,
        adapter: SalesforceAdapter | None,
        client_id: int,
        dry_run: bool,
        tally: WriteTally,
        heartbeat: Callable[[], None] | None = None,
    ) -> None:
        self.adapter = adapter
        self.heartbeat = heartbeat
        self.client_id = client_id
        self.dry_run = dry_run
        self.tally = tally
        # In a dry run nothing reaches the ledger; what the run would have written is remembered here, so a
        # row met twice in one run is counted once, as a real run would write it once.
        self._would_write: dict[tuple[str, str], str] = {}
        self.on_change: Callable[[str, list[Row]], None] | None = None  # told of the rows that differ, per batch
        # Rows refused because a contact or lead they link to is gone are linked again by this (the sync follows
        # the deletions into its directory) and sent once more, in the same run.
        self.relink: Relink | None = None

    def _ledger(self, sobject: str, keys: list[str]) -> dict[str, tuple[str, str]]:
        found: dict[str, tuple[str, str]] = {}
        for start in range(0, len(keys), LOOKUP_CHUNK):
            rows = RecordMap.objects.filter(sobject=sobject, key__in=keys[start : start + LOOKUP_CHUNK])
            found.update(
                (key, (digest, sf_id))
                for key, digest, sf_id in rows.values_list("key", "content_hash", "salesforce_id")
            )
        return found

    def prepare(
        self,
        target: Target,
        rows: Iterable[Row],
        *,
        batch_size: int,
        context: WriteContext = PLAIN,
    ) -> list[Batch]:
        """The batches of rows that differ from what the ledger holds (unchanged rows are counted as skipped).
        In a dry run nothing is left to send: the rows are counted as they would be written. `context`: what the
        ledger keeps of each row and the fields left out of updates (`WriteContext`)."""
        sobject, external_id = target.sobject, target.external_id
        activity_date, activity_kind, person = context.activity_date, context.activity_kind, context.person
        create_only, ledger_in_row = context.create_only, context.ledger_in_row
        batches: list[Batch] = []
        for chunk in _batches(rows, batch_size):
            if self.heartbeat is not None:
                self.heartbeat()  # a long write keeps the client's lease
            unique = {str(row[external_id]): row for row in chunk}  # one row per key: the last one read wins
            kept: dict[str, tuple[datetime | None, str, str | None]] = {}
            if ledger_in_row:
                kept = {
                    key: (row.pop(LEDGER_DATE, None), row.pop(LEDGER_KIND, ""), row.pop(LEDGER_LABEL, None))
                    for key, row in unique.items()
                }
            ledger = self._ledger(sobject, list(unique))
            for key in unique:
                if (sobject, key) in self._would_write:
                    ledger[key] = (self._would_write[(sobject, key)], "")
            hashes = {key: content_hash(row) for key, row in unique.items()}
            changed = [key for key in unique if ledger.get(key, ("", ""))[0] != hashes[key]]
            if create_only:
                for key in changed:
                    if ledger.get(key, ("", ""))[1]:  # in Salesforce already: an update
                        unique[key] = {k: v for k, v in unique[key].items() if k not in create_only}
            self.tally.skipped[sobject] += len(unique) - len(changed)
            if not changed:
                continue
            if self.on_change is not None:
                self.on_change(sobject, [unique[key] for key in changed])
            if self.dry_run or self.adapter is None:
                self.tally.written[sobject] += len(changed)
                self._would_write.update(((sobject, key), hashes[key]) for key in changed)
                continue
            dates: list[datetime | None] | None = None
            kinds: list[str] | None = None
            labels: list[str | None] | None = None
            if ledger_in_row:
                dates, kinds = [kept[key][0] for key in changed], [kept[key][1] for key in changed]
                labels = [kept[key][2] for key in changed]
            else:
                dates = [activity_date(unique[key]) for key in changed] if activity_date else None
                kinds = [activity_kind(unique[key]) for key in changed] if activity_kind else None
            batches.append(
                Batch(
                    sobject=sobject,
                    external_id=external_id,
                    keys=changed,
                    rows=[unique[key] for key in changed],
                    hashes=[hashes[key] for key in changed],
                    activity_dates=dates,
                    activity_kinds=kinds,
                    people=[person(unique[key]) for key in changed] if person else None,
                    labels=labels,
                )
            )
        return batches

    def send(self, batch: Batch) -> list[RecordResult]:
        """The Salesforce half of a write: no database access, so it can run beside the reading of the next rows."""
        assert self.adapter is not None  # prepare() leaves nothing to send without one
        return self.adapter.upsert(batch.sobject, batch.external_id, batch.rows)

    def record(self, batch: Batch, results: list[RecordResult], *, relink: bool = True) -> bool:
        """Put what Salesforce accepted in the ledger and keep every failure with its key; True when all went in.
        Rows refused for a contact or lead that is gone are linked again and sent once more (`relink`)."""
        sobject = batch.sobject
        all_ok = True
        now = timezone.now()
        done: list[tuple[Any, ...]] = []
        refused: Counter[str] = Counter()  # error code -> records refused
        skip: set[int] = set()
        if relink and self.relink is not None:
            gone = [i for i, r in enumerate(results) if refused_for_a_gone_person(batch.rows[i], r)]
            skip, all_ok = self._relinked(batch, gone)
        for index, (key, result) in enumerate(zip(batch.keys, results, strict=True)):
            if index in skip:
                continue
            if result.success and result.id:
                done.append(
                    (
                        key,
                        result.id,
                        batch.hashes[index],
                        batch.activity_dates[index] if batch.activity_dates else None,
                        batch.activity_kinds[index] if batch.activity_kinds else "",
                        batch.people[index] if batch.people else "",
                        batch.labels[index] if batch.labels else None,
                    )
                )
            else:
                all_ok = False
                errors = result.errors or [RecordError("UNKNOWN_ERROR", "no Id came back")]
                for error in errors:
                    self.tally.fail(Failure(sobject, key, error, batch.job))
                refused[errors[0].code] += 1
                self.tally.failed[sobject] += 1
        _warn_refused("upsert", sobject, refused, len(batch.keys))
        record_ledger(self.client_id, sobject, done, now)
        self.tally.written[sobject] += len(done)
        return all_ok

    def _relinked(self, batch: Batch, indices: list[int]) -> tuple[set[int], bool]:
        """The rows at `indices` linked afresh and sent again (once): the positions taken care of (a row whose links
        did not change is left to be refused as Salesforce said), and True when all of those went in."""
        if not indices:
            return set(), True
        assert self.relink is not None
        picked = [(i, row) for i, row in zip(indices, self.relink([batch.rows[i] for i in indices]), strict=True)
                  if row is not None]  # fmt: skip
        if not picked:
            return set(), True
        retry = Batch(
            sobject=batch.sobject,
            external_id=batch.external_id,
            keys=[batch.keys[i] for i, _ in picked],
            rows=[row for _, row in picked],
            hashes=[content_hash(row) for _, row in picked],
            activity_dates=[batch.activity_dates[i] for i, _ in picked] if batch.activity_dates else None,
            activity_kinds=[batch.activity_kinds[i] for i, _ in picked] if batch.activity_kinds else None,
            people=[_person_of(row) for _, row in picked] if batch.people is not None else None,
            job=batch.job,
            labels=[batch.labels[i] for i, _ in picked] if batch.labels else None,
        )
        return {i for i, _ in picked}, self.record(retry, self.send(retry), relink=False)

    def write(
        self,
        target: Target,
        rows: Iterable[Row],
        *,
        batch_size: int,
        context: WriteContext = PLAIN,
    ) -> bool:
        """Upsert rows by external id, in batches; True when every row is in Salesforce as given."""
        all_ok = True
        batches = self.prepare(target, rows, batch_size=batch_size, context=context)
        for batch in batches:
            all_ok = self.record(batch, self.send(batch)) and all_ok
        return all_ok

    def delete(self, sobject: str, entries: list[tuple[str, str]], *, batch_size: int) -> bool:
        """Delete (key, Salesforce Id) pairs cmsf wrote; the ledger forgets what Salesforce no longer holds."""
        all_ok = True
        for start in range(0, len(entries), batch_size):
            chunk = entries[start : start + batch_size]
            if self.dry_run or self.adapter is None:
                self.tally.deleted[sobject] += len(chunk)
                continue
            results = self.adapter.delete(sobject, [sf_id for _, sf_id in chunk])
            gone: list[str] = []
            refused: Counter[str] = Counter()
            for (key, _), result in zip(chunk, results, strict=True):
                if result.success or any(
                    e.code in ("ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY") for e in result.errors
                ):
                    gone.append(key)
                else:
                    all_ok = False
                    for error in result.errors:
                        self.tally.fail(Failure(sobject, key, error))
                    refused[result.errors[0].code if result.errors else "UNKNOWN_ERROR"] += 1
                    self.tally.failed[sobject] += 1
            _warn_refused("delete", sobject, refused, len(chunk))
            for i in range(0, len(gone), LOOKUP_CHUNK):
                RecordMap.objects.filter(sobject=sobject, key__in=gone[i : i + LOOKUP_CHUNK]).delete()
            self.tally.deleted[sobject] += len(gone)
        return all_ok


def plain(counts: dict[str, Any]) -> dict[str, int]:
    return {k: int(v) for k, v in counts.items() if v}
