"""The Storage screen's figures: the records cmsf keeps in Salesforce and the storage they take, the org's data
storage, and a forecast of what a tracking-history choice will hold.

Salesforce counts most records as 2 KB of data storage, a Campaign as 8 KB and a Campaign Member as 1 KB. cmsf's
own objects are counted by Salesforce in one call; Campaigns and Campaign Members also hold the org's own records,
so cmsf's share of those is counted from its ledger, with no call. The forecast reads only the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import Count

from cmsf.connections import services as connections
from cmsf.connections.models import CampaignMonitorClient
from cmsf.maintenance.services import record_message
from cmsf.options.models import EmailActivity, TrackingHistorySettings
from cmsf.salesforce.adapter import SalesforceAdapter
from cmsf.salesforce.errors import SalesforceError
from cmsf.sync.models import RecordMap
from cmsf.sync.problems import JOB_OF_OBJECT
from cmsf.sync.transforms import ACTIVITY, CAMPAIGN, EMAIL_TYPE_OF_KIND

RECORD_KB = 2
KB_OF_OBJECT = {"Campaign": 8, "CampaignMember": 1}
CUSTOM_OBJECTS: tuple[str, ...] = tuple(JOB_OF_OBJECT)  # cmsf's CMSF_* objects
STANDARD_OBJECTS: tuple[str, ...] = ("Campaign", "CampaignMember")  # created or linked by cmsf, counted from the ledger
RECENT_DAYS = 30  # the window the forecast's daily volume is measured over
TRACKING_OBJECT = ACTIVITY.sobject
DEFAULT_ZONE = "(GMT) Coordinated Universal Time"  # as the sync reads a client that has no zone


def kb_of(sobject: str, records: int) -> int:
    return records * KB_OF_OBJECT.get(sobject, RECORD_KB)


@dataclass(frozen=True)
class ObjectStorage:
    sobject: str
    records: int
    kb_each: int
    source: str  # "Salesforce" (counted there) or "cmsf's ledger"

    @property
    def kb(self) -> int:
        return self.records * self.kb_each


@dataclass(frozen=True)
class RecordStorage:
    objects: list[ObjectStorage]

    @property
    def records(self) -> int:
        return sum(o.records for o in self.objects)

    @property
    def kb(self) -> int:
        return sum(o.kb for o in self.objects)

    @property
    def mb(self) -> float:
        return self.kb / 1024


@dataclass(frozen=True)
class OrgStorage:
    """The org's data storage (`DataStorageMB` of `/limits`) and cmsf's share of it."""

    max_mb: int
    remaining_mb: int
    cmsf_kb: int

    @property
    def used_mb(self) -> int:
        return max(0, self.max_mb - self.remaining_mb)

    @property
    def used_percent(self) -> float:
        return 100 * self.used_mb / self.max_mb if self.max_mb else 0.0

    @property
    def cmsf_mb(self) -> float:
        return self.cmsf_kb / 1024

    @property
    def cmsf_percent_of_max(self) -> float:
        return 100 * self.cmsf_mb / self.max_mb if self.max_mb else 0.0

    @property
    def cmsf_percent_of_used(self) -> float:
        return min(100.0, 100 * self.cmsf_mb / self.used_mb) if self.used_mb else 0.0


def ledger_counts(sobjects: tuple[str, ...]) -> dict[str, int]:
    """Rows of cmsf's ledger per Salesforce object: what cmsf created or linked there."""
    rows = RecordMap.objects.filter(sobject__in=sobjects).values("sobject").annotate(n=Count("pk"))
    found = {row["sobject"]: row["n"] for row in rows}
    return {sobject: found.get(sobject, 0) for sobject in sobjects}


def record_storage(sf: SalesforceAdapter) -> RecordStorage:
    """cmsf's records in Salesforce and their storage: one Salesforce call (the record counts of cmsf's
    objects), and the ledger for the Campaigns and Campaign Members cmsf created or linked."""
    counted = sf.record_counts(CUSTOM_OBJECTS)
    objects = [ObjectStorage(name, counted[name], RECORD_KB, "Salesforce") for name in CUSTOM_OBJECTS]
    for name, records in ledger_counts(STANDARD_OBJECTS).items():
        objects.append(ObjectStorage(name, records, KB_OF_OBJECT[name], "cmsf's ledger"))
    return RecordStorage(objects)


def org_storage(sf: SalesforceAdapter, *, cmsf_kb: int) -> OrgStorage | None:
    """The org's data storage from `/limits` (one call); None when the Salesforce user may not see it (the
    entry needs "Manage Users")."""
    entry = sf.limits().get("DataStorageMB")
    if not isinstance(entry, dict) or "Max" not in entry:
        return None
    return OrgStorage(max_mb=int(entry["Max"]), remaining_mb=int(entry.get("Remaining", 0)), cmsf_kb=cmsf_kb)


# -- the tracking-history forecast ------------------------------------------------------------------------


@dataclass(frozen=True)
class RecentVolume:
    """Tracking rows per email type over the recent window, from the ledger (what cmsf stored in Salesforce)."""

    days: int  # the window measured; 0 when no history is stored now (nothing to measure)
    rows: dict[str, int]  # email type -> rows dated within the window
    measured: frozenset[str]  # the email types stored now, whose volume is known

    def daily(self, email_type: str) -> float:
        return self.rows.get(email_type, 0) / self.days if self.days else 0.0


def recent_volume(now: datetime, settings: TrackingHistorySettings) -> RecentVolume:
    """The last RECENT_DAYS days (fewer when fewer are kept) of tracking history in the ledger, per email type.
    Only the types stored now are known; a type not stored has no rows to count."""
    days = min(RECENT_DAYS, settings.days_to_keep)
    measured = frozenset(t for t in EmailActivity.values if settings.stores(t)) if days else frozenset()
    rows = dict.fromkeys(EmailActivity.values, 0)
    if days:
        found = (
            RecordMap.objects.filter(sobject=TRACKING_OBJECT, activity_date__gte=now - timedelta(days=days))
            .values("activity_kind")
            .annotate(n=Count("pk"))
        )
        for row in found:
            email_type = EMAIL_TYPE_OF_KIND.get(row["activity_kind"])
            if email_type is not None:
                rows[email_type] += row["n"]
    return RecentVolume(days=days, rows=rows, measured=measured)


@dataclass(frozen=True)
class TypeForecast:
    email_type: str
    label: str
    daily: float
    rows: int
    known: bool  # False: the type is not stored now, so its volume is not known

    @property
    def kb(self) -> int:
        return self.rows * RECORD_KB


@dataclass(frozen=True)
class Forecast:
    days_to_keep: int
    email_types: list[str]
    types: list[TypeForecast]
    stored_rows: int  # tracking rows cmsf holds in Salesforce now
    free_plan: bool = False
    unknown: list[str] = field(default_factory=list)  # labels of chosen types whose volume is not known

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.types)

    @property
    def kb(self) -> int:
        return self.rows * RECORD_KB

    @property
    def mb(self) -> float:
        return self.kb / 1024

    @property
    def stored_kb(self) -> int:
        return self.stored_rows * RECORD_KB

    @property
    def change_rows(self) -> int:
        return self.rows - self.stored_rows

    @property
    def change_mb(self) -> float:
        return (self.kb - self.stored_kb) / 1024

    @property
    def freed_rows(self) -> int:
        return max(0, -self.change_rows)

    @property
    def freed_mb(self) -> float:
        return max(0.0, -self.change_mb)


def forecast(*, days_to_keep: int, email_types: list[str], volume: RecentVolume, free_plan: bool = False) -> Forecast:
    """The tracking rows (and their storage) a choice holds at the recent daily volume: each chosen type's
    daily rows times the days kept. Nothing is held with 0 days, or on the Free plan."""
    labels = dict(EmailActivity.choices)
    keeps = days_to_keep if not free_plan else 0
    types = [
        TypeForecast(
            email_type=t,
            label=labels[t],
            daily=volume.daily(t),
            rows=round(volume.daily(t) * keeps),
            known=t in volume.measured,
        )
        for t in EmailActivity.values
        if t in email_types
    ]
    stored = RecordMap.objects.filter(sobject=TRACKING_OBJECT).count()
    unknown = [t.label for t in types if not t.known] if keeps else []
    return Forecast(days_to_keep, list(email_types), types, stored, free_plan=free_plan, unknown=unknown)


# -- reading the storage figures -------------------------------------------------------------------------


@dataclass(frozen=True)
class StorageReading:
    records: RecordStorage | None
    org: OrgStorage | None
    not_connected: bool = False
    problem: str = ""  # what failed, and what to do; also a maintenance message


def read_storage() -> StorageReading:
    """cmsf's records in Salesforce and the org's data storage: two Salesforce calls. When Salesforce is not
    connected, or a call fails, the figures are None and the reason is given (a failure is also recorded as a
    maintenance message)."""
    try:
        sf = connections.salesforce()
    except connections.NotConnected:
        return StorageReading(None, None, not_connected=True)
    except SalesforceError as error:
        return _failed(error)
    try:
        records = record_storage(sf)
        org = org_storage(sf, cmsf_kb=records.kb)
    except SalesforceError as error:
        return _failed(error)
    finally:
        sf.session.close()
    return StorageReading(records, org)


def _failed(error: SalesforceError) -> StorageReading:
    message = "Salesforce did not give the storage figures."
    guidance = (
        "Try again in a few minutes. If it keeps failing, check the Salesforce connection under Sync Settings "
        "and that the Salesforce Sync User has the View Setup and Configuration and Manage Users permissions."
    )
    record_message(
        support_code="CMSF-STORAGE-READ", job="CMSF_STORAGE", message=message, details=str(error), guidance=guidance
    )
    return StorageReading(None, None, problem=f"{message} ({error}) {guidance}")


# -- the campaign filter's preview ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FilterPreview:
    """What a campaign filter (start date, tags) would leave out of what cmsf stores in Salesforce: the campaigns
    written as CMSF_Campaign__c that it no longer passes, and their tracking-history rows (counted from the ledger)."""

    campaigns: int
    rows: int
    kept: int  # stored campaigns the filter still passes


def campaign_filter_preview(start_date: date | None, tags: list[str]) -> FilterPreview:
    """The campaigns the filter passes are asked of Campaign Monitor as the sync asks (one paged read per selected
    client, with the same start date and tags); what is stored comes from the ledger, with no Salesforce call. Raises
    CampaignMonitorError or NotConnected when Campaign Monitor cannot be asked."""
    cm = connections.campaign_monitor()
    left_out: list[str] = []
    kept = 0
    for client in CampaignMonitorClient.objects.filter(selected=True, active=True).order_by("pk"):
        stored = set(RecordMap.objects.filter(client=client, sobject=CAMPAIGN.sobject).values_list("key", flat=True))
        if not stored:
            continue
        zone = client.time_zone or DEFAULT_ZONE
        passing = {c.campaign_id for c in cm.sent_campaigns(client.cm_client_id, zone=zone, sent_from=start_date,
                                                            tags=tags)}  # fmt: skip
        left_out += sorted(stored - passing)
        kept += len(stored & passing)
    rows = 0
    for cm_id in left_out:  # a range of the (object, key) index each: "<campaign id>:..."
        rows += RecordMap.objects.filter(sobject=ACTIVITY.sobject, key__gte=f"{cm_id}:", key__lt=f"{cm_id};").count()
    return FilterPreview(campaigns=len(left_out), rows=rows, kept=kept)
