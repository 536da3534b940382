"""The emulator's state (`Emulator`: the org, its schema and records, OAuth, limits, faults, query cursors,
bulk jobs, Metadata API deploys and the layouts they recorded, call counts).
The request and reply values the route modules work with are in `http`."""

from __future__ import annotations

import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cmsf_sandbox.salesforce.bulk import BulkJobs
from cmsf_sandbox.salesforce.faults import ApiAllowance, FaultInjector, FaultRates, RollingCounter
from cmsf_sandbox.salesforce.ids import make_id
from cmsf_sandbox.salesforce.listviews import ListViews
from cmsf_sandbox.salesforce.metadata import MetadataDeploys
from cmsf_sandbox.salesforce.oauth import DEFAULT_TTL, OAuthServer
from cmsf_sandbox.salesforce.reports import Reports
from cmsf_sandbox.salesforce.schema import Schema, build_schema
from cmsf_sandbox.salesforce.soql import Query
from cmsf_sandbox.salesforce.store import Store
from cmsf_sandbox.salesforce.store_tables import SETTLE_AFTER, WriteContext, settle_heap
from cmsf_sandbox.salesforce.values import format_datetime

MIN_VERSION = 31.0
MAX_VERSION = 67.0
DEFAULT_VERSION = "62.0"
MAX_CURSORS = 1000


def version_label(version: float) -> str:
    step = round(version) - 59  # v59.0 is Winter '24; three releases a year
    season = ("Winter", "Spring", "Summer")[step % 3]
    return f"{season} '{24 + step // 3:02d}"


def versions() -> list[dict[str, str]]:
    found = []
    number = MIN_VERSION
    while number <= MAX_VERSION:
        text = f"{number:.1f}"
        found.append({"label": version_label(number), "url": f"/services/data/v{text}", "version": text})
        number += 1.0
    return found


@dataclass
class Cursor:
    query: Query
    rows: list[dict[str, Any]]
    batch: int
    created: float


class Emulator:
    """Everything one emulated org holds. Handlers run one at a time under `lock`."""

    def __init__(
        self,
        org: Any,
        *,
        faults: str = "none",
        source: Path | None = None,
        login_base_url: str | None = None,
        instance_url: str | None = None,
        seed: int = 1,
        fault_rates: FaultRates | None = None,
        daily_api_requests: int = 100_000,
        data_storage_mb: int = 1024,
        token_ttl: float = DEFAULT_TTL,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.org = org
        self.clock = clock or (lambda: datetime.now(UTC))
        self.lock = threading.RLock()
        self.base_schema: Schema = build_schema(source)
        self.schema = self.base_schema.copy()
        self.store = Store(self.schema, storage_max_mb=data_storage_mb)
        self.list_views = ListViews()
        self.reports = Reports()
        self.sync_user_id: str = org.sync_user_id
        ctx = self.context(self.sync_user_id)
        self.load_warnings = self.store.load(org.records, ctx)
        if self.store.live("Organization", org.org_id) is None:
            self.store.load(
                {
                    "Organization": [
                        {
                            "Id": org.org_id,
                            "Name": org.org_name,
                            "IsSandbox": org.is_sandbox,
                            "InstanceName": org.instance_name,
                            "OrganizationType": "Enterprise Edition",
                            "TimeZoneSidKey": "America/Los_Angeles",
                        }
                    ]
                },
                ctx,
            )
        self.store.ensure_permission_sets(self.schema.permission_sets, self.sync_user_id, ctx)
        self.login_base_url = login_base_url.rstrip("/") if login_base_url else None
        self.instance_url = instance_url.rstrip("/") if instance_url else None
        oauth = org.oauth
        self.oauth = OAuthServer(
            org_id=org.org_id,
            client_id=oauth.client_id,
            client_secret=oauth.client_secret,
            redirect_uri=oauth.redirect_uri,
            certificate_pem=oauth.jwt_certificate_pem,
            users=self.store.tables["User"].rows,
            run_as=self.sync_user_id,
            ttl=token_ttl,
            login_base_url=self.login_base_url,
        )
        self.allowance = ApiAllowance(daily_api_requests)
        self.faults = FaultInjector(self.allowance, faults, seed, fault_rates)
        self.bulk_batches = RollingCounter()
        self.bulk_query_jobs = RollingCounter()
        self.cursors: OrderedDict[str, Cursor] = OrderedDict()
        self._cursor_seq = 0
        self.calls: Counter[str] = Counter()
        self.calls_since = self.clock()
        self.bulk = BulkJobs(self)
        self.metadata = MetadataDeploys(self)
        if sum(len(t.rows) for t in self.store.tables.values()) >= SETTLE_AFTER:
            settle_heap()

    # -------------------------------------------------------------------------------------------- time

    def now(self) -> datetime:
        return self.clock()

    def context(self, user_id: str) -> WriteContext:
        return WriteContext(user_id, format_datetime(self.clock()))

    # ------------------------------------------------------------------------------------------ tokens

    def issue_token(self, user_id: str | None = None) -> str:
        """A new access token for `user_id` (default: the sync user), as if it had logged in."""
        return self.oauth.issue(user_id or self.sync_user_id)

    def base_url(self, fallback: str) -> str:
        return self.instance_url or fallback

    def login_url(self, fallback: str) -> str:
        return self.login_base_url or fallback

    # ----------------------------------------------------------------------------------------- schema

    def remove_field(self, object_name: str, field_name: str) -> str:
        with self.lock:
            removed = self.schema.remove_field(object_name, field_name)
            self.store.schema = self.schema
            return removed

    def reset_schema(self) -> None:
        with self.lock:
            self.schema = self.base_schema.copy()
            self.store.schema = self.schema

    # ---------------------------------------------------------------------------------------- cursors

    def open_cursor(self, query: Query, rows: list[dict[str, Any]], batch: int) -> str:
        self._cursor_seq += 1
        locator = make_id("0r8", self._cursor_seq)
        self.cursors[locator] = Cursor(query, rows, batch, time.time())
        while len(self.cursors) > MAX_CURSORS:
            self.cursors.popitem(last=False)
        return locator

    # ----------------------------------------------------------------------------------------- limits

    def limits(self) -> dict[str, Any]:
        storage = self.store.storage()
        api_max = self.allowance.effective_max

        def entry(maximum: int, used: int = 0) -> dict[str, int]:
            return {"Max": maximum, "Remaining": max(0, maximum - used)}

        return {
            "ActiveScratchOrgs": entry(3),
            "AnalyticsExternalDataSizeMB": entry(40960),
            "ConcurrentAsyncGetReportInstances": entry(200),
            "ConcurrentEinsteinDataInsightsStoryCreation": entry(5),
            "ConcurrentEinsteinDiscoveryStoryCreation": entry(2),
            "ConcurrentSyncReportRuns": entry(20),
            "DailyAnalyticsDataflowJobExecutions": entry(60),
            "DailyAnalyticsUploadedFilesSizeMB": entry(51200),
            "DailyApiRequests": entry(api_max, self.allowance.used),
            "DailyAsyncApexExecutions": entry(250000),
            "DailyAsyncApexTests": entry(500),
            "DailyBulkApiBatches": entry(15000, self.bulk_batches.value()),
            "DailyBulkV2QueryFileStorageMB": entry(976562),
            "DailyBulkV2QueryJobs": entry(10000, self.bulk_query_jobs.value()),
            "DailyDeliveredPlatformEvents": entry(10000),
            "DailyDurableGenericStreamingApiEvents": entry(10000),
            "DailyDurableStreamingApiEvents": entry(10000),
            "DailyEinsteinDataInsightsStoryCreation": entry(1000),
            "DailyEinsteinDiscoveryPredictAPICalls": entry(50000),
            "DailyEinsteinDiscoveryPredictionsByCDC": entry(500000),
            "DailyEinsteinDiscoveryStoryCreation": entry(100),
            "DailyFunctionsApiCallLimit": entry(235000),
            "DailyGenericStreamingApiEvents": entry(10000),
            "DailyScratchOrgs": entry(6),
            "DailyStandardVolumePlatformEvents": entry(10000),
            "DailyStreamingApiEvents": entry(10000),
            "DailyWorkflowEmails": entry(100000),
            "DataStorageMB": {"Max": storage["max_mb"], "Remaining": storage["remaining_mb"]},
            "DurableStreamingApiConcurrentClients": entry(20),
            "FileStorageMB": entry(1024),
            "HourlyAsyncReportRuns": entry(1200),
            "HourlyDashboardRefreshes": entry(200),
            "HourlyDashboardResults": entry(5000),
            "HourlyDashboardStatuses": entry(999999999),
            "HourlyLongTermIdMapping": entry(100000),
            "HourlyManagedContentPublicRequests": entry(50000),
            "HourlyODataCallout": entry(10000),
            "HourlyPublishedPlatformEvents": entry(50000),
            "HourlyPublishedStandardVolumePlatformEvents": entry(50000),
            "HourlyShortTermIdMapping": entry(100000),
            "HourlySyncReportRuns": entry(500),
            "HourlyTimeBasedWorkflow": entry(1000),
            "MassEmail": entry(5000),
            "MonthlyPlatformEventsUsageEntitlement": entry(0),
            "Package2VersionCreates": entry(6),
            "Package2VersionCreatesWithoutValidation": entry(500),
            "PermissionSets": {
                **entry(1500, len(self.store.tables["PermissionSet"].rows)),
                "CreateCustom": entry(1000, len(self.store.tables["PermissionSet"].rows)),
            },
            "PrivateConnectOutboundCalloutHourlyLimitMB": entry(0),
            "SingleEmail": entry(5000),
            "StreamingApiConcurrentClients": entry(20),
        }
