"""Transactional email in the sandbox: the smart emails a generated account starts with, and what happens to a sent
message as the emulator's clock moves on (delivered or bounced, then opened and clicked).

Both are deterministic: the smart emails in the world's size and seed (from a random stream of their own, so the
rest of the dataset is the same with or without them), a message's fate in the world's seed and its message ID.
Standard library only; nothing of cmsf's own clients.
"""

from __future__ import annotations

import random
import re
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from cmsf_sandbox.campaign_monitor.world import (
    ZONES,
    MessageRecord,
    SmartEmailRecord,
    TrackingEvent,
    World,
)
from cmsf_sandbox.dataset_sim import CLIENT_PROFILES, geo_of_email

OPEN_SHARE = 0.6  # of delivered messages whose recipient may be tracked, the share opened
CLICK_SHARE = 0.35  # of opened messages with a link, the share clicked
DELIVERY_DELAY = (2, 20)  # seconds after the send
BOUNCE_DELAY = (5, 60)
FIRST_OPEN_DELAY = (30, 1200)  # seconds after delivery
REOPEN_DELAY = (60, 2 * 86400)
CLICK_DELAY = (5, 300)  # seconds after the open it follows
BOUNCING_DOMAIN = ".invalid"  # RFC 2606: addresses there never exist, so they bounce
MESSAGE_KEYS = ("messages_delivered", "messages_bounced", "message_opens", "message_clicks")
HREF_RE = re.compile(r"""href=["'](https?://[^"']+)["']""", re.IGNORECASE)

# (name, subject, variables, draft): what each client of a generated account has.
_SMART_EMAILS = (
    ("Welcome email", "Welcome to {company}, [firstname]!", ("firstname", "account_url"), False),
    ("Reset password", "[firstname], your password has been reset", ("firstname", "reset_url"), False),
    ("Order receipt", "Your order [order_number] is confirmed", ("firstname", "order_number", "order_total"), False),
    ("Case closed survey", "How did we do, [firstname]?", ("firstname", "case_number", "survey_url"), False),
    ("Renewal reminder (draft)", "Your membership renews on [renewal_date]", ("firstname", "renewal_date"), True),
)


def dashed_guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def local_iso(moment: datetime, cm_zone: str) -> str:
    """An aware moment as ISO 8601 with the offset of a client's zone: "2015-05-15T16:09:19-05:00"."""
    return moment.astimezone(ZoneInfo(ZONES[cm_zone])).isoformat(timespec="seconds")


def _content(company: str, domain: str, variables: tuple[str, ...]) -> tuple[str, str]:
    lines = [f"<p>Hello [{variables[0]}],</p>"]
    lines += [f"<p>{name.replace('_', ' ').capitalize()}: [{name}]</p>" for name in variables[1:]]
    lines.append(f'<p><a href="https://www.{domain}/">{company}</a></p>')
    html = "<html><body>" + "".join(lines) + "</body></html>"
    text = "\n".join(re.sub(r"<[^>]+>", "", line) for line in lines) + f"\nhttps://www.{domain}/"
    return html, text


def add_smart_emails(world: World) -> None:
    """Five smart emails per client (four active, one draft), with their email variables; the welcome email adds its
    recipients to the client's first list."""
    rng = random.Random(f"cmsf-smart-emails:{world.size}:{world.seed}")
    for client in world.clients.values():
        profile = next((p for p in CLIENT_PROFILES if p.company == client.company_name), CLIENT_PROFILES[0])
        team = f'"{client.company_name}" <hello@{profile.domain}>'
        for index, (name, subject, variables, draft) in enumerate(_SMART_EMAILS):
            html, text = _content(client.company_name, profile.domain, variables)
            created = world.generated_until - timedelta(days=400 - 60 * index, seconds=rng.randint(0, 86399))
            record = SmartEmailRecord(
                smart_email_id=dashed_guid(rng),
                client_id=client.client_id,
                name=name,
                created_at=created.astimezone(UTC),
                status="draft" if draft else "active",
                from_address=team,
                reply_to=f"support@{profile.domain}",
                subject=subject.format(company=client.company_name),
                html=html,
                text=text,
                email_variables=list(variables),
                add_recipients_to_list=index == 0 and bool(client.list_ids),
                list_id=client.list_ids[0] if index == 0 and client.list_ids else "",
            )
            world.smart_emails[record.smart_email_id] = record


def new_message_id(world: World) -> str:
    """The next message's ID: deterministic in the world's seed and how many messages were sent before."""
    return dashed_guid(random.Random(f"cmsf-tx-message:{world.seed}:{len(world.messages)}"))


def bounces(world: World, client_id: str, email: str) -> bool:
    """The dataset's bouncing addresses: bounced on one of the client's lists, suppressed as a bounce, or on a domain
    that cannot exist (.invalid)."""
    lower = email.strip().lower()
    if lower.endswith(BOUNCING_DOMAIN):
        return True
    client = world.clients.get(client_id)
    if client is None:
        return False
    suppressed = client.suppression.get(lower)
    if suppressed is not None and suppressed.reason == "Bounced":
        return True
    for list_id in client.list_ids:
        lst = world.lists.get(list_id)
        subscriber = lst.subscribers.get(lower) if lst is not None else None
        if subscriber is not None and subscriber.state == "Bounced":
            return True
    return False


def _event(moment: datetime, zone: str, email: str, ip: str, geo: tuple, url: str = "") -> TrackingEvent:
    local = moment.astimezone(ZoneInfo(ZONES[zone])).replace(tzinfo=None, microsecond=0)
    return TrackingEvent(
        date=local,
        email=email,
        ip_address=ip,
        latitude=geo[2],
        longitude=geo[3],
        city=geo[4],
        region=geo[5],
        country_code=geo[6],
        country_name=geo[7],
        url=url,
    )


def _fate(world: World, message: MessageRecord, zone: str, until: datetime) -> None:
    """Set the message's status, bounce and opens and clicks as they stand at `until` (aware UTC)."""
    rng = random.Random(f"cmsf-tx-fate:{world.seed}:{message.message_id}")
    sent = message.sent_at
    if bounces(world, message.client_id, message.email):
        bounced = sent + timedelta(seconds=rng.randint(*BOUNCE_DELAY))
        if bounced <= until:
            message.status, message.bounce_type, message.bounce_category = "Bounced", "Hard", "Hard"
        return
    delivered = sent + timedelta(seconds=rng.randint(*DELIVERY_DELAY))
    if delivered > until:
        return
    message.status = "Delivered"
    tracked = message.track_opens and message.consent_to_track.lower() != "no"
    if not tracked or rng.random() >= OPEN_SHARE:
        return
    geo = geo_of_email(message.email.lower())
    opens_at = [delivered + timedelta(seconds=rng.randint(*FIRST_OPEN_DELAY))]
    for _ in range(int(rng.random() < 0.4) + int(rng.random() < 0.15)):
        opens_at.append(opens_at[-1] + timedelta(seconds=rng.randint(*REOPEN_DELAY)))
    links = HREF_RE.findall(message.html)
    click_at = None
    if links and message.track_clicks and rng.random() < CLICK_SHARE:
        click_at = opens_at[0] + timedelta(seconds=rng.randint(*CLICK_DELAY))
        link = links[rng.randrange(len(links))]
    message.opens = [_event(at, zone, message.email, geo[0], geo) for at in opens_at if at <= until]
    message.clicks = []
    if click_at is not None and click_at <= until:
        message.clicks = [_event(click_at, zone, message.email, geo[0], geo, link)]


def advance_messages(world: World, until: datetime) -> dict[str, int]:
    """Every message still moving (received, or sent in the last 30 days) brought to `until`: delivered or bounced,
    opened and clicked. Counts what changed."""
    counts = dict.fromkeys(MESSAGE_KEYS, 0)
    horizon = until - timedelta(days=30)
    for message in world.messages.values():
        if message.sent_at > until or (message.status != "Received" and message.sent_at < horizon):
            continue
        client = world.clients.get(message.client_id)
        if client is None:
            continue
        before = (message.status, len(message.opens), len(message.clicks))
        _fate(world, message, client.time_zone, until)
        if message.status != before[0]:
            counts["messages_delivered" if message.status == "Delivered" else "messages_bounced"] += 1
        counts["message_opens"] += max(0, len(message.opens) - before[1])
        counts["message_clicks"] += max(0, len(message.clicks) - before[2])
    return counts
