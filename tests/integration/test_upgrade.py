"""`cmsf upgrade` on a database made by an earlier cmsf (tests/fixtures/upgrade, see its README): the plan, the
migrations, the data kept (credentials still decrypt, settings, runs), the checks, and a second run that does
nothing."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cryptography.fernet import Fernet

from tests.integration.test_cli import cmsf, init
from tests.integration.test_edge import PRODUCTION

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "upgrade"
PACKAGE = Path(__file__).resolve().parents[2] / "src" / "cmsf"


def _fixture_applied() -> set[str]:
    """The migrations the fixture's database has applied, as "app.migration"."""
    with gzip.open(FIXTURE / "cmsf.sqlite3.gz") as packed:
        raw = packed.read()
    copy = sqlite3.connect(":memory:")
    copy.deserialize(raw)
    try:
        return {f"{app}.{name}" for app, name in copy.execute("select app, name from django_migrations")}
    finally:
        copy.close()


# The migrations added since the fixture's commit: the six it was made before, and whatever came after them (read
# from the package's migration files, so a new migration needs no change here); in the order they apply.
ADDED_THEN = [
    "console.0002_embed_links",
    "maintenance.0004_grouped_messages",
    "sync.0013_run_outcomes",
    "sync.0014_ledger_member_status_label",
    "sync.0015_webhook_quarantine_public_url",
    "sync.0016_webhook_url_encrypted",
]
ON_DISK = {f"{path.parent.parent.name}.{path.stem}" for path in PACKAGE.glob("*/migrations/[0-9][0-9][0-9][0-9]_*.py")}
ADDED_SET = ON_DISK - _fixture_applied()
WEBHOOK_URL = "http://127.0.0.1:8765/hooks/campaign-monitor/"  # where the fixture's sync registered its webhooks


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data folder holding the earlier installation: its database and its two keys, its owner's only."""
    folder = tmp_path / "data"
    folder.mkdir(mode=0o700)
    with gzip.open(FIXTURE / "cmsf.sqlite3.gz") as packed, open(folder / "cmsf.sqlite3", "wb") as unpacked:
        shutil.copyfileobj(packed, unpacked)
    for name in ("encryption.key", "secret.key"):
        shutil.copy(FIXTURE / name, folder / name)
    for path in folder.iterdir():
        path.chmod(0o600)
    return folder


def _digest(path: Path) -> str:
    """The database's content (its schema and rows, not the file's header, which WAL mode rewrites on opening)."""
    connection = sqlite3.connect(path)
    try:
        return hashlib.sha256("\n".join(connection.iterdump()).encode()).hexdigest()
    finally:
        connection.close()


def _stored(data_dir: Path) -> dict:
    """What the upgraded installation reads back through cmsf's models, in a process of its own."""
    script = """
import json, os
import django
os.environ["DJANGO_SETTINGS_MODULE"] = "cmsf.project.settings"
django.setup()
from cmsf.connections.models import CampaignMonitorAccount, SalesforceOrg
from cmsf.sync.models import ListWebhook, SyncRun
cm, sf = CampaignMonitorAccount.load(), SalesforceOrg.load()
print(json.dumps({
    "cm_api_key": cm.api_key, "cm_webhook_secret": cm.webhook_secret, "sf_private_key": sf.jwt_private_key,
    "sf_access_token": sf.access_token, "sf_username": sf.jwt_username,
    "webhooks": sorted(hook.url for hook in ListWebhook.objects.all()),
    "runs": sorted((run.kind, run.status) for run in SyncRun.objects.all()),
}))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CMSF_", "DATABASE_URL", "DJANGO_"))}
    env["CMSF_DATA_DIR"] = str(data_dir)
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_upgrade_plans_applies_keeps_the_data_and_then_does_nothing(data_dir: Path) -> None:
    database = data_dir / "cmsf.sqlite3"
    before = sqlite3.connect(database)
    clear_urls = [url for (url,) in before.execute("select url from sync_listwebhook")]
    before.close()
    assert clear_urls and all(url.startswith(WEBHOOK_URL) for url in clear_urls)  # stored in clear back then
    untouched = _digest(database)

    planned = cmsf(data_dir, "upgrade", "--plan")
    assert planned.returncode == 0, planned.stderr
    ADDED = [line.removeprefix("to apply: ") for line in planned.stdout.splitlines()[:-1]]
    assert set(ADDED) == ADDED_SET and set(ADDED_THEN) <= ADDED_SET and len(ADDED) == len(ADDED_SET)
    assert [name for name in ADDED if name in ADDED_THEN] == ADDED_THEN  # in the order they apply
    assert planned.stdout.splitlines()[-1] == f"{len(ADDED)} migrations to apply for cmsf 0.1.0"
    assert _digest(database) == untouched  # --plan changes nothing

    upgraded = cmsf(data_dir, "upgrade", extra_env=PRODUCTION)
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    assert upgraded.stdout.splitlines() == [
        *(f"applied: {name}" for name in ADDED),
        "database upgraded to cmsf 0.1.0",
        "checks passed",
    ]

    stored = _stored(data_dir)  # every credential decrypts with the installation's key
    assert stored["cm_api_key"] and stored["cm_webhook_secret"] and stored["sf_access_token"]
    assert stored["sf_private_key"].startswith("-----BEGIN") and stored["sf_username"].endswith(".example")
    assert stored["webhooks"] == sorted(clear_urls)  # read back as they were ...
    after = sqlite3.connect(database)
    for (column,) in after.execute("select url from sync_listwebhook"):
        assert "hooks" not in column and column.startswith("gAAAA")  # ... and no longer in clear (migration 0016)
    audited = after.execute("select actor, action, after from maintenance_auditentry where section = 'installation'")
    assert [(actor, action, json.loads(done)) for actor, action, done in audited] == [
        ("cli:upgrade", "upgraded the database to cmsf 0.1.0", {"applied": ADDED})
    ]
    after.close()
    assert stored["runs"] == [["primary", "succeeded"], ["primary", "succeeded"]]  # the runs made back then

    exported = yaml.safe_load(cmsf(data_dir, "config", "export").stdout)  # the settings made back then are kept
    assert exported["sync"]["import_frequency"] == "daily"
    assert exported["tracking_history"]["days_to_keep"] == 90
    assert exported["general_options"]["watch_interval_minutes"] == 15
    status = json.loads(cmsf(data_dir, "status", "--json").stdout)
    assert status["campaign_monitor"]["connected"] and status["salesforce"]["connected"]
    assert [client["selected"] for client in status["campaign_monitor"]["clients"]] == [True, True]

    settled = _digest(database)
    again = cmsf(data_dir, "upgrade", "--plan")
    assert again.returncode == 0 and again.stdout == "the database is up to date\n", again.stdout + again.stderr
    second = cmsf(data_dir, "upgrade", extra_env=PRODUCTION)
    assert second.returncode == 0 and second.stdout == "the database was up to date\nchecks passed\n", second.stdout
    assert _digest(database) == settled  # a no-op: not even an audit entry


def test_upgrade_without_the_installations_key_changes_nothing_and_fails(data_dir: Path) -> None:
    database = data_dir / "cmsf.sqlite3"
    untouched = _digest(database)
    (data_dir / "encryption.key").write_text(Fernet.generate_key().decode())  # another installation's key
    wrong = cmsf(data_dir, "upgrade", extra_env=PRODUCTION)
    assert wrong.returncode == 1
    lines = wrong.stdout.splitlines()
    assert lines[0] == f"the database was not upgraded: {len(ADDED_SET)} migrations to apply" and lines[-1] == "1 error"
    assert lines[1].startswith("error: cmsf.keys: ") and lines[1].endswith(" (nothing was migrated)")
    assert _digest(database) == untouched

    (data_dir / "encryption.key").unlink()
    missing = cmsf(data_dir, "upgrade", extra_env=PRODUCTION)
    assert missing.returncode == 1 and "error: cmsf.keys:" in missing.stdout and "applied:" not in missing.stdout
    assert _digest(database) == untouched
    assert {
        line.removeprefix("to apply: ") for line in cmsf(data_dir, "upgrade", "--plan").stdout.splitlines()[:-1]
    } == (ADDED_SET)


def test_a_migration_that_fails_stops_the_upgrade_which_says_where(data_dir: Path) -> None:
    database = sqlite3.connect(data_dir / "cmsf.sqlite3")
    database.execute("create table sync_unwatchedwebhooklist (id integer primary key)")  # in sync.0015's way
    database.commit()
    database.close()
    order = [line.removeprefix("to apply: ") for line in cmsf(data_dir, "upgrade", "--plan").stdout.splitlines()[:-1]]
    before = order[: order.index("sync.0015_webhook_quarantine_public_url")]
    stopped = cmsf(data_dir, "upgrade", extra_env=PRODUCTION)
    assert stopped.returncode == 1
    assert stopped.stdout.splitlines() == [
        *(f"applied: {name}" for name in before),
        f"the upgrade stopped at sync.0015_webhook_quarantine_public_url: {len(before)} of {len(order)} migrations "
        "applied",
        "error: cmsf.migrate: sync.0015_webhook_quarantine_public_url failed (OperationalError: table "
        '"sync_unwatchedwebhooklist" already exists); the migrations before it are applied: restore the backup, or '
        "fix the cause and run `cmsf upgrade` again",
        "1 error",
    ]
    assert "ERROR cmsf.upgrade: cmsf upgrade: a migration failed" in stopped.stderr and "Traceback" in stopped.stderr
    left = cmsf(data_dir, "upgrade", "--plan").stdout.splitlines()[:-1]
    assert left == [f"to apply: {name}" for name in order[len(before) :]]


def test_upgrade_names_what_the_checks_find_and_refuses_a_new_installation(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    refused = cmsf(fresh, "upgrade")
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr == "cmsf: error: the database is not set up: run `cmsf init` to make a new installation\n"
    assert cmsf(fresh, "upgrade", "--plan").returncode == 1

    init(fresh)
    plain = cmsf(fresh, "upgrade")  # up to date, not set up for production: the deploy checks warn, not fail
    assert plain.returncode == 0
    lines = plain.stdout.splitlines()
    assert lines[0] == "the database was up to date"
    assert "warning: cmsf.https: CMSF_HTTPS is off" in plain.stdout
    assert lines[-1] == f"{len(lines) - 2} warning" + ("s" if len(lines) - 2 != 1 else "")
