"""List routes: details and settings, live stats, custom fields, segments, the subscriber pages per state,
and webhooks (list, create, test, activate, deactivate, delete)."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool

from cmsf_sandbox.campaign_monitor.common import (
    Reply,
    as_bool,
    as_text,
    bad_request,
    created,
    empty_ok,
    ok,
    paged,
    paging,
    parse_since,
)
from cmsf_sandbox.campaign_monitor.common import fmt as fmt_date
from cmsf_sandbox.campaign_monitor.state import ApiRequest, Emulator, Handler
from cmsf_sandbox.campaign_monitor.webhooks import EVENT_TYPES, test_delivery
from cmsf_sandbox.campaign_monitor.world import (
    SUBSCRIBER_STATES,
    CustomFieldDef,
    ListRecord,
    SubscriberRecord,
    Webhook,
)

DATA_TYPES = ("Text", "Number", "MultiSelectOne", "MultiSelectMany", "Date", "Country", "USState")
MULTI_TYPES = ("MultiSelectOne", "MultiSelectMany")
UNSUBSCRIBE_SETTINGS = ("AllClientLists", "OnlyThisList")
WEBHOOK_TEST_TIMEOUT = 5.0


def field_key(name: str) -> str:
    """The personalisation tag of a field name: "subscription date" -> "[subscriptiondate]"."""
    return "[" + "".join(name.lower().split()) + "]"


def consent(value: str) -> str:
    return value if value in ("Yes", "No") else "No"


def subscriber_item(
    s: SubscriberRecord, *, tracking: bool = False, sms: bool = False, reads_email_with: bool = True
) -> dict[str, Any]:
    """A subscriber as active_subscribers.json shows it (CustomFields keys without brackets)."""
    item: dict[str, Any] = {
        "EmailAddress": s.email,
        "Name": s.name,
        "Date": fmt_date(s.date),
        "ListJoinedDate": fmt_date(s.list_joined_date),
        "State": s.state,
        "CustomFields": [{"Key": k, "Value": v} for k, v in s.custom_fields],
    }
    if reads_email_with:
        item["ReadsEmailWith"] = s.reads_email_with
    if tracking:
        item["ConsentToTrack"] = consent(s.consent_to_track)
    if sms:
        item["MobileNumber"] = s.mobile_number
        item["ConsentToSendSms"] = consent(s.consent_to_send_sms)
    return item


def list_details(lst: ListRecord) -> dict[str, Any]:
    return {
        "ConfirmedOptIn": lst.confirmed_opt_in,
        "Title": lst.title,
        "UnsubscribePage": lst.unsubscribe_page,
        "ListID": lst.list_id,
        "ConfirmationSuccessPage": lst.confirmation_success_page,
        "UnsubscribeSetting": lst.unsubscribe_setting,
    }


def get_list(em: Emulator, rq: ApiRequest) -> Reply:
    return ok(list_details(em.list_(rq.caller, rq.path["listid"])))


def put_list(em: Emulator, rq: ApiRequest) -> Reply:
    lst = em.list_(rq.caller, rq.path["listid"])
    body = rq.body if isinstance(rq.body, dict) else {}
    title = as_text(body.get("title", lst.title)).strip()
    if not title:
        raise bad_request(251, "List Title Empty")
    if any(
        o.title.lower() == title.lower() and o.list_id != lst.list_id and o.client_id == lst.client_id
        for o in em.world.lists.values()
    ):
        raise bad_request(250, "Duplicate list title")
    setting = as_text(body.get("unsubscribesetting", lst.unsubscribe_setting))
    canonical = next((s for s in UNSUBSCRIBE_SETTINGS if s.lower() == setting.lower()), None)
    if canonical is None:
        raise bad_request(261, "Invalid List Unsubscribe Setting")
    lst.title = title
    lst.unsubscribe_setting = canonical
    lst.unsubscribe_page = as_text(body.get("unsubscribepage", lst.unsubscribe_page))
    lst.confirmation_success_page = as_text(body.get("confirmationsuccesspage", lst.confirmation_success_page))
    lst.confirmed_opt_in = as_bool(body.get("confirmedoptin"), lst.confirmed_opt_in)
    lst.add_unsubscribes_to_supp_list = as_bool(
        body.get("addunsubscribestosupplist"), lst.add_unsubscribes_to_supp_list
    )
    lst.scrub_active_with_supp_list = as_bool(body.get("scrubactivewithsupplist"), lst.scrub_active_with_supp_list)
    return empty_ok()


STAT_NAMES = {
    "Active": ("TotalActiveSubscribers", "NewActiveSubscribers"),
    "Unsubscribed": ("TotalUnsubscribes", "Unsubscribes"),
    "Deleted": ("TotalDeleted", "Deleted"),
    "Bounced": ("TotalBounces", "Bounces"),
}
PERIODS = ("Today", "Yesterday", "ThisWeek", "ThisMonth", "ThisYear")


def compute_stats(lst: ListRecord, now: datetime) -> dict[str, int]:
    """Counts by state, and by when the subscriber entered that state relative to client-local `now`
    (weeks start on Monday)."""
    today = now.date()
    yesterday = today - timedelta(days=1)
    week_start = today - timedelta(days=today.weekday())
    counts = {state: [0, 0, 0, 0, 0, 0] for state in STAT_NAMES}
    for s in lst.subscribers.values():
        row = counts.get(s.state)
        if row is None:
            continue
        row[0] += 1
        if s.date > now:
            continue
        day = s.date.date()
        if day == today:
            row[1] += 1
        if day == yesterday:
            row[2] += 1
        if week_start <= day <= today:
            row[3] += 1
        if day.year == today.year and day.month == today.month:
            row[4] += 1
        if day.year == today.year:
            row[5] += 1
    stats: dict[str, int] = {}
    for state, (total_name, prefix) in STAT_NAMES.items():
        row = counts[state]
        stats[total_name] = row[0]
        for i, period in enumerate(PERIODS, start=1):
            stats[prefix + period] = row[i]
    return stats


def get_stats(em: Emulator, rq: ApiRequest) -> Reply:
    lst = em.list_(rq.caller, rq.path["listid"])
    now = em.local_now(em.client_of_list(lst))
    stamp = (*em.list_stamp(lst.list_id), now.replace(second=0))
    return ok(em.cached(("stats", lst.list_id), stamp, lambda: compute_stats(lst, now)))


def custom_field_item(f: CustomFieldDef) -> dict[str, Any]:
    return {
        "FieldName": f.name,
        "Key": f.key,
        "DataType": f.data_type,
        "FieldOptions": list(f.options),
        "VisibleInPreferenceCenter": f.visible_in_preference_center,
    }


def get_custom_fields(em: Emulator, rq: ApiRequest) -> Reply:
    lst = em.list_(rq.caller, rq.path["listid"])
    return ok([custom_field_item(f) for f in lst.custom_fields.values()])


def _options(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        value = [value]
    seen: list[str] = []
    for item in value:
        text = as_text(item).strip()
        if text and text not in seen:
            seen.append(text)
    return seen


def post_custom_field(em: Emulator, rq: ApiRequest) -> Reply:
    lst = em.list_(rq.caller, rq.path["listid"])
    body = rq.body if isinstance(rq.body, dict) else {}
    name = as_text(body.get("fieldname")).strip()
    if not name or len(name) > 100 or "[" in name or "]" in name:
        raise bad_request(254, "Invalid Field Name")
    data_type = next((t for t in DATA_TYPES if t.lower() == as_text(body.get("datatype")).strip().lower()), None)
    if data_type is None:
        raise bad_request(259, "Data type is incorrect")
    options = _options(body.get("options"))
    if options and data_type not in MULTI_TYPES:
        raise bad_request(256, "Options defined for Text or Number Field")
    if not options and data_type in MULTI_TYPES:
        raise bad_request(257, "No options defined for Multi-Valued field")
    key = field_key(name)
    if key in lst.custom_fields or any(f.name.lower() == name.lower() for f in lst.custom_fields.values()):
        raise bad_request(255, "The Field Name already exists in this list")
    lst.custom_fields[key] = CustomFieldDef(
        name=name,
        key=key,
        data_type=data_type,
        options=options,
        visible_in_preference_center=as_bool(body.get("visibleinpreferencecenter"), True),
    )
    em.touch(lst.list_id)
    return created(key)


def _field(lst: ListRecord, key: str) -> CustomFieldDef:
    key = key.strip()
    if not (key.startswith("[") and key.endswith("]")):
        raise bad_request(253, "Invalid Key. Keys must be surrounded with [ ]")
    found = lst.custom_fields.get(key.lower()) or lst.custom_fields.get(key)
    if found is None:
        raise bad_request(253, "Invalid Key. Keys must be surrounded with [ ]")
    return found


def _rewrite_values(lst: ListRecord, name: str, new_name: str | None, keep: set[str] | None = None) -> None:
    """Rename a field's stored values (new_name), drop them (None), or keep only the options in `keep`."""
    for s in lst.subscribers.values():
        if not any(n == name for n, _ in s.custom_fields):
            continue
        rewritten: list[tuple[str, str]] = []
        for n, v in s.custom_fields:
            if n != name:
                rewritten.append((n, v))
            elif keep is not None:
                if v in keep:
                    rewritten.append((n, v))
            elif new_name is not None:
                rewritten.append((new_name, v))
        s.custom_fields = rewritten


def put_custom_field(em: Emulator, rq: ApiRequest) -> Reply:
    lst = em.list_(rq.caller, rq.path["listid"])
    f = _field(lst, rq.path["key"])
    body = rq.body if isinstance(rq.body, dict) else {}
    name = as_text(body.get("fieldname", f.name)).strip()
    if not name or len(name) > 100 or "[" in name or "]" in name:
        raise bad_request(254, "Invalid Field Name")
    key = field_key(name)
    if key != f.key and (
        key in lst.custom_fields
        or any(o.name.lower() == name.lower() and o is not f for o in lst.custom_fields.values())
    ):
        raise bad_request(255, "The Field Name already exists in this list")
    old_name = f.name
    if name != old_name:
        _rewrite_values(lst, old_name, name)
    del lst.custom_fields[f.key]
    f.name, f.key = name, key
    f.visible_in_preference_center = as_bool(body.get("visibleinpreferencecenter"), f.visible_in_preference_center)
    lst.custom_fields[key] = f
    em.touch(lst.list_id)
    return ok(key)


def put_custom_field_options(em: Emulator, rq: ApiRequest) -> Reply:
    lst = em.list_(rq.caller, rq.path["listid"])
    f = _field(lst, rq.path["key"])
    if f.data_type not in MULTI_TYPES:
        raise bad_request(256, "Options defined for Text or Number Field")
    body = rq.body if isinstance(rq.body, dict) else {}
    options = _options(body.get("options"))
    if as_bool(body.get("keepexistingoptions")):
        f.options = f.options + [o for o in options if o not in f.options]
    else:
        if not options:
            raise bad_request(257, "No options defined for Multi-Valued field")
        f.options = options
        _rewrite_values(lst, f.name, None, keep=set(options))
    em.touch(lst.list_id)
    return empty_ok()


def delete_custom_field(em: Emulator, rq: ApiRequest) -> Reply:
    lst = em.list_(rq.caller, rq.path["listid"])
    f = _field(lst, rq.path["key"])
    del lst.custom_fields[f.key]
    _rewrite_values(lst, f.name, None)
    em.touch(lst.list_id)
    return empty_ok()


def get_list_segments(em: Emulator, rq: ApiRequest) -> Reply:
    lst = em.list_(rq.caller, rq.path["listid"])
    return ok(
        [
            {"ListID": s.list_id, "SegmentID": s.segment_id, "Title": s.title}
            for s in em.world.segments.values()
            if s.list_id == lst.list_id
        ]
    )


def state_page(state: str) -> Handler:
    def handler(em: Emulator, rq: ApiRequest) -> Reply:
        lst = em.list_(rq.caller, rq.path["listid"])
        since = parse_since(rq.params.get("date"))
        p = paging(rq.params, default_order="email")
        tracking = as_bool(rq.params.get("includetrackingpreference"))
        sms = as_bool(rq.params.get("includesmspreference"))
        seq, lo, hi = em.subscribers_since(lst, state, p.order_field, since)
        return ok(paged(seq, lo, hi, p, lambda s: subscriber_item(s, tracking=tracking, sms=sms), p.order_field))

    handler.__name__ = f"get_{state.lower()}_subscribers"
    return handler


# ------------------------------------------------------------------------------------------- webhooks


def webhook_item(w: Webhook) -> dict[str, Any]:
    return {
        "WebhookID": w.webhook_id,
        "Events": list(w.events),
        "Url": w.url,
        "Status": w.status,
        "PayloadFormat": w.payload_format.capitalize(),
    }


def get_webhooks(em: Emulator, rq: ApiRequest) -> Reply:
    lst = em.list_(rq.caller, rq.path["listid"])
    return ok([webhook_item(w) for w in lst.webhooks.values()])


def post_webhook(em: Emulator, rq: ApiRequest) -> Reply:
    lst = em.list_(rq.caller, rq.path["listid"])
    body = rq.body if isinstance(rq.body, dict) else {}
    events = body.get("events")
    if isinstance(events, str):
        events = [events]
    canonical: list[str] = []
    if not isinstance(events, list) or not events:
        raise bad_request(603, "Invalid Webhook Event")
    for event in events:
        found = next((t for t in EVENT_TYPES if t.lower() == as_text(event).strip().lower()), None)
        if found is None:
            raise bad_request(603, "Invalid Webhook Event")
        if found not in canonical:
            canonical.append(found)
    url = as_text(body.get("url")).strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or " " in url:
        raise bad_request(601, "Invalid Webhook URL")
    payload_format = as_text(body.get("payloadformat")).strip().lower()
    if payload_format not in ("json", "xml"):
        raise bad_request(602, "Invalid Webhook Format")
    webhook_id = secrets.token_hex(8)
    lst.webhooks[webhook_id] = Webhook(webhook_id=webhook_id, events=canonical, url=url, payload_format=payload_format)
    return created(webhook_id)


def _webhook(lst: ListRecord, webhook_id: str) -> Webhook:
    found = lst.webhooks.get(webhook_id) or lst.webhooks.get(webhook_id.lower())
    if found is None:
        raise bad_request(600, "Invalid WebhookID")
    return found


async def get_webhook_test(em: Emulator, rq: ApiRequest) -> Reply:
    with em.world.lock:
        lst = em.list_(rq.caller, rq.path["listid"])
        hook = _webhook(lst, rq.path["webhookid"])
        target = (lst.list_id, hook.url, hook.payload_format, list(hook.events))
    failure = await run_in_threadpool(test_delivery, *target, WEBHOOK_TEST_TIMEOUT)
    if failure is not None:
        raise bad_request(610, "The webhook request has failed", failure)
    return empty_ok()


def put_webhook_activate(em: Emulator, rq: ApiRequest) -> Reply:
    lst = em.list_(rq.caller, rq.path["listid"])
    _webhook(lst, rq.path["webhookid"]).status = "Active"
    return empty_ok()


def put_webhook_deactivate(em: Emulator, rq: ApiRequest) -> Reply:
    lst = em.list_(rq.caller, rq.path["listid"])
    _webhook(lst, rq.path["webhookid"]).status = "Deactivated"
    return empty_ok()


def delete_webhook(em: Emulator, rq: ApiRequest) -> Reply:
    lst = em.list_(rq.caller, rq.path["listid"])
    hook = _webhook(lst, rq.path["webhookid"])
    del lst.webhooks[hook.webhook_id]
    return empty_ok()


ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/lists/{listid}.json", get_list),
    ("PUT", "/lists/{listid}.json", put_list),
    ("GET", "/lists/{listid}/stats.json", get_stats),
    ("GET", "/lists/{listid}/customfields.json", get_custom_fields),
    ("POST", "/lists/{listid}/customfields.json", post_custom_field),
    ("PUT", "/lists/{listid}/customfields/{key}.json", put_custom_field),
    ("PUT", "/lists/{listid}/customfields/{key}/options.json", put_custom_field_options),
    ("DELETE", "/lists/{listid}/customfields/{key}.json", delete_custom_field),
    ("GET", "/lists/{listid}/segments.json", get_list_segments),
    *[("GET", f"/lists/{{listid}}/{state.lower()}.json", state_page(state)) for state in SUBSCRIBER_STATES],
    ("GET", "/lists/{listid}/webhooks.json", get_webhooks),
    ("POST", "/lists/{listid}/webhooks.json", post_webhook),
    ("GET", "/lists/{listid}/webhooks/{webhookid}/test.json", get_webhook_test),
    ("PUT", "/lists/{listid}/webhooks/{webhookid}/activate.json", put_webhook_activate),
    ("PUT", "/lists/{listid}/webhooks/{webhookid}/deactivate.json", put_webhook_deactivate),
    ("DELETE", "/lists/{listid}/webhooks/{webhookid}.json", delete_webhook),
]
