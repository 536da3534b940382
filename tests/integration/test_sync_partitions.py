"""A run's partitions taken by lease (`sync.partitions`): each taken once however many workers reach for them, taken
over when its worker stops renewing it, the run closed by exactly one worker once its last partition ends; the ledger
stays one row a key under concurrent writers. Runs on SQLite here and on PostgreSQL in .ci/run (db_backend)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from django.db import connection
from django.utils import timezone

from cmsf.connections.models import CampaignMonitorClient
from cmsf.sync import leases, partitions
from cmsf.sync.models import ClientLease, RecordMap, SyncPartition, SyncRun
from cmsf.sync.writer import record_ledger

pytestmark = pytest.mark.django_db(transaction=True)
T = TypeVar("T")


def _run(lists: int = 3, campaigns: int = 5) -> SyncRun:
    client = CampaignMonitorClient.objects.create(cm_client_id="c1", name="Client")
    run = SyncRun.objects.create(client=client, status=SyncRun.Status.RUNNING, started_at=timezone.now())
    ClientLease.objects.create(client=client, owner="opener", expires_at=timezone.now() + timedelta(minutes=10))
    partitions.open_run(run, [
        *((partitions.list_key(f"L{i}"), {}) for i in range(lists)),
        *((partitions.campaign_key(f"C{i}"), {"sent": None}) for i in range(campaigns)),
        (partitions.SUPPRESSION, {}),
        (partitions.RETENTION, {}),
    ])  # fmt: skip
    return run


def _in_threads(n: int, work: Callable[[int], T]) -> list[T]:
    """`work(i)` on n threads started together, each with its own database connection."""
    barrier = threading.Barrier(n)

    def one(i: int) -> T:
        try:
            barrier.wait()
            return work(i)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(one, range(n)))


def test_the_run_names_itself_on_the_clients_lease_and_offers_its_partitions_in_order() -> None:
    run = _run(lists=2, campaigns=1)
    assert ClientLease.objects.get(client=run.client).run_id == run.pk
    keys = list(SyncPartition.objects.filter(run=run).order_by("position").values_list("key", flat=True))
    assert keys == ["list:L0", "list:L1", "campaign:C0", "suppression", "retention"]
    taken = partitions.claim(run.pk, "w1", partitions.CAMPAIGN)
    assert taken is not None and taken.key == "campaign:C0" and taken.owner == "w1" and taken.claims == 1
    assert partitions.claim(run.pk, "w1", partitions.CAMPAIGN) is None  # the only campaign is held


def test_every_partition_is_taken_once_however_many_workers_reach_for_it() -> None:
    run = _run(lists=6, campaigns=14)

    def worker(i: int) -> list[str]:
        mine = []
        for prefix in (partitions.LIST, partitions.CAMPAIGN, partitions.SUPPRESSION, partitions.RETENTION):
            while (taken := partitions.claim(run.pk, f"w{i}", prefix)) is not None:
                mine.append(taken.key)
        partitions.finish(run.pk, f"w{i}", {})
        return mine

    shares = _in_threads(4, worker)
    every = [key for share in shares for key in share]
    assert sorted(every) == sorted(SyncPartition.objects.filter(run=run).values_list("key", flat=True))
    assert len(every) == len(set(every)) == 22
    assert set(SyncPartition.objects.filter(run=run).values_list("state", "claims")) == {("done", 1)}
    done_by = set(SyncPartition.objects.filter(run=run).values_list("done_by", flat=True))
    assert done_by == {f"w{i}" for i, share in enumerate(shares) if share}


def test_a_partition_whose_lease_expired_is_taken_over_and_its_first_worker_learns_it_lost_it() -> None:
    run = _run(lists=1, campaigns=0)
    first = partitions.claim(run.pk, "w1", partitions.LIST)
    assert first is not None
    assert partitions.claim(run.pk, "w2", partitions.LIST) is None  # held and renewed: not free
    assert partitions.renew(run, "w1") == 1
    SyncPartition.objects.filter(pk=first.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    second = partitions.claim(run.pk, "w2", partitions.LIST)
    assert second is not None and second.pk == first.pk and second.owner == "w2" and second.claims == 2
    assert partitions.renew(run, "w1") == 0  # its heartbeat now finds fewer partitions than it held: it stops
    assert partitions.finish(run.pk, "w1", {}) == 0  # and marks nothing done
    assert partitions.finish(run.pk, "w2", {}) == 1


def test_a_partition_of_a_worker_that_died_on_this_machine_is_taken_over_at_once() -> None:
    run = _run(lists=1, campaigns=0)
    dead = f"{socket.gethostname()}:999999999:deadbeef"  # no such process
    assert partitions.claim(run.pk, dead, partitions.LIST) is not None
    taken = partitions.claim(run.pk, "w2", partitions.LIST)
    assert taken is not None and taken.owner == "w2" and taken.claims == 2


def test_the_heartbeat_renews_the_clients_lease_while_the_run_is_named_on_it() -> None:
    run = _run(lists=1, campaigns=0)
    ClientLease.objects.filter(client=run.client).update(expires_at=timezone.now())
    assert partitions.claim(run.pk, "helper", partitions.LIST) is not None
    partitions.renew(run, "helper")
    assert ClientLease.objects.get(client=run.client).expires_at > timezone.now() + timedelta(seconds=60)


def test_a_new_run_does_not_take_the_client_while_another_worker_of_the_run_goes_on() -> None:
    run = _run(lists=2, campaigns=0)
    dead = f"{socket.gethostname()}:999999999:deadbeef"
    ClientLease.objects.filter(client=run.client).update(owner=dead)  # the opening worker died
    assert partitions.claim(run.pk, "helper", partitions.LIST) is not None  # another goes on
    assert not leases.claim(run.client.pk, "next-run")
    partitions.finish(run.pk, "helper", {})
    assert leases.claim(run.client.pk, "next-run")  # nothing held by a live worker now


def test_the_run_closes_once_its_last_partition_ends_and_by_exactly_one_worker() -> None:
    run = _run(lists=2, campaigns=2)
    assert partitions.claim(run.pk, "w1", partitions.LIST) is not None
    assert not partitions.close(run.pk, "w1")  # partitions remain
    partitions.finish(run.pk, "w1", {})
    for prefix in (partitions.LIST, partitions.CAMPAIGN, partitions.SUPPRESSION, partitions.RETENTION):
        while partitions.claim(run.pk, "w2", prefix) is not None:
            pass
    assert not partitions.close(run.pk, "w2")  # held, not yet done
    partitions.finish(run.pk, "w2", {})
    closers = _in_threads(6, lambda i: partitions.close(run.pk, f"w{i}"))
    assert closers.count(True) == 1
    assert SyncRun.objects.get(pk=run.pk).closed_by == f"w{closers.index(True)}"


def test_what_each_partition_changed_is_kept_for_the_worker_that_closes_the_run() -> None:
    run = _run(lists=0, campaigns=2)
    assert partitions.claim(run.pk, "w1", "campaign:C0") is not None
    partitions.finish(run.pk, "w1", {"C0": {"003A", "003B"}})
    assert partitions.claim(run.pk, "w2", "campaign:C1") is not None
    assert partitions.claim(run.pk, "w2", partitions.RETENTION) is not None
    partitions.finish(run.pk, "w2", {"C1": {"00QC"}, "C0": None})  # retention removed rows of C0: all of them
    assert partitions.touched_of(run.pk) == {"C0": None, "C1": {"00QC"}}


def test_a_failed_share_ends_its_partitions_and_the_open_ones_so_the_run_can_close() -> None:
    run = _run(lists=3, campaigns=0)
    assert partitions.claim(run.pk, "w1", partitions.LIST) is not None
    assert partitions.claim(run.pk, "w2", partitions.LIST) is not None
    assert partitions.abandon(run.pk, "w1") == 4  # its own, the last list, suppression and retention
    assert not partitions.close(run.pk, "w1")  # w2 still holds one
    partitions.finish(run.pk, "w2", {})
    assert partitions.close(run.pk, "w2")


def test_the_ledger_keeps_one_row_a_key_when_workers_write_the_same_keys_at_once() -> None:
    client = CampaignMonitorClient.objects.create(cm_client_id="c1", name="Client")
    keys = [f"k{i}" for i in range(300)]

    def write(i: int) -> None:
        entries: list[tuple[Any, ...]] = [
            (key, f"a0{i}{n:014d}", f"hash{i}", None, "", "", None) for n, key in enumerate(keys)
        ]
        for start in range(0, len(entries), 50):
            record_ledger(client.pk, "CMSF_Subscriber__c", entries[start : start + 50], timezone.now())

    _in_threads(4, write)
    rows = RecordMap.objects.filter(sobject="CMSF_Subscriber__c")
    assert rows.count() == len(keys)
    assert sorted(rows.values_list("key", flat=True)) == sorted(keys)
    for sf_id, digest in rows.values_list("salesforce_id", "content_hash"):
        assert digest[-1] == sf_id[2]  # each row is one worker's whole write, never a mix of two
