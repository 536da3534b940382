"""One sync per client at a time, across processes and machines: a lease row claimed by a conditional
UPDATE, renewed while the run goes on, and taken over once it has expired (its worker died)."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from cmsf.sync.models import ClientLease

LEASE_TTL = timedelta(minutes=10)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def claim(client_id: int, owner: str, *, ttl: timedelta = LEASE_TTL) -> bool:
    """True when `owner` now holds the client's lease; False when another live worker does."""
    ClientLease.objects.get_or_create(client_id=client_id)
    now = timezone.now()
    free = Q(owner="") | Q(expires_at__lt=now) | Q(owner=owner)
    return ClientLease.objects.filter(free, client_id=client_id).update(owner=owner, expires_at=now + ttl) == 1


def renew(client_id: int, owner: str, *, ttl: timedelta = LEASE_TTL) -> bool:
    """Extend a held lease; False when it was lost (expired and taken by another worker)."""
    return ClientLease.objects.filter(client_id=client_id, owner=owner).update(expires_at=timezone.now() + ttl) == 1


def release(client_id: int, owner: str) -> None:
    ClientLease.objects.filter(client_id=client_id, owner=owner).update(owner="", expires_at=None)


def reap() -> int:
    """Free the leases of workers that stopped renewing them; returns how many were freed."""
    return ClientLease.objects.filter(expires_at__lt=timezone.now()).exclude(owner="").update(owner="", expires_at=None)
