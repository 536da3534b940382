"""The Salesforce org of the sandbox: the same people as the Campaign Monitor world, as contacts and leads.

`generate_org(size, seed, now)` reads the population of `generate_people(size, seed)` (the one
`generate_world(size, seed)` subscribes to its lists) and files most of it in a Salesforce org:
accounts for their companies, contacts and leads for their e-mail addresses, a few campaigns with
their member statuses and members, the users who own all that and the one the sync runs as.

The org holds every situation the sync's matching must handle (product behaviour §4.5): people with
exactly one contact or lead, two contacts or two leads with one address (different LastModifiedDate,
so "most recently modified wins" decides), a contact and an open lead with one address, converted
leads and the contacts their conversion created, addresses whose capitals differ from what the person
typed into Campaign Monitor, people with no record at all, and records with no address or with an
address nobody in the population has. `org_manifest(org)` counts them.

Records are plain dicts of field API name -> value, as the REST API returns them: dates "YYYY-MM-DD",
datetimes "2024-05-01T10:20:30.000+0000" (UTC), 18-character ids from `ids.make_id`, numbered
1, 2, 3... per object in CreatedDate order. Deterministic in (size, seed, now), except the JWT key pair.

No Django and nothing of cmsf's own clients: the standard library, `cryptography` and the sandbox only.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from cmsf_sandbox.people import (
    CITY_BY_NAME,
    COUNTRY_NAMES,
    SIZES,
    Person,
    ascii_fold,
    capitalised,
    generate_people,
    make_mobile,
    make_person,
)
from cmsf_sandbox.salesforce.ids import KEY_PREFIXES, make_id

__all__ = ["OBJECTS", "SIZES", "OAuthConfig", "OrgData", "generate_org", "org_manifest"]

REDIRECT_URI = "https://127.0.0.1/oauth/salesforce/callback"
USER_DOMAIN = "cmsf-sandbox.example"
SYNC_USERNAME = f"sync.admin@{USER_DOMAIN}"
INSTANCE_NAME = "CMSF1"
NOT_PROVIDED = "[not provided]"  # what web-to-lead and marketing tools put in Lead.Company when they have none

# The objects of the org, in the order of OrgData.records (lookups point backwards or sideways only).
OBJECTS = ("Organization", "User", "Account", "Contact", "Lead", "Campaign", "CampaignMemberStatus", "CampaignMember")

LEAD_STATUSES = ("Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted")
CONVERTED_STATUS = "Closed - Converted"
CAMPAIGN_STATUSES = ("Planned", "In Progress", "Completed")

_DAY = 86400
_HISTORY_DAYS = 730  # contacts and leads were created over the last two years

# Shares of the population (each at least _MINIMUM people, so that the tiny org has every situation).
_SHARE_NONE = 0.10
_SHARE_DUPLICATE_CONTACTS = 0.02
_SHARE_DUPLICATE_LEADS = 0.01
_SHARE_CONTACT_AND_LEAD = 0.025
_SHARE_CONVERTED = 0.025
_SHARE_CASE_DIFFERS = 0.04  # of the people with a single record
_SHARE_SINGLE_CONTACT = 0.6  # of the people with a single record: a contact (else a lead)
_SHARE_OUTSIDERS = 0.015  # contacts, and as many leads, with an address nobody in the population has
_SHARE_NO_EMAIL = 0.005  # contacts, and as many leads, with no address
_MINIMUM = 2

_CAMPAIGNS = {"tiny": 3, "small": 4, "medium": 5, "large": 6}
_CAMPAIGN_NAMES = (
    "Spring Product Launch",
    "Customer Webinar Series",
    "Holiday Promotion",
    "Annual Customer Survey",
    "Partner Newsletter",
    "Re-engagement Drive",
    "Trade Show Follow-up",
    "Loyalty Programme",
)
_EXTRA_MEMBER_STATUSES = (("Opened", True), ("Clicked", True), ("Bounced", False), ("Unsubscribed", False))

_MARKETING_USERS = (
    ("Priya", "Nair", "Marketing Manager"),
    ("Tom", "Becker", "Marketing Operations"),
    ("Mei", "Tanaka", "Campaign Specialist"),
    ("Lucas", "Moreau", "Marketing Coordinator"),
    ("Grace", "O'Neill", "Head of Marketing"),
    ("Diego", "Álvarez", "CRM Specialist"),
)
_INACTIVE_USER = ("Jordan", "Blake", "Sales Representative")

_INDUSTRIES = (
    "Technology",
    "Retail",
    "Manufacturing",
    "Consulting",
    "Hospitality",
    "Education",
    "Finance",
    "Healthcare",
    "Media",
    "Not For Profit",
)
_ACCOUNT_TYPES = ("Customer", "Customer", "Prospect", "Partner", "Other")
_LEAD_SOURCES = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Trade Show", "Word of mouth", "Other")
_OPEN_STATUSES = (("Open - Not Contacted", 0.45), ("Working - Contacted", 0.35), ("Closed - Not Converted", 0.2))
_KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._"


@dataclass
class OAuthConfig:
    client_id: str  # connected app consumer key
    client_secret: str
    redirect_uri: str  # "https://127.0.0.1/oauth/salesforce/callback"
    jwt_username: str  # the sync user's Username
    jwt_private_key_pem: str  # RSA 2048 private key (PKCS8 PEM); new at every generation (not deterministic)
    jwt_certificate_pem: str  # self-signed X.509 certificate of that key (what an admin uploads to the connected app)


@dataclass
class OrgData:
    org_id: str  # "00D..." 18 chars
    org_name: str
    is_sandbox: bool  # False
    instance_name: str  # e.g. "CMSF1"
    sync_user_id: str  # the User the integration runs as (a system administrator)
    records: dict[str, list[dict[str, Any]]]  # object API name -> records, each a dict of field API name -> value
    oauth: OAuthConfig
    # Not part of the emulator's contract (it may ignore them): where the org comes from, for org_manifest.
    size: str = ""
    seed: int = 0
    population_emails: tuple[str, ...] = field(default=(), repr=False, compare=False)  # as typed on the CM side


# ------------------------------------------------------------------------------------------- helpers


def sf_datetime(ts: int) -> str:
    """UTC seconds -> "2024-05-01T10:20:30.000+0000"."""
    return time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime(ts))


def sf_date(ts: int) -> str:
    """UTC seconds -> "2024-05-01"."""
    return time.strftime("%Y-%m-%d", time.gmtime(ts))


def _timestamp(value: str) -> int:
    """ "2024-05-01T10:20:30.000+0000" -> UTC seconds."""
    return int(datetime.fromisoformat(value).timestamp())


def _share(count: int, share: float) -> int:
    return max(_MINIMUM, round(count * share))


def _other_case(email: str) -> str:
    """The same address with other capitals: "ana.lopez@example.com" <-> "Ana.Lopez@Example.com"."""
    lower = email.lower()
    return capitalised(lower) if email == lower else lower


def _stamp(record: dict[str, Any], created: int, modified: int, creator: str, modifier: str) -> None:
    moment = sf_datetime(modified)
    record["CreatedDate"] = sf_datetime(created)
    record["CreatedById"] = creator
    record["LastModifiedDate"] = moment
    record["LastModifiedById"] = modifier
    record["SystemModstamp"] = moment
    record["IsDeleted"] = False


@dataclass
class _User:
    record_id: str
    active: bool
    until: int  # the last moment this user created or changed anything (deactivation for the inactive one)


class _Builder:
    def __init__(self, size: str, seed: int, now: datetime) -> None:
        if size not in SIZES:
            raise ValueError(f"unknown size {size!r}: one of {', '.join(SIZES)}")
        self.size, self.seed = size, seed
        self.now = int(now.timestamp())
        self.start = self.now - _HISTORY_DAYS * _DAY
        self.rng = random.Random(f"cmsf-salesforce:{size}:{seed}")
        self.people = generate_people(size, seed)
        self.records: dict[str, list[dict[str, Any]]] = {name: [] for name in OBJECTS}
        self.users: list[_User] = []
        self.by_id: dict[str, _User] = {}
        self.owners: list[_User] = []  # who owns contacts, leads and accounts
        self.owner_weights: list[float] = []
        self.active_owners: list[str] = []  # their ids, the inactive one left out
        self.accounts: dict[tuple[str, str], dict[str, Any]] = {}  # (company, country code) -> Account
        self.conversions: list[tuple[dict[str, Any], dict[str, Any], int]] = []  # (lead, contact, converted at)

    # -------------------------------------------------------------------------------------- org, users

    def organization(self) -> dict[str, Any]:
        rng = self.rng
        created = self.now - rng.randint(4 * 365, 6 * 365) * _DAY - rng.randint(0, _DAY)
        record: dict[str, Any] = {
            "Id": make_id(KEY_PREFIXES["Organization"], rng.randint(62**4, 62**5)),
            "Name": "Harbour Group (cmsf sandbox)",
            "IsSandbox": False,
            "InstanceName": INSTANCE_NAME,
            "OrganizationType": "Enterprise Edition",
            "Country": "Australia",
            "DefaultLocaleSidKey": "en_US",
            "LanguageLocaleKey": "en_US",
            "TimeZoneSidKey": "America/Los_Angeles",
        }
        _stamp(record, created, created + rng.randint(0, 365) * _DAY, "", "")
        self.records["Organization"].append(record)
        return record

    def user(self, first: str, last: str, title: str, username: str, active: bool, marketing: bool) -> _User:
        rng = self.rng
        sequence = len(self.records["User"]) + 1
        record_id = make_id(KEY_PREFIXES["User"], sequence)
        created = self.now - rng.randint(3 * 365, 4 * 365) * _DAY - rng.randint(0, _DAY)
        until = self.now if active else self.now - rng.randint(30, 200) * _DAY
        record: dict[str, Any] = {
            "Id": record_id,
            "Username": username,
            "Email": username,
            "FirstName": first,
            "LastName": last,
            "Name": f"{first} {last}",
            "Alias": (first[:1] + last.replace("'", ""))[:8].lower(),
            "Title": title,
            "IsActive": active,
            "UserType": "Standard",
            "UserPermissionsMarketingUser": marketing,
            "TimeZoneSidKey": "America/Los_Angeles",
            "LocaleSidKey": "en_US",
            "LanguageLocaleKey": "en_US",
            "EmailEncodingKey": "UTF-8",
        }
        first_id = self.records["User"][0]["Id"] if self.records["User"] else record_id
        modified = until if not active else rng.randint(created, self.now)
        _stamp(record, created, modified, first_id, first_id)
        self.records["User"].append(record)
        user = _User(record_id, active, until)
        self.users.append(user)
        self.by_id[record_id] = user
        return user

    def make_users(self) -> _User:
        rng = self.rng
        sync = self.user("Sync", "Admin", "System Administrator", SYNC_USERNAME, True, True)
        marketing = rng.sample(_MARKETING_USERS, rng.randint(3, len(_MARKETING_USERS)))
        for first, last, title in marketing:
            owner = self.user(first, last, title, f"{ascii_fold(first)}.{ascii_fold(last)}@{USER_DOMAIN}", True, True)
            self.owners.append(owner)
            self.owner_weights.append(rng.uniform(0.5, 2.0))
        first, last, title = _INACTIVE_USER
        inactive = self.user(first, last, title, f"{first.lower()}.{last.lower()}@{USER_DOMAIN}", False, False)
        self.owners.append(inactive)
        self.owner_weights.append(0.05 * sum(self.owner_weights))
        self.active_owners = [owner.record_id for owner in self.owners if owner.active]
        return sync

    def owner(self) -> _User:
        return self.rng.choices(self.owners, self.owner_weights)[0]

    def active_user(self) -> str:
        return self.rng.choice(self.active_owners)

    def moments(self, owner: _User, low: int, high: int | None = None) -> tuple[int, int]:
        """(created, last modified) between `low` and `high` (default now); created before the owner left."""
        rng = self.rng
        high = self.now if high is None else high
        created = rng.randint(low, max(low, min(high, owner.until)))
        # Most records were touched again since; some never were.
        modified = created if rng.random() < 0.2 else rng.randint(created, high)
        return created, modified

    # ------------------------------------------------------------------------------------- accounts

    def account(self, person: Person) -> dict[str, Any] | None:
        if not person.company:
            return None
        key = (person.company, person.country_code)
        found = self.accounts.get(key)
        if found is not None:
            return found
        rng = self.rng
        first_of_company = not any(company == person.company for company, _ in self.accounts)
        country = COUNTRY_NAMES.get(person.country_code, "")
        city = CITY_BY_NAME.get(person.city)
        owner = self.owner()
        created, modified = self.moments(owner, self.start - 365 * _DAY, self.start)
        modified = rng.randint(created, self.now)
        record: dict[str, Any] = {
            "Id": "",
            "Name": person.company if first_of_company else f"{person.company} ({country})",
            "Type": rng.choice(_ACCOUNT_TYPES),
            "Industry": rng.choice(_INDUSTRIES),
            "BillingCity": city.name
            if city and city.country_code == person.country_code and rng.random() < 0.7
            else None,
            "BillingCountry": country,
            "Phone": (make_mobile(rng, person.country_code)[0] or None) if rng.random() < 0.5 else None,
            "Website": None,
            "OwnerId": owner.record_id,
        }
        _stamp(record, created, modified, owner.record_id, self.active_user())
        self.accounts[key] = record
        return record

    # -------------------------------------------------------------------------------- contacts, leads

    def _person_fields(self, person: Person, email: str | None) -> dict[str, Any]:
        rng = self.rng
        phone = None
        if rng.random() < 0.25:
            phone = make_mobile(rng, person.country_code)[0] or None
        return {
            "FirstName": person.first_name or None,
            "LastName": person.last_name or NOT_PROVIDED,
            "Title": person.job_title or None,
            "Email": email,
            "Phone": phone,
            "MobilePhone": person.mobile_local or None,
            "LeadSource": rng.choice(_LEAD_SOURCES) if rng.random() < 0.7 else None,
            "HasOptedOutOfEmail": rng.random() < 0.03,
            "DoNotCall": rng.random() < 0.02,
        }

    def contact(
        self, person: Person, email: str | None, owner: _User, created: int, modified: int, creator: str = ""
    ) -> dict[str, Any]:
        rng = self.rng
        account = self.account(person)
        if rng.random() < 0.03:
            account = None  # a private contact
        city = CITY_BY_NAME.get(person.city)
        fields = self._person_fields(person, email)
        record: dict[str, Any] = {
            "Id": "",
            "AccountId": None,  # set by number() once the accounts have their ids
            "_account": account,
            "FirstName": fields["FirstName"],
            "LastName": fields["LastName"],
            "Title": fields["Title"],
            "Email": email,
            "Phone": fields["Phone"],
            "MobilePhone": fields["MobilePhone"],
            "Birthdate": person.birthday or None,
            "LeadSource": fields["LeadSource"],
            "MailingCity": person.city or None,
            "MailingCountry": city.country_name if city is not None else COUNTRY_NAMES.get(person.country_code),
            "HasOptedOutOfEmail": fields["HasOptedOutOfEmail"],
            "DoNotCall": fields["DoNotCall"],
            "OwnerId": owner.record_id,
        }
        _stamp(record, created, modified, creator or owner.record_id, self.active_user())
        self.records["Contact"].append(record)
        return record

    def lead(
        self, person: Person, email: str | None, owner: _User, created: int, modified: int, status: str | None = None
    ) -> dict[str, Any]:
        rng = self.rng
        city = CITY_BY_NAME.get(person.city)
        fields = self._person_fields(person, email)
        if status is None:
            roll, status = rng.random(), _OPEN_STATUSES[-1][0]
            for label, share in _OPEN_STATUSES:
                if roll < share:
                    status = label
                    break
                roll -= share
        record: dict[str, Any] = {
            "Id": "",
            "FirstName": fields["FirstName"],
            "LastName": fields["LastName"],
            "Company": person.company or NOT_PROVIDED,
            "Title": fields["Title"],
            "Email": email,
            "Phone": fields["Phone"],
            "MobilePhone": fields["MobilePhone"],
            "Status": status,
            "LeadSource": fields["LeadSource"],
            "Industry": rng.choice(_INDUSTRIES) if rng.random() < 0.4 else None,
            "City": person.city or None,
            "Country": city.country_name if city is not None else COUNTRY_NAMES.get(person.country_code),
            "HasOptedOutOfEmail": fields["HasOptedOutOfEmail"],
            "DoNotCall": fields["DoNotCall"],
            "IsConverted": False,
            "ConvertedContactId": None,
            "ConvertedAccountId": None,
            "ConvertedOpportunityId": None,
            "ConvertedDate": None,
            "OwnerId": owner.record_id,
        }
        _stamp(record, created, modified, owner.record_id, self.active_user())
        self.records["Lead"].append(record)
        return record

    def converted(self, person: Person, email: str) -> None:
        """A lead converted into a contact (and an existing account of the person's company)."""
        rng = self.rng
        owner = self.owner()
        lead_created = rng.randint(self.start, min(owner.until, self.now) - 3 * _DAY)
        next_day = lead_created - lead_created % _DAY + _DAY
        converted_at = rng.randint(next_day, max(next_day, min(owner.until, self.now)))
        converted_at = min(converted_at, self.now)
        lead = self.lead(person, email, owner, lead_created, converted_at, CONVERTED_STATUS)
        lead["IsConverted"] = True
        lead["ConvertedDate"] = sf_date(converted_at)
        contact_modified = converted_at if rng.random() < 0.3 else rng.randint(converted_at, self.now)
        contact = self.contact(person, email, owner, converted_at, contact_modified)
        if contact["_account"] is None:  # conversion always puts the contact in an account
            contact["_account"] = self.account(person)
        self.conversions.append((lead, contact, converted_at))

    def people_records(self) -> None:
        rng, people = self.rng, self.people
        count = len(people)
        order = rng.sample(range(count), count)
        roles = ["single"] * count
        with_company = [index for index in order if people[index].company]
        for index in with_company[: _share(count, _SHARE_CONVERTED)]:
            roles[index] = "converted"
        rest = [index for index in order if roles[index] == "single"]
        cursor = 0
        for role, share in (
            ("none", _SHARE_NONE),
            ("duplicate_contacts", _SHARE_DUPLICATE_CONTACTS),
            ("duplicate_leads", _SHARE_DUPLICATE_LEADS),
            ("contact_and_lead", _SHARE_CONTACT_AND_LEAD),
        ):
            for index in rest[cursor : cursor + _share(count, share)]:
                roles[index] = role
            cursor += _share(count, share)
        singles = rest[cursor:]
        other_case = set(singles[: _share(count, _SHARE_CASE_DIFFERS)])
        for index, person in enumerate(people):
            role = roles[index]
            email = person.email
            if role == "none":
                continue
            if role == "converted":
                self.converted(person, email)
                continue
            if role == "single":
                if index in other_case:
                    email = _other_case(email)
                owner = self.owner()
                created, modified = self.moments(owner, self.start)
                if rng.random() < _SHARE_SINGLE_CONTACT:
                    self.contact(person, email, owner, created, modified)
                else:
                    self.lead(person, email, owner, created, modified)
                continue
            # Two records for one address: the second one typed again later, sometimes with other capitals.
            owner = self.owner()
            first_created, first_modified = self.moments(owner, self.start, self.now - 2 * _DAY)
            second_email = _other_case(email) if rng.random() < 0.3 else email
            second_owner = owner if owner.active and rng.random() < 0.7 else self.by_id[self.active_user()]
            second_created = rng.randint(first_created + _DAY, self.now - _DAY)
            second_modified = rng.randint(second_created, self.now)
            if abs(second_modified - first_modified) < 3600:  # "most recently modified" must decide
                first_modified = rng.randint(first_created, second_modified - 3600)
            kinds = {
                "duplicate_contacts": (self.contact, self.contact),
                "duplicate_leads": (self.lead, self.lead),
                "contact_and_lead": (self.contact, self.lead),
            }[role]
            if role == "contact_and_lead" and rng.random() < 0.5:
                kinds = (self.lead, self.contact)
            kinds[0](person, email, owner, first_created, first_modified)
            kinds[1](person, second_email, second_owner, second_created, second_modified)

    def strays(self) -> None:
        """Contacts and leads nobody in the population matches: with no address, or with somebody else's."""
        rng, count = self.rng, len(self.people)
        taken = {person.email_lower for person in self.people}
        strangers = random.Random(rng.getrandbits(64))
        for _ in range(_share(count, _SHARE_OUTSIDERS)):
            for make in (self.contact, self.lead):
                stranger = make_person(strangers, taken)
                owner = self.owner()
                created, modified = self.moments(owner, self.start)
                make(stranger, stranger.email, owner, created, modified)
        for _ in range(_share(count, _SHARE_NO_EMAIL)):
            for make in (self.contact, self.lead):
                stranger = make_person(strangers, taken)
                owner = self.owner()
                created, modified = self.moments(owner, self.start)
                make(stranger, None, owner, created, modified)

    # ---------------------------------------------------------------------------------------- campaigns

    def campaigns(self) -> None:
        rng = self.rng
        records = self.records
        count = _CAMPAIGNS[self.size]
        names = rng.sample(_CAMPAIGN_NAMES, count)
        statuses = ["In Progress", "Completed", "Planned"] + [
            rng.choice(CAMPAIGN_STATUSES) for _ in range(count - len(CAMPAIGN_STATUSES))
        ]
        marketing = [owner for owner in self.owners if owner.active]
        members_per_campaign = min(400, max(6, len(self.people) // 40))
        contacts = [record for record in records["Contact"] if record["Email"]]
        leads = [record for record in records["Lead"] if record["Email"] and not record["IsConverted"]]
        created_ts: dict[str, int] = {}
        for name, status in zip(names, statuses, strict=True):
            owner = rng.choice(marketing)
            if status == "Completed":
                start = self.now - rng.randint(60, _HISTORY_DAYS - 30) * _DAY
                created = start - rng.randint(1, 20) * _DAY
                end: int | None = min(self.now, start + rng.randint(7, 60) * _DAY)
            elif status == "In Progress":
                start = self.now - rng.randint(5, 60) * _DAY
                created = start - rng.randint(1, 20) * _DAY
                end = None
            else:
                created = self.now - rng.randint(1, 30) * _DAY
                start, end = 0, None
            created += rng.randint(0, _DAY - 1)
            campaign: dict[str, Any] = {
                "Id": make_id(KEY_PREFIXES["Campaign"], len(records["Campaign"]) + 1),
                "Name": f"{name} {time.gmtime(start or created).tm_year}",
                "Type": "Email",
                "Status": status,
                "IsActive": status != "Completed",
                "StartDate": sf_date(start) if start else None,
                "EndDate": sf_date(end) if end is not None else None,
                "Description": None,
                "ParentId": None,
                "OwnerId": owner.record_id,
            }
            _stamp(campaign, created, rng.randint(created, self.now), owner.record_id, owner.record_id)
            records["Campaign"].append(campaign)
            labels = [("Sent", True, False), ("Responded", False, True)]
            labels += [(label, False, responded) for label, responded in _EXTRA_MEMBER_STATUSES if rng.random() < 0.5]
            for order, (label, default, responded) in enumerate(labels, start=1):
                row: dict[str, Any] = {
                    "Id": make_id(KEY_PREFIXES["CampaignMemberStatus"], len(records["CampaignMemberStatus"]) + 1),
                    "CampaignId": campaign["Id"],
                    "Label": label,
                    "IsDefault": default,
                    "HasResponded": responded,
                    "SortOrder": order,
                }
                _stamp(row, created, created, owner.record_id, owner.record_id)
                records["CampaignMemberStatus"].append(row)
            created_ts[campaign["Id"]] = created
            if status == "Planned":
                continue
            weights = [4.0] + [1.0] * (len(labels) - 1)
            chosen = rng.sample(contacts, min(len(contacts), members_per_campaign * 3 // 5))
            chosen += rng.sample(leads, min(len(leads), members_per_campaign * 2 // 5))
            for record in chosen:
                label, _default, responded = rng.choices(labels, weights)[0]
                is_lead = record["Id"].startswith(KEY_PREFIXES["Lead"])
                self.member(campaign, created, record, is_lead, label, responded)
            # Members that were leads when they joined, re-pointed to the contact their conversion made.
            taken = {record["Id"] for record in chosen}
            for lead, contact, converted_at in self.conversions[:2]:
                lead_created = _timestamp(lead["CreatedDate"])
                if max(created, lead_created) < converted_at and contact["Id"] not in taken:
                    label, _default, responded = rng.choices(labels, weights)[0]
                    self.member(campaign, created, lead, True, label, responded, contact, converted_at)

    def member(
        self,
        campaign: dict[str, Any],
        campaign_created: int,
        record: dict[str, Any],
        is_lead: bool,
        label: str,
        responded: bool,
        contact: dict[str, Any] | None = None,
        converted_at: int | None = None,
    ) -> None:
        rng, records = self.rng, self.records
        record_created = _timestamp(record["CreatedDate"])
        low = max(campaign_created, record_created)
        created = rng.randint(low, converted_at if converted_at is not None else self.now)
        modified = rng.randint(max(created, converted_at or created), self.now)
        creator = self.active_user()
        member: dict[str, Any] = {
            "Id": make_id(KEY_PREFIXES["CampaignMember"], len(records["CampaignMember"]) + 1),
            "CampaignId": campaign["Id"],
            "ContactId": contact["Id"] if contact is not None else None if is_lead else record["Id"],
            "LeadId": record["Id"] if is_lead else None,
            "Status": label,
            "HasResponded": responded,
            "FirstRespondedDate": sf_date(rng.randint(created, modified)) if responded else None,
        }
        _stamp(member, created, modified, creator, creator)
        records["CampaignMember"].append(member)

    # ------------------------------------------------------------------------------------------ ids

    def number(self) -> None:
        """Ids in CreatedDate order per object (as Salesforce hands them out), then the lookups."""
        for name in ("Account", "Contact", "Lead"):
            rows = sorted(self.records[name], key=lambda row: row["CreatedDate"])
            for sequence, row in enumerate(rows, start=1):
                row["Id"] = make_id(KEY_PREFIXES[name], sequence)
            self.records[name] = rows
        for contact in self.records["Contact"]:
            account = contact.pop("_account")
            contact["AccountId"] = account["Id"] if account is not None else None
        for lead, contact, _converted_at in self.conversions:
            lead["ConvertedContactId"] = contact["Id"]
            lead["ConvertedAccountId"] = contact["AccountId"]

    def build(self) -> OrgData:
        organization = self.organization()
        sync = self.make_users()
        self.people_records()
        self.strays()
        self.records["Account"] = sorted(self.accounts.values(), key=lambda row: row["CreatedDate"])
        self.number()
        self.campaigns()
        organization["CreatedById"] = organization["LastModifiedById"] = sync.record_id
        rng = self.rng
        client_id = "3MVG9" + "".join(rng.choice(_KEY_ALPHABET) for _ in range(80))
        client_secret = f"{rng.getrandbits(256):064X}"
        key_pem, cert_pem = _jwt_key_pair(datetime.fromtimestamp(self.now, UTC))
        return OrgData(
            org_id=organization["Id"],
            org_name=organization["Name"],
            is_sandbox=False,
            instance_name=INSTANCE_NAME,
            sync_user_id=sync.record_id,
            records=self.records,
            oauth=OAuthConfig(
                client_id=client_id,
                client_secret=client_secret,
                redirect_uri=REDIRECT_URI,
                jwt_username=SYNC_USERNAME,
                jwt_private_key_pem=key_pem,
                jwt_certificate_pem=cert_pem,
            ),
            size=self.size,
            seed=self.seed,
            population_emails=tuple(person.email for person in self.people),
        )


def _jwt_key_pair(now: datetime) -> tuple[str, str]:
    """A new RSA 2048 key (PKCS8 PEM) and its self-signed certificate, valid around both `now` and today."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "cmsf sandbox"),
            x509.NameAttribute(NameOID.COMMON_NAME, "cmsf-sync-jwt"),
        ]
    )
    today = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(min(now, today) - timedelta(days=1))
        .not_valid_after(max(now, today) + timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    return key_pem, certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def generate_org(size: str, seed: int, now: datetime | None = None) -> OrgData:
    """The Salesforce org of the sandbox: deterministic in (size, seed, now) except the JWT key pair."""
    moment = datetime.now(UTC) if now is None else now.replace(tzinfo=UTC) if now.tzinfo is None else now
    return _Builder(size, seed, moment.astimezone(UTC).replace(microsecond=0)).build()


# -------------------------------------------------------------------------------------------- manifest


def org_manifest(org: OrgData) -> dict[str, Any]:
    """What the org holds, counted: records per object and the matching situations (JSON-serialisable).

    The people counts compare the org with the population's addresses (org.population_emails); an
    address matches case-insensitively, converted leads do not count as leads.
    """
    records = org.records
    contacts: Counter[str] = Counter()
    leads: Counter[str] = Counter()
    converted: Counter[str] = Counter()
    typed: dict[str, set[str]] = {}  # lower-case address -> the ways the org has it
    for name, counter in (("Contact", contacts), ("Lead", leads)):
        for record in records[name]:
            email = record["Email"]
            if not email:
                continue
            lower = email.lower()
            (converted if record.get("IsConverted") else counter)[lower] += 1
            typed.setdefault(lower, set()).add(email)
    population = {email.lower(): email for email in org.population_emails}
    people = Counter[str]()
    for lower, email in population.items():
        c, n, v = contacts[lower], leads[lower], converted[lower]
        if c == n == v == 0:
            people["without_record"] += 1
            continue
        if (c, n, v) == (1, 0, 0):
            people["single_contact"] += 1
        elif (c, n, v) == (0, 1, 0):
            people["single_lead"] += 1
        if c >= 2:
            people["duplicate_contacts"] += 1
        if n >= 2:
            people["duplicate_leads"] += 1
        if c and n:
            people["contact_and_lead"] += 1
        if v:
            people["converted_lead"] += 1
        if typed[lower] != {email}:
            people["case_differs"] += 1
        people["with_record"] += 1
    people["single"] = people["single_contact"] + people["single_lead"]
    strays = Counter[str]()
    for name in ("Contact", "Lead"):
        for record in records[name]:
            if not record["Email"]:
                strays[f"{name.lower()}s_without_email"] += 1
            elif record["Email"].lower() not in population:
                strays[f"{name.lower()}s_outside_population"] += 1
    keys = (
        "single",
        "single_contact",
        "single_lead",
        "duplicate_contacts",
        "duplicate_leads",
        "contact_and_lead",
        "converted_lead",
        "case_differs",
        "without_record",
        "with_record",
    )
    stray_keys = (
        "contacts_without_email",
        "leads_without_email",
        "contacts_outside_population",
        "leads_outside_population",
    )
    users = records["User"]
    return {
        "size": org.size,
        "seed": org.seed,
        "org_id": org.org_id,
        "sync_user_id": org.sync_user_id,
        "objects": {name: len(rows) for name, rows in records.items()},
        "population": len(population),
        "people": {key: people[key] for key in keys},
        "records": {key: strays[key] for key in stray_keys},
        "converted_leads": sum(1 for record in records["Lead"] if record["IsConverted"]),
        "leads_by_status": dict(sorted(Counter(record["Status"] for record in records["Lead"]).items())),
        "contacts_with_account": sum(1 for record in records["Contact"] if record["AccountId"]),
        "opted_out": {
            name: sum(1 for record in records[name] if record["HasOptedOutOfEmail"]) for name in ("Contact", "Lead")
        },
        "users": {
            "active": sum(1 for user in users if user["IsActive"]),
            "inactive": sum(1 for user in users if not user["IsActive"]),
            "marketing": sum(1 for user in users if user["UserPermissionsMarketingUser"]),
        },
        "campaign_members_by_campaign": dict(
            sorted(Counter(member["CampaignId"] for member in records["CampaignMember"]).items())
        ),
        "responded_members": sum(1 for member in records["CampaignMember"] if member["HasResponded"]),
    }
