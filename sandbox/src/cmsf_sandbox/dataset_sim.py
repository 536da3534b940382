"""What the generation of the sandbox's Campaign Monitor dataset and its advance share: the vocabulary (clients'
profiles, contacts, readers, notes), the clock of a client's zone, and the simulation of sends (members, lists,
clients, rates, outboxes, delivery, unsubscribes). See dataset.py for how the history is made.

No Django and nothing of cmsf's own clients: standard library only.
"""

from __future__ import annotations

import math
import random
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from cmsf_sandbox.campaign_monitor.world import (
    ZONES,
    ClientRecord,
    CustomFieldDef,
    ListRecord,
    TrackingEvent,
    local_to_utc,
)
from cmsf_sandbox.people import (
    CITIES,
    CITY_BY_NAME,
    COUNTRY_NAMES,
    SIZES,
    Person,
    ascii_fold,
)

HOURS_BEHIND_NOW = 3  # the history ends this long before `now`
SANDBOX_HOST = "https://sandbox.createsend.test"
REDIRECT_URI = "https://127.0.0.1/oauth/callback"
TAG_VOCABULARY = (
    "Newsletter",
    "Promotion",
    "Product launch",
    "Event",
    "Re-engagement",
    "Seasonal",
    "Survey",
    "Announcement",
    "VIP",
)
JOURNEY_DELAYS = (0, 2 * 86400, 7 * 86400)  # after joining, when each journey e-mail goes out

DAY = 86400
INF = 1 << 62
_EPOCH = datetime(1970, 1, 1)


@dataclass(frozen=True)
class _Profile:
    clients: int
    lists_per_client: int
    campaigns: int
    journeys_per_client: int
    history_days: int
    skew: float  # campaigns go to clients by weight ** skew: bigger clients send more often


_PROFILES: dict[str, _Profile] = {
    "tiny": _Profile(clients=2, lists_per_client=2, campaigns=10, journeys_per_client=1, history_days=420, skew=1.5),
    "small": _Profile(clients=3, lists_per_client=3, campaigns=40, journeys_per_client=1, history_days=430, skew=1.5),
    "medium": _Profile(clients=4, lists_per_client=4, campaigns=150, journeys_per_client=2, history_days=450, skew=0.0),
    "large": _Profile(clients=5, lists_per_client=5, campaigns=160, journeys_per_client=2, history_days=460, skew=1.0),
}
CLIENT_WEIGHTS = (0.6, 0.2, 0.11, 0.06, 0.03)


# --------------------------------------------------------------------------------------- fixed tables


@dataclass(frozen=True)
class _ClientProfile:
    company: str
    domain: str
    lists: tuple[str, ...]
    paths: tuple[str, ...]
    social: str


CLIENT_PROFILES = (
    _ClientProfile(
        "Harbour & Vine Wines",
        "harbourvine.example.com",
        ("Newsletter", "Cellar Club", "Tasting Events", "Trade Customers", "Wholesale Enquiries"),
        ("shop/new-releases", "cellar-club/join", "events/tastings", "shop/reds", "shop/sale", "blog/pairing-guide"),
        "harbourvine",
    ),
    _ClientProfile(
        "Northwind Outdoor Co.",
        "northwind-outdoor.example.com",
        ("Adventure Newsletter", "Loyalty Program", "Product Updates", "Retail Partners", "Webinar Attendees"),
        ("gear/tents", "gear/jackets", "loyalty/rewards", "stores/locator", "sale/end-of-season", "guides/hiking"),
        "northwindoutdoor",
    ),
    _ClientProfile(
        "Café Lumière",
        "cafe-lumiere.example.com",
        ("Newsletter", "Carte Fidélité", "Événements", "B2B", "Recrutement"),
        ("menu/saison", "fidelite", "evenements/degustation", "boutique/cafe-en-grains", "recrutement", "blog"),
        "cafelumiere",
    ),
    _ClientProfile(
        "Kōwhai Health",
        "kowhai-health.example.com",
        ("Patient Newsletter", "Clinic Updates", "Wellness Tips", "Practitioners", "Research Panel"),
        ("clinics/book", "wellness/sleep", "wellness/nutrition", "research/join", "news/flu-season", "contact"),
        "kowhaihealth",
    ),
    _ClientProfile(
        "Bright Bytes Academy",
        "brightbytes.example.com",
        ("Students", "Alumni", "Course Updates", "Partners", "Webinar Registrants"),
        ("courses/python", "courses/data", "webinars/upcoming", "alumni/stories", "pricing", "blog/career-tips"),
        "brightbytes",
    ),
)

CM_COUNTRY = {
    "Australia/Sydney": "Australia",
    "America/New_York": "United States of America",
    "Europe/London": "United Kingdom",
    "America/Los_Angeles": "United States of America",
    "Europe/Berlin": "Germany",
    "Asia/Kolkata": "India",
    "Etc/UTC": "Iceland",
}

CONTACTS = ("Olivia Bennett", "Tomás Herrera", "Aiko Tanaka", "Priya Nair", "Lukas Becker", "Chloé Martin")

# (campaign name, subject, tags that go with it)
THEMES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("{month} newsletter", "Your {month} update from {company}", ("Newsletter",)),
    ("Weekly digest", "This week at {company}", ("Newsletter",)),
    ("Spring sale", "🌸 Spring sale: 20% off everything", ("Promotion", "Seasonal")),
    ("New arrivals", "Just in: new arrivals you'll love", ("Product launch",)),
    ("Launch announcement", "Introducing something new from {company}", ("Product launch", "Announcement")),
    ("Event invitation", "You're invited, [firstname,fallback=friend]!", ("Event",)),
    ("We miss you", "It's been a while, [firstname,fallback=there] 👋", ("Re-engagement",)),
    ("Customer survey", "Tell us what you think (2 minutes)", ("Survey",)),
    ("Black Friday", "Black Friday: our best prices of the year", ("Promotion", "Seasonal")),
    ("Holiday hours", "Holiday opening hours 🎄", ("Announcement", "Seasonal")),
    ("VIP preview", "VIP early access starts now", ("VIP", "Promotion")),
    ("Résumé du mois", "Les nouveautés du mois — {company}", ("Newsletter",)),
)

JOURNEY_PLANS = (
    ("Welcome series", ("Welcome", "Getting to know us", "Your first offer")),
    ("Onboarding", ("Start here", "Tips & tricks", "How are we doing?")),
)

_SOFT_REASONS = (
    "Soft Bounce - Mailbox Full",
    "Soft Bounce - General",
    "Soft Bounce - Transient",
    "Soft Bounce - DNS Failure",
    "Soft Bounce - Message Too Large",
    "Bounce - But No Email Address Returned ",
)
READERS = (
    "Gmail",
    "Gmail",
    "Apple Mail 16",
    "iPhone",
    "iPhone",
    "Outlook 2016",
    "Outlook.com",
    "Yahoo! Mail",
    "Android",
    "iPad",
    "Samsung Mail",
    "Thunderbird",
)

_NOTES = (
    "Met at the trade show in Sydney.",
    "Prefers email over phone.",
    "VIP — handle with care ✨",
    "Asked about wholesale pricing; follow up next quarter.",
    "Allergic to nuts (from the event RSVP).",
    "Spricht Deutsch und Englisch, bevorzugt Deutsch.",
    "Client fidèle depuis 2015, préfère être contacté le matin.",
    "顧客メモ：丁寧な対応を希望。",  # noqa: RUF001
    "Клиент просит звонить после 18:00.",
    "Επικοινωνία μόνο με email.",
    "يفضل التواصل باللغة العربية.",
    "מעדיף הודעות בוואטסאפ.",
    "कृपया हिंदी में संपर्क करें।",
    "Long-time subscriber; referred three friends.",
    "Imported from the 2019 spreadsheet — check the address.",
)

# name, data type, options
_FieldSpec = tuple[str, str, tuple[str, ...]]
_TEXT_FIELDS: tuple[_FieldSpec, ...] = (
    ("Company", "Text", ()),
    ("Job Title", "Text", ()),
    ("Notes", "Text", ()),
    ("Website", "Text", ()),
    ("Favourite Product", "Text", ()),
)
_NUMBER_FIELDS: tuple[_FieldSpec, ...] = (
    ("Age", "Number", ()),
    ("Loyalty Points", "Number", ()),
    ("Orders", "Number", ()),
)
_DATE_FIELDS: tuple[_FieldSpec, ...] = (
    ("Birthday", "Date", ()),
    ("Subscription Date", "Date", ()),
    ("Last Purchase", "Date", ()),
)
_ONE_FIELDS: tuple[_FieldSpec, ...] = (
    ("Membership Level", "MultiSelectOne", ("Bronze", "Silver", "Gold", "Platinum")),
    ("Preferred Language", "MultiSelectOne", ("English", "Español", "Français", "Deutsch", "日本語", "العربية")),
    ("Salary Range", "MultiSelectOne", ("£0-20k", "£20-30k", "£30k+")),
)
_MANY_FIELDS: tuple[_FieldSpec, ...] = (
    ("Interests", "MultiSelectMany", ("Wine", "Travel", "Cooking", "Books", "Music", "Sport", "Gardening")),
    ("Preferred Channels", "MultiSelectMany", ("Email", "SMS", "Phone", "Post")),
    (
        "Product Categories",
        "MultiSelectMany",
        ("New arrivals", "Sale", "Gift cards", "Accessories", "Limited editions"),
    ),
)
_US_STATES = ("California", "New York", "Texas", "Washington", "Illinois", "Massachusetts", "Florida", "Colorado")


def field_key(name: str) -> str:
    """Campaign Monitor's key of a custom field: "[subscriptiondate]" for "Subscription Date"."""
    return "[" + name.lower().replace(" ", "") + "]"


# ------------------------------------------------------------------------------------------- helpers


def new_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(128):032x}"


def hex16(rng: random.Random) -> str:
    return f"{rng.getrandbits(64):016X}"


def new_api_key(rng: random.Random) -> str:
    return f"{rng.getrandbits(192):048x}"


def aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, product, count = math.exp(-mean), rng.random(), 0
    while product > limit:
        product *= rng.random()
        count += 1
    return count


class Clock:
    """UTC seconds -> the naive client-local datetime, fast (offsets cached per half hour), never past `ceiling`."""

    __slots__ = ("_back", "_cache", "ceiling", "tz", "zone")

    def __init__(self, cm_zone: str, ceiling: datetime) -> None:
        self.zone = cm_zone
        self.tz = ZoneInfo(ZONES[cm_zone])
        self.ceiling = ceiling
        self._cache: dict[int, int] = {}
        self._back: dict[int, int] = {}

    def local(self, ts: int) -> datetime:
        bucket = ts // 1800
        offset = self._cache.get(bucket)
        if offset is None:
            delta = datetime.fromtimestamp(bucket * 1800, UTC).astimezone(self.tz).utcoffset()
            offset = int(delta.total_seconds()) if delta is not None else 0
            self._cache[bucket] = offset
        moment = _EPOCH + timedelta(seconds=ts + offset)
        return moment if moment <= self.ceiling else self.ceiling

    def utc(self, local: datetime) -> int:
        """A naive local time -> UTC seconds, as `local_to_utc` does (zone offsets only change on the half hour)."""
        naive = int((local - _EPOCH).total_seconds())
        bucket = naive // 1800
        offset = self._back.get(bucket)
        if offset is None:
            offset = _utc_seconds(_EPOCH + timedelta(seconds=bucket * 1800), self.zone) - bucket * 1800
            self._back[bucket] = offset
        return naive + offset


def _utc_seconds(local: datetime, cm_zone: str) -> int:
    return int(local_to_utc(local, cm_zone).timestamp())


# The geography of one person's opens: (home ip, other ip, latitude, longitude, city, region, code, country).
Geo = tuple[str, str, float, float, str, str, str, str]


def geo_of_city(rng: random.Random, city_name: str) -> Geo:
    city = CITY_BY_NAME.get(city_name) or CITIES[0]
    home = f"{city.ip_prefix}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    other = f"{city.ip_prefix}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    return (home, other, city.latitude, city.longitude, city.name, city.region, city.country_code, city.country_name)


def geo_of_email(lower: str) -> Geo:
    """A stable geography for an address the generator knows nothing else about."""
    bits = zlib.crc32(lower.encode())
    city = CITIES[bits % len(CITIES)]
    home = f"{city.ip_prefix}.{(bits >> 8) & 255}.{1 + (bits >> 16) % 254}"
    other = f"{city.ip_prefix}.{(bits >> 24) & 255}.{1 + (bits >> 4) % 254}"
    return (home, other, city.latitude, city.longitude, city.name, city.region, city.country_code, city.country_name)


# ------------------------------------------------------------------------------------ the simulation


class Member:
    """One person on one list while the history is simulated (becomes a SubscriberRecord)."""

    __slots__ = (
        "dead",
        "email",
        "end",
        "end_state",
        "geo",
        "join",
        "lower",
        "lst",
        "mult",
        "opened",
        "pending",
        "pidx",
        "rec",
        "track",
        "unconfirmed",
    )

    def __init__(self, lower: str, email: str, lst: ListSim, pidx: int, join: int) -> None:
        self.lower = lower
        self.email = email
        self.lst = lst
        self.rec: tuple[str, str] = (email, lst.record.list_id)
        self.pidx = pidx
        self.join = join
        self.end = INF  # when it stops being active (state end_state); INF: still active
        self.end_state = "Active"
        self.pending = False  # the end comes from a tracked event (unsubscribe, spam, hard bounce)
        self.unconfirmed = False
        self.track = True
        self.mult = 1.0
        self.dead = INF  # when the mailbox stopped accepting mail
        self.geo: Geo = ("", "", 0.0, 0.0, "", "", "", "")
        self.opened = False


class ListSim:
    __slots__ = ("client", "members", "record")

    def __init__(self, record: ListRecord, client: ClientSim) -> None:
        self.record = record
        self.client = client
        self.members: list[Member] = []  # sorted by lower-case e-mail once filled


class ClientSim:
    __slots__ = ("by_lower", "clock", "lists", "profile", "record", "supp", "urls", "weight")

    def __init__(self, record: ClientRecord, profile: _ClientProfile, clock: Clock, weight: float) -> None:
        self.record = record
        self.profile = profile
        self.clock = clock
        self.weight = weight
        self.lists: list[ListSim] = []
        self.by_lower: dict[str, list[Member]] = {}
        self.supp: dict[str, tuple[int, str, str]] = {}  # lower e-mail -> (utc seconds, reason, e-mail)
        self.urls: list[str] = []

    def suppress(self, lower: str, email: str, ts: int, reason: str) -> None:
        current = self.supp.get(lower)
        if current is None or ts < current[0]:
            self.supp[lower] = (ts, reason, email)

    def suppressed(self, lower: str, ts: int) -> bool:
        entry = self.supp.get(lower)
        return entry is not None and entry[0] <= ts


@dataclass
class Rates:
    open: float  # chance a tracked recipient opens at least once (before the person's engagement)
    reopen: float  # chance of one more open after each open
    click: float  # chance an opener clicks
    unsubscribe: float
    spam: float
    soft_bounce: float


@dataclass
class Outbox:
    """Where one campaign's or journey e-mail's events go."""

    opens: list[TrackingEvent]
    clicks: list[TrackingEvent]
    unsubscribes: list[TrackingEvent]
    bounces: list[TrackingEvent]
    spam: list[TrackingEvent] | None
    urls: list[str]
    url_weights: list[float]


def _first_delay(rng: random.Random) -> int:
    """Seconds from delivery to the first open: most within hours, some over days."""
    roll = rng.random()
    if roll < 0.55:
        return 60 + int(rng.expovariate(1 / 5400))
    if roll < 0.87:
        return 600 + int(rng.expovariate(1 / 72000))
    return rng.randint(DAY, 20 * DAY)


def _repeat_delay(rng: random.Random) -> int:
    if rng.random() < 0.75:
        return 30 + int(rng.expovariate(1 / 14400))
    return rng.randint(DAY, 10 * DAY)


def deactivate(member: Member, ts: int, state: str) -> None:
    member.end = ts
    member.end_state = state
    member.pending = True


def unsubscribe_member(client: ClientSim, member: Member, ts: int) -> None:
    """An unsubscribe at `ts`: this list, the client's suppression list and, if so set, the client's other lists."""
    deactivate(member, ts, "Unsubscribed")
    record = member.lst.record
    if record.add_unsubscribes_to_supp_list:
        client.suppress(member.lower, member.email, ts, "Unsubscribed")
    if record.unsubscribe_setting == "AllClientLists":
        for other in client.by_lower.get(member.lower, ()):
            if other is not member and not other.pending and not other.unconfirmed and other.join <= ts < other.end:
                deactivate(other, ts, "Unsubscribed")


def deliver(
    rng: random.Random,
    client: ClientSim,
    member: Member,
    sent: int,
    limit: int,
    rates: Rates,
    out: Outbox,
) -> None:
    """What one recipient does with one e-mail sent at `sent` (UTC seconds), up to `limit`."""
    local = client.clock.local
    email, list_id = member.rec
    if member.dead <= sent:  # the mailbox is gone: a hard bounce
        when = sent + rng.randint(20, 1800)
        if not member.pending and when <= limit and when < member.end:
            out.bounces.append(
                TrackingEvent(date=local(when), email=email, list_id=list_id, bounce_type="Hard", reason="Hard Bounce")
            )
            deactivate(member, when, "Bounced")
            client.suppress(member.lower, email, when, "Bounced")
        return
    if rng.random() < rates.soft_bounce:
        when = sent + rng.randint(20, 7200)
        if when <= limit:
            reason = rng.choice(_SOFT_REASONS)
            out.bounces.append(
                TrackingEvent(date=local(when), email=email, list_id=list_id, bounce_type="Soft", reason=reason)
            )
        return
    geo = member.geo
    first_open = 0
    if member.track and rng.random() < rates.open * member.mult:
        when = sent + _first_delay(rng)
        count = 0
        while when <= limit:
            if not first_open:
                first_open = when
            ip = geo[0] if rng.random() < 0.85 else geo[1]
            out.opens.append(
                TrackingEvent(
                    date=local(when),
                    email=email,
                    list_id=list_id,
                    ip_address=ip,
                    latitude=geo[2],
                    longitude=geo[3],
                    city=geo[4],
                    region=geo[5],
                    country_code=geo[6],
                    country_name=geo[7],
                )
            )
            count += 1
            if count >= 15 or rng.random() >= rates.reopen:
                break
            when += _repeat_delay(rng)
        if first_open:
            member.opened = True
            if rng.random() < rates.click:
                when = first_open + rng.randint(3, 600)
                clicks = 0
                while when <= limit:
                    url = rng.choices(out.urls, out.url_weights)[0]
                    out.clicks.append(
                        TrackingEvent(
                            date=local(when),
                            email=email,
                            list_id=list_id,
                            ip_address=geo[0],
                            latitude=geo[2],
                            longitude=geo[3],
                            city=geo[4],
                            region=geo[5],
                            country_code=geo[6],
                            country_name=geo[7],
                            url=url,
                        )
                    )
                    clicks += 1
                    if clicks >= 6 or rng.random() >= 0.45:
                        break
                    when += rng.randint(5, 900)
    roll = rng.random()
    if roll < rates.unsubscribe + rates.spam and not member.pending:
        when = (first_open or sent + _first_delay(rng)) + rng.randint(10, 900)
        if when > limit or when >= member.end:
            return
        if out.spam is not None and roll < rates.spam:
            out.spam.append(TrackingEvent(date=local(when), email=email, list_id=list_id))
            deactivate(member, when, "Unsubscribed")
            client.suppress(member.lower, email, when, "Spam complaint")
        else:
            out.unsubscribes.append(TrackingEvent(date=local(when), email=email, list_id=list_id, ip_address=geo[0]))
            unsubscribe_member(client, member, when)


def recipients_of(client: ClientSim, lists: list[ListSim], ts: int) -> list[Member]:
    """Who gets an e-mail sent at `ts` to these lists: active, not suppressed, once per address, by lower e-mail."""
    supp = client.supp
    chosen: dict[str, Member] = {}
    for lst in lists:
        for member in lst.members:
            if member.join <= ts < member.end and not member.unconfirmed and member.lower not in chosen:
                entry = supp.get(member.lower)
                if entry is None or entry[0] > ts:
                    chosen[member.lower] = member
    if len(lists) == 1:
        return list(chosen.values())
    return [chosen[lower] for lower in sorted(chosen)]


def campaign_rates(rng: random.Random) -> Rates:
    return Rates(
        open=rng.uniform(0.23, 0.33) / 0.84,
        reopen=rng.uniform(0.64, 0.72),
        click=rng.uniform(0.1, 0.18),
        unsubscribe=rng.uniform(0.001, 0.005),
        spam=rng.uniform(0.0001, 0.0005),
        soft_bounce=rng.uniform(0.006, 0.012),
    )


def journey_rates(rng: random.Random) -> Rates:
    return Rates(
        open=rng.uniform(0.38, 0.5) / 0.9,
        reopen=rng.uniform(0.35, 0.5),
        click=rng.uniform(0.12, 0.25),
        unsubscribe=rng.uniform(0.002, 0.006),
        spam=0.0,
        soft_bounce=rng.uniform(0.004, 0.01),
    )


# ------------------------------------------------------------------------------------- custom fields


def list_fields(rng: random.Random, first: bool, us_client: bool) -> list[_FieldSpec]:
    """One field of each type, a few extras; the first list of a client always has the long "Notes"."""
    text = [_TEXT_FIELDS[0]]
    text.append(_TEXT_FIELDS[2] if first or rng.random() < 0.6 else _TEXT_FIELDS[3])
    if rng.random() < 0.5:
        text.append(rng.choice([spec for spec in _TEXT_FIELDS if spec not in text]))
    fields = [
        *text,
        rng.choice(_NUMBER_FIELDS),
        rng.choice(_DATE_FIELDS),
        rng.choice(_ONE_FIELDS),
        rng.choice(_MANY_FIELDS),
        ("Country", "Country", ()),
    ]
    if us_client or rng.random() < 0.2:
        fields.append(("US State", "USState", ()))
    return fields


def _long_note(rng: random.Random) -> str:
    parts: list[str] = []
    while sum(len(part) + 1 for part in parts) < 260:
        parts.append(rng.choice(_NOTES))
    return " ".join(parts)[:250].rstrip() or "-"


def field_values(
    rng: random.Random, fields: Iterable[CustomFieldDef], person: Person, joined: datetime, long_note: bool
) -> list[tuple[str, str]]:
    values: list[tuple[str, str]] = []
    for field in fields:
        name, kind = field.name, field.data_type
        if kind == "Country":
            if rng.random() < 0.9:
                values.append((name, COUNTRY_NAMES.get(person.country_code, "Australia")))
            continue
        if rng.random() > 0.72 and not (long_note and name == "Notes"):
            continue
        if kind == "Text":
            if name == "Company":
                value = person.company
            elif name == "Job Title":
                value = person.job_title
            elif name == "Notes":
                value = _long_note(rng) if long_note or rng.random() < 0.06 else rng.choice(_NOTES)
            elif name == "Website":
                value = f"https://www.{ascii_fold(person.last_name) or 'home'}.example.com/"
            else:
                value = rng.choice(("Pinot Noir", "Trail runners", "Flat white", "Python course", "Gift card"))
            if value:
                values.append((name, value))
        elif kind == "Number":
            if name == "Age" and person.birthday:
                values.append((name, str(joined.year - int(person.birthday[:4]))))
            elif name != "Age":
                values.append((name, str(rng.choice((rng.randint(0, 40), rng.randint(0, 5000))))))
        elif kind == "Date":
            if name == "Birthday":
                if person.birthday:
                    values.append((name, person.birthday))
            elif name == "Subscription Date":
                values.append((name, joined.date().isoformat()))
            else:
                values.append((name, (joined - timedelta(days=rng.randint(0, 700))).date().isoformat()))
        elif kind == "MultiSelectOne":
            values.append((name, rng.choice(field.options)))
        elif kind == "MultiSelectMany":
            for option in rng.sample(field.options, rng.randint(1, min(3, len(field.options)))):
                values.append((name, option))
        elif kind == "USState" and person.country_code == "US":
            values.append((name, rng.choice(_US_STATES)))
    return values


# ------------------------------------------------------------------------------------ the generator


def sizes_check(size: str) -> _Profile:
    if size not in _PROFILES:
        raise ValueError(f"unknown size {size!r}: one of {', '.join(SIZES)}")
    return _PROFILES[size]


def business_time(rng: random.Random, ts: int, clock: Clock, cm_zone: str) -> int:
    """The same local day as `ts` (Monday if it fell on a weekend, mostly), at a business hour, on the minute."""
    day = clock.local(ts).replace(hour=0, minute=0, second=0)
    if day.weekday() >= 5 and rng.random() < 0.85:
        day += timedelta(days=7 - day.weekday())
    hour = min(17, max(7, round(rng.gauss(10.5, 2.2))))
    return _utc_seconds(day.replace(hour=hour, minute=rng.choice((0, 0, 0, 15, 30, 45, rng.randint(0, 59)))), cm_zone)
