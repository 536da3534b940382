"""Running syncs: claim the client's lease, run, release."""

from __future__ import annotations

from cmsf.connections.models import CampaignMonitorClient
from cmsf.sync import leases
from cmsf.sync.engine import Progress, run_primary_sync
from cmsf.sync.models import SyncRun


class ClientBusy(Exception):
    """Another worker is syncing this client now."""


def sync_client(
    *, client: CampaignMonitorClient, dry_run: bool = False, progress: Progress | None = None, owner: str | None = None
) -> SyncRun:
    owner = owner or leases.worker_id()
    if not leases.claim(client.pk, owner):
        raise ClientBusy(f"{client.name} is being synced by another worker")
    try:
        return run_primary_sync(client, dry_run=dry_run, progress=progress)
    finally:
        leases.release(client.pk, owner)


def clients_to_sync(client_id: str | None = None) -> list[CampaignMonitorClient]:
    clients = CampaignMonitorClient.objects.filter(active=True, selected=True)
    if client_id:
        clients = CampaignMonitorClient.objects.filter(cm_client_id=client_id)
    return list(clients.order_by("name"))
