"""Leases and the scheduler: one sync per client at a time, dead workers' leases freed, due syncs queued."""

from datetime import timedelta

import pytest
from django.utils import timezone

from cmsf.connections.models import CampaignMonitorAccount, CampaignMonitorClient, SalesforceOrg
from cmsf.sync import leases
from cmsf.sync.models import ClientLease, SyncSettings
from cmsf.sync.services import due_clients

pytestmark = pytest.mark.django_db


@pytest.fixture
def clients():
    # Connected, as far as the scheduler can tell: a disconnected installation schedules nothing (tested below).
    CampaignMonitorAccount.objects.update_or_create(pk=1, defaults={"auth_method": "api_key", "api_key": "k"})
    SalesforceOrg.objects.update_or_create(pk=1, defaults={"instance_url": "https://org.example", "access_token": "t"})
    return [
        CampaignMonitorClient.objects.create(cm_client_id="a", name="A"),
        CampaignMonitorClient.objects.create(cm_client_id="b", name="B"),
        CampaignMonitorClient.objects.create(cm_client_id="c", name="C", selected=False),
    ]


def test_a_lease_is_held_by_one_worker_at_a_time(clients):
    client = clients[0]
    assert leases.claim(client.pk, "worker-1")
    assert not leases.claim(client.pk, "worker-2")
    assert leases.renew(client.pk, "worker-1") and not leases.renew(client.pk, "worker-2")
    leases.release(client.pk, "worker-2")  # not the holder: nothing happens
    assert not leases.claim(client.pk, "worker-2")
    leases.release(client.pk, "worker-1")
    assert leases.claim(client.pk, "worker-2")


def test_an_expired_lease_is_taken_over_and_reaped(clients):
    client = clients[0]
    assert leases.claim(client.pk, "dead-worker")
    ClientLease.objects.filter(client=client).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert leases.reap() == 1
    assert ClientLease.objects.get(client=client).owner == ""
    assert leases.claim(client.pk, "dead-worker")
    ClientLease.objects.filter(client=client).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert leases.claim(client.pk, "new-worker")  # an expired lease is claimable without the reaper
    assert not leases.renew(client.pk, "dead-worker")


def test_the_tick_queues_every_selected_client_when_due_and_moves_the_next_run(clients):
    now = timezone.now()
    assert sorted(due_clients(now)) == sorted([clients[0].pk, clients[1].pk])  # never scheduled: due at once
    settings = SyncSettings.load()
    assert settings.next_run == now + timedelta(hours=1)
    assert due_clients(now + timedelta(minutes=59)) == []
    assert len(due_clients(now + timedelta(hours=1))) == 2


def test_a_disconnected_installation_queues_nothing(clients):
    SalesforceOrg.objects.update(access_token="", refresh_token="")
    assert due_clients(timezone.now()) == []
    assert SyncSettings.load().next_run is None  # nothing was scheduled, to fail


def test_turned_off_or_off_frequency_queues_nothing(clients):
    settings = SyncSettings.load()
    settings.sync_enabled = False
    settings.save()
    assert due_clients(timezone.now()) == []
    settings.sync_enabled, settings.import_frequency = True, "off"
    settings.save()
    assert due_clients(timezone.now()) == []
