"""The Campaign Monitor emulator's transactional API over real HTTPS: raw `requests` against the contract (reference
§2.10), codes for bad input, the plan check, and the clock advance delivering, bouncing, opening and clicking."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cmsf_sandbox.campaign_monitor.app import create_app
from cmsf_sandbox.campaign_monitor.world import SmartEmailRecord, World
from cmsf_sandbox.server import serve_in_thread
from cmsf_sandbox.tls import TlsFiles, generate_tls_files
from tests.integration.test_cm_emulator import (
    ACCOUNT_KEY,
    CLIENT_A,
    CLIENT_B,
    KEY_A,
    KEY_B,
    LIST_A,
    Emu,
    error,
    make_world,
)

SMART = "1e654df2-f484-11e4-970c-6c4008bc7468"
DRAFT = "bb4a6ebb-663d-42a0-bdbe-60512cf30a01"
SMART_B = "c0da9c4c-e7e4-11e4-a74d-6c4008bc7468"
ISO_WITH_OFFSET = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def with_smart_emails(world: World) -> World:
    created = datetime(2025, 5, 15, 21, 9, 19, tzinfo=UTC)
    common = {
        "created_at": created,
        "from_address": '"Acme" <team@acme.example>',
        "reply_to": "help@acme.example",
        "text": "Hi [firstname]",
    }
    world.smart_emails[SMART] = SmartEmailRecord(
        SMART,
        CLIENT_A,
        "Welcome email",
        status="active",
        subject="Welcome, [firstname]!",
        html='<p>Hi [firstname]</p><a href="https://acme.example/start">Start</a>',
        email_variables=["firstname"],
        add_recipients_to_list=True,
        list_id=LIST_A,
        **common,
    )
    world.smart_emails[DRAFT] = SmartEmailRecord(
        DRAFT, CLIENT_A, "Draft", status="draft", subject="Soon", html="<p>x</p>", **common
    )
    world.smart_emails[SMART_B] = SmartEmailRecord(
        SMART_B, CLIENT_B, "Beta receipt", status="active", subject="Receipt", html="<p>x</p>", **common
    )
    return world


@pytest.fixture(scope="module")
def tx_tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return generate_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def tx(tx_tls: TlsFiles) -> Iterator[tuple[Emu, Clock]]:
    clock = Clock()
    world = with_smart_emails(make_world())
    world.generated_until = START - timedelta(hours=3)
    app = create_app(world, clock=clock)
    with serve_in_thread(app, tls=tx_tls) as base:
        emu = Emu(base, app, tx_tls)
        yield emu, clock
        emu.session.close()


def send(emu: Emu, smart: str = SMART, key: str = ACCOUNT_KEY, **body: Any) -> Any:
    payload = {"To": ["Joe Smith <joe@example.com>"], "ConsentToTrack": "Yes", "Data": {"firstname": "Joe"}, **body}
    return emu.call("POST", f"/transactional/smartEmail/{smart}/send", key, json=payload)


def advance(emu: Emu, clock: Clock, seconds: int) -> dict[str, Any]:
    clock.now += timedelta(seconds=seconds)
    response = emu.admin("POST", "/advance", json={})
    assert response.status_code == 200, response.text
    return response.json()


def test_smart_email_list_and_details_follow_the_fixtures(tx: tuple[Emu, Clock]) -> None:
    emu, _ = tx
    listed = emu.get("/transactional/smartEmail", params={"status": "all", "clientID": CLIENT_A})
    assert listed.status_code == 200
    assert listed.json() == [
        {"ID": SMART, "Name": "Welcome email", "CreatedAt": "2025-05-16T07:09:19+10:00", "Status": "Active"},
        {"ID": DRAFT, "Name": "Draft", "CreatedAt": "2025-05-16T07:09:19+10:00", "Status": "Draft"},
    ]
    assert [e["ID"] for e in emu.get("/transactional/smartEmail?status=draft&clientID=" + CLIENT_A).json()] == [DRAFT]
    assert [e["ID"] for e in emu.get("/transactional/smartemail?Status=Active", KEY_A).json()] == [SMART]
    assert [e["ID"] for e in emu.get("/transactional/smartEmail", KEY_B).json()] == [SMART_B]
    details = emu.get(f"/transactional/smartEmail/{SMART}").json()
    assert list(details) == ["SmartEmailID", "Name", "CreatedAt", "Status", "Properties", "AddRecipientsToList"]
    assert details["Status"] == "active"
    assert details["AddRecipientsToList"] is True
    properties = details["Properties"]
    assert properties["From"] == '"Acme" <team@acme.example>'
    assert properties["Content"]["EmailVariables"] == ["firstname"]
    assert properties["HtmlPreviewUrl"].startswith("https://") and properties["TextPreviewUrl"].endswith("/T")


def test_smart_email_reads_refuse_bad_input(tx: tuple[Emu, Clock]) -> None:
    emu, _ = tx
    assert error(emu.get("/transactional/smartEmail", params={"status": "sent", "clientID": CLIENT_A})) == (400, 932)
    assert error(emu.get("/transactional/smartEmail")) == (401, 102)  # an account key names its client
    assert error(emu.get("/transactional/smartEmail", KEY_A, params={"clientID": CLIENT_B})) == (401, 102)
    assert error(emu.get("/transactional/smartEmail/not-a-guid")) == (400, 925)
    assert error(emu.get(f"/transactional/smartEmail/{SMART_B}", KEY_A)) == (400, 926)
    assert error(emu.get("/transactional/smartEmail/00000000-0000-4000-8000-000000000000")) == (400, 926)
    assert error(emu.get(f"/transactional/smartEmail/{SMART}", key="wrong")) == (401, 100)
    assert emu.get("/transactional/smartEmail.json", KEY_A).status_code == 404  # no .json suffix here


def test_smart_email_send_answers_202_per_recipient_and_the_emulator_records_it(tx: tuple[Emu, Clock]) -> None:
    emu, _ = tx
    response = send(
        emu, To=['"Bob Sacamano" <bob@example.com>', "jane@example.com"], CC="Cc Person <cc@example.com>", BCC=None
    )
    assert response.status_code == 202
    sent = response.json()
    assert [(m["Recipient"], m["Status"]) for m in sent] == [
        ('"Bob Sacamano" <bob@example.com>', "Received"),
        ("jane@example.com", "Received"),
        ("Cc Person <cc@example.com>", "Received"),
    ]
    assert all(len(m["MessageID"]) == 36 and m["MessageID"].count("-") == 4 for m in sent)
    recorded = emu.admin("GET", "/transactional/messages").json()["messages"]
    assert [m["message_id"] for m in recorded] == [m["MessageID"] for m in sent]
    assert recorded[0]["subject"] == "Welcome, Joe!" and recorded[0]["smart_email_id"] == SMART
    assert recorded[0]["data"] == {"firstname": "Joe"}
    details = emu.get(f"/transactional/messages/{sent[0]['MessageID']}").json()
    assert details["Status"] == "Received" and details["SmartEmailID"] == SMART
    assert details["Message"]["To"] == ['"Bob Sacamano" <bob@example.com>', "jane@example.com"]
    assert details["Message"]["CC"] == ["Cc Person <cc@example.com>"]
    assert details["Message"]["Body"]["Html"].startswith("<p>Hi Joe</p>")
    assert details["SentAt"] == "2026-03-02T20:00:00+11:00"  # Sydney, daylight saving


def test_data_keeps_the_case_of_its_keys_and_add_recipients_to_list_adds_new_people(tx: tuple[Emu, Clock]) -> None:
    emu, _ = tx
    response = send(
        emu, To=["New Person <new.person@example.com>"], Data={"FirstName": "Ann"}, AddRecipientsToList=True
    )
    assert response.status_code == 202
    message = emu.get(f"/transactional/messages/{response.json()[0]['MessageID']}").json()
    assert message["Message"]["Data"] == {"FirstName": "Ann"}
    assert message["Message"]["Subject"] == "Welcome, Ann!"  # variables match whatever the case
    added = emu.get(f"/subscribers/{LIST_A}.json", params={"email": "new.person@example.com"}).json()
    assert (added["Name"], added["State"]) == ("New Person", "Active")


def test_smart_email_send_refuses_with_campaign_monitors_codes(tx: tuple[Emu, Clock]) -> None:
    emu, _ = tx
    many = [f"person{i}@example.com" for i in range(20)]
    too_many = send(emu, To=many, CC=many[:3], BCC=many[:3])
    assert error(too_many) == (400, 954)
    assert too_many.json()["Message"] == "26 email addresses specified across To, Cc and Bcc. The limit is 25"
    assert send(emu, To=many, CC=many[:5]).status_code == 202  # 25 is allowed
    assert error(send(emu, To=["not an address"])) == (400, 1)
    assert error(send(emu, To=["Joe <joe@@example.com>"])) == (400, 1)
    assert error(send(emu, To=[])) == (400, 952)
    assert error(send(emu, To=["x" * 240 + " <joe@example.com>"])) == (400, 953)
    assert error(send(emu, DRAFT)) == (400, 929)
    assert error(send(emu, "00000000-0000-4000-8000-000000000000")) == (400, 926)
    assert error(send(emu, SMART_B, KEY_A)) == (400, 926)
    missing = {"To": ["joe@example.com"]}
    assert error(emu.call("POST", f"/transactional/smartEmail/{SMART}/send", json=missing)) == (400, 974)
    assert error(send(emu, ConsentToTrack="Maybe")) == (400, 974)
    assert send(emu, ConsentToTrack="unchanged").status_code == 202
    assert error(send(emu, Data={"blob": "x" * (100 * 1024)})) == (400, 996)
    assert send(emu, Data={"blob": "x" * (100 * 1024 - 20)}).status_code == 202
    assert error(send(emu, Attachments=[{"Type": "text/plain", "Content": "aGk="}])) == (400, 981)
    assert error(send(emu, Attachments=[{"Name": "a.txt", "Content": "aGk="}])) == (400, 982)
    assert error(send(emu, Attachments=[{"Name": "a.txt", "Type": "text/plain", "Content": "%%"}])) == (400, 984)
    bad_json = emu.call("POST", f"/transactional/smartEmail/{SMART}/send", data=b"{nope")
    assert error(bad_json)[0] == 400


def test_the_plan_check_answers_980_until_transactional_is_switched_on(tx: tuple[Emu, Clock]) -> None:
    emu, _ = tx
    assert emu.admin("POST", "/transactional", json={"enabled": False}).json()["enabled"] is False
    refused = send(emu)
    assert error(refused) == (400, 980)
    assert refused.json()["Message"] == "Transactional email is not available in your account"
    assert error(emu.get("/transactional/smartEmail", KEY_A)) == (400, 980)
    assert error(emu.get("/transactional/messages", KEY_A)) == (400, 980)
    emu.admin("POST", "/transactional", json={"enabled": True})
    assert send(emu).status_code == 202
    emu.admin("POST", "/transactional", json={"enabled": False, "client_id": CLIENT_A})
    assert error(send(emu)) == (400, 980)
    assert emu.get("/transactional/smartEmail", KEY_B).status_code == 200
    assert emu.admin("GET", "/transactional").json() == {"enabled": True, "disabled_clients": [CLIENT_A]}
    assert emu.admin("POST", "/transactional", json={"enabled": "yes"}).status_code == 400


def test_the_clock_advance_delivers_bounces_opens_and_clicks(tx: tuple[Emu, Clock]) -> None:
    emu, clock = tx
    people = [f"reader{i}@example.com" for i in range(20)]
    sent = send(emu, To=people, CC=["gone@nowhere.invalid"], BCC=["bounce@example.com"]).json()
    ids = [m["MessageID"] for m in sent]
    assert advance(emu, clock, 0)["messages_delivered"] == 0  # nothing arrives in no time
    counts = advance(emu, clock, 3 * 86400)
    assert counts["messages_delivered"] == 20 and counts["messages_bounced"] == 2
    statuses = [emu.get(f"/transactional/messages/{i}").json() for i in ids]
    assert [s["Status"] for s in statuses] == ["Delivered"] * 20 + ["Bounced", "Bounced"]
    assert statuses[-1]["BounceType"] == "Hard" and "BounceCategory" in statuses[-1]
    opened = [s for s in statuses if s["TotalOpens"]]
    clicked = [s for s in statuses if s["TotalClicks"]]
    assert 5 <= len(opened) <= 19 and counts["message_opens"] == sum(s["TotalOpens"] for s in statuses)
    assert clicked and all(s["TotalOpens"] for s in clicked)
    one = emu.get(f"/transactional/messages/{clicked[0]['MessageID']}", params={"statistics": "true"}).json()
    first_open = one["Opens"][0]
    assert list(first_open) == ["EmailAddress", "Date", "IPAddress", "Geolocation", "MailClient"]
    sent_local = datetime.fromisoformat(one["SentAt"]).replace(tzinfo=None)
    assert datetime.fromisoformat(first_open["Date"]) > sent_local
    assert datetime.fromisoformat(one["Clicks"][0]["Date"]) > datetime.fromisoformat(first_open["Date"])
    assert one["Clicks"][0]["URL"] == "https://acme.example/start"
    assert len(one["Opens"]) == one["TotalOpens"]
    again = advance(emu, clock, 0)
    assert (again["messages_delivered"], again["message_opens"], again["message_clicks"]) == (0, 0, 0)


def test_no_opens_are_tracked_without_consent(tx: tuple[Emu, Clock]) -> None:
    emu, clock = tx
    ids = [m["MessageID"] for m in send(emu, To=[f"p{i}@example.com" for i in range(10)], ConsentToTrack="No").json()]
    advance(emu, clock, 3 * 86400)
    details = [emu.get(f"/transactional/messages/{i}").json() for i in ids]
    assert {d["Status"] for d in details} == {"Delivered"}
    assert sum(d["TotalOpens"] for d in details) == 0


def test_admin_advance_can_move_the_clock_forward(tx: tuple[Emu, Clock]) -> None:
    emu, _ = tx
    message_id = send(emu).json()[0]["MessageID"]
    moved = emu.admin("POST", "/advance", json={"forward_seconds": 3600})
    assert moved.status_code == 200 and moved.json()["messages_delivered"] == 1
    assert emu.get(f"/transactional/messages/{message_id}").json()["Status"] == "Delivered"
    assert emu.admin("POST", "/advance", json={"forward_seconds": -5}).status_code == 400


def test_the_timeline_filters_and_pages_with_cursors(tx: tuple[Emu, Clock]) -> None:
    emu, clock = tx
    ids = []
    for i in range(6):
        ids.append(send(emu, To=[f"t{i}@example.com"]).json()[0]["MessageID"])
        clock.now += timedelta(seconds=1)
    classic = {"From": "Acme <a@acme.example>", "To": "x@example.com", "Subject": "S", "HTML": "<p>h</p>"}
    group_id = emu.call(
        "POST", "/transactional/classicEmail/send", KEY_A, json={**classic, "Group": "Receipts", "ConsentToTrack": "No"}
    ).json()[0]["MessageID"]
    timeline = emu.get("/transactional/messages", KEY_A).json()
    assert [m["MessageID"] for m in timeline] == [group_id, *reversed(ids)]
    assert timeline[0]["Group"] == "Receipts" and timeline[1]["SmartEmailID"] == SMART
    assert list(timeline[1]) == [
        "MessageID",
        "Status",
        "SentAt",
        "Recipient",
        "From",
        "Subject",
        "TotalOpens",
        "TotalClicks",
        "CanBeResent",
        "SmartEmailID",
    ]
    smart_only = emu.get("/transactional/messages", KEY_A, params={"smartEmailID": SMART, "count": 2}).json()
    assert [m["MessageID"] for m in smart_only] == [ids[5], ids[4]]
    before = emu.get("/transactional/messages", KEY_A, params={"sentBeforeID": ids[3], "count": 2}).json()
    assert [m["MessageID"] for m in before] == [ids[2], ids[1]]
    after = emu.get("/transactional/messages", KEY_A, params={"sentAfterID": ids[1], "count": 2, "smartEmailID": SMART})
    assert [m["MessageID"] for m in after.json()] == [ids[3], ids[2]]
    grouped = emu.get("/transactional/messages", KEY_A, params={"group": "Receipts"}).json()
    assert [m["MessageID"] for m in grouped] == [group_id]
    assert emu.get("/transactional/messages", KEY_A, params={"status": "delivered"}).json() == []
    advance(emu, clock, 3600)
    assert len(emu.get("/transactional/messages", KEY_A, params={"status": "Delivered"}).json()) == 7
    assert emu.get("/transactional/messages", KEY_B).json() == []
    for params, code in (
        ({"count": 0}, 850),
        ({"count": 201}, 850),
        ({"count": "many"}, 850),
        ({"sentBeforeID": "nope"}, 904),
        ({"sentAfterID": "00000000-0000-4000-8000-000000000000"}, 905),
        ({"status": "opened"}, 932),
        ({"smartEmailID": SMART, "group": "Receipts"}, 924),
        ({"smartEmailID": "nope"}, 925),
        ({"smartEmailID": SMART_B}, 926),
    ):
        assert error(emu.get("/transactional/messages", KEY_A, params=params)) == (400, code), params


def test_message_details_options_and_errors(tx: tuple[Emu, Clock]) -> None:
    emu, _ = tx
    message_id = send(emu).json()[0]["MessageID"]
    plain = emu.get(f"/transactional/messages/{message_id}", params={"statistics": "False"}).json()
    assert "Opens" not in plain and plain["TotalOpens"] == 0 and plain["CanBeResent"] is True
    assert list(plain["Message"]) == ["From", "Subject", "To", "CC", "BCC", "Attachments", "Body", "Data"]
    bare = emu.get(f"/transactional/messages/{message_id}", params={"excludemessagebody": "True"}).json()
    assert "Body" not in bare["Message"]
    assert error(emu.get(f"/transactional/messages/{message_id}", params={"statistics": "maybe"})) == (400, 935)
    assert error(emu.get("/transactional/messages/00000000-0000-4000-8000-000000000000")) == (400, 302)
    assert error(emu.get(f"/transactional/messages/{message_id}", KEY_B)) == (400, 302)


def test_resend_answers_an_object_and_410_for_attachments(tx: tuple[Emu, Clock]) -> None:
    emu, _ = tx
    message_id = send(emu).json()[0]["MessageID"]
    resent = emu.call("POST", f"/transactional/messages/{message_id}/resend")
    assert resent.status_code == 202
    body = resent.json()
    assert body["Status"] == "Accepted" and body["Recipient"] == "Joe Smith <joe@example.com>"
    assert body["MessageID"] != message_id
    recorded = emu.admin("GET", "/transactional/messages").json()["messages"]
    assert recorded[-1]["resent_from"] == message_id
    attachment = [{"Name": "a.txt", "Type": "text/plain", "Content": base64.b64encode(b"hi").decode()}]
    with_file = send(emu, Attachments=attachment).json()[0]["MessageID"]
    assert emu.get(f"/transactional/messages/{with_file}").json()["CanBeResent"] is False
    assert error(emu.call("POST", f"/transactional/messages/{with_file}/resend")) == (410, 410)
    assert error(emu.call("POST", "/transactional/messages/nope/resend")) == (400, 302)


def test_classic_send_groups_and_statistics(tx: tuple[Emu, Clock]) -> None:
    emu, clock = tx
    classic = {
        "Subject": "Your receipt",
        "From": "Acme <a@acme.example>",
        "To": ["x@example.com", "y@example.com"],
        "HTML": '<a href="https://acme.example/r">r</a>',
        "Group": "Receipts",
        "ConsentToTrack": "Yes",
    }
    sent = emu.call("POST", "/transactional/classicEmail/send", params={"clientID": CLIENT_A}, json=classic)
    assert sent.status_code == 202 and len(sent.json()) == 2
    groups = emu.get("/transactional/classicEmail/groups", KEY_A).json()
    assert [g["Group"] for g in groups] == ["Receipts"]
    assert groups[0]["CreatedAt"] == "2026-03-02T20:00:00+11:00"
    for change, code in (
        ({"From": ""}, 957),
        ({"From": "not an address"}, 957),
        ({"From": "a" * 251}, 958),
        ({"ReplyTo": "nope"}, 955),
        ({"HTML": "", "Text": ""}, 960),
        ({"TrackOpens": "sometimes"}, 971),
        ({"TrackClicks": 3}, 970),
        ({"InlineCSS": "x"}, 972),
        ({"ConsentToTrack": None}, 974),
        ({"To": None}, 952),
    ):
        answer = emu.call("POST", "/transactional/classicEmail/send", KEY_A, json={**classic, **change})
        assert error(answer) == (400, code), change
    send(emu, To=["bounce@example.com"])
    advance(emu, clock, 86400)
    stats = emu.get("/transactional/statistics", KEY_A).json()
    assert stats["Query"] == {"From": "2026-02-01", "To": "2026-03-03", "TimeZone": SYDNEY_LABEL}
    assert (stats["Sent"], stats["Bounces"], stats["Delivered"]) == (3, 1, 2)
    grouped = emu.get("/transactional/statistics", KEY_A, params={"group": "Receipts", "timezone": "utc"}).json()
    assert list(grouped["Query"]) == ["Group", "From", "To", "TimeZone"] and grouped["Query"]["TimeZone"] == "UTC"
    assert grouped["Sent"] == 2
    assert emu.get("/transactional/statistics", KEY_A, params={"from": "2026-03-03"}).json()["Sent"] == 0
    for params, code in (
        ({"from": "03/01/2026"}, 920),
        ({"to": "2026-13-01"}, 922),
        ({"from": "2026-03-02", "to": "2026-03-01"}, 921),
        ({"timezone": "local"}, 923),
        ({"group": "Receipts", "smartEmailID": SMART}, 924),
    ):
        assert error(emu.get("/transactional/statistics", KEY_A, params=params)) == (400, code), params


SYDNEY_LABEL = "(GMT+10:00) Canberra, Melbourne, Sydney"
