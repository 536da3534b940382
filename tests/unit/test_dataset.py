"""The sandbox's deterministic Campaign Monitor dataset: the world it builds, its history and its manifest."""

from __future__ import annotations

import ast
import json
import unicodedata
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import phonenumbers
import pytest

from cmsf_sandbox.campaign_monitor.world import (
    SUBSCRIBER_STATES,
    ZONES,
    CampaignRecord,
    TrackingEvent,
    World,
    local_to_utc,
    utc_to_local,
)
from cmsf_sandbox.dataset import SIZES, advance_world, generate_people, generate_world, manifest, write_manifest

NOW = datetime(2026, 3, 15, 12, 30, 45, 123456, tzinfo=UTC)
SANDBOX = Path(__file__).resolve().parents[2] / "sandbox" / "src" / "cmsf_sandbox"


@pytest.fixture(scope="module")
def tiny() -> World:
    return generate_world("tiny", 7, NOW)


@pytest.fixture(scope="module")
def small() -> World:
    return generate_world("small", 11, NOW)


@pytest.fixture(scope="module", params=["tiny", "small"])
def world(request: pytest.FixtureRequest, tiny: World, small: World) -> World:
    return tiny if request.param == "tiny" else small


def gen_local(world: World, client_id: str) -> datetime:
    return utc_to_local(world.generated_until, world.clients[client_id].time_zone)


def campaign_events(campaign: CampaignRecord) -> dict[str, list[TrackingEvent]]:
    return {
        "opens": campaign.opens,
        "clicks": campaign.clicks,
        "unsubscribes": campaign.unsubscribes,
        "spam": campaign.spam,
        "bounces": campaign.bounces,
    }


# ------------------------------------------------------------------------------------------- shape


def test_sizes_and_unknown_size() -> None:
    assert SIZES == ("tiny", "small", "medium", "large")
    with pytest.raises(ValueError):
        generate_world("huge", 1, NOW)
    with pytest.raises(ValueError):
        generate_people("huge", 1)


def test_the_sandbox_shares_no_code_with_django_or_the_clients() -> None:
    generation = sorted(SANDBOX.glob("dataset*.py"))
    assert len(generation) == 6  # dataset.py, the four modules it is split into and the transactional part
    for path in (*generation, SANDBOX / "people.py", SANDBOX / "campaign_monitor" / "world.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                assert not name.startswith(("django", "cmsf.campaign_monitor", "cmsf.salesforce")), (path, name)


def test_same_seed_same_world_other_seed_other_world(tiny: World) -> None:
    again = generate_world("tiny", 7, NOW)
    assert manifest(again) == manifest(tiny)
    assert list(again.clients) == list(tiny.clients)
    assert next(iter(again.campaigns)) == next(iter(tiny.campaigns))
    assert list(again.campaigns)[-1] == list(tiny.campaigns)[-1]
    assert list(again.lists) == list(tiny.lists)
    first = next(iter(tiny.campaigns.values()))
    assert next(iter(again.campaigns.values())).opens == first.opens
    for list_id, lst in tiny.lists.items():
        assert again.lists[list_id].subscribers == lst.subscribers
    other = generate_world("tiny", 8, NOW)
    assert manifest(other) != manifest(tiny)
    assert not set(other.clients) & set(tiny.clients)
    assert list(other.campaigns)[-1] != list(tiny.campaigns)[-1]


def test_people_are_deterministic_unique_and_their_mobiles_parse() -> None:
    people = generate_people("small", 3)
    assert people == generate_people("small", 3)
    assert people != generate_people("small", 4)
    assert people[:100] == generate_people("tiny", 3)[:100]  # a larger size extends a smaller one
    assert len({person.email.lower() for person in people}) == len(people)
    with_mobile = [person for person in people if person.mobile_e164]
    assert len(with_mobile) > len(people) // 2
    assert any(person.mobile_local and not person.mobile_e164 for person in people)  # junk typed in a CRM
    assert {"US", "AU", "GB", "IN", "JP"} <= {person.country_code for person in with_mobile}
    for person in with_mobile:
        number = phonenumbers.parse(person.mobile_local, person.country_code)
        assert phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) == person.mobile_e164
    samples = {person.country_code: person.mobile_local for person in with_mobile}
    assert samples["AU"].startswith(("04", "+61"))
    assert samples["GB"].startswith(("07", "+44"))


def test_account_clients_in_different_zones_and_oauth(world: World) -> None:
    expected = {"tiny": 2, "small": 3, "medium": 4, "large": 5}[world.size]
    assert len(world.clients) == expected
    zones = [client.time_zone for client in world.clients.values()]
    assert len(set(zones)) == expected and set(zones) <= set(ZONES)
    keys = [world.account_api_key, *(client.api_key for client in world.clients.values())]
    assert len(set(keys)) == len(keys)
    for client in world.clients.values():
        assert len(client.client_id) == 32 and int(client.client_id, 16) >= 0
        assert client.contact_name and "@" in client.email_address and client.country
        assert client.list_ids and client.campaign_ids and client.journey_ids and client.segment_ids
    assert world.oauth_app is not None
    assert world.oauth_app.client_id.isdigit() and world.oauth_app.client_secret
    assert world.oauth_app.redirect_uri == "https://127.0.0.1/oauth/callback"


def test_custom_fields_of_every_type_with_long_and_repeated_values(world: World) -> None:
    types = {field.data_type for lst in world.lists.values() for field in lst.custom_fields.values()}
    assert {"Text", "Number", "Date", "MultiSelectOne", "MultiSelectMany", "Country"} <= types
    longest = 0
    repeated = False
    for lst in world.lists.values():
        for key, field in lst.custom_fields.items():
            assert key == "[" + field.name.lower().replace(" ", "") + "]"
            if field.data_type.startswith("MultiSelect"):
                assert field.options
        names = {field.name: field for field in lst.custom_fields.values()}
        for subscriber in lst.subscribers.values():
            counts = Counter(name for name, _ in subscriber.custom_fields)
            for name, value in subscriber.custom_fields:
                assert name in names
                assert 0 < len(value) <= 250
                longest = max(longest, len(value))
                if names[name].data_type.startswith("MultiSelect"):
                    assert value in names[name].options
            repeated |= any(counts[name] > 1 and names[name].data_type == "MultiSelectMany" for name in counts)
    assert longest >= 200
    assert repeated


# -------------------------------------------------------------------------------------- the mess


def test_every_state_and_consents(world: World) -> None:
    states = Counter(sub.state for lst in world.lists.values() for sub in lst.subscribers.values())
    assert set(states) == set(SUBSCRIBER_STATES)
    assert states["Active"] > sum(states.values()) / 2
    if world.size == "small":
        assert states["Unsubscribed"] > states["Bounced"] and states["Active"] > states["Unsubscribed"]
        assert states["Deleted"] > states["Unconfirmed"]
    subscribers = [sub for lst in world.lists.values() for sub in lst.subscribers.values()]
    assert {sub.consent_to_track for sub in subscribers} == {"Yes", "No"}
    with_mobile = [sub for sub in subscribers if sub.mobile_number]
    assert with_mobile and all(sub.mobile_number.startswith("+") for sub in with_mobile)
    assert {sub.consent_to_send_sms for sub in with_mobile} == {"Yes", "No"}
    assert any(sub.reads_email_with == "" for sub in subscribers)
    assert any(sub.reads_email_with for sub in subscribers)
    for lst in world.lists.values():
        for lower, sub in lst.subscribers.items():
            assert lower == sub.email.lower()
            assert sub.date >= sub.list_joined_date
            assert sub.date.microsecond == 0 and sub.list_joined_date.microsecond == 0
            if sub.state == "Unconfirmed":
                assert lst.confirmed_opt_in


def test_case_variants_and_shared_addresses(world: World) -> None:
    spellings: dict[str, set[str]] = {}
    clients: dict[str, set[str]] = {}
    lists: Counter[str] = Counter()
    for lst in world.lists.values():
        for lower, sub in lst.subscribers.items():
            spellings.setdefault(lower, set()).add(sub.email)
            clients.setdefault(lower, set()).add(lst.client_id)
            lists[lower] += 1
    assert any(len(found) > 1 for found in spellings.values())  # "Ana.Lopez@Example.com" and "ana.lopez@example.com"
    assert any(len(found) > 1 for found in clients.values())
    assert any(count > 1 for count in lists.values())
    assert any(email != email.lower() for found in spellings.values() for email in found)


def test_names_in_many_scripts(world: World) -> None:
    scripts: set[str] = set()
    for lst in world.lists.values():
        for sub in lst.subscribers.values():
            for char in sub.name:
                if char.isalpha():
                    word = unicodedata.name(char, "?").split()[0]
                    scripts.add("ACCENTED" if word == "LATIN" and not char.isascii() else word)
    assert {"LATIN", "ACCENTED", "CYRILLIC", "GREEK", "CJK", "ARABIC", "HEBREW", "DEVANAGARI"} <= scripts


# ---------------------------------------------------------------------------------------- history


def test_campaigns_span_more_than_a_year_with_tags_and_urls(world: World) -> None:
    dates = [campaign.sent_date for campaign in world.campaigns.values()]
    assert max(dates) - min(dates) > timedelta(days=366)
    assert any(not campaign.tags for campaign in world.campaigns.values())
    assert any(len(campaign.tags) > 1 for campaign in world.campaigns.values())
    for campaign in world.campaigns.values():
        client = world.clients[campaign.client_id]
        assert campaign.campaign_id in client.campaign_ids
        assert campaign.list_ids and set(campaign.list_ids) <= set(client.list_ids)
        assert campaign.web_version_url.startswith("https://sandbox.createsend.test/t/r-")
        assert campaign.web_version_text_url == campaign.web_version_url + "/t"
        code = campaign.web_version_url.rsplit("r-", 1)[1]
        assert len(code) == 16 and code == code.upper()
        assert campaign.worldview_url == f"https://sandbox.createsend.test/reports/wv/r/{code}"
        assert campaign.sent_date.microsecond == 0
    for client in world.clients.values():
        sent = [world.campaigns[cid].sent_date for cid in client.campaign_ids]
        assert sent == sorted(sent)
        assert len({world.campaigns[cid].name for cid in client.campaign_ids}) == len(sent)


def test_events_sorted_and_between_send_and_end(world: World) -> None:
    for campaign in world.campaigns.values():
        end = gen_local(world, campaign.client_id)
        lowers = [email.lower() for email, _ in campaign.recipients]
        assert lowers == sorted(lowers) and len(set(lowers)) == len(lowers)
        recipients = set(campaign.recipients)
        for name, events in campaign_events(campaign).items():
            dates = [event.date for event in events]
            assert dates == sorted(dates), (campaign.name, name)
            for event in events:
                assert campaign.sent_date < event.date <= end
                assert (event.email, event.list_id) in recipients
        for event in campaign.clicks:
            assert event.url.startswith("https://") and event.city and event.ip_address
        for event in campaign.opens:
            assert event.latitude is not None and event.country_code and event.country_name
        assert {event.bounce_type for event in campaign.bounces} <= {"Hard", "Soft"}


def test_rates_are_realistic(small: World) -> None:
    totals = manifest(small)["totals"]
    recipients = totals["recipients"]
    assert 0.18 < totals["unique_opens"] / recipients < 0.33
    assert totals["opens"] > totals["unique_opens"] * 1.5  # repeat opens
    clickers = sum(len({event.email.lower() for event in c.clicks}) for c in small.campaigns.values())
    assert 0.02 < clickers / recipients < 0.06
    assert 0.008 < totals["bounces"] / recipients < 0.025
    assert 0.0005 < totals["unsubscribes"] / recipients < 0.006
    assert 0 < totals["spam_complaints"] / recipients < 0.001
    assert 40_000 < totals["tracking_events"] < 150_000
    assert 4_000 < totals["memberships"] < 7_000
    reasons = {event.reason for c in small.campaigns.values() for event in c.bounces}
    assert {"Hard Bounce", "Soft Bounce - Mailbox Full"} <= reasons
    cities = {event.city for c in small.campaigns.values() for event in c.opens}
    assert len(cities) >= 15


def test_recipients_were_active_when_the_campaign_went(world: World) -> None:
    for campaign in world.campaigns.values():
        for email, list_id in campaign.recipients:
            sub = world.lists[list_id].subscribers[email.lower()]
            assert sub.email == email
            assert sub.list_joined_date <= campaign.sent_date
            assert sub.state != "Unconfirmed"
            if sub.state != "Active":
                assert sub.date > campaign.sent_date


def test_unsubscribes_spam_and_bounces_agree_with_lists_and_suppression(world: World) -> None:
    check_states_agree_with_events(world)


def check_states_agree_with_events(world: World) -> None:
    for campaign in world.campaigns.values():
        client = world.clients[campaign.client_id]
        for event in campaign.unsubscribes:
            sub = world.lists[event.list_id].subscribers[event.email.lower()]
            assert (sub.state, sub.date) == ("Unsubscribed", event.date)
            if world.lists[event.list_id].add_unsubscribes_to_supp_list:
                assert event.email.lower() in client.suppression
        for event in campaign.spam:
            sub = world.lists[event.list_id].subscribers[event.email.lower()]
            assert (sub.state, sub.date) == ("Unsubscribed", event.date)
            assert event.email.lower() in client.suppression
        for event in campaign.bounces:
            if event.bounce_type == "Hard":
                sub = world.lists[event.list_id].subscribers[event.email.lower()]
                assert (sub.state, sub.date) == ("Bounced", event.date)
                assert event.email.lower() in client.suppression
                assert event.reason == "Hard Bounce"
    for email in world.journey_emails.values():
        for event in email.unsubscribes:
            sub = world.lists[event.list_id].subscribers[event.email.lower()]
            assert (sub.state, sub.date) == ("Unsubscribed", event.date)
        for event in email.bounces:
            if event.bounce_type == "Hard":
                sub = world.lists[event.list_id].subscribers[event.email.lower()]
                assert (sub.state, sub.date) == ("Bounced", event.date)
    reasons: Counter[str] = Counter()
    for client in world.clients.values():
        end = gen_local(world, client.client_id)
        for lower, entry in client.suppression.items():
            assert lower == entry.email.lower() and entry.date <= end and entry.state == "Suppressed"
            reasons[entry.reason] += 1
    assert {"Unsubscribed", "Bounced", "Manually added"} <= set(reasons)
    assert set(reasons) <= {"Unsubscribed", "Bounced", "Manually added", "Spam complaint"}


def test_journeys_and_segments(world: World) -> None:
    for client in world.clients.values():
        assert client.journey_ids
        for journey_id in client.journey_ids:
            journey = world.journeys[journey_id]
            assert journey.client_id == client.client_id and journey.list_id in client.list_ids
            assert journey.trigger_type == "On Subscription" and journey.status in ("Active", "Paused")
            assert 2 <= len(journey.emails) <= 3
            end = gen_local(world, client.client_id)
            for email in journey.emails:
                assert world.journey_emails[email.email_id] is email
                sent = {event.email.lower() for event in email.recipients}
                for events in (email.recipients, email.opens, email.clicks, email.unsubscribes, email.bounces):
                    dates = [event.date for event in events]
                    assert dates == sorted(dates)
                    assert all(date <= end for date in dates)
                    assert all(event.email.lower() in sent for event in events)
        for segment_id in client.segment_ids:
            segment = world.segments[segment_id]
            assert segment.list_id in client.list_ids
            assert segment.rule_groups and all(group["Rules"] for group in segment.rule_groups)
    assert sum(len(email.opens) for email in world.journey_emails.values()) > 0


def test_the_dataset_ends_three_hours_before_now(world: World) -> None:
    assert world.generated_until == NOW - timedelta(hours=3)
    for client in world.clients.values():
        end = gen_local(world, client.client_id)
        for campaign_id in client.campaign_ids:
            assert world.campaigns[campaign_id].sent_date < end
        for list_id in client.list_ids:
            for sub in world.lists[list_id].subscribers.values():
                assert sub.list_joined_date <= sub.date <= end


def test_local_times_match_the_zone_rules_across_daylight_saving() -> None:
    from cmsf_sandbox.dataset_sim import Clock

    for zone in ZONES:
        clock = Clock(zone, datetime(2100, 1, 1))
        start = int(datetime(2025, 3, 1, tzinfo=UTC).timestamp())
        for ts in range(start, start + 400 * 86400, 7 * 3600 + 17):
            local = utc_to_local(datetime.fromtimestamp(ts, UTC), zone)
            assert clock.local(ts) == local
            assert clock.utc(local) == int(local_to_utc(local, zone).timestamp())
        for first in (datetime(2025, 3, 8), datetime(2025, 9, 27)):  # every change of either hemisphere
            for step in range(0, 40 * 144):
                local = first + timedelta(minutes=10 * step)  # gaps and folds included
                assert clock.utc(local) == int(local_to_utc(local, zone).timestamp())
    assert Clock(next(iter(ZONES)), datetime(2025, 1, 1)).local(start) == datetime(2025, 1, 1)  # never later


def test_now_defaults_to_the_clock() -> None:
    before = datetime.now(UTC)
    world = generate_world("tiny", 1)
    assert before - timedelta(hours=3) <= world.generated_until <= datetime.now(UTC) - timedelta(hours=3)


# ---------------------------------------------------------------------------------------- manifest


def test_manifest_counts_what_is_there(world: World, tmp_path: Path) -> None:
    data = manifest(world)
    totals = data["totals"]
    lists = world.lists.values()
    campaigns = world.campaigns.values()
    assert totals["clients"] == len(world.clients) == len(data["clients"])
    assert totals["lists"] == len(world.lists)
    assert totals["memberships"] == sum(len(lst.subscribers) for lst in lists)
    assert totals["unique_emails"] == len({lower for lst in lists for lower in lst.subscribers})
    assert totals["custom_fields"] == sum(len(lst.custom_fields) for lst in lists)
    assert totals["subscribers_by_state"] == {
        state: sum(sub.state == state for lst in lists for sub in lst.subscribers.values())
        for state in SUBSCRIBER_STATES
    }
    assert totals["campaigns"] == len(world.campaigns)
    assert totals["recipients"] == sum(len(c.recipients) for c in campaigns)
    for key, attr in (("opens", "opens"), ("clicks", "clicks"), ("bounces", "bounces")):
        assert totals[key] == sum(len(getattr(c, attr)) for c in campaigns)
    assert totals["unsubscribes"] == sum(len(c.unsubscribes) for c in campaigns)
    assert totals["spam_complaints"] == sum(len(c.spam) for c in campaigns)
    assert totals["tracking_events"] == sum(len(events) for c in campaigns for events in campaign_events(c).values())
    assert totals["suppressions"] == sum(len(client.suppression) for client in world.clients.values())
    assert totals["journeys"] == len(world.journeys) and totals["journey_emails"] == len(world.journey_emails)
    assert totals["journey_events"] == sum(
        len(e.opens) + len(e.clicks) + len(e.unsubscribes) + len(e.bounces) for e in world.journey_emails.values()
    )
    assert totals["segments"] == len(world.segments)
    assert data["generated_until"] == world.generated_until.isoformat() and data["seed"] == world.seed
    for client_id, entry in data["clients"].items():
        client = world.clients[client_id]
        assert entry["time_zone"] == client.time_zone and entry["campaigns"] == len(client.campaign_ids)
        for list_id, lst in entry["lists"].items():
            assert sum(lst["subscribers_by_state"].values()) == len(world.lists[list_id].subscribers)
    path = tmp_path / "nested" / "manifest.json"
    write_manifest(world, path)
    assert json.loads(path.read_text(encoding="utf-8")) == data


# ----------------------------------------------------------------------------------------- advance


def test_advance_adds_only_later_activity_and_never_passes_now() -> None:
    world = generate_world("small", 5, NOW)
    before = world.generated_until
    old_ends = {cid: gen_local(world, cid) for cid in world.clients}
    old_opens = {cid: len(c.opens) for cid, c in world.campaigns.items()}
    old_campaigns = set(world.campaigns)
    later = NOW + timedelta(days=2)
    counts = advance_world(world, later + timedelta(days=5), now=later)
    assert world.generated_until == later  # clamped to now
    assert counts["opens"] > 0 and counts["subscribers"] > 0 and counts["journey_events"] >= 0
    assert counts["campaigns"] == len(set(world.campaigns) - old_campaigns)
    for cid, campaign in world.campaigns.items():
        new_end = gen_local(world, campaign.client_id)
        for events in campaign_events(campaign).values():
            dates = [event.date for event in events]
            assert dates == sorted(dates)
            assert all(date <= new_end for date in dates)
        if cid in old_campaigns:
            assert all(event.date > old_ends[campaign.client_id] for event in campaign.opens[old_opens[cid] :])
        else:
            assert campaign.sent_date > old_ends[campaign.client_id]
    assert sum(len(c.opens) for c in world.campaigns.values()) - sum(old_opens.values()) == counts["opens"]
    for lst in world.lists.values():
        for sub in lst.subscribers.values():
            assert sub.list_joined_date <= sub.date <= gen_local(world, lst.client_id)
    assert world.generated_until > before
    check_states_agree_with_events(world)


def test_advance_is_a_no_op_up_to_generated_until_and_deterministic() -> None:
    world = generate_world("tiny", 9, NOW)
    snapshot = manifest(world)
    zeros = advance_world(world, world.generated_until, now=NOW)
    assert set(zeros.values()) == {0}
    assert advance_world(world, NOW - timedelta(days=1), now=NOW) == zeros
    assert manifest(world) == snapshot
    twin = generate_world("tiny", 9, NOW)
    step = NOW + timedelta(hours=30)
    assert advance_world(world, step, now=step) == advance_world(twin, step, now=step)
    assert manifest(world) == manifest(twin)
    assert world.generated_until == step
    again = advance_world(world, step, now=step + timedelta(hours=1))
    assert set(again.values()) == {0}
