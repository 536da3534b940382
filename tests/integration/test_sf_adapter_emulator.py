"""cmsf's Salesforce adapter against the Salesforce emulator, over real HTTPS with the emulator's CA."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from cmsf.salesforce.adapter import CampaignMembers, SalesforceAdapter
from cmsf.salesforce.auth import Credentials, exchange_code
from cmsf.salesforce.errors import ApiLimitExceeded, AuthenticationError, BudgetExhausted, FatalError
from cmsf.salesforce.meter import ApiMeter
from cmsf.salesforce.schema_check import check_schema
from cmsf.salesforce.sfdx import read_objects
from cmsf_sandbox.salesforce.app import create_app
from cmsf_sandbox.salesforce.data import generate_org
from cmsf_sandbox.server import serve_in_thread
from cmsf_sandbox.tls import generate_tls_files

LIST_ID = "0123456789abcdef0123456789abcdef"
FLAKY_SEED = 7


@pytest.fixture(scope="module")
def org_server(tmp_path_factory):
    org = generate_org("tiny", 11)
    tls = generate_tls_files(tmp_path_factory.mktemp("sf-tls"))
    with serve_in_thread(create_app(org, "none"), tls=tls) as base:
        yield {"org": org, "base": base, "ca": str(tls.ca_file)}


@pytest.fixture
def admin(org_server):
    session = requests.Session()

    def call(method, path, **kwargs):
        response = session.request(
            method, f"{org_server['base']}/admin{path}", verify=org_server["ca"], timeout=30, **kwargs
        )
        response.raise_for_status()
        return response.json() if response.content else None

    yield call
    call("POST", "/faults", json={"profile": "none"})
    call("POST", "/schema/reset")


def jwt_credentials(org_server) -> Credentials:
    oauth = org_server["org"].oauth
    return Credentials(
        flow="jwt_bearer",
        login_url=org_server["base"],
        client_id=oauth.client_id,
        username=oauth.jwt_username,
        private_key=oauth.jwt_private_key_pem,
    )


def make_adapter(org_server, **kwargs) -> SalesforceAdapter:
    return SalesforceAdapter(jwt_credentials(org_server), ca_bundle=org_server["ca"], **kwargs)


@pytest.fixture
def sf(org_server):
    adapter = make_adapter(org_server)
    yield adapter
    adapter.session.close()


def members(n: int, start: int = 0, **extra) -> list[dict]:
    return [
        {"Member_Key__c": f"{LIST_ID}:person{i}@example.org", "Email__c": f"person{i}@example.org", "State__c": "Active",
         **extra}
        for i in range(start, start + n)
    ]  # fmt: skip


def calls_of(adapter: SalesforceAdapter, action) -> tuple[object, int]:
    before = adapter.meter.total
    result = action()
    return result, adapter.meter.total - before


def test_jwt_bearer_signs_in_as_the_sync_user(sf, org_server):
    assert sf.token.user_id == org_server["org"].sync_user_id
    organization = next(sf.query("SELECT Id, Name, IsSandbox FROM Organization"))
    assert organization["Id"] == org_server["org"].org_id and organization["IsSandbox"] is False


def test_client_credentials_sign_in(org_server):
    oauth = org_server["org"].oauth
    credentials = Credentials(
        flow="client_credentials", login_url=org_server["base"], client_id=oauth.client_id,
        client_secret=oauth.client_secret,
    )  # fmt: skip
    adapter = SalesforceAdapter(credentials, ca_bundle=org_server["ca"])
    assert adapter.count("SELECT COUNT() FROM User") == len(org_server["org"].records["User"])


def test_a_wrong_secret_is_an_authentication_error(org_server):
    oauth = org_server["org"].oauth
    credentials = Credentials(flow="client_credentials", login_url=org_server["base"], client_id=oauth.client_id,
                              client_secret="wrong")  # fmt: skip
    with pytest.raises(AuthenticationError, match="reconnect Salesforce"):
        SalesforceAdapter(credentials, ca_bundle=org_server["ca"])


def test_the_web_server_flow_then_refresh_tokens(org_server):
    from cmsf.salesforce.auth import authorize_url

    oauth = org_server["org"].oauth
    url = authorize_url(
        login_url=org_server["base"], client_id=oauth.client_id, redirect_uri=oauth.redirect_uri, state="s1"
    )
    session = requests.Session()
    page = session.get(url, verify=org_server["ca"], timeout=30)
    assert page.status_code == 200 and 'name="username"' in page.text
    form = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page.text))
    form["username"] = oauth.jwt_username
    redirect = session.post(f"{org_server['base']}/services/oauth2/authorize", data=form, verify=org_server["ca"],
                            allow_redirects=False, timeout=30)  # fmt: skip
    assert redirect.status_code in (302, 303)
    query = parse_qs(urlsplit(redirect.headers["Location"]).query)
    assert query["state"] == ["s1"]
    token = exchange_code(login_url=org_server["base"], client_id=oauth.client_id, client_secret=oauth.client_secret,
                          redirect_uri=oauth.redirect_uri, code=query["code"][0], verify=org_server["ca"])  # fmt: skip
    assert token.refresh_token
    credentials = Credentials(flow="web_server", login_url=org_server["base"], client_id=oauth.client_id,
                              client_secret=oauth.client_secret, refresh_token=token.refresh_token)  # fmt: skip
    adapter = SalesforceAdapter(credentials, ca_bundle=org_server["ca"])
    assert adapter.token.access_token != token.access_token
    assert adapter.count("SELECT COUNT() FROM Organization") == 1


def test_an_expired_session_is_renewed_once_and_the_call_retried(sf, admin):
    tokens = []
    sf.on_token = tokens.append
    assert sf.count("SELECT COUNT() FROM Contact") > 0
    admin("POST", "/tokens/expire")
    assert sf.count("SELECT COUNT() FROM Contact") > 0
    assert len(tokens) == 1 and sf.meter.calls["oauth"] >= 2


def test_the_schema_check_reports_a_removed_field_by_name(sf, admin):
    report = check_schema(sf)
    assert report.ok, report.lines()
    assert report.checked_fields == sum(len(o.fields) for o in read_objects().values())
    admin("POST", "/schema/remove-field", json={"object": "CMSF_Subscriber__c", "field": "Mobile_Number__c"})
    report = check_schema(sf)
    assert report.missing_fields == ["CMSF_Subscriber__c.Mobile_Number__c"]
    assert report.lines() == ["missing field CMSF_Subscriber__c.Mobile_Number__c"]


def test_1000_rows_upsert_through_collections_in_5_calls_and_a_rerun_creates_nothing(sf):
    rows = members(1000, start=10_000)
    results, calls = calls_of(sf, lambda: sf.upsert("CMSF_Subscriber__c", "Member_Key__c", rows))
    assert calls == 5
    assert all(r.success and r.created for r in results) and len({r.id for r in results}) == 1000
    assert results[7].key == rows[7]["Member_Key__c"]
    again, calls = calls_of(sf, lambda: sf.upsert("CMSF_Subscriber__c", "Member_Key__c", rows))
    assert calls == 5 and [r.id for r in again] == [r.id for r in results] and not any(r.created for r in again)


def test_10000_rows_upsert_through_bulk_in_at_most_6_calls_with_each_records_id(sf):
    rows = members(10_000, start=20_000, State__c="Unsubscribed")
    results, calls = calls_of(sf, lambda: sf.upsert("CMSF_Subscriber__c", "Member_Key__c", rows))
    assert calls <= 6, sf.meter.calls
    assert all(r.success and r.created for r in results) and len({r.id for r in results}) == 10_000
    found = {row["Member_Key__c"].lower(): row["Id"] for row in sf.bulk_query(
        "SELECT Id, Member_Key__c FROM CMSF_Subscriber__c WHERE State__c = 'Unsubscribed'")}  # fmt: skip
    assert all(found[r.key.lower()] == r.id for r in results)
    again = sf.upsert("CMSF_Subscriber__c", "Member_Key__c", rows)
    assert [r.id for r in again] == [r.id for r in results] and not any(r.created for r in again)


@pytest.mark.parametrize("size", [50, 2_500])
def test_a_bad_record_is_reported_with_its_key_and_the_rest_go_on(sf, size):
    rows = members(size, start=40_000 + size)
    rows[3]["Email__c"] = "not an email"
    rows[5]["Name__c"] = "x" * 300
    results = sf.upsert("CMSF_Subscriber__c", "Member_Key__c", rows)
    bad = {r.index: (r.key, r.errors[0].code) for r in results if not r.success}
    assert bad == {
        3: (rows[3]["Member_Key__c"], "INVALID_EMAIL_ADDRESS"),
        5: (rows[5]["Member_Key__c"], "STRING_TOO_LONG"),
    }
    assert sum(r.success for r in results) == size - 2


@pytest.mark.parametrize("size", [30, 2_200])
def test_insert_update_and_delete(sf, size):
    contacts = [{"LastName": f"Ins{i}", "Email": f"ins{i}.{size}@example.org"} for i in range(size)]
    created = sf.insert("Contact", contacts)
    assert all(r.success and r.id for r in created)
    updated = sf.update("Contact", [{"Id": r.id, "Title": "Updated"} for r in created])
    assert all(r.success for r in updated)
    assert sf.count("SELECT COUNT() FROM Contact WHERE Title = 'Updated' AND LastName LIKE 'Ins%'") >= size
    deleted = sf.delete("Contact", [r.id for r in created])
    assert all(r.success for r in deleted)
    assert sf.count(f"SELECT COUNT() FROM Contact WHERE Email = 'ins0.{size}@example.org'") == 0


def test_query_pages_through_next_records_url(sf):
    sf.upsert("CMSF_Subscriber__c", "Member_Key__c", members(4_500, start=60_000, State__c="Bounced"))
    before = sf.meter.calls["queryMore"]
    rows = list(sf.query("SELECT Id, Member_Key__c, List__r.Name FROM CMSF_Subscriber__c WHERE State__c = 'Bounced'"))
    assert len(rows) >= 4_500 and len({r["Id"] for r in rows}) == len(rows)
    assert sf.meter.calls["queryMore"] - before == 2


def test_locked_rows_are_retried_alone_until_they_succeed(sf, admin):
    admin("POST", "/faults", json={"profile": "flaky", "rates": {"lock": 0.05, "unavailable": 0.0, "dropped": 0.0}})
    rows = members(600, start=80_000)
    results = sf.upsert("CMSF_Subscriber__c", "Member_Key__c", rows)
    assert all(r.success for r in results), [str(r.errors[0]) for r in results if not r.success][:3]
    assert sf.meter.calls["composite/sobjects"] > 3  # the locked records went again, in calls of their own
    assert sf.meter.retries["lock"] > 0


def test_server_errors_and_dropped_connections_are_retried(org_server, admin, caplog):
    waits: list[float] = []
    adapter = make_adapter(org_server, sleep=waits.append)
    # The flaky profile is deterministic from its seed: of these queries, some are answered 503 and some connections
    # drop half-way, never four times in a row.
    rates = {"lock": 0.0, "unavailable": 0.2, "dropped": 0.1}
    admin("POST", "/faults", json={"profile": "flaky", "seed": FLAKY_SEED, "rates": rates})
    admin("POST", "/calls")  # the emulator counts the calls from here
    try:
        for _ in range(10):
            assert adapter.count("SELECT COUNT() FROM Contact") > 0
    finally:
        adapter.session.close()
    retried = adapter.meter.retries["call"]
    assert retried > 0 and len(waits) == retried  # each retry waited its backoff first
    assert admin("GET", "/calls")["calls"] == {"query": 10 + retried}  # and was one more query the emulator served
    reasons = [r.getMessage() for r in caplog.records if "sent again" in r.getMessage()]
    assert len(reasons) == retried
    assert any("HTTP 503" in reason for reason in reasons), reasons
    assert any("HTTP 503" not in reason for reason in reasons), reasons  # a dropped connection


def test_the_org_limit_stops_the_run_with_a_clear_error(sf, admin):
    sf.meter.budget_share = None  # no budget of cmsf's own: the org's limit is what stops it
    admin("POST", "/faults", json={"profile": "limits", "after": 2})
    with pytest.raises(ApiLimitExceeded, match="daily API requests are used up"):
        for _ in range(5):
            sf.count("SELECT COUNT() FROM Contact")


def test_cmsfs_budget_stops_the_run_before_the_org_limit(org_server):
    adapter = make_adapter(org_server, meter=ApiMeter(budget_share=0.000001))
    adapter.count("SELECT COUNT() FROM Contact")  # the first call learns the org's usage
    with pytest.raises(BudgetExhausted, match="cmsf's budget"):
        adapter.count("SELECT COUNT() FROM Contact")


def test_a_bad_query_is_fatal_with_the_salesforce_code(sf):
    with pytest.raises(FatalError) as error:
        list(sf.query("SELECT Nope__c FROM Contact"))
    assert error.value.code == "INVALID_FIELD" and error.value.status == 400


def test_campaign_members_are_looked_up_then_created_or_updated(sf, org_server):
    campaign = sf.insert("Campaign", [{"Name": "cmsf test campaign", "IsActive": True}])[0].id
    statuses = CampaignMembers(sf).ensure_statuses(campaign, [("Sent", False), ("Opened", True), ("Clicked", True)])
    assert all(r.success for r in statuses)
    labels = {r["Label"]: (r["IsDefault"], r["HasResponded"]) for r in sf.query(
        f"SELECT Label, IsDefault, HasResponded FROM CampaignMemberStatus WHERE CampaignId = '{campaign}'")}  # fmt: skip
    assert labels["Opened"] == (False, True) and sum(1 for d, _ in labels.values() if d) == 1
    contacts = [r["Id"] for r in sf.query("SELECT Id FROM Contact WHERE Email != null LIMIT 3")]
    first = CampaignMembers(sf).save([{"CampaignId": campaign, "ContactId": c, "Status": "Sent"} for c in contacts])
    assert all(r.success and r.id for r in first)
    second = CampaignMembers(sf).save([{"CampaignId": campaign, "ContactId": c, "Status": "Opened"} for c in contacts])
    assert [r.id for r in second] == [r.id for r in first]
    rows = list(sf.query(f"SELECT Status, HasResponded FROM CampaignMember WHERE CampaignId = '{campaign}'"))
    assert len(rows) == 3 and all(r["Status"] == "Opened" and r["HasResponded"] for r in rows)
