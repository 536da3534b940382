"""The org's tables: records by id with their indexes, the recycle bin, the CampaignMember links, the journal that
makes a write all-or-none, and cascade deletes. `Tables` is the base of `Store` (see store.py), which adds the write
rules; the names here are what every layer of the store shares.

Records are sparse dicts (a missing key is null) that are never changed in place once stored, except for
the Campaign roll-up counters: an update stores a new dict. So a query cursor keeps the rows it selected
as they were, and a rollback puts the old dicts back.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from cmsf_sandbox.salesforce.errors import DmlError, RecordError
from cmsf_sandbox.salesforce.ids import make_id, to_18
from cmsf_sandbox.salesforce.schema import Field, Schema, SObject

log = logging.getLogger(__name__)

EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
LOAD_ORDER = (
    "Organization",
    "User",
    "PermissionSet",
    "PermissionSetAssignment",
    "Account",
    "Contact",
    "Lead",
    "Campaign",
    "CampaignMemberStatus",
    "CampaignMember",
)
SYSTEM_REFERENCES = frozenset({"CreatedById", "LastModifiedById", "OwnerId", "MasterRecordId"})
ROLLUPS = ("NumberOfLeads", "NumberOfConvertedLeads", "NumberOfContacts", "NumberOfResponses")
DEFAULT_MEMBER_STATUSES = (("Sent", True, False, 1), ("Responded", False, True, 2))
SECURITY = "Please check the security settings of this field and verify that it is read/write for your profile or permission set."


@dataclass(frozen=True)
class WriteContext:
    user_id: str
    now: str  # "2024-05-01T10:20:30.000+0000"

    @property
    def today(self) -> str:
        return self.now[:10]


class RecordNotFound(DmlError):
    """The id is well formed but no live record has it (404 on single-record calls)."""


@dataclass
class Table:
    name: str
    prefix: str
    storage_kb: int
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    bin: dict[str, dict[str, Any]] = field(default_factory=dict)
    deleted_at: dict[str, str] = field(default_factory=dict)
    # Records gone for good (hard deleted, or emptied from the recycle bin): getDeleted still lists them.
    purged_at: dict[str, str] = field(default_factory=dict)
    indexes: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    case_sensitive: dict[str, bool] = field(default_factory=dict)
    seq: int = 0
    auto_seq: int = 0


def dml_error(code: str, message: str, *fields: str) -> DmlError:
    return DmlError(RecordError(code, message, tuple(fields)))


def normalized(value: Any, case_sensitive: bool) -> str | None:
    if value is None or value == "":
        return None
    text = value if isinstance(value, str) else str(value)
    return text if case_sensitive else text.lower()


def auto_number(display_format: str | None, number: int) -> str:
    fmt = display_format or "{0}"
    found = re.search(r"\{(0+)\}", fmt)
    if found is None:
        return f"{fmt}{number}"
    return fmt[: found.start()] + str(number).zfill(len(found.group(1))) + fmt[found.end() :]


SETTLE_AFTER = 10_000  # records loaded after which they are moved out of the GC's way (see settle_heap)


def settle_heap() -> None:
    """Move every object alive now out of the cyclic garbage collector's reach. Records are acyclic dicts
    (reference counting frees them), and with 100,000s of them each full collection would take 100+ ms and
    land on whichever request happens to allocate next; after a load or a bulk job, freezing keeps those
    pauses away. Objects frozen this way are still freed by reference counting."""
    gc.collect()
    gc.freeze()


class Tables:
    """Records, indexes, the journal and cascades: no write rule of its own."""

    def __init__(self, schema: Schema, *, storage_max_mb: int = 1024) -> None:
        self._schema = schema
        self.storage_max_mb = storage_max_mb
        self.tables: dict[str, Table] = {}
        for obj in schema.objects.values():
            table = Table(obj.name, obj.key_prefix, obj.storage_kb)
            for f in obj.fields.values():
                if f.indexed:
                    table.indexes[f.name] = {}
                    table.case_sensitive[f.name] = f.case_sensitive
            self.tables[obj.name] = table
        self.used_kb = 0
        self._journal: list[tuple[str, Table, str, dict[str, Any] | None, str | None]] | None = None
        self._pending: dict[tuple[str, bool], set[str]] | None = None
        self.member_pairs: dict[tuple[str, str, str], str] = {}
        self.members_by_campaign: dict[str, set[str]] = {}
        self.members_by_person: dict[str, set[str]] = {}
        self.statuses_by_campaign: dict[str, set[str]] = {}
        self.assignment_pairs: dict[tuple[str, str], str] = {}
        self._caches: dict[tuple[str, str, int], Any] = {}

    @property
    def schema(self) -> Schema:
        return self._schema

    @schema.setter
    def schema(self, schema: Schema) -> None:
        """A changed schema (admin): fields removed or put back; the records keep their values."""
        self._schema = schema
        self._caches.clear()

    # ------------------------------------------------------------------------------------------ reading

    def table(self, obj: SObject | str) -> Table:
        return self.tables[obj if isinstance(obj, str) else obj.name]

    def lookup(self, object_name: str, record_id: Any) -> dict[str, Any] | None:
        if not record_id:
            return None
        table = self.tables.get(object_name)
        if table is None:
            return None
        return table.rows.get(record_id) or table.bin.get(record_id)

    def live(self, object_name: str, record_id: str) -> dict[str, Any] | None:
        table = self.tables.get(object_name)
        return table.rows.get(record_id) if table else None

    def rows(self, obj: SObject, include_deleted: bool = False) -> Iterable[dict[str, Any]]:
        table = self.tables[obj.name]
        if not include_deleted:
            return table.rows.values()
        return [*table.rows.values(), *table.bin.values()]

    def count(self, obj: SObject) -> int:
        return len(self.tables[obj.name].rows)

    def resolve_id(self, value: str, expected: SObject | None = None) -> tuple[SObject, str]:
        """(object, 18-character id) of an id; DmlError MALFORMED_ID when it is not one (of `expected`)."""
        try:
            rid = to_18(value)
        except ValueError:
            label = f"{expected.label} ID: id value of incorrect type" if expected else "malformed id"
            raise dml_error(
                "MALFORMED_ID", f"{label}: {value}" if expected else f"malformed id {value}", "Id"
            ) from None
        obj = self.schema.by_prefix(rid[:3])
        if expected is not None and (obj is None or obj.name != expected.name):
            raise dml_error("MALFORMED_ID", f"{expected.label} ID: id value of incorrect type: {value}", "Id")
        if obj is None or obj.name not in self.tables:
            raise dml_error("MALFORMED_ID", f"malformed id {value}", "Id")
        return obj, rid

    def get(self, obj: SObject, value: str) -> tuple[dict[str, Any], bool]:
        """(record, deleted) of an id of `obj`; DmlError when malformed, RecordNotFound when unknown."""
        obj, rid = self.resolve_id(value, obj)
        table = self.tables[obj.name]
        record = table.rows.get(rid)
        if record is not None:
            return record, False
        deleted = table.bin.get(rid)
        if deleted is not None:
            return deleted, True
        raise RecordNotFound(
            RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ("Id",)), status=404
        )

    def find_ids(self, obj: SObject, f: Field, value: Any) -> list[str]:
        """Ids of the live records of `obj` whose field `f` is `value` (case-insensitively unless the field
        is case-sensitive); through the index when the field has one."""
        table = self.tables[obj.name]
        if f.name == "Id":
            try:
                rid = to_18(str(value))
            except ValueError:
                return []
            return [rid] if rid in table.rows else []
        index = table.indexes.get(f.name)
        key = normalized(value, f.case_sensitive)
        if key is None:
            return []
        if index is not None:
            return list(index.get(key, ()))
        return [rid for rid, rec in table.rows.items() if normalized(rec.get(f.name), f.case_sensitive) == key]

    def storage(self) -> dict[str, Any]:
        by_object = {}
        for table in self.tables.values():
            count = len(table.rows) + len(table.bin)
            if count:
                by_object[table.name] = {
                    "records": len(table.rows),
                    "deleted": len(table.bin),
                    "kb": count * table.storage_kb,
                }
        return {
            "used_kb": self.used_kb,
            "used_mb": self.used_kb // 1024,
            "max_mb": self.storage_max_mb,
            "remaining_mb": max(0, self.storage_max_mb - (self.used_kb + 1023) // 1024),
            "by_object": by_object,
        }

    # ------------------------------------------------------------------------------------------ journal

    def begin(self) -> None:
        """Record every change from now on, so that `rollback` can undo them (all-or-none requests)."""
        self._journal = []

    def commit(self) -> None:
        self._journal = None

    def settle(self) -> None:
        """After a request: a journal still open means the request failed half-way, so undo its changes."""
        if self._journal is not None:
            self.rollback()

    def rollback(self) -> None:
        journal, self._journal = self._journal or [], None
        for kind, table, rid, old, deleted_at in reversed(journal):
            if kind == "row":
                self._put(table, rid, old)
            elif kind == "purged":
                if deleted_at is None:
                    table.purged_at.pop(rid, None)
                else:
                    table.purged_at[rid] = deleted_at
            else:
                self._put_bin(table, rid, old, deleted_at)

    @contextlib.contextmanager
    def deferred_cascades(self, now: str) -> Iterator[None]:
        """Cascade deletes once, at the end (bulk jobs and collections delete many records at a time)."""
        if self._pending is not None:
            yield
            return
        self._pending = {}
        try:
            yield
            pending = self._pending
        finally:
            self._pending = None
        for (name, hard), ids in pending.items():
            self._cascade(name, ids, hard, now)

    # ------------------------------------------------------------------------------- low-level changes

    def _put(self, table: Table, rid: str, new: dict[str, Any] | None) -> None:
        old = table.rows.get(rid)
        if self._journal is not None:
            self._journal.append(("row", table, rid, old, None))
        if old is not None:
            self._unindex(table, rid, old)
            self.used_kb -= table.storage_kb
            if new is None:
                del table.rows[rid]
        if new is not None:
            table.rows[rid] = new
            self._index(table, rid, new)
            self.used_kb += table.storage_kb

    def _put_bin(self, table: Table, rid: str, new: dict[str, Any] | None, deleted_at: str | None) -> None:
        old = table.bin.get(rid)
        if self._journal is not None:
            self._journal.append(("bin", table, rid, old, table.deleted_at.get(rid)))
        if old is not None:
            self.used_kb -= table.storage_kb
            del table.bin[rid]
            table.deleted_at.pop(rid, None)
        if new is not None:
            table.bin[rid] = new
            table.deleted_at[rid] = deleted_at or new.get("SystemModstamp") or ""
            self.used_kb += table.storage_kb

    def _index(self, table: Table, rid: str, rec: dict[str, Any]) -> None:
        for name, index in table.indexes.items():
            key = normalized(rec.get(name), table.case_sensitive[name])
            if key is not None:
                index.setdefault(key, []).append(rid)
        name = table.name
        if name == "CampaignMember":
            self._member_links(rid, rec, add=True)
        elif name == "CampaignMemberStatus":
            self.statuses_by_campaign.setdefault(rec.get("CampaignId") or "", set()).add(rid)
        elif name == "PermissionSetAssignment":
            self.assignment_pairs[(rec.get("AssigneeId") or "", rec.get("PermissionSetId") or "")] = rid

    def _unindex(self, table: Table, rid: str, rec: dict[str, Any]) -> None:
        for name, index in table.indexes.items():
            key = normalized(rec.get(name), table.case_sensitive[name])
            if key is not None:
                ids = index.get(key)
                if ids is not None:
                    with contextlib.suppress(ValueError):
                        ids.remove(rid)
                    if not ids:
                        del index[key]
        name = table.name
        if name == "CampaignMember":
            self._member_links(rid, rec, add=False)
        elif name == "CampaignMemberStatus":
            self.statuses_by_campaign.get(rec.get("CampaignId") or "", set()).discard(rid)
        elif name == "PermissionSetAssignment":
            self.assignment_pairs.pop((rec.get("AssigneeId") or "", rec.get("PermissionSetId") or ""), None)

    def _member_links(self, rid: str, rec: dict[str, Any], *, add: bool) -> None:
        campaign, contact, lead = rec.get("CampaignId") or "", rec.get("ContactId"), rec.get("LeadId")
        keys = [("C", campaign, contact)] if contact else []
        if lead:
            keys.append(("L", campaign, lead))
        sign = 1 if add else -1
        for key in keys:
            if add:
                self.member_pairs[key] = rid
            elif self.member_pairs.get(key) == rid:
                del self.member_pairs[key]
        for person in (contact, lead):
            if person:
                if add:
                    self.members_by_person.setdefault(person, set()).add(rid)
                else:
                    self.members_by_person.get(person, set()).discard(rid)
        if add:
            self.members_by_campaign.setdefault(campaign, set()).add(rid)
        else:
            self.members_by_campaign.get(campaign, set()).discard(rid)
        # Roll-ups, kept in the Campaign record itself (the one exception to "never changed in place").
        row = self.tables["Campaign"].rows.get(campaign)
        if row is None:
            return
        if contact:
            row["NumberOfContacts"] = row.get("NumberOfContacts", 0) + sign
        if lead:
            row["NumberOfLeads"] = row.get("NumberOfLeads", 0) + sign
            converted = self.lookup("Lead", lead)
            if converted is not None and converted.get("IsConverted"):
                row["NumberOfConvertedLeads"] = row.get("NumberOfConvertedLeads", 0) + sign
        if rec.get("HasResponded"):
            row["NumberOfResponses"] = row.get("NumberOfResponses", 0) + sign

    def _new_id(self, table: Table) -> str:
        while True:
            table.seq += 1
            rid = make_id(table.prefix, table.seq)
            if rid not in table.rows and rid not in table.bin:
                return rid

    # -------------------------------------------------------------------------------------- per-schema

    def _cached(self, obj: SObject, what: str) -> Any:
        key = (obj.name, what, self.schema.generation)
        found = self._caches.get(key)
        if found is not None:
            return found
        if what == "defaults":
            value: Any = {
                f.name: f.default_value
                for f in obj.fields.values()
                if f.default_value is not None and f.createable and f.derive is None
            }
        elif what == "required":
            value = [f.name for f in obj.fields.values() if f.required_on_create]
        elif what == "unique":
            value = [f for f in obj.fields.values() if f.unique and f.name != "Id"]
        elif what == "autonumber":
            value = [f for f in obj.fields.values() if f.auto_number]
        else:
            raise KeyError(what)
        if len(self._caches) > 2000:
            self._caches.clear()
        self._caches[key] = value
        return value

    def _remove(self, table: Table, rid: str, record: dict[str, Any], now: str, hard: bool) -> None:
        self._put(table, rid, None)
        if hard:
            self._purge_log(table, rid, now)
        else:
            self._put_bin(table, rid, {**record, "IsDeleted": True, "SystemModstamp": now}, now)

    def _purge_log(self, table: Table, rid: str, deleted_at: str) -> None:
        if self._journal is not None:
            self._journal.append(("purged", table, rid, None, table.purged_at.get(rid)))
        table.purged_at[rid] = deleted_at

    def _cascade(self, parent: str, ids: set[str], hard: bool, moment: str) -> None:
        for child, f in self.schema.child_relationships(parent):
            if f.name in SYSTEM_REFERENCES or f.derive is not None:
                continue
            table = self.tables.get(child.name)
            if table is None:
                continue
            if child.name == "CampaignMember" and f.name in ("ContactId", "LeadId"):
                found = {m for rid in ids for m in self.members_by_person.get(rid, ())}
            elif child.name == "CampaignMember" and f.name == "CampaignId":
                found = {m for rid in ids for m in self.members_by_campaign.get(rid, ())}
            elif child.name == "CampaignMemberStatus":
                found = {s for rid in ids for s in self.statuses_by_campaign.get(rid, ())}
            else:
                found = {rid for rid, rec in table.rows.items() if rec.get(f.name) in ids}
            found = {rid for rid in found if rid in table.rows and table.rows[rid].get(f.name) in ids}
            if not found:
                continue
            if f.cascade_delete:
                for rid in found:
                    self._remove(table, rid, table.rows[rid], moment, hard)
                self._cascade(child.name, found, hard, moment)
            elif f.nillable:
                for rid in found:
                    rec = dict(table.rows[rid])
                    rec.pop(f.name, None)
                    self._put(table, rid, rec)
