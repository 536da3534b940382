"""Queue tasks of the maintenance app: thin wrappers that pass ids and call one function."""

from huey.contrib.djhuey import db_task

from cmsf.maintenance.notifications import notify


@db_task(retries=3, retry_delay=30)
def notify_new_message(message_id: int) -> bool:
    return notify(message_id)
