"""One sync per client at a time, across processes and machines: a lease row claimed by a conditional
UPDATE, renewed while the run goes on, and taken over once it has expired (its worker died)."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from cmsf.sync.models import ClientLease, SyncPartition, SyncRun

LEASE_TTL = timedelta(minutes=10)


class LeaseLost(Exception):
    """This worker's lease ran out and another worker holds the client now: this run must stop."""


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def dead_here(owner: str) -> bool:
    """True when the owner is a process of this machine that no longer runs (it was killed or crashed)."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def claim(client_id: int, owner: str, *, ttl: timedelta = LEASE_TTL) -> bool:
    """True when `owner` now holds the client's lease; False when another live worker does. A lease whose
    worker died on this machine is taken over at once; elsewhere it is taken over when it expires."""
    ClientLease.objects.get_or_create(client_id=client_id)
    now = timezone.now()
    free = Q(owner="") | Q(expires_at__lt=now) | Q(owner=owner)
    if ClientLease.objects.filter(free, client_id=client_id).update(owner=owner, expires_at=now + ttl) == 1:
        return True
    holder, run_id = ClientLease.objects.filter(client_id=client_id).values_list("owner", "run_id").first() or (
        "",
        None,
    )
    if holder and dead_here(holder) and not _run_goes_on(run_id, now):
        return (
            ClientLease.objects.filter(client_id=client_id, owner=holder).update(owner=owner, expires_at=now + ttl) == 1
        )
    return False


def _run_goes_on(run_id: int | None, now: datetime) -> bool:
    """True while another worker still holds a partition of the run named on the lease (its opening worker died, the
    others go on and renew the lease until the run closes)."""
    if run_id is None:
        return False
    holders = SyncPartition.objects.filter(run_id=run_id, state=SyncPartition.State.TAKEN, expires_at__gte=now)
    return any(not dead_here(holder) for holder in holders.values_list("owner", flat=True).distinct())


def release_run(run: SyncRun) -> None:
    """The run closed: the client's lease is free for the next run, whoever holds it."""
    ClientLease.objects.filter(client_id=run.client_id, run_id=run.pk).update(owner="", expires_at=None, run=None)


def renew(client_id: int, owner: str, *, ttl: timedelta = LEASE_TTL) -> bool:
    """Extend a held lease; False when it was lost (expired and taken by another worker)."""
    return ClientLease.objects.filter(client_id=client_id, owner=owner).update(expires_at=timezone.now() + ttl) == 1


def release(client_id: int, owner: str) -> None:
    """The opening worker's share ended: the lease is free unless it names a run still open (its other workers renew
    it, and the worker that closes the run frees it)."""
    ClientLease.objects.filter(client_id=client_id, owner=owner).filter(Q(run=None) | ~Q(run__closed_by="")).update(
        owner="", expires_at=None, run=None
    )


def reap() -> int:
    """Free the leases of workers that stopped renewing them or died on this machine; returns how many."""
    freed = (
        ClientLease.objects.filter(expires_at__lt=timezone.now()).exclude(owner="").update(owner="", expires_at=None)
    )
    for client_id, holder in ClientLease.objects.exclude(owner="").values_list("client_id", "owner"):
        if dead_here(holder):
            freed += ClientLease.objects.filter(client_id=client_id, owner=holder).update(owner="", expires_at=None)
    return freed
