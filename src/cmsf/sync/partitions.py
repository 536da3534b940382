"""A client's run shared out as partitions that any worker takes by lease (docs/architecture.md, "One client across
many workers").

A partition is a `SyncPartition` row: taken by a conditional UPDATE (open, or taken with its lease expired, or taken
by a worker that died on this machine), renewed by the run's heartbeat, marked done by its worker once its rows are
written. The run is closed by the one worker whose conditional UPDATE of `SyncRun.closed_by` matches, once no
partition is left undone.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from cmsf.sync.leases import dead_here
from cmsf.sync.models import ClientLease, SyncPartition, SyncRun

LIST, CAMPAIGN = "list:", "campaign:"
SUPPRESSION, RETENTION = "suppression", "retention"


def ttl() -> timedelta:
    return timedelta(seconds=settings.CMSF_PARTITION_TTL_SECONDS)


def list_key(list_id: str) -> str:
    return f"{LIST}{list_id}"


def campaign_key(campaign_id: str) -> str:
    return f"{CAMPAIGN}{campaign_id}"


def scope_of(key: str) -> str:
    """The list or campaign id of a partition's key."""
    return key.partition(":")[2]


def open_run(run: SyncRun, partitions: Iterable[tuple[str, dict[str, Any]]]) -> int:
    """Make the run's partitions, in the order they are offered, and name the run on the client's lease (its workers
    renew the lease while any of them works); how many were made."""
    rows = [
        SyncPartition(run=run, key=key, position=position, detail=detail)
        for position, (key, detail) in enumerate(partitions)
    ]
    with transaction.atomic():
        SyncPartition.objects.bulk_create(rows)
        ClientLease.objects.filter(client_id=run.client_id).update(run=run)
    return len(rows)


def _takeable(now: Any) -> Q:
    return Q(state=SyncPartition.State.OPEN) | Q(state=SyncPartition.State.TAKEN, expires_at__lt=now)


def claim(run_id: int, owner: str, prefix: str) -> SyncPartition | None:
    """Take the run's first partition whose key starts with `prefix` that is open, or whose worker stopped renewing
    it (expired, or dead on this machine); None when there is none. Of two workers that reach for one partition, the
    conditional UPDATE gives it to one: the other tries the next."""
    while True:
        now = timezone.now()
        candidates = SyncPartition.objects.filter(run_id=run_id, key__startswith=prefix).exclude(
            state=SyncPartition.State.DONE
        )
        found = None
        for pk, state, holder, expires_at in candidates.order_by("position").values_list(
            "pk", "state", "owner", "expires_at"
        ):
            if state == SyncPartition.State.OPEN or (expires_at is not None and expires_at < now):
                found = pk, _takeable(now)
                break
            if holder != owner and dead_here(holder):
                found = pk, Q(state=SyncPartition.State.TAKEN, owner=holder)
                break
        if found is None:
            return None
        pk, condition = found
        taken = (
            SyncPartition.objects.filter(condition, pk=pk)
            .exclude(state=SyncPartition.State.DONE)
            .update(state=SyncPartition.State.TAKEN, owner=owner, expires_at=now + ttl(), claims=F("claims") + 1)
        )
        if taken == 1:
            return SyncPartition.objects.get(pk=pk)


def renew(run: SyncRun, owner: str) -> int:
    """Extend the leases of the partitions `owner` holds in the run, and the client's lease while the run is named on
    it; how many partitions it still holds."""
    expires = timezone.now() + ttl()
    held = SyncPartition.objects.filter(run_id=run.pk, owner=owner, state=SyncPartition.State.TAKEN).update(
        expires_at=expires
    )
    ClientLease.objects.filter(client_id=run.client_id, run_id=run.pk).update(expires_at=expires)
    return held


def held(run_id: int, owner: str) -> list[str]:
    return list(
        SyncPartition.objects.filter(run_id=run_id, owner=owner, state=SyncPartition.State.TAKEN)
        .order_by("position")
        .values_list("key", flat=True)
    )


def finish(run_id: int, owner: str, touched: dict[str, set[str] | None]) -> int:
    """Mark done the partitions `owner` holds (their rows are written), keeping on each campaign's partition the
    people whose tracking history it changed (and on another of them, what retention changed); how many."""
    keys = held(run_id, owner)
    if not keys:
        return 0
    now = timezone.now()
    mine = SyncPartition.objects.filter(run_id=run_id, owner=owner, state=SyncPartition.State.TAKEN)
    plain = {campaign: sorted(people) if people is not None else None for campaign, people in touched.items()}
    own = {
        key: {scope_of(key): plain.pop(scope_of(key))}
        for key in keys
        if key.startswith(CAMPAIGN) and scope_of(key) in plain
    }
    if plain:  # what retention changed: on the last partition held (retention's, when this worker holds it)
        own[keys[-1]] = {**own.get(keys[-1], {}), **plain}
    with transaction.atomic():
        for key, noted in own.items():
            mine.filter(key=key).update(touched=noted)
        return mine.update(state=SyncPartition.State.DONE, owner="", done_by=owner, expires_at=None, finished_at=now)


def abandon(run_id: int, owner: str) -> int:
    """A worker's share failed: the partitions it holds, and those nobody took yet, end unwritten (their cursors did
    not move, so the next run reads them); the run then ends with the failure once the partitions other workers
    hold end. How many."""
    now = timezone.now()
    mine = Q(owner=owner, state=SyncPartition.State.TAKEN) if owner else Q(pk__in=[])
    return SyncPartition.objects.filter(mine | Q(state=SyncPartition.State.OPEN), run_id=run_id).update(
        state=SyncPartition.State.DONE, owner="", done_by=owner, expires_at=None, finished_at=now
    )


def remaining(run_id: int) -> int:
    return SyncPartition.objects.filter(run_id=run_id).exclude(state=SyncPartition.State.DONE).count()


def close(run_id: int, owner: str) -> bool:
    """True for the one worker that closes the run: no partition of it is left undone, and this worker's conditional
    UPDATE of `closed_by` matched (an empty one). False for every other worker, and while partitions remain."""
    if remaining(run_id):
        return False
    return SyncRun.objects.filter(pk=run_id, closed_by="").update(closed_by=owner) == 1


def touched_of(run_id: int) -> dict[str, set[str] | None]:
    """What every partition of the run noted as changed: campaign -> the people (None: all of them)."""
    union: dict[str, set[str] | None] = {}
    for touched in SyncPartition.objects.filter(run_id=run_id).values_list("touched", flat=True):
        for campaign, people in touched.items():
            if people is None or union.get(campaign, set()) is None:
                union[campaign] = None
            else:
                known = union.setdefault(campaign, set())
                assert known is not None
                known.update(people)
    return union


def open_partitions(run_id: int) -> bool:
    """True while a partition of the run is there to take (open, or its lease expired)."""
    return SyncPartition.objects.filter(_takeable(timezone.now()), run_id=run_id).exists()
