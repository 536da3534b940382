"""Running syncs: claim the client's lease, run, release."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.utils import timezone

from cmsf.billing.services import features
from cmsf.connections.models import CampaignMonitorClient
from cmsf.connections.selectors import not_connected_reason
from cmsf.sync import directory, leases
from cmsf.sync.engine import Progress, run_primary_sync
from cmsf.sync.engine import join_run as engine_join_run
from cmsf.sync.models import SYNC, Cursor, ImportFrequency, RecordMap, SyncRun, SyncSettings


class ClientBusy(Exception):
    """Another worker is syncing this client now."""


def sync_client(
    *,
    client: CampaignMonitorClient,
    full: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
    owner: str | None = None,
    run: SyncRun | None = None,
    ask_for_helpers: Callable[[int, int], None] | None = None,
) -> SyncRun:
    """Open a run of the client (its lease claimed) and take its partitions; `ask_for_helpers(run_id, n)` asks the
    queue for n more workers once the partitions are open (`join_run`)."""
    owner = owner or leases.worker_id()
    if not leases.claim(client.pk, owner):
        raise ClientBusy(f"{client.name} is being synced by another worker")

    def heartbeat() -> None:
        if not leases.renew(client.pk, owner):
            raise leases.LeaseLost(f"the lease of {client.name} expired and another worker took it over")

    try:
        return run_primary_sync(client, full=full, dry_run=dry_run, progress=progress, heartbeat=heartbeat, run=run,
                                worker=owner, ask_for_helpers=ask_for_helpers)  # fmt: skip
    finally:
        leases.release(client.pk, owner)


def clients_to_sync(client_id: str | None = None) -> list[CampaignMonitorClient]:
    """The selected clients (or the one named); a plan without agency sub-accounts syncs one of them."""
    if client_id:
        return list(CampaignMonitorClient.objects.filter(cm_client_id=client_id))
    clients = list(CampaignMonitorClient.objects.filter(active=True, selected=True).order_by("name"))
    return clients if features(timezone.now()).agency_clients else clients[:1]


def sync_client_by_id(
    client_id: int,
    *,
    full: bool = False,
    run_id: int | None = None,
    ask_for_helpers: Callable[[int, int], None] | None = None,
) -> SyncRun | None:
    """The queue's entry point: sync a client unless another worker already is (then the next tick does). `run_id`:
    a run queued by Sync now, which this sync fills in (or ends with the reason it did not happen)."""
    run = SyncRun.objects.filter(pk=run_id).first() if run_id is not None else None
    client = CampaignMonitorClient.objects.filter(pk=client_id, active=True).first()
    if client is None:
        if run is not None:
            _not_run(run, "the client is no longer active")
        return None
    try:
        return sync_client(client=client, full=full, run=run, ask_for_helpers=ask_for_helpers)
    except ClientBusy as busy:
        if run is not None:
            _not_run(run, f"{busy}; its sync goes on and this one was not started")
        return None


def join_run(run_id: int) -> SyncRun | None:
    """The queue's entry point of a worker asked to help: take a share of the run's partitions (none when the run
    ended or nothing is left to take)."""
    run = SyncRun.objects.select_related("client").filter(pk=run_id).first()
    if run is None:
        return None
    return engine_join_run(run)


def _not_run(run: SyncRun, reason: str) -> None:
    SyncRun.objects.filter(pk=run.pk).update(status=SyncRun.Status.FAILED, message=reason, finished_at=timezone.now())


def queue_runs(*, full: bool = False) -> list[SyncRun]:
    """A queued run for every selected client (what Sync now and a full sync show progress of)."""
    kind = SyncRun.Kind.FULL if full else SyncRun.Kind.PRIMARY
    return [SyncRun.objects.create(client=client, kind=kind) for client in clients_to_sync()]


def due_clients(now: datetime) -> list[int]:
    """The clients to sync on this scheduler tick (all selected ones when the primary sync is due), moving
    the next run on by the import frequency. Dead workers' leases are freed first."""
    leases.reap()
    settings = SyncSettings.load()
    if not settings.sync_enabled or settings.interval is None or not_connected_reason():
        return []  # disconnected: nothing runs (Sync Settings says so) until it is connected again
    if settings.next_run is None:
        settings.next_run = now  # a sync that was never scheduled is due at once
    if settings.next_run > now:
        return []
    settings.reschedule(now)
    settings.save(update_fields=["next_run"])
    return [client.pk for client in clients_to_sync()]


def forget_written_records(**kwargs: Any) -> None:
    """cmsf now writes to another Salesforce org: the ledger, the cursors and the mirror of contacts and leads
    described the old one, so the next sync imports everything into the new org and reads its people anew."""
    RecordMap.objects.all().delete()
    Cursor.objects.all().delete()
    directory.forget()


def _change(field: str, value: Any, *, action: str, actor: str) -> SyncSettings:
    """Change one Sync Settings field; the next run follows from the new choice; audited (who, before, after)."""
    from cmsf.maintenance.services import update_settings

    before = getattr(SyncSettings.load(), field)
    settings: SyncSettings = update_settings(SYNC, {field: value}, actor=actor, section=SYNC.key, action=action,
                                             fields=(field,))  # fmt: skip
    if getattr(settings, field) != before:
        settings.settings_changed(timezone.now())
    return settings


def set_sync_enabled(enabled: bool, *, actor: str) -> SyncSettings:
    """Turn the scheduled sync off (no next run, no client enqueued) or on again (the next run one interval from
    now); audited."""
    return _change("sync_enabled", enabled, action="Turn on sync" if enabled else "Turn off sync", actor=actor)


class InvalidSetting(ValueError):
    """A value the setting does not take; the message says which ones it does."""


def set_import_frequency(frequency: str, *, actor: str) -> SyncSettings:
    """Change how often the primary sync runs; the next run follows from the new choice (none for Off); audited."""
    if frequency not in ImportFrequency.values:
        choices = ", ".join(label for _, label in ImportFrequency.choices)
        raise InvalidSetting(f"Choose an import frequency from the list: {choices}.")
    return _change("import_frequency", frequency, action="Change import frequency", actor=actor)
