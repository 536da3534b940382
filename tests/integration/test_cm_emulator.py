"""The Campaign Monitor emulator over real HTTPS: raw `requests` against the contract, no cmsf client code."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from cmsf_sandbox import dataset
from cmsf_sandbox.campaign_monitor.app import create_app
from cmsf_sandbox.campaign_monitor.world import (
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
    utc_to_local,
)
from cmsf_sandbox.server import serve_in_thread
from cmsf_sandbox.tls import TlsFiles, generate_tls_files
from tests.processes import CMSF

ACCOUNT_KEY = "account-key-0123456789"
KEY_A, KEY_B = "client-a-key-0123456789", "client-b-key-0123456789"
CLIENT_A, CLIENT_B = "a" * 32, "b" * 32
LIST_A, LIST_A2, LIST_B = "1a" * 16, "2a" * 16, "1b" * 16
CAMPAIGN, BIG_CAMPAIGN, CAMPAIGN_B = "c1" * 16, "c2" * 16, "cb" * 16
JOURNEY, JOURNEY_EMAIL, SEGMENT = "j1" * 16, "e1" * 16, "51" * 16
SYDNEY = "(GMT+10:00) Canberra, Melbourne, Sydney"
NEW_YORK = "(GMT-05:00) Eastern Time (US & Canada)"
OAUTH = OAuthApp(client_id="8998879", client_secret="oauth-secret", redirect_uri="https://example.com/auth")
BIG_OPENS = 2500


# ------------------------------------------------------------------------------------------ the world


def event(moment: datetime, email: str, list_id: str = LIST_A, **extra: Any) -> TrackingEvent:
    geo = {"latitude": -33.8683, "longitude": 151.2086, "city": "Sydney", "region": "New South Wales"}
    return TrackingEvent(
        date=moment,
        email=email,
        list_id=list_id,
        ip_address="192.168.126.87",
        country_code="AU",
        country_name="Australia",
        **{**geo, **extra},
    )


def make_world() -> World:
    """Two clients in different zones; list A with custom fields and every subscriber state; a campaign with
    events on both sides of a boundary; a campaign with 2500 opens; a journey; a segment; an OAuth app."""
    now_a = utc_to_local(datetime.now(UTC), SYDNEY)
    day = (now_a - timedelta(days=10)).replace(hour=12, minute=0, second=0, microsecond=0)
    world = World(seed=7, size="hand", account_api_key=ACCOUNT_KEY, account_name="Hand-built", oauth_app=OAUTH)
    world.clients[CLIENT_A] = ClientRecord(
        CLIENT_A, "Acme Pty", "Ann Acme", "ann@acme.example", "Australia", SYDNEY, KEY_A
    )
    world.clients[CLIENT_B] = ClientRecord(CLIENT_B, "Beta Inc", "Bob Beta", "bob@beta.example", "USA", NEW_YORK, KEY_B)
    fields = {
        "[website]": CustomFieldDef("website", "[website]", "Text"),
        "[age]": CustomFieldDef("age", "[age]", "Number"),
        "[interests]": CustomFieldDef("interests", "[interests]", "MultiSelectMany", ["Books", "Music", "Sport"]),
    }
    list_a = ListRecord(LIST_A, CLIENT_A, "Newsletter", custom_fields=fields)
    for i in range(25):
        email = f"sub{i:02d}@example.com"
        list_a.subscribers[email] = SubscriberRecord(
            email=email,
            name=f"Subscriber {i:02d}" if i % 5 else "",
            state="Active",
            date=day + timedelta(hours=i),
            list_joined_date=day + timedelta(hours=i),
            custom_fields=[("website", f"https://{i}.example.com"), ("interests", "Books"), ("interests", "Music")],
            consent_to_track="Yes" if i % 2 else "No",
            reads_email_with="Gmail",
        )
    for email, state in (
        ("gone1@example.com", "Unsubscribed"),
        ("gone2@example.com", "Unsubscribed"),
        ("bounce@example.com", "Bounced"),
        ("deleted@example.com", "Deleted"),
        ("pending@example.com", "Unconfirmed"),
    ):
        list_a.subscribers[email] = SubscriberRecord(email, "", state, day, day)
    world.lists[LIST_A] = list_a
    world.lists[LIST_A2] = ListRecord(LIST_A2, CLIENT_A, "Events", unsubscribe_setting="OnlyThisList")
    list_b = ListRecord(LIST_B, CLIENT_B, "Beta list")
    list_b.subscribers["beta@example.com"] = SubscriberRecord("beta@example.com", "Beta", "Active", day, day)
    world.lists[LIST_B] = list_b
    world.clients[CLIENT_A].list_ids = [LIST_A, LIST_A2]
    world.clients[CLIENT_B].list_ids = [LIST_B]
    world.clients[CLIENT_A].suppression["suppressed@example.com"] = SuppressionRecord(
        "suppressed@example.com", "Manually added", day
    )

    boundary = day + timedelta(days=1)  # an open exactly here, another one second earlier
    campaign = CampaignRecord(
        CAMPAIGN,
        CLIENT_A,
        "Spring sale",
        "Spring sale!",
        "Acme",
        "news@acme.example",
        "news@acme.example",
        sent_date=day,
        tags=["Sale", "Spring"],
        list_ids=[LIST_A],
        web_version_url="https://createsend.com/t/r-1",
        web_version_text_url="https://createsend.com/t/r-1/t",
        worldview_url="https://client.createsend.com/reports/wv/r/1",
        recipients=[(f"sub{i:02d}@example.com", LIST_A) for i in range(25)],
        forwards=2,
        likes=3,
        mentions=1,
    )
    campaign.opens = sorted(
        [event(boundary - timedelta(seconds=1), "sub01@example.com"), event(boundary, "sub02@example.com")]
        + [event(day + timedelta(minutes=i), f"sub{i % 5:02d}@example.com") for i in range(1, 9)],
        key=lambda e: e.date,
    )
    campaign.clicks = [event(day + timedelta(minutes=3), "sub01@example.com", url="https://acme.example/sale")]
    campaign.unsubscribes = [event(day + timedelta(minutes=5), "sub03@example.com")]
    campaign.spam = [event(day + timedelta(minutes=6), "sub04@example.com")]
    campaign.bounces = [
        event(day + timedelta(minutes=7), "sub05@example.com", bounce_type="Hard", reason="Hard Bounce")
    ]
    world.campaigns[CAMPAIGN] = campaign
    big = CampaignRecord(
        BIG_CAMPAIGN, CLIENT_A, "Big one", "Big", "Acme", "a@acme.example", "a@acme.example", day - timedelta(days=5)
    )
    big.tags = ["Big"]
    big.opens = [
        event(day - timedelta(days=5) + timedelta(seconds=i), f"reader{i}@example.com") for i in range(BIG_OPENS)
    ]
    world.campaigns[BIG_CAMPAIGN] = big
    other = CampaignRecord(CAMPAIGN_B, CLIENT_B, "Beta news", "News", "Beta", "b@beta.example", "b@beta.example", day)
    world.campaigns[CAMPAIGN_B] = other
    world.clients[CLIENT_A].campaign_ids = [BIG_CAMPAIGN, CAMPAIGN]
    world.clients[CLIENT_B].campaign_ids = [CAMPAIGN_B]

    email = JourneyEmailRecord(JOURNEY_EMAIL, "Welcome")
    email.recipients = [event(day + timedelta(minutes=i), f"sub{i:02d}@example.com") for i in range(3)]
    email.opens = [event(day + timedelta(minutes=10), "sub00@example.com")]
    email.clicks = [event(day + timedelta(minutes=11), "sub00@example.com", url="https://acme.example/hi")]
    world.journeys[JOURNEY] = JourneyRecord(JOURNEY, CLIENT_A, LIST_A, "Onboarding", emails=[email])
    world.journey_emails[JOURNEY_EMAIL] = email
    world.clients[CLIENT_A].journey_ids = [JOURNEY]
    rules = [{"Rules": [{"RuleType": "EmailAddress", "Clause": "CONTAINS sub1"}]}]
    world.segments[SEGMENT] = SegmentRecord(SEGMENT, LIST_A, "Sub ones", rule_groups=rules)
    world.clients[CLIENT_A].segment_ids = [SEGMENT]
    return world


# -------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def cm_emulator_tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return generate_tls_files(tmp_path_factory.mktemp("tls"))


class Emu:
    """A running emulator: its URLs, world and an HTTPS session that trusts the sandbox CA."""

    def __init__(self, base: str, app: Any, tls: TlsFiles) -> None:
        self.base = base
        self.api = base + "/api/v3.3"
        self.app = app
        self.world: World = app.state.emulator.world
        self.session = requests.Session()
        self.session.trust_env = False  # REQUESTS_CA_BUNDLE would otherwise override session.verify
        self.session.verify = str(tls.ca_file)

    def get(self, path: str, key: str | None = ACCOUNT_KEY, **kwargs: Any) -> requests.Response:
        return self.call("GET", path, key, **kwargs)

    def call(self, method: str, path: str, key: str | None = ACCOUNT_KEY, **kwargs: Any) -> requests.Response:
        auth = (key, "x") if key is not None else None
        return self.session.request(method, self.api + path, auth=auth, timeout=15, **kwargs)

    def admin(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(method, self.base + "/admin" + path, timeout=30, **kwargs)


@pytest.fixture
def cm_emulator(cm_emulator_tls: TlsFiles) -> Iterator[Emu]:
    app = create_app(make_world(), webhook_window=0.2)
    with serve_in_thread(app, tls=cm_emulator_tls) as base:
        emu = Emu(base, app, cm_emulator_tls)
        yield emu
        emu.session.close()


class Receiver:
    """A plain-HTTP webhook receiver on loopback that records every POST."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, Any]]] = []
        received = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((self.headers["Content-Type"], json.loads(body)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.posts) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return [body for _, body in self.posts]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def cm_emulator_receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


def dead_url() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/nobody-home"


def error(response: requests.Response) -> tuple[int, int]:
    return response.status_code, response.json()["Code"]


# ---------------------------------------------------------------------------------------------- tests


def test_clients_over_tls_with_account_and_client_keys(cm_emulator: Emu) -> None:
    response = cm_emulator.get("/clients.json")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert all(h in response.headers for h in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"))
    assert response.json() == [{"ClientID": CLIENT_A, "Name": "Acme Pty"}, {"ClientID": CLIENT_B, "Name": "Beta Inc"}]
    assert cm_emulator.get("/clients.json", KEY_B).json() == [{"ClientID": CLIENT_B, "Name": "Beta Inc"}]
    details = cm_emulator.get(f"/clients/{CLIENT_A}.json", KEY_A).json()
    assert list(details) == ["ApiKey", "AccessDetails", "BasicDetails", "BillingDetails"]
    assert details["BasicDetails"]["TimeZone"] == SYDNEY
    system = cm_emulator.get("/systemdate.json").json()["SystemDate"]
    assert abs(datetime.fromisoformat(system) - utc_to_local(datetime.now(UTC), SYDNEY)) < timedelta(minutes=1)
    assert SYDNEY in cm_emulator.get("/timezones.json").json()


def test_auth_errors(cm_emulator: Emu) -> None:
    assert error(cm_emulator.get("/clients.json", key=None)) == (401, 50)
    assert cm_emulator.get("/clients.json", key=None).json()["Message"] == (
        "Must supply a valid HTTP Basic Authorization header"
    )
    assert error(cm_emulator.get("/clients.json", key="nope")) == (401, 100)
    assert error(cm_emulator.get(f"/clients/{CLIENT_B}/lists.json", KEY_A)) == (401, 102)
    assert error(cm_emulator.get(f"/clients/{'f' * 32}.json")) == (401, 102)
    assert error(cm_emulator.get(f"/lists/{'f' * 32}.json")) == (401, 101)
    assert error(cm_emulator.get(f"/lists/{LIST_B}/active.json", KEY_A)) == (401, 101)
    assert error(cm_emulator.get(f"/campaigns/{CAMPAIGN_B}/summary.json", KEY_A))[0] == 400
    assert error(cm_emulator.get(f"/journeys/{'0' * 32}.json")) == (400, 3000)
    assert error(cm_emulator.get(f"/segments/{'0' * 32}.json")) == (400, 271)
    bearer = cm_emulator.session.get(
        cm_emulator.api + "/clients.json", headers={"Authorization": "Bearer not-a-token"}, timeout=5
    )
    assert error(bearer) == (401, 120)


def test_unknown_routes_are_404_with_a_json_body(cm_emulator: Emu) -> None:
    for url in (cm_emulator.api + "/nothing/here.json", cm_emulator.base + "/elsewhere"):
        response = cm_emulator.session.get(url, timeout=5)
        assert response.status_code == 404
        assert response.json() == {"Code": 404, "Message": "Not Found"}


def test_routes_and_parameter_names_are_case_insensitive_and_empty_values_ignored(cm_emulator: Emu) -> None:
    upper = cm_emulator.get(f"/Clients/{CLIENT_A}/Lists.json").json()
    assert [item["ListID"] for item in upper] == [LIST_A, LIST_A2]
    page = cm_emulator.get(f"/lists/{LIST_A}/active.json", params={"PageSize": 10, "OrderDirection": "desc"}).json()
    assert (page["PageSize"], page["OrderDirection"], page["RecordsOnThisPage"]) == (10, "desc", 10)
    assert page["Results"][0]["EmailAddress"] == "sub24@example.com"
    empty = {"date": "", "page": "", "pagesize": "", "orderfield": "", "orderdirection": ""}
    defaults = cm_emulator.get(f"/lists/{LIST_A}/active.json", params=empty).json()
    assert (defaults["PageNumber"], defaults["PageSize"], defaults["ResultsOrderedBy"]) == (1, 1000, "email")
    assert defaults["TotalNumberOfRecords"] == 25
    tracking = cm_emulator.get(
        f"/lists/{LIST_A}/active.json", params={"includeTrackingPreference": "True", "pagesize": 10}
    ).json()
    first = tracking["Results"][0]
    assert list(first) == [
        "EmailAddress",
        "Name",
        "Date",
        "ListJoinedDate",
        "State",
        "CustomFields",
        "ReadsEmailWith",
        "ConsentToTrack",
    ]
    assert first["CustomFields"][1:] == [{"Key": "interests", "Value": "Books"}, {"Key": "interests", "Value": "Music"}]


def test_paging_envelope_and_limits(cm_emulator: Emu) -> None:
    path = f"/campaigns/{BIG_CAMPAIGN}/opens.json"
    first = cm_emulator.get(path, params={"page": 1, "pagesize": 1000}).json()
    assert list(first) == [
        "Results",
        "ResultsOrderedBy",
        "OrderDirection",
        "PageNumber",
        "PageSize",
        "RecordsOnThisPage",
        "TotalNumberOfRecords",
        "NumberOfPages",
    ]
    assert (first["ResultsOrderedBy"], first["OrderDirection"], first["NumberOfPages"]) == ("date", "asc", 3)
    assert first["TotalNumberOfRecords"] == BIG_OPENS and first["RecordsOnThisPage"] == 1000
    assert list(first["Results"][0]) == [
        "EmailAddress",
        "ListID",
        "Date",
        "IPAddress",
        "Latitude",
        "Longitude",
        "City",
        "Region",
        "CountryCode",
        "CountryName",
    ]
    dates = [r["Date"] for r in first["Results"]]
    assert dates == sorted(dates)
    last = cm_emulator.get(path, params={"page": 3, "pagesize": 1000}).json()
    assert (
        last["RecordsOnThisPage"] == 500 and last["Results"][-1]["EmailAddress"] == f"reader{BIG_OPENS - 1}@example.com"
    )
    past = cm_emulator.get(path, params={"page": 4, "pagesize": 1000}).json()
    assert past["Results"] == [] and past["RecordsOnThisPage"] == 0 and past["NumberOfPages"] == 3
    desc = cm_emulator.get(path, params={"pagesize": 10, "orderdirection": "desc"}).json()
    assert desc["Results"][0]["EmailAddress"] == f"reader{BIG_OPENS - 1}@example.com"
    for params, code in (
        ({"pagesize": 5}, 801),
        ({"pagesize": 1001}, 801),
        ({"page": 0}, 800),
        ({"orderfield": "colour"}, 802),
        ({"orderdirection": "up"}, 803),
        ({"date": "yesterday"}, 5),
    ):
        assert error(cm_emulator.get(path, params=params)) == (400, code), params
    nothing = cm_emulator.get(f"/lists/{LIST_A2}/active.json").json()
    assert (nothing["TotalNumberOfRecords"], nothing["NumberOfPages"]) == (0, 0)
    sent = cm_emulator.get(f"/clients/{CLIENT_A}/campaigns.json", params={"pagesize": 10}).json()
    assert (sent["ResultsOrderedBy"], sent["OrderDirection"]) == ("SentDate", "desc")
    assert [c["CampaignID"] for c in sent["Results"]] == [CAMPAIGN, BIG_CAMPAIGN]
    assert sent["Results"][0]["Tags"] == ["Sale", "Spring"] and sent["Results"][0]["TotalRecipients"] == 25
    tagged = cm_emulator.get(f"/clients/{CLIENT_A}/campaigns.json", params={"tags": "big,nothing"}).json()
    assert [c["CampaignID"] for c in tagged["Results"]] == [BIG_CAMPAIGN]
    assert error(cm_emulator.get(f"/clients/{CLIENT_A}/campaigns.json", params={"sentfromdate": "2020/01/01"})) == (
        400,
        920,
    )
    backwards = {"sentfromdate": "2020-02-01", "senttodate": "2020-01-01"}
    assert error(cm_emulator.get(f"/clients/{CLIENT_A}/campaigns.json", params=backwards)) == (400, 927)


def test_date_filter_includes_the_boundary_second(cm_emulator: Emu) -> None:
    opens = cm_emulator.world.campaigns[CAMPAIGN].opens
    boundary = max(e.date for e in opens)
    since = boundary.strftime("%Y-%m-%d %H:%M:%S")
    page = cm_emulator.get(f"/campaigns/{CAMPAIGN}/opens.json", params={"date": since}).json()
    assert [r["EmailAddress"] for r in page["Results"]] == ["sub02@example.com"]
    minute = cm_emulator.get(
        f"/campaigns/{CAMPAIGN}/opens.json",
        params={"date": (boundary - timedelta(seconds=1)).strftime("%Y-%m-%d %H:%M:%S")},
    ).json()
    assert [r["Date"] for r in minute["Results"]] == [
        (boundary - timedelta(seconds=1)).strftime("%Y-%m-%d %H:%M:%S"),
        since,
    ]
    day_only = cm_emulator.get(
        f"/campaigns/{CAMPAIGN}/opens.json", params={"date": boundary.strftime("%Y-%m-%d")}
    ).json()
    assert day_only["TotalNumberOfRecords"] == 2


def test_reports_summary_journeys_segments_and_lookups(cm_emulator: Emu) -> None:
    summary = cm_emulator.get(f"/campaigns/{CAMPAIGN}/summary.json").json()
    assert summary["Recipients"] == 25 and summary["TotalOpened"] == 10 and summary["UniqueOpened"] == 5
    assert (summary["Clicks"], summary["Unsubscribed"], summary["Bounced"], summary["SpamComplaints"]) == (1, 1, 1, 1)
    clicks = cm_emulator.get(f"/campaigns/{CAMPAIGN}/clicks.json").json()["Results"]
    assert list(clicks[0])[:3] == ["EmailAddress", "URL", "ListID"]
    bounces = cm_emulator.get(f"/campaigns/{CAMPAIGN}/bounces.json").json()["Results"]
    assert bounces == [
        {
            "EmailAddress": "sub05@example.com",
            "ListID": LIST_A,
            "BounceType": "Hard",
            "Date": bounces[0]["Date"],
            "Reason": "Hard Bounce",
        }
    ]
    recipients = cm_emulator.get(f"/campaigns/{CAMPAIGN}/recipients.json", params={"pagesize": 10}).json()
    assert recipients["NumberOfPages"] == 3 and recipients["Results"][0] == {
        "EmailAddress": "sub00@example.com",
        "ListID": LIST_A,
    }
    lists = cm_emulator.get(f"/campaigns/{CAMPAIGN}/listsandsegments.json").json()
    assert lists == {"Lists": [{"ListID": LIST_A, "Name": "Newsletter"}], "Segments": []}
    journey = cm_emulator.get(f"/journeys/{JOURNEY}.json").json()
    assert journey["Emails"][0] | {"Sent": 3, "Opened": 1, "UniqueOpened": 1, "Clicked": 1} == journey["Emails"][0]
    sent = cm_emulator.get(f"/journeys/email/{JOURNEY_EMAIL}/recipients.json", params={"orderdirection": "desc"}).json()
    assert (sent["ResultsOrderedBy"], sent["OrderDirection"]) == ("SentDate", "DESC")
    assert list(sent["Results"][0]) == ["EmailAddress", "SentDate"]
    opens = cm_emulator.get(f"/journeys/email/{JOURNEY_EMAIL}/opens.json").json()
    assert (opens["ResultsOrderedBy"], opens["OrderDirection"]) == ("Date", "ASC") and "ListID" not in opens["Results"][
        0
    ]
    segment = cm_emulator.get(f"/segments/{SEGMENT}.json").json()
    assert segment["ActiveSubscribers"] == 10 and segment["Title"] == "Sub ones"
    members = cm_emulator.get(f"/segments/{SEGMENT}/active.json", params={"includetrackinginformation": "true"}).json()
    assert members["TotalNumberOfRecords"] == 10 and "ConsentToTrack" in members["Results"][0]
    assert "ReadsEmailWith" not in members["Results"][0]
    assert cm_emulator.get(f"/clients/{CLIENT_A}/tags.json").json() == [
        {"Name": "Big", "NumberOfCampaigns": 1},
        {"Name": "Sale", "NumberOfCampaigns": 1},
        {"Name": "Spring", "NumberOfCampaigns": 1},
    ]
    found = cm_emulator.get(f"/clients/{CLIENT_A}/listsforemail.json", params={"email": "SUB01@example.com"}).json()
    assert [(f["ListID"], f["SubscriberState"]) for f in found] == [(LIST_A, "Active")]
    history = cm_emulator.get(f"/subscribers/{LIST_A}/history.json", params={"email": "sub01@example.com"}).json()
    assert history[0]["ID"] == CAMPAIGN and {a["Event"] for a in history[0]["Actions"]} == {"Open", "Click"}
    journeys = cm_emulator.get(f"/clients/{CLIENT_A}/journeys.json").json()
    assert journeys == [{"ListID": LIST_A, "JourneyID": JOURNEY, "Name": "Onboarding", "Status": "Active"}]


def test_subscriber_writes(cm_emulator: Emu) -> None:
    add = {"EmailAddress": "New.Person@example.com", "Name": "New Person", "ConsentToTrack": "Yes"}
    add["CustomFields"] = [{"Key": "[website]", "Value": "https://new.example"}, {"Key": "Interests", "Value": "sport"}]
    response = cm_emulator.call("POST", f"/subscribers/{LIST_A}.json", json=add)
    assert response.status_code == 201 and response.json() == "New.Person@example.com"
    details = cm_emulator.get(f"/subscribers/{LIST_A}.json", params={"email": "new.person@example.com"}).json()
    assert details["State"] == "Active" and details["ListJoinedDate"] == details["Date"]
    assert details["CustomFields"] == [
        {"Key": "website", "Value": "https://new.example"},
        {"Key": "interests", "Value": "Sport"},
    ]
    assert error(cm_emulator.call("POST", f"/subscribers/{LIST_A}.json", json={**add, "EmailAddress": "x@y"})) == (
        400,
        1,
    )
    assert error(cm_emulator.call("POST", f"/subscribers/{LIST_A}.json", json={"EmailAddress": "a@b.com"})) == (
        400,
        214,
    )
    bad_mobile = {**add, "MobileNumber": "0400 000 000"}
    assert error(cm_emulator.call("POST", f"/subscribers/{LIST_A}.json", json=bad_mobile)) == (400, 220)
    assert error(cm_emulator.get(f"/subscribers/{LIST_A}.json", params={"email": "nobody@example.com"})) == (400, 203)

    many = [{"EmailAddress": f"bulk{i}@example.com", "ConsentToTrack": "No"} for i in range(1001)]
    assert error(cm_emulator.call("POST", f"/subscribers/{LIST_A}/import.json", json={"Subscribers": many})) == (
        400,
        209,
    )
    assert error(cm_emulator.call("POST", f"/subscribers/{LIST_A}/import.json", json={"Subscribers": []})) == (400, 212)
    batch = [
        {"EmailAddress": "sub00@example.com", "Name": "Zero"},
        {"EmailAddress": "sub01@example.com"},
        {"EmailAddress": "example+1@example"},
    ]
    partial = cm_emulator.call("POST", f"/subscribers/{LIST_A}/import.json", json={"Subscribers": batch})
    assert partial.status_code == 400
    assert partial.json() == {
        "ResultData": {
            "TotalUniqueEmailsSubmitted": 3,
            "TotalExistingSubscribers": 2,
            "TotalNewSubscribers": 0,
            "DuplicateEmailsInSubmission": [],
            "FailureDetails": [{"EmailAddress": "example+1@example", "Code": 1, "Message": "Invalid Email Address"}],
        },
        "Code": 210,
        "Message": "Subscriber Import had some failures",
    }
    fine = [{"EmailAddress": f"imp{i}@example.com", "Name": f"Imp {i}"} for i in range(3)] + [
        {"EmailAddress": "IMP0@example.com", "Name": "Imp zero again"}
    ]
    imported = cm_emulator.call("POST", f"/subscribers/{LIST_A}/import.json", json={"Subscribers": fine})
    assert imported.status_code == 201
    assert imported.json() == {
        "FailureDetails": [],
        "TotalUniqueEmailsSubmitted": 3,
        "TotalExistingSubscribers": 0,
        "TotalNewSubscribers": 3,
        "DuplicateEmailsInSubmission": ["IMP0@example.com"],
    }
    assert cm_emulator.get(f"/subscribers/{LIST_A}.json", params={"email": "imp0@example.com"}).json()["Name"] == (
        "Imp zero again"
    )

    elsewhere = {"EmailAddress": "sub07@example.com", "ConsentToTrack": "Yes"}
    assert cm_emulator.call("POST", f"/subscribers/{LIST_A2}.json", json=elsewhere).status_code == 201
    before = cm_emulator.get(f"/lists/{LIST_A}/stats.json").json()
    unsubscribe = cm_emulator.call(
        "POST", f"/subscribers/{LIST_A}/unsubscribe.json", json={"EmailAddress": "sub07@example.com"}
    )
    assert unsubscribe.status_code == 200 and unsubscribe.content == b""
    unsubscribed = cm_emulator.get(f"/lists/{LIST_A}/unsubscribed.json").json()
    also = cm_emulator.get(f"/subscribers/{LIST_A2}.json", params={"email": "sub07@example.com"}).json()
    assert also["State"] == "Unsubscribed"  # list A's UnsubscribeSetting is AllClientLists
    assert "sub07@example.com" in [r["EmailAddress"] for r in unsubscribed["Results"]]
    assert all(r["State"] == "Unsubscribed" for r in unsubscribed["Results"])
    after = cm_emulator.get(f"/lists/{LIST_A}/stats.json").json()
    assert after["TotalUnsubscribes"] == before["TotalUnsubscribes"] + 1 and after["UnsubscribesToday"] == 1
    assert after["TotalActiveSubscribers"] == before["TotalActiveSubscribers"] - 1
    assert list(after)[:2] == ["TotalActiveSubscribers", "NewActiveSubscribersToday"]
    suppression = cm_emulator.get(f"/clients/{CLIENT_A}/suppressionlist.json").json()
    row = next(r for r in suppression["Results"] if r["EmailAddress"] == "sub07@example.com")
    assert (
        list(row) == ["SuppressionReason", "EmailAddress", "Date", "State"]
        and row["SuppressionReason"] == "Unsubscribed"
    )

    resubscribe = {"EmailAddress": "sub07@example.com", "ConsentToTrack": "Unchanged", "Resubscribe": True}
    assert error(cm_emulator.call("POST", f"/subscribers/{LIST_A}.json", json=resubscribe)) == (400, 204)
    quiet = cm_emulator.call("POST", f"/subscribers/{LIST_A}.json", json={**resubscribe, "Resubscribe": False})
    assert quiet.status_code == 201
    assert cm_emulator.get(f"/subscribers/{LIST_A}.json", params={"email": "sub07@example.com"}).json()["State"] == (
        "Unsubscribed"
    )
    unsuppress = cm_emulator.call(
        "PUT", f"/clients/{CLIENT_A}/unsuppress.json", params={"email": "sub07@example.com"}, data=" "
    )
    assert unsuppress.status_code == 200
    assert error(
        cm_emulator.call("PUT", f"/clients/{CLIENT_A}/unsuppress.json", params={"email": "sub07@example.com"})
    ) == (
        400,
        176,
    )
    assert cm_emulator.call("POST", f"/subscribers/{LIST_A}.json", json=resubscribe).status_code == 201
    assert (
        cm_emulator.get(f"/subscribers/{LIST_A}.json", params={"email": "sub07@example.com"}).json()["State"]
        == "Active"
    )
    suppress = cm_emulator.call(
        "POST", f"/clients/{CLIENT_A}/suppress.json", json={"EmailAddresses": ["x1@example.com"]}
    )
    assert suppress.status_code == 200

    assert (
        cm_emulator.call("DELETE", f"/subscribers/{LIST_A}.json", params={"email": "sub08@example.com"}).status_code
        == 200
    )
    deleted = cm_emulator.get(f"/lists/{LIST_A}/deleted.json").json()
    assert "sub08@example.com" in [r["EmailAddress"] for r in deleted["Results"]]

    change = {"EmailAddress": "sub09-new@example.com", "Name": "Nine", "ConsentToTrack": "Yes"}
    moved = cm_emulator.call("PUT", f"/subscribers/{LIST_A}.json", params={"email": "sub09@example.com"}, json=change)
    assert moved.status_code == 200
    assert error(cm_emulator.get(f"/subscribers/{LIST_A}.json", params={"email": "sub09@example.com"})) == (400, 203)
    nine = cm_emulator.get(f"/subscribers/{LIST_A}.json", params={"email": "sub09-new@example.com"}).json()
    assert nine["Name"] == "Nine" and nine["State"] == "Active"
    taken = {**change, "EmailAddress": "sub10@example.com"}
    clash = cm_emulator.call(
        "PUT", f"/subscribers/{LIST_A}.json", params={"email": "sub09-new@example.com"}, json=taken
    )
    assert error(clash) == (400, 201)
    bad = {**change, "EmailAddress": "not-an-email"}
    assert error(
        cm_emulator.call("PUT", f"/subscribers/{LIST_A}.json", params={"email": "sub09-new@example.com"}, json=bad)
    ) == (
        400,
        211,
    )


def test_custom_fields_and_list_settings(cm_emulator: Emu) -> None:
    base = f"/lists/{LIST_A}/customfields"
    new = {"FieldName": "Favourite colour", "DataType": "MultiSelectOne", "Options": ["Red", "Blue"]}
    created = cm_emulator.call("POST", base + ".json", json=new)
    assert created.status_code == 201 and created.json() == "[favouritecolour]"
    assert error(cm_emulator.call("POST", base + ".json", json=new)) == (400, 255)
    assert error(cm_emulator.call("POST", base + ".json", json={**new, "FieldName": "x", "DataType": "Colour"})) == (
        400,
        259,
    )
    assert error(cm_emulator.call("POST", base + ".json", json={**new, "FieldName": "y", "DataType": "Text"})) == (
        400,
        256,
    )
    body = {"EmailAddress": "sub12@example.com", "ConsentToTrack": "Yes"}
    body["CustomFields"] = [{"Key": "[favouritecolour]", "Value": "blue"}, {"Key": "age", "Value": "41"}]
    cm_emulator.call("POST", f"/subscribers/{LIST_A}.json", json=body)
    renamed = cm_emulator.call("PUT", base + "/%5Bfavouritecolour%5D.json", json={"FieldName": "Colour"})
    assert renamed.status_code == 200 and renamed.json() == "[colour]"
    fields = cm_emulator.get(base + ".json").json()
    assert fields[-1] == {
        "FieldName": "Colour",
        "Key": "[colour]",
        "DataType": "MultiSelectOne",
        "FieldOptions": ["Red", "Blue"],
        "VisibleInPreferenceCenter": True,
    }
    details = cm_emulator.get(f"/subscribers/{LIST_A}.json", params={"email": "sub12@example.com"}).json()
    assert {"Key": "Colour", "Value": "Blue"} in details["CustomFields"] and {"Key": "age", "Value": "41"} in details[
        "CustomFields"
    ]
    assert error(cm_emulator.call("PUT", base + "/colour/options.json", json={"Options": ["Green"]})) == (400, 253)
    options = cm_emulator.call(
        "PUT", base + "/%5Bcolour%5D/options.json", json={"Options": ["Green"], "KeepExistingOptions": True}
    )
    assert options.status_code == 200
    assert cm_emulator.get(base + ".json").json()[-1]["FieldOptions"] == ["Red", "Blue", "Green"]
    assert cm_emulator.call("DELETE", base + "/%5Bcolour%5D.json").status_code == 200
    details = cm_emulator.get(f"/subscribers/{LIST_A}.json", params={"email": "sub12@example.com"}).json()
    assert all(f["Key"] != "Colour" for f in details["CustomFields"])
    settings = {"Title": "Newsletter", "UnsubscribeSetting": "OnlyThisList", "AddUnsubscribesToSuppList": False}
    assert cm_emulator.call("PUT", f"/lists/{LIST_A}.json", json=settings).status_code == 200
    assert cm_emulator.get(f"/lists/{LIST_A}.json").json() == {
        "ConfirmedOptIn": False,
        "Title": "Newsletter",
        "UnsubscribePage": "",
        "ListID": LIST_A,
        "ConfirmationSuccessPage": "",
        "UnsubscribeSetting": "OnlyThisList",
    }
    cm_emulator.call("POST", f"/subscribers/{LIST_A}/unsubscribe.json", json={"EmailAddress": "sub12@example.com"})
    suppressed = cm_emulator.get(f"/clients/{CLIENT_A}/suppressionlist.json").json()["Results"]
    assert "sub12@example.com" not in [r["EmailAddress"] for r in suppressed]
    assert error(cm_emulator.call("PUT", f"/lists/{LIST_A}.json", json={**settings, "UnsubscribeSetting": "All"})) == (
        400,
        261,
    )


def test_webhooks_are_batched_to_a_local_receiver(cm_emulator: Emu, cm_emulator_receiver: Receiver) -> None:
    hook = {"Events": ["Subscribe", "Update", "Deactivate"], "Url": cm_emulator_receiver.url, "PayloadFormat": "json"}
    created = cm_emulator.call("POST", f"/lists/{LIST_A}/webhooks.json", json=hook)
    assert created.status_code == 201 and isinstance(created.json(), str)
    listed = cm_emulator.get(f"/lists/{LIST_A}/webhooks.json").json()
    assert listed == [
        {
            "WebhookID": created.json(),
            "Events": ["Subscribe", "Update", "Deactivate"],
            "Url": cm_emulator_receiver.url,
            "Status": "Active",
            "PayloadFormat": "Json",
        }
    ]
    for data, code in (
        ({**hook, "Url": "ftp://x"}, 601),
        ({**hook, "PayloadFormat": "csv"}, 602),
        ({**hook, "Events": ["Open"]}, 603),
    ):
        assert error(cm_emulator.call("POST", f"/lists/{LIST_A}/webhooks.json", json=data)) == (400, code)

    for i in range(3):
        body = {"EmailAddress": f"hook{i}@example.com", "Name": f"Hook {i}", "ConsentToTrack": "Yes"}
        assert cm_emulator.call("POST", f"/subscribers/{LIST_A}.json", json=body).status_code == 201
    posts = cm_emulator_receiver.wait_for(1)
    assert len(posts) == 1 and cm_emulator_receiver.posts[0][0].startswith("application/json")
    assert posts[0]["ListID"] == LIST_A
    assert [e["EmailAddress"] for e in posts[0]["Events"]] == [f"hook{i}@example.com" for i in range(3)]
    assert list(posts[0]["Events"][0]) == ["CustomFields", "Date", "EmailAddress", "Name", "SignupIPAddress", "Type"]

    update = {"EmailAddress": "hook0-renamed@example.com", "Name": "Renamed", "ConsentToTrack": "Yes"}
    cm_emulator.call("PUT", f"/subscribers/{LIST_A}.json", params={"email": "hook0@example.com"}, json=update)
    cm_emulator.call("POST", f"/subscribers/{LIST_A}/unsubscribe.json", json={"EmailAddress": "hook1@example.com"})
    posts = cm_emulator_receiver.wait_for(2)
    events = posts[1]["Events"]
    assert [e["Type"] for e in events] == ["Update", "Deactivate"]
    assert (
        events[0]["OldEmailAddress"] == "hook0@example.com" and events[0]["EmailAddress"] == "hook0-renamed@example.com"
    )
    assert list(events[0]) == ["CustomFields", "Date", "OldEmailAddress", "EmailAddress", "Name", "State", "Type"]
    assert events[1]["State"] == "Unsubscribed" and events[1]["EmailAddress"] == "hook1@example.com"

    webhook_id = created.json()
    assert (
        cm_emulator.call("PUT", f"/lists/{LIST_A}/webhooks/{webhook_id}/deactivate.json", data=" ").status_code == 200
    )
    cm_emulator.call("DELETE", f"/subscribers/{LIST_A}.json", params={"email": "hook2@example.com"})
    time.sleep(0.5)
    assert len(cm_emulator_receiver.posts) == 2
    assert cm_emulator.get(f"/lists/{LIST_A}/webhooks/{webhook_id}/test.json").status_code == 200
    assert len(cm_emulator_receiver.wait_for(3)) == 3
    assert cm_emulator.call("DELETE", f"/lists/{LIST_A}/webhooks/{webhook_id}.json").status_code == 200
    assert cm_emulator.get(f"/lists/{LIST_A}/webhooks.json").json() == []


def test_webhook_test_reports_610_for_a_dead_url(cm_emulator: Emu) -> None:
    hook = {"Events": ["Deactivate"], "Url": dead_url(), "PayloadFormat": "json"}
    webhook_id = cm_emulator.call("POST", f"/lists/{LIST_A}/webhooks.json", json=hook).json()
    response = cm_emulator.get(f"/lists/{LIST_A}/webhooks/{webhook_id}/test.json")
    assert error(response) == (400, 610)
    assert set(response.json()["ResultData"]) == {
        "FailureStatus",
        "FailureResponseMessage",
        "FailureResponseCode",
        "FailureResponse",
    }
    # A dead URL never breaks the API call that triggers it.
    assert cm_emulator.call(
        "POST", f"/subscribers/{LIST_A}/unsubscribe.json", json={"EmailAddress": "sub11@example.com"}
    ).ok


def test_oauth_code_flow_refresh_expire_and_revoke(cm_emulator: Emu) -> None:
    authorize = cm_emulator.session.get(
        cm_emulator.base + "/oauth",
        params={
            "client_id": OAUTH.client_id,
            "redirect_uri": OAUTH.redirect_uri,
            "scope": "ViewReports,ManageLists",
            "state": "s1",
        },
        allow_redirects=False,
        timeout=5,
    )
    assert authorize.status_code == 302
    location = urlsplit(authorize.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == OAUTH.redirect_uri
    query = parse_qs(location.query)
    assert query["state"] == ["s1"]
    form = {
        "grant_type": "authorization_code",
        "client_id": OAUTH.client_id,
        "client_secret": OAUTH.client_secret,
        "redirect_uri": OAUTH.redirect_uri,
        "code": query["code"][0],
    }
    token = cm_emulator.session.post(cm_emulator.base + "/oauth/token", data=form, timeout=5)
    assert token.status_code == 200 and list(token.json()) == ["access_token", "expires_in", "refresh_token"]
    assert token.json()["expires_in"] == 1209600
    again = cm_emulator.session.post(cm_emulator.base + "/oauth/token", data=form, timeout=5)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"

    def clients(access: str) -> requests.Response:
        headers = {"Authorization": f"Bearer {access}"}
        return cm_emulator.session.get(cm_emulator.api + "/clients.json", headers=headers, timeout=5)

    assert len(clients(token.json()["access_token"]).json()) == 2
    assert cm_emulator.admin("POST", "/oauth/expire").json() == {"expired": 1}
    assert error(clients(token.json()["access_token"])) == (401, 121)
    refresh = {"grant_type": "refresh_token", "refresh_token": token.json()["refresh_token"]}
    refreshed = cm_emulator.session.post(cm_emulator.base + "/oauth/token", data=refresh, timeout=5)
    assert refreshed.status_code == 200 and refreshed.json()["access_token"] != token.json()["access_token"]
    assert clients(refreshed.json()["access_token"]).status_code == 200
    cm_emulator.admin("POST", "/oauth/revoke")
    assert error(clients(refreshed.json()["access_token"])) == (401, 122)
    after_revoke = cm_emulator.session.post(cm_emulator.base + "/oauth/token", data=refresh, timeout=5)
    assert after_revoke.status_code == 400 and after_revoke.json()["error"] == "invalid_grant"
    unknown = cm_emulator.session.get(
        cm_emulator.base + "/oauth",
        params={"client_id": "nope", "redirect_uri": OAUTH.redirect_uri, "scope": "ViewReports"},
        allow_redirects=False,
        timeout=5,
    )
    assert unknown.status_code == 302 and parse_qs(urlsplit(unknown.headers["Location"]).query)["error"] == [
        "unknown_client"
    ]


def test_a_registered_redirect_uri_is_accepted_beside_the_apps_own(cm_emulator: Emu) -> None:
    console = "http://127.0.0.1:8000/oauth/campaign-monitor/callback"
    params = {"client_id": OAUTH.client_id, "redirect_uri": console, "scope": "ViewReports", "state": "s2"}

    def authorize() -> str:
        answer = cm_emulator.session.get(cm_emulator.base + "/oauth", params=params, allow_redirects=False, timeout=5)
        assert answer.status_code == 302
        return answer.headers["Location"]

    assert parse_qs(urlsplit(authorize()).query)["error"] == ["invalid_redirect_uri"]
    registered = cm_emulator.admin("POST", "/oauth/redirect-uris", json={"url": console})
    assert registered.status_code == 200 and registered.json() == {"redirect_uris": [OAUTH.redirect_uri, console]}
    assert cm_emulator.admin("POST", "/oauth/redirect-uris", json={"url": console}).json()["redirect_uris"] == [
        OAUTH.redirect_uri,
        console,
    ]  # idempotent
    location = urlsplit(authorize())
    assert f"{location.scheme}://{location.netloc}{location.path}" == console and "code" in parse_qs(location.query)
    for bad in ("", "ftp://host/cb", "/relative", "https://host/cb#fragment"):
        refused = cm_emulator.admin("POST", "/oauth/redirect-uris", json={"url": bad})
        assert refused.status_code == 400, bad


def test_fault_profiles(cm_emulator: Emu) -> None:
    assert cm_emulator.admin("POST", "/faults", json={"profile": "flaky"}).json()["profile"] == "flaky"
    seen = {"ok": 0, "429": 0, "500": 0, "broken": 0}
    for _ in range(200):
        try:
            response = cm_emulator.get(f"/lists/{LIST_A}/active.json")
            body = response.json()
        except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError):
            seen["broken"] += 1
            continue
        if response.status_code == 429:
            seen["429"] += 1
            assert body == {"Code": 429, "Message": "Rate limit exceeded"}
            assert response.headers["X-RateLimit-Remaining"] == "0" and response.headers["X-RateLimit-Reset"] == "1"
            assert int(response.headers["X-RateLimit-Limit"]) > 0
        elif response.status_code == 500:
            seen["500"] += 1
            assert body == {"Code": 500, "Message": "Internal Server Error"}
        else:
            assert response.status_code == 200 and body["TotalNumberOfRecords"] == 25
            seen["ok"] += 1
    assert seen["429"] >= 3 and seen["500"] >= 2 and seen["broken"] >= 1 and seen["ok"] >= 150, seen

    cm_emulator.admin("POST", "/faults", json={"profile": "slow"})
    started = time.monotonic()
    for _ in range(3):
        assert cm_emulator.get("/systemdate.json").status_code == 200
    assert time.monotonic() - started >= 0.45
    cm_emulator.admin("POST", "/faults", json={"profile": "none"})
    started = time.monotonic()
    assert cm_emulator.get("/systemdate.json").status_code == 200
    assert time.monotonic() - started < 0.15
    assert error(cm_emulator.admin("POST", "/faults", json={"profile": "chaos"}))[0] == 400


def test_admin_counts_calls_per_route(cm_emulator: Emu) -> None:
    cm_emulator.admin("POST", "/calls/reset")
    cm_emulator.get("/clients.json")
    cm_emulator.get(f"/lists/{LIST_A}/active.json")
    cm_emulator.get(f"/lists/{LIST_A2}/active.json")
    calls = cm_emulator.admin("GET", "/calls").json()
    assert calls["calls"] == {"GET /clients.json": 1, "GET /lists/{listid}/active.json": 2} and calls["total"] == 3


def test_admin_advance_adds_events_up_to_now(cm_emulator_tls: TlsFiles) -> None:
    world = dataset.generate_world("tiny", 3, now=datetime.now(UTC) - timedelta(days=2))
    app = create_app(world)
    with serve_in_thread(app, tls=cm_emulator_tls) as base:
        emu = Emu(base, app, cm_emulator_tls)
        manifest = emu.admin("GET", "/manifest").json()
        assert isinstance(manifest, dict) and manifest
        campaign_id, client_id = next((c.campaign_id, c.client_id) for c in world.campaigns.values())
        zone = world.clients[client_id].time_zone

        def total_events() -> int:
            return sum(len(c.opens) + len(c.clicks) for c in world.campaigns.values())

        before = total_events()
        moved = emu.admin("POST", "/advance", json={"until": datetime.now(UTC).isoformat()})
        assert moved.status_code == 200, moved.text
        assert "generated_until" in moved.json()
        assert total_events() > before
        now_local = utc_to_local(datetime.now(UTC), zone)
        latest = emu.get(
            f"/campaigns/{campaign_id}/opens.json",
            key=world.account_api_key,
            params={"orderdirection": "desc", "pagesize": 10},
        )
        assert latest.status_code == 200, latest.text
        latest = latest.json()
        for row in latest["Results"]:
            assert datetime.fromisoformat(row["Date"]) <= now_local
        emu.session.close()


def test_a_generated_world_agrees_with_its_manifest(cm_emulator_tls: TlsFiles) -> None:
    world = dataset.generate_world("tiny", 4)
    expected = dataset.manifest(world)
    app = create_app(world)
    with serve_in_thread(app, tls=cm_emulator_tls) as base:
        emu = Emu(base, app, cm_emulator_tls)
        key = world.account_api_key
        opens = 0
        for client_id, entry in expected["clients"].items():
            sent = emu.get(f"/clients/{client_id}/campaigns.json", key=key, params={"pagesize": 10}).json()
            assert sent["TotalNumberOfRecords"] == entry["campaigns"]
            suppressed = emu.get(f"/clients/{client_id}/suppressionlist.json", key=key, params={"pagesize": 10}).json()
            assert suppressed["TotalNumberOfRecords"] == entry["suppressions"]
            for list_id, facts in entry["lists"].items():
                stats = emu.get(f"/lists/{list_id}/stats.json", key=key).json()
                assert stats["TotalActiveSubscribers"] == facts["subscribers_by_state"]["Active"]
                for state, number in facts["subscribers_by_state"].items():
                    page = emu.get(f"/lists/{list_id}/{state.lower()}.json", key=key, params={"pagesize": 10}).json()
                    assert page["TotalNumberOfRecords"] == number, (list_id, state)
            for campaign_id in world.clients[client_id].campaign_ids:
                opens += emu.get(f"/campaigns/{campaign_id}/summary.json", key=key).json()["TotalOpened"]
        assert opens == expected["totals"]["opens"]
        for segment in world.segments.values():
            details = emu.get(f"/segments/{segment.segment_id}.json", key=key).json()
            members = emu.get(f"/segments/{segment.segment_id}/active.json", key=key, params={"pagesize": 10}).json()
            assert details["ActiveSubscribers"] == members["TotalNumberOfRecords"]
        emu.session.close()


def test_the_sandbox_command_serves_the_dataset(tmp_path: Path) -> None:
    info = tmp_path / "sandbox.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CMSF_", "DATABASE_URL", "DJANGO_"))}
    env["CMSF_DATA_DIR"] = str(tmp_path / "data")
    process = subprocess.Popen(
        [CMSF, "sandbox", "--dataset", "tiny", "--seed", "2", "--info-json", str(info), "--dir", str(tmp_path / "tls")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 40
        while not info.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.1)
        assert info.exists(), process.communicate(timeout=5)
        cm = json.loads(info.read_text())["campaign_monitor"]
        assert cm["base_url"].startswith("https://127.0.0.1:") and cm["base_url"].endswith("/api/v3.3")
        clients = requests.get(
            cm["base_url"] + "/clients.json", auth=(cm["api_key"], "x"), verify=cm["ca_file"], timeout=10
        )
        assert clients.status_code == 200
        manifest = json.loads(Path(cm["manifest"]).read_text())
        assert {c["ClientID"]: c["Name"] for c in clients.json()} == {
            client_id: entry["name"] for client_id, entry in manifest["clients"].items()
        }
        assert {c["client_id"] for c in cm["clients"]} == set(manifest["clients"])
        assert cm["api_key"] == manifest["account"]["api_key"]
    finally:
        process.send_signal(signal.SIGINT)
        try:
            _, err = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert process.returncode == 0, err
