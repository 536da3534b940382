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
import logging
from typing import Any

from cmsf_sandbox.salesforce.errors import DmlError, MultipleMatches, RecordError
from cmsf_sandbox.salesforce.ids import to_18
from cmsf_sandbox.salesforce.schema import LEAD_STATUSES, Field, SObject
from cmsf_sandbox.salesforce.store_rules import ObjectRules
from cmsf_sandbox.salesforce.store_tables import (
    DEFAULT_MEMBER_STATUSES,
    LOAD_ORDER,
    SYSTEM_REFERENCES,
    RecordNotFound,
    WriteContext,
    auto_number,
    dml_error,
    normalized,
)
from cmsf_sandbox.salesforce.values import parse_datetime

log = logging.getLogger(__name__)


class Store(ObjectRules):
    """The org's records and their writes: create, update, upsert, delete, lead conversion, merge and loading."""

    # -------------------------------------------------------------------------------------------- create

    def create(self, obj: SObject, values: dict[str, Any], ctx: WriteContext) -> str:
        if not obj.createable:
            raise dml_error("INVALID_TYPE_FOR_OPERATION", f"entity type cannot be inserted: {obj.label}")
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
            record[f.name] = auto_number(f.display_format, table.auto_seq)
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
            raise dml_error("INVALID_TYPE_FOR_OPERATION", f"entity type cannot be updated: {obj.label}")
        if obj.name == "Lead" and record.get("IsConverted"):
            raise dml_error("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")
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
            raise dml_error("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", *missing)
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
            raise dml_error("MISSING_ARGUMENT", f"{key.name} not specified", key.name)
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
            raise dml_error("INVALID_TYPE_FOR_OPERATION", f"entity type cannot be deleted: {obj.label}")
        if obj.name == "CampaignMemberStatus":
            self._check_status_delete(record)
        self._remove(table, rid, record, ctx.now, hard)
        if self._pending is not None:
            self._pending.setdefault((obj.name, hard), set()).add(rid)
        else:
            self._cascade(obj.name, {rid}, hard, ctx.now)
        return obj

    # ------------------------------------------------------------------------------------- lead conversion

    def convert_lead(self, lead_id: str, ctx: WriteContext, *, contact_id: str | None = None) -> dict[str, str]:
        """Convert a lead as Salesforce's convertLead does (no REST resource has it; the admin routes do): into an
        existing contact, or into a new contact made from the lead under a new account named after its company.
        The lead becomes read-only with IsConverted, ConvertedContactId, ConvertedAccountId, ConvertedDate and the
        converted status (its SystemModstamp moves); its campaign memberships gain the contact, and its tasks move to
        the contact. All or nothing."""
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
            raise dml_error("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")
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
            tasks = self.tables.get("Task")
            if tasks is not None:
                for task_id in [i for i, task in tasks.rows.items() if task.get("WhoId") == lead["Id"]]:
                    moved = {**tasks.rows[task_id], "WhoId": contact_id, "SystemModstamp": ctx.now}
                    self._put(tasks, task_id, moved)
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
            raise dml_error("INVALID_TYPE", f"cannot merge records of {sobject}")
        if not 1 <= len(loser_ids) <= 2:
            raise dml_error("INVALID_FIELD", "merge takes one or two records to merge into the master")
        master, gone = self.get(obj, master_id)
        if gone:
            raise DmlError(RecordError("ENTITY_IS_DELETED", "entity is deleted"), status=404)
        losers = []
        for value in loser_ids:
            loser, gone = self.get(obj, value)
            if gone:
                raise DmlError(RecordError("ENTITY_IS_DELETED", "entity is deleted"), status=404)
            if loser["Id"] == master["Id"]:
                raise dml_error("INVALID_FIELD", "the master record cannot be merged into itself")
            losers.append(loser)
        if sobject == "Lead" and any(r.get("IsConverted") for r in (master, *losers)):
            raise dml_error("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")
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
                        record[f.name] = auto_number(f.display_format, table.auto_seq)
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
    return normalized(value, key.case_sensitive) == normalized(key_value, key.case_sensitive)
