"""The Campaign Monitor client parses responses in the official SDKs' shapes and handles failures.

Responses are served by a stand-in for the transport's connection pool from tests/fixtures/campaign_monitor,
so these tests need no network; the integration tests run the same client against the emulator over HTTPS."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import certifi
import pytest
import requests
import urllib3
from urllib3.exceptions import NewConnectionError, ProtocolError

from cmsf.campaign_monitor import timezones
from cmsf.campaign_monitor.api import CampaignMonitor, parse_webhook_payload
from cmsf.campaign_monitor.errors import ConfigurationError, FatalError, PagingError, TransientError
from cmsf.campaign_monitor.records import SubscriberInput
from cmsf.campaign_monitor.transport import ApiKeyAuth, OAuthAuth, OAuthTokens, RetryPolicy, Transport

FIXTURES = Path(__file__).parent.parent / "fixtures" / "campaign_monitor"
SYDNEY = "(GMT+10:00) Canberra, Melbourne, Sydney"
BASE = "https://cm.test/api/v3.3"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


class Sent:
    """One request as the pool was asked to send it."""

    def __init__(self, method: str, url: str, headers: dict[str, str], body: bytes | None):
        self.method, self.url, self.headers, self.body = method, url, headers, body


class Served:
    """Stands in for the transport's urllib3 pool: answers each request with the next scripted response for its
    path, and records what was asked."""

    def __init__(self, routes: dict[str, list[tuple[int, object, dict[str, str]]]]):
        self.routes = {path: list(responses) for path, responses in routes.items()}
        self.requests: list[Sent] = []

    def urlopen(self, method, url, body=None, headers=None, **kwargs):
        assert kwargs["retries"] is False and kwargs["preload_content"] is True
        self.requests.append(Sent(method, url, dict(headers or {}), body))
        path = urlsplit(url).path.removeprefix("/api/v3.3")
        queue = self.routes.get(f"{method} {path}")
        if not queue:
            raise AssertionError(f"unexpected request {method} {url}")
        status, payload, headers = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(payload, Exception):
            raise payload
        content = b"" if payload is None else json.dumps(payload).encode()
        return urllib3.HTTPResponse(
            body=content, status=status, headers={"Content-Type": "application/json; charset=utf-8", **headers}
        )

    def clear(self):
        pass


def reset() -> ProtocolError:
    return ProtocolError("Connection aborted.", ConnectionResetError(104, "Connection reset by peer"))


def ok(body, status=200, headers=None):
    return (status, body, headers or {})


def client(routes, auth=None, **kwargs):
    sleeps: list[float] = []
    transport = Transport(auth or ApiKeyAuth("key"), base_url=BASE, sleep=sleeps.append, **kwargs)
    adapter = Served(routes)
    transport.pool = adapter
    return CampaignMonitor(transport), adapter, sleeps


def test_account_client_and_lists_parse():
    cm, adapter, _ = client(
        {
            "GET /clients.json": [ok(fixture("clients"))],
            "GET /clients/4a397ccaaa55eb4e6aa1221e1e2d7122.json": [ok(fixture("client_details"))],
            "GET /clients/4a397ccaaa55eb4e6aa1221e1e2d7122/lists.json": [ok(fixture("lists"))],
            "GET /lists/2fe4c8f0373ce320e2200596d7ef168f.json": [ok(fixture("list_details"))],
            "GET /lists/2fe4c8f0373ce320e2200596d7ef168f/stats.json": [ok(fixture("list_stats"))],
            "GET /lists/2fe4c8f0373ce320e2200596d7ef168f/customfields.json": [ok(fixture("custom_fields"))],
        }
    )
    assert [c.name for c in cm.clients()] == ["Client One", "Client Two"]
    details = cm.client("4a397ccaaa55eb4e6aa1221e1e2d7122")
    assert details.time_zone == SYDNEY and details.country == "Australia"
    assert [lst.name for lst in cm.lists("4a397ccaaa55eb4e6aa1221e1e2d7122")] == ["List One", "List Two"]
    assert cm.list_details("2fe4c8f0373ce320e2200596d7ef168f").unsubscribe_setting == "AllClientLists"
    stats = cm.list_stats("2fe4c8f0373ce320e2200596d7ef168f")
    assert (stats.total_active, stats.total_unsubscribes, stats.raw["NewActiveSubscribersYesterday"]) == (6, 2, 8)
    fields = cm.custom_fields("2fe4c8f0373ce320e2200596d7ef168f")
    assert [(f.key, f.data_type) for f in fields][-1] == ("[subscriptiondate]", "Date")
    assert adapter.requests[0].headers["Authorization"] == "Basic a2V5Ong="  # "key:x"


def test_subscribers_page_parses_with_times_in_utc_and_repeated_multi_select_values():
    cm, adapter, _ = client({"GET /lists/L1/active.json": [ok(fixture("active_subscribers"))]})
    since = datetime(2010, 10, 1, 0, 0, 30, tzinfo=UTC)
    subscribers = list(cm.subscribers("L1", "active", zone=SYDNEY, since=since))
    first = subscribers[0]
    assert first.email == "subs+7t8787Y@example.com" and first.state == "Active"
    assert first.date == datetime(2010, 10, 25, 10, 28, tzinfo=timezones.zone(SYDNEY)).astimezone(UTC)
    assert first.date == datetime(2010, 10, 24, 23, 28, tzinfo=UTC)  # Sydney was UTC+11 (summer time)
    assert first.field_values("multi select field") == ["option one", "option two"]
    assert (first.consent_to_track, first.consent_to_send_sms) == ("Yes", "No")
    query = parse_qs(urlsplit(adapter.requests[0].url).query)
    assert query["date"] == ["2010-10-01 10:00"]  # the boundary in Sydney time, inclusive
    assert query["orderfield"] == ["date"] and query["orderdirection"] == ["asc"]
    assert query["pagesize"] == ["1000"] and query["page"] == ["1"]


def test_a_subscriber_not_in_the_list_is_none():
    cm, _, _ = client(
        {
            "GET /subscribers/L1.json": [ok(fixture("subscriber_not_in_list_error"), 400)],
        }
    )
    assert cm.subscriber("L1", "nobody@example.com", zone=SYDNEY) is None


def test_subscriber_details_parse():
    cm, _, _ = client({"GET /subscribers/L1.json": [ok(fixture("subscriber_details_with_tracking_preference"))]})
    subscriber = cm.subscriber("L1", "subscriber@example.com", zone=SYDNEY)
    assert subscriber is not None and subscriber.consent_to_track == "Yes"


def test_import_sends_1000_a_call_and_collects_partial_failures():
    cm, adapter, _ = client(
        {
            "POST /subscribers/L1/import.json": [
                ok(fixture("import_subscribers"), 201),
                ok(fixture("import_subscribers_partial_success"), 400),
            ]
        }
    )
    people = [SubscriberInput(email=f"p{i}@example.com", name=f"P {i}") for i in range(1500)]
    result = cm.import_subscribers("L1", people)
    assert result.calls == 2
    sizes = [len(json.loads(r.body)["Subscribers"]) for r in adapter.requests]
    assert sizes == [1000, 500]
    assert result.new_subscribers == 3 and result.existing_subscribers == 2
    assert [(f.email, f.code, f.message) for f in result.failures] == [
        ("example+1@example", 1, "Invalid Email Address")
    ]
    body = json.loads(adapter.requests[0].body)
    assert body["Subscribers"][0]["ConsentToTrack"] == "Unchanged"  # unless a field is mapped to it
    assert "MobileNumber" not in body["Subscribers"][0]


def test_campaigns_and_their_activity_parse():
    cm, adapter, _ = client(
        {
            "GET /clients/C1/campaigns.json": [ok({**fixture("campaigns"), "NumberOfPages": 1})],
            "GET /campaigns/X/summary.json": [ok(fixture("campaign_summary"))],
            "GET /campaigns/X/recipients.json": [ok(fixture("campaign_recipients"))],
            "GET /campaigns/X/opens.json": [ok(fixture("campaign_opens"))],
            "GET /campaigns/X/clicks.json": [ok(fixture("campaign_clicks"))],
            "GET /campaigns/X/bounces.json": [ok(fixture("campaign_bounces"))],
            "GET /campaigns/X/unsubscribes.json": [ok(fixture("campaign_unsubscribes"))],
            "GET /campaigns/X/spam.json": [ok(fixture("campaign_spam"))],
        }
    )
    campaigns = list(cm.sent_campaigns("C1", zone=SYDNEY, sent_from=date(2010, 1, 1), tags=["Tag1"]))
    assert campaigns[0].tags == ("Tag1", "Tag2") and campaigns[1].tags == ()
    assert campaigns[0].sent_date == datetime(2010, 10, 12, 1, 58, tzinfo=UTC)
    query = parse_qs(urlsplit(adapter.requests[0].url).query)
    assert query["sentfromdate"] == ["2010-01-01"] and query["tags"] == ["Tag1"]
    summary = cm.campaign_summary("X")
    assert (summary.recipients, summary.unique_opened, summary.open_rate) == (5, 5, 100.0)
    assert summary.worldview_url.endswith("3A433FC72FFE3B8B")
    assert next(r.email for r in cm.campaign_recipients("X", zone=SYDNEY)) == "subs+6g76t7t0@example.com"
    opened = next(cm.campaign_activity("X", "opens", zone=SYDNEY))
    assert (opened.city, opened.latitude, opened.country_code) == ("Sydney", -33.8683, "AU")
    clicked = next(cm.campaign_activity("X", "clicks", zone=SYDNEY))
    assert clicked.url == "https://video.google.com.au/?hl=en&tab=wv"
    bounced = next(cm.campaign_activity("X", "bounces", zone=SYDNEY))
    assert (bounced.bounce_type, bounced.reason.strip()) == ("Soft", "Bounce - But No Email Address Returned")
    assert next(cm.campaign_activity("X", "unsubscribes", zone=SYDNEY)).ip_address == "192.168.126.87"
    assert next(cm.campaign_activity("X", "spam", zone=SYDNEY)).email == "subs+6576576576@example.com"


def test_suppression_journeys_segments_and_webhooks_parse():
    cm, _, _ = client(
        {
            "GET /clients/C1/suppressionlist.json": [ok(fixture("suppressionlist"))],
            "GET /clients/C1/journeys.json": [ok(fixture("client_journeys"))],
            "GET /journeys/J1.json": [ok(fixture("journey_summary"))],
            "GET /journeys/email/E1/recipients.json": [ok(fixture("journey_email_recipients"))],
            "GET /journeys/email/E1/opens.json": [ok(fixture("journey_email_opens"))],
            "GET /clients/C1/segments.json": [ok(fixture("segments"))],
            "GET /lists/L1/webhooks.json": [ok(fixture("list_webhooks"))],
        }
    )
    suppression = next(cm.suppression_list("C1", zone=SYDNEY))
    assert (suppression.reason, suppression.state) == ("Unsubscribed", "Suppressed")
    assert cm.journeys("C1")[0].status == "Active"
    journey = cm.journey("J1")
    assert journey.emails[0].sent == 11 and journey.emails[0].unique_opened == 4
    recipient = next(cm.journey_email_activity("E1", "recipients", zone=SYDNEY))
    assert recipient.sent_date == datetime(2019, 8, 19, 0, 23, tzinfo=UTC)
    assert next(cm.journey_email_activity("E1", "opens", zone=SYDNEY)).city == "Sydney"
    assert cm.client_segments("C1")[0].title == "Segment One"
    assert [(w.events, w.payload_format) for w in cm.webhooks("L1")] == [
        (("Deactivate",), "Json"),
        (("Subscribe",), "Xml"),
    ]


def test_webhook_payloads_parse():
    list_id, events = parse_webhook_payload(json.dumps(fixture("webhook_subscribe")), zone=SYDNEY)
    assert list_id == "96c0bbdaa54760c8d9e62a2b7ffa2e13" and events[0].type == "Subscribe"
    assert events[0].state == "Active" and events[0].custom_fields == (("website", "http://example.org"),)
    _, events = parse_webhook_payload(json.dumps(fixture("webhook_deactivate")), zone=SYDNEY)
    assert (events[0].type, events[0].state) == ("Deactivate", "Unsubscribed")
    _, events = parse_webhook_payload(json.dumps(fixture("webhook_update")), zone=SYDNEY)
    assert (events[0].old_email, events[0].email) == ("old@example.org", "new@example.org")
    with pytest.raises(ValueError, match="not JSON"):
        parse_webhook_payload("<xml/>", zone=SYDNEY)
    with pytest.raises(ValueError, match="must be"):
        parse_webhook_payload("{}", zone=SYDNEY)


def test_paging_follows_number_of_pages_and_stops():
    def envelope(n, emails):
        return ok(
            {
                **fixture("campaign_recipients"),
                "Results": [{"EmailAddress": e, "ListID": "L"} for e in emails],
                "PageNumber": n,
                "NumberOfPages": 3,
            }
        )

    cm, adapter, _ = client(
        {"GET /campaigns/X/recipients.json": [envelope(1, ["a", "b"]), envelope(2, ["c", "d"]), envelope(3, ["e"])]}
    )
    assert [r.email for r in cm.campaign_recipients("X", zone=SYDNEY)] == ["a", "b", "c", "d", "e"]
    assert [parse_qs(urlsplit(r.url).query)["page"] for r in adapter.requests] == [["1"], ["2"], ["3"]]


def test_a_page_that_repeats_stops_the_read_instead_of_looping():
    page = ok({**fixture("campaign_recipients"), "NumberOfPages": 5})
    cm, _, _ = client({"GET /campaigns/X/recipients.json": [page]})
    with pytest.raises(PagingError, match="page 2 repeats page 1"):
        list(cm.campaign_recipients("X", zone=SYDNEY))


def test_a_429_waits_for_the_reset_seconds_then_succeeds():
    limited = ok(fixture("rate_limited"), 429, {"X-RateLimit-Reset": "7", "X-RateLimit-Remaining": "0"})
    cm, _, sleeps = client({"GET /clients.json": [limited, ok(fixture("clients"))]})
    assert len(cm.clients()) == 2
    assert 7 <= sleeps[0] <= 7.25
    assert cm.transport.calls_snapshot() == {"GET /clients.json": 2}


def test_server_errors_and_dropped_connections_are_retried_with_backoff():
    cm, _, sleeps = client(
        {
            "GET /clients.json": [
                ok(fixture("sample_server_error"), 500),
                (0, reset(), {}),
                (0, ProtocolError("Connection broken: IncompleteRead(1462 bytes read, 538 more expected)"), {}),
                ok(fixture("clients")),
            ]
        }
    )
    assert len(cm.clients()) == 2 and len(sleeps) == 3


def test_retries_end_with_a_transient_error_naming_the_endpoint():
    cm, _, sleeps = client(
        {"GET /clients.json": [ok(fixture("sample_server_error"), 500)]}, retry=RetryPolicy(max_attempts=3)
    )
    with pytest.raises(TransientError) as error:
        cm.clients()
    assert error.value.kind == "transient" and len(sleeps) == 2
    assert str(error.value) == "GET /clients.json: Internal Server Error (Campaign Monitor code 500, HTTP 500)"


def test_a_bad_key_is_a_configuration_error_and_is_not_retried():
    cm, _, sleeps = client({"GET /clients.json": [ok(fixture("invalid_api_key"), 401)]})
    with pytest.raises(ConfigurationError, match="reconnect") as error:
        cm.clients()
    assert error.value.code == 100 and sleeps == []


def test_other_4xx_are_fatal_with_code_and_message():
    cm, _, sleeps = client({"POST /subscribers/L1.json": [ok(fixture("invalid_email"), 400)]})
    with pytest.raises(FatalError) as error:
        cm.add_subscriber("L1", SubscriberInput(email="not-an-email"))
    assert (error.value.code, error.value.message, error.value.kind) == (1, "Invalid Email Address", "fatal")
    assert "POST /subscribers/{listid}.json" in str(error.value) and sleeps == []


def test_a_write_that_may_have_happened_is_not_repeated():
    cm, adapter, _ = client({"POST /lists/L1/webhooks.json": [(0, reset(), {})]})
    with pytest.raises(TransientError):
        cm.create_webhook("L1", events=["Subscribe"], url="https://example.com/hook")
    assert len(adapter.requests) == 1


def test_a_write_whose_connection_never_opened_is_retried():
    refused = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")
    cm, adapter, sleeps = client({"POST /lists/L1/webhooks.json": [(0, refused, {}), ok("a1b2c3", 201)]})
    assert cm.create_webhook("L1", events=["Subscribe"], url="https://example.com/hook") == "a1b2c3"
    assert len(adapter.requests) == 2 and len(sleeps) == 1


def test_query_parameters_leave_out_none_and_repeat_lists():
    transport = Transport(ApiKeyAuth("key"), base_url=BASE)
    url = transport.url("lists/L1/active.json", {"date": "2010-01-01", "page": 2, "orderfield": None, "x": ["a", "b"]})
    assert url == BASE + "/lists/L1/active.json?date=2010-01-01&page=2&x=a&x=b"
    assert transport.url("clients.json", {"a": None}) == BASE + "/clients.json"


def test_an_expired_oauth_token_is_refreshed_once_and_the_call_retried(monkeypatch):
    refreshed = []
    auth = OAuthAuth(
        OAuthTokens("old-token", "refresh-1"), token_url="https://cm.test/oauth/token", on_refresh=refreshed.append
    )
    cm, adapter, _ = client(
        {"GET /clients.json": [ok(fixture("expired_oauth_token_api_error"), 401), ok(fixture("clients"))]}, auth=auth
    )

    def token_endpoint(self, url, data=None, **kwargs):
        assert data == {"grant_type": "refresh_token", "refresh_token": "refresh-1"}
        response = requests.Response()
        response.status_code = 200
        response._content = json.dumps(fixture("refresh_oauth_token")).encode()
        return response

    monkeypatch.setattr(requests.Session, "post", token_endpoint)
    assert len(cm.clients()) == 2
    assert adapter.requests[1].headers["Authorization"] == "Bearer SlAV32hkKG2e12e"
    assert [t.access_token for t in refreshed] == ["SlAV32hkKG2e12e"]


def test_a_refused_refresh_is_a_configuration_error(monkeypatch):
    auth = OAuthAuth(OAuthTokens("old", "bad"), token_url="https://cm.test/oauth/token")
    cm, _, _ = client({"GET /clients.json": [ok(fixture("expired_oauth_token_api_error"), 401)]}, auth=auth)

    def token_endpoint(self, url, data=None, **kwargs):
        response = requests.Response()
        response.status_code = 400
        response._content = json.dumps(fixture("oauth_exchange_token_error")).encode()
        return response

    monkeypatch.setattr(requests.Session, "post", token_endpoint)
    with pytest.raises(ConfigurationError, match="Specified code was invalid or expired"):
        cm.clients()


@pytest.mark.parametrize("ca_bundle", ["/etc/cmsf/campaign-monitor-ca.pem", True])
def test_the_cm_transport_verifies_with_its_ca_bundle_and_not_the_environments(monkeypatch, ca_bundle):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nowhere/requests-ca.pem")
    monkeypatch.setenv("CURL_CA_BUNDLE", "/nowhere/curl-ca.pem")
    monkeypatch.setenv("SSL_CERT_FILE", "/nowhere/ssl-cert.pem")
    transport = Transport(ApiKeyAuth("key"), base_url="https://cm.test/api/v3.3", ca_bundle=ca_bundle)
    pool = transport.pool.connection_from_url("https://cm.test/api/v3.3/clients.json")
    assert (pool.cert_reqs, pool.ca_certs) == ("CERT_REQUIRED", certifi.where() if ca_bundle is True else ca_bundle)


def test_the_cm_transport_takes_the_environments_proxies_once_unless_no_proxy_exempts_its_host(monkeypatch):
    for name in ("http_proxy", "https_proxy", "no_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://ops%40corp:s3cret@proxy.test:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,.internal.test")
    proxied = Transport(ApiKeyAuth("k"), base_url="https://cm.test/api")
    assert isinstance(proxied.pool, urllib3.ProxyManager) and proxied.pool.proxy.host == "proxy.test"
    assert proxied.pool.proxy_headers == {"proxy-authorization": "Basic b3BzQGNvcnA6czNjcmV0"}  # ops@corp:s3cret
    assert proxied.proxies == {"https": "http://ops%40corp:s3cret@proxy.test:3128"}  # the OAuth refresh's too
    direct = Transport(ApiKeyAuth("k"), base_url="https://cm.internal.test/api")
    assert not isinstance(direct.pool, urllib3.ProxyManager) and direct.proxies == {}
    monkeypatch.setenv("HTTPS_PROXY", "socks5://proxy.test:1080")
    with pytest.raises(ConfigurationError, match="not an http or https proxy"):
        Transport(ApiKeyAuth("k"), base_url="https://cm.test/api")
