"""cmsf's Campaign Monitor client's transactional calls against the emulator over HTTPS (the generated dataset's smart
emails), and the official SDK's `Transactional` class against the same emulator, pointed at it as the reference's §4.3
says."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from cmsf.campaign_monitor.api import CampaignMonitor
from cmsf.campaign_monitor.errors import FatalError, TransactionalNotEnabled, TransientError
from cmsf.campaign_monitor.transport import ApiKeyAuth, Transport
from cmsf_sandbox.campaign_monitor.app import create_app
from cmsf_sandbox.dataset import generate_world
from cmsf_sandbox.server import serve_in_thread
from cmsf_sandbox.tls import generate_tls_files

SEED = 11


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    world = generate_world("tiny", SEED)
    tls = generate_tls_files(tmp_path_factory.mktemp("tls"))
    with serve_in_thread(create_app(world, "none"), tls=tls) as base:
        yield {"world": world, "base": base, "ca": str(tls.ca_file)}


def admin(emulator: dict[str, Any], method: str, path: str, **kwargs: Any) -> Any:
    response = requests.request(method, f"{emulator['base']}/admin{path}", verify=emulator["ca"], timeout=30, **kwargs)
    response.raise_for_status()
    return response.json()


@pytest.fixture
def cm(emulator: dict[str, Any]) -> Iterator[CampaignMonitor]:
    transport = Transport(
        ApiKeyAuth(emulator["world"].account_api_key), base_url=f"{emulator['base']}/api/v3.3", ca_bundle=emulator["ca"]
    )
    yield CampaignMonitor(transport)
    transport.close()


def first_client(world: Any) -> Any:
    return next(iter(world.clients.values()))


def test_the_dataset_gives_every_client_active_smart_emails_and_a_draft(cm: CampaignMonitor, emulator: Any) -> None:
    world = emulator["world"]
    for client in world.clients.values():
        listed = cm.smart_emails(client.client_id)
        mine = [e for e in world.smart_emails.values() if e.client_id == client.client_id]
        assert [e.smart_email_id for e in listed] == [e.smart_email_id for e in mine]
        assert sorted(e.status for e in listed).count("draft") == 1 and len(listed) >= 3
        assert all(e.created_at is not None and e.created_at.tzinfo == UTC for e in listed)
        assert [e.smart_email_id for e in cm.smart_emails(client.client_id, status="draft")] == [
            e.smart_email_id for e in listed if e.status == "draft"
        ]
    smart = cm.smart_email(next(iter(world.smart_emails)))
    assert smart.status == "active" and smart.email_variables and smart.from_address
    assert smart.html_preview_url.startswith("https://")


def test_send_read_the_timeline_then_the_clock_delivers_and_opens(cm: CampaignMonitor, emulator: Any) -> None:
    world = emulator["world"]
    client = first_client(world)
    smart = next(e for e in world.smart_emails.values() if e.client_id == client.client_id and e.status == "active")
    people = [f"Reader {i} <reader{i}@example.com>" for i in range(12)]
    data = {name: f"value of {name}" for name in smart.email_variables}
    sent = cm.send_smart_email(smart.smart_email_id, to=people, consent_to_track="Yes", data=data)
    assert [m.recipient for m in sent] == people and {m.status for m in sent} == {"Received"}
    first = cm.message_details(sent[0].message_id, zone=client.time_zone)
    assert (first.status, first.smart_email_id, first.data, first.opens) == ("Received", smart.smart_email_id, data, ())
    assert first.sent_at is not None and abs((datetime.now(UTC) - first.sent_at).total_seconds()) < 3600
    timeline = cm.message_timeline(client.client_id, smart_email_id=smart.smart_email_id, count=5)
    assert [m.message_id for m in timeline] == [m.message_id for m in reversed(sent[-5:])]
    older = cm.message_timeline(client.client_id, sent_before_id=timeline[-1].message_id, count=200)
    assert [m.message_id for m in older][:7] == [m.message_id for m in reversed(sent[:7])]

    advanced = admin(emulator, "POST", "/advance", json={"forward_seconds": 2 * 86400})
    assert advanced["messages_delivered"] >= 12
    details = [cm.message_details(m.message_id, zone=client.time_zone) for m in sent]
    assert {d.status for d in details} == {"Delivered"}
    opened = [d for d in details if d.opens]
    assert opened and all(len(d.opens) == d.total_opens for d in details)
    assert all(d.sent_at is not None and o.date is not None and o.date > d.sent_at for d in opened for o in d.opens)
    assert all(c.url.startswith("https://") for d in details for c in d.clicks)
    assert opened[0].opens[0].mail_client and opened[0].opens[0].ip_address

    again = cm.resend_message(sent[0].message_id)
    assert again.status == "Accepted" and again.recipient == people[0] and again.message_id != sent[0].message_id


def test_refusals_are_typed_errors(cm: CampaignMonitor, emulator: Any) -> None:
    world = emulator["world"]
    client = first_client(world)
    mine = [e for e in world.smart_emails.values() if e.client_id == client.client_id]
    active = next(e for e in mine if e.status == "active")
    draft = next(e for e in mine if e.status == "draft")
    with pytest.raises(FatalError) as too_many:
        cm.send_smart_email(active.smart_email_id, to=[f"p{i}@example.com" for i in range(26)], consent_to_track="No")
    assert too_many.value.code == 954 and "The limit is 25" in str(too_many.value)
    with pytest.raises(FatalError) as refused:
        cm.send_smart_email(draft.smart_email_id, to=["p@example.com"], consent_to_track="No")
    assert refused.value.code == 929
    with pytest.raises(FatalError) as bad:
        cm.send_smart_email(active.smart_email_id, to=["nobody"], consent_to_track="No")
    assert bad.value.code == 1
    admin(emulator, "POST", "/transactional", json={"enabled": False, "client_id": client.client_id})
    try:
        with pytest.raises(TransactionalNotEnabled) as off:
            cm.smart_emails(client.client_id)
        assert off.value.code == 980 and off.value.kind == "fatal"
        assert "transactional email is not enabled on this Campaign Monitor account" in str(off.value)
        with pytest.raises(TransactionalNotEnabled):
            cm.send_smart_email(active.smart_email_id, to=["p@example.com"], consent_to_track="Yes")
    finally:
        admin(emulator, "POST", "/transactional", json={"enabled": True, "client_id": client.client_id})


def test_under_faults_a_send_is_retried_only_when_it_cannot_have_been_sent(cm: CampaignMonitor, emulator: Any) -> None:
    """429s (nothing was sent) are waited out and sent again; a 500 or a dropped connection is not sent twice."""
    world = emulator["world"]
    client = first_client(world)
    active = next(e for e in world.smart_emails.values() if e.client_id == client.client_id and e.status == "active")
    cm.transport.sleep = lambda seconds: None
    before = len(admin(emulator, "GET", "/transactional/messages")["messages"])
    succeeded, failed = 0, 0
    admin(emulator, "POST", "/faults", json={"profile": "flaky"})
    try:
        for _ in range(30):
            try:
                cm.send_smart_email(active.smart_email_id, to=["once@example.com"], consent_to_track="Yes")
                succeeded += 1
            except TransientError:
                failed += 1
    finally:
        admin(emulator, "POST", "/faults", json={"profile": "none"})
    recorded = admin(emulator, "GET", "/transactional/messages")["messages"][before:]
    assert succeeded <= len(recorded) <= succeeded + failed
    assert succeeded + failed == 30 and succeeded > 0


# --------------------------------------------------------------------------------------------- the official SDK


@pytest.fixture
def sdk(emulator: dict[str, Any]) -> Iterator[Any]:
    """createsend-python pointed at a plain-HTTP emulator of the same world (reference §4.3: the connection class
    swapped for HTTPConnection, the class attributes base_uri, oauth_uri and oauth_token_uri set)."""
    import createsend
    import createsend.createsend as core

    saved = (core.VerifiedHTTPSConnection, createsend.CreateSend.base_uri, createsend.CreateSend.oauth_uri)
    saved_token = createsend.CreateSend.oauth_token_uri
    with serve_in_thread(create_app(emulator["world"], "none")) as base:
        core.VerifiedHTTPSConnection = http.client.HTTPConnection
        createsend.CreateSend.base_uri = f"{base}/api/v3.3"
        createsend.CreateSend.oauth_uri = f"{base}/oauth"
        createsend.CreateSend.oauth_token_uri = f"{base}/oauth/token"
        try:
            yield createsend
        finally:
            core.VerifiedHTTPSConnection, createsend.CreateSend.base_uri, createsend.CreateSend.oauth_uri = saved
            createsend.CreateSend.oauth_token_uri = saved_token


def test_the_official_sdk_lists_sends_and_reads_a_message(sdk: Any, emulator: Any) -> None:
    world = emulator["world"]
    client = first_client(world)
    tx = sdk.Transactional({"api_key": world.account_api_key}, client.client_id)
    listed = tx.smart_email_list(status="all", client_id=client.client_id)
    assert {e.Status for e in listed} == {"Active", "Draft"}
    assert all(len(e.ID) == 36 and e.CreatedAt[10] == "T" for e in listed)
    active = next(e for e in listed if e.Status == "Active")
    details = tx.smart_email_details(active.ID)
    assert details.Status == "active" and details.Properties.Content.EmailVariables
    sent = tx.smart_email_send(
        active.ID, "Sdk Person <sdk.person@example.com>", "Yes", data={"firstname": "Sdk"}, cc=["cc@example.com"]
    )
    assert [(m.Recipient, m.Status) for m in sent] == [
        ("Sdk Person <sdk.person@example.com>", "Received"),
        ("cc@example.com", "Received"),
    ]
    message = tx.message_details(sent[0].MessageID, statistics=True)
    assert (message.MessageID, message.Status, message.SmartEmailID) == (sent[0].MessageID, "Received", active.ID)
    assert message.Message.To == ["Sdk Person <sdk.person@example.com>"] and message.Message.Data.firstname == "Sdk"
    assert message.Opens == [] and message.Clicks == [] and message.TotalOpens == 0
    timeline = tx.message_timeline({"clientID": client.client_id, "count": 2})
    assert [m.MessageID for m in timeline] == [sent[1].MessageID, sent[0].MessageID]
    with pytest.raises(sdk.BadRequest, match="954"):
        tx.smart_email_send(active.ID, [f"p{i}@example.com" for i in range(26)], "No")
