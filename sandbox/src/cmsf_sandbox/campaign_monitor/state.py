"""The emulator's state around the `World`: who is calling, what they may see, the clock, and the sorted
views (per list, state and order; per campaign report and order) that make paging cheap."""

from __future__ import annotations

import base64
import binascii
import itertools
import operator
from bisect import bisect_left
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cmsf_sandbox.campaign_monitor.common import ApiError, Reply, bad_request
from cmsf_sandbox.campaign_monitor.faults import FaultInjector, RateWindow
from cmsf_sandbox.campaign_monitor.oauth import TOKEN_MESSAGES, OAuthStore
from cmsf_sandbox.campaign_monitor.webhooks import WebhookDispatcher
from cmsf_sandbox.campaign_monitor.world import (
    CampaignRecord,
    ClientRecord,
    JourneyEmailRecord,
    JourneyRecord,
    ListRecord,
    SegmentRecord,
    SubscriberRecord,
    TrackingEvent,
    World,
    utc_to_local,
)

BASIC_MESSAGE = "Must supply a valid HTTP Basic Authorization header"
EVENT_KINDS = ("opens", "clicks", "unsubscribes", "spam", "bounces")
JOURNEY_KINDS = ("recipients", "opens", "clicks", "unsubscribes", "bounces")
FILTER_CACHE_SIZE = 64

by_date: Callable[[TrackingEvent], datetime] = operator.attrgetter("date")


@dataclass(frozen=True)
class Caller:
    """Who is calling: an account key or OAuth token (every client) or a client key (that client only)."""

    kind: str  # account, client, oauth
    client_ids: frozenset[str] | None  # None: every client

    def sees(self, client_id: str) -> bool:
        return self.client_ids is None or client_id in self.client_ids


@dataclass
class ApiRequest:
    """One API call, parsed: path parameters, query parameters (lower-case names, empty values dropped),
    the JSON body with lower-case keys, and the authenticated caller."""

    method: str
    path: dict[str, str]
    params: dict[str, str]
    body: Any
    caller: Caller
    client_ip: str = ""
    raw: Any = None  # the JSON body with its keys as sent (transactional Data keeps its case)


Handler = Callable[["Emulator", ApiRequest], "Reply"]


def sort_key(order: str) -> Callable[[SubscriberRecord], Any]:
    if order == "name":
        return lambda s: (s.name.lower(), s.email.lower())
    if order == "date":
        return lambda s: (s.date, s.email.lower())
    return lambda s: s.email.lower()


class Emulator:
    def __init__(
        self,
        world: World,
        *,
        faults: FaultInjector,
        rate: RateWindow,
        webhooks: WebhookDispatcher,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.world = world
        self.faults = faults
        self.rate = rate
        self.webhooks = webhooks
        self.base_clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.offset = timedelta(0)  # moved forward by /admin/advance's forward_seconds
        self.clock: Callable[[], datetime] = lambda: self.base_clock() + self.offset
        self.oauth = OAuthStore(world.oauth_app)
        self.calls: Counter[str] = Counter()
        self.calls_since = self.clock()
        self.generation = 0  # bumped when the world changes behind the emulator's back (admin advance)
        self._list_versions: Counter[str] = Counter()
        self._views: dict[tuple[Any, ...], tuple[tuple[Any, ...], Any]] = {}
        self._filtered: OrderedDict[tuple[Any, ...], tuple[tuple[Any, ...], Any]] = OrderedDict()
        self._keys: dict[str, ClientRecord] = {}
        self._journey_of_email: dict[str, JourneyRecord] = {}
        self._journey_index_stamp: tuple[int, int] = (-1, -1)
        self.prepare()

    # ------------------------------------------------------------------------------------------ upkeep

    def prepare(self) -> None:
        """Index the API keys and make sure every event list is sorted by date (and recipients by email)."""
        with self.world.lock:
            self._keys = {c.api_key: c for c in self.world.clients.values()}
            for campaign in self.world.campaigns.values():
                campaign.recipients.sort(key=lambda r: r[0].lower())
                for kind in EVENT_KINDS:
                    _ensure_sorted(getattr(campaign, kind))
            for email in self.world.journey_emails.values():
                for kind in JOURNEY_KINDS:
                    _ensure_sorted(getattr(email, kind))

    def invalidate(self) -> None:
        """Forget every cached view: call after changing the world other than through the API."""
        with self.world.lock:
            self.generation += 1
            self._views.clear()
            self._filtered.clear()
            self.prepare()

    def touch(self, list_id: str) -> None:
        """A list's subscribers changed."""
        self._list_versions[list_id] += 1

    def list_stamp(self, list_id: str) -> tuple[int, int]:
        return (self.generation, self._list_versions[list_id])

    # ------------------------------------------------------------------------------------------- time

    def now_utc(self) -> datetime:
        return self.clock()

    def local_now(self, client: ClientRecord) -> datetime:
        return utc_to_local(self.clock(), client.time_zone)

    def account_zone(self) -> str:
        first = next(iter(self.world.clients.values()), None)
        return first.time_zone if first is not None else "(GMT) Coordinated Universal Time"

    def client_of_list(self, lst: ListRecord) -> ClientRecord:
        return self.world.clients[lst.client_id]

    # ------------------------------------------------------------------------------------------- auth

    def authenticate(self, header: str | None) -> Caller:
        if not header:
            raise ApiError(401, 50, BASIC_MESSAGE)
        scheme, _, credentials = header.strip().partition(" ")
        credentials = credentials.strip()
        if scheme.lower() == "bearer":
            if not credentials:
                raise ApiError(401, 120, TOKEN_MESSAGES[120])
            problem = self.oauth.check(credentials, self.clock())
            if problem is not None:
                raise ApiError(401, problem, TOKEN_MESSAGES[problem])
            return Caller("oauth", None)
        if scheme.lower() != "basic" or not credentials:
            raise ApiError(401, 50, BASIC_MESSAGE)
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise ApiError(401, 50, BASIC_MESSAGE) from None
        key = decoded.partition(":")[0]
        if not key:
            raise ApiError(401, 50, BASIC_MESSAGE)
        if key == self.world.account_api_key:
            return Caller("account", None)
        client = self._keys.get(key)
        if client is None:
            raise ApiError(401, 100, "Invalid API Key")
        return Caller("client", frozenset((client.client_id,)))

    # ----------------------------------------------------------------------------------- lookups

    def clients_for(self, caller: Caller) -> list[ClientRecord]:
        return [c for c in self.world.clients.values() if caller.sees(c.client_id)]

    def client(self, caller: Caller, client_id: str) -> ClientRecord:
        client = _get(self.world.clients, client_id)
        if client is None or not caller.sees(client.client_id):
            raise ApiError(401, 102, "Invalid ClientID")
        return client

    def list_(self, caller: Caller, list_id: str) -> ListRecord:
        lst = _get(self.world.lists, list_id)
        if lst is None or not caller.sees(lst.client_id):
            raise ApiError(401, 101, "Invalid ListID")
        return lst

    def campaign(self, caller: Caller, campaign_id: str) -> CampaignRecord:
        campaign = _get(self.world.campaigns, campaign_id)
        if campaign is None or not caller.sees(campaign.client_id):
            raise bad_request(301, "Invalid CampaignID")
        return campaign

    def segment(self, caller: Caller, segment_id: str) -> tuple[SegmentRecord, ListRecord]:
        segment = _get(self.world.segments, segment_id)
        lst = self.world.lists.get(segment.list_id) if segment is not None else None
        if segment is None or lst is None or not caller.sees(lst.client_id):
            raise bad_request(271, "Invalid SegmentID")
        return segment, lst

    def journey(self, caller: Caller, journey_id: str) -> JourneyRecord:
        journey = _get(self.world.journeys, journey_id)
        if journey is None or not caller.sees(journey.client_id):
            raise bad_request(3000, "Invalid Journey ID")
        return journey

    def journey_email(self, caller: Caller, email_id: str) -> tuple[JourneyEmailRecord, JourneyRecord]:
        stamp = (self.generation, len(self.world.journeys))
        if stamp != self._journey_index_stamp:
            self._journey_of_email = {
                email.email_id: journey for journey in self.world.journeys.values() for email in journey.emails
            }
            self._journey_index_stamp = stamp
        email = _get(self.world.journey_emails, email_id)
        journey = self._journey_of_email.get(email.email_id) if email is not None else None
        if email is None or journey is None or not caller.sees(journey.client_id):
            raise bad_request(3002, "Invalid Journey Email ID")
        return email, journey

    # ------------------------------------------------------------------------------------------ views

    def _cached(self, key: tuple[Any, ...], stamp: tuple[Any, ...], build: Callable[[], Any]) -> Any:
        hit = self._views.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        value = build()
        self._views[key] = (stamp, value)
        return value

    def _filtered_cached(self, key: tuple[Any, ...], stamp: tuple[Any, ...], build: Callable[[], Any]) -> Any:
        hit = self._filtered.get(key)
        if hit is not None and hit[0] == stamp:
            self._filtered.move_to_end(key)
            return hit[1]
        value = build()
        self._filtered[key] = (stamp, value)
        while len(self._filtered) > FILTER_CACHE_SIZE:
            self._filtered.popitem(last=False)
        return value

    def subscribers(self, lst: ListRecord, state: str, order: str) -> list[SubscriberRecord]:
        """The list's subscribers in `state`, sorted ascending by `order` (email, name or date)."""
        stamp = self.list_stamp(lst.list_id)
        by_state = self._cached(
            ("state", lst.list_id, state),
            stamp,
            lambda: [s for s in lst.subscribers.values() if s.state == state],
        )
        return self._cached(("sorted", lst.list_id, state, order), stamp, lambda: sorted(by_state, key=sort_key(order)))

    def subscribers_since(
        self, lst: ListRecord, state: str, order: str, since: datetime | None
    ) -> tuple[Sequence[SubscriberRecord], int, int]:
        """(sequence, lo, hi): the subscribers whose Date is on or after `since`, in `order`."""
        view = self.subscribers(lst, state, order)
        if since is None:
            return view, 0, len(view)
        if order == "date":
            return view, bisect_left(view, since, key=operator.attrgetter("date")), len(view)
        stamp = self.list_stamp(lst.list_id)
        kept = self._filtered_cached(
            ("since", lst.list_id, state, order, since), stamp, lambda: [s for s in view if s.date >= since]
        )
        return kept, 0, len(kept)

    def events_since(
        self, owner: str, kind: str, events: list[TrackingEvent], order: str, since: datetime | None
    ) -> tuple[Sequence[TrackingEvent], int, int]:
        """(sequence, lo, hi) of a report's events on or after `since`, ascending by date (bisect) or email."""
        if order == "date":
            lo = bisect_left(events, since, key=by_date) if since is not None else 0
            return events, lo, len(events)
        stamp = (self.generation, id(events), len(events))
        by_email = self._cached(
            ("events", owner, kind),
            stamp,
            lambda: sorted(events, key=lambda e: (e.email.lower(), e.date)),
        )
        if since is None:
            return by_email, 0, len(by_email)
        kept = self._filtered_cached(
            ("events-since", owner, kind, since), stamp, lambda: [e for e in by_email if e.date >= since]
        )
        return kept, 0, len(kept)

    def cached(self, key: tuple[Any, ...], stamp: tuple[Any, ...], build: Callable[[], Any]) -> Any:
        return self._cached(key, stamp, build)

    def close(self) -> None:
        self.webhooks.close()


def _get(mapping: dict[str, Any], key: str) -> Any:
    found = mapping.get(key)
    if found is None and key != key.lower():
        found = mapping.get(key.lower())
    return found


def _ensure_sorted(events: list[TrackingEvent]) -> None:
    if any(a.date > b.date for a, b in itertools.pairwise(events)):
        events.sort(key=by_date)
