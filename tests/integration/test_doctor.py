"""`cmsf doctor` (issue 19): on a healthy installation (the production settings, both emulators connected, a sync
done, the webhooks registered at a public URL that answers, the scheduler beating) every line is ✓ and it exits 0;
then each thing broken in turn (a stale heartbeat, an unapplied migration, a wrong key, webhooks missing, a public
URL that does not answer, a skewed clock) is a ✗ line with its fix, and it exits 1. `--json` says the same as data,
from a real process."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from django.core.asgi import get_asgi_application
from django.core.management import call_command
from django.utils import timezone

from cmsf import doctor
from cmsf.connections import services as connections
from cmsf.sync import health
from cmsf.sync.models import ListWebhook, SyncSettings
from cmsf_sandbox.server import serve_in_thread
from tests.emulators import sync_every_client
from tests.integration.sandboxes import env_for
from tests.processes import CMSF

pytestmark = pytest.mark.django_db(transaction=True)
NAMES = [
    "configuration",
    "keys",
    "file modes",
    "database",
    "queue",
    "scheduler",
    "Campaign Monitor API",
    "Salesforce API",
    "Salesforce schema",
    "webhooks",
    "public URL",
    "clock",
]


def by_name(lines: list[doctor.Line]) -> dict[str, doctor.Line]:
    assert [line.name for line in lines] == NAMES
    return {line.name: line for line in lines}


def production(settings, data_dir) -> None:
    """The production environment of `cmsf check --deploy`, with a data folder its owner's only."""
    data_dir.mkdir(mode=0o700)
    settings.DATA_DIR = data_dir
    settings.DEBUG = False
    settings.CMSF_HTTPS = settings.SECURE_SSL_REDIRECT = True
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    settings.SECURE_HSTS_SECONDS = 365 * 24 * 3600
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.CMSF_TRUSTED_PROXIES = ["127.0.0.1"]
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost"]


@pytest.fixture
def healthy(tmp_path, settings, immediate_queue, monkeypatch, start_emulators) -> Iterator[str]:
    """A healthy installation; its public URL."""
    production(settings, tmp_path / "data")
    r = start_emulators(47)
    with serve_in_thread(get_asgi_application(), tls=r.tls) as base:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", r.ca)  # the public URL's certificate is the sandbox's
        stored = SyncSettings.load()
        stored.public_url, stored.public_url_set_at = base, timezone.now()
        stored.save()
        sync_every_client()
        assert ListWebhook.objects.exists()
        health.beat()
        yield base


def _harness(line: doctor.Line) -> bool:
    """The one warning the test process itself causes: the browser tests' conftest allows Django's sync calls from
    async code for the whole process (DJANGO_ALLOW_ASYNC_UNSAFE), which Django's deployment check (async.E001)
    rightly names; an installation does not set it."""
    return (
        bool(os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE"))
        and line.name == "configuration"
        and line.status == doctor.WARN
        and line.fix.startswith("async.E001")
    )


def test_a_healthy_installation_is_all_checks_passed(healthy):
    lines = doctor.run()
    assert [line.text() for line in lines if line.status != doctor.OK and not _harness(line)] == []
    assert all(line.text().startswith(f"✓ {line.name}: ") and not line.fix for line in lines if not _harness(line))
    assert doctor.exit_code(lines) == 0
    found = by_name(lines)
    assert found["webhooks"].summary.startswith("every list (") and healthy in found["webhooks"].summary
    assert found["public URL"].summary == f"GET {healthy}/healthz answers"
    assert doctor.document(lines)["ok"] is True


def test_a_stale_heartbeat_and_a_skewed_clock_are_failures_with_their_fix(healthy):
    health.beat(timezone.now() - timedelta(minutes=5))
    lines = doctor.run(clock=lambda: datetime.now(UTC) + timedelta(seconds=95))
    found = by_name(lines)
    assert found["scheduler"].status == doctor.FAIL
    assert found["scheduler"].text() == (
        "✗ scheduler: the last scheduler heartbeat is 5 min old (expected every minute) — fix: start the worker with "
        "its scheduler: `cmsf serve` (with its worker) or `cmsf worker`, on exactly one machine without --no-scheduler"
    )
    assert found["clock"].status == doctor.FAIL
    assert found["clock"].summary in {f"this machine's clock is {n} s ahead of Salesforce's" for n in range(93, 98)}
    assert "NTP" in found["clock"].fix
    assert doctor.exit_code(lines) == 1
    assert [line.name for line in lines if line.status != doctor.OK and not _harness(line)] == ["scheduler", "clock"]


def test_missing_webhooks_and_a_public_url_that_does_not_answer_are_failures(healthy):
    cm = connections.campaign_monitor()
    hook = ListWebhook.objects.order_by("list_id").first()
    cm.delete_webhook(hook.list_id, hook.webhook_id)  # removed in Campaign Monitor, still remembered by cmsf
    found = by_name(doctor.run())
    assert found["webhooks"].status == doctor.FAIL
    assert found["webhooks"].summary.startswith(
        f"1 of {ListWebhook.objects.count()} lists have no webhook at {healthy}"
    )
    assert found["webhooks"].fix.startswith("run a sync")
    assert found["public URL"].status == doctor.OK

    closed = "https://127.0.0.1:9"  # the discard port: nothing listens
    SyncSettings.objects.update(public_url=closed)
    found = by_name(doctor.run())
    assert found["webhooks"].status == doctor.FAIL and f"no webhook at {closed}" in found["webhooks"].summary
    assert found["public URL"].status == doctor.FAIL
    assert found["public URL"].summary == f"GET {closed}/healthz failed: ConnectionError"
    assert found["public URL"].fix.startswith(f"make {closed}/healthz reach cmsf from the internet")


def test_a_wrong_key_fails_and_the_credentials_are_not_used(healthy, settings):
    settings.CMSF_ENCRYPTION_KEY = Fernet.generate_key().decode()
    lines = doctor.run()
    found = by_name(lines)
    assert found["keys"].status == doctor.FAIL
    assert found["keys"].summary == "the stored credentials cannot be decrypted with this key"
    assert found["keys"].fix.startswith("The encryption key does not match the one the stored credentials were")
    assert "Restore the original key" in found["keys"].fix
    for name in ("Campaign Monitor API", "Salesforce API"):
        assert found[name].text() == f"✗ {name}: not checked: the stored credentials cannot be read — fix: see keys"
    assert found["clock"].status == doctor.FAIL and doctor.exit_code(lines) == 1


def test_an_unapplied_migration_fails_with_the_command_that_applies_it(tmp_path, settings):
    production(settings, tmp_path / "data")
    call_command("migrate", "sync", "0016", verbosity=0)
    try:
        lines = doctor.run()
    finally:
        call_command("migrate", verbosity=0)
    found = by_name(lines)
    assert found["database"].status == doctor.FAIL
    assert re.fullmatch(r"\d+ migrations? not applied \(sync\.0017_scheduler_heartbeat.*\)", found["database"].summary)
    assert found["database"].fix == "run `cmsf init`, which applies them (stop the workers first)"
    assert found["scheduler"].text() == "✗ scheduler: not checked: the database is not ready — fix: see database"
    assert found["queue"].status == doctor.OK and doctor.exit_code(lines) == 1


def test_the_command_and_its_json_on_an_installation_not_connected(tmp_path):
    data_dir = tmp_path / "data"
    env = env_for(data_dir, CMSF_QUEUE_NAME="cmsf-test-doctor-cli")
    assert subprocess.run([CMSF, "init", "--no-input"], env=env, capture_output=True, timeout=120).returncode == 0
    plain = subprocess.run([CMSF, "doctor"], env=env, capture_output=True, text=True, timeout=120)
    assert plain.returncode == 1, plain.stderr
    lines = plain.stdout.splitlines()
    assert [line.split(" ", 1)[0] for line in lines] == ["!", "✓", "✓", "✓", "✓", "✗", "✗", "✗", "✗", "!", "!", "✗"]
    assert (
        "✗ Campaign Monitor API: not connected — fix: connect Campaign Monitor in the console (Sync Settings) or with "
        "`cmsf connect campaign-monitor --api-key KEY`" in lines
    )
    assert "✗ Salesforce API: not connected — fix: connect Salesforce in the console" in plain.stdout

    as_json = subprocess.run([CMSF, "doctor", "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert as_json.returncode == 1
    document = json.loads(as_json.stdout)
    assert document["ok"] is False and [c["name"] for c in document["checks"]] == NAMES
    assert [f"{c['mark']} {c['name']}: {c['summary']}" + (f" — fix: {c['fix']}" if c["fix"] else "")
            for c in document["checks"]] == lines  # fmt: skip
    assert {c["status"] for c in document["checks"]} == {"ok", "warn", "fail"}
