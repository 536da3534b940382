"""The org's records and every write rule: field checks, defaults, uniqueness, CampaignMember and
CampaignMemberStatus rules, roll-ups, the recycle bin, cascades, storage, and a journal for all-or-none.

Records are sparse dicts (a missing key is null) that are never changed in place once stored, except for
the Campaign roll-up counters: an update stores a new dict. So a query cursor keeps the rows it selected
as they were, and a rollback puts the old dicts back.

Every write goes through `create`, `update`, `upsert` or `delete` with values already parsed into stored
types (see `values`); they raise `DmlError` with the record errors Salesforce gives.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from cmsf_sandbox.salesforce.errors import DmlError, MultipleMatches, RecordError
from cmsf_sandbox.salesforce.ids import make_id, to_18
from cmsf_sandbox.salesforce.schema import LEAD_STATUSES, Field, Schema, SObject
from cmsf_sandbox.salesforce.values import parse_datetime

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


def _error(code: str, message: str, *fields: str) -> DmlError:
    return DmlError(RecordError(code, message, tuple(fields)))


def _norm(value: Any, case_sensitive: bool) -> str | None:
    if value is None or value == "":
        return None
    text = value if isinstance(value, str) else str(value)
    return text if case_sensitive else text.lower()


def _auto_number(display_format: str | None, number: int) -> str:
    fmt = display_format or "{0}"
    found = re.search(r"\{(0+)\}", fmt)
    if found is None:
        return f"{fmt}{number}"
    return fmt[: found.start()] + str(number).zfill(len(found.group(1))) + fmt[found.end() :]


def settle_heap() -> None:
    """Move every object alive now out of the cyclic garbage collector's reach. Records are acyclic dicts
    (reference counting frees them), and with 100,000s of them each full collection would take 100+ ms and
    land on whichever request happens to allocate next; after a load or a bulk job, freezing keeps those
    pauses away. Objects frozen this way are still freed by reference counting."""
    gc.collect()
    gc.freeze()


class Store:
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
            raise _error("MALFORMED_ID", f"{label}: {value}" if expected else f"malformed id {value}", "Id") from None
        obj = self.schema.by_prefix(rid[:3])
        if expected is not None and (obj is None or obj.name != expected.name):
            raise _error("MALFORMED_ID", f"{expected.label} ID: id value of incorrect type: {value}", "Id")
        if obj is None or obj.name not in self.tables:
            raise _error("MALFORMED_ID", f"malformed id {value}", "Id")
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
        key = _norm(value, f.case_sensitive)
        if key is None:
            return []
        if index is not None:
            return list(index.get(key, ()))
        return [rid for rid, rec in table.rows.items() if _norm(rec.get(f.name), f.case_sensitive) == key]

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
            key = _norm(rec.get(name), table.case_sensitive[name])
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
            key = _norm(rec.get(name), table.case_sensitive[name])
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

    # ------------------------------------------------------------------------------------------ checks

    def check_values(self, obj: SObject, values: dict[str, Any], *, creating: bool) -> dict[str, Any]:
        """Field existence, writability and value checks; returns the values under canonical field names."""
        clean: dict[str, Any] = {}
        fields: list[tuple[Field, Any]] = []
        readonly: list[str] = []
        for name, value in values.items():
            f = obj.field(name)
            if f is None:
                raise _error("INVALID_FIELD", f"No such column '{name}' on sobject of type {obj.name}")
            if not (f.createable if creating else f.updateable):
                readonly.append(f.name)
                continue
            fields.append((f, value))
        if readonly:
            listed = ", ".join(readonly)
            raise _error(
                "INVALID_FIELD_FOR_INSERT_UPDATE", f"Unable to create/update fields: {listed}. {SECURITY}", *readonly
            )
        for f, value in fields:
            clean[f.name] = self.check_value(obj, f, value)
        return clean

    def check_value(self, obj: SObject, f: Field, value: Any) -> Any:
        if value is None:
            if f.type == "boolean":
                return False
            return None
        kind = f.type
        if kind in ("string", "textarea", "email", "phone", "url", "picklist", "multipicklist"):
            if len(value) > f.length:
                raise _error(
                    "STRING_TOO_LONG", f"{f.label}: data value too large: {value} (max length={f.length})", f.name
                )
            if value == "":
                return None
            if kind == "email" and not EMAIL.match(value):
                raise _error("INVALID_EMAIL_ADDRESS", f"{f.label}: invalid email address: {value}", f.name)
            if f.restricted_picklist:
                allowed = f.picklist_values()
                parts = value.split(";") if kind == "multipicklist" else [value]
                for part in parts:
                    if part not in allowed:
                        raise _error(
                            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                            f"{f.label}: bad value for restricted picklist field: {part}",
                            f.name,
                        )
            return value
        if kind == "reference":
            return self._check_reference(obj, f, value)
        if kind == "int":
            limit = 10 ** (f.digits or 9)
            if abs(value) >= limit:
                raise _error(
                    "NUMBER_OUTSIDE_VALID_RANGE",
                    f"{f.label}: value outside of valid range on numeric field: {value}",
                    f.name,
                )
            return int(value)
        if kind in ("double", "currency", "percent"):
            if f.precision and abs(value) >= 10 ** (f.precision - f.scale):
                raise _error(
                    "NUMBER_OUTSIDE_VALID_RANGE",
                    f"{f.label}: value outside of valid range on numeric field: {value}",
                    f.name,
                )
            if not f.precision:
                return float(value)
            exponent = Decimal(1).scaleb(-f.scale)
            return float(Decimal(repr(float(value))).quantize(exponent, rounding=ROUND_HALF_UP))
        return value

    def _check_reference(self, obj: SObject, f: Field, value: Any) -> str | None:
        if value == "":
            return None
        try:
            rid = to_18(str(value))
        except ValueError:
            raise _error("MALFORMED_ID", f"{f.label}: id value of incorrect type: {value}", f.name) from None
        target = self.schema.by_prefix(rid[:3])
        known = [name for name in f.reference_to if name in self.tables]
        if target is None or target.name not in f.reference_to:
            if target is None and len(known) < len(f.reference_to):
                return rid  # Profile, Group, RecordType...: objects the emulator does not keep
            raise _error("FIELD_INTEGRITY_EXCEPTION", f"{f.label}: id value of incorrect type: {value}", f.name)
        parent = self.tables[target.name].rows.get(rid)
        if parent is None:
            raise _error("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", f.name)
        if f.name == "OwnerId" and target.name == "User" and not parent.get("IsActive", True):
            raise _error(
                "INACTIVE_OWNER_OR_USER",
                f"operation performed with inactive user [{rid}] as owner of {obj.label.lower()}",
            )
        return rid

    def _check_required(self, obj: SObject, record: dict[str, Any]) -> None:
        missing = [name for name in self._cached(obj, "required") if record.get(name) is None]
        if missing:
            raise _error("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", *missing)

    def _check_unique(self, obj: SObject, table: Table, record: dict[str, Any], rid: str | None) -> None:
        for f in self._cached(obj, "unique"):
            key = _norm(record.get(f.name), f.case_sensitive)
            if key is None:
                continue
            index = table.indexes.get(f.name)
            if index is not None:
                ids = index.get(key, [])
            else:
                ids = [i for i, r in table.rows.items() if _norm(r.get(f.name), f.case_sensitive) == key]
            for other in ids:
                if other != rid:
                    raise _error(
                        "DUPLICATE_VALUE",
                        f"duplicate value found: {f.name} duplicates value on record with id: {other}",
                    )

    def _check_storage(self, obj: SObject) -> None:
        if obj.storage_kb and self.used_kb + obj.storage_kb > self.storage_max_mb * 1024:
            raise _error("STORAGE_LIMIT_EXCEEDED", "storage limit exceeded")

    # -------------------------------------------------------------------------------------------- create

    def create(self, obj: SObject, values: dict[str, Any], ctx: WriteContext) -> str:
        if not obj.createable:
            raise _error("INVALID_TYPE_FOR_OPERATION", f"entity type cannot be inserted: {obj.label}")
        table = self.tables[obj.name]
        clean = self.check_values(obj, values, creating=True)
        record: dict[str, Any] = dict(self._cached(obj, "defaults"))
        for name, value in clean.items():
            if value is not None:
                record[name] = value
        if "OwnerId" in obj.fields and record.get("OwnerId") is None:
            record["OwnerId"] = ctx.user_id
        record.update(
            IsDeleted=False,
            CreatedDate=ctx.now,
            CreatedById=ctx.user_id,
            LastModifiedDate=ctx.now,
            LastModifiedById=ctx.user_id,
            SystemModstamp=ctx.now,
        )
        follow_up = self._before_insert(obj, record, ctx)
        self._check_required(obj, record)
        self._check_unique(obj, table, record, None)
        self._check_storage(obj)
        rid = self._new_id(table)
        record["Id"] = rid
        for f in self._cached(obj, "autonumber"):
            table.auto_seq += 1
            record[f.name] = _auto_number(f.display_format, table.auto_seq)
        if obj.custom and record.get("Name") is None and "Name" in obj.fields:
            record["Name"] = rid
        self._put(table, rid, record)
        for action in follow_up:
            action(rid)
        if obj.name == "Campaign":
            for label, default, responded, order in DEFAULT_MEMBER_STATUSES:
                self._insert_status(rid, label, default, responded, order, ctx)
        return rid

    def _insert_status(
        self, campaign: str, label: str, default: bool, responded: bool, order: int, ctx: WriteContext
    ) -> None:
        table = self.tables["CampaignMemberStatus"]
        rid = self._new_id(table)
        record = {
            "Id": rid,
            "CampaignId": campaign,
            "Label": label,
            "IsDefault": default,
            "HasResponded": responded,
            "SortOrder": order,
            "IsDeleted": False,
            "CreatedDate": ctx.now,
            "CreatedById": ctx.user_id,
            "LastModifiedDate": ctx.now,
            "LastModifiedById": ctx.user_id,
            "SystemModstamp": ctx.now,
        }
        self._put(table, rid, record)

    # ------------------------------------------------------------------------------------------- update

    def update(self, obj: SObject, value: str, values: dict[str, Any], ctx: WriteContext) -> str:
        record, deleted = self.get(obj, value)
        rid = record["Id"]
        if deleted:
            raise DmlError(RecordError("ENTITY_IS_DELETED", "entity is deleted"), status=404)
        if not obj.updateable:
            raise _error("INVALID_TYPE_FOR_OPERATION", f"entity type cannot be updated: {obj.label}")
        if obj.name == "Lead" and record.get("IsConverted"):
            raise _error("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")
        table = self.tables[obj.name]
        clean = self.check_values(obj, values, creating=False)
        new = dict(record)
        for name, v in clean.items():
            if v is None:
                new.pop(name, None)
            else:
                new[name] = v
        new.update(LastModifiedDate=ctx.now, LastModifiedById=ctx.user_id, SystemModstamp=ctx.now)
        follow_up = self._before_update(obj, record, new, clean, ctx)
        missing = [name for name in self._cached(obj, "required") if name in clean and new.get(name) is None]
        if missing:
            raise _error("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", *missing)
        self._check_unique(obj, table, new, rid)
        self._put(table, rid, new)
        for action in follow_up:
            action(rid)
        return rid

    # ------------------------------------------------------------------------------------------- upsert

    def upsert(
        self, obj: SObject, key: Field, key_value: Any, values: dict[str, Any], ctx: WriteContext
    ) -> tuple[str, bool]:
        """(id, created) of an upsert on `key` = `key_value`; MultipleMatches when several records match."""
        if key.name == "Id":
            if key_value in (None, ""):
                return self.create(obj, values, ctx), True
            return self.update(obj, str(key_value), values, ctx), False
        if key_value is None or key_value == "":
            raise _error("MISSING_ARGUMENT", f"{key.name} not specified", key.name)
        ids = self.find_ids(obj, key, key_value)
        if len(ids) > 1:
            raise MultipleMatches(obj.name, key.name, ids)
        if ids:
            values = {k: v for k, v in values.items() if not (obj.field(k) is key and _same(v, key_value, key))}
            return self.update(obj, ids[0], values, ctx), False
        values = {k: v for k, v in values.items() if obj.field(k) is not key}
        values[key.name] = key_value
        return self.create(obj, values, ctx), True

    # ------------------------------------------------------------------------------------------- delete

    def delete(self, value: str, ctx: WriteContext, *, expected: SObject | None = None, hard: bool = False) -> SObject:
        obj, rid = self.resolve_id(value, expected)
        table = self.tables[obj.name]
        if rid in table.bin:
            if hard:
                self._purge_log(table, rid, table.deleted_at.get(rid) or ctx.now)
                self._put_bin(table, rid, None, None)
                return obj
            raise DmlError(RecordError("ENTITY_IS_DELETED", "entity is deleted"), status=404)
        record = table.rows.get(rid)
        if record is None:
            raise RecordNotFound(RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id"), status=404)
        if not obj.deletable:
            raise _error("INVALID_TYPE_FOR_OPERATION", f"entity type cannot be deleted: {obj.label}")
        if obj.name == "CampaignMemberStatus":
            self._check_status_delete(record)
        self._remove(table, rid, record, ctx.now, hard)
        if self._pending is not None:
            self._pending.setdefault((obj.name, hard), set()).add(rid)
        else:
            self._cascade(obj.name, {rid}, hard, ctx.now)
        return obj

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

    # ------------------------------------------------------------------------------------ object rules

    def _before_insert(self, obj: SObject, record: dict[str, Any], ctx: WriteContext) -> list[Any]:
        name = obj.name
        if name == "CampaignMember":
            self._member_insert(record, ctx)
        elif name == "CampaignMemberStatus":
            return self._status_write(None, record, ctx)
        elif name == "PermissionSetAssignment":
            pair = (record.get("AssigneeId") or "", record.get("PermissionSetId") or "")
            if pair in self.assignment_pairs:
                raise _error(
                    "DUPLICATE_VALUE",
                    f"duplicate value found: <unknown> duplicates value on record with id: {self.assignment_pairs[pair]}",
                )
        return []

    def _before_update(
        self, obj: SObject, old: dict[str, Any], new: dict[str, Any], clean: dict[str, Any], ctx: WriteContext
    ) -> list[Any]:
        if obj.name == "CampaignMember" and "Status" in clean:
            label, responded = self._resolve_status(new.get("CampaignId") or "", clean["Status"])
            self._apply_status(new, label, responded, ctx)
        elif obj.name == "CampaignMemberStatus":
            return self._status_write(old, new, ctx)
        return []

    def _member_insert(self, record: dict[str, Any], ctx: WriteContext) -> None:
        campaign, contact, lead = record.get("CampaignId"), record.get("ContactId"), record.get("LeadId")
        if campaign is None:
            raise _error("REQUIRED_FIELD_MISSING", "Required fields are missing: [CampaignId]", "CampaignId")
        if not contact and not lead:
            raise _error(
                "REQUIRED_FIELD_MISSING", "Required fields are missing: [ContactId, LeadId]", "ContactId", "LeadId"
            )
        if lead and not contact:
            lead_record = self.live("Lead", lead)
            if lead_record is not None and lead_record.get("IsConverted"):
                raise _error("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead", "LeadId")
        if (contact and ("C", campaign, contact) in self.member_pairs) or (
            lead and ("L", campaign, lead) in self.member_pairs
        ):
            raise _error("DUPLICATE_VALUE", "Already a campaign member.")
        label, responded = self._resolve_status(campaign, record.get("Status"))
        self._apply_status(record, label, responded, ctx)

    def _apply_status(self, record: dict[str, Any], label: str | None, responded: bool, ctx: WriteContext) -> None:
        if label is None:
            record.pop("Status", None)
        else:
            record["Status"] = label
        record["HasResponded"] = responded
        if responded and not record.get("FirstRespondedDate"):
            record["FirstRespondedDate"] = ctx.today

    def campaign_statuses(self, campaign: str) -> list[dict[str, Any]]:
        table = self.tables["CampaignMemberStatus"]
        found = [table.rows[s] for s in self.statuses_by_campaign.get(campaign, ()) if s in table.rows]
        return sorted(found, key=lambda s: (s.get("SortOrder") or 0, s["Id"]))

    def _resolve_status(self, campaign: str, label: Any) -> tuple[str | None, bool]:
        """The campaign's status with this label, or silently its default status (as Salesforce does)."""
        statuses = self.campaign_statuses(campaign)
        if isinstance(label, str) and label:
            lowered = label.lower()
            for status in statuses:
                if str(status.get("Label", "")).lower() == lowered:
                    return status["Label"], bool(status.get("HasResponded"))
        for status in statuses:
            if status.get("IsDefault"):
                return status["Label"], bool(status.get("HasResponded"))
        return (label if isinstance(label, str) and label else None), False

    def _status_write(self, old: dict[str, Any] | None, new: dict[str, Any], ctx: WriteContext) -> list[Any]:
        campaign = new.get("CampaignId") or ""
        others = [s for s in self.campaign_statuses(campaign) if old is None or s["Id"] != old["Id"]]
        label = str(new.get("Label") or "")
        for status in others:
            if old is None and str(status.get("Label", "")).lower() == label.lower():
                raise _error(
                    "DUPLICATE_VALUE",
                    f"duplicate value found: Label duplicates value on record with id: {status['Id']}",
                )
        if new.get("SortOrder") is None:
            new["SortOrder"] = max((s.get("SortOrder") or 0 for s in others), default=0) + 1
        for status in others:
            if status.get("SortOrder") == new["SortOrder"]:
                raise _error(
                    "DUPLICATE_VALUE",
                    f"duplicate value found: SortOrder duplicates value on record with id: {status['Id']}",
                )
        follow_up: list[Any] = []
        if new.get("IsDefault"):
            previous = [s for s in others if s.get("IsDefault")]

            def clear_default(rid: str) -> None:
                table = self.tables["CampaignMemberStatus"]
                for status in previous:
                    self._put(table, status["Id"], {**status, "IsDefault": False, "SystemModstamp": ctx.now})

            follow_up.append(clear_default)
        elif old is not None and old.get("IsDefault"):
            raise _error(
                "FIELD_INTEGRITY_EXCEPTION", "A campaign must have exactly one default member status", "IsDefault"
            )
        elif not any(s.get("IsDefault") for s in others):
            new["IsDefault"] = True  # the first status of a campaign is its default
        if old is not None and bool(old.get("HasResponded")) != bool(new.get("HasResponded")):
            responded = bool(new.get("HasResponded"))
            old_label = str(old.get("Label", ""))

            def follow_members(rid: str) -> None:
                table = self.tables["CampaignMember"]
                for member_id in list(self.members_by_campaign.get(campaign, ())):
                    member = table.rows.get(member_id)
                    if member is None or member.get("Status") != old_label:
                        continue
                    changed = dict(member)
                    self._apply_status(changed, old_label, responded, ctx)
                    self._put(table, member_id, changed)

            follow_up.append(follow_members)
        return follow_up

    def _check_status_delete(self, record: dict[str, Any]) -> None:
        if record.get("IsDefault"):
            raise _error("DELETE_FAILED", "You can't delete the default member status of a campaign.")
        campaign, label = record.get("CampaignId") or "", record.get("Label")
        members = self.tables["CampaignMember"].rows
        for member_id in self.members_by_campaign.get(campaign, ()):
            member = members.get(member_id)
            if member is not None and member.get("Status") == label:
                raise _error("DELETE_FAILED", "You can't delete a member status that campaign members have.")

    # ------------------------------------------------------------------------------------- lead conversion

    def convert_lead(self, lead_id: str, ctx: WriteContext, *, contact_id: str | None = None) -> dict[str, str]:
        """Convert a lead as Salesforce's convertLead does (no REST resource has it; the admin routes do): into an
        existing contact, or into a new contact made from the lead under a new account named after its company.
        The lead becomes read-only with IsConverted, ConvertedContactId, ConvertedAccountId, ConvertedDate and the
        converted status (its SystemModstamp moves); its campaign memberships gain the contact. All or nothing."""
        lead_obj, contact_obj, account_obj = (
            self.schema.get("Lead"),
            self.schema.get("Contact"),
            self.schema.get("Account"),
        )
        assert lead_obj is not None and contact_obj is not None and account_obj is not None
        lead, deleted = self.get(lead_obj, lead_id)
        if deleted:
            raise DmlError(RecordError("ENTITY_IS_DELETED", "entity is deleted"), status=404)
        if lead.get("IsConverted"):
            raise _error("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")
        self.begin()
        try:
            if contact_id:
                contact, gone = self.get(contact_obj, contact_id)
                if gone:
                    raise DmlError(RecordError("ENTITY_IS_DELETED", "entity is deleted", ("ContactId",)), status=404)
                contact_id, account_id = contact["Id"], contact.get("AccountId") or ""
            else:
                account_id = self.create(account_obj, {"Name": lead.get("Company") or lead["LastName"]}, ctx)
                copied = ("FirstName", "LastName", "Email", "Title", "Phone", "MobilePhone", "LeadSource")
                values = {name: lead[name] for name in copied if lead.get(name) is not None}
                contact_id = self.create(contact_obj, {**values, "AccountId": account_id}, ctx)
            members = self.tables["CampaignMember"]
            memberships = [
                members.rows[rid] for rid in list(self.members_by_person.get(lead["Id"], ())) if rid in members.rows
            ]
            for member in memberships:  # out of the roll-ups while the lead is not converted yet
                self._put(members, member["Id"], None)
            self._put(
                self.tables["Lead"],
                lead["Id"],
                {
                    **lead,
                    "IsConverted": True,
                    "ConvertedContactId": contact_id,
                    "ConvertedAccountId": account_id or None,
                    "ConvertedDate": ctx.today,
                    "Status": LEAD_STATUSES[2],
                    "LastModifiedDate": ctx.now,
                    "LastModifiedById": ctx.user_id,
                    "SystemModstamp": ctx.now,
                },
            )
            for member in memberships:
                campaign = member.get("CampaignId") or ""
                joined = member.get("ContactId") or ("C", campaign, contact_id) in self.member_pairs
                self._put(members, member["Id"], member if joined else {**member, "ContactId": contact_id})
        except Exception:
            self.rollback()
            raise
        self.commit()
        return {"lead_id": lead["Id"], "contact_id": contact_id, "account_id": account_id}

    def merge(self, sobject: str, master_id: str, loser_ids: list[str], ctx: WriteContext) -> dict[str, Any]:
        """Merge records as Salesforce's merge does (SOAP `merge`, Apex `Database.merge`; no REST resource has it):
        one or two losers into a master of the same object. The records that looked up to a loser look up to the
        master (a campaign member of a campaign the master is already in is deleted instead), and each loser is
        deleted with MasterRecordId set, so that queryAll shows it; the master's SystemModstamp moves. All or
        nothing."""
        obj = self.schema.get(sobject)
        if obj is None or sobject not in ("Account", "Contact", "Lead"):
            raise _error("INVALID_TYPE", f"cannot merge records of {sobject}")
        if not 1 <= len(loser_ids) <= 2:
            raise _error("INVALID_FIELD", "merge takes one or two records to merge into the master")
        master, gone = self.get(obj, master_id)
        if gone:
            raise DmlError(RecordError("ENTITY_IS_DELETED", "entity is deleted"), status=404)
        losers = []
        for value in loser_ids:
            loser, gone = self.get(obj, value)
            if gone:
                raise DmlError(RecordError("ENTITY_IS_DELETED", "entity is deleted"), status=404)
            if loser["Id"] == master["Id"]:
                raise _error("INVALID_FIELD", "the master record cannot be merged into itself")
            losers.append(loser)
        if sobject == "Lead" and any(r.get("IsConverted") for r in (master, *losers)):
            raise _error("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")
        loser_set = {loser["Id"] for loser in losers}
        self.begin()
        try:
            for child, f in self.schema.child_relationships(sobject):
                if f.name in SYSTEM_REFERENCES or f.derive is not None or child.name not in self.tables:
                    continue
                table = self.tables[child.name]
                for rid in [rid for rid, rec in table.rows.items() if rec.get(f.name) in loser_set]:
                    record = table.rows[rid]
                    if child.name == "CampaignMember":
                        kind = "C" if f.name == "ContactId" else "L"
                        if (kind, record.get("CampaignId") or "", master["Id"]) in self.member_pairs:
                            self._remove(table, rid, record, ctx.now, hard=False)
                            continue
                    self._put(table, rid, {**record, f.name: master["Id"], "SystemModstamp": ctx.now})
            table = self.tables[sobject]
            for loser in losers:
                self._remove(table, loser["Id"], {**loser, "MasterRecordId": master["Id"]}, ctx.now, hard=False)
            touched = {"LastModifiedDate": ctx.now, "LastModifiedById": ctx.user_id, "SystemModstamp": ctx.now}
            self._put(table, master["Id"], {**master, **touched})
        except Exception:
            self.rollback()
            raise
        self.commit()
        return {"master_id": master["Id"], "merged_ids": sorted(loser_set)}

    # ------------------------------------------------------------------------------------------ loading

    def load(self, records: dict[str, list[dict[str, Any]]], ctx: WriteContext) -> list[str]:
        """Put the generated org's records in as they are (no write rules); returns warnings."""
        warnings: list[str] = []
        names = [n for n in LOAD_ORDER if n in records] + [n for n in records if n not in LOAD_ORDER]
        for name in names:
            obj = self.schema.get(name)
            if obj is None:
                warnings.append(f"{name}: not an object of the emulator, {len(records[name])} records left out")
                continue
            table = self.tables[obj.name]
            unknown: set[str] = set()
            defaults = self._cached(obj, "defaults")
            autonumbers = self._cached(obj, "autonumber")
            for raw in records[name]:
                record: dict[str, Any] = dict(defaults)
                for key, value in raw.items():
                    f = obj.field(key)
                    if f is None:
                        unknown.add(key)
                        continue
                    if f.derive is not None or value is None or value == "":
                        continue
                    if f.type in ("id", "reference") and isinstance(value, str):
                        with contextlib.suppress(ValueError):
                            value = to_18(value)
                    elif f.type == "datetime" and isinstance(value, str):
                        value = parse_datetime(value) or value
                    record[f.name] = value
                for stamp in ("CreatedDate", "LastModifiedDate", "SystemModstamp"):
                    record.setdefault(stamp, ctx.now)
                for who in ("CreatedById", "LastModifiedById"):
                    record.setdefault(who, ctx.user_id)
                if "OwnerId" in obj.fields:
                    record.setdefault("OwnerId", ctx.user_id)
                rid = record.get("Id") or self._new_id(table)
                record["Id"] = rid
                for f in autonumbers:
                    if record.get(f.name) is None:
                        table.auto_seq += 1
                        record[f.name] = _auto_number(f.display_format, table.auto_seq)
                if obj.custom and record.get("Name") is None and "Name" in obj.fields:
                    record["Name"] = rid
                if record.get("IsDeleted"):
                    self._put_bin(table, rid, record, record.get("SystemModstamp"))
                else:
                    record["IsDeleted"] = False
                    self._put(table, rid, record)
            if unknown:
                warnings.append(
                    f"{obj.name}: fields the emulator does not have, left out: {', '.join(sorted(unknown))}"
                )
        for campaign in list(self.tables["Campaign"].rows):
            if not self.statuses_by_campaign.get(campaign):
                for label, default, responded, order in DEFAULT_MEMBER_STATUSES:
                    self._insert_status(campaign, label, default, responded, order, ctx)
        for warning in warnings:
            log.warning("Salesforce emulator: %s", warning)
        return warnings

    def ensure_permission_sets(self, permission_sets: list[dict[str, str]], user_id: str, ctx: WriteContext) -> None:
        """The SFDX source's permission sets as PermissionSet records; `user_id` assigned CMSF_Full_Access."""
        obj = self.schema.get("PermissionSet")
        assignment = self.schema.get("PermissionSetAssignment")
        if obj is None or assignment is None:
            return
        name_field = obj.fields["Name"]
        for permission_set in permission_sets:
            ids = self.find_ids(obj, name_field, permission_set["Name"])
            if not ids:
                table = self.tables[obj.name]
                rid = self._new_id(table)
                self._put(
                    table,
                    rid,
                    {
                        "Id": rid,
                        **{k: v for k, v in permission_set.items() if v},
                        "IsOwnedByProfile": False,
                        "IsCustom": True,
                        "HasActivationRequired": False,
                        "IsDeleted": False,
                        "CreatedDate": ctx.now,
                        "CreatedById": ctx.user_id,
                        "LastModifiedDate": ctx.now,
                        "LastModifiedById": ctx.user_id,
                        "SystemModstamp": ctx.now,
                    },
                )
                ids = [rid]
            if permission_set["Name"] == "CMSF_Full_Access" and (user_id, ids[0]) not in self.assignment_pairs:
                table = self.tables[assignment.name]
                rid = self._new_id(table)
                self._put(
                    table,
                    rid,
                    {
                        "Id": rid,
                        "AssigneeId": user_id,
                        "PermissionSetId": ids[0],
                        "IsActive": True,
                        "IsDeleted": False,
                        "CreatedDate": ctx.now,
                        "CreatedById": ctx.user_id,
                        "LastModifiedDate": ctx.now,
                        "LastModifiedById": ctx.user_id,
                        "SystemModstamp": ctx.now,
                    },
                )


def _same(value: Any, key_value: Any, key: Field) -> bool:
    return _norm(value, key.case_sensitive) == _norm(key_value, key.case_sensitive)
