"""`advance_world(world, until, now)`: what happened in a generated Campaign Monitor account since its history
ended (opens and clicks of past sends, new campaigns, subscribers, unsubscribes, bounces, spam, journey e-mails, and
the deliveries, bounces, opens and clicks of transactional messages)."""

from __future__ import annotations

import math
import random
import zlib
from bisect import insort
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from operator import attrgetter, itemgetter

from cmsf_sandbox.campaign_monitor.world import (
    CampaignRecord,
    ClientRecord,
    SubscriberRecord,
    SuppressionRecord,
    TrackingEvent,
    World,
)
from cmsf_sandbox.dataset_generate import local_ceiling, outbox_for, plan_campaign
from cmsf_sandbox.dataset_sim import (
    CLIENT_PROFILES,
    DAY,
    INF,
    JOURNEY_DELAYS,
    ClientSim,
    Clock,
    Geo,
    ListSim,
    Member,
    Outbox,
    Rates,
    aware,
    business_time,
    campaign_rates,
    deactivate,
    deliver,
    field_values,
    geo_of_email,
    journey_rates,
    poisson,
    recipients_of,
    unsubscribe_member,
)
from cmsf_sandbox.dataset_transactional import MESSAGE_KEYS, advance_messages
from cmsf_sandbox.people import (
    make_person,
)

_ADVANCE_KEYS = (
    "opens",
    "clicks",
    "campaigns",
    "subscribers",
    "unsubscribes",
    "bounces",
    "spam",
    "journey_events",
    *MESSAGE_KEYS,
)


def advance_world(world: World, until: datetime, now: datetime | None = None) -> dict[str, int]:
    """What happened between `world.generated_until` and min(until, now): new opens, clicks, unsubscribes,
    bounces, subscribers, journey e-mails, (over more than a day) campaigns, and what became of transactional messages. Deterministic in the world's
    seed and the span; dated strictly after the old `generated_until`; sets `generated_until`."""
    now = aware(now) if now is not None else datetime.now(UTC)
    until = min(aware(until), now)
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
        counts.update(advance_messages(world, until))
        world.generated_until = until
    return counts


def _decay_share(age_from: float, age_to: float, tau: float) -> float:
    """The share of an e-mail's opens that happen between these ages (days), opens decaying with `tau` days."""
    return math.exp(-max(0.0, age_from) / tau) - math.exp(-max(0.0, age_to) / tau)


def _decayed_moment(rng: random.Random, sent: int, low: int, high: int, tau: float) -> int:
    """A moment in [low, high] drawn from the decay after `sent`."""
    lo_age, hi_age = max(0, low - sent) / DAY, max(0, high - sent) / DAY
    a, b = math.exp(-lo_age / tau), math.exp(-hi_age / tau)
    value = a - rng.random() * (a - b)
    age = -tau * math.log(value) if value > 0 else hi_age
    return min(high, max(low, sent + int(age * DAY)))


def _open_event(when: datetime, email: str, list_id: str, geo: Geo) -> TrackingEvent:
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


def _geo_of_event(event: TrackingEvent) -> Geo:
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
        profile = next((p for p in CLIENT_PROFILES if p.company == client.company_name), CLIENT_PROFILES[0])
        self.sim = ClientSim(client, profile, Clock(self.zone, local_ceiling(until, self.zone)), 1.0)
        self.sim.urls = [f"https://www.{profile.domain}/{path}" for path in profile.paths]
        for lower, entry in client.suppression.items():
            self.sim.supp[lower] = (self.sim.clock.utc(entry.date), entry.reason, entry.email)
        self.by_key: dict[tuple[str, str], Member] = {}
        self.actions: list[tuple[int, int, Callable[[], None]]] = []  # (utc seconds, seq, what happens)
        self.pending_events: list[tuple[list[TrackingEvent], list[TrackingEvent]]] = []  # (record list, new events)
        for list_id in client.list_ids:
            record = world.lists.get(list_id)
            if record is None:
                continue
            lst = ListSim(record, self.sim)
            self.sim.lists.append(lst)
            for lower, subscriber in record.subscribers.items():
                lst.members.append(self._member(lst, lower, subscriber))
            lst.members.sort(key=attrgetter("lower"))

    def _member(self, lst: ListSim, lower: str, subscriber: SubscriberRecord) -> Member:
        utc = self.sim.clock.utc
        member = Member(lower, subscriber.email, lst, 0, utc(subscriber.list_joined_date))
        if subscriber.state == "Unconfirmed":
            member.unconfirmed = True
        elif subscriber.state != "Active":
            member.end, member.end_state = utc(subscriber.date), subscriber.state
        member.track = subscriber.consent_to_track != "No"
        member.mult = (2.2, 0.9, 0.9, 0.3)[zlib.crc32(lower.encode()) % 4]
        member.geo = geo_of_email(lower)
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
        span_days = (self.high - self.low + 1) / DAY
        for lst in self.sim.lists:
            record = lst.record
            taken = set(record.subscribers)
            fields = list(record.custom_fields.values())
            for _ in range(poisson(rng, span_days * max(0.4, len(record.subscribers) * 0.0015))):
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
                    custom_fields=field_values(rng, fields, person, joined, False),
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
        span_days = (self.high - self.low + 1) / DAY
        if span_days <= 1 or not self.sim.lists or self.high - 4 * 3600 <= self.low:
            return
        sent_before = [world.campaigns[cid] for cid in client.campaign_ids if cid in world.campaigns]
        if sent_before:
            history_days = max(1.0, (self.high - clock.utc(sent_before[0].sent_date)) / DAY)
            pace = max(0.05, len(sent_before) / history_days)
        else:
            pace = 0.1
        names = {campaign.name for campaign in sent_before}
        for _ in range(min(poisson(rng, pace * span_days), 3 + int(span_days / 2))):
            sent = business_time(rng, rng.randint(self.low, self.high - 4 * 3600), clock, self.zone)
            if not self.low <= sent <= self.high - 3600:
                continue
            campaign = plan_campaign(rng, self.sim, sent, names)
            world.campaigns[campaign.campaign_id] = campaign
            client.campaign_ids.append(campaign.campaign_id)
            self._at(sent, partial(self._send_campaign, campaign, sent))
        if len(client.campaign_ids) > len(sent_before):  # keep them in the order they were sent
            client.campaign_ids.sort(key=lambda cid: world.campaigns[cid].sent_date)

    def _send_campaign(self, campaign: CampaignRecord, sent: int) -> None:
        rng = self.rng
        lists = [lst for lst in self.sim.lists if lst.record.list_id in campaign.list_ids]
        recipients = recipients_of(self.sim, lists, sent)
        campaign.recipients = [member.rec for member in recipients]
        outbox = outbox_for(rng, self.sim, campaign)
        rates = campaign_rates(rng)
        for member in recipients:
            if rng.random() < 0.002:
                member.dead = sent  # a mailbox that closed since the last campaign
            deliver(rng, self.sim, member, sent, self.high, rates, outbox)
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
        if sent < low - 30 * DAY or sent >= low:
            return
        by_date = attrgetter("date")
        share = _decay_share((low - sent) / DAY, (high - sent) / DAY, 2.0)
        openers: dict[str, TrackingEvent] = {event.email.lower(): event for event in campaign.opens[-2000:]}
        opener_keys = list(openers)
        urls = sorted({event.url for event in campaign.clicks}) or [f"https://www.{self.sim.profile.domain}/"]
        for _ in range(poisson(rng, len(campaign.recipients) * 0.65 * share)):
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
        if sent >= low - 3 * DAY and rng.random() < min(1.0, 0.3 * (high - low + 1) / DAY):
            email, list_id = rng.choice(campaign.recipients)
            member = self.by_key.get((list_id, email.lower()))
            if member is not None:
                when = rng.randint(low, high)
                self._at(when, partial(self._late_bounce, campaign, member, when))

    def _still_active(self, member: Member, ts: int) -> bool:
        return not member.pending and not member.unconfirmed and member.join <= ts < member.end

    def _late_unsubscribe(self, campaign: CampaignRecord, member: Member, ts: int, ip_address: str) -> None:
        if self._still_active(member, ts):
            email, list_id = member.rec
            event = TrackingEvent(date=self.sim.clock.local(ts), email=email, list_id=list_id, ip_address=ip_address)
            insort(campaign.unsubscribes, event, key=attrgetter("date"))
            unsubscribe_member(self.sim, member, ts)
            self.counts["unsubscribes"] += 1

    def _late_bounce(self, campaign: CampaignRecord, member: Member, ts: int) -> None:
        if self._still_active(member, ts):
            email, list_id = member.rec
            event = TrackingEvent(
                date=self.sim.clock.local(ts), email=email, list_id=list_id, bounce_type="Hard", reason="Hard Bounce"
            )
            insort(campaign.bounces, event, key=attrgetter("date"))
            deactivate(member, ts, "Bounced")
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
            started = clock.utc(first_sends[0].date) - DAY if first_sends else -INF
            rates = journey_rates(rng)
            urls = self.sim.urls[:3] or [f"https://www.{self.sim.profile.domain}/"]
            for index, email in enumerate(journey.emails):
                delay = JOURNEY_DELAYS[min(index, len(JOURNEY_DELAYS) - 1)]
                outbox = Outbox([], [], [], [], None, urls, [1.0 / (1 + i) for i in range(len(urls))])
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
        self, member: Member, sent: int, rates: Rates, outbox: Outbox, sends: list[TrackingEvent]
    ) -> None:
        if member.join <= sent < member.end and not self.sim.suppressed(member.lower, sent):
            sends.append(TrackingEvent(date=self.sim.clock.local(sent), email=member.rec[0], list_id=member.rec[1]))
            before = len(outbox.opens) + len(outbox.clicks) + len(outbox.unsubscribes) + len(outbox.bounces)
            deliver(self.rng, self.sim, member, sent, self.high, rates, outbox)
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
