"""Queue tasks of the sync: thin wrappers that pass ids and call one service."""

from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from cmsf.sync import services


@db_task(retries=2, retry_delay=60)
def run_sync(client_id: int) -> str | None:
    run = services.sync_client_by_id(client_id)
    return run.status if run else None


@db_periodic_task(crontab(minute="*"))
def schedule_tick() -> list[int]:
    """Every minute: enqueue a sync of every selected client when the primary sync is due."""
    due = services.due_clients(timezone.now())
    for client_id in due:
        run_sync(client_id)
    return due
