"""Health (issue 19): `/healthz` answers alive without touching the database, even for a signed-in browser's cookie;
`/readyz` answers JSON without authentication, 200 when the database, the queue, the scheduler's heartbeat and every
client's sync are fine and 503 naming what is not, logged once at WARNING and not as an ERROR at every probe."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.utils import timezone
from huey.contrib.djhuey import HUEY
from huey.storage import SqliteStorage

from cmsf.connections.models import CampaignMonitorClient
from cmsf.sync import health
from cmsf.sync import tasks as sync_tasks
from cmsf.sync.models import SchedulerHeartbeat, SyncSettings
from tests.emulators import sync_every_client


def checks(response) -> dict[str, dict]:
    return {check["name"]: check for check in response.json()["checks"]}


@pytest.mark.django_db
def test_healthz_reads_no_database_even_with_a_session_cookie(client, alice, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert client.get("/healthz").json() == {"ok": True}
    client.force_login(alice)
    assert client.cookies.get("sessionid")
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"ok": True}


@pytest.mark.django_db
def test_readyz_is_public_and_fails_until_the_scheduler_beats(client, settings, caplog, monkeypatch):
    monkeypatch.setattr(health, "_told", {"failing": frozenset()})  # this process answered no probe before
    settings.CMSF_HTTPS = settings.SECURE_SSL_REDIRECT = True
    caplog.set_level(logging.DEBUG)
    response = client.get("/readyz")  # plain HTTP, signed out: neither redirected nor sent to the sign-in page
    assert response.status_code == 503 and response["Content-Type"] == "application/json"
    found = checks(response)
    assert set(found) == {"database", "queue", "scheduler", "sync"}
    assert all(set(check) == {"name", "ok", "reason"} for check in found.values())
    assert found["database"]["ok"] and found["queue"]["ok"] and found["sync"]["ok"]
    assert found["scheduler"] == {"name": "scheduler", "ok": False, "reason": found["scheduler"]["reason"]}
    assert "no scheduler heartbeat yet" in found["scheduler"]["reason"]
    assert "not connected" in found["sync"]["reason"]  # a fresh installation is ready for an admin to connect it
    assert client.get("/readyz").status_code == 503  # a load balancer probes again and again

    warnings = [r for r in caplog.records if r.name == "cmsf.sync.health" and r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "scheduler" in warnings[0].getMessage()
    assert not [r for r in caplog.records if r.name == "django.request" and r.levelno >= logging.WARNING]

    sync_tasks.heartbeat_tick.call_local()  # what the scheduler runs every minute
    assert SchedulerHeartbeat.objects.get().beat_at > timezone.now() - timedelta(seconds=5)
    response = client.get("/readyz")
    assert response.status_code == 200 and response.json()["ok"] is True
    assert all(check["ok"] for check in response.json()["checks"])
    assert [r.getMessage() for r in caplog.records if r.name == "cmsf.sync.health"][-1] == "ready again"


@pytest.mark.django_db
def test_the_heartbeat_is_a_task_of_every_minute():
    periodic = {task.name: task for task in HUEY._registry.periodic_tasks}
    minute = timezone.now().replace(second=0, microsecond=0)
    assert all(periodic["heartbeat_tick"].validate_datetime(minute + timedelta(minutes=n)) for n in range(5))


@pytest.mark.django_db
def test_a_stale_heartbeat_is_not_ready(client):
    health.beat(timezone.now() - health.STALE_AFTER - timedelta(seconds=30))
    response = client.get("/readyz")
    assert response.status_code == 503
    assert (
        checks(response)["scheduler"]["reason"] == "the last scheduler heartbeat is 2 min old (expected every minute)"
    )
    health.beat(timezone.now() - timedelta(seconds=70))  # one beat missed is within two intervals
    assert client.get("/readyz").status_code == 200


@pytest.mark.django_db
def test_an_unreachable_queue_storage_is_not_ready(client, tmp_path, monkeypatch):
    health.beat()
    monkeypatch.setattr(
        HUEY, "storage", SqliteStorage("cmsf", filename=str(tmp_path / "gone" / "queue.sqlite3"), create_tables=False)
    )
    response = client.get("/readyz")
    assert response.status_code == 503
    assert checks(response)["queue"] == {
        "name": "queue",
        "ok": False,
        "reason": "the queue's storage does not answer: OperationalError",
    }


@pytest.mark.django_db(transaction=True)
def test_a_client_whose_sync_is_overdue_is_not_ready(client, start_emulators, alice):
    world = start_emulators(43).world
    sync_every_client()
    health.beat()
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    assert checks(response)["sync"]["reason"] == "no client's sync is overdue"

    late = CampaignMonitorClient.objects.filter(selected=True).order_by("name").first()
    CampaignMonitorClient.objects.filter(pk=late.pk).update(last_synced_at=timezone.now() - timedelta(hours=3))
    response = client.get("/readyz")
    assert response.status_code == 503
    assert checks(response)["sync"] == {
        "name": "sync",
        "ok": False,
        "reason": f"overdue (the sync runs hourly): {late.name} (last good sync 3 h ago)",
    }
    assert world.account_api_key not in response.content.decode()

    SyncSettings.objects.update(sync_enabled=False)  # turned off: nothing is due, so nothing is late
    assert client.get("/readyz").status_code == 200
