"""Queue tasks of the import wizards: thin wrappers that pass ids and call one service."""

from django.db import transaction
from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from cmsf.audience import imports, services
from cmsf.audience.models import ImportRun, ImportWizard


@db_task(retries=0)
def run_wizard(
    wizard_id: int,
    trigger: str = ImportRun.Trigger.MANUAL,
    dry_run: bool = False,
    preview_id: int | None = None,
    queued_id: int | None = None,
) -> str | None:
    """One run (or preview) of a wizard (a failed run is recorded, not retried: the next scheduled run reads the
    source again). `preview_id`: a Remove run deletes no one that preview did not show. `queued_id`: the run record
    `queue_run` made, taken up once (a task delivered twice finds it started and does nothing)."""
    wizard = ImportWizard.objects.filter(pk=wizard_id).select_related("client").first()
    if wizard is None:
        return None
    queued = None
    if queued_id is not None:
        claimed = ImportRun.objects.filter(pk=queued_id, wizard=wizard, status=ImportRun.Status.QUEUED).update(
            status=ImportRun.Status.RUNNING
        )
        if not claimed:
            return None
        queued = ImportRun.objects.get(pk=queued_id)
    remove_only = None
    if preview_id is not None:
        preview = ImportRun.objects.filter(pk=preview_id, wizard=wizard, dry_run=True).first()
        remove_only = preview.would_remove if preview is not None else []
    run = imports.run_import(wizard, trigger=trigger, dry_run=dry_run, remove_only=remove_only, queued=queued)
    return run.status


class RemovesSubscribers(Exception):
    """A Remove wizard runs only after its preview is checked (the console, or `cmsf import run`)."""


def queue_run(wizard: ImportWizard, *, trigger: str) -> ImportRun:
    """Ask a worker for a run of the wizard now, and return its run record (queued) at once, so that its id can be
    read while it waits and runs. A wizard that removes subscribers is refused: it runs after a checked preview."""
    if wizard.mode == ImportWizard.Mode.REMOVE:
        raise RemovesSubscribers(
            f"{wizard.name} removes the list's subscribers missing from its source: run it after checking its "
            "preview, in the console or with cmsf import run"
        )
    run = ImportRun.objects.create(
        wizard=wizard, trigger=trigger, status=ImportRun.Status.QUEUED, started_at=timezone.now()
    )
    transaction.on_commit(lambda: run_wizard(wizard.pk, trigger, queued_id=run.pk))
    return run


@db_periodic_task(crontab(minute="*"))
def import_tick() -> list[int]:
    """Every minute: start the wizards whose run time has come."""
    due = services.claim_due(timezone.now())
    for wizard_id in due:
        run_wizard(wizard_id, ImportRun.Trigger.SCHEDULE)
    return due
