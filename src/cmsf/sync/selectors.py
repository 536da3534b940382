"""Reads of the run history that several places share: the sync's runs and the watcher's, as rows of one history (the
import wizards' runs join it from `audience.selectors`), and what one run read, wrote, cost and met."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from django.db.models import CharField, DateTimeField, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from cmsf.maintenance.models import MaintenanceMessage
from cmsf.salesforce import sfdx
from cmsf.sync import watcher
from cmsf.sync.models import SyncRun, WatchRun
from cmsf.sync.problems import SYNC_JOBS

# The outcomes of the run history, one vocabulary for every kind of run (the filter's values).
OUTCOMES: dict[str, str] = {
    "queued": "Queued",
    "running": "Running",
    "succeeded": "Succeeded",
    "problems": "Succeeded with problems",
    "failed": "Failed",
    "stopped": "Stopped at the API budget",
    "not_connected": "Not connected",
    "skipped": "Skipped",
}
ENDED_OUTCOMES = ("succeeded", "problems", "failed", "stopped", "not_connected", "skipped")

SYNC, WATCH, IMPORT = "sync", "watch", "import"
KINDS = {SYNC: "Sync", WATCH: "Salesforce watcher", IMPORT: "Import wizard"}

# A run not started yet (a queued sync) sorts above every started one: it is the newest thing that will happen.
NOT_STARTED = datetime(9999, 12, 31, tzinfo=UTC)

# A maintenance message told for a run is seen before its end (a report follows the last write by moments).
REPORT_SLACK = timedelta(minutes=1)


class UnknownOutcome(ValueError):
    """An outcome the run history does not know (the filter's value)."""


def check_outcome(outcome: str) -> str:
    if outcome and outcome not in OUTCOMES:
        raise UnknownOutcome(f"unknown outcome {outcome[:40]!r}: choose one of {', '.join(OUTCOMES)}")
    return outcome


@dataclass
class RunRow:
    """One run in the history, whatever its kind."""

    kind: str  # SYNC, WATCH or IMPORT
    pk: int
    what: str  # the run's own label: "Primary sync", "Full Campaign Monitor sync", the wizard's name
    client_name: str  # "" for the watcher, which watches Salesforce for every client
    outcome: str  # a key of OUTCOMES
    started_at: datetime | None
    finished_at: datetime | None
    read: int
    written: int
    refused: int
    cm_calls: int
    sf_calls: int
    problems: int  # records refused or not handled, as the run counted them
    message: str
    dry_run: bool = False

    @property
    def kind_label(self) -> str:
        return KINDS[self.kind]

    @property
    def outcome_label(self) -> str:
        return OUTCOMES[self.outcome]

    @property
    def duration_s(self) -> float | None:
        if self.started_at and self.finished_at:
            return max((self.finished_at - self.started_at).total_seconds(), 0.0)
        return None

    @property
    def running(self) -> bool:
        return self.outcome not in ENDED_OUTCOMES


def keyed(queryset: QuerySet[Any], kind: str) -> QuerySet[Any]:
    """The (kind, id, sort time) of each run of `queryset`, to be united with the other kinds' and paged."""
    return (
        queryset.order_by()
        .annotate(  # the united query is ordered as a whole, never its parts
            run_kind=Value(kind, output_field=CharField()),
            sort_at=Coalesce("started_at", Value(NOT_STARTED, output_field=DateTimeField())),
        )
        .values_list("run_kind", "id", "sort_at")
    )


# -- the sync's runs ------------------------------------------------------------------------------------------------

_SYNC_OUTCOME = {
    SyncRun.Status.QUEUED: "queued",
    SyncRun.Status.RUNNING: "running",
    SyncRun.Status.SUCCEEDED: "succeeded",
    SyncRun.Status.PROBLEMS: "problems",
    SyncRun.Status.FAILED: "failed",
    SyncRun.Status.STOPPED: "stopped",
    SyncRun.Status.NOT_CONNECTED: "not_connected",
}
_SYNC_STATUSES = {outcome: status for status, outcome in _SYNC_OUTCOME.items()}


def sync_run_keys(*, client_id: int | None, outcome: str) -> QuerySet[Any]:
    runs = SyncRun.objects.all()
    if client_id is not None:
        runs = runs.filter(client_id=client_id)
    if outcome:
        status = _SYNC_STATUSES.get(check_outcome(outcome))
        runs = runs.filter(status=status) if status else runs.none()
    return keyed(runs, SYNC)


def sync_run_rows(ids: list[int]) -> dict[int, RunRow]:
    return {run.pk: sync_run_row(run) for run in SyncRun.objects.filter(pk__in=ids).select_related("client")}


def sync_run_row(run: SyncRun) -> RunRow:
    return RunRow(
        kind=SYNC,
        pk=run.pk,
        what=run.get_kind_display(),
        client_name=run.client.name,
        outcome=_SYNC_OUTCOME[SyncRun.Status(run.status)],
        started_at=run.started_at,
        finished_at=run.finished_at,
        read=run.records_read,
        written=run.records_written,
        refused=sum(run.failed.values()),
        cm_calls=run.cm_calls,
        sf_calls=run.sf_calls,
        problems=sum(run.failed.values()),
        message=run.message,
        dry_run=run.dry_run,
    )


@cache
def _object_labels() -> dict[str, tuple[str, str]]:
    return sfdx.object_labels()


@dataclass
class ObjectCounts:
    """What a sync run did to one Salesforce object."""

    sobject: str
    written: int = 0
    skipped: int = 0
    failed: int = 0
    deleted: int = 0

    @property
    def label(self) -> str:
        """The object's plural label ("Subscriber List Members"), its API name when the source does not have it."""
        return _object_labels().get(self.sobject, (self.sobject, self.sobject))[1]


@dataclass
class SyncRunDetail:
    run: SyncRun
    row: RunRow
    read: list[tuple[str, int]]  # stream -> records read from Campaign Monitor
    objects: list[ObjectCounts]
    messages: list[MaintenanceMessage] = field(default_factory=list)


def sync_run_detail(run: SyncRun, *, now: datetime | None = None) -> SyncRunDetail:
    """A sync run with its counts per stream and per object, and the maintenance messages it met."""
    objects: dict[str, ObjectCounts] = {}
    for name in ("written", "skipped", "failed", "deleted"):
        for sobject, count in getattr(run, name).items():
            setattr(objects.setdefault(sobject, ObjectCounts(sobject)), name, count)
    messages = []
    if run.status not in (SyncRun.Status.SUCCEEDED, SyncRun.Status.QUEUED) and run.started_at is not None:
        jobs = (*SYNC_JOBS, "CMSF_FULL_SYNC_PURGE")
        messages = run_messages(
            MaintenanceMessage.objects.filter(client_id=run.client_id, job__in=jobs),
            run.started_at,
            run.finished_at,
            now=now,
        )
    return SyncRunDetail(
        run=run,
        row=sync_run_row(run),
        read=sorted(run.read.items()),
        objects=sorted(objects.values(), key=lambda counts: counts.sobject),
        messages=messages,
    )


def run_messages(
    messages: QuerySet[MaintenanceMessage],
    started_at: datetime,
    finished_at: datetime | None,
    *,
    now: datetime | None = None,
) -> list[MaintenanceMessage]:
    """The maintenance messages of a run's jobs that were open while it ran and met since it started: a message stands
    for a problem while it goes on, so a later run that meets it again moves its last sighting, and it stays linked."""
    end = (finished_at or now or timezone.now()) + REPORT_SLACK
    return list(
        messages.filter(created_at__lte=end, last_seen_at__gte=started_at).order_by("-last_seen_at", "-id")[:100]
    )


# -- the watcher's runs ---------------------------------------------------------------------------------------------

_WATCH_OUTCOME = {
    WatchRun.Status.RUNNING: "running",
    WatchRun.Status.SUCCEEDED: "succeeded",
    WatchRun.Status.FAILED: "failed",
    WatchRun.Status.SKIPPED: "skipped",
}
_WATCH_STATUSES = {outcome: status for status, outcome in _WATCH_OUTCOME.items()}


def watch_run_keys(*, outcome: str) -> QuerySet[Any]:
    runs = WatchRun.objects.all()
    if outcome:
        check_outcome(outcome)
        if outcome == "problems":  # a run that went through, but listed records it could not handle or kept out
            runs = runs.filter(status=WatchRun.Status.SUCCEEDED).exclude(problems=[])
        elif outcome == "succeeded":
            runs = runs.filter(status=WatchRun.Status.SUCCEEDED, problems=[])
        else:
            status = _WATCH_STATUSES.get(outcome)
            runs = runs.filter(status=status) if status else runs.none()
    return keyed(runs, WATCH)


def watch_run_rows(ids: list[int]) -> dict[int, RunRow]:
    return {run.pk: watch_run_row(run) for run in WatchRun.objects.filter(pk__in=ids)}


def _not_handled(run: WatchRun) -> list[dict[str, Any]]:
    return [problem for problem in run.problems if not problem.get("kept_out")]


def watch_run_row(run: WatchRun) -> RunRow:
    outcome = _WATCH_OUTCOME[WatchRun.Status(run.status)]
    if outcome == "succeeded" and run.problems:
        outcome = "problems"
    return RunRow(
        kind=WATCH,
        pk=run.pk,
        what="Salesforce changes",
        client_name="",
        outcome=outcome,
        started_at=run.started_at,
        finished_at=run.finished_at,
        read=sum(run.read.values()),
        written=sum(run.done.values()),
        refused=len(_not_handled(run)),
        cm_calls=run.cm_calls,
        sf_calls=run.sf_calls,
        problems=len(run.problems),
        message=run.message,
    )


@dataclass
class WatchRunDetail:
    run: WatchRun
    row: RunRow
    read: list[tuple[str, int]]
    done: list[tuple[str, int]]
    messages: list[MaintenanceMessage] = field(default_factory=list)


def watch_run_detail(run: WatchRun, *, now: datetime | None = None) -> WatchRunDetail:
    messages = []
    if run.status == WatchRun.Status.FAILED or run.problems:
        messages = run_messages(
            MaintenanceMessage.objects.filter(job=watcher.JOB), run.started_at, run.finished_at, now=now
        )
    return WatchRunDetail(
        run=run,
        row=watch_run_row(run),
        read=sorted(run.read.items()),
        done=sorted(run.done.items()),
        messages=messages,
    )
