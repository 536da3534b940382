"""`/metrics`: what cmsf did and how it stands, in Prometheus' text format (prometheus-client).

Off (404) unless `CMSF_METRICS_TOKEN` is set; then a scraper sends `Authorization: Bearer <token>` (401 otherwise,
compared in constant time). Public like `/healthz` (no session): the token is the credential. Each scrape builds
its own registry from the database, so the figures are those of every process, the queue's workers included:
the counters each run bumps as it ends (`maintenance.observe`), and what the database says now (the queue, the
webhook events, the last good sync of each client, the Salesforce API usage, the open maintenance messages).
docs/logging.md lists the families."""

from __future__ import annotations

import hmac
import math
from collections.abc import Iterator
from datetime import datetime

from django.conf import settings
from django.db.models import Count, Max, Sum
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from cmsf.audience.models import ImportRun
from cmsf.connections.models import CampaignMonitorClient, SalesforceOrg
from cmsf.maintenance import observe
from cmsf.maintenance.models import MaintenanceMessage
from cmsf.sync.models import SyncRun, WatchRun, WebhookEvent

# Counters kept by `maintenance.observe`: (its name, the family's name, help, the labels of its series).
COUNTERS = (
    (
        observe.RUNS,
        "cmsf_runs",
        "Runs ended, by kind (sync, watch, import, webhooks) and outcome.",
        ("kind", "outcome"),
    ),
    (observe.RUN_SECONDS, "cmsf_run_seconds", "Seconds spent in runs, by kind.", ("kind",)),
    (observe.RECORDS_READ, "cmsf_records_read", "Records read, by kind of run and object.", ("kind", "object")),
    (
        observe.RECORDS_WRITTEN,
        "cmsf_records_written",
        "Records written, by kind of run and object.",
        ("kind", "object"),
    ),
    (observe.API_CALLS, "cmsf_api_calls", "Calls to Campaign Monitor and Salesforce, by service.", ("service",)),
    (observe.RETRIES, "cmsf_api_retries", "Calls (or refused-for-now records) sent again, by service.", ("service",)),
    (observe.RATE_LIMIT_WAITS, "cmsf_rate_limit_waits", "Waits at a service's rate limit, by service.", ("service",)),
    (observe.REFUSED, "cmsf_refused_records", "Records refused, by support code.", ("support_code",)),
)


class CmsfCollector(Collector):
    """Every family, read from the database at scrape time."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or timezone.now()

    def collect(self) -> Iterator[Metric]:
        yield from self._counters()
        yield from self._queue()
        yield from self._webhooks()
        yield self._last_good_sync()
        yield from self._salesforce_api()
        yield self._maintenance()

    def _counters(self) -> Iterator[Metric]:
        for name, family, documentation, labels in COUNTERS:
            metric = CounterMetricFamily(family, documentation, labels=labels)
            for values, value, _ in observe.series(name):
                metric.add_metric([values.get(label, "") for label in labels], value)
            yield metric

    def _queue(self) -> Iterator[Metric]:
        queue = settings.HUEY
        yield GaugeMetricFamily("cmsf_queue_depth", "Tasks waiting on the queue for a worker.", queue.pending_count())
        yield GaugeMetricFamily(
            "cmsf_queue_scheduled", "Tasks on the queue scheduled for later (retries).", queue.scheduled_count()
        )

    def _webhooks(self) -> Iterator[Metric]:
        waiting = WebhookEvent.objects.filter(applied_at=None, quarantined_at=None)
        oldest = waiting.order_by("received_at").values_list("received_at", flat=True).first()
        yield GaugeMetricFamily(
            "cmsf_webhook_backlog", "Campaign Monitor webhook events received and not applied yet.", waiting.count()
        )
        yield GaugeMetricFamily(
            "cmsf_webhook_backlog_age_seconds",
            "Seconds the oldest waiting webhook event has waited (0 when none waits).",
            (self.now - oldest).total_seconds() if oldest else 0.0,
        )
        yield GaugeMetricFamily(
            "cmsf_webhook_quarantined",
            "Webhook events quarantined (kept 30 days for download).",
            WebhookEvent.objects.exclude(quarantined_at=None).count(),
        )

    def _last_good_sync(self) -> Metric:
        metric = GaugeMetricFamily(
            "cmsf_seconds_since_last_good_sync",
            "Seconds since the last sync of each selected client that ran to its end (+Inf: none yet).",
            labels=("client_id", "client"),
        )
        last = dict(
            SyncRun.objects.filter(status__in=SyncRun.COMPLETED, dry_run=False)
            .values("client")
            .annotate(last=Max("finished_at"))
            .values_list("client", "last")
        )
        for client in CampaignMonitorClient.objects.filter(active=True, selected=True).order_by("pk"):
            when = last.get(client.pk)
            seconds = (self.now - when).total_seconds() if when else math.inf
            metric.add_metric([str(client.pk), client.name], seconds)
        return metric

    def _salesforce_api(self) -> Iterator[Metric]:
        org = SalesforceOrg.load()
        seen = {name: value for name, (_, value, _) in _last_seen(observe.SF_ORG_USED, observe.SF_ORG_LIMIT)}
        limit = seen.get(observe.SF_ORG_LIMIT)
        midnight = self.now.replace(hour=0, minute=0, second=0, microsecond=0)
        ours = sum(
            rows.filter(started_at__gte=midnight).aggregate(n=Sum("sf_calls"))["n"] or 0
            for rows in (SyncRun.objects.all(), WatchRun.objects.all(), ImportRun.objects.all())
        )
        if observe.SF_ORG_USED in seen:
            yield GaugeMetricFamily(
                "cmsf_salesforce_api_used",
                "The org's API requests in the last 24 hours, by every app, as Salesforce last reported them.",
                seen[observe.SF_ORG_USED],
            )
        if limit is not None:
            yield GaugeMetricFamily("cmsf_salesforce_api_limit", "The org's daily API request limit.", limit)
            yield GaugeMetricFamily(
                "cmsf_salesforce_api_budget",
                "cmsf's budget: the share of the org's daily limit at which a run stops.",
                limit * org.api_budget_percent // 100,
            )
        yield GaugeMetricFamily(
            "cmsf_salesforce_api_budget_percent",
            "cmsf's budget, in percent of the org's limit.",
            org.api_budget_percent,
        )
        yield GaugeMetricFamily(
            "cmsf_salesforce_api_calls_today", "Salesforce calls cmsf's runs made since midnight UTC.", ours
        )

    def _maintenance(self) -> Metric:
        metric = GaugeMetricFamily(
            "cmsf_maintenance_messages_open", "Maintenance messages not resolved, by severity.", labels=("severity",)
        )
        counts = dict(
            MaintenanceMessage.objects.filter(resolved_at=None)
            .values("severity")
            .annotate(n=Count("pk"))
            .values_list("severity", "n")
        )
        for severity in MaintenanceMessage.Severity.values:
            metric.add_metric([severity], counts.get(severity, 0))
        return metric


def _last_seen(*names: str) -> Iterator[tuple[str, tuple[dict[str, str], float, datetime]]]:
    for name in names:
        for entry in observe.series(name):
            yield name, entry


def _authorized(request: HttpRequest, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    token = settings.CMSF_METRICS_TOKEN
    if not token:
        raise Http404("metrics are off: set CMSF_METRICS_TOKEN")
    if not _authorized(request, token):
        response = HttpResponse("a bearer token is required\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="cmsf metrics"'
        return response
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CmsfCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


urlpatterns = [
    path("metrics", metrics, name="metrics"),
]
