"""Account and client routes: clients, system date, time zones, client details, lists, sent campaigns,
tags, segments, suppression list (read, suppress, unsuppress), journeys and lists-for-email."""

from __future__ import annotations

import re
from typing import Any

from cmsf_sandbox.campaign_monitor.common import (
    Reply,
    as_text,
    bad_request,
    empty_ok,
    fmt,
    ok,
    paged,
    paging,
    parse_day,
    valid_email,
)
from cmsf_sandbox.campaign_monitor.state import ApiRequest, Emulator, Handler
from cmsf_sandbox.campaign_monitor.world import (
    ZONES,
    CampaignRecord,
    ClientRecord,
    SuppressionRecord,
    utc_to_local,
)

# The zones Campaign Monitor lists that the sandbox does not give its clients, for a realistic listing.
MORE_ZONES = (
    "(GMT) Casablanca",
    "(GMT) Monrovia, Reykjavik",
    "(GMT+02:00) Athens, Bucharest",
    "(GMT+02:00) Helsinki, Kyiv, Riga, Sofia, Tallinn, Vilnius",
    "(GMT+03:00) Moscow, St. Petersburg",
    "(GMT+04:00) Abu Dhabi, Muscat",
    "(GMT+08:00) Beijing, Chongqing, Hong Kong, Urumqi",
    "(GMT+08:00) Perth",
    "(GMT+09:00) Osaka, Sapporo, Tokyo",
    "(GMT+09:30) Adelaide",
    "(GMT+10:00) Brisbane",
    "(GMT+12:00) Auckland, Wellington",
    "(GMT-03:00) Brasilia",
    "(GMT-06:00) Central Time (US & Canada)",
    "(GMT-07:00) Mountain Time (US & Canada)",
    "(GMT-10:00) Hawaii",
)
SUPPRESSION_ORDERS = ("email", "date")
MANUAL_REASON = "Manually added"


def _offset(zone: str) -> tuple[int, str]:
    match = re.match(r"\(GMT([+-])?(\d\d)?:?(\d\d)?\)", zone)
    if not match or not match.group(1):
        return 0, zone
    minutes = int(match.group(2)) * 60 + int(match.group(3) or 0)
    return (minutes if match.group(1) == "+" else -minutes), zone


def get_clients(em: Emulator, rq: ApiRequest) -> Reply:
    return ok([{"ClientID": c.client_id, "Name": c.company_name} for c in em.clients_for(rq.caller)])


def get_systemdate(em: Emulator, rq: ApiRequest) -> Reply:
    return ok({"SystemDate": fmt(utc_to_local(em.now_utc(), em.account_zone()))})


def get_timezones(em: Emulator, rq: ApiRequest) -> Reply:
    zones = sorted({*ZONES, *MORE_ZONES}, key=_offset)
    return ok(zones)


def _username(client: ClientRecord) -> str:
    return re.sub(r"[^a-z0-9]", "", client.company_name.lower())[:30] or client.client_id[:12]


def get_client(em: Emulator, rq: ApiRequest) -> Reply:
    c = em.client(rq.caller, rq.path["clientid"])
    return ok(
        {
            "ApiKey": c.api_key,
            "AccessDetails": {"Username": _username(c), "AccessLevel": 23},
            "BasicDetails": {
                "ClientID": c.client_id,
                "CompanyName": c.company_name,
                "ContactName": c.contact_name,
                "EmailAddress": c.email_address,
                "Country": c.country,
                "TimeZone": c.time_zone,
            },
            "BillingDetails": {
                "CanPurchaseCredits": True,
                "Credits": 500,
                "ClientPays": True,
                "BaseRatePerRecipient": 1.0,
                "MarkupPerRecipient": 0.0,
                "MarkupOnDelivery": 0.0,
                "BaseDeliveryRate": 5.0,
                "Currency": "USD",
                "BaseDesignSpamTestRate": 5.0,
            },
        }
    )


def _lists_of(em: Emulator, client: ClientRecord) -> list[Any]:
    return [lst for lst in em.world.lists.values() if lst.client_id == client.client_id]


def get_client_lists(em: Emulator, rq: ApiRequest) -> Reply:
    c = em.client(rq.caller, rq.path["clientid"])
    return ok([{"ListID": lst.list_id, "Name": lst.title} for lst in _lists_of(em, c)])


def campaign_item(c: CampaignRecord) -> dict[str, Any]:
    return {
        "WebVersionURL": c.web_version_url,
        "WebVersionTextURL": c.web_version_text_url,
        "CampaignID": c.campaign_id,
        "Subject": c.subject,
        "Name": c.name,
        "FromName": c.from_name,
        "FromEmail": c.from_email,
        "ReplyTo": c.reply_to,
        "SentDate": fmt(c.sent_date),
        "TotalRecipients": len(c.recipients),
        "Tags": list(c.tags),
    }


def _sent_campaigns(em: Emulator, client: ClientRecord) -> list[CampaignRecord]:
    def build() -> list[CampaignRecord]:
        found = [
            c
            for c in (em.world.campaigns.get(cid) for cid in client.campaign_ids)
            if c is not None and c.client_id == client.client_id
        ]
        return sorted(found, key=lambda c: (c.sent_date, c.campaign_id))

    stamp = (em.generation, len(client.campaign_ids), len(em.world.campaigns))
    return em.cached(("sent", client.client_id), stamp, build)


def get_client_campaigns(em: Emulator, rq: ApiRequest) -> Reply:
    c = em.client(rq.caller, rq.path["clientid"])
    params = {k: v for k, v in rq.params.items() if k != "orderfield"}  # the order is always SentDate
    p = paging(params, default_order="email", default_direction="desc")
    since = parse_day(rq.params.get("sentfromdate"), 920)
    until = parse_day(rq.params.get("senttodate"), 922)
    if since is not None and until is not None and since > until:
        raise bad_request(927, '"From Date" must be before "To Date"')
    tags = {t.strip().lower() for t in rq.params.get("tags", "").split(",") if t.strip()}
    campaigns = _sent_campaigns(em, c)
    if since is not None or until is not None or tags:
        campaigns = [
            x
            for x in campaigns
            if (since is None or x.sent_date.date() >= since.date())
            and (until is None or x.sent_date.date() <= until.date())
            and (not tags or any(t.lower() in tags for t in x.tags))
        ]
    return ok(paged(campaigns, 0, len(campaigns), p, campaign_item, "SentDate"))


def get_client_tags(em: Emulator, rq: ApiRequest) -> Reply:
    c = em.client(rq.caller, rq.path["clientid"])
    counts: dict[str, int] = {}
    for campaign in _sent_campaigns(em, c):
        for tag in campaign.tags:
            counts[tag] = counts.get(tag, 0) + 1
    return ok(
        [{"Name": name, "NumberOfCampaigns": n} for name, n in sorted(counts.items(), key=lambda t: t[0].lower())]
    )


def get_client_segments(em: Emulator, rq: ApiRequest) -> Reply:
    c = em.client(rq.caller, rq.path["clientid"])
    lists = {lst.list_id for lst in _lists_of(em, c)}
    return ok(
        [
            {"ListID": s.list_id, "SegmentID": s.segment_id, "Title": s.title}
            for s in em.world.segments.values()
            if s.list_id in lists
        ]
    )


def _suppression_item(s: SuppressionRecord) -> dict[str, Any]:
    return {"SuppressionReason": s.reason, "EmailAddress": s.email, "Date": fmt(s.date), "State": s.state}


def get_suppressionlist(em: Emulator, rq: ApiRequest) -> Reply:
    c = em.client(rq.caller, rq.path["clientid"])
    p = paging(rq.params, default_order="email", orders=SUPPRESSION_ORDERS)

    def build() -> list[SuppressionRecord]:
        if p.order_field == "date":
            return sorted(c.suppression.values(), key=lambda s: (s.date, s.email.lower()))
        return sorted(c.suppression.values(), key=lambda s: s.email.lower())

    rows = em.cached(("suppression", c.client_id, p.order_field), em.list_stamp("supp:" + c.client_id), build)
    return ok(paged(rows, 0, len(rows), p, _suppression_item, p.order_field))


def post_suppress(em: Emulator, rq: ApiRequest) -> Reply:
    c = em.client(rq.caller, rq.path["clientid"])
    body = rq.body if isinstance(rq.body, dict) else {}
    emails = body.get("emailaddresses", [])
    if isinstance(emails, str):
        emails = [emails]
    if not isinstance(emails, list):
        raise bad_request(1, "Invalid Email Address")
    texts = [as_text(e).strip() for e in emails]
    if any(not valid_email(e) for e in texts):
        raise bad_request(1, "Invalid Email Address")
    now = em.local_now(c)
    for email in texts:
        if email.lower() not in c.suppression:
            c.suppression[email.lower()] = SuppressionRecord(email=email, reason=MANUAL_REASON, date=now)
    em.touch("supp:" + c.client_id)
    return empty_ok()


def put_unsuppress(em: Emulator, rq: ApiRequest) -> Reply:
    c = em.client(rq.caller, rq.path["clientid"])
    email = rq.params.get("email", "").strip()
    if email.lower() not in c.suppression:
        raise bad_request(176, "Email address not in suppression list")
    del c.suppression[email.lower()]
    em.touch("supp:" + c.client_id)
    return empty_ok()


def get_client_journeys(em: Emulator, rq: ApiRequest) -> Reply:
    c = em.client(rq.caller, rq.path["clientid"])
    return ok(
        [
            {"ListID": j.list_id, "JourneyID": j.journey_id, "Name": j.name, "Status": j.status}
            for j in em.world.journeys.values()
            if j.client_id == c.client_id
        ]
    )


def get_lists_for_email(em: Emulator, rq: ApiRequest) -> Reply:
    c = em.client(rq.caller, rq.path["clientid"])
    email = rq.params.get("email", "").strip()
    if not valid_email(email):
        raise bad_request(1, "Invalid Email Address")
    found = []
    for lst in _lists_of(em, c):
        s = lst.subscribers.get(email.lower())
        if s is not None:
            found.append(
                {
                    "ListID": lst.list_id,
                    "ListName": lst.title,
                    "SubscriberState": s.state,
                    "DateSubscriberAdded": fmt(s.list_joined_date),
                }
            )
    return ok(found)


ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/clients.json", get_clients),
    ("GET", "/systemdate.json", get_systemdate),
    ("GET", "/timezones.json", get_timezones),
    ("GET", "/clients/{clientid}.json", get_client),
    ("GET", "/clients/{clientid}/lists.json", get_client_lists),
    ("GET", "/clients/{clientid}/campaigns.json", get_client_campaigns),
    ("GET", "/clients/{clientid}/tags.json", get_client_tags),
    ("GET", "/clients/{clientid}/segments.json", get_client_segments),
    ("GET", "/clients/{clientid}/suppressionlist.json", get_suppressionlist),
    ("POST", "/clients/{clientid}/suppress.json", post_suppress),
    ("PUT", "/clients/{clientid}/unsuppress.json", put_unsuppress),
    ("GET", "/clients/{clientid}/journeys.json", get_client_journeys),
    ("GET", "/clients/{clientid}/listsforemail.json", get_lists_for_email),
]
