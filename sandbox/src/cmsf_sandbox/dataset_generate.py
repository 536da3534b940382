"""The generation of the sandbox's Campaign Monitor dataset: `generate_world(size, seed, now)` builds an agency
account whose history ends three hours before `now` (see dataset.py for how). The simulation it runs is in
dataset_sim.py, shared with the advance (dataset_advance.py).
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Any
from zoneinfo import ZoneInfo

from cmsf_sandbox.campaign_monitor.world import (
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
)
from cmsf_sandbox.dataset_sim import (
    CLIENT_PROFILES,
    CLIENT_WEIGHTS,
    CM_COUNTRY,
    CONTACTS,
    DAY,
    HOURS_BEHIND_NOW,
    INF,
    JOURNEY_DELAYS,
    JOURNEY_PLANS,
    READERS,
    REDIRECT_URI,
    SANDBOX_HOST,
    TAG_VOCABULARY,
    THEMES,
    ClientSim,
    Clock,
    ListSim,
    Member,
    Outbox,
    Rates,
    aware,
    business_time,
    campaign_rates,
    deliver,
    field_key,
    field_values,
    geo_of_city,
    hex16,
    journey_rates,
    list_fields,
    new_api_key,
    new_id,
    recipients_of,
    sizes_check,
)
from cmsf_sandbox.dataset_transactional import add_smart_emails
from cmsf_sandbox.people import (
    ascii_fold,
    capitalised,
    generate_people,
)


def generate_world(size: str, seed: int, now: datetime | None = None) -> World:
    """The Campaign Monitor account of a sandbox: deterministic in (size, seed, now)."""
    world = _Builder(size, seed, aware(now) if now is not None else datetime.now(UTC)).build()
    add_smart_emails(world)  # a table of their own, from a random stream of their own: the rest is unchanged
    return world


class _Builder:
    """Builds a world in steps: clients and lists, people's traits, memberships, planned changes, then the
    history (campaigns and journey e-mails in time order), then the records as they stand at the end."""

    def __init__(self, size: str, seed: int, now: datetime) -> None:
        self.profile = sizes_check(size)
        self.generated_until = now - timedelta(hours=HOURS_BEHIND_NOW)
        self.gen_ts = math.floor(self.generated_until.timestamp())
        self.history_start = self.gen_ts - self.profile.history_days * DAY
        self.rng = random.Random(f"cmsf-world:{size}:{seed}")
        self.people = generate_people(size, seed)
        self.world = World(
            seed=seed,
            size=size,
            account_api_key=new_api_key(self.rng),
            account_name="Sandbox Agency (cmsf)",
            generated_until=self.generated_until,
        )
        self.clients: list[ClientSim] = []
        self.members: list[Member] = []
        self.actions: list[tuple[int, int, int, int, Member | None]] = []  # (ts, seq, kind, plan, member)
        self.campaigns: list[tuple[ClientSim, CampaignRecord, list[ListSim], Rates, Outbox]] = []
        self.journey_emails: list[tuple[ClientSim, JourneyEmailRecord, Rates, Outbox]] = []
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
        weights = CLIENT_WEIGHTS[: profile.clients]
        # Different zones, and not both of the two that share GMT in winter (London and UTC).
        zones = rng.sample(list(ZONES), len(ZONES))
        gmt = [zone for zone in zones if ZONES[zone] in ("Europe/London", "Etc/UTC")]
        if len(zones) - 1 >= profile.clients:
            zones.remove(gmt[1])
        for index, client_profile in enumerate(rng.sample(CLIENT_PROFILES, profile.clients)):
            zone = zones[index]
            contact = rng.choice(CONTACTS)
            record = ClientRecord(
                client_id=new_id(rng),
                company_name=client_profile.company,
                contact_name=contact,
                email_address=f"{ascii_fold(contact.split()[0])}@{client_profile.domain}",
                country=CM_COUNTRY[ZONES[zone]],
                time_zone=zone,
                api_key=new_api_key(rng),
            )
            self.world.clients[record.client_id] = record
            clock = Clock(zone, local_ceiling(self.generated_until, zone))
            client = ClientSim(record, client_profile, clock, weights[index] / sum(weights))
            client.urls = [f"https://www.{client_profile.domain}/{path}" for path in client_profile.paths] + [
                f"https://www.instagram.com/{client_profile.social}/",
                f"https://www.facebook.com/{client_profile.social}",
            ]
            for list_index in range(profile.lists_per_client):
                client.lists.append(ListSim(self._list(client, list_index), client))
            self.clients.append(client)

    def _list(self, client: ClientSim, index: int) -> ListRecord:
        rng, domain = self.rng, client.profile.domain
        confirmed = index == 1 or (index > 1 and rng.random() < 0.3)
        record = ListRecord(
            list_id=new_id(rng),
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
        for name, kind, options in list_fields(rng, index == 0, us_client):
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
        dead = [INF] * count
        for pidx in rng.sample(range(count), max(2, round(count * 0.012))):
            dead[pidx] = -INF  # an address that never worked
        for pidx in rng.sample(range(count), max(3, round(count * 0.045))):
            if dead[pidx] == INF:
                dead[pidx] = rng.randint(start, gen_ts)  # a mailbox that closed during the history
        mults = [2.2 if roll < 0.25 else 0.9 if roll < 0.7 else 0.3 for roll in (rng.random() for _ in range(count))]
        private = [rng.random() < 0.1 for _ in range(count)]
        geos = [geo_of_city(rng, person.city) for person in self.people]
        self.readers = [rng.choice(READERS) for _ in range(count)]
        client_weights = [client.weight for client in self.clients]
        three_years = gen_ts - 3 * 365 * DAY
        case_variants = 0
        for pidx, person in enumerate(self.people):
            roll = rng.random()
            wanted = min(1 if roll < 0.74 else 2 if roll < 0.94 else 3, len(self.clients))
            chosen: list[ClientSim] = []
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
                picked: list[ListSim] = []
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
                    member = Member(lower, email, lst, pidx, min(join - join % 60, gen_ts - 60))
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
                moments[0] = self.history_start + rng.randint(0, 4 * DAY)  # more than a year of history
                moments[-1] = gen_ts - rng.randint(20 * 3600, 30 * 3600)  # a campaign still collecting opens
            names: set[str] = set()
            for moment in moments:
                sent = business_time(rng, moment, client.clock, zone)
                while sent > gen_ts - 4 * 3600:
                    sent -= DAY
                campaign = plan_campaign(rng, client, sent, names)
                lists = [lst for lst in client.lists if lst.record.list_id in campaign.list_ids]
                self.actions.append((sent, len(self.actions), 0, len(self.campaigns), None))
                self.campaigns.append((client, campaign, lists, campaign_rates(rng), outbox_for(rng, client, campaign)))
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
                name, email_names = JOURNEY_PLANS[journey_index % len(JOURNEY_PLANS)]
                journey = JourneyRecord(
                    journey_id=new_id(rng),
                    client_id=client.record.client_id,
                    list_id=lst.record.list_id,
                    name=name,
                    status="Active" if journey_index == 0 or rng.random() < 0.5 else "Paused",
                )
                started = gen_ts - rng.randint(240, 400) * DAY
                stopped = gen_ts - rng.randint(10, 120) * DAY if journey.status == "Paused" else INF
                for email_index in range(rng.randint(2, 3)):
                    email = JourneyEmailRecord(email_id=new_id(rng), name=email_names[email_index])
                    journey.emails.append(email)
                    self.world.journey_emails[email.email_id] = email
                    outbox = Outbox(
                        email.opens,
                        email.clicks,
                        email.unsubscribes,
                        email.bounces,
                        None,
                        client.urls[:3],
                        [3.0, 2.0, 1.0],
                    )
                    plan = len(self.journey_emails)
                    self.journey_emails.append((client, email, journey_rates(rng), outbox))
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
                recipients = recipients_of(client, lists, sent)
                campaign.recipients = [member.rec for member in recipients]
                for member in recipients:
                    deliver(rng, client, member, sent, gen_ts, rates, outbox)
            elif target is not None:
                client, email, rates, outbox = self.journey_emails[plan]
                if target.join <= sent < target.end and not client.suppressed(target.lower, sent):
                    email.recipients.append(
                        TrackingEvent(date=client.clock.local(sent), email=target.rec[0], list_id=target.rec[1])
                    )
                    deliver(rng, client, target, sent, gen_ts, rates, outbox)

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
                        custom_fields=field_values(rng, fields, person, joined, has_notes and position < 2),
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


def plan_campaign(rng: random.Random, client: ClientSim, sent: int, names: set[str]) -> CampaignRecord:
    record, cp = client.record, client.profile
    local = client.clock.local(sent)
    name, subject, theme_tags = rng.choice(THEMES)
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
    code = hex16(rng)
    return CampaignRecord(
        campaign_id=new_id(rng),
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


def outbox_for(rng: random.Random, client: ClientSim, campaign: CampaignRecord) -> Outbox:
    urls = rng.sample(client.urls, rng.randint(3, 6))
    slug = ascii_fold(campaign.name)[:40]
    urls = [
        f"{url}?utm_source=campaignmonitor&utm_medium=email&utm_campaign={slug}" if "example" in url else url
        for url in urls
    ]
    return Outbox(
        campaign.opens,
        campaign.clicks,
        campaign.unsubscribes,
        campaign.bounces,
        campaign.spam,
        urls,
        [1.0 / (1 + i) for i in range(len(urls))],
    )


def _add_segments(rng: random.Random, world: World, clients: list[ClientSim], generated_until: datetime) -> None:
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
            segment = SegmentRecord(segment_id=new_id(rng), list_id=lst_record.list_id, title=title, rule_groups=groups)
            world.segments[segment.segment_id] = segment
            client.record.segment_ids.append(segment.segment_id)


# --------------------------------------------------------------------------------------- advancing
