"""cmsf's Campaign Monitor client against the emulator, over real HTTPS with the emulator's own CA.

What the client reads is checked against the emulator's world, which the test holds in-process."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from cmsf.campaign_monitor import timezones
from cmsf.campaign_monitor.api import CAMPAIGN_ACTIVITIES, SUBSCRIBER_STATES, CampaignMonitor
from cmsf.campaign_monitor.errors import ConfigurationError, FatalError
from cmsf.campaign_monitor.oauth import authorize_url, exchange_code
from cmsf.campaign_monitor.records import SubscriberInput
from cmsf.campaign_monitor.transport import ApiKeyAuth, OAuthAuth, Transport
from cmsf_sandbox.campaign_monitor.app import create_app
from cmsf_sandbox.dataset import generate_world
from cmsf_sandbox.server import serve_in_thread
from cmsf_sandbox.tls import generate_tls_files

SEED = 7


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    world = generate_world("tiny", SEED)
    tls = generate_tls_files(tmp_path_factory.mktemp("tls"))
    with serve_in_thread(create_app(world, "none"), tls=tls) as base:
        yield {"world": world, "base": base, "ca": str(tls.ca_file)}


@pytest.fixture
def admin(emulator):
    session = requests.Session()

    def call(method, path, **kwargs):
        url = f"{emulator['base']}/admin{path}"
        response = session.request(method, url, timeout=30, verify=emulator["ca"], **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    yield call
    call("POST", "/faults", json={"profile": "none"})


def make_client(emulator, *, key=None, auth=None, page_size=1000, parallel=1) -> CampaignMonitor:
    transport = Transport(
        auth or ApiKeyAuth(key or emulator["world"].account_api_key),
        base_url=f"{emulator['base']}/api/v3.3",
        ca_bundle=emulator["ca"],
    )
    return CampaignMonitor(transport, page_size=page_size, parallel=parallel)


@pytest.fixture
def cm(emulator):
    client = make_client(emulator)
    yield client
    client.transport.close()


def a_client_with_lists(world):
    return next(c for c in world.clients.values() if c.list_ids and c.campaign_ids)


def test_the_system_ca_bundle_does_not_trust_the_emulator(emulator):
    transport = Transport(ApiKeyAuth("k"), base_url=f"{emulator['base']}/api/v3.3", ca_bundle=True)
    with pytest.raises(Exception, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        CampaignMonitor(transport).clients()


def test_clients_lists_and_custom_fields_match_the_account(cm, emulator):
    world = emulator["world"]
    assert {c.client_id: c.name for c in cm.clients()} == {c.client_id: c.company_name for c in world.clients.values()}
    for record in world.clients.values():
        details = cm.client(record.client_id)
        assert details.time_zone == record.time_zone
        assert {lst.list_id for lst in cm.lists(record.client_id)} == set(record.list_ids)
    lst = world.lists[a_client_with_lists(world).list_ids[0]]
    assert cm.list_details(lst.list_id).title == lst.title
    assert {f.key for f in cm.custom_fields(lst.list_id)} == set(lst.custom_fields)


def test_a_client_key_sees_only_its_client(emulator):
    world = emulator["world"]
    mine, other = list(world.clients.values())[:2]
    cm = make_client(emulator, key=mine.api_key)
    assert cm.client(mine.client_id).name == mine.company_name
    with pytest.raises(ConfigurationError) as error:
        cm.client(other.client_id)
    assert error.value.code == 102


def test_a_bad_key_is_a_configuration_error(emulator):
    with pytest.raises(ConfigurationError) as error:
        make_client(emulator, key="not-a-key").clients()
    assert error.value.code == 100 and error.value.status == 401


def test_subscribers_of_every_state_match_the_list_and_stats(cm, emulator):
    world = emulator["world"]
    for client_record in world.clients.values():
        zone = client_record.time_zone
        for list_id in client_record.list_ids:
            lst = world.lists[list_id]
            read = {state: list(cm.subscribers(list_id, state, zone=zone)) for state in SUBSCRIBER_STATES}
            for state, subscribers in read.items():
                expected = {s.email.lower() for s in lst.subscribers.values() if s.state.lower() == state}
                assert {s.email.lower() for s in subscribers} == expected, (list_id, state)
                dates = [s.date for s in subscribers]
                assert dates == sorted(dates)  # oldest first, as the cursor of the sync needs
            stats = cm.list_stats(list_id)
            assert stats.total_active == len(read["active"])
            sample = next(iter(lst.subscribers.values()))
            one = cm.subscriber(list_id, sample.email, zone=zone)
            assert one is not None and one.state == sample.state
            assert one.date == timezones.to_utc(sample.date, zone)


def test_paging_across_many_pages_reads_everything_once(emulator):
    world = emulator["world"]
    campaign = max(world.campaigns.values(), key=lambda c: len(c.opens))
    zone = world.clients[campaign.client_id].time_zone
    cm = make_client(emulator, page_size=10)
    opens = list(cm.campaign_activity(campaign.campaign_id, "opens", zone=zone))
    assert len(opens) == len(campaign.opens) > 30
    assert cm.transport.calls["GET /campaigns/{campaignid}/opens.json"] == math.ceil(len(campaign.opens) / 10)
    parallel = make_client(emulator, page_size=10, parallel=4)
    assert list(parallel.campaign_activity(campaign.campaign_id, "opens", zone=zone)) == opens


def test_the_date_filter_is_inclusive_at_the_boundary(cm, emulator):
    world = emulator["world"]
    campaign = max(world.campaigns.values(), key=lambda c: len(c.opens))
    zone = world.clients[campaign.client_id].time_zone
    boundary_event = campaign.opens[len(campaign.opens) // 2]
    since = timezones.to_utc(boundary_event.date, zone)
    read = list(cm.campaign_activity(campaign.campaign_id, "opens", zone=zone, since=since))
    floor = boundary_event.date.replace(second=0)
    expected = [e for e in campaign.opens if e.date >= floor]
    assert len(read) == len(expected)
    assert any(a.email == boundary_event.email and a.date == since for a in read)
    later = list(cm.campaign_activity(campaign.campaign_id, "opens", zone=zone, since=since + timedelta(minutes=1)))
    later_floor = (boundary_event.date + timedelta(minutes=1)).replace(second=0)
    assert len(later) == len([e for e in campaign.opens if e.date >= later_floor])


def test_campaigns_summaries_and_every_kind_of_activity(cm, emulator):
    world = emulator["world"]
    for client_record in world.clients.values():
        zone = client_record.time_zone
        campaigns = list(cm.sent_campaigns(client_record.client_id, zone=zone))
        assert {c.campaign_id for c in campaigns} == set(client_record.campaign_ids)
        assert [c.sent_date for c in campaigns] == sorted(c.sent_date for c in campaigns)
        for campaign in campaigns:
            record = world.campaigns[campaign.campaign_id]
            assert campaign.tags == tuple(record.tags)
            summary = cm.campaign_summary(campaign.campaign_id)
            assert summary.recipients == len(record.recipients)
            assert summary.unique_opened == len({e.email.lower() for e in record.opens})
            recipients = list(cm.campaign_recipients(campaign.campaign_id, zone=zone))
            assert len(recipients) == len(record.recipients)
            for kind in CAMPAIGN_ACTIVITIES:
                activity = list(cm.campaign_activity(campaign.campaign_id, kind, zone=zone))
                stored = getattr(record, kind)
                assert [a.email for a in activity] == [e.email for e in stored], (campaign.campaign_id, kind)
                if kind == "clicks" and activity:
                    assert all(a.url for a in activity)
                if kind == "bounces" and activity:
                    assert {a.bounce_type for a in activity} <= {"Hard", "Soft"}


def test_the_tag_filter_and_the_sent_from_date(cm, emulator):
    world = emulator["world"]
    client_record = a_client_with_lists(world)
    zone = client_record.time_zone
    records = [world.campaigns[i] for i in client_record.campaign_ids]
    tag = next(t for r in records for t in r.tags)
    tagged = list(cm.sent_campaigns(client_record.client_id, zone=zone, tags=[tag]))
    assert {c.campaign_id for c in tagged} == {r.campaign_id for r in records if tag in r.tags}
    middle = sorted(r.sent_date for r in records)[len(records) // 2].date()
    recent = list(cm.sent_campaigns(client_record.client_id, zone=zone, sent_from=middle))
    assert {c.campaign_id for c in recent} == {r.campaign_id for r in records if r.sent_date.date() >= middle}


def test_writes_show_up_in_later_reads_stats_and_the_suppression_list(cm, emulator):
    world = emulator["world"]
    client_record = a_client_with_lists(world)
    zone = client_record.time_zone
    list_id = client_record.list_ids[0]
    before = cm.list_stats(list_id).total_active

    assert (
        cm.add_subscriber(
            list_id, SubscriberInput(email="New.Person@Example.org", name="New Person", consent_to_track="Yes")
        )
        == "New.Person@Example.org"
    )
    added = cm.subscriber(list_id, "new.person@example.org", zone=zone)
    assert added is not None and added.state == "Active" and added.name == "New Person"
    assert cm.list_stats(list_id).total_active == before + 1

    cm.update_subscriber(
        list_id, "New.Person@Example.org", SubscriberInput(email="renamed.person@example.org", name="Renamed")
    )
    assert cm.subscriber(list_id, "renamed.person@example.org", zone=zone).name == "Renamed"
    assert cm.subscriber(list_id, "New.Person@Example.org", zone=zone) is None

    cm.unsubscribe(list_id, "renamed.person@example.org")
    assert any(
        s.email.lower() == "renamed.person@example.org" for s in cm.subscribers(list_id, "unsubscribed", zone=zone)
    )
    if world.lists[list_id].add_unsubscribes_to_supp_list:
        assert any(
            s.email.lower() == "renamed.person@example.org"
            for s in cm.suppression_list(client_record.client_id, zone=zone)
        )

    cm.add_subscriber(list_id, SubscriberInput(email="to.delete@example.org", consent_to_track="No"))
    cm.delete_subscriber(list_id, "to.delete@example.org")
    assert cm.subscriber(list_id, "to.delete@example.org", zone=zone).state == "Deleted"

    cm.suppress(client_record.client_id, ["suppressed.by.test@example.org"])
    assert any(
        s.email == "suppressed.by.test@example.org" for s in cm.suppression_list(client_record.client_id, zone=zone)
    )
    cm.unsuppress(client_record.client_id, "suppressed.by.test@example.org")
    assert not any(
        s.email == "suppressed.by.test@example.org" for s in cm.suppression_list(client_record.client_id, zone=zone)
    )


def test_import_reports_bad_records_and_imports_the_rest(cm, emulator):
    world = emulator["world"]
    list_id = a_client_with_lists(world).list_ids[-1]
    people = [
        SubscriberInput(email=f"import{i}@example.org", name=f"Import {i}", consent_to_track="Yes") for i in range(1200)
    ]
    people.insert(5, SubscriberInput(email="broken@", name="Broken"))
    result = cm.import_subscribers(list_id, people)
    assert result.calls == 2
    assert [(f.email, f.code) for f in result.failures] == [("broken@", 1)]
    assert result.new_subscribers + result.existing_subscribers == 1200
    assert all(world.lists[list_id].subscribers.get(f"import{i}@example.org") for i in (0, 999, 1199))


def test_a_bad_email_on_add_is_fatal_with_code_1(cm, emulator):
    list_id = a_client_with_lists(emulator["world"]).list_ids[0]
    with pytest.raises(FatalError) as error:
        cm.add_subscriber(list_id, SubscriberInput(email="not an email", consent_to_track="Yes"))
    assert error.value.code == 1


def test_journeys_segments_and_webhooks(cm, emulator):
    world = emulator["world"]
    client_record = next(c for c in world.clients.values() if c.journey_ids)
    zone = client_record.time_zone
    journeys = cm.journeys(client_record.client_id)
    assert {j.journey_id for j in journeys} == set(client_record.journey_ids)
    journey = cm.journey(journeys[0].journey_id)
    record = world.journeys[journey.journey_id]
    assert [e.email_id for e in journey.emails] == [e.email_id for e in record.emails]
    email = record.emails[0]
    recipients = list(cm.journey_email_activity(email.email_id, "recipients", zone=zone))
    assert len(recipients) == len(email.recipients)
    assert len(list(cm.journey_email_activity(email.email_id, "opens", zone=zone))) == len(email.opens)

    segments = cm.client_segments(client_record.client_id)
    assert {s.segment_id for s in segments} == set(client_record.segment_ids)
    if segments:
        assert segments[0].list_id in world.lists
        list(cm.segment_subscribers(segments[0].segment_id, zone=zone))

    list_id = client_record.list_ids[0]
    webhook_id = cm.create_webhook(list_id, events=["Subscribe", "Deactivate"], url="https://127.0.0.1:9/hook")
    assert any(w.webhook_id == webhook_id and w.status == "Active" for w in cm.webhooks(list_id))
    cm.deactivate_webhook(list_id, webhook_id)
    assert next(w for w in cm.webhooks(list_id) if w.webhook_id == webhook_id).status != "Active"
    cm.activate_webhook(list_id, webhook_id)
    with pytest.raises(FatalError) as error:
        cm.test_webhook(list_id, webhook_id)  # nothing listens on port 9
    assert error.value.code == 610
    cm.delete_webhook(list_id, webhook_id)
    assert all(w.webhook_id != webhook_id for w in cm.webhooks(list_id))


def test_the_flaky_profile_loses_nothing_and_is_retried(emulator, admin):
    world = emulator["world"]
    campaign = max(world.campaigns.values(), key=lambda c: len(c.opens))
    zone = world.clients[campaign.client_id].time_zone
    calm = list(make_client(emulator, page_size=10).campaign_activity(campaign.campaign_id, "opens", zone=zone))
    admin("POST", "/faults", json={"profile": "flaky"})
    flaky = make_client(emulator, page_size=10)
    for _ in range(3):
        assert list(flaky.campaign_activity(campaign.campaign_id, "opens", zone=zone)) == calm
    pages = math.ceil(len(calm) / 10) * 3
    assert flaky.transport.calls["GET /campaigns/{campaignid}/opens.json"] > pages  # some calls were retried


def test_the_slow_profile_still_answers(emulator, admin):
    admin("POST", "/faults", json={"profile": "slow"})
    cm = make_client(emulator)
    assert len(cm.clients()) == len(emulator["world"].clients)
    assert cm.transport.wait_seconds >= 0.1


def test_oauth_code_exchange_and_refresh_after_expiry(emulator, admin):
    world = emulator["world"]
    app = world.oauth_app
    url = authorize_url(
        client_id=app.client_id, redirect_uri=app.redirect_uri, state="xyz", oauth_url=f"{emulator['base']}/oauth"
    )
    redirect = requests.get(url, verify=emulator["ca"], allow_redirects=False, timeout=30)
    assert redirect.status_code == 302
    query = parse_qs(urlsplit(redirect.headers["Location"]).query)
    assert query["state"] == ["xyz"]
    token_url = f"{emulator['base']}/oauth/token"
    tokens = exchange_code(
        code=query["code"][0],
        client_id=app.client_id,
        client_secret=app.client_secret,
        redirect_uri=app.redirect_uri,
        token_url=token_url,
        ca_bundle=emulator["ca"],
    )
    assert tokens.expires_in == 1209600
    seen = []
    cm = make_client(emulator, auth=OAuthAuth(tokens, token_url=token_url, on_refresh=seen.append))
    assert len(cm.clients()) == len(world.clients)
    admin("POST", "/oauth/expire")
    assert len(cm.clients()) == len(world.clients)
    assert len(seen) == 1 and seen[0].access_token != tokens.access_token
    assert cm.transport.calls["GET /clients.json"] == 3  # ok, expired (121), retried after the refresh

    with pytest.raises(ConfigurationError, match="reconnect"):
        exchange_code(
            code="not-a-code",
            client_id=app.client_id,
            client_secret=app.client_secret,
            redirect_uri=app.redirect_uri,
            token_url=token_url,
            ca_bundle=emulator["ca"],
        )


def test_new_activity_after_advancing_is_read_by_an_incremental_read(cm, emulator, admin):
    world = emulator["world"]
    start = world.generated_until
    marks = {c.campaign_id: len(c.opens) for c in world.campaigns.values()}
    counts = admin("POST", "/advance", json={"until": datetime.now(UTC).isoformat()})
    assert world.generated_until <= datetime.now(UTC)
    new_opens = sum(len(c.opens) - marks.get(c.campaign_id, 0) for c in world.campaigns.values())
    assert new_opens == counts.get("opens", new_opens)
    read = 0
    for campaign in world.campaigns.values():
        zone = world.clients[campaign.client_id].time_zone
        read += sum(
            1 for a in cm.campaign_activity(campaign.campaign_id, "opens", zone=zone, since=start) if a.date > start
        )
    assert read == new_opens


def test_the_remaining_reads_system_date_tags_lists_for_email_list_segments_and_history(cm, emulator):
    world = emulator["world"]
    client_record = a_client_with_lists(world)
    assert len(cm.system_date()) == 19  # "YYYY-MM-DD HH:MM:SS"
    tags = {t for i in client_record.campaign_ids for t in world.campaigns[i].tags}
    assert set(cm.tags(client_record.client_id)) == tags
    lst = world.lists[client_record.list_ids[0]]
    member = next(iter(lst.subscribers.values()))
    memberships = cm.lists_for_email(client_record.client_id, member.email)
    assert lst.list_id in {m["ListID"] for m in memberships}
    assert {s.segment_id for s in cm.list_segments(lst.list_id)} == {
        s.segment_id for s in world.segments.values() if s.list_id == lst.list_id
    }
    campaign = world.campaigns[client_record.campaign_ids[0]]
    assert {entry["ListID"] for entry in cm.campaign_lists_and_segments(campaign.campaign_id)["Lists"]} == set(
        campaign.list_ids
    )
    opener = campaign.opens[0] if campaign.opens else None
    if opener is not None:
        history = cm.subscriber_history(opener.list_id, opener.email)
        assert any(entry["ID"] == campaign.campaign_id for entry in history)


def test_the_emulators_pages_decode_as_built_from_dicts(emulator):
    """Every paged record type, on the pages the emulator serves, is the same decoded straight into typed records
    as built from each record's dict (the tolerant path)."""
    from cmsf.campaign_monitor import decoding
    from cmsf.campaign_monitor.records import Activity, Recipient, Subscriber, Suppression

    world = emulator["world"]
    session = requests.Session()
    session.auth, session.verify, session.trust_env = (world.account_api_key, "x"), emulator["ca"], False
    zone = next(iter(world.clients.values())).time_zone
    api = f"{emulator['base']}/api/v3.3"

    def both(path, decode, build):
        content = session.get(f"{api}/{path}", params={"pagesize": 1000}, timeout=30).content
        typed, _ = decode(content)
        assert typed == [build(d) for d in json.loads(content)["Results"]]
        return len(typed)

    counted = 0
    for lst in world.lists.values():
        for state in SUBSCRIBER_STATES:
            counted += both(f"lists/{lst.list_id}/{state}.json", decoding.subscribers(zone, "x"),
                            lambda d: Subscriber.from_api(d, zone))  # fmt: skip
    for campaign in world.campaigns.values():
        counted += both(f"campaigns/{campaign.campaign_id}/recipients.json", decoding.recipients(zone, "x"),
                        lambda d: Recipient.from_api(d, zone))  # fmt: skip
        for kind in CAMPAIGN_ACTIVITIES:
            counted += both(f"campaigns/{campaign.campaign_id}/{kind}.json", decoding.activities(kind, zone, "x"),
                            lambda d, kind=kind: Activity.from_api(kind, d, zone))  # fmt: skip
    for client in world.clients.values():
        counted += both(f"clients/{client.client_id}/suppressionlist.json", decoding.suppressions(zone, "x"),
                        lambda d: Suppression.from_api(d, zone))  # fmt: skip
    assert counted > 1000
