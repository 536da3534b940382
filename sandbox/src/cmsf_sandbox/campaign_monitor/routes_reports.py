"""Report routes: campaign summary, lists and segments, recipients and the tracking pages; journeys and
their emails' reports; segments and their active subscribers (simple rules evaluated live)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from cmsf_sandbox.campaign_monitor.common import (
    Reply,
    as_bool,
    ok,
    paged,
    paging,
    parse_since,
)
from cmsf_sandbox.campaign_monitor.routes_lists import subscriber_item
from cmsf_sandbox.campaign_monitor.state import ApiRequest, Emulator, Handler
from cmsf_sandbox.campaign_monitor.world import (
    CampaignRecord,
    JourneyEmailRecord,
    ListRecord,
    SegmentRecord,
    SubscriberRecord,
    TrackingEvent,
)

Builder = Callable[[TrackingEvent], dict[str, Any]]


def _geo(value: float | None) -> float:
    return 0.0 if value is None else value


# Item builders, keys in fixture order. They run once per record on every page, so they stay flat.


def open_item(e: TrackingEvent) -> dict[str, Any]:
    return {
        "EmailAddress": e.email,
        "ListID": e.list_id,
        "Date": e.date.isoformat(" ", "seconds"),
        "IPAddress": e.ip_address,
        "Latitude": _geo(e.latitude),
        "Longitude": _geo(e.longitude),
        "City": e.city,
        "Region": e.region,
        "CountryCode": e.country_code,
        "CountryName": e.country_name,
    }


def click_item(e: TrackingEvent) -> dict[str, Any]:
    return {
        "EmailAddress": e.email,
        "URL": e.url,
        "ListID": e.list_id,
        "Date": e.date.isoformat(" ", "seconds"),
        "IPAddress": e.ip_address,
        "Latitude": _geo(e.latitude),
        "Longitude": _geo(e.longitude),
        "City": e.city,
        "Region": e.region,
        "CountryCode": e.country_code,
        "CountryName": e.country_name,
    }


def unsubscribe_item(e: TrackingEvent) -> dict[str, Any]:
    return {
        "EmailAddress": e.email,
        "ListID": e.list_id,
        "Date": e.date.isoformat(" ", "seconds"),
        "IPAddress": e.ip_address,
    }


def spam_item(e: TrackingEvent) -> dict[str, Any]:
    return {"EmailAddress": e.email, "ListID": e.list_id, "Date": e.date.isoformat(" ", "seconds")}


def bounce_item(e: TrackingEvent) -> dict[str, Any]:
    return {
        "EmailAddress": e.email,
        "ListID": e.list_id,
        "BounceType": e.bounce_type,
        "Date": e.date.isoformat(" ", "seconds"),
        "Reason": e.reason,
    }


def journey_recipient_item(e: TrackingEvent) -> dict[str, Any]:
    return {"EmailAddress": e.email, "SentDate": e.date.isoformat(" ", "seconds")}


def journey_open_item(e: TrackingEvent) -> dict[str, Any]:
    return {
        "EmailAddress": e.email,
        "Date": e.date.isoformat(" ", "seconds"),
        "IPAddress": e.ip_address,
        "Latitude": _geo(e.latitude),
        "Longitude": _geo(e.longitude),
        "City": e.city,
        "Region": e.region,
        "CountryCode": e.country_code,
        "CountryName": e.country_name,
    }


def journey_click_item(e: TrackingEvent) -> dict[str, Any]:
    return {
        "EmailAddress": e.email,
        "Date": e.date.isoformat(" ", "seconds"),
        "URL": e.url,
        "IPAddress": e.ip_address,
        "Latitude": _geo(e.latitude),
        "Longitude": _geo(e.longitude),
        "City": e.city,
        "Region": e.region,
        "CountryCode": e.country_code,
        "CountryName": e.country_name,
    }


def journey_unsubscribe_item(e: TrackingEvent) -> dict[str, Any]:
    return {"EmailAddress": e.email, "Date": e.date.isoformat(" ", "seconds"), "IPAddress": e.ip_address}


def journey_bounce_item(e: TrackingEvent) -> dict[str, Any]:
    return {
        "EmailAddress": e.email,
        "BounceType": e.bounce_type,
        "Date": e.date.isoformat(" ", "seconds"),
        "Reason": e.reason,
    }


# ------------------------------------------------------------------------------------------ campaigns


def _unique(events: list[TrackingEvent]) -> int:
    return len({e.email.lower() for e in events})


def campaign_summary(c: CampaignRecord) -> dict[str, Any]:
    return {
        "Name": c.name,
        "Recipients": len(c.recipients),
        "TotalOpened": len(c.opens),
        "Clicks": len(c.clicks),
        "Unsubscribed": len(c.unsubscribes),
        "Bounced": len(c.bounces),
        "UniqueOpened": _unique(c.opens),
        "Mentions": c.mentions,
        "Forwards": c.forwards,
        "Likes": c.likes,
        "WebVersionURL": c.web_version_url,
        "WebVersionTextURL": c.web_version_text_url,
        "WorldviewURL": c.worldview_url,
        "SpamComplaints": len(c.spam),
    }


def get_campaign_summary(em: Emulator, rq: ApiRequest) -> Reply:
    c = em.campaign(rq.caller, rq.path["campaignid"])
    stamp = (
        em.generation,
        c.name,
        len(c.recipients),
        len(c.opens),
        len(c.clicks),
        len(c.unsubscribes),
        len(c.bounces),
        len(c.spam),
        c.forwards,
        c.likes,
        c.mentions,
    )
    return ok(em.cached(("summary", c.campaign_id), stamp, lambda: campaign_summary(c)))


def get_lists_and_segments(em: Emulator, rq: ApiRequest) -> Reply:
    c = em.campaign(rq.caller, rq.path["campaignid"])
    lists = [em.world.lists[i] for i in c.list_ids if i in em.world.lists]
    return ok({"Lists": [{"ListID": lst.list_id, "Name": lst.title} for lst in lists], "Segments": []})


def _recipient_item(r: tuple[str, str]) -> dict[str, Any]:
    return {"EmailAddress": r[0], "ListID": r[1]}


def get_recipients(em: Emulator, rq: ApiRequest) -> Reply:
    c = em.campaign(rq.caller, rq.path["campaignid"])
    p = paging(rq.params, default_order="email")
    return ok(paged(c.recipients, 0, len(c.recipients), p, _recipient_item, p.order_field))


def campaign_report(kind: str, build: Builder) -> Handler:
    def handler(em: Emulator, rq: ApiRequest) -> Reply:
        c = em.campaign(rq.caller, rq.path["campaignid"])
        since = parse_since(rq.params.get("date"))
        p = paging(rq.params, default_order="date")
        order = "date" if p.order_field == "date" else "email"
        seq, lo, hi = em.events_since(c.campaign_id, kind, getattr(c, kind), order, since)
        return ok(paged(seq, lo, hi, p, build, p.order_field))

    handler.__name__ = f"get_campaign_{kind}"
    return handler


# ------------------------------------------------------------------------------------------- journeys


def _email_summary(e: JourneyEmailRecord) -> dict[str, Any]:
    return {
        "EmailID": e.email_id,
        "Name": e.name,
        "Bounced": len(e.bounces),
        "Clicked": len(e.clicks),
        "Opened": len(e.opens),
        "Sent": len(e.recipients),
        "UniqueOpened": _unique(e.opens),
        "Unsubscribed": len(e.unsubscribes),
    }


def get_journey(em: Emulator, rq: ApiRequest) -> Reply:
    j = em.journey(rq.caller, rq.path["journeyid"])
    return ok(
        {
            "JourneyID": j.journey_id,
            "Name": j.name,
            "TriggerType": j.trigger_type,
            "Status": j.status,
            "Emails": [_email_summary(e) for e in j.emails],
        }
    )


def journey_report(kind: str, build: Builder) -> Handler:
    ordered_by = "SentDate" if kind == "recipients" else "Date"

    def handler(em: Emulator, rq: ApiRequest) -> Reply:
        email, _ = em.journey_email(rq.caller, rq.path["emailid"])
        since = parse_since(rq.params.get("date"))
        params = {k: v for k, v in rq.params.items() if k != "orderfield"}  # journey reports have no orderfield
        p = paging(params, default_order="date")
        events: list[TrackingEvent] = getattr(email, kind)
        seq, lo, hi = em.events_since(email.email_id, kind, events, "date", since)
        return ok(paged(seq, lo, hi, p, build, ordered_by, "DESC" if p.descending else "ASC"))

    handler.__name__ = f"get_journey_email_{kind}"
    return handler


# ------------------------------------------------------------------------------------------- segments


def _clause(clause: str) -> tuple[str, str]:
    verb, _, operand = clause.strip().partition(" ")
    return verb.upper(), operand.strip()


def _values(lst: ListRecord, s: SubscriberRecord, rule_type: str) -> list[str] | None:
    kind = rule_type.strip()
    if kind.lower() == "emailaddress":
        return [s.email]
    if kind.lower() == "name":
        return [s.name] if s.name else []
    if kind.lower() == "datesubscribed":
        return [s.list_joined_date.date().isoformat()]
    inner = kind[1:-1] if kind.startswith("[") and kind.endswith("]") else kind
    field = next(
        (
            f
            for f in lst.custom_fields.values()
            if f.key.lower() == f"[{inner.lower()}]" or f.name.lower() == inner.lower()
        ),
        None,
    )
    if field is None:
        return None
    return [v for n, v in s.custom_fields if n == field.name]


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def rule_matches(lst: ListRecord, s: SubscriberRecord, rule: dict[str, Any]) -> bool:
    """EmailAddress, Name, DateSubscribed and custom-field rules with EQUALS, NOT_EQUALS, CONTAINS,
    DOES_NOT_CONTAIN, STARTS_WITH, ENDS_WITH, PROVIDED, NOT_PROVIDED, GREATER_THAN, LESS_THAN, BEFORE,
    AFTER and BETWEEN (x AND y). A rule this emulator cannot read matches nobody."""
    lowered = {str(k).lower(): v for k, v in rule.items()}
    values = _values(lst, s, str(lowered.get("ruletype", "")))
    if values is None:
        return False
    verb, operand = _clause(str(lowered.get("clause", "")))
    texts = [v.lower() for v in values if v != ""]
    target = operand.lower()
    if verb == "PROVIDED":
        return bool(texts)
    if verb == "NOT_PROVIDED":
        return not texts
    if verb == "EQUALS":
        return target in texts
    if verb == "NOT_EQUALS":
        return target not in texts
    if verb == "CONTAINS":
        return any(target in v for v in texts)
    if verb == "DOES_NOT_CONTAIN":
        return not any(target in v for v in texts)
    if verb == "STARTS_WITH":
        return any(v.startswith(target) for v in texts)
    if verb == "ENDS_WITH":
        return any(v.endswith(target) for v in texts)
    if verb in ("BEFORE", "LESS_THAN", "AFTER", "GREATER_THAN", "BETWEEN"):
        low, _, high = target.partition(" and ")
        for v in texts:
            number, bound = _number(v), _number(low)
            left: Any = number if number is not None and bound is not None else v
            right: Any = bound if number is not None and bound is not None else low
            if verb in ("BEFORE", "LESS_THAN") and left < right:
                return True
            if verb in ("AFTER", "GREATER_THAN") and left > right:
                return True
            if verb == "BETWEEN":
                top = _number(high) if isinstance(left, float) else high.strip()
                if top is not None and right <= left <= top:
                    return True
        return False
    return False


def in_segment(lst: ListRecord, segment: SegmentRecord, s: SubscriberRecord) -> bool:
    """Every rule group must hold; within a group, any rule."""
    for group in segment.rule_groups:
        rules = {str(k).lower(): v for k, v in group.items()}.get("rules") or []
        if rules and not any(rule_matches(lst, s, r) for r in rules if isinstance(r, dict)):
            return False
    return True


def _members(em: Emulator, segment: SegmentRecord, lst: ListRecord, order: str) -> list[SubscriberRecord]:
    stamp = (*em.list_stamp(lst.list_id), repr(segment.rule_groups))
    return em.cached(
        ("segment", segment.segment_id, order),
        stamp,
        lambda: [s for s in em.subscribers(lst, "Active", order) if in_segment(lst, segment, s)],
    )


def get_segment(em: Emulator, rq: ApiRequest) -> Reply:
    segment, lst = em.segment(rq.caller, rq.path["segmentid"])
    return ok(
        {
            "ActiveSubscribers": len(_members(em, segment, lst, "email")),
            "RuleGroups": copy.deepcopy(segment.rule_groups),
            "ListID": segment.list_id,
            "SegmentID": segment.segment_id,
            "Title": segment.title,
        }
    )


def get_segment_active(em: Emulator, rq: ApiRequest) -> Reply:
    segment, lst = em.segment(rq.caller, rq.path["segmentid"])
    since = parse_since(rq.params.get("date"))
    p = paging(rq.params, default_order="email")
    tracking = as_bool(rq.params.get("includetrackingpreference")) or as_bool(
        rq.params.get("includetrackinginformation")
    )
    sms = as_bool(rq.params.get("includesmspreference"))
    members = _members(em, segment, lst, p.order_field)
    if since is not None:
        members = [s for s in members if s.date >= since]

    def build(s: SubscriberRecord) -> dict[str, Any]:
        return subscriber_item(s, tracking=tracking, sms=sms, reads_email_with=False)

    return ok(paged(members, 0, len(members), p, build, p.order_field))


CAMPAIGN_REPORTS = (
    ("opens", open_item),
    ("clicks", click_item),
    ("unsubscribes", unsubscribe_item),
    ("spam", spam_item),
    ("bounces", bounce_item),
)
JOURNEY_REPORTS = (
    ("recipients", journey_recipient_item),
    ("opens", journey_open_item),
    ("clicks", journey_click_item),
    ("unsubscribes", journey_unsubscribe_item),
    ("bounces", journey_bounce_item),
)

ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/campaigns/{campaignid}/summary.json", get_campaign_summary),
    ("GET", "/campaigns/{campaignid}/listsandsegments.json", get_lists_and_segments),
    ("GET", "/campaigns/{campaignid}/recipients.json", get_recipients),
    *[("GET", f"/campaigns/{{campaignid}}/{kind}.json", campaign_report(kind, b)) for kind, b in CAMPAIGN_REPORTS],
    ("GET", "/journeys/{journeyid}.json", get_journey),
    *[("GET", f"/journeys/email/{{emailid}}/{kind}.json", journey_report(kind, b)) for kind, b in JOURNEY_REPORTS],
    ("GET", "/segments/{segmentid}.json", get_segment),
    ("GET", "/segments/{segmentid}/active.json", get_segment_active),
]
