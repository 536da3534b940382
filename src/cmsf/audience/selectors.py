"""Reads of the import wizards' runs that several places share: their rows in the run history (`sync.selectors`) and
the maintenance messages a run told."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from cmsf.audience.imports import JOB, message_subject
from cmsf.audience.models import ImportRun
from cmsf.maintenance.models import MaintenanceMessage
from cmsf.sync.selectors import IMPORT, RunRow, check_outcome, keyed, run_messages

_IMPORT_OUTCOME = {
    ImportRun.Status.QUEUED: "running",  # waiting for a worker: the run history shows it with the running ones
    ImportRun.Status.RUNNING: "running",
    ImportRun.Status.SUCCEEDED: "succeeded",
    ImportRun.Status.PARTIAL: "problems",
    ImportRun.Status.FAILED: "failed",
}
_IMPORT_STATUSES: dict[str, list[str]] = {}
for _status, _outcome in _IMPORT_OUTCOME.items():
    _IMPORT_STATUSES.setdefault(_outcome, []).append(_status)


def import_run_keys(*, client_id: int | None, outcome: str) -> QuerySet[Any]:
    runs = ImportRun.objects.all()
    if client_id is not None:
        runs = runs.filter(wizard__client_id=client_id)
    if outcome:
        statuses = _IMPORT_STATUSES.get(check_outcome(outcome))
        runs = runs.filter(status__in=statuses) if statuses else runs.none()
    return keyed(runs, IMPORT)


def import_run_rows(ids: list[int]) -> dict[int, RunRow]:
    runs = ImportRun.objects.filter(pk__in=ids).select_related("wizard__client")
    return {run.pk: import_run_row(run) for run in runs}


def import_run_row(run: ImportRun) -> RunRow:
    refused = run.failed
    return RunRow(
        kind=IMPORT,
        pk=run.pk,
        what=run.wizard.name,
        client_name=run.wizard.client.name,
        outcome=_IMPORT_OUTCOME[ImportRun.Status(run.status)],
        started_at=run.started_at,
        finished_at=run.finished_at,
        read=run.read,
        written=run.imported + run.removed,
        refused=refused,
        cm_calls=run.cm_calls,
        sf_calls=run.sf_calls,
        problems=max(refused, len(run.problems)),
        message=run.message,
        dry_run=run.dry_run,
    )


def import_run_messages(run: ImportRun, *, now: datetime | None = None) -> list[MaintenanceMessage]:
    """The maintenance messages of the run's wizard that were open while it ran and met since it started (a preview
    tells nothing; a run that went through with no problem met none)."""
    if run.dry_run or (run.status == ImportRun.Status.SUCCEEDED and not run.problems):
        return []
    told = MaintenanceMessage.objects.filter(job=JOB, subject=message_subject(run.wizard_id))
    return run_messages(told, run.started_at, run.finished_at, now=now)
