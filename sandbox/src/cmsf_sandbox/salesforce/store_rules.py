"""The write rules of the org's records: field checks (existence, writability, types, references, required,
unique, storage) and the rules of particular objects (CampaignMember, CampaignMemberStatus, converted leads).
`ObjectRules` sits between `Tables` (store_tables.py) and `Store` (store.py), whose writes call these checks."""

from __future__ import annotations

import logging
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from cmsf_sandbox.salesforce.ids import to_18
from cmsf_sandbox.salesforce.schema import Field, SObject
from cmsf_sandbox.salesforce.store_tables import (
    EMAIL,
    SECURITY,
    Table,
    Tables,
    WriteContext,
    dml_error,
    normalized,
)

log = logging.getLogger(__name__)


class ObjectRules(Tables):
    """The checks and object rules every write of `Store` applies."""

    # ------------------------------------------------------------------------------------------ checks

    def check_values(self, obj: SObject, values: dict[str, Any], *, creating: bool) -> dict[str, Any]:
        """Field existence, writability and value checks; returns the values under canonical field names."""
        clean: dict[str, Any] = {}
        fields: list[tuple[Field, Any]] = []
        readonly: list[str] = []
        for name, value in values.items():
            f = obj.field(name)
            if f is None:
                raise dml_error("INVALID_FIELD", f"No such column '{name}' on sobject of type {obj.name}")
            if not (f.createable if creating else f.updateable):
                readonly.append(f.name)
                continue
            fields.append((f, value))
        if readonly:
            listed = ", ".join(readonly)
            raise dml_error(
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
        if kind in ("string", "textarea", "email", "phone", "url", "picklist", "multipicklist", "combobox"):
            if len(value) > f.length:
                raise dml_error(
                    "STRING_TOO_LONG", f"{f.label}: data value too large: {value} (max length={f.length})", f.name
                )
            if value == "":
                return None
            if kind == "email" and not EMAIL.match(value):
                raise dml_error("INVALID_EMAIL_ADDRESS", f"{f.label}: invalid email address: {value}", f.name)
            if f.restricted_picklist:
                allowed = f.picklist_values()
                parts = value.split(";") if kind == "multipicklist" else [value]
                for part in parts:
                    if part not in allowed:
                        raise dml_error(
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
                raise dml_error(
                    "NUMBER_OUTSIDE_VALID_RANGE",
                    f"{f.label}: value outside of valid range on numeric field: {value}",
                    f.name,
                )
            return int(value)
        if kind in ("double", "currency", "percent"):
            if f.precision and abs(value) >= 10 ** (f.precision - f.scale):
                raise dml_error(
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
            raise dml_error("MALFORMED_ID", f"{f.label}: id value of incorrect type: {value}", f.name) from None
        target = self.schema.by_prefix(rid[:3])
        known = [name for name in f.reference_to if name in self.tables]
        if target is None or target.name not in f.reference_to:
            if target is None and len(known) < len(f.reference_to):
                return rid  # Profile, Group, RecordType...: objects the emulator does not keep
            raise dml_error("FIELD_INTEGRITY_EXCEPTION", f"{f.label}: id value of incorrect type: {value}", f.name)
        parent = self.tables[target.name].rows.get(rid)
        if parent is None:
            raise dml_error("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", f.name)
        if f.name == "OwnerId" and target.name == "User" and not parent.get("IsActive", True):
            raise dml_error(
                "INACTIVE_OWNER_OR_USER",
                f"operation performed with inactive user [{rid}] as owner of {obj.label.lower()}",
            )
        return rid

    def _check_required(self, obj: SObject, record: dict[str, Any]) -> None:
        missing = [name for name in self._cached(obj, "required") if record.get(name) is None]
        if missing:
            raise dml_error("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", *missing)

    def _check_unique(self, obj: SObject, table: Table, record: dict[str, Any], rid: str | None) -> None:
        for f in self._cached(obj, "unique"):
            key = normalized(record.get(f.name), f.case_sensitive)
            if key is None:
                continue
            index = table.indexes.get(f.name)
            if index is not None:
                ids = index.get(key, [])
            else:
                ids = [i for i, r in table.rows.items() if normalized(r.get(f.name), f.case_sensitive) == key]
            for other in ids:
                if other != rid:
                    raise dml_error(
                        "DUPLICATE_VALUE",
                        f"duplicate value found: {f.name} duplicates value on record with id: {other}",
                    )

    def _check_storage(self, obj: SObject) -> None:
        if obj.storage_kb and self.used_kb + obj.storage_kb > self.storage_max_mb * 1024:
            raise dml_error("STORAGE_LIMIT_EXCEEDED", "storage limit exceeded")

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
                raise dml_error(
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
            raise dml_error("REQUIRED_FIELD_MISSING", "Required fields are missing: [CampaignId]", "CampaignId")
        if not contact and not lead:
            raise dml_error(
                "REQUIRED_FIELD_MISSING", "Required fields are missing: [ContactId, LeadId]", "ContactId", "LeadId"
            )
        if lead and not contact:
            lead_record = self.live("Lead", lead)
            if lead_record is not None and lead_record.get("IsConverted"):
                raise dml_error("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead", "LeadId")
        if (contact and ("C", campaign, contact) in self.member_pairs) or (
            lead and ("L", campaign, lead) in self.member_pairs
        ):
            raise dml_error("DUPLICATE_VALUE", "Already a campaign member.")
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
                raise dml_error(
                    "DUPLICATE_VALUE",
                    f"duplicate value found: Label duplicates value on record with id: {status['Id']}",
                )
        if new.get("SortOrder") is None:
            new["SortOrder"] = max((s.get("SortOrder") or 0 for s in others), default=0) + 1
        for status in others:
            if status.get("SortOrder") == new["SortOrder"]:
                raise dml_error(
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
            raise dml_error(
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
            raise dml_error("DELETE_FAILED", "You can't delete the default member status of a campaign.")
        campaign, label = record.get("CampaignId") or "", record.get("Label")
        members = self.tables["CampaignMember"].rows
        for member_id in self.members_by_campaign.get(campaign, ()):
            member = members.get(member_id)
            if member is not None and member.get("Status") == label:
                raise dml_error("DELETE_FAILED", "You can't delete a member status that campaign members have.")
