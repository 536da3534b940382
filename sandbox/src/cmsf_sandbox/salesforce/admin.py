"""Admin routes of the Salesforce emulator, under /admin (no auth, JSON in and out):

- GET  /admin/calls                 calls per kind ("query", "queryMore", "composite/sobjects",
                                    "bulk2 ingest create", "oauth token", ...), their total, and the API
                                    requests counted against the daily allowance
- POST /admin/calls (or /admin/calls/reset)   the same, then reset the counts
- GET  /admin/faults, POST /admin/faults {"profile": "none|flaky|limits", "after": N, "seed": N,
                                    "rates": {"lock": 0.05, "unavailable": 0.04, "dropped": 0.02}}
- POST /admin/faults/locks {"sobject", "calls": N, "every": 2, "offset": 0, "operation": ""}   the next N write
                                    calls touching the object (Collections calls, Bulk 2.0 ingest jobs; of that
                                    operation only, when named) fail its rows at offset, offset + every, ... with
                                    UNABLE_TO_LOCK_ROW, whatever the profile; calls 0 removes the plan
- POST /admin/tokens/expire         expire every access token (then 401 INVALID_SESSION_ID)
- POST /admin/tokens {"user_id"}    issue an access token (default: the sync user)
- POST /admin/schema/remove-field {"object", "field"}; POST /admin/schema/reset
- GET  /admin/limits, POST /admin/limits {"daily_api_requests": N, "data_storage_mb": N, "reset_usage": true}
- GET  /admin/storage               storage used per object (2 KB a record, Campaign 8 KB, CampaignMember 1 KB)
- POST /admin/leads/convert {"lead_id", "contact_id"}   convert a lead, as convertLead does, into that contact or
                                    (no contact_id) a new contact and account made from it; answers the three Ids
- POST /admin/merge {"sobject", "master_id", "loser_ids"}   merge one or two Accounts, Contacts or Leads into a
                                    master as Salesforce's merge does: lookups move to the master, the losers are
                                    deleted with MasterRecordId
- POST /admin/listviews {"sobject", "label", "developer_name", "where"}   save a list view (a SOQL condition); its
                                    describe gives the query it runs
- POST /admin/reports {"sobject", "name", "developer_name", "columns", "filters", "boolean_filter"}   save a
                                    tabular report (columns `Object.Field`; filters {"column", "operator", "value"})
- POST /admin/recycle-bin/empty {"ids"}   purge deleted records from the recycle bin (queryAll no longer shows
                                    them; getDeleted still lists them)
- GET  /admin/layouts               the org's page layouts (standard Contact and Lead, then as deployed): {"layouts": {full name: XML}}
- POST /admin/metadata/deploys {"polls_in_progress": N}   how many status checks find a deploy still InProgress
- POST /admin/oauth/callback-urls {"url"}   add a callback URL to the connected app (web-server flow)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cmsf_sandbox.salesforce.errors import ApiError, DmlError, SoqlError
from cmsf_sandbox.salesforce.faults import PROFILES, LockPlan
from cmsf_sandbox.salesforce.http import Reply
from cmsf_sandbox.salesforce.oauth import OAuthError
from cmsf_sandbox.salesforce.soql import compile_query
from cmsf_sandbox.salesforce.state import Emulator


class AdminError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _int(body: dict[str, Any], name: str, minimum: int = 0) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise AdminError(400, f"{name} must be an integer of at least {minimum}")
    return value


def calls(em: Emulator, body: dict[str, Any]) -> Reply:
    counts = dict(sorted(em.calls.items()))
    return Reply(
        200,
        {
            "calls": counts,
            "total": sum(counts.values()),
            "api_requests": em.allowance.used,
            "since": em.calls_since.isoformat(),
        },
    )


def calls_reset(em: Emulator, body: dict[str, Any]) -> Reply:
    reply = calls(em, body)
    em.calls.clear()
    em.calls_since = em.now()
    return reply


def get_faults(em: Emulator, body: dict[str, Any]) -> Reply:
    return Reply(200, em.faults.describe())


def set_faults(em: Emulator, body: dict[str, Any]) -> Reply:
    profile = str(body.get("profile") or "").strip().lower()
    if profile not in PROFILES:
        raise AdminError(400, f"profile must be one of {', '.join(PROFILES)}")
    rates = body.get("rates")
    if rates is not None and (
        not isinstance(rates, dict) or not all(isinstance(v, int | float) and 0 <= v <= 1 for v in rates.values())
    ):
        raise AdminError(400, "rates must be an object of shares between 0 and 1 (lock, unavailable, dropped)")
    em.faults.set_profile(profile, after=_int(body, "after"), seed=_int(body, "seed"), rates=rates)
    return get_faults(em, body)


WRITE_OPERATIONS = ("", "insert", "update", "upsert", "delete")


def plan_locks(em: Emulator, body: dict[str, Any]) -> Reply:
    """Lock errors on one object for the next write calls (see `faults.LockPlan`)."""
    sobject = str(body.get("sobject") or "")
    obj = em.schema.get(sobject)
    if obj is None:
        raise AdminError(400, "give the object (sobject) whose writes fail")
    operation = str(body.get("operation") or "")
    if operation not in WRITE_OPERATIONS:
        raise AdminError(400, f"operation must be one of {', '.join(o for o in WRITE_OPERATIONS if o)}")
    calls = _int(body, "calls")
    every = _int(body, "every", 1)
    offset = _int(body, "offset")
    plan = LockPlan(obj.name, 1 if calls is None else calls, every or 2, offset or 0, operation)
    em.faults.plan_locks(plan)
    return get_faults(em, body)


def expire_tokens(em: Emulator, body: dict[str, Any]) -> Reply:
    return Reply(200, {"expired": em.oauth.expire_all()})


def issue_token(em: Emulator, body: dict[str, Any]) -> Reply:
    user_id = str(body.get("user_id") or em.sync_user_id)
    if em.store.live("User", user_id) is None:
        raise AdminError(404, f"no user {user_id}")
    return Reply(200, {"access_token": em.issue_token(user_id), "user_id": user_id})


def remove_field(em: Emulator, body: dict[str, Any]) -> Reply:
    obj, name = str(body.get("object") or ""), str(body.get("field") or "")
    try:
        removed = em.remove_field(obj, name)
    except KeyError:
        raise AdminError(404, f"no field {obj}.{name}") from None
    except ValueError as error:
        raise AdminError(400, str(error)) from None
    return Reply(200, {"removed": removed})


def reset_schema(em: Emulator, body: dict[str, Any]) -> Reply:
    em.reset_schema()
    return Reply(200, {"reset": True})


def get_limits(em: Emulator, body: dict[str, Any]) -> Reply:
    return Reply(
        200,
        {
            "daily_api_requests": em.allowance.maximum,
            "effective_daily_api_requests": em.allowance.effective_max,
            "api_requests_used": em.allowance.used,
            "data_storage_mb": em.store.storage_max_mb,
        },
    )


def set_limits(em: Emulator, body: dict[str, Any]) -> Reply:
    daily = _int(body, "daily_api_requests", 1)
    storage = _int(body, "data_storage_mb", 1)
    if daily is not None:
        em.allowance.maximum = daily
    if storage is not None:
        em.store.storage_max_mb = storage
    if body.get("reset_usage"):
        em.allowance.counter.reset()
        if em.faults.profile == "limits":
            em.faults.set_profile("limits")
    return get_limits(em, body)


def storage(em: Emulator, body: dict[str, Any]) -> Reply:
    return Reply(200, em.store.storage())


def convert_lead(em: Emulator, body: dict[str, Any]) -> Reply:
    lead_id, contact_id = str(body.get("lead_id") or ""), str(body.get("contact_id") or "") or None
    if not lead_id:
        raise AdminError(400, "lead_id is required")
    try:
        return Reply(200, em.store.convert_lead(lead_id, em.context(em.sync_user_id), contact_id=contact_id))
    except DmlError as error:
        status = 404 if error.status == 404 else 400
        raise AdminError(status, "; ".join(f"{e.code}: {e.message}" for e in error.errors)) from None


def merge(em: Emulator, body: dict[str, Any]) -> Reply:
    """Merge one or two records into a master, as a user does in Salesforce: {"sobject", "master_id", "loser_ids"}."""
    sobject, master_id, losers = body.get("sobject"), body.get("master_id"), body.get("loser_ids")
    if not isinstance(sobject, str) or not isinstance(master_id, str) or not isinstance(losers, list):
        raise AdminError(400, "give sobject, master_id and loser_ids (a list)")
    try:
        return Reply(200, em.store.merge(sobject, master_id, [str(x) for x in losers], em.context(em.sync_user_id)))
    except DmlError as error:
        status = 404 if error.status == 404 else 400
        raise AdminError(status, "; ".join(f"{e.code}: {e.message}" for e in error.errors)) from None


def add_list_view(em: Emulator, body: dict[str, Any]) -> Reply:
    """A list view, as a user saves one: {"sobject", "label", "developer_name", "where"} (a SOQL condition, or "")."""
    sobject, label = str(body.get("sobject") or ""), str(body.get("label") or "")
    developer_name, where = str(body.get("developer_name") or label.replace(" ", "_")), str(body.get("where") or "")
    obj = em.schema.get(sobject)
    if obj is None or not label:
        raise AdminError(400, "give an object (sobject) and a label")
    view = em.list_views.add(obj.name, developer_name, label, where)
    try:
        compile_query(view.query, em.schema, em.store.lookup, em.now())
    except SoqlError as error:
        del em.list_views.views[view.view_id]
        raise AdminError(400, f"the view's condition is not valid SOQL: {error}") from None
    return Reply(200, {"id": view.view_id, "query": view.query})


def add_report(em: Emulator, body: dict[str, Any]) -> Reply:
    """A report, as a user saves one (see `reports`); refused when it could not run."""
    try:
        report = em.reports.add(em, body)
    except ApiError as error:
        raise AdminError(400, error.message) from None
    return Reply(200, {"id": report.report_id, "name": report.name})


def empty_recycle_bin(em: Emulator, body: dict[str, Any]) -> Reply:
    """Purge records from the recycle bin, as Database.emptyRecycleBin does: queryAll no longer shows them, and
    getDeleted still lists them. {"ids": [...]}"""
    ids = body.get("ids")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise AdminError(400, "give the Ids to purge as ids (a list)")
    ctx = em.context(em.sync_user_id)
    try:
        for record_id in ids:
            em.store.delete(record_id, ctx, hard=True)
    except DmlError as error:
        raise AdminError(400, "; ".join(f"{e.code}: {e.message}" for e in error.errors)) from None
    return Reply(200, {"purged": ids})


def add_callback_url(em: Emulator, body: dict[str, Any]) -> Reply:
    """Add a callback URL to the connected app, as an admin does in Setup for each place that signs in."""
    url = body.get("url")
    if not isinstance(url, str):
        raise AdminError(400, "give the callback URL as url")
    try:
        return Reply(200, {"callback_urls": em.oauth.add_callback_url(url)})
    except OAuthError as error:
        raise AdminError(400, error.description) from None


def layouts(em: Emulator, body: dict[str, Any]) -> Reply:
    """The org's page layouts (its standard Contact and Lead layouts, then as deployed): full name -> XML."""
    return Reply(200, {"layouts": dict(sorted(em.metadata.layouts.items()))})


def metadata_polls(em: Emulator, body: dict[str, Any]) -> Reply:
    polls = _int(body, "polls_in_progress")
    if polls is not None:
        em.metadata.polls_in_progress = polls
    return Reply(200, {"polls_in_progress": em.metadata.polls_in_progress})


ROUTES: dict[tuple[str, str], Callable[[Emulator, dict[str, Any]], Reply]] = {
    ("GET", "/admin/calls"): calls,
    ("POST", "/admin/calls"): calls_reset,
    ("POST", "/admin/calls/reset"): calls_reset,
    ("GET", "/admin/faults"): get_faults,
    ("POST", "/admin/faults"): set_faults,
    ("POST", "/admin/faults/locks"): plan_locks,
    ("POST", "/admin/tokens/expire"): expire_tokens,
    ("POST", "/admin/merge"): merge,
    ("POST", "/admin/listviews"): add_list_view,
    ("POST", "/admin/reports"): add_report,
    ("POST", "/admin/recycle-bin/empty"): empty_recycle_bin,
    ("POST", "/admin/tokens"): issue_token,
    ("POST", "/admin/schema/remove-field"): remove_field,
    ("POST", "/admin/schema/reset"): reset_schema,
    ("GET", "/admin/limits"): get_limits,
    ("POST", "/admin/limits"): set_limits,
    ("GET", "/admin/storage"): storage,
    ("POST", "/admin/leads/convert"): convert_lead,
    ("GET", "/admin/layouts"): layouts,
    ("POST", "/admin/metadata/deploys"): metadata_polls,
    ("POST", "/admin/oauth/callback-urls"): add_callback_url,
}


def handle(em: Emulator, method: str, path: str, body: dict[str, Any]) -> Reply:
    path = path.rstrip("/")
    handler = ROUTES.get((method, path))
    if handler is None:
        allowed = sorted(m for m, p in ROUTES if p == path)
        if allowed:
            return Reply(405, {"error": f"method {method} not allowed: {', '.join(allowed)}"})
        return Reply(404, {"error": f"no admin route {path}"})
    try:
        with em.lock:
            return handler(em, body)
    except AdminError as error:
        return Reply(error.status, {"error": error.message})
