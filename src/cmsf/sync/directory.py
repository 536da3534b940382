"""The directory of contacts and leads that matching needs, mirrored in the database and kept current.

Reading every contact and lead for every client's sync (two Bulk 2.0 queries: 6 API calls and seconds per client
per run, even when nothing changed) is replaced by a mirror, one `DirectoryEntry` per record:

- an object (Contact, Lead) with no mirror yet, or whose last full read is older than `REBUILD_INTERVAL`, is read
  in full with one Bulk 2.0 query and its rows replaced in one transaction;
- otherwise what changed is read with one REST queryAll (so that deleted records come back, with IsDeleted) from
  the newest SystemModstamp applied, less `LAG` (a record saved by a transaction that committed late still falls
  inside the next read); changed rows are upserted and deleted ones removed; when more than `MOST_CHANGES` changed
  (a mass update or data load), the REST read stops and the object is read in full, in fewer calls;
- a mirror refreshed less than `FRESH_FOR` ago (the clients of one run, synced one after another) is used as it is.

A process keeps the directory it built last, with the versions of the mirror it was built from: while no refresh
changed the mirror (the usual hourly sync, and every client of a run after the first), the next load reuses it
instead of reading and indexing every row again.

The periodic full read catches what a read of changes cannot see: records purged from the recycle bin before a
refresh saw them deleted, and changes committed later than the lag allows for. A refresh writes only when no other
worker refreshed the object since this one started reading, so the mirror never moves back in time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from threading import Lock
from typing import Any, Literal
from uuid import UUID, uuid4

from django.db import connection, transaction
from django.utils import timezone

from cmsf.salesforce.adapter import SalesforceAdapter, parse_bool
from cmsf.salesforce.ids import CONTACT_PREFIX, LEAD_PREFIX
from cmsf.salesforce.soql import datetime_literal
from cmsf.sync.matching import ContactRow, Directory, LeadRow
from cmsf.sync.models import DirectoryEntry, DirectoryState

REBUILD_INTERVAL = timedelta(days=7)  # a full read now and then, for what the changes cannot show
FRESH_FOR = timedelta(seconds=60)  # a mirror this recent is not refreshed again
LAG = timedelta(minutes=5)  # changes are read from the newest SystemModstamp applied, less this
MOST_CHANGES = 20_000  # more changed records (10 REST pages; a mass update) are read in full with Bulk 2.0 instead
DELETE_CHUNK = 500  # ids per DELETE ... IN (...), under every database's limit of parameters
UPSERT_BATCH = 1000  # rows per INSERT, fewer where the database allows fewer parameters

FIELDS: dict[str, tuple[str, ...]] = {
    "Contact": ("Id", "Email", "LastModifiedDate", "SystemModstamp"),
    "Lead": ("Id", "Email", "LastModifiedDate", "SystemModstamp", "IsConverted", "ConvertedContactId"),
}
COLUMNS = ("record_id", "sobject", "email_lower", "last_modified", "is_converted", "converted_contact_id")

Refresh = Literal["full", "changes", "fresh"]


def load(sf: SalesforceAdapter) -> Directory:
    """The directory of every contact and lead, from the mirror brought up to date with Salesforce first: the one
    this process built last when the mirror has not changed since (a directory is never changed once built)."""
    refresh(sf)
    versions = _versions()
    with _built.lock:
        if _built.directory is not None and _built.versions == versions:
            return _built.directory
        _built.directory = None  # not held while the next is built: one directory in memory at a time
    directory = read()
    with _built.lock:
        _built.versions, _built.directory = versions, directory
    return directory


def refresh(sf: SalesforceAdapter, now: datetime | None = None, *, force: bool = False) -> dict[str, Refresh]:
    """Bring the mirror of each object up to date (`force`: even when it was refreshed within `FRESH_FOR`); returns
    what was done per object."""
    now = now or timezone.now()
    return {sobject: _refresh(sf, sobject, now, force=force) for sobject in FIELDS}


def follow(sf: SalesforceAdapter, gone: set[str]) -> Directory:
    """Salesforce refused a lookup to these contacts or leads (deleted, merged away, or purged from the recycle bin
    since the mirror last looked): the mirror is brought up to date whatever its age, the Ids Salesforce no longer
    has are removed from it (one read by Id per object), and the directory is built again. Only a write that met
    such a refusal pays this: two to four calls."""
    refresh(sf, force=True)
    for sobject, prefix in (("Contact", CONTACT_PREFIX), ("Lead", LEAD_PREFIX)):
        known = sorted(DirectoryEntry.objects.filter(record_id__in=[i for i in gone if i.startswith(prefix)])
                       .values_list("record_id", flat=True))  # fmt: skip
        if not known:
            continue
        found = sf.retrieve(sobject, known, ["Id"])
        missing = [record_id for record_id, record in zip(known, found, strict=True) if record is None]
        if missing:
            with transaction.atomic():
                DirectoryEntry.objects.filter(record_id__in=missing).delete()
                DirectoryState.objects.filter(sobject=sobject).update(version=uuid4())
    return load(sf)


def read() -> Directory:
    """The directory from the mirror alone, with the rules of `Directory` (no call to Salesforce). The rows are
    plain text, so that 100,000 of them are read with no conversion per row."""
    entries = DirectoryEntry.objects.order_by()
    contacts: Iterator[ContactRow] = (
        entries.filter(sobject=DirectoryEntry.SObject.CONTACT)
        .values_list("record_id", "email_lower", "last_modified")
        .iterator(chunk_size=10_000)
    )
    leads: Iterator[LeadRow] = (
        entries.filter(sobject=DirectoryEntry.SObject.LEAD)
        .values_list("record_id", "email_lower", "last_modified", "is_converted", "converted_contact_id")
        .iterator(chunk_size=10_000)
    )
    return Directory.from_rows(contacts, leads)


def forget() -> None:
    """Empty the mirror (another org): the next load reads everything."""
    DirectoryEntry.objects.all().delete()
    DirectoryState.objects.all().delete()


@dataclass
class _Built:
    """The directory this process built last, and the mirror it was built from: the database and each object's
    version (a version is random, so a mirror emptied and filled again, or another database, never matches)."""

    versions: tuple[Any, ...] = ()
    directory: Directory | None = None
    lock: Lock = field(default_factory=Lock)


_built = _Built()


def _versions() -> tuple[Any, ...]:
    states: list[tuple[str, UUID]] = list(DirectoryState.objects.order_by("sobject").values_list("sobject", "version"))
    return (connection.vendor, connection.settings_dict["NAME"], *states)


# -- refreshing ------------------------------------------------------------------------------------------


def _refresh(sf: SalesforceAdapter, sobject: str, now: datetime, *, force: bool = False) -> Refresh:
    state, _ = DirectoryState.objects.get_or_create(sobject=sobject)
    if not force and state.refreshed_at is not None and now - state.refreshed_at < FRESH_FOR:
        return "fresh"
    fields = ", ".join(FIELDS[sobject])
    # Salesforce is read before the transaction, so that no write lock is held while it answers.
    if state.full_at is None or now - state.full_at >= REBUILD_INTERVAL:
        return _full(sf, sobject, fields, now)
    since = _soql_datetime((state.position or state.full_at) - LAG)
    soql = f"SELECT {fields}, IsDeleted FROM {sobject} WHERE SystemModstamp >= {since} ORDER BY SystemModstamp"
    changed = list(islice(sf.query(soql, include_deleted=True), MOST_CHANGES + 1))  # the pages left are not asked for
    if len(changed) > MOST_CHANGES:
        return _full(sf, sobject, fields, now)
    _apply(sobject, now, _Changes.of(sobject, changed), full=False)
    return "changes"


def _full(sf: SalesforceAdapter, sobject: str, fields: str, now: datetime) -> Refresh:
    _apply(sobject, now, _Changes.of(sobject, sf.bulk_query(f"SELECT {fields} FROM {sobject}")), full=True)
    return "full"


@dataclass
class _Changes:
    """What a read brought: rows to write (as COLUMNS), Ids deleted, and the newest SystemModstamp among them."""

    rows: list[tuple[Any, ...]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    newest: datetime | None = None

    @classmethod
    def of(cls, sobject: str, records: Iterable[Mapping[str, Any]]) -> _Changes:
        changes = cls()
        newest = ""
        for record in records:
            stamp = _utc_text(record.get("SystemModstamp"))
            if stamp > newest:
                newest = stamp
            if parse_bool(record.get("IsDeleted")):
                changes.deleted.append(str(record["Id"]))
            else:
                changes.rows.append(_columns(sobject, record))
        changes.newest = datetime.fromisoformat(newest) if newest else None
        return changes


def _apply(sobject: str, now: datetime, changes: _Changes, *, full: bool) -> None:
    """Write a read to the mirror in one transaction, unless another worker wrote a newer one meanwhile."""
    with transaction.atomic():
        state = DirectoryState.objects.select_for_update().get(sobject=sobject)
        if state.refreshed_at is not None and state.refreshed_at >= now:
            return  # another worker started a refresh no earlier than this one and wrote it first: its data is newer
        if full:
            DirectoryEntry.objects.filter(sobject=sobject).delete()
            state.full_at = now
            state.position = changes.newest  # none for an empty object: changes are then read from `full_at`
        elif changes.newest is not None and (state.position is None or changes.newest > state.position):
            state.position = changes.newest
        changed = _upsert(changes.rows)
        for start in range(0, len(changes.deleted), DELETE_CHUNK):
            ids = changes.deleted[start : start + DELETE_CHUNK]
            changed += DirectoryEntry.objects.filter(record_id__in=ids).delete()[0]
        if full or changed:
            state.version = uuid4()  # a directory built from the rows before is no longer the mirror's
        state.refreshed_at = now
        state.save()


def _upsert(rows: list[tuple[Any, ...]]) -> int:
    """Insert or update mirror rows (COLUMNS) with INSERT ... ON CONFLICT (which SQLite and PostgreSQL share), many
    rows a statement: an org's 100,000 contacts are a few hundred statements, not 100,000 saves. A record read twice
    (a page boundary moving under a REST read) is written once, as last read: one statement may not touch a row
    twice. A row that is already as read is not written (the read of changes goes back a lag, so most of what it
    brings is known); returns how many rows were inserted or changed."""
    rows = list({row[0]: row for row in rows}.values())
    if not rows:
        return 0
    q = connection.ops.quote_name
    table = q(DirectoryEntry._meta.db_table)
    values = [c for c in COLUMNS if c != "record_id"]  # none is null: `<>` compares them
    updated = ", ".join(f"{q(c)} = excluded.{q(c)}" for c in values)
    differs = " OR ".join(f"{table}.{q(c)} <> excluded.{q(c)}" for c in values)
    head = f"INSERT INTO {table} ({', '.join(q(c) for c in COLUMNS)}) VALUES "
    tail = f" ON CONFLICT ({q('record_id')}) DO UPDATE SET {updated} WHERE {differs}"
    placeholders = f"({', '.join(['%s'] * len(COLUMNS))})"
    fields = [DirectoryEntry._meta.get_field(c) for c in COLUMNS]
    size = min(UPSERT_BATCH, connection.ops.bulk_batch_size(fields, rows))
    written = 0
    with connection.cursor() as cursor:
        for start in range(0, len(rows), size):
            batch = rows[start : start + size]
            cursor.execute(head + ", ".join([placeholders] * len(batch)) + tail, [v for row in batch for v in row])
            written += max(cursor.rowcount, 0)
    return written


def _columns(sobject: str, row: Mapping[str, Any]) -> tuple[Any, ...]:
    """A REST record or a Bulk 2.0 CSV row ("" for null, "true"/"false") as the values of COLUMNS."""
    return (
        str(row["Id"]),
        sobject,
        str(row.get("Email") or "").strip().lower(),
        _utc_text(row.get("LastModifiedDate")),
        parse_bool(row.get("IsConverted")),
        str(row.get("ConvertedContactId") or ""),
    )


# -- values ----------------------------------------------------------------------------------------------


def _utc_text(value: Any) -> str:
    """A Salesforce datetime ("2026-11-27T10:00:00.000+0000" from REST, "2026-11-27T10:00:00.000Z" from Bulk 2.0) as
    UTC text of one width, "2026-11-27T10:00:00.000+00:00", which sorts as the times do ("" for none, before any):
    `Directory` compares them, and the two forms must not be compared as they come."""
    if not value:
        return ""
    text = str(value)
    if (len(text) == 28 and text.endswith("+0000")) or (len(text) == 24 and text.endswith("Z")):
        return text[:23] + "+00:00"  # Salesforce's own forms, in UTC: 100,000 rows of a full read, without parsing
    return datetime.fromisoformat(text).astimezone(UTC).isoformat(timespec="milliseconds")


def _soql_datetime(moment: datetime) -> str:
    return datetime_literal(moment)
