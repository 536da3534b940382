"""Records left half-written are written again, and the ledger never claims a row that Salesforce does not hold
as written (issue 17, case 6).

A full sync purges what cmsf wrote, children first, then writes everything again. Salesforce's lookups from cmsf's
objects to their parents are "clear this field" on delete: a membership row whose delete failed (UNABLE_TO_LOCK_ROW,
past every retry) loses its list when the list is deleted after it. Its ledger row still claimed the row as written
with its list, so the full sync, and every sync after it, left it linked to no list.

Both emulators run over TLS in this process; lock errors are planned through the Salesforce emulator's admin API
(`/admin/faults/locks`), and what Salesforce holds is read with raw SOQL (see `test_sync_correctness`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cmsf.connections.models import CampaignMonitorClient
from cmsf.options.models import CampaignSettings
from cmsf.sync import directory, repair
from cmsf.sync.engine import run_primary_sync
from cmsf.sync.models import CampaignLink, Cursor, RecordMap, SyncRun
from tests.integration import test_sync_correctness as correctness
from tests.integration.test_sync_correctness import SF_API, Pair, configure

tls, make_pair = correctness.tls, correctness.make_pair  # the emulator pair's fixtures

pytestmark = pytest.mark.django_db(transaction=True)

MEMBERSHIP = "CMSF_Subscriber__c"
# cmsf's objects, field by field, as a clean run leaves them (Ids, timestamps and owners left out)
RECORDS = {
    "CMSF_Client__c": "Client_Id__c, Name, Time_Zone__c",
    "CMSF_List__c": "List_Id__c, Name, Client__r.Client_Id__c, Active_Subscribers__c, Unsubscribed_Subscribers__c, "
    "Bounced_Subscribers__c, Deleted_Subscribers__c",
    "CMSF_Subscriber__c": "Member_Key__c, Email__c, Name__c, State__c, List__r.List_Id__c, Contact__c, Lead__c, "
    "Date_Added__c, State_Changed__c, Consent_To_Track__c, Mobile_Number__c, Consent_To_Send_SMS__c",
    "CMSF_Campaign__c": "Campaign_Id__c, Name, Client__r.Client_Id__c, Sent_Date__c, Recipients__c, "
    "Unique_Opened__c, Clicks__c",
    "CMSF_Email_Activity__c": "Activity_Key__c, Activity__c, Activity_Date__c, Email__c, URL__c, "
    "Campaign__r.Campaign_Id__c, List__r.List_Id__c, Contact__c, Lead__c",
    "CMSF_Suppression__c": "Suppression_Key__c, Email__c, Client__r.Client_Id__c, Contact__c, Lead__c, Reason__c",
}


def records(pair: Pair) -> dict[str, dict[str, dict[str, Any]]]:
    """Every record of cmsf's objects by its external id, field by field (a parent by its external id)."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for sobject, fields in RECORDS.items():
        key = fields.split(",", 1)[0]
        rows: dict[str, dict[str, Any]] = {}
        for record in pair.sf.query(f"SELECT {fields} FROM {sobject}"):
            flat = {}
            for name in (f.strip() for f in fields.split(",")):
                head, _, tail = name.partition(".")
                value = record.get(head)
                flat[name] = (value or {}).get(tail) if tail else value
            assert flat[key] not in rows, f"{sobject} {flat[key]} is in Salesforce twice"
            rows[flat[key]] = flat
        out[sobject] = rows
    return out


def differing(clean: dict, got: dict, show: int = 3) -> list[str]:
    problems = []
    for sobject, rows in clean.items():
        other = got[sobject]
        missing, extra = rows.keys() - other.keys(), other.keys() - rows.keys()
        changed = [(k, {f: (v, other[k][f]) for f, v in row.items() if other[k][f] != v})
                   for k, row in rows.items() if k in other and other[k] != row]  # fmt: skip
        if missing or extra or changed:
            problems.append(f"{sobject}: {len(missing)} missing {sorted(missing)[:show]}, {len(extra)} extra "
                            f"{sorted(extra)[:show]}, {len(changed)} differ {changed[:show]}")  # fmt: skip
    return problems


def plan_locks(pair: Pair, sobject: str, *, calls: int, every: int = 2, offset: int = 0, operation: str = "") -> None:
    body = {"sobject": sobject, "calls": calls, "every": every, "offset": offset, "operation": operation}
    pair.sf.admin("POST", "/faults/locks", json=body)


def locks_failed(pair: Pair) -> dict[str, int]:
    return {plan["sobject"]: plan["failed"] for plan in pair.sf.admin("GET", "/faults")["locks"]}


def full_sync(pair: Pair, row) -> SyncRun:
    cm, sf = pair.cmsf_clients()
    try:
        return run_primary_sync(row, full=True, cm=cm, sf=sf)
    finally:
        cm.transport.close()
        sf.session.close()


def orphans(pair: Pair) -> list[str]:
    return [r["Member_Key__c"] for r in pair.sf.query(f"SELECT Member_Key__c FROM {MEMBERSHIP} WHERE List__c = null")]


def test_a_full_sync_whose_membership_deletes_meet_lock_errors_leaves_no_row_without_its_list(make_pair):
    """Case 6: the membership deletes of a full sync's purge fail for three rows on every retry, then the
    lists are deleted. Those rows must end linked to their list, in the same run, as a clean run leaves them."""
    configure(suppression=True)
    pair = make_pair()
    pair.sync_all()
    clean = records(pair)
    row = max(pair.rows, key=lambda r: RecordMap.objects.filter(client=r, sobject=MEMBERSHIP).count())

    plan_locks(pair, MEMBERSHIP, calls=5, every=3, operation="delete")
    run = full_sync(pair, row)
    refused = locks_failed(pair)[MEMBERSHIP]
    assert refused > 3, "the planned lock errors did not meet the purge"
    # The deletes that failed are reported: the run went through, with problems (never "Succeeded").
    assert run.status == SyncRun.Status.PROBLEMS, run.message
    assert run.failed.get(MEMBERSHIP) == 3

    assert orphans(pair) == [], "membership rows were left linked to no list"
    assert not differing(clean, records(pair)), differing(clean, records(pair))
    # The ledger holds what Salesforce holds: a sync with nothing new writes nothing.
    runs = pair.sync_all()
    assert not any(run.written for run in runs.values()), {k: r.written for k, r in runs.items()}


def clear_lookups(pair: Pair, sobject: str, lookup: str, ids: list[str]) -> None:
    """What Salesforce does to a child when its parent is deleted (SetNull), done to these records."""
    body = {"allOrNone": True, "records": [{"attributes": {"type": sobject}, "Id": i, lookup: None} for i in ids]}
    response = pair.sf.session.patch(f"{pair.sf.base}{SF_API}/composite/sobjects", json=body, timeout=60)
    assert response.status_code == 200 and all(r["success"] for r in response.json()), response.text


def test_rows_an_earlier_version_left_without_their_parent_are_repaired_by_the_next_run(make_pair):
    """Rows left half-written before the purge marked its leftovers: the next run (an hourly one, which reads no
    unchanged subscriber) finds them with one query per object and puts their parent back; then it checks no more."""
    configure(suppression=True)
    pair = make_pair()
    pair.sync_all()
    clean = records(pair)
    members = pair.sf.query(f"SELECT Id FROM {MEMBERSHIP} ORDER BY Member_Key__c LIMIT 3")
    clear_lookups(pair, MEMBERSHIP, "List__c", [r["Id"] for r in members])
    tracking = pair.sf.query("SELECT Id FROM CMSF_Email_Activity__c ORDER BY Activity_Key__c LIMIT 2")
    clear_lookups(pair, "CMSF_Email_Activity__c", "Campaign__c", [r["Id"] for r in tracking])
    assert len(orphans(pair)) == 3
    Cursor.objects.filter(stream=repair.STREAM).delete()  # as an installation from before the repair

    pair.sf.admin("POST", "/calls/reset")
    runs = pair.sync_all()
    assert orphans(pair) == []
    assert not differing(clean, records(pair)), differing(clean, records(pair))
    written = {k: v for run in runs.values() for k, v in run.written.items() if k != "CMSF_Client__c"}
    assert written == {MEMBERSHIP: 3, "CMSF_Email_Activity__c": 2}, written

    pair.sf.admin("POST", "/calls/reset")
    runs = pair.sync_all()
    assert not any(run.written for run in runs.values())
    assert pair.sf.admin("GET", "/calls")["calls"].get("query", 0) <= 2 * len(pair.rows)  # the directory's, no more


MEMBER_FIELDS = "CMSF_Member_Key__c, Campaign.Name, ContactId, LeadId, Status, CMSF_Opens__c, CMSF_Clicks__c, "
MEMBER_FIELDS += "CMSF_Activity__c, CMSF_Activity_Date__c"


def campaign_members(pair: Pair) -> dict[tuple[str, str], dict[str, Any]]:
    """The campaign members cmsf wrote, by campaign name and person (a campaign's Id differs between two orgs)."""
    found = {}
    for r in pair.sf.query(f"SELECT {MEMBER_FIELDS} FROM CampaignMember WHERE CMSF_Member_Key__c != null"):
        fields = {k: v for k, v in r.items() if k not in ("attributes", "Campaign", "CMSF_Member_Key__c")}
        found[(r["Campaign"]["Name"], r["ContactId"] or r["LeadId"])] = fields
    return found


def auto_create_campaigns() -> None:
    """Every campaign linked, with the member statuses it needs (so that no member is held back: a clean run)."""
    settings = CampaignSettings.load()
    settings.auto_create_campaigns, settings.auto_create_since = True, datetime(2000, 1, 1, tzinfo=UTC)
    settings.auto_create_missing_statuses = True
    settings.save()


def forget_the_installation() -> None:
    """cmsf's database as before its first sync (the same clients are made again for the next pair)."""
    for model in (RecordMap, Cursor, CampaignLink, SyncRun, CampaignMonitorClient):
        model.objects.all().delete()
    directory.forget()


def test_lock_errors_in_the_middle_of_every_batch_end_as_a_clean_run(make_pair):
    """UNABLE_TO_LOCK_ROW in the middle of the list, membership, tracking and campaign member batches, some rows past
    every retry: the runs that follow end with Salesforce holding, record by record and field by field, what a run
    that met no lock holds (two emulator pairs of the same world, the clean one first)."""
    configure(suppression=True)
    auto_create_campaigns()
    moment = datetime.now(UTC)
    clean_pair = make_pair(now=moment)
    clean_pair.sync_all()
    clean, clean_members = records(clean_pair), campaign_members(clean_pair)
    assert clean_members and all(clean.values())

    forget_the_installation()
    pair = make_pair(now=moment)
    plans = {"CMSF_List__c": (5, 2), MEMBERSHIP: (6, 3), "CMSF_Email_Activity__c": (6, 4), "CampaignMember": (6, 3)}
    for sobject, (calls, every) in plans.items():
        plan_locks(pair, sobject, calls=calls, every=every, offset=1, operation="upsert")
    first = {row.cm_client_id: pair.sync(row) for row in pair.rows}
    failed = locks_failed(pair)
    assert all(failed[sobject] > 0 for sobject in plans), failed
    assert any(run.failed for run in first.values()), "no row failed past its retries: the test shows nothing"
    pair.sync_all(attempts=3)

    assert not differing(clean, records(pair)), differing(clean, records(pair))
    members = campaign_members(pair)
    assert members == clean_members, [k for k in clean_members.keys() | members.keys()
                                      if clean_members.get(k) != members.get(k)][:5]  # fmt: skip
    runs = pair.sync_all()
    assert not any(run.written for run in runs.values())
