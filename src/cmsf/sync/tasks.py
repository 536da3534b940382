"""Queue tasks of the sync: thin wrappers that pass ids and call one service."""

from django.db import transaction
from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import HUEY, db_periodic_task, db_task

from cmsf.connections.models import CampaignMonitorClient
from cmsf.sync import health, services, smart_emails, subscriber_rules, watcher, webhooks
from cmsf.sync.models import SyncRun
from cmsf.sync.transactional import STATUS_INTERVAL_MINUTES


@db_task(retries=2, retry_delay=60)
def run_sync(client_id: int, full: bool = False, run_id: int | None = None) -> str | None:
    run = services.sync_client_by_id(client_id, full=full, run_id=run_id, ask_for_helpers=ask_for_helpers)
    return run.status if run else None


def ask_for_helpers(run_id: int, helpers: int) -> None:
    """A run's partitions are open: `helpers` more workers are asked to take them (`CMSF_SYNC_HELPERS`)."""
    for _ in range(helpers):
        join_run(run_id)


@db_task(retries=0)
def join_run(run_id: int) -> str | None:
    """Take a share of a run's partitions (a failed share is not retried: its partitions go to the other workers,
    or to the next run)."""
    run = services.join_run(run_id)
    return run.status if run else None


def start_full_sync(client_ids: list[int]) -> None:
    """A full Campaign Monitor sync, fanned out as one job per client on the queue."""
    for client_id in client_ids:
        run_sync(client_id, full=True)


def sync_now(*, full: bool = False) -> list[int]:
    """Sync every selected client now, one job per client on the queue; the ids of the queued runs, whose progress
    can be read at once (`SyncRun`)."""
    runs = services.queue_runs(full=full)
    for run in runs:
        run_sync(run.client_id, full=full, run_id=run.pk)
    return [run.pk for run in runs]


def sync_client_now(client_id: int) -> int | None:
    """Sync one client now (Retry of a maintenance message, the console's Sync now of one client): a queued run whose
    progress can be read at once, its job on the queue once the caller's transaction commits; the run's id, None when
    the client is not active and selected for sync."""
    client = CampaignMonitorClient.objects.filter(pk=client_id, active=True, selected=True).first()
    if client is None:
        return None
    run = SyncRun.objects.create(client=client, kind=SyncRun.Kind.PRIMARY)
    transaction.on_commit(lambda: run_sync(client.pk, run_id=run.pk))
    return run.pk


@db_periodic_task(crontab(minute="*"))
def schedule_tick() -> list[int]:
    """Every minute: enqueue a sync of every selected client when the primary sync is due."""
    due = services.due_clients(timezone.now())
    for client_id in due:
        run_sync(client_id)
    return due


def queue_depth() -> int:
    """How many jobs wait in the queue (read from its storage: raises when the storage does not answer)."""
    return int(HUEY.pending_count())


@db_periodic_task(crontab(minute="*"))
def heartbeat_tick() -> None:
    """Every minute: the scheduler is alive and a worker runs its jobs (`sync.health`, `/readyz`, `cmsf doctor`)."""
    health.beat()


@db_task(retries=0)
def watch() -> str:
    """One run of the Salesforce change watcher (a failed run is not retried: the next one reads the same changes)."""
    return watcher.watch_once().status


@db_periodic_task(crontab(minute="*"))
def watch_tick() -> bool:
    """Every minute: start the watcher when its interval has passed (never while Disable triggers is on)."""
    if watcher.due(timezone.now()):
        watch()
        return True
    return False


@db_task(retries=3, retry_delay=30)
def apply_webhooks() -> int:
    """Apply the webhook events received (`sync.webhooks`), one job at a time across workers, so that events are
    applied in the order received; a job that finds another applying is retried (and then finds little left). The
    apply raises nothing: a bad event is quarantined, and events wait while Salesforce does not answer."""
    with HUEY.lock_task("cmsf-apply-webhooks"):
        return webhooks.apply_pending().events


@db_periodic_task(crontab(minute="*"))
def webhooks_tick() -> bool:
    """Every minute: apply the webhook events still waiting (Salesforce did not answer, or a job was missed)."""
    if webhooks.waiting():
        apply_webhooks()
        return True
    return False


@db_periodic_task(crontab(minute="23"))
def prune_webhook_events() -> int:
    """Hourly: applied events go after a week, quarantined ones after 30 days."""
    return webhooks.prune()


@db_task(retries=2, retry_delay=60)
def follow_public_url() -> int:
    """The webhooks follow the public URL an admin changed or cleared (`sync.webhooks.follow_public_url`)."""
    return webhooks.follow_public_url()


@db_task(retries=0)
def retrospective_rule(rule_id: int) -> str:
    """A subscriber rule applied to the records that exist already (`sync.subscriber_rules`)."""
    rule = subscriber_rules.run_retrospective(rule_id)
    return rule.retrospective_result if rule else "the rule is gone"


@db_task(retries=0)
def read_rule_matches(rule_id: int, token: str) -> str:
    """The records that meet a rule's criteria as it starts (`sync.subscriber_rules`); a read that fails says so on
    the rule, which waits until it is asked again from the console."""
    return subscriber_rules.read_matches(rule_id, token)


@db_periodic_task(crontab(minute=f"*/{STATUS_INTERVAL_MINUTES}"))
def smart_email_status_tick() -> int | None:
    """Every few minutes: the recent smart email messages' delivery, opens and clicks read from Campaign Monitor and
    their Tasks updated (`sync.smart_emails.refresh_recent`); no call at all while no message is recent. The number of
    messages read, None when there was nothing to read."""
    outcome = smart_emails.refresh_recent(timezone.now())
    return outcome.checked if outcome else None
