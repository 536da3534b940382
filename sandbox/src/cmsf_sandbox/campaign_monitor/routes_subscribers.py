"""Subscriber routes: details, add (an upsert), update (including an email change), import, unsubscribe,
delete and history. Writes set `Date` to client-local now, feed the suppression list and queue webhooks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from cmsf_sandbox.campaign_monitor.common import (
    ApiError,
    Reply,
    as_bool,
    as_text,
    bad_request,
    created,
    empty_ok,
    fmt,
    ok,
    valid_email,
    valid_mobile,
)
from cmsf_sandbox.campaign_monitor.routes_lists import consent, field_key
from cmsf_sandbox.campaign_monitor.state import ApiRequest, Emulator, Handler
from cmsf_sandbox.campaign_monitor.webhooks import deactivate_event, subscribe_event, update_event
from cmsf_sandbox.campaign_monitor.world import (
    CampaignRecord,
    ClientRecord,
    CustomFieldDef,
    ListRecord,
    SubscriberRecord,
    SuppressionRecord,
    TrackingEvent,
)

MAX_IMPORT = 1000
MAX_VALUE_LENGTH = 250
CONSENTS = {"yes": "Yes", "no": "No", "unchanged": "Unchanged"}
ACTIVE_STATES = ("Active", "Unconfirmed")
INACTIVE_STATES = ("Unsubscribed", "Deleted", "Bounced")
SIGNUP_IP = "TypeAPI"  # what a subscriber added through the API shows as SignupIPAddress (app adds: TypeManual)
DATE_MIN, DATE_MAX = date(1900, 1, 1), date(2076, 6, 6)


# ----------------------------------------------------------------------------------------- validation


@dataclass
class Submitted:
    """One subscriber as submitted, validated."""

    email: str
    data: dict[str, Any]
    consent_to_track: str  # Yes, No or Unchanged
    mobile: str | None  # None: leave unchanged; "": clear
    consent_to_send_sms: str


def _consent_value(data: dict[str, Any], *, required: bool) -> str:
    if "consenttotrack" not in data or data["consenttotrack"] in (None, ""):
        if required:
            raise bad_request(214, "Please provide a consent to track value")
        return "Unchanged"
    found = CONSENTS.get(as_text(data["consenttotrack"]).strip().lower())
    if found is None:
        raise bad_request(215, "Please provide a valid consent to track value")
    return found


def validate(data: Any, *, consent_required: bool, email_code: int = 1) -> Submitted:
    if not isinstance(data, dict):
        raise bad_request(email_code, "Invalid Email Address")
    email = as_text(data.get("emailaddress")).strip()
    mobile: str | None = None
    if "mobilenumber" in data and data["mobilenumber"] is not None:
        mobile = as_text(data["mobilenumber"]).strip()
    email_ok = valid_email(email)
    mobile_ok = mobile is None or mobile == "" or valid_mobile(mobile)
    if not email_ok and not mobile_ok:
        raise bad_request(221, "Invalid email address and mobile number")
    if not email_ok:
        raise bad_request(email_code, "Invalid New Email Address" if email_code == 211 else "Invalid Email Address")
    if not mobile_ok:
        raise bad_request(220, "Invalid mobile number")
    sms = CONSENTS.get(as_text(data.get("consenttosendsms")).strip().lower(), "Unchanged")
    return Submitted(email, data, _consent_value(data, required=consent_required), mobile, sms)


# -------------------------------------------------------------------------------------- custom fields


def find_field(lst: ListRecord, raw_key: str) -> CustomFieldDef | None:
    raw = raw_key.strip()
    inner = raw[1:-1] if raw.startswith("[") and raw.endswith("]") else raw
    if not inner:
        return None
    found = lst.custom_fields.get(field_key(inner))
    if found is None:
        found = next((f for f in lst.custom_fields.values() if f.name.lower() == inner.lower()), None)
    return found


def _option(f: CustomFieldDef, value: str) -> str | None:
    return next((o for o in f.options if o.lower() == value.strip().lower()), None)


def _normalize(f: CustomFieldDef, value: str) -> str | None:
    """The value to store; None leaves the field as it is (empty or unusable), "" clears it."""
    text = value.strip()
    if not text:
        return None
    if f.data_type == "Number":
        try:
            float(text)
        except ValueError:
            return None
        return text[:MAX_VALUE_LENGTH]
    if f.data_type == "Date":
        if text in ("0000-00-00", "0000/00/00"):
            return ""
        for pattern in ("%Y-%m-%d", "%Y/%m/%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"):
            try:
                day = datetime.strptime(text, pattern).date()
            except ValueError:
                continue
            return day.isoformat() if DATE_MIN <= day <= DATE_MAX else None
        return None
    if f.data_type == "MultiSelectOne":
        return _option(f, text)
    return value[:MAX_VALUE_LENGTH]


def _new_values(f: CustomFieldDef, values: list[str], entries: list[tuple[str, bool]]) -> list[str]:
    if f.data_type == "MultiSelectMany":
        result = list(values)
        replaced = False
        for value, clear in entries:
            if clear:
                result = [] if not value.strip() else [v for v in result if v.lower() != value.strip().lower()]
                continue
            option = _option(f, value)
            if option is None:
                continue
            if not replaced:
                result, replaced = [], True
            if option not in result:
                result.append(option)
        return result
    value, clear = entries[-1]
    if clear:
        return []
    normalized = _normalize(f, value)
    if normalized is None:
        return values
    return [normalized] if normalized else []


def apply_custom_fields(lst: ListRecord, sub: SubscriberRecord, items: Any) -> bool:
    """Apply [{"Key", "Value", "Clear"?}] (keys with or without brackets); True when a value changed."""
    if not isinstance(items, list):
        return False
    grouped: dict[str, list[tuple[str, bool]]] = {}
    for item in items:
        if not isinstance(item, dict):
            continue
        f = find_field(lst, as_text(item.get("key")))
        if f is not None:
            grouped.setdefault(f.key, []).append((as_text(item.get("value")), as_bool(item.get("clear"))))
    if not grouped:
        return False
    current: dict[str, list[str]] = {}
    for name, value in sub.custom_fields:
        current.setdefault(name, []).append(value)
    for key, entries in grouped.items():
        f = lst.custom_fields[key]
        current[f.name] = _new_values(f, current.get(f.name, []), entries)
    rebuilt = [(name, value) for name, values in current.items() for value in values]
    changed = rebuilt != sub.custom_fields
    sub.custom_fields = rebuilt
    return changed


# ------------------------------------------------------------------------------------------- writes


def _fresh_state(lst: ListRecord) -> str:
    return "Unconfirmed" if lst.confirmed_opt_in else "Active"


def _apply_details(lst: ListRecord, sub: SubscriberRecord, item: Submitted) -> bool:
    """Name, custom fields, mobile number and consents; True when something a webhook reports changed."""
    changed = False
    if "name" in item.data and item.data["name"] is not None:
        name = as_text(item.data["name"]).strip()
        if name != sub.name:
            sub.name, changed = name, True
    if apply_custom_fields(lst, sub, item.data.get("customfields")):
        changed = True
    if item.mobile is not None and item.mobile != sub.mobile_number:
        sub.mobile_number, changed = item.mobile, True
    if item.consent_to_track != "Unchanged":
        sub.consent_to_track = item.consent_to_track
    if item.consent_to_send_sms != "Unchanged":
        sub.consent_to_send_sms = item.consent_to_send_sms
    return changed


def upsert(
    em: Emulator, lst: ListRecord, client: ClientRecord, item: Submitted, *, resubscribe: bool, now: datetime
) -> bool:
    """Add or update one subscriber; True when it is new to the list. Raises 204 (nothing changed) when a
    resubscribe would reactivate a suppressed address."""
    key = item.email.lower()
    sub = lst.subscribers.get(key)
    if sub is None:
        sub = SubscriberRecord(
            email=item.email,
            name="",
            state=_fresh_state(lst),
            date=now,
            list_joined_date=now,
            consent_to_track="No",
            consent_to_send_sms="No",
        )
        _apply_details(lst, sub, item)
        lst.subscribers[key] = sub
        em.touch(lst.list_id)
        if sub.state == "Active":
            em.webhooks.emit(lst, subscribe_event(sub, fmt(now), SIGNUP_IP))
        return True
    reactivate = sub.state in INACTIVE_STATES and resubscribe
    if reactivate and key in client.suppression:
        raise bad_request(204, "In Suppression List")
    changed = _apply_details(lst, sub, item)
    if reactivate:
        sub.state, sub.date = _fresh_state(lst), now
        if sub.state == "Active":
            em.webhooks.emit(lst, subscribe_event(sub, fmt(now), SIGNUP_IP))
    elif changed:
        em.webhooks.emit(lst, update_event(sub, fmt(now), sub.email))
    em.touch(lst.list_id)
    return False


def deactivate(em: Emulator, lst: ListRecord, sub: SubscriberRecord, state: str, now: datetime) -> None:
    was_active = sub.state in ACTIVE_STATES
    if sub.state == state:
        return
    sub.state, sub.date = state, now
    em.touch(lst.list_id)
    if was_active:
        em.webhooks.emit(lst, deactivate_event(sub, fmt(now)))


# ------------------------------------------------------------------------------------------- routes


def _body(rq: ApiRequest) -> dict[str, Any]:
    return rq.body if isinstance(rq.body, dict) else {}


def _subscriber(lst: ListRecord, email: str) -> SubscriberRecord:
    sub = lst.subscribers.get(email.strip().lower())
    if sub is None:
        raise bad_request(203, "Subscriber Not In List")
    return sub


def subscriber_details(s: SubscriberRecord, tracking: bool) -> dict[str, Any]:
    item: dict[str, Any] = {
        "EmailAddress": s.email,
        "Name": s.name,
        "MobileNumber": s.mobile_number,
        "Date": fmt(s.date),
        "ListJoinedDate": fmt(s.list_joined_date),
        "State": s.state,
        "CustomFields": [{"Key": k, "Value": v} for k, v in s.custom_fields],
        "ReadsEmailWith": s.reads_email_with,
    }
    if tracking:
        item["ConsentToTrack"] = consent(s.consent_to_track)
        item["ConsentToSendSms"] = consent(s.consent_to_send_sms)
    return item


def get_subscriber(em: Emulator, rq: ApiRequest) -> Reply:
    lst = em.list_(rq.caller, rq.path["listid"])
    email = rq.params.get("email", "")
    if not valid_email(email.strip()):
        raise bad_request(1, "Invalid Email Address")
    sub = _subscriber(lst, email)
    return ok(subscriber_details(sub, as_bool(rq.params.get("includetrackingpreference"))))


def post_subscriber(em: Emulator, rq: ApiRequest) -> Reply:
    lst = em.list_(rq.caller, rq.path["listid"])
    client = em.client_of_list(lst)
    body = _body(rq)
    item = validate(body, consent_required=True)
    upsert(em, lst, client, item, resubscribe=as_bool(body.get("resubscribe")), now=em.local_now(client))
    return created(item.email)


def put_subscriber(em: Emulator, rq: ApiRequest) -> Reply:
    lst = em.list_(rq.caller, rq.path["listid"])
    client = em.client_of_list(lst)
    sub = _subscriber(lst, rq.params.get("email", ""))
    body = _body(rq)
    if not as_text(body.get("emailaddress")).strip():
        body = {**body, "emailaddress": sub.email}
    item = validate(body, consent_required=True, email_code=211)
    old_email, new_key = sub.email, item.email.lower()
    if new_key != old_email.lower() and new_key in lst.subscribers:
        raise bad_request(201, "Already subscribed")
    now = em.local_now(client)
    reactivate = sub.state in INACTIVE_STATES and as_bool(body.get("resubscribe"))
    if reactivate and (old_email.lower() in client.suppression or new_key in client.suppression):
        raise bad_request(204, "In Suppression List")
    changed = _apply_details(lst, sub, item)
    if new_key != old_email.lower() or item.email != old_email:
        del lst.subscribers[old_email.lower()]
        sub.email = item.email
        lst.subscribers[new_key] = sub
        changed = True
    if reactivate:
        sub.state, sub.date = _fresh_state(lst), now
        if sub.state == "Active":
            em.webhooks.emit(lst, subscribe_event(sub, fmt(now), SIGNUP_IP))
    elif changed:
        em.webhooks.emit(lst, update_event(sub, fmt(now), old_email))
    em.touch(lst.list_id)
    return empty_ok()


def post_import(em: Emulator, rq: ApiRequest) -> Reply:
    lst = em.list_(rq.caller, rq.path["listid"])
    client = em.client_of_list(lst)
    body = _body(rq)
    submitted = body.get("subscribers")
    if not isinstance(submitted, list) or not submitted:
        raise bad_request(212, "No subscribers were provided in this batch")
    if len(submitted) > MAX_IMPORT:
        raise bad_request(209, "Too many subscribers in this batch. You can only add 1000 subscribers in one call")
    resubscribe = as_bool(body.get("resubscribe"))
    latest: dict[str, Any] = {}  # the last submission of each address wins, in order of first appearance
    duplicates: dict[str, str] = {}  # lower-case address -> the address as first submitted
    for data in submitted:
        email = as_text(data.get("emailaddress") if isinstance(data, dict) else "").strip()
        key = email.lower()
        if key in latest and key not in duplicates:
            duplicates[key] = email
        latest[key] = data
    failures: list[dict[str, Any]] = []
    existing = new = 0
    now = em.local_now(client)
    for data in latest.values():
        email = as_text(data.get("emailaddress") if isinstance(data, dict) else "").strip()
        try:
            item = validate(data, consent_required=False)
            if upsert(em, lst, client, item, resubscribe=resubscribe, now=now):
                new += 1
            else:
                existing += 1
        except ApiError as error:
            failures.append({"EmailAddress": email, "Code": error.code, "Message": error.message})
    if failures:
        raise bad_request(
            210,
            "Subscriber Import had some failures",
            {
                "TotalUniqueEmailsSubmitted": len(latest),
                "TotalExistingSubscribers": existing,
                "TotalNewSubscribers": new,
                "DuplicateEmailsInSubmission": list(duplicates.values()),
                "FailureDetails": failures,
            },
        )
    return Reply(
        201,
        {
            "FailureDetails": [],
            "TotalUniqueEmailsSubmitted": len(latest),
            "TotalExistingSubscribers": existing,
            "TotalNewSubscribers": new,
            "DuplicateEmailsInSubmission": list(duplicates.values()),
        },
    )


def post_unsubscribe(em: Emulator, rq: ApiRequest) -> Reply:
    lst = em.list_(rq.caller, rq.path["listid"])
    client = em.client_of_list(lst)
    email = as_text(_body(rq).get("emailaddress")).strip()
    if not valid_email(email):
        raise bad_request(1, "Invalid Email Address")
    sub = _subscriber(lst, email)
    now = em.local_now(client)
    if sub.state in ACTIVE_STATES:
        deactivate(em, lst, sub, "Unsubscribed", now)
    if lst.unsubscribe_setting == "AllClientLists":  # unsubscribing from one list leaves every client list
        for other in em.world.lists.values():
            if other.client_id == lst.client_id and other is not lst:
                theirs = other.subscribers.get(sub.email.lower())
                if theirs is not None and theirs.state in ACTIVE_STATES:
                    deactivate(em, other, theirs, "Unsubscribed", now)
    if lst.add_unsubscribes_to_supp_list and sub.email.lower() not in client.suppression:
        client.suppression[sub.email.lower()] = SuppressionRecord(email=sub.email, reason="Unsubscribed", date=now)
        em.touch("supp:" + client.client_id)
    return empty_ok()


def delete_subscriber(em: Emulator, rq: ApiRequest) -> Reply:
    lst = em.list_(rq.caller, rq.path["listid"])
    sub = _subscriber(lst, rq.params.get("email", ""))
    deactivate(em, lst, sub, "Deleted", em.local_now(em.client_of_list(lst)))
    return empty_ok()


# ------------------------------------------------------------------------------------------ history

HISTORY_KINDS = (
    ("opens", "Open"),
    ("clicks", "Click"),
    ("unsubscribes", "Unsubscribe"),
    ("bounces", "Bounce"),
    ("spam", "Spam"),
)


def _index(em: Emulator, campaign: CampaignRecord) -> dict[str, list[tuple[str, TrackingEvent]]]:
    lengths = tuple(len(getattr(campaign, kind)) for kind, _ in HISTORY_KINDS)

    def build() -> dict[str, list[tuple[str, TrackingEvent]]]:
        index: dict[str, list[tuple[str, TrackingEvent]]] = {}
        for kind, label in HISTORY_KINDS:
            for event in getattr(campaign, kind):
                index.setdefault(event.email.lower(), []).append((label, event))
        return index

    return em.cached(("history", campaign.campaign_id), (em.generation, *lengths), build)


def _recipients(em: Emulator, campaign: CampaignRecord) -> set[tuple[str, str]]:
    stamp = (em.generation, len(campaign.recipients))
    return em.cached(
        ("recipient-set", campaign.campaign_id),
        stamp,
        lambda: {(email.lower(), list_id) for email, list_id in campaign.recipients},
    )


def get_history(em: Emulator, rq: ApiRequest) -> Reply:
    lst = em.list_(rq.caller, rq.path["listid"])
    sub = _subscriber(lst, rq.params.get("email", ""))
    key = sub.email.lower()
    campaigns = [
        c
        for c in em.world.campaigns.values()
        if c.client_id == lst.client_id and (lst.list_id in c.list_ids or not c.list_ids)
    ]
    campaigns.sort(key=lambda c: c.sent_date, reverse=True)
    history = []
    for c in campaigns:
        actions = [(label, e) for label, e in _index(em, c).get(key, []) if not e.list_id or e.list_id == lst.list_id]
        if not actions and (key, lst.list_id) not in _recipients(em, c):
            continue
        actions.sort(key=lambda a: a[1].date, reverse=True)
        history.append(
            {
                "ID": c.campaign_id,
                "Type": "Campaign",
                "Name": c.name,
                "Actions": [
                    {
                        "Event": label,
                        "Date": fmt(e.date),
                        "IPAddress": e.ip_address,
                        "Detail": e.url if label == "Click" else (e.reason if label == "Bounce" else ""),
                    }
                    for label, e in actions
                ],
            }
        )
    return ok(history)


ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/subscribers/{listid}.json", get_subscriber),
    ("POST", "/subscribers/{listid}.json", post_subscriber),
    ("PUT", "/subscribers/{listid}.json", put_subscriber),
    ("DELETE", "/subscribers/{listid}.json", delete_subscriber),
    ("POST", "/subscribers/{listid}/import.json", post_import),
    ("POST", "/subscribers/{listid}/unsubscribe.json", post_unsubscribe),
    ("GET", "/subscribers/{listid}/history.json", get_history),
]
