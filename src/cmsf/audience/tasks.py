"""Queue tasks of the import wizards: thin wrappers that pass ids and call one service."""

from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from cmsf.audience import imports, services
from cmsf.audience.models import ImportRun, ImportWizard


@db_task(retries=0)
def run_wizard(wizard_id: int, trigger: str = ImportRun.Trigger.MANUAL, dry_run: bool = False) -> str | None:
    """One run (or preview) of a wizard (a failed run is recorded, not retried: the next scheduled run reads the
    source again)."""
    wizard = ImportWizard.objects.filter(pk=wizard_id).select_related("client").first()
    return imports.run_import(wizard, trigger=trigger, dry_run=dry_run).status if wizard else None


@db_periodic_task(crontab(minute="*"))
def import_tick() -> list[int]:
    """Every minute: start the wizards whose run time has come."""
    due = services.claim_due(timezone.now())
    for wizard_id in due:
        run_wizard(wizard_id, ImportRun.Trigger.SCHEDULE)
    return due
