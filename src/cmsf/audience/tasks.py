"""Queue tasks of the import wizards: thin wrappers that pass ids and call one service."""

from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from cmsf.audience import imports, services
from cmsf.audience.models import ImportRun, ImportWizard


@db_task(retries=0)
def run_wizard(
    wizard_id: int, trigger: str = ImportRun.Trigger.MANUAL, dry_run: bool = False, preview_id: int | None = None
) -> str | None:
    """One run (or preview) of a wizard (a failed run is recorded, not retried: the next scheduled run reads the
    source again). `preview_id`: a Remove run deletes no one that preview did not show."""
    wizard = ImportWizard.objects.filter(pk=wizard_id).select_related("client").first()
    if wizard is None:
        return None
    remove_only = None
    if preview_id is not None:
        preview = ImportRun.objects.filter(pk=preview_id, wizard=wizard, dry_run=True).first()
        remove_only = preview.would_remove if preview is not None else []
    return imports.run_import(wizard, trigger=trigger, dry_run=dry_run, remove_only=remove_only).status


@db_periodic_task(crontab(minute="*"))
def import_tick() -> list[int]:
    """Every minute: start the wizards whose run time has come."""
    due = services.claim_due(timezone.now())
    for wizard_id in due:
        run_wizard(wizard_id, ImportRun.Trigger.SCHEDULE)
    return due
