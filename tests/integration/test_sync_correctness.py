"""The primary sync end to end: what Salesforce holds afterwards is exactly what Campaign Monitor implies.

Both emulators run over TLS in this process. The expectations are computed independently of cmsf: from the
Campaign Monitor emulator's API with plain `requests` calls, and Salesforce's contents are read with raw SOQL
(following nextRecordsUrl) with a token the Salesforce emulator issues. Nothing of cmsf's own clients,
transforms or matching is used to compute what should be there; cmsf's clients are only handed to the sync.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from cmsf.campaign_monitor.api import CampaignMonitor
from cmsf.campaign_monitor.transport import ApiKeyAuth, Transport
from cmsf.connections.models import CampaignMonitorClient
from cmsf.options.models import GeneralOptions, TrackingHistorySettings
from cmsf.salesforce.adapter import SalesforceAdapter
from cmsf.salesforce.auth import Credentials
from cmsf.sync.engine import RETENTION, keep_from, run_primary_sync
from cmsf.sync.models import Cursor, RecordMap, SyncRun
from cmsf_sandbox.campaign_monitor.app import create_app as create_cm_app
from cmsf_sandbox.campaign_monitor.world import ZONES, TrackingEvent, World, local_to_utc, utc_to_local
from cmsf_sandbox.dataset import generate_world
from cmsf_sandbox.salesforce.app import create_app as create_sf_app
from cmsf_sandbox.salesforce.data import generate_org
from cmsf_sandbox.server import serve_in_thread
from cmsf_sandbox.tls import generate_tls_files

pytestmark = pytest.mark.django_db(transaction=True)

SIZE, SEED = "tiny", 7
SF_API = "/services/data/v62.0"
ALL_TYPES = ["sent", "opened", "clicked", "bounced", "unsubscribed", "spam_complaint"]
# Campaign Monitor's report endpoint, the tracking-history setting that chooses it, the Activity__c label.
KINDS = {
    "opens": ("opened", "Opened"),
    "clicks": ("clicked", "Clicked"),
    "bounces": ("bounced", "Bounced"),
    "unsubscribes": ("unsubscribed", "Unsubscribed"),
    "spam": ("spam_complaint", "Spam Complaint"),
}
STATES = ("active", "unconfirmed", "unsubscribed", "bounced", "deleted")
SUMMARY_FIELDS = {  # CMSF_Campaign__c field -> the campaign summary's counter
    "Recipients__c": "Recipients",
    "Total_Opened__c": "TotalOpened",
    "Unique_Opened__c": "UniqueOpened",
    "Clicks__c": "Clicks",
    "Unsubscribed__c": "Unsubscribed",
    "Bounced__c": "Bounced",
    "Spam_Complaints__c": "SpamComplaints",
    "Forwards__c": "Forwards",
    "Likes__c": "Likes",
    "Mentions__c": "Mentions",
}
LIST_STATS = {  # CMSF_List__c field -> the list statistics' counter
    "Active_Subscribers__c": "TotalActiveSubscribers",
    "Unsubscribed_Subscribers__c": "TotalUnsubscribes",
    "Bounced_Subscribers__c": "TotalBounces",
    "Deleted_Subscribers__c": "TotalDeleted",
}
OBJECTS = (
    "CMSF_Client__c",
    "CMSF_List__c",
    "CMSF_Subscriber__c",
    "CMSF_Campaign__c",
    "CMSF_Email_Activity__c",
    "CMSF_Suppression__c",
)
WRITE_CALLS = ("composite/sobjects", "bulk2 ingest", "sobject")


# ------------------------------------------------------------------------------------------ raw clients


def _session(ca: str) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE must not override the emulators' CA
    session.verify = ca
    return session


class CmApi:
    """Campaign Monitor's API v3.3 through plain requests, with the account's API key (HTTP Basic)."""

    def __init__(self, base: str, key: str, ca: str) -> None:
        self.root = f"{base}/api/v3.3"
        self.admin_root = f"{base}/admin"
        self.session = _session(ca)
        self.session.auth = (key, "x")

    def get(self, path: str, **params: Any) -> Any:
        response = self.session.get(f"{self.root}/{path}", params=params, timeout=60)
        assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text[:300]}"
        return response.json()

    def paged(self, path: str, **params: Any) -> Iterator[dict[str, Any]]:
        page = 1
        while True:
            body = self.get(path, page=page, pagesize=1000, **params)
            yield from body["Results"]
            if page >= body["NumberOfPages"]:
                return
            page += 1

    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.session.request(method, f"{self.admin_root}{path}", timeout=60, auth=None, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None


class SfApi:
    """Salesforce's REST API through plain requests, with a token the emulator issues for the sync user."""

    def __init__(self, base: str, ca: str) -> None:
        self.base = base
        self.session = _session(ca)
        self.session.headers["Authorization"] = f"Bearer {self.admin('POST', '/tokens', json={})['access_token']}"

    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.session.request(method, f"{self.base}/admin{path}", timeout=60, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def query(self, soql: str) -> list[dict[str, Any]]:
        response = self.session.get(f"{self.base}{SF_API}/query", params={"q": soql}, timeout=60)
        records = []
        while True:
            assert response.status_code == 200, f"{soql}: {response.status_code} {response.text[:300]}"
            body = response.json()
            records.extend(body["records"])
            if body.get("done", True) or not body.get("nextRecordsUrl"):
                return records
            response = self.session.get(f"{self.base}{body['nextRecordsUrl']}", timeout=60)

    def write_calls(self) -> dict[str, int]:
        calls = self.admin("GET", "/calls")["calls"]
        return {kind: n for kind, n in calls.items() if kind.startswith(WRITE_CALLS)}


# ---------------------------------------------------------------------------------------------- times


def cm_utc(local: str, zone_label: str) -> datetime:
    """A Campaign Monitor date (client-local, no zone) as aware UTC."""
    return datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(ZONES[zone_label])).astimezone(UTC)


def sf_utc(value: str) -> datetime:
    """A Salesforce datetime ("2024-05-01T10:20:30.000+0000") as aware UTC."""
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC)


def second(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


# ------------------------------------------------------------------------------------ the emulator pair


@dataclass
class Pair:
    """A Campaign Monitor and a Salesforce emulator for the same people, cmsf's client rows and clients."""

    world: Any
    org: Any
    cm_base: str
    sf_base: str
    ca: str
    cm: CmApi
    sf: SfApi
    rows: list[CampaignMonitorClient] = field(default_factory=list)
    history: dict[str, list[str]] = field(default_factory=dict)  # the runs of the last sync_all, per client

    def cmsf_clients(self) -> tuple[CampaignMonitor, SalesforceAdapter]:
        cm = CampaignMonitor(
            Transport(ApiKeyAuth(self.world.account_api_key), base_url=f"{self.cm_base}/api/v3.3", ca_bundle=self.ca)
        )
        oauth = self.org.oauth
        sf = SalesforceAdapter(
            Credentials(
                flow="jwt_bearer", login_url=self.sf_base, client_id=oauth.client_id,
                username=oauth.jwt_username, private_key=oauth.jwt_private_key_pem,
            ),
            ca_bundle=self.ca,
        )  # fmt: skip
        return cm, sf

    def sync(self, row: CampaignMonitorClient) -> SyncRun:
        cm, sf = self.cmsf_clients()
        try:
            return run_primary_sync(row, cm=cm, sf=sf)
        finally:
            cm.transport.close()
            sf.session.close()

    def sync_all(self, *, attempts: int = 1) -> dict[str, SyncRun]:
        """Sync every client; with attempts > 1, again (as the scheduler would) until a run succeeds cleanly.
        Returns the last run of each client, by Campaign Monitor client id."""
        runs: dict[str, SyncRun] = {}
        for row in self.rows:
            history = []
            for _ in range(attempts):
                run = self.sync(row)
                history.append(f"{run.status} failed={run.failed} {run.message[:200]}")
                if succeeded(run):
                    break
            runs[row.cm_client_id] = run
            self.history[row.cm_client_id] = history
            assert succeeded(run), f"client {row.cm_client_id} never synced cleanly: {history}"
        return runs


def succeeded(run: SyncRun) -> bool:
    return run.status == SyncRun.Status.SUCCEEDED and not run.failed


def enrich(world: World) -> None:
    """Give the latest campaign what a tiny world may lack, shortly before the history ends: a spam complaint,
    an unsubscribe, a bounce, an open recorded twice in one second (once with the address in capitals: one row), and two
    clicks of one person in one second on different links (two rows). Done before the emulator serves it."""

    def sent(c):
        return local_to_utc(c.sent_date, world.clients[c.client_id].time_zone)

    campaign = max(world.campaigns.values(), key=sent)
    zone = world.clients[campaign.client_id].time_zone
    when = max(
        utc_to_local(world.generated_until - timedelta(hours=1), zone), campaign.sent_date + timedelta(minutes=5)
    )
    (spammer, spam_list), (leaver, leave_list), (reader, read_list), (gone, gone_list) = campaign.recipients[:4]
    second_ = timedelta(seconds=1)
    additions = {
        "spam": [TrackingEvent(date=when, email=spammer, list_id=spam_list)],
        "unsubscribes": [
            TrackingEvent(date=when + second_, email=leaver, list_id=leave_list, ip_address="203.0.113.7")
        ],
        "bounces": [TrackingEvent(date=when, email=gone, list_id=gone_list, bounce_type="Soft", reason="Mailbox full")],
        "opens": [
            TrackingEvent(date=when + 2 * second_, email=reader, list_id=read_list, ip_address="203.0.113.8"),
            TrackingEvent(date=when + 2 * second_, email=reader.upper(), list_id=read_list, ip_address="203.0.113.8"),
        ],
        "clicks": [
            TrackingEvent(date=when + 3 * second_, email=reader, list_id=read_list, url="https://example.com/a"),
            TrackingEvent(date=when + 3 * second_, email=reader, list_id=read_list, url="https://example.com/b"),
        ],
    }
    for kind, events in additions.items():
        merged = getattr(campaign, kind) + events
        merged.sort(key=lambda e: e.date)
        setattr(campaign, kind, merged)


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return generate_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def make_pair(tls) -> Iterator[Callable[..., Pair]]:
    """Fresh emulators (a new world and org of the same size and seed) and cmsf's rows for the world's clients;
    `age`: the world's history ends that much (and three hours) before now (or `now`), for /admin/advance to fill in."""
    with contextlib.ExitStack() as stack:

        def make(*, age: timedelta = timedelta(0), now: datetime | None = None) -> Pair:
            world = generate_world(SIZE, SEED, (now or datetime.now(UTC)) - age)
            enrich(world)
            org = generate_org(SIZE, SEED)
            cm_base = stack.enter_context(serve_in_thread(create_cm_app(world, "none"), tls=tls))
            sf_base = stack.enter_context(serve_in_thread(create_sf_app(org, "none"), tls=tls))
            ca = str(tls.ca_file)
            pair = Pair(world, org, cm_base, sf_base, ca, CmApi(cm_base, world.account_api_key, ca), SfApi(sf_base, ca))
            for client in pair.cm.get("clients.json"):
                details = pair.cm.get(f"clients/{client['ClientID']}.json")["BasicDetails"]
                pair.rows.append(
                    CampaignMonitorClient.objects.create(
                        cm_client_id=client["ClientID"], name=client["Name"], time_zone=details["TimeZone"]
                    )
                )
            return pair

        yield make


def configure(*, days_to_keep: int = 180, email_types: Iterable[str] = ALL_TYPES, suppression: bool = True) -> None:
    tracking = TrackingHistorySettings.load()
    tracking.days_to_keep = days_to_keep
    tracking.email_types = list(email_types)
    tracking.save()
    options = GeneralOptions.load()
    options.sync_suppression_list = suppression
    options.save()


# ------------------------------------------------------------------------- what Campaign Monitor implies


@dataclass
class Directory:
    """Salesforce's contacts and unconverted leads by lower-case email: the Ids that may be linked (the most
    recently modified; several only when LastModifiedDate ties)."""

    contacts: dict[str, set[str]]
    leads: dict[str, set[str]]

    @classmethod
    def read(cls, sf: SfApi) -> Directory:
        contacts = sf.query("SELECT Id, Email, LastModifiedDate FROM Contact")
        leads = [r for r in sf.query("SELECT Id, Email, LastModifiedDate, IsConverted FROM Lead")
                 if not r["IsConverted"]]  # fmt: skip
        return cls(cls._newest(contacts), cls._newest(leads))

    @staticmethod
    def _newest(records: list[dict[str, Any]]) -> dict[str, set[str]]:
        by_email: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for record in records:
            if record.get("Email"):
                by_email[record["Email"].strip().lower()].append(record)
        newest = {}
        for email, found in by_email.items():
            top = max(sf_utc(r["LastModifiedDate"]) for r in found)
            newest[email] = {r["Id"] for r in found if sf_utc(r["LastModifiedDate"]) == top}
        return newest

    def link(self, email: str) -> tuple[frozenset[str], frozenset[str]]:
        """The acceptable Contact__c and Lead__c values ({None} when there is no such record)."""
        key = email.strip().lower()
        return frozenset(self.contacts.get(key, {None})), frozenset(self.leads.get(key, {None}))


@dataclass
class Expected:
    clients: dict[str, dict[str, Any]] = field(default_factory=dict)
    lists: dict[str, dict[str, Any]] = field(default_factory=dict)
    subscribers: dict[str, dict[str, Any]] = field(default_factory=dict)  # Member_Key__c -> fields
    campaigns: dict[str, dict[str, Any]] = field(default_factory=dict)
    activities: dict[tuple, dict[str, Any]] = field(default_factory=dict)  # identity -> fields
    suppressions: dict[str, dict[str, Any]] = field(default_factory=dict)  # client:email -> fields
    raw_subscribers: dict[str, dict[str, Any]] = field(default_factory=dict)  # Member_Key__c -> API item
    raw_summaries: dict[str, dict[str, Any]] = field(default_factory=dict)


def name_of(text: str) -> Any:
    """A record Name: the text itself, or (over Salesforce's 80 characters) any cut of it."""
    return text if len(text) <= 80 else Prefix(text[:70])


class Prefix(str):
    """An expectation met by any value that starts with it."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and other.startswith(str(self))

    __hash__ = str.__hash__


def cm_events(cm: CmApi, campaign_id: str, kind: str, zone: str, since: str = "") -> Iterator[dict[str, Any]]:
    params = {"orderfield": "date", "orderdirection": "asc"}
    if since:
        params["date"] = since
    for item in cm.paged(f"campaigns/{campaign_id}/{kind}.json", **params):
        yield {**item, "utc": cm_utc(item["Date"], zone)}


def expected_state(
    pair: Pair,
    cutoffs: dict[str, datetime],
    *,
    email_types: Iterable[str] = ALL_TYPES,
    suppression: bool = True,
) -> Expected:
    """What Salesforce must hold after a sync of every client, each with its own cutoff (run start less
    days to keep), read from Campaign Monitor's API and Salesforce's contacts and leads."""
    cm, types = pair.cm, set(email_types)
    directory = Directory.read(pair.sf)
    out = Expected()
    for client in cm.get("clients.json"):
        client_id = client["ClientID"]
        details = cm.get(f"clients/{client_id}.json")["BasicDetails"]
        zone, cutoff = details["TimeZone"], cutoffs[client_id]
        out.clients[client_id] = {"Name": details["CompanyName"], "Time_Zone__c": zone}
        for summary in cm.get(f"clients/{client_id}/lists.json"):
            list_id = summary["ListID"]
            title = cm.get(f"lists/{list_id}.json")["Title"]
            stats = cm.get(f"lists/{list_id}/stats.json")
            out.lists[list_id] = {"Name": name_of(title), "Client": client_id,
                                  **{f: stats[k] for f, k in LIST_STATS.items()}}  # fmt: skip
            for state in STATES:
                for item in cm.paged(f"lists/{list_id}/{state}.json", orderfield="date", orderdirection="asc"):
                    key = f"{list_id}:{item['EmailAddress'].lower()}"
                    assert key not in out.subscribers, f"{key} is in two states"
                    contact, lead = directory.link(item["EmailAddress"])
                    out.subscribers[key] = {
                        "State__c": item["State"], "Email__c": item["EmailAddress"], "List": list_id,
                        "Contact__c": contact, "Lead__c": lead,
                    }  # fmt: skip
                    out.raw_subscribers[key] = item
        campaigns = list(cm.paged(f"clients/{client_id}/campaigns.json", orderdirection="asc"))
        for campaign in campaigns:
            campaign_id = campaign["CampaignID"]
            summary = cm.get(f"campaigns/{campaign_id}/summary.json")
            sent = cm_utc(campaign["SentDate"], zone)
            out.raw_summaries[campaign_id] = summary
            out.campaigns[campaign_id] = {
                "Name": name_of(campaign["Name"]), "Client": client_id, "Sent_Date__c": second(sent),
                **{f: summary[k] for f, k in SUMMARY_FIELDS.items()},
            }  # fmt: skip
            if "sent" in types and sent >= cutoff:
                for recipient in cm.paged(f"campaigns/{campaign_id}/recipients.json"):
                    email = recipient["EmailAddress"]
                    identity = ("Sent", campaign_id, email.lower(), second(sent), None)
                    out.activities[identity] = {"List": recipient["ListID"], "links": directory.link(email)}
            for kind, (email_type, label) in KINDS.items():
                if email_type not in types:
                    continue
                for event in cm_events(cm, campaign_id, kind, zone):
                    if event["utc"] < cutoff:
                        continue
                    email = event["EmailAddress"]
                    identity = (label, campaign_id, email.lower(), second(event["utc"]), event.get("URL") or None)
                    out.activities[identity] = {"List": event["ListID"], "links": directory.link(email)}
        if suppression:
            for item in cm.paged(f"clients/{client_id}/suppressionlist.json", orderfield="date", orderdirection="asc"):
                email = item["EmailAddress"]
                contact, lead = directory.link(email)
                out.suppressions[f"{client_id}:{email.lower()}"] = {
                    "Client": client_id, "Email__c": email, "Contact__c": contact, "Lead__c": lead,
                }  # fmt: skip
    return out


# ------------------------------------------------------------------------------------ what Salesforce holds


@dataclass
class Actual:
    clients: dict[str, dict[str, Any]]
    lists: dict[str, dict[str, Any]]
    subscribers: dict[str, dict[str, Any]]
    campaigns: dict[str, dict[str, Any]]
    activities: dict[tuple, dict[str, Any]]
    activity_rows: list[dict[str, Any]]
    suppressions: dict[str, dict[str, Any]]
    modified: dict[str, dict[str, str]]  # object -> Id -> LastModifiedDate


def _number(value: Any) -> int | None:
    return None if value is None else int(value)


def _parent(record: dict[str, Any], relationship: str, field_name: str) -> str | None:
    parent = record.get(relationship)
    return parent.get(field_name) if parent else None


def salesforce_state(sf: SfApi) -> Actual:
    modified: dict[str, dict[str, str]] = {}

    def read(obj: str, fields: str) -> list[dict[str, Any]]:
        records = sf.query(f"SELECT Id, LastModifiedDate, {fields} FROM {obj}")
        modified[obj] = {r["Id"]: r["LastModifiedDate"] for r in records}
        return records

    clients = {
        r["Client_Id__c"]: {"Name": r["Name"], "Time_Zone__c": r["Time_Zone__c"]}
        for r in read("CMSF_Client__c", "Client_Id__c, Name, Time_Zone__c")
    }
    lists = {
        r["List_Id__c"]: {"Name": r["Name"], "Client": _parent(r, "Client__r", "Client_Id__c"),
                          **{f: _number(r[f]) for f in LIST_STATS}}
        for r in read("CMSF_List__c", f"List_Id__c, Name, Client__r.Client_Id__c, {', '.join(LIST_STATS)}")
    }  # fmt: skip
    subscribers: dict[str, dict[str, Any]] = {}
    for r in read("CMSF_Subscriber__c", "Member_Key__c, State__c, Email__c, List__r.List_Id__c, Contact__c, Lead__c"):
        assert r["Member_Key__c"] not in subscribers, f"two CMSF_Subscriber__c rows for {r['Member_Key__c']}"
        subscribers[r["Member_Key__c"]] = {
            "State__c": r["State__c"], "Email__c": r["Email__c"], "List": _parent(r, "List__r", "List_Id__c"),
            "Contact__c": r["Contact__c"], "Lead__c": r["Lead__c"],
        }  # fmt: skip
    campaigns = {
        r["Campaign_Id__c"]: {
            "Name": r["Name"],
            "Client": _parent(r, "Client__r", "Client_Id__c"),
            "Sent_Date__c": second(sf_utc(r["Sent_Date__c"])) if r["Sent_Date__c"] else None,
            **{f: _number(r[f]) for f in SUMMARY_FIELDS},
        }
        for r in read(
            "CMSF_Campaign__c",
            f"Campaign_Id__c, Name, Client__r.Client_Id__c, Sent_Date__c, {', '.join(SUMMARY_FIELDS)}",
        )
    }
    rows = read(
        "CMSF_Email_Activity__c",
        "Activity_Key__c, Activity__c, Activity_Date__c, Email__c, URL__c, Campaign__r.Campaign_Id__c, "
        "List__r.List_Id__c, Contact__c, Lead__c",
    )
    activities: dict[tuple, dict[str, Any]] = {}
    duplicates = []
    for r in rows:
        identity = (
            r["Activity__c"],
            _parent(r, "Campaign__r", "Campaign_Id__c"),
            (r["Email__c"] or "").lower(),
            second(sf_utc(r["Activity_Date__c"])) if r["Activity_Date__c"] else None,
            r["URL__c"] or None,
        )
        if identity in activities:
            duplicates.append(identity)
        activities[identity] = {"List": _parent(r, "List__r", "List_Id__c"), "Contact__c": r["Contact__c"],
                                "Lead__c": r["Lead__c"]}  # fmt: skip
    assert not duplicates, f"{len(duplicates)} activities are in Salesforce twice, e.g. {duplicates[:3]}"
    suppressions = {
        r["Suppression_Key__c"]: {
            "Client": _parent(r, "Client__r", "Client_Id__c"), "Email__c": r["Email__c"],
            "Contact__c": r["Contact__c"], "Lead__c": r["Lead__c"],
        }
        for r in read("CMSF_Suppression__c", "Suppression_Key__c, Client__r.Client_Id__c, Email__c, Contact__c, Lead__c")
    }  # fmt: skip
    return Actual(clients, lists, subscribers, campaigns, activities, rows, suppressions, modified)


# ------------------------------------------------------------------------------------------ comparison


def _matches(expected: Any, actual: Any) -> bool:
    if isinstance(expected, frozenset):  # a set of acceptable values
        return actual in expected
    return expected == actual


def differences(name: str, expected: dict, actual: dict, show: int = 5) -> list[str]:
    """Readable differences between two keyed collections: missing, unexpected and differing keys."""
    missing = [k for k in expected if k not in actual]
    extra = [k for k in actual if k not in expected]
    differing = []
    for key in expected.keys() & actual.keys():
        want, got = expected[key], actual[key]
        bad = {f: (want[f], got.get(f)) for f in want if not _matches(want[f], got.get(f))}
        if bad:
            differing.append((key, bad))
    out = []
    if missing:
        out.append(f"{name}: {len(missing)} of {len(expected)} missing from Salesforce, e.g. {sorted(missing)[:show]}")
    if extra:
        out.append(
            f"{name}: {len(extra)} in Salesforce that Campaign Monitor does not imply, e.g. {sorted(extra)[:show]}"
        )
    if differing:
        sample = sorted(differing, key=lambda d: str(d[0]))[:show]
        out.append(f"{name}: {len(differing)} differ (expected, got), e.g. {sample}")
    return out


def activity_expectations(expected: Expected) -> dict[tuple, dict[str, Any]]:
    return {
        identity: {"List": want["List"], "Contact__c": want["links"][0], "Lead__c": want["links"][1]}
        for identity, want in expected.activities.items()
    }


def assert_salesforce_holds(expected: Expected, actual: Actual) -> None:
    problems = [
        *differences("CMSF_Client__c", expected.clients, actual.clients),
        *differences("CMSF_List__c", expected.lists, actual.lists),
        *differences("CMSF_Subscriber__c", expected.subscribers, actual.subscribers),
        *differences("CMSF_Campaign__c", expected.campaigns, actual.campaigns),
        *differences("CMSF_Email_Activity__c", activity_expectations(expected), actual.activities),
        *differences("CMSF_Suppression__c", expected.suppressions, actual.suppressions),
    ]
    want = Counter(identity[0] for identity in expected.activities)
    got = Counter(r["Activity__c"] for r in actual.activity_rows)
    if want != got:
        problems.append(f"CMSF_Email_Activity__c per Activity__c: expected {dict(want)}, got {dict(got)}")
    assert not problems, "Salesforce does not hold what Campaign Monitor implies:\n" + "\n".join(problems)


def cutoffs_of(runs: dict[str, SyncRun], days_to_keep: int) -> dict[str, datetime]:
    """Days to keep counts whole UTC days: today and the `days_to_keep` days before it; 0 keeps nothing."""
    if days_to_keep <= 0:
        return {client_id: datetime.max.replace(tzinfo=UTC) for client_id in runs}
    return {
        client_id: run.started_at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        - timedelta(days=days_to_keep)
        for client_id, run in runs.items()
    }


# ---------------------------------------------------------------------------------------------- tests


def test_salesforce_holds_exactly_what_campaign_monitor_implies(make_pair):
    configure(suppression=True)
    pair = make_pair()
    runs = pair.sync_all()
    expected = expected_state(pair, cutoffs_of(runs, 180))
    assert_salesforce_holds(expected, salesforce_state(pair.sf))
    # The world exercised every kind of row, links of both kinds and the collapse of identical events.
    assert {label for label, *_ in expected.activities} == {"Sent", *(label for _, label in KINDS.values())}
    assert expected.suppressions and any(s["Contact__c"] != {None} for s in expected.subscribers.values())
    assert any(s["Lead__c"] != {None} for s in expected.subscribers.values())
    assert any(s["Contact__c"] != {None} and s["Lead__c"] != {None} for s in expected.subscribers.values())
    assert sum(r["Recipients"] for r in expected.raw_summaries.values()) > 0


def test_only_the_chosen_email_types_within_days_to_keep_then_retention_removes_them(make_pair):
    chosen = ["opened", "clicked"]
    configure(days_to_keep=30, email_types=chosen, suppression=False)
    pair = make_pair()
    runs = pair.sync_all()
    expected = expected_state(pair, cutoffs_of(runs, 30), email_types=chosen, suppression=False)
    actual = salesforce_state(pair.sf)
    assert_salesforce_holds(expected, actual)
    assert set(Counter(r["Activity__c"] for r in actual.activity_rows)) == {"Opened", "Clicked"}
    everything = expected_state(pair, cutoffs_of(runs, 3650))  # the filters had something to leave out
    assert len(everything.activities) > len(expected.activities)
    assert {identity[0] for identity in set(everything.activities) - set(expected.activities)} >= {"Sent", "Opened"}

    configure(days_to_keep=0, email_types=chosen, suppression=False)
    runs = pair.sync_all()
    left = salesforce_state(pair.sf)
    assert left.activity_rows == [], f"{len(left.activity_rows)} CMSF_Email_Activity__c rows survived days to keep 0"
    assert sum(run.deleted.get("CMSF_Email_Activity__c", 0) for run in runs.values()) == len(actual.activity_rows)
    assert left.subscribers == actual.subscribers and left.campaigns == actual.campaigns  # only activity goes


def test_retention_reads_the_ledger_again_only_when_its_boundary_moves(make_pair):
    """Nothing older than the boundary is ever written, so a retention that removed everything past a boundary
    needs no second look until the boundary moves (once a day) or the tracking settings change."""
    configure(days_to_keep=30, suppression=False)
    pair = make_pair()
    runs = pair.sync_all()
    boundary = Cursor.objects.filter(stream=RETENTION).values_list("position", flat=True).first()
    assert boundary == keep_from(next(iter(runs.values())).started_at, 30)
    entry = RecordMap.objects.filter(sobject="CMSF_Email_Activity__c").order_by("pk").first()
    assert entry is not None
    RecordMap.objects.filter(pk=entry.pk).update(activity_date=boundary - timedelta(days=1))  # as if it crossed

    pair.sync_all()
    assert RecordMap.objects.filter(pk=entry.pk).exists(), "the boundary did not move: the ledger is not read"

    Cursor.objects.filter(stream=RETENTION).update(position=boundary - timedelta(days=1))  # yesterday's boundary
    runs = pair.sync_all()
    assert not RecordMap.objects.filter(pk=entry.pk).exists()
    assert sum(run.deleted.get("CMSF_Email_Activity__c", 0) for run in runs.values()) == 1
    assert entry.salesforce_id not in {r["Id"] for r in salesforce_state(pair.sf).activity_rows}


def test_a_second_sync_with_nothing_new_writes_nothing(make_pair):
    configure(suppression=True)
    pair = make_pair()
    pair.sync_all()
    before, calls_before = salesforce_state(pair.sf), pair.sf.write_calls()
    time.sleep(0.01)  # LastModifiedDate is to the millisecond: a rewrite would show
    runs = pair.sync_all()
    after, calls_after = salesforce_state(pair.sf), pair.sf.write_calls()
    assert {c: (r.written, r.deleted, r.failed) for c, r in runs.items()} == {c: ({}, {}, {}) for c in runs}
    assert calls_after == calls_before, "the second sync called Salesforce's write APIs"
    changed = {
        obj: [i for i in after.modified[obj] if after.modified[obj][i] != before.modified[obj].get(i)]
        for obj in OBJECTS
    }
    assert not any(changed.values()), f"records rewritten: { {o: ids[:3] for o, ids in changed.items() if ids} }"


def new_activity(pair: Pair, since: datetime, cutoffs: dict[str, datetime]) -> set[tuple]:
    """The identities of the tracking events Campaign Monitor reports after `since` (strictly), within the
    window, and the recipients of campaigns sent after it."""
    cm, found = pair.cm, set()
    for client in cm.get("clients.json"):
        client_id = client["ClientID"]
        zone = cm.get(f"clients/{client_id}.json")["BasicDetails"]["TimeZone"]
        since_local = since.astimezone(ZoneInfo(ZONES[zone])).strftime("%Y-%m-%d %H:%M")
        for campaign in cm.paged(f"clients/{client_id}/campaigns.json", orderdirection="asc"):
            campaign_id, sent = campaign["CampaignID"], cm_utc(campaign["SentDate"], zone)
            if sent > since and sent >= cutoffs[client_id]:
                for recipient in cm.paged(f"campaigns/{campaign_id}/recipients.json"):
                    found.add(("Sent", campaign_id, recipient["EmailAddress"].lower(), second(sent), None))
            for kind, (_, label) in KINDS.items():
                for event in cm_events(cm, campaign_id, kind, zone, since=since_local):
                    if event["utc"] > since and event["utc"] >= cutoffs[client_id]:
                        url = event.get("URL") or None
                        found.add((label, campaign_id, event["EmailAddress"].lower(), second(event["utc"]), url))
    return found


def keyed_ids(sf: SfApi, obj: str, key: str) -> dict[str, tuple[str, str]]:
    return {
        r[key]: (r["Id"], r["LastModifiedDate"]) for r in sf.query(f"SELECT Id, LastModifiedDate, {key} FROM {obj}")
    }


def rewritten(before: dict[str, tuple[str, str]], after: dict[str, tuple[str, str]]) -> set[str]:
    return {key for key, stamp in after.items() if before.get(key) != stamp}


EXTERNAL_KEYS = {
    "CMSF_Client__c": "Client_Id__c",
    "CMSF_List__c": "List_Id__c",
    "CMSF_Subscriber__c": "Member_Key__c",
    "CMSF_Campaign__c": "Campaign_Id__c",
    "CMSF_Email_Activity__c": "Activity_Key__c",
    "CMSF_Suppression__c": "Suppression_Key__c",
}


def test_after_campaign_monitor_moves_on_the_next_sync_writes_only_what_is_new(make_pair):
    configure(suppression=True)
    pair = make_pair(age=timedelta(days=10))  # ten days for the advance: opens, clicks, sign-ups, bounces...
    first = pair.sync_all()
    old = expected_state(pair, cutoffs_of(first, 180))
    before_state = salesforce_state(pair.sf)
    before = {obj: keyed_ids(pair.sf, obj, key) for obj, key in EXTERNAL_KEYS.items()}
    generated_until = pair.world.generated_until
    advanced = pair.cm.admin("POST", "/advance", json={"until": datetime.now(UTC).isoformat()})
    assert sum(advanced[k] for k in ("opens", "clicks", "subscribers")) > 0, advanced  # something happened

    second_runs = pair.sync_all()
    cutoffs = cutoffs_of(second_runs, 180)
    new = expected_state(pair, cutoffs)
    after_state = salesforce_state(pair.sf)
    assert_salesforce_holds(new, after_state)

    # Tracking history: exactly the events Campaign Monitor reports since the old end of its history.
    fresh = new_activity(pair, generated_until, cutoffs)
    added = set(after_state.activities) - set(before_state.activities)
    assert added == fresh, (
        f"new CMSF_Email_Activity__c rows: {len(added)}, new events within the window: {len(fresh)}; "
        f"rows without an event: {sorted(added - fresh)[:5]}; events without a row: {sorted(fresh - added)[:5]}"
    )
    written = Counter()
    for run in second_runs.values():
        written.update(run.written)
    assert written["CMSF_Email_Activity__c"] == len(fresh)

    # Nothing else is rewritten but what changed in Campaign Monitor.
    after = {obj: keyed_ids(pair.sf, obj, key) for obj, key in EXTERNAL_KEYS.items()}
    touched = {obj: rewritten(before[obj], after[obj]) for obj in EXTERNAL_KEYS}
    changed_subscribers = {k for k, item in new.raw_subscribers.items() if old.raw_subscribers.get(k) != item}
    changed_campaigns = {k for k, row in new.campaigns.items() if old.campaigns.get(k) != row}
    changed_lists = {k for k, row in new.lists.items() if old.lists.get(k) != row}
    new_suppressions = set(new.suppressions) - set(old.suppressions)
    synced_clients = {c for c, run in second_runs.items() if run.written or run.deleted}  # Last_Synced__c stamped
    problems = []
    for obj, want in (
        ("CMSF_Subscriber__c", changed_subscribers),
        ("CMSF_Campaign__c", changed_campaigns),
        ("CMSF_List__c", changed_lists),
        ("CMSF_Suppression__c", new_suppressions),
        ("CMSF_Client__c", synced_clients),
    ):
        if touched[obj] != want:
            problems.append(
                f"{obj}: rewritten {len(touched[obj])}, changed in Campaign Monitor {len(want)}; "
                f"rewritten but unchanged {sorted(touched[obj] - want)[:5]}, changed but not rewritten "
                f"{sorted(want - touched[obj])[:5]}"
            )
        if obj != "CMSF_Client__c" and written[obj] != len(want):
            problems.append(f"{obj}: run.written says {written[obj]}, {len(want)} changed")
    old_activity_keys = set(before["CMSF_Email_Activity__c"])
    retouched = touched["CMSF_Email_Activity__c"] & old_activity_keys
    if retouched:
        problems.append(f"CMSF_Email_Activity__c: {len(retouched)} old rows rewritten, e.g. {sorted(retouched)[:3]}")
    assert changed_subscribers and changed_campaigns, "the advance changed no subscriber or campaign"
    assert not problems, "the sync after the advance:\n" + "\n".join(problems)


def test_under_flaky_apis_the_sync_converges_to_the_same_contents(make_pair):
    configure(suppression=True)
    pair = make_pair()
    assert pair.cm.admin("POST", "/faults", json={"profile": "flaky"})["profile"] == "flaky"
    rates = {"lock": 0.05, "unavailable": 0.05, "dropped": 0.02}
    assert pair.sf.admin("POST", "/faults", json={"profile": "flaky", "rates": rates})["rates"] == rates
    try:
        runs = pair.sync_all(attempts=5)
    finally:
        pair.cm.admin("POST", "/faults", json={"profile": "none"})
        pair.sf.admin("POST", "/faults", json={"profile": "none"})
    expected = expected_state(pair, cutoffs_of(runs, 180))
    assert_salesforce_holds(expected, salesforce_state(pair.sf))


# -- beyond the five scenarios: the same rules when the settings or Campaign Monitor change in other ways ----


@pytest.mark.parametrize(
    ("days_to_keep", "email_types"),
    [(0, ALL_TYPES), (180, ["sent"])],
    ids=["no-tracking-history", "sent-rows-only"],
)
def test_campaign_statistics_follow_the_summary_whatever_tracking_history_is_kept(make_pair, days_to_keep, email_types):
    """Campaign statistics are the campaign summary's, whether or not the opens and clicks behind them are stored."""
    configure(days_to_keep=days_to_keep, email_types=email_types, suppression=False)
    pair = make_pair(age=timedelta(days=10))
    first = pair.sync_all()
    before = expected_state(pair, cutoffs_of(first, days_to_keep), email_types=email_types, suppression=False)
    pair.cm.admin("POST", "/advance", json={"until": datetime.now(UTC).isoformat()})
    runs = pair.sync_all()
    expected = expected_state(pair, cutoffs_of(runs, days_to_keep), email_types=email_types, suppression=False)
    moved = {k for k, row in expected.campaigns.items() if k in before.campaigns and before.campaigns[k] != row}
    assert moved, "the advance changed no campaign's summary"
    assert_salesforce_holds(expected, salesforce_state(pair.sf))


@pytest.mark.parametrize(
    ("first", "then"),
    [
        ((365, ALL_TYPES), [(1, ALL_TYPES), (365, ALL_TYPES)]),
        ((180, ALL_TYPES), [(180, ["sent", "clicked"])]),
        ((180, ["sent"]), [(180, ALL_TYPES)]),
    ],
    ids=["days-to-keep-lowered-then-raised", "email-types-dropped", "email-types-added"],
)
def test_after_the_tracking_settings_change_salesforce_holds_what_the_new_settings_imply(make_pair, first, then):
    """What a sync stores follows the settings it runs with, whatever earlier syncs stored."""
    configure(days_to_keep=first[0], email_types=first[1], suppression=False)
    pair = make_pair()
    pair.sync_all()
    for days_to_keep, email_types in then:
        configure(days_to_keep=days_to_keep, email_types=email_types, suppression=False)
        runs = pair.sync_all()
    expected = expected_state(pair, cutoffs_of(runs, days_to_keep), email_types=email_types, suppression=False)
    assert_salesforce_holds(expected, salesforce_state(pair.sf))


def test_an_address_taken_off_the_suppression_list_leaves_salesforce_too(make_pair):
    configure(suppression=True)
    pair = make_pair()
    pair.sync_all()
    client = pair.rows[0].cm_client_id
    email = next(pair.cm.paged(f"clients/{client}/suppressionlist.json"))["EmailAddress"]
    response = pair.cm.session.put(f"{pair.cm.root}/clients/{client}/unsuppress.json", params={"email": email},
                                   timeout=60)  # fmt: skip
    assert response.status_code == 200, response.text
    runs = pair.sync_all()
    expected = expected_state(pair, cutoffs_of(runs, 180))
    assert f"{client}:{email.lower()}" not in expected.suppressions
    assert_salesforce_holds(expected, salesforce_state(pair.sf))
