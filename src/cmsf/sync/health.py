"""Is this installation ready to work: the checks behind `/readyz` (and the queue and scheduler lines of `cmsf
doctor`). Each check says its name, whether it passed, and a short reason; none holds a secret.

- database: one query answers;
- queue: the queue's storage (SQLite, Redis or PostgreSQL) answers how many jobs wait;
- scheduler: the heartbeat a periodic job stamps every minute (`SchedulerHeartbeat`) is newer than two beats, so a
  scheduler enqueues jobs and a worker runs them;
- sync: no selected client's sync is overdue: its last good sync (or, never synced, its first run) is older than two
  intervals of the import frequency. Nothing is overdue while the sync is off or not connected (the console says
  so); an installation that is not connected yet is ready, so that an admin can reach the console to connect it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import DatabaseError, connection
from django.db.models import Min, Q
from django.utils import timezone

from cmsf.connections.models import CampaignMonitorClient
from cmsf.connections.selectors import not_connected_reason
from cmsf.sync.models import SchedulerHeartbeat, SyncSettings

log = logging.getLogger(__name__)

BEAT = timedelta(minutes=1)  # how often the scheduler stamps the heartbeat (`sync.tasks.heartbeat_tick`)
STALE_AFTER = 2 * BEAT


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def beat(now: datetime | None = None) -> None:
    """The scheduler is alive: stamp the heartbeat."""
    SchedulerHeartbeat.objects.update_or_create(pk=1, defaults={"beat_at": now or timezone.now()})


def _ago(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 2 * 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


def database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as error:
        log.warning("readiness: the database does not answer: %s", error)
        return Check("database", False, f"the database does not answer: {type(error).__name__}")
    return Check("database", True, "the database answers")


def queue() -> Check:
    from cmsf.sync.tasks import queue_depth

    try:
        depth = queue_depth()
    except Exception as error:  # SQLite, Redis and PostgreSQL each raise their own; reported, logged
        log.warning("readiness: the queue's storage does not answer: %s: %s", type(error).__name__, error)
        return Check("queue", False, f"the queue's storage does not answer: {type(error).__name__}")
    return Check("queue", True, f"{depth} job{'' if depth == 1 else 's'} waiting")


def scheduler(now: datetime | None = None) -> Check:
    now = now or timezone.now()
    beat_at = SchedulerHeartbeat.objects.filter(pk=1).values_list("beat_at", flat=True).first()
    if beat_at is None:
        return Check("scheduler", False, "no scheduler heartbeat yet: no worker with the scheduler has run")
    age = now - beat_at
    if age > STALE_AFTER:
        return Check("scheduler", False, f"the last scheduler heartbeat is {_ago(age)} old (expected every minute)")
    return Check("scheduler", True, f"heartbeat {_ago(max(age, timedelta(0)))} ago")


def overdue_clients(now: datetime | None = None) -> list[tuple[str, timedelta]]:
    """The selected clients whose sync is overdue, with how long since their last good sync (or first run)."""
    now = now or timezone.now()
    settings = SyncSettings.load()
    interval = settings.interval
    if not settings.sync_enabled or interval is None or not_connected_reason():
        return []
    late = []
    clients = CampaignMonitorClient.objects.filter(active=True, selected=True).annotate(
        first_run=Min("runs__started_at", filter=Q(runs__dry_run=False))
    )
    for client in clients:
        since = client.last_synced_at or client.first_run
        if since is not None and now - since > 2 * interval:
            late.append((client.name, now - since))
    return late


def sync(now: datetime | None = None) -> Check:
    now = now or timezone.now()
    settings = SyncSettings.load()
    if not settings.sync_enabled or settings.interval is None:
        return Check("sync", True, "the scheduled sync is turned off")
    reason = not_connected_reason()
    if reason:
        return Check("sync", True, f"nothing is due: {reason}")
    late = overdue_clients(now)
    if late:
        said = ", ".join(f"{name} (last good sync {_ago(age)} ago)" for name, age in late)
        frequency = settings.get_import_frequency_display().split(" (")[0].lower()  # "hourly", "every 15 minutes"
        return Check("sync", False, f"overdue (the sync runs {frequency}): {said}")
    return Check("sync", True, "no client's sync is overdue")


_told = {"failing": frozenset[str]()}  # the checks that failed at this process's last answer
_told_lock = threading.Lock()


def newly_failing(checks: list[Check]) -> bool:
    """Whether the failing checks differ from this process's last answer: a load balancer probes every few seconds,
    and a failure is worth one WARNING, not one a probe. Logs "ready again" when all pass after a failure."""
    failing = frozenset(check.name for check in checks if not check.ok)
    with _told_lock:
        changed, _told["failing"] = failing != _told["failing"], failing
    if changed and not failing:
        log.info("ready again")
    return changed and bool(failing)


def readiness(now: datetime | None = None) -> list[Check]:
    """Every check of `/readyz`; the ones that need the database are not run when it does not answer."""
    now = now or timezone.now()
    db = database()
    checks = [db, queue()]
    if db.ok:
        checks += [scheduler(now), sync(now)]
    else:
        checks += [Check(name, False, "not checked: the database does not answer") for name in ("scheduler", "sync")]
    return checks
