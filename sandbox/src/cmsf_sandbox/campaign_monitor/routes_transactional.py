"""Transactional routes (JSON only, no .json suffix): smart emails (list, details, send), classic email (send,
groups), the message timeline, message details (with statistics), resend, and statistics.

Conventions of the reference (§1.3, §1.4, §2.10): IDs are dashed GUIDs; CreatedAt and SentAt are ISO 8601 with the
client's offset; the Date of an open or click is "YYYY-MM-DD HH:MM:SS" in the client's zone; sends answer 202 with
one {"MessageID", "Recipient", "Status": "Received"} per recipient. Codes and messages are Campaign Monitor's
transactional error registry (the reference's §1.7 and its source, the transcribed error table); where it gives
none, the choice is said beside the code. Every route first checks the plan (code 980).

An account key or OAuth token names the client with `clientID`; a client key implies its client. A message is
Received when sent; the clock advance (`/admin/advance`) delivers or bounces it and produces its opens and clicks
(dataset_transactional.py).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cmsf_sandbox.campaign_monitor.common import (
    ApiError,
    Reply,
    as_bool,
    as_text,
    bad_request,
    fmt,
    ok,
    valid_email,
)
from cmsf_sandbox.campaign_monitor.routes_subscribers import upsert, validate
from cmsf_sandbox.campaign_monitor.state import ApiRequest, Emulator, Handler
from cmsf_sandbox.campaign_monitor.world import (
    ZONES,
    ClientRecord,
    MessageRecord,
    SmartEmailRecord,
    TrackingEvent,
)
from cmsf_sandbox.dataset_transactional import local_iso, new_message_id

MAX_RECIPIENTS = 25
MAX_RECIPIENT_LENGTH = 250
MAX_DATA_BYTES = 100 * 1024
MAX_COUNT = 200
DEFAULT_COUNT = 50
PREVIEW_HOST = "https://sandbox.createsend.test"
CONSENT_VALUES = {"yes": "Yes", "no": "No", "unchanged": "Unchanged"}
SMART_STATUSES = ("all", "active", "draft")
TIMELINE_STATUSES = ("all", "delivered", "bounced", "spam")
NAMED_RE = re.compile(r'^\s*"?([^"<]*?)"?\s*<([^<>]*)>\s*$')
MAIL_CLIENTS = (
    ("Apple Mail", "iOS", "Mobile"),
    ("Gmail", "Android", "Mobile"),
    ("Outlook 2016", "Windows", "Desktop"),
    ("Apple Mail", "OS X", "Desktop"),
    ("Gmail", "Web", "Webmail"),
)

NOT_ON_PLAN = "Transactional email is not available in your account"
GONE = "Original message can not be resent because it contained attachments or the content is no longer available."
# Not in the reference: no code is documented for sending a draft smart email. This one is unused in Campaign
# Monitor's registry, in its style (400 with a Code and a Message), so that a caller can tell it apart.
DRAFT_CODE = 929
DRAFT_MESSAGE = "The smart email is a draft: publish it before sending"


# ------------------------------------------------------------------------------------------ lookups


def _guid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return "-" in value


def _check_plan(em: Emulator, client: ClientRecord) -> None:
    world = em.world
    if not world.transactional or client.client_id in world.transactional_off:
        raise bad_request(980, NOT_ON_PLAN)


def _client(em: Emulator, rq: ApiRequest) -> ClientRecord:
    """The client the call is for: `clientID`, or the client of a client key. Campaign Monitor asks an account key
    for clientID; the reference gives no code for leaving it out, so it is 102 Invalid ClientID, as for a wrong one."""
    client_id = rq.params.get("clientid")
    if client_id is None and rq.caller.client_ids is not None and len(rq.caller.client_ids) == 1:
        client_id = next(iter(rq.caller.client_ids))
    if client_id is None:
        raise ApiError(401, 102, "Invalid ClientID")
    client = em.client(rq.caller, client_id)
    _check_plan(em, client)
    return client


def _smart_email(em: Emulator, rq: ApiRequest) -> tuple[SmartEmailRecord, ClientRecord]:
    """The smart email of the path. The reference gives codes for a smartEmailID parameter (925 not a GUID, 926 not
    found); the path's ID gets the same ones."""
    smart_id = rq.path["smartemailid"]
    if not _guid(smart_id):
        raise bad_request(925, "Invalid smartEmailID")
    smart = em.world.smart_emails.get(smart_id.lower())
    wanted = rq.params.get("clientid")
    if smart is None or not rq.caller.sees(smart.client_id) or (wanted is not None and wanted != smart.client_id):
        raise bad_request(926, "Smart email not found")
    client = em.world.clients[smart.client_id]
    _check_plan(em, client)
    return smart, client


def _message(em: Emulator, rq: ApiRequest) -> tuple[MessageRecord, ClientRecord]:
    message_id = rq.path["messageid"]
    message = em.world.messages.get(message_id.lower())
    if message is None or not rq.caller.sees(message.client_id):
        raise bad_request(302, "Invalid Message ID")
    client = em.world.clients[message.client_id]
    _check_plan(em, client)
    return message, client


def _body(rq: ApiRequest) -> dict[str, Any]:
    if rq.body is None:
        return {}
    if not isinstance(rq.body, dict):
        raise bad_request(400, "The body must be a JSON object")
    return rq.body


# ---------------------------------------------------------------------------------------- validation


def _addresses(value: Any) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise bad_request(1, "Invalid Email Address")
    return [item.strip() for item in items if item.strip()]


def parse_recipient(text: str) -> tuple[str, str]:
    """("Joe Smith", "joe@example.com") of "Joe Smith <joe@example.com>", '"Joe" <joe@…>' or a bare address."""
    named = NAMED_RE.match(text)
    if named:
        return named.group(1).strip(), named.group(2).strip()
    return "", text.strip()


def _recipients(body: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """To, CC and BCC: at least one (952), at most 25 in all (954), each at most 250 characters (953) and valid (1)."""
    to, cc, bcc = (_addresses(body.get(key)) for key in ("to", "cc", "bcc"))
    total = len(to) + len(cc) + len(bcc)
    if total == 0:
        raise bad_request(952, "Recipient Required")
    if total > MAX_RECIPIENTS:
        raise bad_request(954, f"{total} email addresses specified across To, Cc and Bcc. The limit is 25")
    for text in (*to, *cc, *bcc):
        if len(text) > MAX_RECIPIENT_LENGTH:
            raise bad_request(953, "Recipient too long")
        if not valid_email(parse_recipient(text)[1]):
            raise bad_request(1, "Invalid Email Address")
    return to, cc, bcc


def _consent(body: dict[str, Any]) -> str:
    value = CONSENT_VALUES.get(as_text(body.get("consenttotrack")).strip().lower())
    if value is None:
        raise bad_request(974, "Consent to track value is invalid or not provided")
    return value


def _data(rq: ApiRequest, body: dict[str, Any]) -> dict[str, Any]:
    """The Data object with its keys as sent (the body's other keys are matched case-insensitively)."""
    raw = rq.raw if isinstance(rq.raw, dict) else {}
    data = next((value for key, value in raw.items() if str(key).lower() == "data"), body.get("data"))
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise bad_request(400, "Data must be a JSON object")
    if len(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")) > MAX_DATA_BYTES:
        raise bad_request(996, "Data field is too large. The maximum size is 100 KB.")
    return data


def _attachments(body: dict[str, Any]) -> list[tuple[str, str]]:
    value = body.get("attachments")
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad_request(981, "Attachment name is required")
    found = []
    for item in value:
        item = item if isinstance(item, dict) else {}
        name, kind = as_text(item.get("name")).strip(), as_text(item.get("type")).strip()
        if not name:
            raise bad_request(981, "Attachment name is required")
        if not kind:
            raise bad_request(982, "Attachment type is required")
        try:
            base64.b64decode(as_text(item.get("content")), validate=True)
        except (binascii.Error, ValueError):
            raise bad_request(984, "Invalid attachment content") from None
        found.append((name, kind))
    return found


def _flag(body: dict[str, Any], key: str, code: int, title: str) -> bool:
    value = body.get(key)
    if value is None:
        return True
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise bad_request(code, title)


def _fill(template: str, data: dict[str, Any]) -> str:
    """The smart email's variables ([name]) replaced by the send's Data; a variable not given is left empty."""

    def value(match: re.Match[str]) -> str:
        found = data.get(match.group(1))
        if found is None:
            found = next((v for k, v in data.items() if k.lower() == match.group(1).lower()), "")
        return as_text(found) if not isinstance(found, (dict, list)) else json.dumps(found)

    return re.sub(r"\[([A-Za-z0-9_]+)\]", value, template)


# ----------------------------------------------------------------------------------------- sending


def _send(
    em: Emulator,
    client: ClientRecord,
    recipients: tuple[list[str], list[str], list[str]],
    *,
    template: MessageRecord,
) -> list[MessageRecord]:
    """One message per recipient (To, CC and BCC alike), Received, copied from `template`."""
    now = em.now_utc()
    to, cc, bcc = recipients
    sent = []
    for text in (*to, *cc, *bcc):
        message = MessageRecord(
            message_id=new_message_id(em.world),
            client_id=client.client_id,
            sent_at=now,
            recipient=text,
            email=parse_recipient(text)[1],
            from_address=template.from_address,
            subject=template.subject,
            to=list(to),
            cc=list(cc),
            bcc=list(bcc),
            attachments=list(template.attachments),
            html=template.html,
            text=template.text,
            data=dict(template.data),
            smart_email_id=template.smart_email_id,
            group=template.group,
            consent_to_track=template.consent_to_track,
            track_opens=template.track_opens,
            track_clicks=template.track_clicks,
        )
        em.world.messages[message.message_id] = message
        sent.append(message)
    return sent


def _accepted(messages: list[MessageRecord]) -> Reply:
    return Reply(202, [{"MessageID": m.message_id, "Recipient": m.recipient, "Status": "Received"} for m in messages])


def _add_to_list(em: Emulator, client: ClientRecord, list_id: str, recipients: list[str], consent: str) -> None:
    """Recipients not yet on the list are added as a sign-up would add them; those already there are left alone."""
    lst = em.world.lists.get(list_id)
    if lst is None:
        return
    now = em.local_now(client)
    for text in recipients:
        name, email = parse_recipient(text)
        if email.lower() in lst.subscribers:
            continue
        item = validate({"emailaddress": email, "name": name, "consenttotrack": consent}, consent_required=True)
        upsert(em, lst, client, item, resubscribe=False, now=now)


def post_smart_send(em: Emulator, rq: ApiRequest) -> Reply:
    smart, client = _smart_email(em, rq)
    if smart.status != "active":
        raise bad_request(DRAFT_CODE, DRAFT_MESSAGE)
    body = _body(rq)
    recipients = _recipients(body)
    consent = _consent(body)
    data = _data(rq, body)
    attachments = _attachments(body)
    template = MessageRecord(
        message_id="",
        client_id=client.client_id,
        sent_at=em.now_utc(),
        recipient="",
        email="",
        from_address=smart.from_address,
        subject=_fill(smart.subject, data),
        attachments=attachments,
        html=_fill(smart.html, data),
        text=_fill(smart.text, data),
        data=data,
        smart_email_id=smart.smart_email_id,
        consent_to_track=consent,
    )
    sent = _send(em, client, recipients, template=template)
    if as_bool(body.get("addrecipientstolist")) and smart.list_id:
        _add_to_list(em, client, smart.list_id, [*recipients[0], *recipients[1], *recipients[2]], consent)
    return _accepted(sent)


def post_classic_send(em: Emulator, rq: ApiRequest) -> Reply:
    client = _client(em, rq)
    body = _body(rq)
    sender = as_text(body.get("from")).strip()
    if len(sender) > MAX_RECIPIENT_LENGTH:
        raise bad_request(958, "Long From details")
    if not valid_email(parse_recipient(sender)[1]):
        raise bad_request(957, "From Required")
    reply_to = as_text(body.get("replyto")).strip()
    if reply_to and not valid_email(parse_recipient(reply_to)[1]):
        raise bad_request(955, "Invalid Reply-To address")
    recipients = _recipients(body)
    html, text = as_text(body.get("html")), as_text(body.get("text"))
    if not html.strip() and not text.strip():
        raise bad_request(960, "Content is required")
    track_opens = _flag(body, "trackopens", 971, "TrackOpens parameter invalid")
    track_clicks = _flag(body, "trackclicks", 970, "TrackClicks parameter invalid")
    _flag(body, "inlinecss", 972, "InlineCSS parameter invalid")
    consent = _consent(body)
    attachments = _attachments(body)
    template = MessageRecord(
        message_id="",
        client_id=client.client_id,
        sent_at=em.now_utc(),
        recipient="",
        email="",
        from_address=sender,
        subject=as_text(body.get("subject")),
        attachments=attachments,
        html=html,
        text=text,
        group=as_text(body.get("group")).strip(),
        consent_to_track=consent,
        track_opens=track_opens,
        track_clicks=track_clicks,
    )
    return _accepted(_send(em, client, recipients, template=template))


# ----------------------------------------------------------------------------------------- reading


def get_smart_emails(em: Emulator, rq: ApiRequest) -> Reply:
    client = _client(em, rq)
    status = rq.params.get("status", "all").lower()
    if status not in SMART_STATUSES:
        raise bad_request(932, "Invalid status parameter")
    return ok(
        [
            {
                "ID": smart.smart_email_id,
                "Name": smart.name,
                "CreatedAt": local_iso(smart.created_at, client.time_zone),
                "Status": smart.status.title(),
            }
            for smart in em.world.smart_emails.values()
            if smart.client_id == client.client_id and status in ("all", smart.status)
        ]
    )


def get_smart_email(em: Emulator, rq: ApiRequest) -> Reply:
    smart, client = _smart_email(em, rq)
    preview = f"{PREVIEW_HOST}/t/r-{smart.smart_email_id.replace('-', '')[:16].upper()}/"
    return ok(
        {
            "SmartEmailID": smart.smart_email_id,
            "Name": smart.name,
            "CreatedAt": local_iso(smart.created_at, client.time_zone),
            "Status": smart.status,
            "Properties": {
                "From": smart.from_address,
                "ReplyTo": smart.reply_to,
                "Subject": smart.subject,
                "Content": {
                    "HTML": smart.html,
                    "Text": smart.text,
                    "EmailVariables": list(smart.email_variables),
                    "InlineCss": smart.inline_css,
                },
                "TextPreviewUrl": preview + "T",
                "HtmlPreviewUrl": preview,
            },
            "AddRecipientsToList": smart.add_recipients_to_list,
        }
    )


def get_groups(em: Emulator, rq: ApiRequest) -> Reply:
    client = _client(em, rq)
    first: dict[str, MessageRecord] = {}
    for message in em.world.messages.values():
        if message.client_id == client.client_id and message.group and message.group not in first:
            first[message.group] = message
    return ok([{"Group": group, "CreatedAt": local_iso(m.sent_at, client.time_zone)} for group, m in first.items()])


def _can_be_resent(message: MessageRecord) -> bool:
    return not message.attachments


def _summary(message: MessageRecord, client: ClientRecord) -> dict[str, Any]:
    item: dict[str, Any] = {
        "MessageID": message.message_id,
        "Status": message.status,
        "SentAt": local_iso(message.sent_at, client.time_zone),
        "Recipient": message.recipient,
        "From": message.from_address,
        "Subject": message.subject,
        "TotalOpens": len(message.opens),
        "TotalClicks": len(message.clicks),
        "CanBeResent": _can_be_resent(message),
    }
    _origin(item, message)
    _bounce(item, message)
    return item


def _origin(item: dict[str, Any], message: MessageRecord) -> None:
    if message.smart_email_id:
        item["SmartEmailID"] = message.smart_email_id
    elif message.group:
        item["Group"] = message.group


def _bounce(item: dict[str, Any], message: MessageRecord) -> None:
    if message.status == "Bounced":
        item["BounceType"] = message.bounce_type
        item["BounceCategory"] = message.bounce_category


def _geo(event: TrackingEvent) -> dict[str, Any]:
    return {
        "Latitude": event.latitude,
        "Longitude": event.longitude,
        "City": event.city,
        "Region": event.region,
        "CountryCode": event.country_code,
        "CountryName": event.country_name,
    }


def _mail_client(email: str) -> dict[str, str]:
    name, system, device = MAIL_CLIENTS[sum(email.lower().encode()) % len(MAIL_CLIENTS)]
    return {"Name": name, "OS": system, "Device": device}


def get_message(em: Emulator, rq: ApiRequest) -> Reply:
    message, client = _message(em, rq)
    statistics = rq.params.get("statistics", "false").lower()
    if statistics not in ("true", "false"):
        raise bad_request(935, "Invalid statistics parameter")
    body: dict[str, Any] = {
        "From": message.from_address,
        "Subject": message.subject,
        "To": list(message.to),
        "CC": list(message.cc),
        "BCC": list(message.bcc),
        "Attachments": [{"Name": name, "Type": kind} for name, kind in message.attachments],
    }
    if not as_bool(rq.params.get("excludemessagebody")):
        body["Body"] = {"Html": message.html, "Text": message.text}
    body["Data"] = dict(message.data)
    item: dict[str, Any] = {
        "MessageID": message.message_id,
        "Status": message.status,
        "SentAt": local_iso(message.sent_at, client.time_zone),
    }
    _origin(item, message)
    item.update(CanBeResent=_can_be_resent(message), Recipient=message.recipient, Message=body)
    item.update(TotalOpens=len(message.opens), TotalClicks=len(message.clicks))
    _bounce(item, message)
    if statistics == "true":
        item["Opens"] = [
            {
                "EmailAddress": e.email,
                "Date": fmt(e.date),
                "IPAddress": e.ip_address,
                "Geolocation": _geo(e),
                "MailClient": _mail_client(e.email),
            }
            for e in message.opens
        ]
        item["Clicks"] = [
            {
                "EmailAddress": e.email,
                "Date": fmt(e.date),
                "IPAddress": e.ip_address,
                "URL": e.url,
                "Geolocation": _geo(e),
            }
            for e in message.clicks
        ]
    return ok(item)


def _pivot(em: Emulator, rq: ApiRequest, name: str, code: int) -> int | None:
    """The position of a sentBeforeID / sentAfterID message in the sending order. The reference's code is for an
    invalid GUID; an unknown message (or another client's) gets the same code."""
    value = rq.params.get(name)
    if value is None:
        return None
    message = em.world.messages.get(value.lower()) if _guid(value) else None
    if message is None or not rq.caller.sees(message.client_id):
        raise bad_request(code, f"Invalid {name}")
    return list(em.world.messages).index(message.message_id)


def get_messages(em: Emulator, rq: ApiRequest) -> Reply:
    """The timeline, newest first. sentBeforeID: the `count` sent just before that message; sentAfterID: the `count`
    sent just after it (so a reader moving forward misses none)."""
    client = _client(em, rq)
    status = rq.params.get("status", "all").lower()
    if status not in TIMELINE_STATUSES:
        # Not in the reference: the timeline's status code is not documented; 932 is the smart email list's.
        raise bad_request(932, "Invalid status parameter")
    try:
        count = int(rq.params.get("count", str(DEFAULT_COUNT)))
    except ValueError:
        raise bad_request(850, "Invalid count") from None
    if not 1 <= count <= MAX_COUNT:
        raise bad_request(850, "Invalid count")
    before = _pivot(em, rq, "sentbeforeid", 904)
    after = _pivot(em, rq, "sentafterid", 905)
    smart_id, group = rq.params.get("smartemailid"), rq.params.get("group")
    if smart_id is not None and group is not None:
        raise bad_request(924, "Conflict between Group and Smart Email ID")
    if smart_id is not None:
        if not _guid(smart_id):
            raise bad_request(925, "Invalid smartEmailID")
        smart = em.world.smart_emails.get(smart_id.lower())
        if smart is None or smart.client_id != client.client_id:
            raise bad_request(926, "Smart email not found")
    chosen = []
    for index, message in enumerate(em.world.messages.values()):
        if message.client_id != client.client_id:
            continue
        if status != "all" and message.status.lower() != status:
            continue
        if smart_id is not None and message.smart_email_id.lower() != smart_id.lower():
            continue
        if group is not None and message.group != group:
            continue
        if (before is not None and index >= before) or (after is not None and index <= after):
            continue
        chosen.append(message)
    page = chosen[:count] if after is not None and before is None else chosen[-count:]
    return ok([_summary(message, client) for message in reversed(page)])


def post_resend(em: Emulator, rq: ApiRequest) -> Reply:
    message, _client = _message(em, rq)
    if not _can_be_resent(message):
        raise ApiError(410, 410, GONE)
    template = MessageRecord(**{**message.__dict__, "opens": [], "clicks": []})
    template.status, template.bounce_type, template.bounce_category = "Received", "", ""
    again = MessageRecord(
        **{**template.__dict__, "message_id": new_message_id(em.world), "sent_at": em.now_utc()},
    )
    again.resent_from = message.message_id
    em.world.messages[again.message_id] = again
    return Reply(202, {"Status": "Accepted", "Recipient": again.recipient, "MessageID": again.message_id})


def _day(value: str | None, code: int, default: datetime) -> datetime:
    if value is None:
        return default
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        try:
            return datetime.strptime(value.strip(), "%Y-%m-%d")
        except ValueError:
            pass
    raise bad_request(code, "Invalid from date" if code == 920 else "Invalid to date")


def get_statistics(em: Emulator, rq: ApiRequest) -> Reply:
    client = _client(em, rq)
    zone_name = rq.params.get("timezone", "client").lower()
    if zone_name not in ("client", "utc"):
        raise bad_request(923, "Invalid Timezone")
    zone = ZoneInfo("Etc/UTC" if zone_name == "utc" else ZONES[client.time_zone])
    today = em.now_utc().astimezone(zone).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
    start = _day(rq.params.get("from"), 920, today - timedelta(days=30))
    end = _day(rq.params.get("to"), 922, today)
    if start > end:
        raise bad_request(921, "Invalid from date")
    smart_id, group = rq.params.get("smartemailid"), rq.params.get("group")
    if smart_id is not None and group is not None:
        raise bad_request(924, "Conflict between Group and Smart Email ID")
    if smart_id is not None and not _guid(smart_id):
        raise bad_request(925, "Invalid smartEmailID")
    query: dict[str, Any] = {}
    if smart_id is not None:
        query["SmartEmailID"] = smart_id
    elif group is not None:
        query["Group"] = group
    query.update(
        From=start.strftime("%Y-%m-%d"),
        To=end.strftime("%Y-%m-%d"),
        TimeZone="UTC" if zone_name == "utc" else client.time_zone,
    )
    counts = dict.fromkeys(("Sent", "Bounces", "Delivered", "Opened", "Clicked"), 0)
    for message in em.world.messages.values():
        if message.client_id != client.client_id:
            continue
        if smart_id is not None and message.smart_email_id.lower() != smart_id.lower():
            continue
        if group is not None and message.group != group:
            continue
        day = message.sent_at.astimezone(zone).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
        if not start <= day <= end:
            continue
        counts["Sent"] += 1
        counts["Bounces"] += message.status == "Bounced"
        counts["Delivered"] += message.status == "Delivered"
        counts["Opened"] += bool(message.opens)
        counts["Clicked"] += bool(message.clicks)
    return ok({"Query": query, **counts})


ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/transactional/smartEmail", get_smart_emails),
    ("GET", "/transactional/smartEmail/{smartemailid}", get_smart_email),
    ("POST", "/transactional/smartEmail/{smartemailid}/send", post_smart_send),
    ("POST", "/transactional/classicEmail/send", post_classic_send),
    ("GET", "/transactional/classicEmail/groups", get_groups),
    ("GET", "/transactional/messages", get_messages),
    ("GET", "/transactional/messages/{messageid}", get_message),
    ("POST", "/transactional/messages/{messageid}/resend", post_resend),
    ("GET", "/transactional/statistics", get_statistics),
]
