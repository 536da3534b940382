"""The sandbox's Salesforce org: ids, lookups, required fields, the matching situations, and its overlap with the
Campaign Monitor world of the same seed."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cmsf_sandbox.dataset import generate_world
from cmsf_sandbox.people import generate_people
from cmsf_sandbox.salesforce.data import (
    LEAD_STATUSES,
    OBJECTS,
    REDIRECT_URI,
    OrgData,
    generate_org,
    org_manifest,
)
from cmsf_sandbox.salesforce.ids import KEY_PREFIXES, to_18

NOW = datetime(2026, 3, 15, 12, 30, 45, 123456, tzinfo=UTC)
SEED = 7
DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000\+0000$")
DATE = re.compile(r"^\d{4}-\d\d-\d\d$")
OWNED = ("Account", "Contact", "Lead", "Campaign")
# Every lookup field and the object it points at.
LOOKUPS: dict[str, str] = {
    "OwnerId": "User",
    "CreatedById": "User",
    "LastModifiedById": "User",
    "AccountId": "Account",
    "ConvertedAccountId": "Account",
    "ConvertedContactId": "Contact",
    "ContactId": "Contact",
    "LeadId": "Lead",
    "CampaignId": "Campaign",
    "ParentId": "Campaign",
}
NEVER_SET = {"ConvertedOpportunityId"}  # no Opportunity in the org
NULLABLE = {
    ("Contact", "AccountId"),  # a private contact
    ("Lead", "ConvertedAccountId"),  # not converted
    ("Lead", "ConvertedContactId"),
    ("Campaign", "ParentId"),
    ("CampaignMember", "ContactId"),  # one of the two
    ("CampaignMember", "LeadId"),
}


@pytest.fixture(scope="module")
def tiny() -> OrgData:
    return generate_org("tiny", SEED, NOW)


@pytest.fixture(scope="module")
def small() -> OrgData:
    return generate_org("small", SEED, NOW)


@pytest.fixture(scope="module", params=["tiny", "small"])
def org(request: pytest.FixtureRequest, tiny: OrgData, small: OrgData) -> OrgData:
    return tiny if request.param == "tiny" else small


def by_id(org: OrgData) -> dict[str, tuple[str, dict[str, Any]]]:
    return {record["Id"]: (name, record) for name, rows in org.records.items() for record in rows}


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


# ------------------------------------------------------------------------------------------- shape


def test_deterministic_except_the_key_pair(tiny: OrgData) -> None:
    again = generate_org("tiny", SEED, NOW)
    assert again.records == tiny.records
    assert (again.org_id, again.org_name, again.sync_user_id, again.instance_name) == (
        tiny.org_id,
        tiny.org_name,
        tiny.sync_user_id,
        tiny.instance_name,
    )
    assert (again.oauth.client_id, again.oauth.client_secret) == (tiny.oauth.client_id, tiny.oauth.client_secret)
    assert org_manifest(again) == org_manifest(tiny)
    other = generate_org("tiny", SEED + 1, NOW)
    assert other.records["Contact"] != tiny.records["Contact"]


def test_objects_and_org(org: OrgData) -> None:
    assert tuple(org.records) == OBJECTS
    (organization,) = org.records["Organization"]
    assert organization["Id"] == org.org_id and org.org_id.startswith("00D")
    assert organization["Name"] == org.org_name
    assert organization["IsSandbox"] is False and org.is_sandbox is False
    assert organization["InstanceName"] == org.instance_name == "CMSF1"
    assert organization["OrganizationType"] == "Enterprise Edition"
    for name in ("User", "Account", "Contact", "Lead", "Campaign", "CampaignMemberStatus", "CampaignMember"):
        assert org.records[name], name


def test_ids_have_the_prefix_and_checksum(org: OrgData) -> None:
    seen: set[str] = set()
    for name, rows in org.records.items():
        for record in rows:
            record_id = record["Id"]
            assert len(record_id) == 18 and to_18(record_id) == record_id, record_id
            assert to_18(record_id[:15]) == record_id
            assert record_id[:3] == KEY_PREFIXES[name], (name, record_id)
            assert record_id not in seen
            seen.add(record_id)


def test_lookups_point_at_records_of_the_right_object(org: OrgData) -> None:
    index = by_id(org)
    for name, rows in org.records.items():
        for record in rows:
            for field_name, value in record.items():
                if field_name == "Id" or not field_name.endswith("Id"):
                    continue
                if field_name in NEVER_SET:
                    assert value is None
                    continue
                assert field_name in LOOKUPS, f"{name}.{field_name} is a lookup the test does not know"
                if value is None:
                    assert (name, field_name) in NULLABLE, f"{name}.{field_name} is empty"
                    continue
                assert value in index, f"{name}.{field_name} = {value} points at nothing"
                assert index[value][0] == LOOKUPS[field_name], (name, field_name, value)
    for name in OWNED:
        for record in org.records[name]:
            assert record["OwnerId"], (name, record["Id"])
    members = org.records["CampaignMember"]
    assert all(member["ContactId"] or member["LeadId"] for member in members)


def test_required_and_system_fields(org: OrgData) -> None:
    required = {
        "Contact": ("LastName",),
        "Lead": ("LastName", "Company", "Status"),
        "Account": ("Name",),
        "Campaign": ("Name",),
        "User": ("Username", "LastName", "Email", "Alias", "TimeZoneSidKey", "LanguageLocaleKey"),
        "CampaignMemberStatus": ("Label", "CampaignId"),
        "CampaignMember": ("CampaignId", "Status"),
    }
    for name, fields in required.items():
        for record in org.records[name]:
            for field_name in fields:
                value = record.get(field_name)
                assert isinstance(value, str) and value.strip(), (name, field_name, record["Id"])
    for name, rows in org.records.items():
        for record in rows:
            for field_name in ("Id", "CreatedDate", "LastModifiedDate", "SystemModstamp", "IsDeleted"):
                assert field_name in record, (name, field_name)
            assert record["IsDeleted"] is False
            assert ("OwnerId" in record) == (name in OWNED), name
            for value in record.values():
                assert value is None or isinstance(value, str | bool | int | float), (name, value)
    lengths = {"FirstName": 40, "LastName": 80, "Email": 80, "MobilePhone": 40, "Phone": 40, "Title": 128}
    for name in ("Contact", "Lead"):
        for record in org.records[name]:
            for field_name, limit in lengths.items():
                assert record[field_name] is None or len(record[field_name]) <= limit
            assert record["LastName"] == record["LastName"].strip()
    assert all(lead["Status"] in LEAD_STATUSES for lead in org.records["Lead"])
    usernames = [user["Username"] for user in org.records["User"]]
    assert len(set(usernames)) == len(usernames)


def test_people_keep_their_names_and_mobiles(tiny: OrgData) -> None:
    people = {person.email.lower(): person for person in generate_people("tiny", SEED)}
    scripts = 0
    checked = 0
    for name in ("Contact", "Lead"):
        for record in tiny.records[name]:
            person = people.get((record["Email"] or "").lower())
            if person is None:
                continue
            checked += 1
            assert record["LastName"] == person.last_name
            assert record["FirstName"] == (person.first_name or None)
            assert record["MobilePhone"] == (person.mobile_local or None)
            scripts += any(ord(char) > 0x2E80 for char in record["LastName"])  # CJK, Hangul
    assert checked > 150
    assert scripts >= 3
    assert any(record["MobilePhone"] is None for record in tiny.records["Contact"] + tiny.records["Lead"])
    assert any(record["Phone"] for record in tiny.records["Contact"])
    assert 0 < sum(record["HasOptedOutOfEmail"] for record in tiny.records["Contact"]) < len(tiny.records["Contact"])


def test_users(org: OrgData) -> None:
    users = {user["Id"]: user for user in org.records["User"]}
    sync = users[org.sync_user_id]
    assert sync["IsActive"] and sync["UserPermissionsMarketingUser"] and sync["UserType"] == "Standard"
    assert sync["Username"] == org.oauth.jwt_username
    inactive = [user for user in users.values() if not user["IsActive"]]
    assert len(inactive) == 1
    marketing = [user for user in users.values() if user["IsActive"] and user["Id"] != org.sync_user_id]
    assert 3 <= len(marketing) <= 6
    assert all(user["Name"] == f"{user['FirstName']} {user['LastName']}" for user in users.values())
    assert all(user["TimeZoneSidKey"] == "America/Los_Angeles" for user in users.values())
    # The one who left created nothing after leaving.
    (gone,) = inactive
    for name in OWNED:
        for record in org.records[name]:
            if record["OwnerId"] == gone["Id"]:
                assert record["CreatedDate"] <= gone["LastModifiedDate"]
    assert any(record["OwnerId"] == gone["Id"] for record in org.records["Contact"] + org.records["Lead"])


def test_nothing_dated_after_now(org: OrgData) -> None:
    today = NOW.date().isoformat()
    for name, rows in org.records.items():
        for record in rows:
            created, modified = ts(record["CreatedDate"]), ts(record["LastModifiedDate"])
            assert created <= modified <= ts(record["SystemModstamp"]) <= NOW, (name, record["Id"])
            for field_name, value in record.items():
                if isinstance(value, str) and DATETIME.match(value):
                    assert ts(value) <= NOW
                elif isinstance(value, str) and DATE.match(value):
                    assert value <= today, (name, field_name)
                elif field_name.endswith("Date") and value is not None:
                    raise AssertionError(f"{name}.{field_name} = {value!r} is not a Salesforce date")
    two_years_ago = NOW.timestamp() - 731 * 86400
    for name in ("Contact", "Lead"):
        stamps = [ts(record["CreatedDate"]).timestamp() for record in org.records[name]]
        assert min(stamps) >= two_years_ago
        assert max(stamps) - min(stamps) > 600 * 86400  # spread over the two years


def test_oauth(tiny: OrgData) -> None:
    oauth = tiny.oauth
    assert oauth.redirect_uri == REDIRECT_URI == "https://127.0.0.1/oauth/salesforce/callback"
    assert oauth.client_id and oauth.client_secret
    key = serialization.load_pem_private_key(oauth.jwt_private_key_pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    assert oauth.jwt_private_key_pem.startswith("-----BEGIN PRIVATE KEY-----")  # PKCS8
    certificate = x509.load_pem_x509_certificate(oauth.jwt_certificate_pem.encode())
    assert certificate.public_key() == key.public_key()
    assert certificate.not_valid_before_utc <= NOW <= certificate.not_valid_after_utc


# ---------------------------------------------------------------------------------------- matching


def test_matching_situations_are_present_and_counted(org: OrgData) -> None:
    manifest = org_manifest(org)
    json.dumps(manifest)
    people, records = manifest["people"], manifest["records"]
    population = manifest["population"]
    assert population == len(org.population_emails) > 0
    for key in (
        "single_contact",
        "single_lead",
        "duplicate_contacts",
        "duplicate_leads",
        "contact_and_lead",
        "converted_lead",
        "case_differs",
        "without_record",
    ):
        assert people[key] > 0, key
    for key in ("contacts_without_email", "leads_without_email", "contacts_outside_population"):
        assert records[key] > 0, key
    assert records["leads_outside_population"] > 0
    assert 0.80 <= people["single"] / population <= 0.85
    assert 0.08 <= people["without_record"] / population <= 0.12
    assert people["with_record"] + people["without_record"] == population
    assert manifest["objects"] == {name: len(rows) for name, rows in org.records.items()}
    assert manifest["converted_leads"] == people["converted_lead"]

    # The same counts, computed here from the records.
    contacts: dict[str, list[dict[str, Any]]] = defaultdict(list)
    leads: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for name, target in (("Contact", contacts), ("Lead", leads)):
        for record in org.records[name]:
            if record["Email"] and not record.get("IsConverted"):
                target[record["Email"].lower()].append(record)
    lowers = [email.lower() for email in org.population_emails]
    assert people["duplicate_contacts"] == sum(len(contacts[lower]) >= 2 for lower in lowers)
    assert people["duplicate_leads"] == sum(len(leads[lower]) >= 2 for lower in lowers)
    assert people["contact_and_lead"] == sum(bool(contacts[lower] and leads[lower]) for lower in lowers)
    converted = converted_emails(org)
    assert people["without_record"] == sum(
        not contacts[lower] and not leads[lower] and lower not in converted for lower in lowers
    )
    # Two records with one address: the most recently modified one is decidable.
    for groups in (contacts, leads):
        for lower in lowers:
            group = groups[lower]
            if len(group) >= 2:
                stamps = [record["LastModifiedDate"] for record in group]
                assert len(set(stamps)) == len(stamps), lower


def converted_emails(org: OrgData) -> set[str]:
    return {lead["Email"].lower() for lead in org.records["Lead"] if lead["IsConverted"]}


def test_case_differs_from_campaign_monitor(org: OrgData) -> None:
    typed = {email.lower(): email for email in org.population_emails}
    differs = [
        record["Email"]
        for name in ("Contact", "Lead")
        for record in org.records[name]
        if record["Email"] and record["Email"].lower() in typed and record["Email"] != typed[record["Email"].lower()]
    ]
    assert differs
    assert org_manifest(org)["people"]["case_differs"] == len({email.lower() for email in differs})


def test_converted_leads(org: OrgData) -> None:
    index = by_id(org)
    converted = [lead for lead in org.records["Lead"] if lead["IsConverted"]]
    assert converted
    for lead in org.records["Lead"]:
        assert lead["IsConverted"] == (lead["Status"] == "Closed - Converted")
        if not lead["IsConverted"]:
            assert lead["ConvertedContactId"] is None and lead["ConvertedAccountId"] is None
            assert lead["ConvertedDate"] is None
    for lead in converted:
        kind, contact = index[lead["ConvertedContactId"]]
        assert kind == "Contact"
        assert contact["Email"].lower() == lead["Email"].lower()
        assert lead["ConvertedAccountId"] is not None and lead["ConvertedAccountId"] == contact["AccountId"]
        assert lead["ConvertedDate"] > lead["CreatedDate"][:10]
        assert contact["CreatedDate"][:10] == lead["ConvertedDate"]
        assert contact["CreatedDate"] >= lead["CreatedDate"]
        assert lead["LastModifiedDate"] <= NOW.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def test_campaign_member_statuses_and_members(org: OrgData) -> None:
    statuses: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in org.records["CampaignMemberStatus"]:
        statuses[row["CampaignId"]].append(row)
    campaigns = org.records["Campaign"]
    assert set(statuses) == {campaign["Id"] for campaign in campaigns}
    for campaign in campaigns:
        assert campaign["Type"] == "Email" and campaign["Status"] in ("Planned", "In Progress", "Completed")
        rows = statuses[campaign["Id"]]
        defaults = [row for row in rows if row["IsDefault"]]
        assert len(defaults) == 1 and defaults[0]["Label"] == "Sent" and not defaults[0]["HasResponded"]
        assert any(row["HasResponded"] and row["Label"] == "Responded" for row in rows)
        assert len({row["Label"] for row in rows}) == len(rows)
        assert len({row["SortOrder"] for row in rows}) == len(rows)
    index = by_id(org)
    labels = {
        campaign_id: {row["Label"]: row["HasResponded"] for row in rows} for campaign_id, rows in statuses.items()
    }
    pairs: Counter[tuple[str, str]] = Counter()
    for member in org.records["CampaignMember"]:
        allowed = labels[member["CampaignId"]]
        assert member["Status"] in allowed
        assert member["HasResponded"] == allowed[member["Status"]]
        assert (member["FirstRespondedDate"] is not None) == member["HasResponded"]
        if member["ContactId"]:
            pairs[(member["CampaignId"], member["ContactId"])] += 1
        if member["LeadId"]:
            pairs[(member["CampaignId"], member["LeadId"])] += 1
            lead = index[member["LeadId"]][1]
            # A converted lead is a member only through the contact its conversion made.
            assert not lead["IsConverted"] or member["ContactId"] == lead["ConvertedContactId"]
    assert pairs and max(pairs.values()) == 1
    assert any(member["LeadId"] for member in org.records["CampaignMember"])
    assert any(member["ContactId"] for member in org.records["CampaignMember"])


def test_overlaps_the_campaign_monitor_world() -> None:
    org = generate_org("tiny", SEED, NOW)
    world = generate_world("tiny", SEED, NOW)
    subscribers = {lower for lst in world.lists.values() for lower in lst.subscribers}
    assert {email.lower() for email in org.population_emails} == subscribers
    in_org = {
        record["Email"].lower() for name in ("Contact", "Lead") for record in org.records[name] if record["Email"]
    }
    share = len(subscribers & in_org) / len(subscribers)
    assert 0.85 <= share < 1.0
    # And case-insensitively only: some addresses are typed with other capitals on either side.
    typed = {email for lst in world.lists.values() for email in (s.email for s in lst.subscribers.values())}
    exact = {record["Email"] for name in ("Contact", "Lead") for record in org.records[name] if record["Email"]}
    assert len(typed & exact) < len(subscribers & in_org)


def test_shares_no_code_with_the_clients() -> None:
    source = (Path(__file__).resolve().parents[2] / "sandbox/src/cmsf_sandbox/salesforce/data.py").read_text()
    for module in ("django", "cmsf.salesforce", "cmsf.campaign_monitor"):
        assert not re.search(rf"^\s*(from|import) {re.escape(module)}\b", source, re.MULTILINE), module
