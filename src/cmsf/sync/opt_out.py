"""Campaign Monitor to Salesforce opt-out: "Check Email Opt Out when the email is unsubscribed or deleted in all of
its lists" (General Options). Applied by the primary sync to the people whose subscribers it saw unsubscribed or
deleted, and by the webhooks as the events arrive.

A person's memberships are cmsf's `CMSF_Subscriber__c` rows linked to them, across every list and client, as
the sync has just written them: when none is left other than Unsubscribed or Deleted, Email Opt Out is checked on
the contact or lead (when it is not already). The conflict rule: when the watcher saw Email Opt Out cleared in
Salesforce later than Campaign Monitor's newest state change of those memberships, Salesforce's later change wins
and the box stays clear; on a tie the opt-out wins. Each box checked is in the audit log as cmsf's change.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from cmsf.maintenance.models import CMSF_ACTOR, GovernorLimit
from cmsf.maintenance.services import audit
from cmsf.options.services import GENERAL_SECTION
from cmsf.salesforce import soql
from cmsf.salesforce.adapter import SalesforceAdapter, parse_datetime
from cmsf.salesforce.errors import RecordError
from cmsf.salesforce.ids import LEAD_PREFIX
from cmsf.sync.models import PersonState

CHUNK = 200
JOB = "CMSF_EMAIL_OPT_OUT"  # its governor limit is the batch of records updated at once
GONE = ("Unsubscribed", "Deleted")


@dataclass
class OptOutResult:
    checked: list[str] = field(default_factory=list)  # Ids whose Email Opt Out cmsf checked
    kept_by_later_change: list[str] = field(default_factory=list)  # cleared in Salesforce after the unsubscribe
    failed: list[tuple[str, RecordError]] = field(default_factory=list)  # (Id, why Salesforce refused)


def opt_out_everywhere(sf: SalesforceAdapter, people: Iterable[str], *, dry_run: bool = False) -> OptOutResult:
    """Check Email Opt Out on each of `people` (contact and lead Ids) left with no active membership."""
    ids = sorted({p for p in people if p})
    result = OptOutResult()
    newest: dict[str, datetime | None] = {}
    active: set[str] = set()
    for chunk in _chunks(ids):
        literals = soql.quote_list(chunk)
        text = (
            "SELECT Contact__c, Lead__c, State__c, State_Changed__c FROM CMSF_Subscriber__c "
            f"WHERE Contact__c IN ({literals}) OR Lead__c IN ({literals})"
        )
        for record in sf.query(text):
            for person in {str(record.get("Contact__c") or ""), str(record.get("Lead__c") or "")} & set(chunk):
                if record.get("State__c") not in GONE:
                    active.add(person)
                changed = parse_datetime(record.get("State_Changed__c"))
                current = newest.get(person)
                if person not in newest or (changed is not None and (current is None or changed > current)):
                    newest[person] = changed
    candidates = [p for p in ids if p in newest and p not in active]  # unsubscribed or deleted in every list
    states = {s.record_id: s for s in PersonState.objects.filter(record_id__in=candidates)}
    wanted = []
    for person in candidates:
        state, unsubscribed_at = states.get(person), newest[person]
        if state is not None and not state.opted_out and unsubscribed_at and state.opted_out_at > unsubscribed_at:
            result.kept_by_later_change.append(person)
        else:
            wanted.append(person)
    for sobject in ("Contact", "Lead"):
        _check(sf, sobject, [p for p in wanted if object_of(p) == sobject], newest, result, dry_run=dry_run)
    return result


def _check(
    sf: SalesforceAdapter,
    sobject: str,
    ids: list[str],
    newest: dict[str, datetime | None],
    result: OptOutResult,
    *,
    dry_run: bool,
) -> None:
    clear = []
    for chunk in _chunks(ids):
        text = f"SELECT Id, HasOptedOutOfEmail FROM {sobject} WHERE Id IN ({soql.quote_list(chunk)})"
        clear += [str(r["Id"]) for r in sf.query(text) if not r.get("HasOptedOutOfEmail")]
    if not clear or dry_run:
        result.checked += clear
        return
    rows = [{"Id": rid, "HasOptedOutOfEmail": True} for rid in clear]
    size = GovernorLimit.batch_size_for(JOB)
    outcomes = [o for start in range(0, len(rows), size) for o in sf.update(sobject, rows[start : start + size])]
    for row, outcome in zip(rows, outcomes, strict=True):
        rid = str(row["Id"])
        if not outcome.success:
            result.failed += [(rid, error) for error in outcome.errors[:1]]
            continue
        result.checked.append(rid)
        at = newest.get(rid)
        if at is not None:
            PersonState.objects.update_or_create(record_id=rid, defaults={"opted_out": True, "opted_out_at": at})
        audit(actor=CMSF_ACTOR, section=GENERAL_SECTION, action="Check Email Opt Out in Salesforce",
              before={}, after={"record": f"{sobject} {rid}", "because": "unsubscribed or deleted in all its lists"})  # fmt: skip


def object_of(record_id: str) -> str:
    return "Lead" if record_id.startswith(LEAD_PREFIX) else "Contact"


def _chunks(ids: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]
