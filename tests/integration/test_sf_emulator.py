"""The Salesforce emulator over real HTTPS: raw `requests` against the contract (OAuth, REST, SOQL, sObject
Collections, field checks, CampaignMember rules, Bulk API 2.0, limits, faults, the SFDX schema), then
simple-salesforce's own calls against it. No cmsf client code."""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cmsf_sandbox.salesforce.app import create_app
from cmsf_sandbox.salesforce.data import OrgData, generate_org
from cmsf_sandbox.salesforce.ids import make_id
from cmsf_sandbox.server import serve_in_thread
from cmsf_sandbox.tls import TlsFiles, generate_tls_files

VERSION = "62.0"
TOKEN_KEYS = {"access_token", "signature", "scope", "instance_url", "id", "token_type", "issued_at"}
INVALID_SESSION = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
NO_CONTACT = make_id("003", 999_999)  # a well-formed contact id nobody has
LIMIT_EXCEEDED = [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]


# ------------------------------------------------------------------------------------------ harness


class Client:
    """Raw HTTPS calls to one emulator: REST paths relative to /services/data/v62.0/."""

    def __init__(self, base: str, ca_file: Path, token: str, em: Any) -> None:
        self.base = base
        self.ca = str(ca_file)
        self.token = token
        self.em = em
        self.http = requests.Session()
        self.http.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
        self.http.verify = self.ca

    def url(self, path: str, version: str = VERSION) -> str:
        return f"{self.base}/services/data/v{version}/{path}"

    def call(
        self, method: str, path: str, *, token: str | None = None, version: str = VERSION, **kw: Any
    ) -> requests.Response:
        headers = {"Authorization": f"Bearer {token or self.token}", **kw.pop("headers", {})}
        return self.http.request(method, self.url(path, version), headers=headers, **kw)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.call("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self.call("POST", path, **kw)

    def patch(self, path: str, **kw: Any) -> requests.Response:
        return self.call("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self.call("DELETE", path, **kw)

    def put(self, path: str, **kw: Any) -> requests.Response:
        return self.call("PUT", path, **kw)

    def query(self, soql: str, path: str = "query") -> list[dict[str, Any]]:
        response = self.get(path, params={"q": soql})
        assert response.status_code == 200, response.text
        body = response.json()
        records = body["records"]
        while not body["done"]:
            body = self.http.get(
                self.base + body["nextRecordsUrl"], headers={"Authorization": f"Bearer {self.token}"}
            ).json()
            records += body["records"]
        return records

    def admin(self, method: str, path: str, json: Any = None) -> requests.Response:
        return self.http.request(method, f"{self.base}/admin/{path}", json=json)

    def create(self, obj: str, values: dict[str, Any]) -> str:
        response = self.post(f"sobjects/{obj}/", json=values)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def ingest(
        self,
        obj: str,
        operation: str,
        data: bytes,
        *,
        external_id: str | None = None,
        line_ending: str = "LF",
        delimiter: str = "COMMA",
    ) -> tuple[str, dict[str, Any]]:
        body = {"object": obj, "operation": operation, "lineEnding": line_ending, "columnDelimiter": delimiter}
        if external_id:
            body["externalIdFieldName"] = external_id
        created = self.post("jobs/ingest", json=body)
        assert created.status_code == 200, created.text
        job = created.json()["id"]
        assert (
            self.put(f"jobs/ingest/{job}/batches", data=data, headers={"Content-Type": "text/csv"}).status_code == 201
        )
        closed = self.patch(f"jobs/ingest/{job}", json={"state": "UploadComplete"})
        assert closed.status_code == 200 and closed.json()["state"] == "UploadComplete", closed.text
        return job, self.get(f"jobs/ingest/{job}").json()

    def results(self, job: str, kind: str) -> list[dict[str, str]]:
        response = self.get(f"jobs/ingest/{job}/{kind}/")
        assert response.status_code == 200, response.text
        return list(csv.DictReader(io.StringIO(response.text)))


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return generate_tls_files(tmp_path_factory.mktemp("sf-tls"))


@pytest.fixture(scope="module")
def org() -> OrgData:
    return generate_org("tiny", 5)


@contextmanager
def running(org: OrgData, tls: TlsFiles, faults: str = "none", **kw: Any) -> Iterator[Client]:
    app = create_app(org, faults, **kw)
    em = app.state.emulator
    with serve_in_thread(app, tls=tls) as base:
        client = Client(base, tls.ca_file, em.issue_token(), em)
        yield client
        client.http.close()


@pytest.fixture(scope="module")
def sf(org: OrgData, tls: TlsFiles) -> Iterator[Client]:
    """One emulator for the tests that only add records of their own."""
    with running(org, tls) as client:
        yield client


@pytest.fixture
def fresh(org: OrgData, tls: TlsFiles) -> Iterator[Client]:
    """An emulator of its own, for tests that change faults, limits, tokens or the schema."""
    with running(org, tls) as client:
        yield client


def tag() -> str:
    return uuid.uuid4().hex[:10]


def token_url(client: Client) -> str:
    return f"{client.base}/services/oauth2/token"


def assertion(org: OrgData, aud: str, *, key: str | None = None, exp: Any = None, **claims: Any) -> str:
    payload = {
        "iss": org.oauth.client_id,
        "sub": org.oauth.jwt_username,
        "aud": aud,
        "exp": exp if exp is not None else int(time.time()) + 180,
        **claims,
    }
    return jwt.encode(payload, key or org.oauth.jwt_private_key_pem, algorithm="RS256")


def list_id(client: Client, name: str) -> str:
    return client.create("CMSF_List__c", {"Name": name, "List_Id__c": name})


def csv_bytes(rows: list[list[str]], line_ending: str = "\n", delimiter: str = ",") -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator=line_ending, delimiter=delimiter).writerows(rows)
    return out.getvalue().encode()


# ---------------------------------------------------------------------------------------------- OAuth


def test_jwt_bearer_flow_verifies_the_assertion_with_the_certificate(sf: Client, org: OrgData) -> None:
    url = token_url(sf)
    for aud in (sf.base, "https://login.salesforce.com", "https://test.salesforce.com"):
        response = sf.http.post(
            url, data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion(org, aud)}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == TOKEN_KEYS
        assert body["instance_url"] == sf.base and body["token_type"] == "Bearer"
        assert body["id"] == f"{sf.base}/id/{org.org_id}/{org.sync_user_id}"
        expected = hmac.new(org.oauth.client_secret.encode(), (body["id"] + body["issued_at"]).encode(), hashlib.sha256)
        assert body["signature"] == base64.b64encode(expected.digest()).decode()
        assert sf.get("limits/", token=body["access_token"]).status_code == 200
    # simple-salesforce sends exp as a string of seconds
    text_exp = assertion(org, "https://login.salesforce.com", exp=f"{time.time() + 180:.0f}")
    grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert sf.http.post(url, data={"grant_type": grant, "assertion": text_exp}).status_code == 200

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other_pem = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    refused = {
        "foreign key": assertion(org, sf.base, key=other_pem),
        "expired": assertion(org, sf.base, exp=int(time.time()) - 3600),
        "wrong audience": assertion(org, "https://example.com"),
        "unknown user": assertion(org, sf.base, sub="nobody@example.com"),
        "wrong consumer key": assertion(org, sf.base, iss="3MVG9-not-the-app"),
    }
    for label, text in refused.items():
        response = sf.http.post(url, data={"grant_type": grant, "assertion": text})
        assert response.status_code == 400, label
        assert set(response.json()) == {"error", "error_description"}, label
        assert response.json()["error"] in ("invalid_grant", "invalid_client_id"), label
    missing = sf.http.post(url, data={})
    assert missing.status_code == 400 and missing.json() == {
        "error": "invalid_request",
        "error_description": "grant type is missing",
    }


def test_client_credentials_flow_runs_as_the_sync_user(sf: Client, org: OrgData) -> None:
    url = token_url(sf)
    oauth = org.oauth
    in_body = sf.http.post(
        url,
        data={"grant_type": "client_credentials", "client_id": oauth.client_id, "client_secret": oauth.client_secret},
    )
    basic = sf.http.post(url, data={"grant_type": "client_credentials"}, auth=(oauth.client_id, oauth.client_secret))
    for response in (in_body, basic):
        assert response.status_code == 200, response.text
        assert set(response.json()) == TOKEN_KEYS  # no refresh_token
        assert response.json()["id"].endswith(f"/{org.org_id}/{org.sync_user_id}")
    wrong = sf.http.post(url, data={"grant_type": "client_credentials"}, auth=(oauth.client_id, "wrong"))
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_client"
    password = sf.http.post(url, data={"grant_type": "password", "username": oauth.jwt_username, "password": "x"})
    assert password.json() == {"error": "invalid_grant", "error_description": "authentication failure"}


def test_authorization_code_flow_with_the_login_page_and_refresh(sf: Client, org: OrgData) -> None:
    oauth = org.oauth
    authorize = f"{sf.base}/services/oauth2/authorize"
    params = {"response_type": "code", "client_id": oauth.client_id, "redirect_uri": oauth.redirect_uri, "state": "s-1"}
    page = sf.http.get(authorize, params=params)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<form" in page.text and 'name="username"' in page.text and "no password check" in page.text
    assert sf.http.get(authorize, params={**params, "client_id": "nope"}).status_code == 400

    inactive = next(u for u in org.records["User"] if not u["IsActive"])
    active = next(u for u in org.records["User"] if u["IsActive"] and u["Id"] != org.sync_user_id)
    for username in ("nobody@example.com", inactive["Username"]):
        refused = sf.http.post(authorize, data={**params, "username": username}, allow_redirects=False)
        assert refused.status_code == 400 and "<form" in refused.text
    login = sf.http.post(authorize, data={**params, "username": active["Username"].upper()}, allow_redirects=False)
    assert login.status_code == 302
    location = urlsplit(login.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == oauth.redirect_uri
    query = parse_qs(location.query)
    assert query["state"] == ["s-1"]
    code = query["code"][0]

    exchange = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": oauth.client_id,
        "client_secret": oauth.client_secret,
        "redirect_uri": oauth.redirect_uri,
    }
    issued = sf.http.post(token_url(sf), data=exchange)
    assert issued.status_code == 200, issued.text
    body = issued.json()
    assert set(body) == TOKEN_KEYS | {"refresh_token"}
    assert body["id"].endswith(f"/{active['Id']}")
    again = sf.http.post(token_url(sf), data=exchange)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"

    refresh = {"grant_type": "refresh_token", "refresh_token": body["refresh_token"], "client_id": oauth.client_id}
    refreshed = sf.http.post(token_url(sf), data=refresh)
    assert refreshed.status_code == 200 and set(refreshed.json()) == TOKEN_KEYS
    token = refreshed.json()["access_token"]
    assert token != body["access_token"] and sf.get("", token=token).status_code == 200
    bad = sf.http.post(token_url(sf), data={**refresh, "refresh_token": "not-one"})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_grant"

    info = sf.http.get(f"{sf.base}/services/oauth2/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert info.status_code == 200
    user = info.json()
    assert user["user_id"] == active["Id"] and user["organization_id"] == org.org_id
    assert user["email"] == active["Email"] and user["preferred_username"] == active["Username"]
    assert user["name"] == f"{active['FirstName']} {active['LastName']}"


def test_expired_tokens_get_invalid_session_id(fresh: Client, org: OrgData) -> None:
    assert fresh.get("sobjects").status_code == 200
    assert fresh.admin("POST", "tokens/expire").json()["expired"] >= 1
    for response in (fresh.get("sobjects"), fresh.get("query/", params={"q": "SELECT Id FROM Contact"})):
        assert response.status_code == 401 and response.json() == INVALID_SESSION
    assert fresh.http.get(fresh.url("limits")).json() == INVALID_SESSION  # no token at all
    grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    new = fresh.http.post(token_url(fresh), data={"grant_type": grant, "assertion": assertion(org, fresh.base)})
    assert fresh.get("sobjects", token=new.json()["access_token"]).status_code == 200


# ------------------------------------------------------------------------------------ REST resources


def test_versions_resources_and_describe(sf: Client) -> None:
    versions = sf.http.get(f"{sf.base}/services/data/")
    assert versions.status_code == 200 and "sforce-limit-info" not in versions.headers
    assert {"label": "Winter '25", "url": "/services/data/v62.0", "version": "62.0"} in versions.json()
    assert sf.get("").json()["sobjects"] == "/services/data/v62.0/sobjects"
    assert sf.get("", version="30.0").status_code == 410

    described = sf.get("sobjects").json()
    by_name = {o["name"]: o for o in described["sobjects"]}
    assert described["maxBatchSize"] == 200
    assert by_name["Contact"]["keyPrefix"] == "003" and not by_name["Contact"]["custom"]
    assert by_name["CMSF_Subscriber__c"]["custom"] and by_name["CMSF_Subscriber__c"]["keyPrefix"].startswith("a")
    assert {"Organization", "User", "Account", "Lead", "Campaign", "CampaignMember", "CampaignMemberStatus"} <= set(
        by_name
    )
    assert {"PermissionSet", "PermissionSetAssignment"} <= set(by_name)

    contact = {f["name"]: f for f in sf.get("sobjects/Contact/describe").json()["fields"]}
    assert (
        not contact["LastName"]["nillable"]
        and contact["LastName"]["createable"]
        and contact["LastName"]["length"] == 80
    )
    assert contact["Email"]["type"] == "email" and contact["Email"]["idLookup"] and not contact["Email"]["unique"]
    assert contact["HasOptedOutOfEmail"]["defaultedOnCreate"] and contact["HasOptedOutOfEmail"]["type"] == "boolean"
    assert contact["AccountId"]["referenceTo"] == ["Account"] and contact["AccountId"]["relationshipName"] == "Account"
    assert not contact["Name"]["createable"] and not contact["CreatedDate"]["updateable"]
    lead = {f["name"]: f for f in sf.get("sobjects/Lead/describe").json()["fields"]}
    assert not lead["Company"]["nillable"] and not lead["IsConverted"]["createable"]
    assert "Closed - Converted" in [v["value"] for v in lead["Status"]["picklistValues"]]
    member = {f["name"]: f for f in sf.get("sobjects/CampaignMember/describe").json()["fields"]}
    assert not member["HasResponded"]["createable"] and not member["HasResponded"]["updateable"]
    assert member["CampaignId"]["createable"] and not member["CampaignId"]["updateable"]
    status = {f["name"]: f for f in sf.get("sobjects/CampaignMemberStatus/describe").json()["fields"]}
    assert {"CampaignId", "Label", "IsDefault", "HasResponded", "SortOrder"} <= set(status)

    subscriber = sf.get("sobjects/CMSF_Subscriber__c/describe/").json()
    fields = {f["name"]: f for f in subscriber["fields"]}
    key = fields["Member_Key__c"]
    assert key["externalId"] and key["unique"] and not key["caseSensitive"] and key["length"] == 255
    assert fields["State__c"]["restrictedPicklist"]
    assert [v["value"] for v in fields["State__c"]["picklistValues"]][:2] == ["Active", "Unconfirmed"]
    assert fields["Contact__c"]["relationshipName"] == "Contact__r" and fields["Contact__c"]["referenceTo"] == [
        "Contact"
    ]
    assert fields["Name"]["autoNumber"] and not fields["Name"]["createable"]
    children = {c["relationshipName"] for c in sf.get("sobjects/Contact/describe").json()["childRelationships"]}
    assert "CMSF_List_Memberships__r" in children and "CampaignMembers" in children
    assert sf.get("sobjects/Contact").json()["objectDescribe"]["name"] == "Contact"
    assert sf.get("sobjects/Nope__c/describe").status_code == 404


def test_single_record_crud_and_upsert_statuses(sf: Client) -> None:
    t = tag()
    created = sf.post("sobjects/Contact/", json={"LastName": "Crud", "FirstName": "Ada", "Email": f"{t}@example.com"})
    assert created.status_code == 201
    assert set(created.json()) == {"id", "success", "errors"} and created.json()["success"]
    cid = created.json()["id"]
    assert len(cid) == 18 and cid.startswith("003")
    got = sf.get(f"sobjects/Contact/{cid}", params={"fields": "Name,Email,HasOptedOutOfEmail"})
    assert got.json() == {
        "attributes": {"type": "Contact", "url": f"/services/data/v62.0/sobjects/Contact/{cid}"},
        "Name": "Ada Crud",
        "Email": f"{t}@example.com",
        "HasOptedOutOfEmail": False,
    }
    full = sf.get(f"sobjects/Contact/{cid[:15]}").json()  # 15-character ids work too
    assert full["Id"] == cid and full["IsDeleted"] is False and full["CreatedDate"].endswith("+0000")
    assert sf.patch(f"sobjects/Contact/{cid}", json={"Title": "Chief"}).status_code == 204
    assert sf.get(f"sobjects/Contact/{cid}").json()["Title"] == "Chief"
    assert sf.get(f"sobjects/Contact/{NO_CONTACT}").status_code == 404
    assert sf.get("sobjects/Contact/not-an-id").status_code == 404

    path = f"sobjects/CMSF_Subscriber__c/Member_Key__c/{t}:ada@example.com"
    first = sf.patch(path, json={"Email__c": "ada@example.com", "State__c": "Active"})
    assert first.status_code == 201 and first.json()["created"] is True
    second = sf.patch(
        f"sobjects/CMSF_Subscriber__c/Member_Key__c/{t.upper()}:ADA@EXAMPLE.COM", json={"State__c": "Bounced"}
    )
    assert second.status_code == 200 and second.json() == {
        "id": first.json()["id"],
        "success": True,
        "errors": [],
        "created": False,
    }
    old = sf.patch(path, json={"State__c": "Active"}, version="45.0")
    assert old.status_code == 204 and old.text == ""
    by_key = sf.get(path)
    assert (
        by_key.status_code == 200
        and by_key.json()["Id"] == first.json()["id"]
        and by_key.json()["State__c"] == "Active"
    )
    assert sf.patch("sobjects/CMSF_Subscriber__c/Name__c/x", json={}).status_code == 404  # not an external id

    sf.create("Contact", {"LastName": "Twin", "Email": f"twin-{t}@example.com"})
    sf.create("Contact", {"LastName": "Twin", "Email": f"TWIN-{t}@example.com"})
    multiple = sf.patch(f"sobjects/Contact/Email/twin-{t}@example.com", json={"Title": "x"})
    assert multiple.status_code == 300 and len(multiple.json()) == 2
    assert all(u.startswith("/services/data/v62.0/sobjects/Contact/003") for u in multiple.json())

    before = datetime.now(UTC) - timedelta(minutes=1)
    assert sf.delete(f"sobjects/Contact/{cid}").status_code == 204
    for response in (
        sf.get(f"sobjects/Contact/{cid}"),
        sf.delete(f"sobjects/Contact/{cid}"),
        sf.patch(f"sobjects/Contact/{cid}", json={"Title": "x"}),
    ):
        assert response.status_code == 404 and response.json()[0]["errorCode"] == "ENTITY_IS_DELETED"
    window = {"start": before.isoformat(), "end": (datetime.now(UTC) + timedelta(minutes=1)).isoformat()}
    deleted = sf.get("sobjects/Contact/deleted/", params=window).json()
    assert cid in [d["id"] for d in deleted["deletedRecords"]] and "latestDateCovered" in deleted
    assert cid not in sf.get("sobjects/Contact/updated/", params=window).json()["ids"]
    assert sf.query(f"SELECT Id, IsDeleted FROM Contact WHERE Id = '{cid}'") == []
    assert sf.query(f"SELECT Id, IsDeleted FROM Contact WHERE Id = '{cid}'", "queryAll")[0]["IsDeleted"] is True


# ---------------------------------------------------------------------------------------------- query


def test_query_pages_follow_next_records_url(sf: Client) -> None:
    t = tag()
    lst = list_id(sf, f"paging-{t}")
    rows = [["Member_Key__c", "Email__c", "List__c", "State__c"]]
    rows += [[f"{t}:{i}@example.com", f"{i}@example.com", lst, "Active"] for i in range(4500)]
    _, info = sf.ingest("CMSF_Subscriber__c", "insert", csv_bytes(rows))
    assert info["state"] == "JobComplete" and info["numberRecordsFailed"] == 0, info
    soql = f"SELECT Id, Member_Key__c FROM CMSF_Subscriber__c WHERE List__c = '{lst}'"
    first = sf.get("query/", params={"q": soql}).json()
    assert first["totalSize"] == 4500 and not first["done"] and len(first["records"]) == 2000
    assert first["records"][0]["attributes"]["type"] == "CMSF_Subscriber__c"
    url = first["nextRecordsUrl"]
    assert url.startswith("/services/data/v62.0/query/0r8") and url.endswith("-2000")
    sizes = [len(first["records"])]
    seen = {r["Id"] for r in first["records"]}
    body = first
    while not body["done"]:
        body = sf.http.get(sf.base + body["nextRecordsUrl"], headers={"Authorization": f"Bearer {sf.token}"}).json()
        sizes.append(len(body["records"]))
        seen |= {r["Id"] for r in body["records"]}
    assert sizes == [2000, 2000, 500] and len(seen) == 4500 and "nextRecordsUrl" not in body
    small = sf.get("query", params={"q": soql}, headers={"Sforce-Query-Options": "batchSize=700"}).json()
    assert len(small["records"]) == 700 and small["nextRecordsUrl"].endswith("-700")
    tiny = sf.get("query", params={"q": soql}, headers={"Sforce-Query-Options": "batchSize=5"}).json()
    assert len(tiny["records"]) == 200  # the minimum
    bad = sf.get("query/0r8RM0000000000AAA-2000")
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


@pytest.fixture(scope="module")
def soql_data(sf: Client) -> dict[str, Any]:
    """Four contacts and three leads marked with a tag of their own, for every SOQL feature."""
    t = tag()
    today = datetime.now(UTC).date()
    acme = sf.create("Account", {"Name": f"Acme {t}"})
    other = sf.create("Account", {"Name": f"Other {t}"})
    contacts = {
        "Alpha": {
            "FirstName": "Ann",
            "Email": "Ann@Example.com",
            "Birthdate": (today - timedelta(days=1)).isoformat(),
            "Title": "Engineer",
            "AccountId": acme,
            "EmailBouncedDate": "2024-01-15T10:00:00.000+0000",
        },
        "Beta": {
            "FirstName": "Bob",
            "Email": "bob@example.org",
            "Birthdate": "1990-01-01",
            "Title": "Manager",
            "HasOptedOutOfEmail": True,
        },
        "Gamma": {
            "Birthdate": (today - timedelta(days=10)).isoformat(),
            "Title": "engineer lead",
            "AccountId": acme,
            "EmailBouncedDate": "2023-06-01T00:00:00Z",
        },
        "delta": {"FirstName": "Dee", "Email": "dee_x@example.com", "AccountId": other},
    }
    for last, values in contacts.items():
        sf.create("Contact", {"LastName": last, "Department": t, **values})
    for last, employees, revenue in (("L1", 10, 1000.5), ("L2", 50, None), ("L3", None, None)):
        lead: dict[str, Any] = {"LastName": last, "Company": t, "NumberOfEmployees": employees}
        if revenue is not None:
            lead["AnnualRevenue"] = revenue
        sf.create("Lead", lead)
    return {"tag": t, "acme": acme}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("Email = 'ann@example.com'", {"Alpha"}),  # = on text is case-insensitive
        ("Email != 'ann@example.com'", {"Beta", "Gamma", "delta"}),  # != keeps nulls, as in SOQL
        ("Email <> 'ANN@example.com'", {"Beta", "Gamma", "delta"}),
        ("Email = null", {"Gamma"}),
        ("Email != null", {"Alpha", "Beta", "delta"}),
        ("LastName IN ('alpha', 'BETA')", {"Alpha", "Beta"}),
        ("LastName NOT IN ('alpha')", {"Beta", "Gamma", "delta"}),
        ("Title LIKE 'eng%'", {"Alpha", "Gamma"}),
        ("Email LIKE '%\\_x@%'", {"delta"}),
        ("LastName LIKE '_ETA'", {"Beta"}),
        ("LastName < 'C'", {"Alpha", "Beta"}),
        ("LastName >= 'delta'", {"Gamma", "delta"}),
        ("HasOptedOutOfEmail = true", {"Beta"}),
        ("HasOptedOutOfEmail = FALSE", {"Alpha", "Gamma", "delta"}),
        ("Birthdate = 1990-01-01", {"Beta"}),
        ("Birthdate < 2000-01-01", {"Beta"}),
        ("Birthdate = YESTERDAY", {"Alpha"}),
        ("Birthdate = LAST_N_DAYS:30", {"Alpha", "Gamma"}),
        ("Birthdate > TODAY", set()),
        ("CreatedDate = TODAY", {"Alpha", "Beta", "Gamma", "delta"}),
        ("CreatedDate < YESTERDAY", set()),
        ("EmailBouncedDate > 2024-01-01T00:00:00Z", {"Alpha"}),
        ("EmailBouncedDate >= 2023-06-01T00:00:00+0000", {"Alpha", "Gamma"}),
        ("EmailBouncedDate < 2024-01-15T12:00:00.000+02:00", {"Gamma"}),
        ("EmailBouncedDate <= 2024-01-15T10:00:00Z", {"Alpha", "Gamma"}),
        ("NOT (LastName = 'Alpha')", {"Beta", "Gamma", "delta"}),
        ("NOT LastName = 'Alpha'", {"Beta", "Gamma", "delta"}),
        ("(LastName = 'Alpha' OR LastName = 'Beta') AND HasOptedOutOfEmail = false", {"Alpha"}),
        ("(LastName = 'Gamma' OR (Email LIKE '%.org' AND NOT Title = null))", {"Beta", "Gamma"}),
        ("Account.Name LIKE 'Acme%'", {"Alpha", "Gamma"}),
        ("Account.Name = null", {"Beta"}),
    ],
)
def test_soql_where(sf: Client, soql_data: dict[str, Any], condition: str, expected: set[str]) -> None:
    records = sf.query(f"SELECT LastName FROM Contact WHERE Department = '{soql_data['tag']}' AND ({condition})")
    assert {r["LastName"] for r in records} == expected


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("NumberOfEmployees > 10", {"L2"}),
        ("NumberOfEmployees >= 10", {"L1", "L2"}),
        ("NumberOfEmployees <= 10", {"L1"}),
        ("NumberOfEmployees = null", {"L3"}),
        ("NumberOfEmployees IN (10, 50)", {"L1", "L2"}),
        ("AnnualRevenue = 1001", {"L1"}),  # currency(18, 0): 1000.5 was rounded half up
        ("AnnualRevenue < 2000", {"L1"}),
        ("Status = 'open - not contacted'", {"L1", "L2", "L3"}),  # the default status
    ],
)
def test_soql_numbers(sf: Client, soql_data: dict[str, Any], condition: str, expected: set[str]) -> None:
    records = sf.query(f"SELECT LastName FROM Lead WHERE Company = '{soql_data['tag']}' AND {condition}")
    assert {r["LastName"] for r in records} == expected


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ("ORDER BY LastName", ["Alpha", "Beta", "delta", "Gamma"]),
        ("ORDER BY LastName DESC", ["Gamma", "delta", "Beta", "Alpha"]),
        ("ORDER BY Email", ["Gamma", "Alpha", "Beta", "delta"]),  # ASC: nulls first
        ("ORDER BY Email DESC", ["delta", "Beta", "Alpha", "Gamma"]),  # DESC: nulls last
        ("ORDER BY Email DESC NULLS FIRST", ["Gamma", "delta", "Beta", "Alpha"]),
        ("ORDER BY FirstName ASC NULLS LAST, LastName DESC", ["Alpha", "Beta", "delta", "Gamma"]),
        ("ORDER BY Account.Name NULLS LAST, LastName DESC", ["Gamma", "Alpha", "delta", "Beta"]),
        ("ORDER BY LastName LIMIT 2", ["Alpha", "Beta"]),
        ("ORDER BY LastName LIMIT 2 OFFSET 1", ["Beta", "delta"]),
        ("ORDER BY LastName OFFSET 3", ["Gamma"]),
    ],
)
def test_soql_order_limit_offset(sf: Client, soql_data: dict[str, Any], order: str, expected: list[str]) -> None:
    records = sf.query(f"SELECT LastName FROM Contact WHERE Department = '{soql_data['tag']}' {order}")
    assert [r["LastName"] for r in records] == expected


def test_soql_parents_count_and_errors(sf: Client, soql_data: dict[str, Any], org: OrgData) -> None:
    t = soql_data["tag"]
    records = sf.query(
        f"SELECT LastName, Account.Name, Owner.Email, Owner.Username, Account.Owner.Alias FROM Contact "
        f"WHERE Department = '{t}' ORDER BY LastName"
    )
    sync = next(u for u in org.records["User"] if u["Id"] == org.sync_user_id)
    alpha, beta = records[0], records[1]
    assert list(alpha) == ["attributes", "LastName", "Account", "Owner"]
    assert alpha["Account"]["attributes"] == {
        "type": "Account",
        "url": f"/services/data/v62.0/sobjects/Account/{soql_data['acme']}",
    }
    assert alpha["Account"]["Name"] == f"Acme {t}" and alpha["Account"]["Owner"]["Alias"] == sync["Alias"]
    assert alpha["Owner"] == {
        "attributes": {"type": "User", "url": f"/services/data/v62.0/sobjects/User/{org.sync_user_id}"},
        "Email": sync["Email"],
        "Username": sync["Username"],
    }
    assert beta["Account"] is None
    count = sf.get("query", params={"q": f"SELECT COUNT() FROM Contact WHERE Department = '{t}'"}).json()
    assert count == {"totalSize": 4, "done": True, "records": []}

    errors = {
        "SELECT Id FROM Contact WHERE LastName = 'a' AND LastName = 'b' OR LastName = 'c'": "MALFORMED_QUERY",
        "SELECT Id FROM Contact WHERE LastName =": "MALFORMED_QUERY",
        "SELECT Id, FROM Contact": "MALFORMED_QUERY",
        "SELECT Id FROM Contact LIMIT 'x'": "MALFORMED_QUERY",
        "SELECT Nope__c FROM Contact": "INVALID_FIELD",
        "SELECT Foo.Name FROM Contact": "INVALID_FIELD",
        "SELECT Id FROM Contact WHERE Account.Nope = 'x'": "INVALID_FIELD",
        "SELECT Id FROM Contact ORDER BY Nope": "INVALID_FIELD",
        "SELECT Id FROM Nope__c": "INVALID_TYPE",
        "SELECT Id FROM Lead WHERE NumberOfEmployees = 'ten'": "INVALID_QUERY_FILTER_OPERATOR",
    }
    for soql, code in errors.items():
        response = sf.get("query", params={"q": soql})
        assert response.status_code == 400, soql
        assert response.json()[0]["errorCode"] == code, (soql, response.json())
    field = sf.get("query", params={"q": "SELECT Nope__c FROM Contact"}).json()[0]["message"]
    assert field.startswith(
        "\nSELECT Nope__c FROM Contact\n       ^\nERROR at Row:1:Column:8\nNo such column 'Nope__c' on entity 'Contact'."
    )
    missing = sf.get("query", params={"q": "SELECT Id FROM Nope__c"}).json()[0]["message"]
    assert "sObject type 'Nope__c' is not supported." in missing


# ---------------------------------------------------------------------------------------- collections


def test_collections_partial_failure_all_or_none_and_limits(sf: Client) -> None:
    t = tag()
    calls_before = sf.admin("GET", "calls").json()["calls"].get("composite/sobjects", 0)
    mixed = {
        "allOrNone": False,
        "records": [
            {"attributes": {"type": "Account"}, "Name": f"Col {t}"},
            {"attributes": {"type": "Contact"}, "LastName": "Col", "Department": t},
            {"attributes": {"type": "Contact"}, "FirstName": "NoLast", "Department": t},
            {"attributes": {"type": "Nope__c"}, "Name": "x"},
        ],
    }
    response = sf.post("composite/sobjects", json=mixed)
    assert response.status_code == 200
    results = response.json()
    assert results[0]["success"] and results[0]["id"].startswith("001") and results[0]["errors"] == []
    assert results[1]["success"] and results[1]["id"].startswith("003")
    assert results[2] == {
        "success": False,
        "errors": [
            {
                "statusCode": "REQUIRED_FIELD_MISSING",
                "message": "Required fields are missing: [LastName]",
                "fields": ["LastName"],
            }
        ],
    }
    assert results[3]["errors"][0]["statusCode"] == "INVALID_TYPE"

    rolled = sf.post("composite/sobjects", json={**mixed, "allOrNone": True, "records": mixed["records"][:3]}).json()
    assert (
        rolled[0]
        == rolled[1]
        == {
            "success": False,
            "errors": [
                {
                    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                    "message": "Record rolled back because not all records were valid and the request was using AllOrNone header",
                    "fields": [],
                }
            ],
        }
    )
    assert rolled[2]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert len(sf.query(f"SELECT Id FROM Contact WHERE Department = '{t}'")) == 1  # only the first request's

    contact = results[1]["id"]
    update = {
        "allOrNone": False,
        "records": [
            {"attributes": {"type": "Contact"}, "id": contact, "Title": "Updated"},
            {"attributes": {"type": "Contact"}, "id": results[0]["id"], "Title": "Wrong type"},
            {"attributes": {"type": "Contact"}, "Title": "No id"},
        ],
    }
    updated = sf.patch("composite/sobjects", json=update).json()
    assert updated[0] == {"id": contact, "success": True, "errors": []}
    assert updated[1]["errors"][0]["statusCode"] == "MALFORMED_ID" and updated[1]["errors"][0]["fields"] == ["Id"]
    assert updated[2]["errors"][0]["statusCode"] == "MISSING_ARGUMENT"
    all_or_none = sf.patch("composite/sobjects", json={**update, "allOrNone": True}).json()
    assert (
        all_or_none[0]["id"] == contact
        and all_or_none[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    )

    upsert = {
        "allOrNone": False,
        "records": [
            {"attributes": {"type": "CMSF_Subscriber__c"}, "Member_Key__c": f"{t}:a", "State__c": "Active"},
            {"attributes": {"type": "CMSF_Subscriber__c"}, "Member_Key__c": f"{t}:dup", "State__c": "Active"},
            {"attributes": {"type": "CMSF_Subscriber__c"}, "Member_Key__c": f"{t}:DUP", "State__c": "Bounced"},
            {"attributes": {"type": "CMSF_Subscriber__c"}, "State__c": "Active"},
        ],
    }
    upserted = sf.patch("composite/sobjects/CMSF_Subscriber__c/Member_Key__c", json=upsert).json()
    assert upserted[0]["success"] and upserted[0]["created"] is True
    for row, value in ((upserted[1], f"{t}:dup"), (upserted[2], f"{t}:DUP")):
        assert row["success"] is False and "id" not in row
        assert row["errors"][0]["statusCode"] == "DUPLICATE_VALUE"
        assert row["errors"][0]["message"] == f"Duplicate external id specified: {value}"
    assert upserted[3]["success"] is False
    again = sf.patch(
        "composite/sobjects/CMSF_Subscriber__c/Member_Key__c", json={"records": upsert["records"][:1]}
    ).json()
    assert again == [{"id": upserted[0]["id"], "success": True, "errors": [], "created": False}]

    fetched = sf.get(
        "composite/sobjects/Contact", params={"ids": f"{contact},{NO_CONTACT}", "fields": "LastName,Title"}
    ).json()
    assert fetched[0]["LastName"] == "Col" and fetched[0]["Title"] == "Updated" and fetched[1] is None
    deleted = sf.delete(
        "composite/sobjects", params={"ids": f"{contact},{results[0]['id']},bogus", "allOrNone": "false"}
    ).json()
    assert deleted[0] == {"id": contact, "success": True, "errors": []} and deleted[1]["success"]
    assert deleted[2] == {
        "success": False,
        "errors": [{"statusCode": "MALFORMED_ID", "message": "malformed id bogus", "fields": []}],
    }
    gone = sf.delete("composite/sobjects", params={"ids": contact}).json()
    assert gone[0]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"

    many = {"records": [{"attributes": {"type": "Contact"}, "LastName": str(i)} for i in range(201)]}
    for response in (sf.post("composite/sobjects", json=many), sf.patch("composite/sobjects", json=many)):
        assert response.status_code == 400
        assert response.json() == [
            {
                "message": "record limit reached. cannot submit more than 200 records into this call",
                "errorCode": "EXCEEDED_ID_LIMIT",
            }
        ]
    ids = ",".join(make_id("003", 900000 + i) for i in range(201))
    assert sf.delete("composite/sobjects", params={"ids": ids}).json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    calls = sf.admin("GET", "calls").json()["calls"]["composite/sobjects"]
    assert calls - calls_before == 12  # one API call per request, whatever the number of records


def test_lookups_through_a_parents_external_id(sf: Client) -> None:
    t = tag()
    lst = list_id(sf, f"rel-{t}")
    created = sf.post(
        "sobjects/CMSF_Subscriber__c/", json={"Member_Key__c": f"{t}:r1", "List__r": {"List_Id__c": f"REL-{t}"}}
    )
    assert created.status_code == 201, created.text
    assert sf.get(f"sobjects/CMSF_Subscriber__c/{created.json()['id']}").json()["List__c"] == lst
    missing = sf.post(
        "sobjects/CMSF_Subscriber__c/", json={"Member_Key__c": f"{t}:r2", "List__r": {"List_Id__c": "nope"}}
    )
    assert missing.status_code == 400
    assert missing.json()[0]["errorCode"] == "INVALID_FIELD"
    assert (
        missing.json()[0]["message"]
        == "Foreign key external ID: nope not found for field List_Id__c in entity CMSF_List__c"
    )
    records = [
        {
            "attributes": {"type": "CMSF_Subscriber__c"},
            "Member_Key__c": f"{t}:r3",
            "List__r": {"List_Id__c": f"rel-{t}"},
        },
        {"attributes": {"type": "CMSF_Subscriber__c"}, "Member_Key__c": f"{t}:r4", "List__r": {"List_Id__c": "nope"}},
    ]
    results = sf.patch("composite/sobjects/CMSF_Subscriber__c/Member_Key__c", json={"records": records}).json()
    assert results[0]["success"] and results[1]["errors"][0]["statusCode"] == "INVALID_FIELD"
    job, info = sf.ingest(
        "CMSF_Subscriber__c",
        "insert",
        csv_bytes([["Member_Key__c", "List__r.List_Id__c"], [f"{t}:r5", f"rel-{t}"], [f"{t}:r6", "nope"]]),
    )
    assert (info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (2, 1)
    assert sf.results(job, "failedResults")[0]["sf__Error"].startswith("INVALID_FIELD:Foreign key external ID: nope")
    keys = {
        r["Member_Key__c"]
        for r in sf.query(f"SELECT Member_Key__c FROM CMSF_Subscriber__c WHERE List__r.List_Id__c = 'rel-{t}'")
    }
    assert keys == {f"{t}:r1", f"{t}:r3", f"{t}:r5"}


# ------------------------------------------------------------------------------------- field checks

FIELD_CASES: list[tuple[str, dict[str, Any], str, list[str] | None]] = [
    ("Contact", {"LastName": "X", "Nope__c": "1"}, "INVALID_FIELD", None),
    (
        "Lead",
        {"LastName": "X", "Company": "Y", "IsConverted": True},
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        ["IsConverted"],
    ),
    ("Contact", {"LastName": "x" * 81}, "STRING_TOO_LONG", ["LastName"]),
    ("Contact", {"FirstName": "Only"}, "REQUIRED_FIELD_MISSING", ["LastName"]),
    ("Lead", {"LastName": "X"}, "REQUIRED_FIELD_MISSING", ["Company"]),
    ("Contact", {"LastName": "X", "Email": "not-an-email"}, "INVALID_EMAIL_ADDRESS", ["Email"]),
    ("CMSF_Subscriber__c", {"State__c": "Sleeping"}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", ["State__c"]),
    ("Contact", {"LastName": "X", "AccountId": "abc"}, "MALFORMED_ID", ["AccountId"]),
    ("Contact", {"LastName": "X", "AccountId": make_id("001", 999_999)}, "INVALID_CROSS_REFERENCE_KEY", ["AccountId"]),
    ("Contact", {"LastName": "X", "AccountId": make_id("003", 1)}, "FIELD_INTEGRITY_EXCEPTION", ["AccountId"]),
    ("CMSF_Subscriber__c", {"Member_Key__c": "KEY-TAKEN"}, "DUPLICATE_VALUE", []),
    ("Lead", {"LastName": "X", "Company": "Y", "NumberOfEmployees": "many"}, "WRONG_TYPE", None),
]


def _cell(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def write_error(client: Client, path: str, obj: str, values: dict[str, Any]) -> tuple[str, str, list[str] | None]:
    """(code, message, fields) of a refused insert through one write path."""
    if path == "single":
        response = client.post(f"sobjects/{obj}/", json=values)
        assert response.status_code == 400, response.text
        error = response.json()[0]
        return error["errorCode"], error["message"], error.get("fields")
    if path == "collection":
        response = client.post("composite/sobjects", json={"records": [{"attributes": {"type": obj}, **values}]})
        if response.status_code == 400:  # the whole request refused (JSON_PARSER_ERROR)
            return response.json()[0]["errorCode"], response.json()[0]["message"], None
        result = response.json()[0]
        assert not result["success"], result
        error = result["errors"][0]
        return error["statusCode"], error["message"], error["fields"]
    job, info = client.ingest(obj, "insert", csv_bytes([list(values), [_cell(v) for v in values.values()]]))
    if info["state"] == "Failed":
        return "JOB_FAILED", info["errorMessage"], None
    failed = client.results(job, "failedResults")
    assert len(failed) == 1 and failed[0]["sf__Id"] == "", failed
    text = failed[0]["sf__Error"]
    assert text.endswith("--")
    code, _, rest = text[:-2].rstrip().partition(":")
    message, _, fields = rest.rpartition(":")
    return code, message, [f for f in fields.split(",") if f]


@pytest.mark.parametrize("path", ["single", "collection", "bulk"])
def test_field_checks_on_every_write_path(sf: Client, path: str) -> None:
    existing = sf.create("CMSF_Subscriber__c", {"Member_Key__c": f"key-taken-{path}"})
    for obj, values, code, fields in FIELD_CASES:
        if values.get("Member_Key__c") == "KEY-TAKEN":
            values = {"Member_Key__c": f"KEY-TAKEN-{path.upper()}"}
        got_code, message, got_fields = write_error(sf, path, obj, values)
        if code == "WRONG_TYPE":
            expected = {
                "single": "JSON_PARSER_ERROR",
                "collection": "JSON_PARSER_ERROR",
                "bulk": "INVALID_TYPE_ON_FIELD_IN_RECORD",
            }
            assert got_code == expected[path], (values, message)
            if path == "bulk":
                assert message == "Employees: value not of required type: many" and got_fields == ["NumberOfEmployees"]
            else:
                assert message.startswith("Cannot deserialize instance of int from VALUE_STRING value many")
            continue
        if code == "INVALID_FIELD" and path == "bulk":
            assert (got_code, message) == ("JOB_FAILED", "InvalidBatch : Field name not found : Nope__c")
            continue
        assert got_code == code, (path, values, got_code, message)
        if fields is not None:
            assert got_fields == fields, (path, values, got_fields)
        if code == "DUPLICATE_VALUE":
            assert message == f"duplicate value found: Member_Key__c duplicates value on record with id: {existing}"
        if code == "STRING_TOO_LONG":
            assert message.startswith("Last Name: data value too large: xxx") and message.endswith("(max length=80)")
        if code == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST":
            assert message == "State: bad value for restricted picklist field: Sleeping"
        if code == "REQUIRED_FIELD_MISSING":
            assert message == f"Required fields are missing: [{fields[0] if fields else ''}]"
        if code == "INVALID_FIELD":
            assert message == "No such column 'Nope__c' on sobject of type Contact"


def test_updates_check_fields_too(sf: Client) -> None:
    contact = sf.create("Contact", {"LastName": "Upd"})
    campaign = sf.create("Campaign", {"Name": f"Upd {tag()}"})
    member = sf.create("CampaignMember", {"CampaignId": campaign, "ContactId": contact})
    cases = [
        ("Contact", contact, {"LastName": None}, "REQUIRED_FIELD_MISSING"),
        ("Contact", contact, {"CreatedDate": "2024-01-01T00:00:00Z"}, "INVALID_FIELD_FOR_INSERT_UPDATE"),
        ("Contact", contact, {"Email": "x@"}, "INVALID_EMAIL_ADDRESS"),
        (
            "CampaignMember",
            member,
            {"CampaignId": sf.create("Campaign", {"Name": f"Other {tag()}"})},
            "INVALID_FIELD_FOR_INSERT_UPDATE",
        ),
    ]
    for obj, rid, values, code in cases:
        response = sf.patch(f"sobjects/{obj}/{rid}", json=values)
        assert response.status_code == 400 and response.json()[0]["errorCode"] == code, (values, response.text)


# ------------------------------------------------------------------------------- CampaignMember rules


def test_campaign_member_and_status_rules(sf: Client) -> None:
    t = tag()
    campaign = sf.create("Campaign", {"Name": f"Rules {t}", "Type": "Email"})
    soql = f"SELECT Label, IsDefault, HasResponded, SortOrder FROM CampaignMemberStatus WHERE CampaignId = '{campaign}' ORDER BY SortOrder"
    assert [(s["Label"], s["IsDefault"], s["HasResponded"]) for s in sf.query(soql)] == [
        ("Sent", True, False),
        ("Responded", False, True),
    ]
    sf.create("CampaignMemberStatus", {"CampaignId": campaign, "Label": "Opened", "HasResponded": True})
    clicked = sf.create("CampaignMemberStatus", {"CampaignId": campaign, "Label": "Clicked", "IsDefault": True})
    statuses = sf.query(soql)
    assert [s["Label"] for s in statuses if s["IsDefault"]] == ["Clicked"]  # exactly one default
    assert [s["SortOrder"] for s in statuses] == [1, 2, 3, 4]
    duplicate = sf.post("sobjects/CampaignMemberStatus/", json={"CampaignId": campaign, "Label": "opened"})
    assert duplicate.json()[0]["errorCode"] == "DUPLICATE_VALUE"
    unset = sf.patch(f"sobjects/CampaignMemberStatus/{clicked}", json={"IsDefault": False})
    assert unset.status_code == 400 and unset.json()[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    assert sf.delete(f"sobjects/CampaignMemberStatus/{clicked}").json()[0]["errorCode"] == "DELETE_FAILED"

    contact = sf.create("Contact", {"LastName": "Member", "FirstName": "Mia", "Email": f"mia-{t}@example.com"})
    lead = sf.create("Lead", {"LastName": "Lead", "Company": "Co"})
    member = sf.create("CampaignMember", {"CampaignId": campaign, "ContactId": contact, "Status": "opened"})
    silently = sf.create("CampaignMember", {"CampaignId": campaign, "LeadId": lead, "Status": "Bogus"})
    rows = {
        r["Id"]: r
        for r in sf.query(
            f"SELECT Id, Status, HasResponded, FirstRespondedDate, Type, Email, Name, LeadOrContactId FROM CampaignMember "
            f"WHERE CampaignId = '{campaign}'"
        )
    }
    today = datetime.now(UTC).date().isoformat()
    assert (rows[member]["Status"], rows[member]["HasResponded"], rows[member]["FirstRespondedDate"]) == (
        "Opened",
        True,
        today,
    )
    assert (rows[member]["Type"], rows[member]["Email"], rows[member]["Name"]) == (
        "Contact",
        f"mia-{t}@example.com",
        "Mia Member",
    )
    assert (rows[silently]["Status"], rows[silently]["HasResponded"], rows[silently]["Type"]) == (
        "Clicked",
        False,
        "Lead",
    )
    assert rows[silently]["LeadOrContactId"] == lead

    for values in ({"ContactId": contact}, {"LeadId": lead}):
        again = sf.post("sobjects/CampaignMember/", json={"CampaignId": campaign, **values})
        assert again.status_code == 400
        assert again.json() == [{"message": "Already a campaign member.", "errorCode": "DUPLICATE_VALUE", "fields": []}]
    collection = sf.post(
        "composite/sobjects",
        json={"records": [{"attributes": {"type": "CampaignMember"}, "CampaignId": campaign, "ContactId": contact}]},
    ).json()
    assert collection[0]["errors"] == [
        {"statusCode": "DUPLICATE_VALUE", "message": "Already a campaign member.", "fields": []}
    ]
    job, _ = sf.ingest("CampaignMember", "insert", csv_bytes([["CampaignId", "LeadId"], [campaign, lead]]))
    assert sf.results(job, "failedResults")[0]["sf__Error"] == "DUPLICATE_VALUE:Already a campaign member.:--"

    assert sf.patch(f"sobjects/CampaignMember/{silently}", json={"Status": "Responded"}).status_code == 204
    updated = sf.get(f"sobjects/CampaignMember/{silently}").json()
    assert (updated["Status"], updated["HasResponded"]) == ("Responded", True)
    rollups = sf.get(f"sobjects/Campaign/{campaign}").json()
    assert (rollups["NumberOfContacts"], rollups["NumberOfLeads"], rollups["NumberOfResponses"]) == (1, 1, 2)
    assert sf.delete(f"sobjects/Contact/{contact}").status_code == 204  # its membership goes with it
    assert [r["Id"] for r in sf.query(f"SELECT Id FROM CampaignMember WHERE CampaignId = '{campaign}'")] == [silently]
    assert sf.get(f"sobjects/Campaign/{campaign}").json()["NumberOfContacts"] == 0


def test_lead_conversion_and_a_read_of_what_changed_since(sf: Client) -> None:
    """Leads converted through /admin/leads/convert (as convertLead does), then what a mirror of contacts and leads
    reads: queryAll of the records whose SystemModstamp is at or after a datetime literal, in SystemModstamp order,
    deleted ones included with IsDeleted."""
    t = tag()
    marker = sf.create("Contact", {"LastName": "Marker", "Department": t})
    stamp = sf.query(f"SELECT SystemModstamp FROM Contact WHERE Id = '{marker}'")[0]["SystemModstamp"]
    since = stamp[:19] + "Z"  # "2026-11-27T10:00:00Z": a datetime literal, to the second
    email = f"conv-{t}@example.org"
    lead = sf.create("Lead", {"FirstName": "Cora", "LastName": "Conv", "Company": f"Co {t}", "Email": email})
    campaign = sf.create("Campaign", {"Name": f"Conversion {t}"})
    member = sf.create("CampaignMember", {"CampaignId": campaign, "LeadId": lead})

    converted = sf.admin("POST", "leads/convert", {"lead_id": lead[:15]})
    assert converted.status_code == 200, converted.text
    ids = converted.json()
    contact, account = ids["contact_id"], ids["account_id"]
    assert ids["lead_id"] == lead and contact.startswith("003") and account.startswith("001")
    fields = "IsConverted, ConvertedContactId, ConvertedAccountId, ConvertedDate, Status, SystemModstamp"
    row = sf.query(f"SELECT {fields} FROM Lead WHERE Id = '{lead}'")[0]
    assert (row["IsConverted"], row["ConvertedContactId"], row["ConvertedAccountId"], row["Status"]) == (
        True, contact, account, "Closed - Converted",
    )  # fmt: skip
    assert row["ConvertedDate"] == row["SystemModstamp"][:10] and row["SystemModstamp"] >= stamp
    made = sf.query(f"SELECT FirstName, LastName, Email, Account.Name FROM Contact WHERE Id = '{contact}'")[0]
    assert (made["FirstName"], made["LastName"], made["Email"]) == ("Cora", "Conv", email)
    assert made["Account"]["Name"] == f"Co {t}"
    assert sf.query(f"SELECT ContactId FROM CampaignMember WHERE Id = '{member}'")[0]["ContactId"] == contact
    counts = "NumberOfLeads, NumberOfConvertedLeads, NumberOfContacts"
    assert {k: v for k, v in sf.query(f"SELECT {counts} FROM Campaign WHERE Id = '{campaign}'")[0].items()
            if k != "attributes"} == {"NumberOfLeads": 1, "NumberOfConvertedLeads": 1, "NumberOfContacts": 1}  # fmt: skip
    refused = sf.patch(f"sobjects/Lead/{lead}", json={"Title": "x"})
    assert refused.status_code == 400 and refused.json()[0]["errorCode"] == "CANNOT_UPDATE_CONVERTED_LEAD"
    assert sf.admin("POST", "leads/convert", {"lead_id": lead}).status_code == 400
    assert sf.admin("POST", "leads/convert", {"lead_id": make_id("00Q", 999_999)}).status_code == 404
    assert sf.admin("POST", "leads/convert", {}).status_code == 400

    other = sf.create("Lead", {"LastName": "Into", "Company": f"Co {t}", "Email": f"into-{t}@example.org"})
    into = sf.admin("POST", "leads/convert", {"lead_id": other, "contact_id": marker}).json()
    assert into["contact_id"] == marker and into["account_id"] == ""
    doomed = sf.create("Contact", {"LastName": "Doomed", "Department": t})
    assert sf.delete(f"sobjects/Contact/{doomed}").status_code == 204

    soql = f"SELECT Id, IsDeleted, SystemModstamp FROM {{}} WHERE SystemModstamp >= {since} ORDER BY SystemModstamp"
    contacts = sf.query(soql.format("Contact"), path="queryAll")
    assert {marker, contact, doomed} <= {r["Id"] for r in contacts}
    assert [r["SystemModstamp"] for r in contacts] == sorted(r["SystemModstamp"] for r in contacts)
    assert all(r["SystemModstamp"] >= since.replace("Z", ".000+0000") for r in contacts)
    assert [r["IsDeleted"] for r in contacts if r["Id"] == doomed] == [True]
    assert doomed not in {r["Id"] for r in sf.query(soql.format("Contact"))}  # query leaves deleted records out
    assert {lead, other} <= {r["Id"] for r in sf.query(soql.format("Lead"), path="queryAll")}
    later = sf.query(f"SELECT Id FROM Contact WHERE SystemModstamp > {contacts[-1]['SystemModstamp']}", path="queryAll")
    assert later == []


def test_tasks_on_contacts_leads_and_cases_through_rest_soql_and_collections(sf: Client) -> None:
    """Task's standard fields, WhoId (a contact or a lead) and WhatId (an account, a campaign, a case...), the
    custom fields of the SFDX source's Activity folder, an upsert by the message id, and what deletes and
    conversions do to tasks."""
    t = tag()
    described = {f["name"]: f for f in sf.get("sobjects/Task/describe").json()["fields"]}
    assert described["WhoId"]["referenceTo"] == ["Contact", "Lead"] and described["WhoId"]["relationshipName"] == "Who"
    assert {"Account", "Campaign", "Case"} <= set(described["WhatId"]["referenceTo"])
    assert described["WhoId"]["polymorphicForeignKey"] is True
    assert [v["value"] for v in described["Status"]["picklistValues"]] == [
        "Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred",
    ]  # fmt: skip
    assert {"Email", "Call", "Task"} <= {v["value"] for v in described["TaskSubtype"]["picklistValues"]}
    assert described["CMSF_Message_Id__c"]["externalId"] and described["CMSF_Message_Id__c"]["unique"]
    assert described["CMSF_Opens__c"]["type"] == "double" and described["CMSF_First_Opened__c"]["type"] == "datetime"
    for name in ("Subject", "Priority", "ActivityDate", "Description", "OwnerId", "Type", "CreatedDate"):
        assert name in described, name

    account = sf.create("Account", {"Name": f"Tasks {t}"})
    contact = sf.create("Contact", {"LastName": "Tess", "Email": f"tess-{t}@example.com", "AccountId": account})
    lead = sf.create("Lead", {"LastName": "Lee", "Company": "Co", "Email": f"lee-{t}@example.com"})
    case = sf.create("Case", {"Subject": "Broken", "ContactId": contact, "AccountId": account})
    task = sf.create(
        "Task",
        {"Subject": "Email: Survey", "WhoId": contact, "WhatId": case, "Status": "Completed", "TaskSubtype": "Email",
         "ActivityDate": "2026-03-02", "CMSF_Message_Id__c": f"m-{t}-1", "CMSF_Status__c": "Accepted"},
    )  # fmt: skip
    assert task.startswith("00T")
    row = sf.query(
        "SELECT Subject, Status, Priority, IsClosed, TaskSubtype, Who.Name, What.Id, AccountId, OwnerId, "
        f"CMSF_Status__c, CreatedDate FROM Task WHERE Id = '{task}'"
    )[0]
    assert (row["Subject"], row["Status"], row["Priority"], row["IsClosed"], row["TaskSubtype"]) == (
        "Email: Survey", "Completed", "Normal", True, "Email",
    )  # fmt: skip
    assert row["Who"]["Name"] == "Tess" and row["What"]["Id"] == case and row["AccountId"] == account
    assert row["OwnerId"].startswith("005") and row["CMSF_Status__c"] == "Accepted"
    case_row = sf.query(f"SELECT CaseNumber, Status, IsClosed FROM Case WHERE Id = '{case}'")[0]
    assert case_row["CaseNumber"].isdigit() and (case_row["Status"], case_row["IsClosed"]) == ("New", False)
    assert sf.patch(f"sobjects/Case/{case}", json={"Status": "Closed"}).status_code == 204
    assert sf.query(f"SELECT IsClosed FROM Case WHERE Id = '{case}'")[0]["IsClosed"] is True

    refused = sf.post("sobjects/Task/", json={"Subject": "x", "WhoId": account})
    assert refused.status_code == 400 and refused.json()[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    subtype = sf.patch(f"sobjects/Task/{task}", json={"TaskSubtype": "Call"})
    assert subtype.status_code == 400 and subtype.json()[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"

    records = [
        {"attributes": {"type": "Task"}, "CMSF_Message_Id__c": f"M-{t}-1", "CMSF_Status__c": "Delivered"},
        {"attributes": {"type": "Task"}, "CMSF_Message_Id__c": f"m-{t}-2", "WhoId": lead, "Subject": "Email: Hi",
         "Status": "Completed", "TaskSubtype": "Email"},
    ]  # fmt: skip
    upserted = sf.patch("composite/sobjects/Task/CMSF_Message_Id__c", json={"records": records}).json()
    assert [(r["success"], r["created"]) for r in upserted] == [(True, False), (True, True)]
    assert upserted[0]["id"] == task
    by_status = sf.query(f"SELECT Id, CMSF_Status__c FROM Task WHERE CMSF_Message_Id__c LIKE 'm-{t}-%' ORDER BY Id")
    assert [(r["Id"], r["CMSF_Status__c"]) for r in by_status] == [(task, "Delivered"), (upserted[1]["id"], None)]

    converted = sf.admin("POST", "leads/convert", {"lead_id": lead}).json()
    moved = sf.query(f"SELECT WhoId FROM Task WHERE Id = '{upserted[1]['id']}'")[0]
    assert moved["WhoId"] == converted["contact_id"]
    assert sf.delete(f"sobjects/Contact/{contact}").status_code == 204
    assert sf.query(f"SELECT Id FROM Task WHERE Id = '{task}'") == []  # a person's tasks go with them

    _, info = sf.ingest(
        "Task",
        "upsert",
        csv_bytes([["CMSF_Message_Id__c", "Subject", "CMSF_Opens__c"], [f"m-{t}-2", "Email: Hi", "3"]]),
        external_id="CMSF_Message_Id__c",
    )
    assert (info["state"], info["numberRecordsFailed"]) == ("JobComplete", 0), info
    assert sf.query(f"SELECT CMSF_Opens__c FROM Task WHERE Id = '{upserted[1]['id']}'")[0]["CMSF_Opens__c"] == 3


# ---------------------------------------------------------------------------------------- Bulk API 2.0


def test_bulk_ingest_upsert_with_failures_in_lf_and_crlf(sf: Client) -> None:
    t = tag()
    lst = list_id(sf, f"bulk-{t}")
    header = ["Member_Key__c", "Email__c", "State__c", "Name__c", "List__c"]
    rows = [
        header,
        [f"{t}:1", "one@example.com", "Active", "One", lst],
        [f"{t}:2", "two@example.com", "Sleeping", "Two", lst],
        [f"{t}:3", "three@", "Active", "Three", lst],
        [f"{t}:4", "four@example.com", "Active", "Four", lst],
        [f"{t}:4".upper(), "four@example.com", "Active", "Four again", lst],
        [f"{t}:5", "five@example.com", "Active", 'Quote "and", comma\nand a line', lst],
    ]
    calls_before = sf.admin("GET", "calls").json()["calls"]
    job, info = sf.ingest("CMSF_Subscriber__c", "upsert", csv_bytes(rows), external_id="Member_Key__c")
    assert (
        info["state"] == "JobComplete"
        and info["jobType"] == "V2Ingest"
        and info["externalIdFieldName"] == "Member_Key__c"
    )
    assert (info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (6, 4)
    raw = sf.get(f"jobs/ingest/{job}/successfulResults/").text
    assert raw.startswith('"sf__Id","sf__Created",Member_Key__c,Email__c,State__c,Name__c,List__c\n')
    successes = {r["Member_Key__c"]: r for r in sf.results(job, "successfulResults")}
    assert set(successes) == {f"{t}:1", f"{t}:5"} and successes[f"{t}:1"]["sf__Created"] == "true"
    assert successes[f"{t}:5"]["Name__c"] == 'Quote "and", comma\nand a line'
    failures = {r["Member_Key__c"]: r["sf__Error"] for r in sf.results(job, "failedResults")}
    assert (
        failures[f"{t}:2"]
        == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST:State: bad value for restricted picklist field: Sleeping:State__c --"
    )
    assert failures[f"{t}:3"] == "INVALID_EMAIL_ADDRESS:Email: invalid email address: three@:Email__c --"
    assert failures[f"{t}:4"] == f"DUPLICATE_VALUE:Duplicate external id specified: {t}:4:Member_Key__c --"
    assert failures[f"{t}:4".upper()].startswith("DUPLICATE_VALUE:Duplicate external id specified:")
    assert sf.results(job, "unprocessedrecords") == []
    calls = sf.admin("GET", "calls").json()["calls"]
    for kind in ("bulk2 ingest create", "bulk2 ingest upload", "bulk2 ingest close/abort", "bulk2 ingest status"):
        assert calls[kind] - calls_before.get(kind, 0) == 1, kind

    # CRLF: an update by the same key; an empty cell leaves the field, #N/A empties it
    update = [header, [f"{t}:1".upper(), "#N/A", "Bounced", "", ""]]
    job2, info2 = sf.ingest(
        "CMSF_Subscriber__c", "upsert", csv_bytes(update, "\r\n"), external_id="Member_Key__c", line_ending="CRLF"
    )
    assert info2["state"] == "JobComplete" and info2["numberRecordsFailed"] == 0, info2
    result = sf.results(job2, "successfulResults")[0]
    assert result["sf__Id"] == successes[f"{t}:1"]["sf__Id"] and result["sf__Created"] == "false"
    record = sf.get(f"sobjects/CMSF_Subscriber__c/{result['sf__Id']}").json()
    assert (record["Email__c"], record["State__c"], record["Name__c"], record["List__c"]) == (
        None,
        "Bounced",
        "One",
        lst,
    )

    # line endings that do not match the job fail the job, as Salesforce does
    mismatches = [
        ("LF", csv_bytes([header, [f"{t}:6", "", "Active", "", ""]], "\r\n")),
        ("CRLF", csv_bytes([header, [f"{t}:6", "", "Active", "", ""]], "\n")),
        ("CRLF", b"Member_Key__c,State__c\r\n" + f"{t}:6,Active\r{t}:7,Active\r\n".encode()),
        ("LF", b"Member_Key__c,State__c\n" + f"{t}:6,Active\r{t}:7,Active\n".encode()),
    ]
    for line_ending, data in mismatches:
        failed_job, failed = sf.ingest(
            "CMSF_Subscriber__c", "upsert", data, external_id="Member_Key__c", line_ending=line_ending
        )
        assert failed["state"] == "Failed", (line_ending, data)
        assert (
            failed["errorMessage"]
            == f"ClientInputError : LineEnding is invalid on user data. Current LineEnding setting is {line_ending}"
        )
        assert failed["numberRecordsProcessed"] == 0
        assert sf.results(failed_job, "unprocessedRecords")  # simple-salesforce's spelling
    assert sf.query(f"SELECT Id FROM CMSF_Subscriber__c WHERE Member_Key__c LIKE '{t}:6%'") == []

    piped, piped_info = sf.ingest(
        "CMSF_Subscriber__c",
        "insert",
        csv_bytes([["Member_Key__c", "Name__c"], [f"{t}:8", "a,b"]], delimiter="|"),
        delimiter="PIPE",
    )
    assert piped_info["state"] == "JobComplete" and piped_info["numberRecordsFailed"] == 0
    assert sf.get(f"jobs/ingest/{piped}/successfulResults").text.startswith(
        '"sf__Id"|"sf__Created"|Member_Key__c|Name__c'
    )
    assert sf.delete(f"jobs/ingest/{job}").status_code == 204
    assert sf.get(f"jobs/ingest/{job}").status_code == 404


def test_bulk_ingest_insert_update_delete_and_job_errors(sf: Client) -> None:
    t = tag()
    job, info = sf.ingest(
        "Contact", "insert", csv_bytes([["LastName", "Department", "Title"], ["B1", t, "T1"], ["B2", t, "T2"]])
    )
    ids = [r["sf__Id"] for r in sf.results(job, "successfulResults")]
    assert info["numberRecordsProcessed"] == 2 and all(i.startswith("003") for i in ids)
    job, info = sf.ingest(
        "Contact",
        "update",
        csv_bytes(
            [["Id", "Title", "Email"], [ids[0], "", "b1@example.com"], [ids[1], "#N/A", ""], [NO_CONTACT, "x", ""]]
        ),
    )
    assert (info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (3, 1)
    assert sf.results(job, "failedResults")[0]["sf__Error"].startswith("INVALID_CROSS_REFERENCE_KEY:")
    rows = {r["Id"]: r for r in sf.query(f"SELECT Id, Title, Email FROM Contact WHERE Department = '{t}'")}
    assert (rows[ids[0]]["Title"], rows[ids[0]]["Email"]) == ("T1", "b1@example.com")
    assert rows[ids[1]]["Title"] is None
    job, info = sf.ingest("Contact", "delete", csv_bytes([["Id"], [ids[0]], ["nonsense"]]))
    assert (info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (2, 1)
    assert sf.results(job, "successfulResults")[0] == {"sf__Id": ids[0], "sf__Created": "false", "Id": ids[0]}
    assert sf.results(job, "failedResults")[0]["sf__Error"].startswith("MALFORMED_ID:")
    job, info = sf.ingest("Contact", "hardDelete", csv_bytes([["Id"], [ids[1]]]))
    assert info["numberRecordsFailed"] == 0
    assert [r["Id"] for r in sf.query(f"SELECT Id FROM Contact WHERE Department = '{t}'", "queryAll")] == [ids[0]]

    refused = {
        "unknown object": {"object": "Nope__c", "operation": "insert"},
        "unknown operation": {"object": "Contact", "operation": "merge"},
        "upsert without key": {"object": "Contact", "operation": "upsert"},
        "key not indexed": {"object": "Contact", "operation": "upsert", "externalIdFieldName": "Title"},
        "bad line ending": {"object": "Contact", "operation": "insert", "lineEnding": "CR"},
    }
    for label, body in refused.items():
        response = sf.post("jobs/ingest", json=body)
        assert response.status_code == 400 and response.json()[0]["errorCode"] in ("INVALIDJOB", "INVALIDENTITY"), label
    job = sf.post("jobs/ingest", json={"object": "Contact", "operation": "insert"}).json()
    assert job["state"] == "Open" and job["contentUrl"] == f"services/data/v62.0/jobs/ingest/{job['id']}/batches"
    aborted = sf.patch(f"jobs/ingest/{job['id']}", json={"state": "Aborted"})
    assert aborted.json()["state"] == "Aborted"
    assert sf.put(f"jobs/ingest/{job['id']}/batches", data=b"LastName\nX\n").status_code == 409
    assert job["id"] in [j["id"] for j in sf.get("jobs/ingest").json()["records"]]


def test_bulk_query_job_pages_with_locators(sf: Client) -> None:
    t = tag()
    lst = list_id(sf, f"bq-{t}")
    rows = [["Member_Key__c", "State__c", "List__c", "Date_Added__c"]]
    rows += [[f"{t}:{i:02d}", "Active", lst, "2024-05-01T10:20:30Z"] for i in range(25)]
    job, _ = sf.ingest("CMSF_Subscriber__c", "insert", csv_bytes(rows))
    first_id = sf.results(job, "successfulResults")[0]["sf__Id"]
    assert sf.delete(f"sobjects/CMSF_Subscriber__c/{first_id}").status_code == 204
    soql = f"SELECT Member_Key__c, State__c, List__r.Name, Date_Added__c FROM CMSF_Subscriber__c WHERE List__c = '{lst}' ORDER BY Member_Key__c"
    for operation, total in (("query", 24), ("queryAll", 25)):
        created = sf.post("jobs/query", json={"operation": operation, "query": soql})
        assert created.status_code == 200 and created.json()["state"] == "UploadComplete"
        job_id = created.json()["id"]
        status = sf.get(f"jobs/query/{job_id}").json()
        assert (
            status["state"] == "JobComplete"
            and status["jobType"] == "V2Query"
            and status["numberRecordsProcessed"] == total
        )
        pages: list[list[dict[str, str]]] = []
        locator = None
        while True:
            params: dict[str, Any] = {"maxRecords": 10}
            if locator:
                params["locator"] = locator
            page = sf.get(f"jobs/query/{job_id}/results", params=params)
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/csv")
            records = list(csv.DictReader(io.StringIO(page.text)))
            assert int(page.headers["Sforce-NumberOfRecords"]) == len(records)
            pages.append(records)
            locator = page.headers["Sforce-Locator"]
            if locator == "null":
                break
        assert [len(p) for p in pages] == [10, 10, total - 20]
        every = [r for p in pages for r in p]
        assert every[-1]["Member_Key__c"] == f"{t}:24" and every[0]["List__r.Name"] == f"bq-{t}"
        assert every[-1]["Date_Added__c"] == "2024-05-01T10:20:30.000Z"
        assert page.text.startswith('"Member_Key__c","State__c","List__r.Name","Date_Added__c"\n')
    for soql, code in (
        ("SELECT COUNT() FROM Contact", "FEATURENOTENABLED"),
        ("SELECT Id FROM Contact LIMIT 5 OFFSET 2", "FEATURENOTENABLED"),
        ("SELECT Nope__c FROM Contact", "INVALID_FIELD"),
    ):
        response = sf.post("jobs/query", json={"operation": "query", "query": soql})
        assert response.status_code == 400 and response.json()[0]["errorCode"] == code, soql


# ------------------------------------------------------------------------------------- limits, faults


def _usage(response: requests.Response) -> tuple[int, int]:
    used, _, total = response.headers["Sforce-Limit-Info"].removeprefix("api-usage=").partition("/")
    return int(used), int(total)


def test_limits_limit_info_and_the_daily_allowance(fresh: Client) -> None:
    first = fresh.get("sobjects")
    second = fresh.get("limits/")
    assert _usage(first)[0] + 1 == _usage(second)[0] and _usage(second)[1] == 100_000
    limits = second.json()
    assert limits["DailyApiRequests"] == {"Max": 100_000, "Remaining": 100_000 - _usage(second)[0]}
    assert {"DailyBulkApiBatches", "DailyBulkV2QueryJobs", "DailyBulkV2QueryFileStorageMB", "PermissionSets"} <= set(
        limits
    )
    storage = fresh.admin("GET", "storage").json()
    by_object = storage["by_object"]
    assert by_object["Campaign"]["kb"] == 8 * by_object["Campaign"]["records"]
    assert by_object["CampaignMember"]["kb"] == by_object["CampaignMember"]["records"]
    assert by_object["Contact"]["kb"] == 2 * by_object["Contact"]["records"]
    assert storage["used_kb"] == sum(o["kb"] for o in by_object.values())
    assert limits["DataStorageMB"] == {"Max": 1024, "Remaining": 1024 - (storage["used_kb"] + 1023) // 1024}
    counts = fresh.get("limits/recordCount", params={"sObjects": "Contact,Lead"}).json()["sObjects"]
    contacts = fresh.get("query", params={"q": "SELECT COUNT() FROM Contact"}).json()["totalSize"]
    assert {"count": contacts, "name": "Contact"} in counts

    fresh.ingest("Contact", "insert", csv_bytes([["LastName"], ["Bulk"]]))
    assert fresh.get("limits").json()["DailyBulkApiBatches"]["Remaining"] == 15000 - 1

    used = _usage(fresh.get("sobjects"))[0]
    fresh.admin("POST", "limits", {"daily_api_requests": used + 2})
    assert fresh.get("sobjects").status_code == 200
    last = fresh.get("sobjects")
    assert last.status_code == 200 and _usage(last) == (used + 2, used + 2)
    refused = fresh.get("sobjects")
    assert refused.status_code == 403 and refused.json() == LIMIT_EXCEEDED
    assert fresh.http.get(f"{fresh.base}/services/data/").status_code == 200  # not counted, still served
    assert fresh.http.post(token_url(fresh), data={}).status_code == 400  # OAuth is not counted either
    fresh.admin("POST", "limits", {"daily_api_requests": 100_000})
    assert fresh.get("sobjects").status_code == 200


def test_limits_profile_refuses_after_n_calls(fresh: Client) -> None:
    used = _usage(fresh.get("sobjects"))[0]
    profile = fresh.admin("POST", "faults", {"profile": "limits", "after": 3}).json()
    assert profile["profile"] == "limits" and profile["after"] == 3
    for index in range(3):
        response = fresh.get("limits")
        assert response.status_code == 200
        assert _usage(response) == (used + index + 1, used + 3)
    assert response.json()["DailyApiRequests"]["Remaining"] == 0
    for response in (fresh.get("sobjects"), fresh.post("composite/sobjects", json={"records": []})):
        assert response.status_code == 403 and response.json() == LIMIT_EXCEEDED
    fresh.admin("POST", "faults", {"profile": "none"})
    assert fresh.get("sobjects").status_code == 200


def _retrying(call: Any, attempts: int = 50) -> requests.Response:
    for _ in range(attempts):
        try:
            response = call()
        except requests.exceptions.RequestException:
            continue
        if response.status_code != 503:
            return response
    raise AssertionError("no answer but 503s")


def test_flaky_profile_locks_rows_and_answers_503(fresh: Client) -> None:
    fresh.admin(
        "POST", "faults", {"profile": "flaky", "seed": 11, "rates": {"lock": 0.3, "unavailable": 0.3, "dropped": 0}}
    )
    statuses = [fresh.get("limits").status_code for _ in range(30)]
    assert 503 in statuses and 200 in statuses and set(statuses) <= {200, 503}
    unavailable = next(r for r in (fresh.get("sobjects") for _ in range(30)) if r.status_code == 503)
    assert unavailable.json()[0]["errorCode"] == "SERVER_UNAVAILABLE"

    records = [{"attributes": {"type": "Contact"}, "LastName": f"Flaky {i}"} for i in range(100)]
    results = _retrying(lambda: fresh.post("composite/sobjects", json={"records": records})).json()
    locked = [r for r in results if not r["success"]]
    assert 10 <= len(locked) <= 60
    for result in locked:
        error = result["errors"][0]
        assert error["statusCode"] == "UNABLE_TO_LOCK_ROW"
        assert error["message"].startswith("unable to obtain exclusive access to this record or 1 records: ")
        assert len(error["message"].rsplit(" ", 1)[1]) == 18

    data = csv_bytes([["LastName"], *[[f"Bulk flaky {i}"] for i in range(100)]])
    job = _retrying(lambda: fresh.post("jobs/ingest", json={"object": "Contact", "operation": "insert"})).json()["id"]
    assert _retrying(lambda: fresh.put(f"jobs/ingest/{job}/batches", data=data)).status_code == 201
    _retrying(lambda: fresh.patch(f"jobs/ingest/{job}", json={"state": "UploadComplete"}))
    info = _retrying(lambda: fresh.get(f"jobs/ingest/{job}")).json()
    assert info["state"] == "JobComplete" and 10 <= info["numberRecordsFailed"] <= 60
    failed = list(csv.DictReader(io.StringIO(_retrying(lambda: fresh.get(f"jobs/ingest/{job}/failedResults")).text)))
    assert len(failed) == info["numberRecordsFailed"]
    assert all(r["sf__Error"].startswith("UNABLE_TO_LOCK_ROW:unable to obtain exclusive access") for r in failed)

    fresh.admin("POST", "faults", {"profile": "flaky", "rates": {"lock": 0, "unavailable": 0, "dropped": 1}})
    with pytest.raises(requests.exceptions.RequestException):
        fresh.get("sobjects")
    fresh.admin("POST", "faults", {"profile": "none"})
    assert fresh.get("sobjects").status_code == 200


def test_flaky_profile_is_deterministic_for_a_seed(org: OrgData, tls: TlsFiles) -> None:
    outcomes = []
    for _ in range(2):
        with running(org, tls, "flaky", seed=5) as client:
            statuses = [client.get("limits").status_code for _ in range(40)]
            outcomes.append(statuses)
    assert outcomes[0] == outcomes[1] and 503 in outcomes[0]


# ------------------------------------------------------------------------------------ schema from SFDX


def test_schema_is_built_from_the_sfdx_source(fresh: Client, org: OrgData) -> None:
    t = tag()
    contact = fresh.create("Contact", {"LastName": "Sub", "Email": f"sub-{t}@example.com"})
    path = f"sobjects/CMSF_Subscriber__c/Member_Key__c/{t}:sub"
    created = fresh.patch(
        path, json={"Name__c": "Sub", "State__c": "Active", "Contact__c": contact, "Consent_To_Track__c": "Yes"}
    )
    assert created.status_code == 201, created.text
    row = fresh.query(
        f"SELECT Name, Name__c, Contact__r.Email FROM CMSF_Subscriber__c WHERE Member_Key__c = '{t}:SUB'"
    )[0]
    assert row["Name"].startswith("CMSM-") and row["Contact__r"]["Email"] == f"sub-{t}@example.com"
    campaign = {f["name"]: f for f in fresh.get("sobjects/Campaign/describe").json()["fields"]}
    assert campaign["CMSF_Campaign_Id__c"]["externalId"] and campaign["CMSF_Campaign_Id__c"]["custom"]
    member = {f["name"] for f in fresh.get("sobjects/CampaignMember/describe").json()["fields"]}
    assert {"CMSF_Opens__c", "CMSF_Clicks__c", "CMSF_Activity__c"} <= member
    sets = {r["Name"]: r["Label"] for r in fresh.query("SELECT Name, Label FROM PermissionSet")}
    assert sets["CMSF_Full_Access"] == "CM Full Access" and "CMSF_User_Access" in sets
    assigned = fresh.query(
        f"SELECT PermissionSet.Name, Assignee.Username FROM PermissionSetAssignment WHERE AssigneeId = '{org.sync_user_id}'"
    )
    assert [a["PermissionSet"]["Name"] for a in assigned] == ["CMSF_Full_Access"]
    assert assigned[0]["Assignee"]["Username"] == org.oauth.jwt_username

    removed = fresh.admin("POST", "schema/remove-field", {"object": "CMSF_Subscriber__c", "field": "Name__c"})
    assert removed.status_code == 200 and removed.json() == {"removed": "CMSF_Subscriber__c.Name__c"}
    assert "Name__c" not in {f["name"] for f in fresh.get("sobjects/CMSF_Subscriber__c/describe").json()["fields"]}
    refused = fresh.patch(path, json={"Name__c": "Again"})
    assert refused.status_code == 400
    assert refused.json()[0]["errorCode"] == "INVALID_FIELD"
    assert refused.json()[0]["message"] == "No such column 'Name__c' on sobject of type CMSF_Subscriber__c"
    query = fresh.get("query", params={"q": "SELECT Name__c FROM CMSF_Subscriber__c"})
    assert query.status_code == 400 and query.json()[0]["errorCode"] == "INVALID_FIELD"
    collection = fresh.patch(
        "composite/sobjects/CMSF_Subscriber__c/Member_Key__c",
        json={"records": [{"attributes": {"type": "CMSF_Subscriber__c"}, "Member_Key__c": f"{t}:sub", "Name__c": "x"}]},
    ).json()
    assert collection[0]["errors"][0]["statusCode"] == "INVALID_FIELD"
    _, info = fresh.ingest(
        "CMSF_Subscriber__c",
        "upsert",
        csv_bytes([["Member_Key__c", "Name__c"], [f"{t}:sub", "x"]]),
        external_id="Member_Key__c",
    )
    assert info["state"] == "Failed" and info["errorMessage"] == "InvalidBatch : Field name not found : Name__c"
    assert fresh.admin("POST", "schema/remove-field", {"object": "Contact", "field": "Nope"}).status_code == 404

    assert fresh.admin("POST", "schema/reset").status_code == 200
    assert fresh.patch(path, json={"Name__c": "Back"}).status_code == 200
    assert (
        fresh.query(f"SELECT Name__c FROM CMSF_Subscriber__c WHERE Member_Key__c = '{t}:sub'")[0]["Name__c"] == "Back"
    )


# ------------------------------------------------------------------------------------ simple-salesforce


def test_simple_salesforce_works_unchanged(fresh: Client) -> None:
    from simple_salesforce import Salesforce
    from simple_salesforce.exceptions import SalesforceExpiredSession, SalesforceResourceNotFound

    session = requests.Session()
    session.trust_env = False
    session.verify = fresh.ca
    sf = Salesforce(instance_url=fresh.base, session_id=fresh.token, session=session, version="62.0")
    t = tag()

    records = [{"LastName": f"Simple {i}", "Email": f"{t}-{i}@example.com", "Department": t} for i in range(2100)]
    records.append({"LastName": "Bad", "Email": "not-an-email", "Department": t})
    jobs = sf.bulk2.Contact.upsert(records=records, external_id_field="Email", wait=0)
    assert len(jobs) == 1 and jobs[0]["numberRecordsProcessed"] == 2101 and jobs[0]["numberRecordsFailed"] == 1
    results = sf.bulk2.Contact.get_all_ingest_records(jobs[0]["job_id"])
    assert len(results["successfulRecords"]) == 2100 and results["unprocessedRecords"] == []
    assert results["failedRecords"][0]["sf__Error"].startswith("INVALID_EMAIL_ADDRESS:")

    soql = f"SELECT Id, Email FROM Contact WHERE Department = '{t}'"
    everything = sf.query_all(soql)
    assert everything["totalSize"] == 2100 and len({r["Id"] for r in everything["records"]}) == 2100
    assert sum(1 for _ in sf.query_all_iter(soql)) == 2100
    pages = list(sf.bulk2.Contact.query(soql, max_records=1000, wait=0))
    assert [len(p.splitlines()) - 1 for p in pages] == [1000, 1000, 100]

    created = sf.Contact.create({"LastName": "Single", "Email": f"single-{t}@example.com", "Department": t})
    assert created["success"] and created["errors"] == []
    cid = created["id"]
    assert sf.Contact.get(cid)["Email"] == f"single-{t}@example.com"
    assert sf.Contact.update(cid, {"Title": "Simple"}) == 204
    assert sf.Contact.get_by_custom_id("Email", f"single-{t}@example.com")["Title"] == "Simple"
    assert sf.Contact.upsert(f"Email/single-{t}@example.com", {"Title": "Upserted"}) == 200
    assert sf.Contact.upsert(f"Email/new-{t}@example.com", {"LastName": "New", "Department": t}) == 201
    start = datetime.now(UTC) - timedelta(minutes=5)
    assert sf.Contact.delete(cid) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Contact.get(cid)
    deleted = sf.Contact.deleted(start, datetime.now(UTC) + timedelta(minutes=1))
    assert cid in [d["id"] for d in deleted["deletedRecords"]]
    assert {f["name"] for f in sf.Contact.describe()["fields"]} >= {"LastName", "Email", "HasOptedOutOfEmail"}

    results = sf.restful(
        "composite/sobjects",
        method="POST",
        json={
            "allOrNone": False,
            "records": [{"attributes": {"type": "Contact"}, "LastName": "Rest", "Department": t}],
        },
    )
    assert results[0]["success"] and results[0]["id"].startswith("003")
    assert sf.limits()["DailyApiRequests"]["Max"] == 100_000
    assert "CMSF_Subscriber__c" in {o["name"] for o in sf.describe()["sobjects"]}
    usage = sf.api_usage["api-usage"]
    assert usage.total == 100_000 and usage.used > 0

    fresh.admin("POST", "tokens/expire")
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM Contact LIMIT 1")
