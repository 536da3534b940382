"""What each run did, told to the operator: one line on the `cmsf.runs` logger when a sync, watch, import or
webhook-apply run ends (INFO; ERROR with the support code when it failed; WARNING with the code when it stopped short,
such as at the API budget), and the counters `/metrics` shows, kept in the database (`MetricCounter`) so that the work
of every worker process is counted, not only the web process's. docs/logging.md lists the fields.

The API clients (`campaign_monitor`, `salesforce`) import no Django: they count their calls, retries and waits on
themselves (`Transport`, `ApiMeter`); `ApiUse.of` reads those counts at the end of a run."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from cmsf.campaign_monitor.api import CampaignMonitor
from cmsf.maintenance.models import MetricCounter
from cmsf.salesforce.adapter import SalesforceAdapter

log = logging.getLogger("cmsf.runs")

CM, SF = "campaign_monitor", "salesforce"
KINDS = ("sync", "watch", "import", "webhooks", "smart_emails")  # the kinds of run
FAILED = "failed"  # the outcome of a run that failed, whatever its kind: logged at ERROR

# The counters a run bumps (the `/metrics` families, with the labels each series carries).
RUNS = "runs"  # kind, outcome
RUN_SECONDS = "run_seconds"  # kind
RECORDS_READ = "records_read"  # kind, object
RECORDS_WRITTEN = "records_written"  # kind, object
API_CALLS = "api_calls"  # service
RETRIES = "retries"  # service
RATE_LIMIT_WAITS = "rate_limit_waits"  # service
REFUSED = "refused_records"  # support_code
# Values last seen (not counters): the org's API usage as Salesforce last reported it on a response.
SF_ORG_USED, SF_ORG_LIMIT = "salesforce_org_api_used", "salesforce_org_api_limit"
LABEL_MAX = 100  # characters of one label's value


@dataclass(frozen=True)
class ApiUse:
    """What the API clients of a run spent: calls, retries and rate-limit waits per service, and the org's usage."""

    calls: Mapping[str, int] = field(default_factory=dict)
    retries: Mapping[str, int] = field(default_factory=dict)
    waits: Mapping[str, int] = field(default_factory=dict)
    org_used: int | None = None
    org_limit: int | None = None

    @classmethod
    def of(cls, cm: CampaignMonitor | None, sf: SalesforceAdapter | None) -> ApiUse:
        calls: dict[str, int] = {}
        retries: dict[str, int] = {}
        waits: dict[str, int] = {}
        org_used = org_limit = None
        if cm is not None:
            transport = cm.transport
            calls[CM] = sum(transport.calls_snapshot().values())
            retries[CM], waits[CM] = transport.retries, transport.rate_limit_waits
        if sf is not None:
            meter = sf.meter
            calls[SF], retries[SF] = meter.total, sum(meter.retries.values())
            org_used, org_limit = meter.org_used, meter.org_max
        return cls(calls, retries, waits, org_used, org_limit)

    def since(self, before: ApiUse | None) -> ApiUse:
        """What was spent after `before` (clients shared with earlier work)."""
        if before is None:
            return self

        def less(now: Mapping[str, int], then: Mapping[str, int]) -> dict[str, int]:
            return {service: n - then.get(service, 0) for service, n in now.items()}

        return ApiUse(
            less(self.calls, before.calls),
            less(self.retries, before.retries),
            less(self.waits, before.waits),
            self.org_used,
            self.org_limit,
        )


def run_ended(
    *,
    kind: str,
    outcome: str,
    started: datetime | None,
    finished: datetime | None = None,
    client: str = "",
    read: Mapping[str, int] | None = None,
    written: Mapping[str, int] | None = None,
    failed: Mapping[str, int] | None = None,
    refused: Mapping[str, int] | None = None,
    api: ApiUse | None = None,
    support_code: str = "",
    message: str = "",
    dry_run: bool = False,
    run_id: int | None = None,
) -> None:
    """Log the end of a run and count it. `read`, `written`, `failed`: records per object; `refused`: records per
    support code; `support_code`: the code of the run's own failure (or of why it stopped short). A dry run (a
    preview) is logged and not counted."""
    assert kind in KINDS, kind
    api = api or ApiUse()
    finished = finished or timezone.now()
    duration = round((finished - started).total_seconds(), 3) if started else None
    read, written, failed, refused = (_counts(read), _counts(written), _counts(failed), _counts(refused))
    fields: dict[str, Any] = {
        "run_kind": kind,
        "run_id": run_id,
        "outcome": outcome,
        "client": client,
        "duration_s": duration,
        "read": read,
        "written": written,
        "failed": failed,
        "refused": refused,
        "api_calls": _counts(api.calls),
        "retries": _counts(api.retries),
        "rate_limit_waits": _counts(api.waits),
        "support_code": support_code,
        "dry_run": dry_run,
    }
    if outcome == FAILED:
        level = logging.ERROR
    elif support_code:
        level = logging.WARNING
    else:
        level = logging.INFO
    text = (
        f"{'[' + support_code + '] ' if support_code else ''}{kind} run"
        + (f" {run_id}" if run_id is not None else "")
        + (f" of {client}" if client else "")
        + (" (dry run)" if dry_run else "")
        + f": {outcome}"
        + (f" in {duration:.1f} s" if duration is not None else "")
        + f"; read {_said(read)}; written {_said(written)}"
        + (f"; failed {_said(failed)}" if failed else "")
        + (f"; refused {_said(refused)}" if refused else "")
        + f"; API calls {_said(fields['api_calls'])}"
        + (f"; retries {_said(fields['retries'])}" if fields["retries"] else "")
        + (f"; rate-limit waits {_said(fields['rate_limit_waits'])}" if fields["rate_limit_waits"] else "")
        + (f": {message}" if message and (level > logging.INFO) else "")
    )
    log.log(level, "%s", text, extra=fields)
    if not dry_run:
        _count(kind, outcome, duration, read, written, refused, api)


def _counts(values: Mapping[str, int] | None) -> dict[str, int]:
    return {str(name): int(n) for name, n in sorted((values or {}).items()) if n}


def _said(counts: Mapping[str, int]) -> str:
    return " ".join(f"{name}={n}" for name, n in counts.items()) or "none"


def _count(
    kind: str,
    outcome: str,
    duration: float | None,
    read: Mapping[str, int],
    written: Mapping[str, int],
    refused: Mapping[str, int],
    api: ApiUse,
) -> None:
    bump(RUNS, {"kind": kind, "outcome": outcome})
    if duration is not None:
        bump(RUN_SECONDS, {"kind": kind}, duration)
    for name, n in read.items():
        bump(RECORDS_READ, {"kind": kind, "object": name}, n)
    for name, n in written.items():
        bump(RECORDS_WRITTEN, {"kind": kind, "object": name}, n)
    for code, n in refused.items():
        bump(REFUSED, {"support_code": code}, n)
    for counter, per_service in ((API_CALLS, api.calls), (RETRIES, api.retries), (RATE_LIMIT_WAITS, api.waits)):
        for service, n in per_service.items():
            bump(counter, {"service": service}, n)
    if api.org_used is not None and api.org_limit:
        put(SF_ORG_USED, {}, api.org_used)
        put(SF_ORG_LIMIT, {}, api.org_limit)


def labels_key(labels: Mapping[str, str]) -> str:
    return json.dumps({k: str(v)[:LABEL_MAX] for k, v in labels.items()}, sort_keys=True, separators=(",", ":"))


def bump(name: str, labels: Mapping[str, str], by: float = 1) -> None:
    """Add to a counter, atomically across processes (an UPDATE ... SET value = value + n; the first bump of a
    series inserts it, and a process that lost the race to insert adds instead)."""
    if not by:
        return
    key, now = labels_key(labels), timezone.now()
    series = MetricCounter.objects.filter(name=name, labels=key)
    if series.update(value=F("value") + by, updated_at=now):
        return
    try:
        with transaction.atomic():
            MetricCounter.objects.create(name=name, labels=key, value=by, updated_at=now)
    except IntegrityError:  # another process inserted it first
        series.update(value=F("value") + by, updated_at=now)


def put(name: str, labels: Mapping[str, str], value: float) -> None:
    """Set a last-seen value."""
    MetricCounter.objects.update_or_create(
        name=name, labels=labels_key(labels), defaults={"value": value, "updated_at": timezone.now()}
    )


def series(name: str) -> list[tuple[dict[str, str], float, datetime]]:
    """Every series of a counter or value: its labels, its value and when it last changed."""
    rows = MetricCounter.objects.filter(name=name).values_list("labels", "value", "updated_at")
    return [(json.loads(labels), value, updated) for labels, value, updated in rows]
