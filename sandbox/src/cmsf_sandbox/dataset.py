"""The deterministic Campaign Monitor dataset of the sandbox: fills a `World` from a size and a seed.

`generate_world(size, seed, now)` builds an agency account whose history ends three hours before
`now`; `advance_world(world, until, now)` adds what happened since; `manifest(world)` counts what
is there so that the emulator's answers can be checked against it.

How the history is made: people (see `people.py`) join lists over three years; campaigns and journey
e-mails are sent in time order to whoever is active and not suppressed at that moment; each send may
bounce, be opened (again and again, fewer as days pass), clicked, unsubscribed from or reported as
spam. Unsubscribes, spam complaints and hard bounces change the subscriber's state at that moment and
feed the client's suppression list, so the reports and the lists agree. Everything is computed in
UTC seconds and stored as naive client-local datetimes, to the second.

No Django and nothing of cmsf's own clients: standard library only.
"""

from __future__ import annotations

import json
import math
import random
import zlib
from bisect import insort
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from cmsf_sandbox.campaign_monitor.world import (
    SUBSCRIBER_STATES,
    ZONES,
    CampaignRecord,
    ClientRecord,
    CustomFieldDef,
    JourneyEmailRecord,
    JourneyRecord,
    ListRecord,
    OAuthApp,
    SegmentRecord,
    SubscriberRecord,
    SuppressionRecord,
    TrackingEvent,
    World,
    local_to_utc,
)
from cmsf_sandbox.people import (
    CITIES,
    CITY_BY_NAME,
    COUNTRY_NAMES,
    SIZES,
    Person,
    ascii_fold,
    capitalised,
    generate_people,
    make_person,
)

__all__ = ["SIZES", "Person", "advance_world", "generate_people", "generate_world", "manifest", "write_manifest"]

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

_DAY = 86400
_INF = 1 << 62
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
_CLIENT_WEIGHTS = (0.6, 0.2, 0.11, 0.06, 0.03)


# --------------------------------------------------------------------------------------- fixed tables


@dataclass(frozen=True)
class _ClientProfile:
    company: str
    domain: str
    lists: tuple[str, ...]
    paths: tuple[str, ...]
    social: str


_CLIENT_PROFILES = (
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

_CM_COUNTRY = {
    "Australia/Sydney": "Australia",
    "America/New_York": "United States of America",
    "Europe/London": "United Kingdom",
    "America/Los_Angeles": "United States of America",
    "Europe/Berlin": "Germany",
    "Asia/Kolkata": "India",
    "Etc/UTC": "Iceland",
}

_CONTACTS = ("Olivia Bennett", "Tomás Herrera", "Aiko Tanaka", "Priya Nair", "Lukas Becker", "Chloé Martin")

# (campaign name, subject, tags that go with it)
_THEMES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
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

_JOURNEY_PLANS = (
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
_READERS = (
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


def _new_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(128):032x}"


def _hex16(rng: random.Random) -> str:
    return f"{rng.getrandbits(64):016X}"


def _api_key(rng: random.Random) -> str:
    return f"{rng.getrandbits(192):048x}"


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, product, count = math.exp(-mean), rng.random(), 0
    while product > limit:
        product *= rng.random()
        count += 1
    return count


class _Clock:
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
_Geo = tuple[str, str, float, float, str, str, str, str]


def _geo(rng: random.Random, city_name: str) -> _Geo:
    city = CITY_BY_NAME.get(city_name) or CITIES[0]
    home = f"{city.ip_prefix}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    other = f"{city.ip_prefix}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    return (home, other, city.latitude, city.longitude, city.name, city.region, city.country_code, city.country_name)


def _geo_of_email(lower: str) -> _Geo:
    """A stable geography for an address the generator knows nothing else about."""
    bits = zlib.crc32(lower.encode())
    city = CITIES[bits % len(CITIES)]
    home = f"{city.ip_prefix}.{(bits >> 8) & 255}.{1 + (bits >> 16) % 254}"
    other = f"{city.ip_prefix}.{(bits >> 24) & 255}.{1 + (bits >> 4) % 254}"
    return (home, other, city.latitude, city.longitude, city.name, city.region, city.country_code, city.country_name)


# ------------------------------------------------------------------------------------ the simulation


class _Member:
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

    def __init__(self, lower: str, email: str, lst: _ListSim, pidx: int, join: int) -> None:
        self.lower = lower
        self.email = email
        self.lst = lst
        self.rec: tuple[str, str] = (email, lst.record.list_id)
        self.pidx = pidx
        self.join = join
        self.end = _INF  # when it stops being active (state end_state); _INF: still active
        self.end_state = "Active"
        self.pending = False  # the end comes from a tracked event (unsubscribe, spam, hard bounce)
        self.unconfirmed = False
        self.track = True
        self.mult = 1.0
        self.dead = _INF  # when the mailbox stopped accepting mail
        self.geo: _Geo = ("", "", 0.0, 0.0, "", "", "", "")
        self.opened = False


class _ListSim:
    __slots__ = ("client", "members", "record")

    def __init__(self, record: ListRecord, client: _ClientSim) -> None:
        self.record = record
        self.client = client
        self.members: list[_Member] = []  # sorted by lower-case e-mail once filled


class _ClientSim:
    __slots__ = ("by_lower", "clock", "lists", "profile", "record", "supp", "urls", "weight")

    def __init__(self, record: ClientRecord, profile: _ClientProfile, clock: _Clock, weight: float) -> None:
        self.record = record
        self.profile = profile
        self.clock = clock
        self.weight = weight
        self.lists: list[_ListSim] = []
        self.by_lower: dict[str, list[_Member]] = {}
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
class _Rates:
    open: float  # chance a tracked recipient opens at least once (before the person's engagement)
    reopen: float  # chance of one more open after each open
    click: float  # chance an opener clicks
    unsubscribe: float
    spam: float
    soft_bounce: float


@dataclass
class _Outbox:
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
    return rng.randint(_DAY, 20 * _DAY)


def _repeat_delay(rng: random.Random) -> int:
    if rng.random() < 0.75:
        return 30 + int(rng.expovariate(1 / 14400))
    return rng.randint(_DAY, 10 * _DAY)


def _deactivate(member: _Member, ts: int, state: str) -> None:
    member.end = ts
    member.end_state = state
    member.pending = True


def _unsubscribe(client: _ClientSim, member: _Member, ts: int) -> None:
    """An unsubscribe at `ts`: this list, the client's suppression list and, if so set, the client's other lists."""
    _deactivate(member, ts, "Unsubscribed")
    record = member.lst.record
    if record.add_unsubscribes_to_supp_list:
        client.suppress(member.lower, member.email, ts, "Unsubscribed")
    if record.unsubscribe_setting == "AllClientLists":
        for other in client.by_lower.get(member.lower, ()):
            if other is not member and not other.pending and not other.unconfirmed and other.join <= ts < other.end:
                _deactivate(other, ts, "Unsubscribed")


def _deliver(
    rng: random.Random,
    client: _ClientSim,
    member: _Member,
    sent: int,
    limit: int,
    rates: _Rates,
    out: _Outbox,
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
            _deactivate(member, when, "Bounced")
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
            _deactivate(member, when, "Unsubscribed")
            client.suppress(member.lower, email, when, "Spam complaint")
        else:
            out.unsubscribes.append(TrackingEvent(date=local(when), email=email, list_id=list_id, ip_address=geo[0]))
            _unsubscribe(client, member, when)


def _recipients(client: _ClientSim, lists: list[_ListSim], ts: int) -> list[_Member]:
    """Who gets an e-mail sent at `ts` to these lists: active, not suppressed, once per address, by lower e-mail."""
    supp = client.supp
    chosen: dict[str, _Member] = {}
    for lst in lists:
        for member in lst.members:
            if member.join <= ts < member.end and not member.unconfirmed and member.lower not in chosen:
                entry = supp.get(member.lower)
                if entry is None or entry[0] > ts:
                    chosen[member.lower] = member
    if len(lists) == 1:
        return list(chosen.values())
    return [chosen[lower] for lower in sorted(chosen)]


def _campaign_rates(rng: random.Random) -> _Rates:
    return _Rates(
        open=rng.uniform(0.23, 0.33) / 0.84,
        reopen=rng.uniform(0.64, 0.72),
        click=rng.uniform(0.1, 0.18),
        unsubscribe=rng.uniform(0.001, 0.005),
        spam=rng.uniform(0.0001, 0.0005),
        soft_bounce=rng.uniform(0.006, 0.012),
    )


def _journey_rates(rng: random.Random) -> _Rates:
    return _Rates(
        open=rng.uniform(0.38, 0.5) / 0.9,
        reopen=rng.uniform(0.35, 0.5),
        click=rng.uniform(0.12, 0.25),
        unsubscribe=rng.uniform(0.002, 0.006),
        spam=0.0,
        soft_bounce=rng.uniform(0.004, 0.01),
    )


# ------------------------------------------------------------------------------------- custom fields


def _list_fields(rng: random.Random, first: bool, us_client: bool) -> list[_FieldSpec]:
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


def _field_values(
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


def _sizes_check(size: str) -> _Profile:
    if size not in _PROFILES:
        raise ValueError(f"unknown size {size!r}: one of {', '.join(SIZES)}")
    return _PROFILES[size]


def _business_time(rng: random.Random, ts: int, clock: _Clock, cm_zone: str) -> int:
    """The same local day as `ts` (Monday if it fell on a weekend, mostly), at a business hour, on the minute."""
    day = clock.local(ts).replace(hour=0, minute=0, second=0)
    if day.weekday() >= 5 and rng.random() < 0.85:
        day += timedelta(days=7 - day.weekday())
    hour = min(17, max(7, round(rng.gauss(10.5, 2.2))))
    return _utc_seconds(day.replace(hour=hour, minute=rng.choice((0, 0, 0, 15, 30, 45, rng.randint(0, 59)))), cm_zone)


def generate_world(size: str, seed: int, now: datetime | None = None) -> World:
    """The Campaign Monitor account of a sandbox: deterministic in (size, seed, now)."""
    return _Builder(size, seed, _aware(now) if now is not None else datetime.now(UTC)).build()


class _Builder:
    """Builds a world in steps: clients and lists, people's traits, memberships, planned changes, then the
    history (campaigns and journey e-mails in time order), then the records as they stand at the end."""

    def __init__(self, size: str, seed: int, now: datetime) -> None:
        self.profile = _sizes_check(size)
        self.generated_until = now - timedelta(hours=HOURS_BEHIND_NOW)
        self.gen_ts = math.floor(self.generated_until.timestamp())
        self.history_start = self.gen_ts - self.profile.history_days * _DAY
        self.rng = random.Random(f"cmsf-world:{size}:{seed}")
        self.people = generate_people(size, seed)
        self.world = World(
            seed=seed,
            size=size,
            account_api_key=_api_key(self.rng),
            account_name="Sandbox Agency (cmsf)",
            generated_until=self.generated_until,
        )
        self.clients: list[_ClientSim] = []
        self.members: list[_Member] = []
        self.actions: list[tuple[int, int, int, int, _Member | None]] = []  # (ts, seq, kind, plan, member)
        self.campaigns: list[tuple[_ClientSim, CampaignRecord, list[_ListSim], _Rates, _Outbox]] = []
        self.journey_emails: list[tuple[_ClientSim, JourneyEmailRecord, _Rates, _Outbox]] = []
        self.readers: list[str] = []

    def build(self) -> World:
        rng = self.rng
        self.world.oauth_app = OAuthApp(
            client_id=str(rng.randint(100000, 999999)),
            client_secret=f"{rng.getrandbits(256):064x}",
            redirect_uri=REDIRECT_URI,
        )
        self._clients()
        self._memberships()
        self._planned_changes()
        self._plan_campaigns()
        self._plan_journeys()
        self._simulate()
        self._finish_events()
        self._finish_lists()
        _add_segments(rng, self.world, self.clients, self.generated_until)
        return self.world

    def _clients(self) -> None:
        rng, profile = self.rng, self.profile
        weights = _CLIENT_WEIGHTS[: profile.clients]
        # Different zones, and not both of the two that share GMT in winter (London and UTC).
        zones = rng.sample(list(ZONES), len(ZONES))
        gmt = [zone for zone in zones if ZONES[zone] in ("Europe/London", "Etc/UTC")]
        if len(zones) - 1 >= profile.clients:
            zones.remove(gmt[1])
        for index, client_profile in enumerate(rng.sample(_CLIENT_PROFILES, profile.clients)):
            zone = zones[index]
            contact = rng.choice(_CONTACTS)
            record = ClientRecord(
                client_id=_new_id(rng),
                company_name=client_profile.company,
                contact_name=contact,
                email_address=f"{ascii_fold(contact.split()[0])}@{client_profile.domain}",
                country=_CM_COUNTRY[ZONES[zone]],
                time_zone=zone,
                api_key=_api_key(rng),
            )
            self.world.clients[record.client_id] = record
            clock = _Clock(zone, local_ceiling(self.generated_until, zone))
            client = _ClientSim(record, client_profile, clock, weights[index] / sum(weights))
            client.urls = [f"https://www.{client_profile.domain}/{path}" for path in client_profile.paths] + [
                f"https://www.instagram.com/{client_profile.social}/",
                f"https://www.facebook.com/{client_profile.social}",
            ]
            for list_index in range(profile.lists_per_client):
                client.lists.append(_ListSim(self._list(client, list_index), client))
            self.clients.append(client)

    def _list(self, client: _ClientSim, index: int) -> ListRecord:
        rng, domain = self.rng, client.profile.domain
        confirmed = index == 1 or (index > 1 and rng.random() < 0.3)
        record = ListRecord(
            list_id=_new_id(rng),
            client_id=client.record.client_id,
            title=client.profile.lists[index],
            confirmed_opt_in=confirmed,
            unsubscribe_page=f"https://www.{domain}/unsubscribed" if rng.random() < 0.5 else "",
            unsubscribe_setting="AllClientLists" if index == 0 or rng.random() < 0.5 else "OnlyThisList",
            confirmation_success_page=f"https://www.{domain}/thanks" if confirmed else "",
            add_unsubscribes_to_supp_list=index == 0 or rng.random() < 0.6,
            scrub_active_with_supp_list=rng.random() < 0.8,
        )
        us_client = client.record.country == "United States of America"
        for name, kind, options in _list_fields(rng, index == 0, us_client):
            key = field_key(name)
            record.custom_fields[key] = CustomFieldDef(
                name=name,
                key=key,
                data_type=kind,
                options=list(options),
                visible_in_preference_center=rng.random() < 0.7,
            )
        self.world.lists[record.list_id] = record
        client.record.list_ids.append(record.list_id)
        return record

    def _memberships(self) -> None:
        """Who is on which lists of which clients, since when, typed how; and each person's habits."""
        rng, gen_ts, start = self.rng, self.gen_ts, self.history_start
        count = len(self.people)
        dead = [_INF] * count
        for pidx in rng.sample(range(count), max(2, round(count * 0.012))):
            dead[pidx] = -_INF  # an address that never worked
        for pidx in rng.sample(range(count), max(3, round(count * 0.045))):
            if dead[pidx] == _INF:
                dead[pidx] = rng.randint(start, gen_ts)  # a mailbox that closed during the history
        mults = [2.2 if roll < 0.25 else 0.9 if roll < 0.7 else 0.3 for roll in (rng.random() for _ in range(count))]
        private = [rng.random() < 0.1 for _ in range(count)]
        geos = [_geo(rng, person.city) for person in self.people]
        self.readers = [rng.choice(_READERS) for _ in range(count)]
        client_weights = [client.weight for client in self.clients]
        three_years = gen_ts - 3 * 365 * _DAY
        case_variants = 0
        for pidx, person in enumerate(self.people):
            roll = rng.random()
            wanted = min(1 if roll < 0.74 else 2 if roll < 0.94 else 3, len(self.clients))
            chosen: list[_ClientSim] = []
            while len(chosen) < wanted:
                pick = rng.choices(self.clients, client_weights)[0]
                if pick not in chosen:
                    chosen.append(pick)
            if rng.random() < 0.75:
                base = rng.randint(three_years, start)
            else:
                base = start + int((gen_ts - start) * math.sqrt(rng.random()))
            lower = person.email.lower()
            for client in chosen:
                roll = rng.random()
                on = min(1 if roll < 0.72 else 2 if roll < 0.93 else 3, len(client.lists))
                list_weights = [3.0 / (1 + i) for i in range(len(client.lists))]
                picked: list[_ListSim] = []
                while len(picked) < on:
                    lst = rng.choices(client.lists, list_weights)[0]
                    if lst not in picked:
                        picked.append(lst)
                for order, lst in enumerate(picked):
                    email = person.email
                    if order > 0 and (case_variants < 4 or rng.random() < 0.08):
                        email = capitalised(lower) if person.email == lower else lower
                        case_variants += email != person.email
                    join = base if order == 0 else base + int((gen_ts - base) * rng.random() ** 3)
                    member = _Member(lower, email, lst, pidx, min(join - join % 60, gen_ts - 60))
                    member.dead = dead[pidx]
                    member.mult = mults[pidx]
                    member.track = not (private[pidx] and rng.random() < 0.9) and rng.random() >= 0.02
                    member.geo = geos[pidx]
                    lst.members.append(member)
                    client.by_lower.setdefault(lower, []).append(member)
                    self.members.append(member)
        for client in self.clients:
            for lst in client.lists:
                lst.members.sort(key=attrgetter("lower"))

    def _planned_changes(self) -> None:
        """Changes no e-mail causes: never confirmed, deleted, unsubscribed in the preference centre, suppressed
        by hand (some of those addresses are on no list at all)."""
        rng, gen_ts = self.rng, self.gen_ts
        on_confirmed_lists = [m for m in self.members if m.lst.record.confirmed_opt_in]
        for member in rng.sample(
            on_confirmed_lists, min(len(on_confirmed_lists), max(2, round(len(on_confirmed_lists) * 0.06)))
        ):
            member.unconfirmed = True
        eligible = [m for m in self.members if not m.unconfirmed and m.join < gen_ts - 2 * 3600]
        for position, member in enumerate(
            rng.sample(eligible, min(len(eligible), max(4, round(len(eligible) * 0.055))))
        ):
            member.end = rng.randint(member.join + 3600, gen_ts)
            member.end_state = "Deleted" if position % 8 < 5 else "Unsubscribed"
            if member.end_state == "Unsubscribed" and member.lst.record.add_unsubscribes_to_supp_list:
                member.lst.client.suppress(member.lower, member.email, member.end, "Unsubscribed")
        for client in self.clients:
            for _ in range(max(2, round(len(client.by_lower) * 0.004))):
                email = self.people[rng.randrange(len(self.people))].email
                client.suppress(email.lower(), email, rng.randint(self.history_start, gen_ts - 3600), "Manually added")

    def _plan_campaigns(self) -> None:
        rng, gen_ts = self.rng, self.gen_ts
        shares = [client.weight**self.profile.skew for client in self.clients]
        counts = [max(2, round(self.profile.campaigns * share / sum(shares))) for share in shares]
        counts[0] = max(2, counts[0] + self.profile.campaigns - sum(counts))
        for client_index, client in enumerate(self.clients):
            zone = client.record.time_zone
            moments = sorted(rng.randint(self.history_start, gen_ts - 6 * 3600) for _ in range(counts[client_index]))
            if client_index == 0:
                moments[0] = self.history_start + rng.randint(0, 4 * _DAY)  # more than a year of history
                moments[-1] = gen_ts - rng.randint(20 * 3600, 30 * 3600)  # a campaign still collecting opens
            names: set[str] = set()
            for moment in moments:
                sent = _business_time(rng, moment, client.clock, zone)
                while sent > gen_ts - 4 * 3600:
                    sent -= _DAY
                campaign = _plan_campaign(rng, client, sent, names)
                lists = [lst for lst in client.lists if lst.record.list_id in campaign.list_ids]
                self.actions.append((sent, len(self.actions), 0, len(self.campaigns), None))
                self.campaigns.append(
                    (client, campaign, lists, _campaign_rates(rng), _outbox_for(rng, client, campaign))
                )
        # However few the campaigns, some have no tag and some have several.
        first_client = [plan[1] for plan in self.campaigns if plan[0] is self.clients[0]]
        first_client[0].tags = []
        if not any(len(campaign.tags) > 1 for campaign in first_client):
            first_client[-1].tags = rng.sample(TAG_VOCABULARY, 2)

    def _plan_journeys(self) -> None:
        rng, gen_ts = self.rng, self.gen_ts
        for client in self.clients:
            for journey_index in range(self.profile.journeys_per_client):
                lst = client.lists[journey_index % len(client.lists)]
                name, email_names = _JOURNEY_PLANS[journey_index % len(_JOURNEY_PLANS)]
                journey = JourneyRecord(
                    journey_id=_new_id(rng),
                    client_id=client.record.client_id,
                    list_id=lst.record.list_id,
                    name=name,
                    status="Active" if journey_index == 0 or rng.random() < 0.5 else "Paused",
                )
                started = gen_ts - rng.randint(240, 400) * _DAY
                stopped = gen_ts - rng.randint(10, 120) * _DAY if journey.status == "Paused" else _INF
                for email_index in range(rng.randint(2, 3)):
                    email = JourneyEmailRecord(email_id=_new_id(rng), name=email_names[email_index])
                    journey.emails.append(email)
                    self.world.journey_emails[email.email_id] = email
                    outbox = _Outbox(
                        email.opens,
                        email.clicks,
                        email.unsubscribes,
                        email.bounces,
                        None,
                        client.urls[:3],
                        [3.0, 2.0, 1.0],
                    )
                    plan = len(self.journey_emails)
                    self.journey_emails.append((client, email, _journey_rates(rng), outbox))
                    for member in lst.members:
                        if member.join < started or member.unconfirmed:
                            continue
                        sent = member.join + JOURNEY_DELAYS[email_index] + rng.randint(60, 900)
                        if sent <= gen_ts and sent < stopped:
                            self.actions.append((sent, len(self.actions), 1, plan, member))
                self.world.journeys[journey.journey_id] = journey
                client.record.journey_ids.append(journey.journey_id)

    def _simulate(self) -> None:
        """The history in time order: each send goes to whoever is active and not suppressed at that moment."""
        rng, gen_ts = self.rng, self.gen_ts
        self.actions.sort()
        for sent, _seq, kind, plan, target in self.actions:
            if kind == 0:
                client, campaign, lists, rates, outbox = self.campaigns[plan]
                recipients = _recipients(client, lists, sent)
                campaign.recipients = [member.rec for member in recipients]
                for member in recipients:
                    _deliver(rng, client, member, sent, gen_ts, rates, outbox)
            elif target is not None:
                client, email, rates, outbox = self.journey_emails[plan]
                if target.join <= sent < target.end and not client.suppressed(target.lower, sent):
                    email.recipients.append(
                        TrackingEvent(date=client.clock.local(sent), email=target.rec[0], list_id=target.rec[1])
                    )
                    _deliver(rng, client, target, sent, gen_ts, rates, outbox)

    def _finish_events(self) -> None:
        by_date = attrgetter("date")
        for _client, campaign, _lists, _rates, _outbox in self.campaigns:
            for events in (campaign.opens, campaign.clicks, campaign.unsubscribes, campaign.spam, campaign.bounces):
                events.sort(key=by_date)
        for client in self.clients:
            mine = sorted((c for owner, c, *_ in self.campaigns if owner is client), key=attrgetter("sent_date"))
            for campaign in mine:
                self.world.campaigns[campaign.campaign_id] = campaign
            client.record.campaign_ids = [campaign.campaign_id for campaign in mine]
        for _client, email, _rates, _outbox in self.journey_emails:
            for events in (email.recipients, email.opens, email.clicks, email.unsubscribes, email.bounces):
                events.sort(key=by_date)

    def _finish_lists(self) -> None:
        """The lists as they stand at the end, and the suppression lists."""
        rng, gen_ts = self.rng, self.gen_ts
        for client in self.clients:
            local = client.clock.local
            for lst in client.lists:
                fields = list(lst.record.custom_fields.values())
                has_notes = "[notes]" in lst.record.custom_fields
                for position, member in enumerate(lst.members):
                    person = self.people[member.pidx]
                    joined = local(member.join)
                    if member.unconfirmed:
                        state, changed = "Unconfirmed", joined
                    elif member.end <= gen_ts:
                        state, changed = member.end_state, max(joined, local(member.end))
                    else:
                        state, changed = "Active", joined
                    mobile = person.mobile_e164 if person.mobile_e164 and rng.random() < 0.5 else ""
                    roll = rng.random()
                    name = "" if roll < 0.03 else person.first_name if roll < 0.06 else person.name
                    lst.record.subscribers[member.lower] = SubscriberRecord(
                        email=member.email,
                        name=name,
                        state=state,
                        date=changed,
                        list_joined_date=joined,
                        custom_fields=_field_values(rng, fields, person, joined, has_notes and position < 2),
                        consent_to_track="Yes" if member.track else "No",
                        mobile_number=mobile,
                        consent_to_send_sms=("Yes" if rng.random() < 0.65 else "No") if mobile else "No",
                        reads_email_with=self.readers[member.pidx] if member.opened else "",
                    )
            for lower in sorted(client.supp):
                ts, reason, email = client.supp[lower]
                if ts <= gen_ts:
                    client.record.suppression[lower] = SuppressionRecord(email=email, reason=reason, date=local(ts))


def local_ceiling(generated_until: datetime, cm_zone: str) -> datetime:
    """`generated_until` as the client's naive local time, to the second: nothing is dated later."""
    return generated_until.astimezone(ZoneInfo(ZONES[cm_zone])).replace(tzinfo=None, microsecond=0)


def _plan_campaign(rng: random.Random, client: _ClientSim, sent: int, names: set[str]) -> CampaignRecord:
    record, cp = client.record, client.profile
    local = client.clock.local(sent)
    name, subject, theme_tags = rng.choice(_THEMES)
    month = local.strftime("%B")
    name = name.format(month=month)
    subject = subject.format(month=month, company=cp.company)
    full = f"{name} — {local:%Y-%m-%d}"
    copy = 2
    while full in names:
        full = f"{name} — {local:%Y-%m-%d} ({copy})"
        copy += 1
    names.add(full)
    tags: list[str] = []
    roll = rng.random()
    if roll >= 0.25:
        tags = list(theme_tags)
        if roll > 0.8:
            extra = rng.choice(TAG_VOCABULARY)
            if extra not in tags:
                tags.append(extra)
    list_ids = [lst.record.list_id for lst in client.lists]
    if len(list_ids) > 1 and rng.random() < 0.2:
        list_ids = rng.sample(list_ids, rng.randint(1, len(list_ids) - 1))
        list_ids.sort(key=record.list_ids.index)
    code = _hex16(rng)
    return CampaignRecord(
        campaign_id=_new_id(rng),
        client_id=record.client_id,
        name=full,
        subject=subject,
        from_name=cp.company,
        from_email=f"news@{cp.domain}",
        reply_to=f"hello@{cp.domain}" if rng.random() < 0.7 else f"news@{cp.domain}",
        sent_date=local,
        tags=tags,
        list_ids=list_ids,
        web_version_url=f"{SANDBOX_HOST}/t/r-{code}",
        web_version_text_url=f"{SANDBOX_HOST}/t/r-{code}/t",
        worldview_url=f"{SANDBOX_HOST}/reports/wv/r/{code}",
        forwards=rng.randint(0, 12),
        likes=rng.randint(0, 8),
        mentions=rng.randint(0, 4),
    )


def _outbox_for(rng: random.Random, client: _ClientSim, campaign: CampaignRecord) -> _Outbox:
    urls = rng.sample(client.urls, rng.randint(3, 6))
    slug = ascii_fold(campaign.name)[:40]
    urls = [
        f"{url}?utm_source=campaignmonitor&utm_medium=email&utm_campaign={slug}" if "example" in url else url
        for url in urls
    ]
    return _Outbox(
        campaign.opens,
        campaign.clicks,
        campaign.unsubscribes,
        campaign.bounces,
        campaign.spam,
        urls,
        [1.0 / (1 + i) for i in range(len(urls))],
    )


def _add_segments(rng: random.Random, world: World, clients: list[_ClientSim], generated_until: datetime) -> None:
    for client in clients:
        first = client.lists[0].record
        since = (generated_until - timedelta(days=180)).date().isoformat()
        candidates: list[tuple[ListRecord, str, list[dict[str, Any]]]] = [
            (
                first,
                "Example.com addresses",
                [{"Rules": [{"RuleType": "EmailAddress", "Clause": "CONTAINS @example.com"}]}],
            ),
            (
                first,
                "Named, joined in the last six months",
                [
                    {"Rules": [{"RuleType": "Name", "Clause": "PROVIDED"}]},
                    {"Rules": [{"RuleType": "DateSubscribed", "Clause": f"AFTER {since}"}]},
                ],
            ),
        ]
        for lst in client.lists:
            for field in lst.record.custom_fields.values():
                if field.data_type == "MultiSelectOne" and len(candidates) < 4:
                    candidates.append(
                        (
                            lst.record,
                            f"{field.name}: {field.options[-1]}",
                            [{"Rules": [{"RuleType": field.key, "Clause": f"EQUALS {field.options[-1]}"}]}],
                        )
                    )
        for lst_record, title, groups in candidates[: 2 + rng.randint(0, 1)]:
            segment = SegmentRecord(
                segment_id=_new_id(rng), list_id=lst_record.list_id, title=title, rule_groups=groups
            )
            world.segments[segment.segment_id] = segment
            client.record.segment_ids.append(segment.segment_id)


# --------------------------------------------------------------------------------------- advancing


_ADVANCE_KEYS = ("opens", "clicks", "campaigns", "subscribers", "unsubscribes", "bounces", "spam", "journey_events")


def advance_world(world: World, until: datetime, now: datetime | None = None) -> dict[str, int]:
    """What happened between `world.generated_until` and min(until, now): new opens, clicks, unsubscribes,
    bounces, subscribers, journey e-mails and (over more than a day) campaigns. Deterministic in the world's
    seed and the span; dated strictly after the old `generated_until`; sets `generated_until`."""
    now = _aware(now) if now is not None else datetime.now(UTC)
    until = min(_aware(until), now)
    counts = dict.fromkeys(_ADVANCE_KEYS, 0)
    with world.lock:
        start = world.generated_until
        if until <= start:
            return counts
        low = math.floor(start.timestamp()) + 1  # whole seconds strictly after the old end
        high = math.floor(until.timestamp())
        if high >= low:
            rng = random.Random(f"cmsf-advance:{world.size}:{world.seed}:{low}:{high}")
            for client in world.clients.values():
                _Advance(rng, world, client, low, high, until, counts).run()
        world.generated_until = until
    return counts


def _decay_share(age_from: float, age_to: float, tau: float) -> float:
    """The share of an e-mail's opens that happen between these ages (days), opens decaying with `tau` days."""
    return math.exp(-max(0.0, age_from) / tau) - math.exp(-max(0.0, age_to) / tau)


def _decayed_moment(rng: random.Random, sent: int, low: int, high: int, tau: float) -> int:
    """A moment in [low, high] drawn from the decay after `sent`."""
    lo_age, hi_age = max(0, low - sent) / _DAY, max(0, high - sent) / _DAY
    a, b = math.exp(-lo_age / tau), math.exp(-hi_age / tau)
    value = a - rng.random() * (a - b)
    age = -tau * math.log(value) if value > 0 else hi_age
    return min(high, max(low, sent + int(age * _DAY)))


def _open_event(when: datetime, email: str, list_id: str, geo: _Geo) -> TrackingEvent:
    return TrackingEvent(
        date=when,
        email=email,
        list_id=list_id,
        ip_address=geo[0],
        latitude=geo[2],
        longitude=geo[3],
        city=geo[4],
        region=geo[5],
        country_code=geo[6],
        country_name=geo[7],
    )


def _geo_of_event(event: TrackingEvent) -> _Geo:
    return (
        event.ip_address,
        event.ip_address,
        event.latitude or 0.0,
        event.longitude or 0.0,
        event.city,
        event.region,
        event.country_code,
        event.country_name,
    )


class _Advance:
    """One client moved on from `low` to `high` (UTC seconds): its lists are turned back into simulation
    members, the span is simulated with the generator's rules, and the changes are written back."""

    def __init__(
        self,
        rng: random.Random,
        world: World,
        client: ClientRecord,
        low: int,
        high: int,
        until: datetime,
        counts: dict[str, int],
    ) -> None:
        self.rng, self.world, self.client = rng, world, client
        self.low, self.high, self.counts = low, high, counts
        self.zone = client.time_zone
        profile = next((p for p in _CLIENT_PROFILES if p.company == client.company_name), _CLIENT_PROFILES[0])
        self.sim = _ClientSim(client, profile, _Clock(self.zone, local_ceiling(until, self.zone)), 1.0)
        self.sim.urls = [f"https://www.{profile.domain}/{path}" for path in profile.paths]
        for lower, entry in client.suppression.items():
            self.sim.supp[lower] = (self.sim.clock.utc(entry.date), entry.reason, entry.email)
        self.by_key: dict[tuple[str, str], _Member] = {}
        self.actions: list[tuple[int, int, Callable[[], None]]] = []  # (utc seconds, seq, what happens)
        self.pending_events: list[tuple[list[TrackingEvent], list[TrackingEvent]]] = []  # (record list, new events)
        for list_id in client.list_ids:
            record = world.lists.get(list_id)
            if record is None:
                continue
            lst = _ListSim(record, self.sim)
            self.sim.lists.append(lst)
            for lower, subscriber in record.subscribers.items():
                lst.members.append(self._member(lst, lower, subscriber))
            lst.members.sort(key=attrgetter("lower"))

    def _member(self, lst: _ListSim, lower: str, subscriber: SubscriberRecord) -> _Member:
        utc = self.sim.clock.utc
        member = _Member(lower, subscriber.email, lst, 0, utc(subscriber.list_joined_date))
        if subscriber.state == "Unconfirmed":
            member.unconfirmed = True
        elif subscriber.state != "Active":
            member.end, member.end_state = utc(subscriber.date), subscriber.state
        member.track = subscriber.consent_to_track != "No"
        member.mult = (2.2, 0.9, 0.9, 0.3)[zlib.crc32(lower.encode()) % 4]
        member.geo = _geo_of_email(lower)
        member.opened = bool(subscriber.reads_email_with)
        self.by_key[(lst.record.list_id, lower)] = member
        self.sim.by_lower.setdefault(lower, []).append(member)
        return member

    def run(self) -> None:
        """Sign-ups first; late opens and clicks; then everything that can change a subscriber's state (sends,
        late unsubscribes and bounces) in time order, as the generator does; then the records."""
        self.new_subscribers()
        for campaign_id in list(self.client.campaign_ids):
            campaign = self.world.campaigns.get(campaign_id)
            if campaign is not None and campaign.recipients:
                self.late_activity(campaign)
        self.new_campaigns()
        self.journeys()
        self.actions.sort(key=itemgetter(0, 1))
        for _ts, _seq, action in self.actions:
            action()
        by_date = attrgetter("date")
        for target, new in self.pending_events:
            for event in sorted(new, key=by_date):
                insort(target, event, key=by_date)
        self.write_back()

    def _at(self, ts: int, action: Callable[[], None]) -> None:
        self.actions.append((ts, len(self.actions), action))

    def new_subscribers(self) -> None:
        """A trickle of sign-ups on every list, more on big ones."""
        rng, local = self.rng, self.sim.clock.local
        people_rng = random.Random(rng.getrandbits(64))
        span_days = (self.high - self.low + 1) / _DAY
        for lst in self.sim.lists:
            record = lst.record
            taken = set(record.subscribers)
            fields = list(record.custom_fields.values())
            for _ in range(_poisson(rng, span_days * max(0.4, len(record.subscribers) * 0.0015))):
                person = make_person(people_rng, taken)
                lower = person.email.lower()
                joined = local(rng.randint(self.low, self.high))
                mobile = person.mobile_e164 if rng.random() < 0.4 else ""
                subscriber = SubscriberRecord(
                    email=person.email,
                    name=person.name,
                    state="Active",
                    date=joined,
                    list_joined_date=joined,
                    custom_fields=_field_values(rng, fields, person, joined, False),
                    consent_to_track="Yes" if rng.random() < 0.9 else "No",
                    mobile_number=mobile,
                    consent_to_send_sms=("Yes" if rng.random() < 0.65 else "No") if mobile else "No",
                )
                record.subscribers[lower] = subscriber
                lst.members.append(self._member(lst, lower, subscriber))
                self.counts["subscribers"] += 1
            lst.members.sort(key=attrgetter("lower"))

    def new_campaigns(self) -> None:
        """Campaigns sent in the span, at the client's usual pace, when the span is over a day long."""
        rng, world, client, clock = self.rng, self.world, self.client, self.sim.clock
        span_days = (self.high - self.low + 1) / _DAY
        if span_days <= 1 or not self.sim.lists or self.high - 4 * 3600 <= self.low:
            return
        sent_before = [world.campaigns[cid] for cid in client.campaign_ids if cid in world.campaigns]
        if sent_before:
            history_days = max(1.0, (self.high - clock.utc(sent_before[0].sent_date)) / _DAY)
            pace = max(0.05, len(sent_before) / history_days)
        else:
            pace = 0.1
        names = {campaign.name for campaign in sent_before}
        for _ in range(min(_poisson(rng, pace * span_days), 3 + int(span_days / 2))):
            sent = _business_time(rng, rng.randint(self.low, self.high - 4 * 3600), clock, self.zone)
            if not self.low <= sent <= self.high - 3600:
                continue
            campaign = _plan_campaign(rng, self.sim, sent, names)
            world.campaigns[campaign.campaign_id] = campaign
            client.campaign_ids.append(campaign.campaign_id)
            self._at(sent, partial(self._send_campaign, campaign, sent))
        if len(client.campaign_ids) > len(sent_before):  # keep them in the order they were sent
            client.campaign_ids.sort(key=lambda cid: world.campaigns[cid].sent_date)

    def _send_campaign(self, campaign: CampaignRecord, sent: int) -> None:
        rng = self.rng
        lists = [lst for lst in self.sim.lists if lst.record.list_id in campaign.list_ids]
        recipients = _recipients(self.sim, lists, sent)
        campaign.recipients = [member.rec for member in recipients]
        outbox = _outbox_for(rng, self.sim, campaign)
        rates = _campaign_rates(rng)
        for member in recipients:
            if rng.random() < 0.002:
                member.dead = sent  # a mailbox that closed since the last campaign
            _deliver(rng, self.sim, member, sent, self.high, rates, outbox)
        for events in (campaign.opens, campaign.clicks, campaign.unsubscribes, campaign.spam, campaign.bounces):
            events.sort(key=attrgetter("date"))
        self.counts["campaigns"] += 1
        self.counts["opens"] += len(campaign.opens)
        self.counts["clicks"] += len(campaign.clicks)
        self.counts["unsubscribes"] += len(campaign.unsubscribes)
        self.counts["bounces"] += len(campaign.bounces)
        self.counts["spam"] += len(campaign.spam)

    def late_activity(self, campaign: CampaignRecord) -> None:
        """Opens (decaying with the campaign's age) and some clicks now; rare unsubscribes and late hard bounces
        as actions in time order."""
        rng, local, low, high = self.rng, self.sim.clock.local, self.low, self.high
        sent = self.sim.clock.utc(campaign.sent_date)
        if sent < low - 30 * _DAY or sent >= low:
            return
        by_date = attrgetter("date")
        share = _decay_share((low - sent) / _DAY, (high - sent) / _DAY, 2.0)
        openers: dict[str, TrackingEvent] = {event.email.lower(): event for event in campaign.opens[-2000:]}
        opener_keys = list(openers)
        urls = sorted({event.url for event in campaign.clicks}) or [f"https://www.{self.sim.profile.domain}/"]
        for _ in range(_poisson(rng, len(campaign.recipients) * 0.65 * share)):
            template: TrackingEvent | None
            if opener_keys and rng.random() < 0.6:  # most late opens are people opening again
                template = openers[rng.choice(opener_keys)]
                email, list_id = template.email, template.list_id
            else:
                email, list_id = rng.choice(campaign.recipients)
                template = openers.get(email.lower())
            member = self.by_key.get((list_id, email.lower()))
            if member is None or not member.track or member.end_state == "Bounced":
                continue
            when = _decayed_moment(rng, sent, low, high, 2.0)
            event = _open_event(local(when), email, list_id, _geo_of_event(template) if template else member.geo)
            insort(campaign.opens, event, key=by_date)
            self.counts["opens"] += 1
            roll = rng.random()
            if roll < 0.12 and when + 600 <= high:
                click = _open_event(local(when + rng.randint(3, 600)), email, list_id, _geo_of_event(event))
                click.url = rng.choice(urls)
                insort(campaign.clicks, click, key=by_date)
                self.counts["clicks"] += 1
            elif roll > 0.993:
                unsub_at = min(high, when + rng.randint(10, 900))
                self._at(unsub_at, partial(self._late_unsubscribe, campaign, member, unsub_at, event.ip_address))
        if sent >= low - 3 * _DAY and rng.random() < min(1.0, 0.3 * (high - low + 1) / _DAY):
            email, list_id = rng.choice(campaign.recipients)
            member = self.by_key.get((list_id, email.lower()))
            if member is not None:
                when = rng.randint(low, high)
                self._at(when, partial(self._late_bounce, campaign, member, when))

    def _still_active(self, member: _Member, ts: int) -> bool:
        return not member.pending and not member.unconfirmed and member.join <= ts < member.end

    def _late_unsubscribe(self, campaign: CampaignRecord, member: _Member, ts: int, ip_address: str) -> None:
        if self._still_active(member, ts):
            email, list_id = member.rec
            event = TrackingEvent(date=self.sim.clock.local(ts), email=email, list_id=list_id, ip_address=ip_address)
            insort(campaign.unsubscribes, event, key=attrgetter("date"))
            _unsubscribe(self.sim, member, ts)
            self.counts["unsubscribes"] += 1

    def _late_bounce(self, campaign: CampaignRecord, member: _Member, ts: int) -> None:
        if self._still_active(member, ts):
            email, list_id = member.rec
            event = TrackingEvent(
                date=self.sim.clock.local(ts), email=email, list_id=list_id, bounce_type="Hard", reason="Hard Bounce"
            )
            insort(campaign.bounces, event, key=attrgetter("date"))
            _deactivate(member, ts, "Bounced")
            self.sim.suppress(member.lower, email, ts, "Bounced")
            self.counts["bounces"] += 1

    def journeys(self) -> None:
        """The journey e-mails that fall due in the span (to people who joined since the journey started)."""
        rng, clock = self.rng, self.sim.clock
        lists = {lst.record.list_id: lst for lst in self.sim.lists}
        for journey_id in self.client.journey_ids:
            journey = self.world.journeys.get(journey_id)
            if journey is None or journey.status != "Active" or journey.list_id not in lists or not journey.emails:
                continue
            first_sends = journey.emails[0].recipients
            started = clock.utc(first_sends[0].date) - _DAY if first_sends else -_INF
            rates = _journey_rates(rng)
            urls = self.sim.urls[:3] or [f"https://www.{self.sim.profile.domain}/"]
            for index, email in enumerate(journey.emails):
                delay = JOURNEY_DELAYS[min(index, len(JOURNEY_DELAYS) - 1)]
                outbox = _Outbox([], [], [], [], None, urls, [1.0 / (1 + i) for i in range(len(urls))])
                sends: list[TrackingEvent] = []
                for member in lists[journey.list_id].members:
                    sent = member.join + delay + 300
                    if not member.unconfirmed and member.join >= started and self.low <= sent <= self.high:
                        self._at(sent, partial(self._journey_send, member, sent, rates, outbox, sends))
                self.pending_events.extend(
                    (
                        (email.recipients, sends),
                        (email.opens, outbox.opens),
                        (email.clicks, outbox.clicks),
                        (email.unsubscribes, outbox.unsubscribes),
                        (email.bounces, outbox.bounces),
                    )
                )

    def _journey_send(
        self, member: _Member, sent: int, rates: _Rates, outbox: _Outbox, sends: list[TrackingEvent]
    ) -> None:
        if member.join <= sent < member.end and not self.sim.suppressed(member.lower, sent):
            sends.append(TrackingEvent(date=self.sim.clock.local(sent), email=member.rec[0], list_id=member.rec[1]))
            before = len(outbox.opens) + len(outbox.clicks) + len(outbox.unsubscribes) + len(outbox.bounces)
            _deliver(self.rng, self.sim, member, sent, self.high, rates, outbox)
            after = len(outbox.opens) + len(outbox.clicks) + len(outbox.unsubscribes) + len(outbox.bounces)
            self.counts["journey_events"] += after - before

    def write_back(self) -> None:
        """The state changes of the span onto the subscriber records, new entries onto the suppression list."""
        local = self.sim.clock.local
        for (list_id, lower), member in self.by_key.items():
            if member.pending and member.end >= self.low:
                subscriber = self.world.lists[list_id].subscribers.get(lower)
                if subscriber is not None and subscriber.state == "Active":
                    subscriber.state = member.end_state
                    subscriber.date = max(subscriber.list_joined_date, local(member.end))
        for lower, (ts, reason, email) in sorted(self.sim.supp.items()):
            if ts >= self.low and lower not in self.client.suppression:
                self.client.suppression[lower] = SuppressionRecord(email=email, reason=reason, date=local(ts))


# ---------------------------------------------------------------------------------------- manifest


def _by_state(subscribers: Iterable[SubscriberRecord]) -> dict[str, int]:
    counts = dict.fromkeys(SUBSCRIBER_STATES, 0)
    for subscriber in subscribers:
        counts[subscriber.state] = counts.get(subscriber.state, 0) + 1
    return counts


def manifest(world: World) -> dict[str, Any]:
    """Everything the world holds, counted: totals and per client (JSON-serialisable)."""
    with world.lock:
        clients: dict[str, Any] = {}
        totals: dict[str, Any] = dict.fromkeys(
            (
                "clients",
                "lists",
                "custom_fields",
                "memberships",
                "unique_emails",
                "campaigns",
                "recipients",
                "opens",
                "unique_opens",
                "clicks",
                "bounces",
                "unsubscribes",
                "spam_complaints",
                "tracking_events",
                "suppressions",
                "journeys",
                "journey_emails",
                "journey_recipients",
                "journey_events",
                "segments",
            ),
            0,
        )
        totals["subscribers_by_state"] = dict.fromkeys(SUBSCRIBER_STATES, 0)
        emails: set[str] = set()
        for client in world.clients.values():
            lists: dict[str, Any] = {}
            entry: dict[str, Any] = {
                "name": client.company_name,
                "time_zone": client.time_zone,
                "country": client.country,
                "api_key": client.api_key,
                "lists": lists,
            }
            for list_id in client.list_ids:
                lst = world.lists[list_id]
                by_state = _by_state(lst.subscribers.values())
                lists[list_id] = {
                    "title": lst.title,
                    "custom_fields": len(lst.custom_fields),
                    "memberships": len(lst.subscribers),
                    "subscribers_by_state": by_state,
                }
                emails.update(lst.subscribers)
                totals["lists"] += 1
                totals["custom_fields"] += len(lst.custom_fields)
                totals["memberships"] += len(lst.subscribers)
                for state, number in by_state.items():
                    totals["subscribers_by_state"][state] = totals["subscribers_by_state"].get(state, 0) + number
            stats = dict.fromkeys(
                ("recipients", "opens", "unique_opens", "clicks", "bounces", "unsubscribes", "spam_complaints"), 0
            )
            dates: list[datetime] = []
            for campaign_id in client.campaign_ids:
                campaign = world.campaigns[campaign_id]
                dates.append(campaign.sent_date)
                stats["recipients"] += len(campaign.recipients)
                stats["opens"] += len(campaign.opens)
                stats["unique_opens"] += len({event.email.lower() for event in campaign.opens})
                stats["clicks"] += len(campaign.clicks)
                stats["bounces"] += len(campaign.bounces)
                stats["unsubscribes"] += len(campaign.unsubscribes)
                stats["spam_complaints"] += len(campaign.spam)
            journey_recipients = journey_events = journey_emails = 0
            for journey_id in client.journey_ids:
                for email in world.journeys[journey_id].emails:
                    journey_emails += 1
                    journey_recipients += len(email.recipients)
                    journey_events += (
                        len(email.opens) + len(email.clicks) + len(email.unsubscribes) + len(email.bounces)
                    )
            tracking = (
                stats["opens"] + stats["clicks"] + stats["bounces"] + stats["unsubscribes"] + stats["spam_complaints"]
            )
            entry.update(
                campaigns=len(client.campaign_ids),
                first_sent=min(dates).isoformat(sep=" ") if dates else None,
                last_sent=max(dates).isoformat(sep=" ") if dates else None,
                **stats,
                tracking_events=tracking,
                suppressions=len(client.suppression),
                suppressions_by_reason=_count_reasons(client.suppression.values()),
                journeys=len(client.journey_ids),
                journey_emails=journey_emails,
                journey_recipients=journey_recipients,
                journey_events=journey_events,
                segments=len(client.segment_ids),
            )
            clients[client.client_id] = entry
            totals["clients"] += 1
            totals["campaigns"] += len(client.campaign_ids)
            for key in stats:
                totals[key] += stats[key]
            totals["tracking_events"] += tracking
            totals["suppressions"] += len(client.suppression)
            totals["journeys"] += len(client.journey_ids)
            totals["journey_emails"] += journey_emails
            totals["journey_recipients"] += journey_recipients
            totals["journey_events"] += journey_events
            totals["segments"] += len(client.segment_ids)
        totals["unique_emails"] = len(emails)
        app = world.oauth_app
        return {
            "seed": world.seed,
            "size": world.size,
            "generated_until": world.generated_until.astimezone(UTC).isoformat(),
            "account": {
                "name": world.account_name,
                "api_key": world.account_api_key,
                "oauth_client_id": app.client_id if app else None,
                "oauth_client_secret": app.client_secret if app else None,
                "oauth_redirect_uri": app.redirect_uri if app else None,
            },
            "totals": totals,
            "clients": clients,
        }


def _count_reasons(records: Iterable[SuppressionRecord]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in records:
        counts[record.reason] = counts.get(record.reason, 0) + 1
    return dict(sorted(counts.items()))


def write_manifest(world: World, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest(world), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
