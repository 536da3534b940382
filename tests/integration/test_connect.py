"""`cmsf connect --sandbox-info`: cmsf connected to both emulators of a running `cmsf sandbox`."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.processes import CMSF


def run(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CMSF_", "DATABASE_URL", "DJANGO_"))}
    env["CMSF_DATA_DIR"] = str(data_dir)
    return subprocess.run([CMSF, *args], env=env, capture_output=True, text=True, timeout=180)


@pytest.fixture
def sandbox(tmp_path):
    info = tmp_path / "sandbox.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CMSF_", "DATABASE_URL", "DJANGO_"))}
    env["CMSF_DATA_DIR"] = str(tmp_path / "sandbox-data")
    process = subprocess.Popen(
        [CMSF, "sandbox", "--dataset", "tiny", "--seed", "5", "--info-json", str(info)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not info.exists():
        assert process.poll() is None and time.monotonic() < deadline, "the sandbox did not start"
        time.sleep(0.1)
    yield json.loads(info.read_text()), info
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=60)


def test_connect_from_the_sandbox_info_stores_both_connections(tmp_path, sandbox):
    info, info_file = sandbox
    data_dir = tmp_path / "cmsf-data"
    assert run(data_dir, "init", "--no-input").returncode == 0
    connected = run(data_dir, "connect", "--sandbox-info", str(info_file))
    assert connected.returncode == 0, connected.stderr
    assert "Campaign Monitor connected: " in connected.stdout and "Salesforce connected: " in connected.stdout

    status = json.loads(run(data_dir, "status", "--json").stdout)
    assert status["campaign_monitor"]["connected"] and status["salesforce"]["connected"]
    assert status["salesforce"]["instance_url"] == info["salesforce"]["instance_url"]
    assert status["salesforce"]["sync_user"]
    clients = {c["id"]: c for c in status["campaign_monitor"]["clients"]}
    assert set(clients) == {c["client_id"] for c in info["campaign_monitor"]["clients"]}

    db = sqlite3.connect(data_dir / "cmsf.sqlite3")
    zones = dict(db.execute("select cm_client_id, time_zone from connections_campaignmonitorclient"))
    assert zones == {c["client_id"]: c["time_zone"] for c in info["campaign_monitor"]["clients"]}
    raw = b"".join(p.read_bytes() for p in data_dir.glob("cmsf.sqlite3*"))
    private_key = Path(info["salesforce"]["jwt_private_key_file"]).read_text()
    assert info["campaign_monitor"]["api_key"].encode() not in raw
    assert private_key.splitlines()[1].encode() not in raw
    actions = [a for (a,) in db.execute("select action from maintenance_auditentry order by id")]
    assert actions == ["Connect Campaign Monitor", "Connect Salesforce"]


def test_a_wrong_key_is_refused_plainly(tmp_path, sandbox):
    info, _ = sandbox
    data_dir = tmp_path / "cmsf-data"
    run(data_dir, "init", "--no-input")
    result = run(
        data_dir, "connect", "campaign-monitor", "--api-key", "wrong",
        "--base-url", info["campaign_monitor"]["base_url"], "--ca-file", info["campaign_monitor"]["ca_file"],
    )  # fmt: skip
    assert result.returncode == 2 and "could not connect" in result.stderr and "reconnect" in result.stderr
    assert "Traceback" not in result.stderr
    status = json.loads(run(data_dir, "status", "--json").stdout)
    assert not status["campaign_monitor"]["connected"]


def test_watch_once_and_forget_from_the_command_line(tmp_path, sandbox):
    _, info_file = sandbox
    data_dir = tmp_path / "cmsf-data"
    assert run(data_dir, "init", "--no-input").returncode == 0
    assert run(data_dir, "connect", "--sandbox-info", str(info_file)).returncode == 0
    assert run(data_dir, "sync").returncode in (0, 3)

    first = run(data_dir, "watch", "--once", "--json")
    assert first.returncode == 0, first.stderr
    assert "started watching" in json.loads(first.stdout)["message"]
    second = json.loads(run(data_dir, "watch", "--once", "--json").stdout)
    # Nothing changed: a queryAll and a getDeleted per object, and no Campaign Monitor call.
    assert second["status"] == "succeeded" and second["sf_calls"] == 4 and second["cm_calls"] == 0

    db = sqlite3.connect(data_dir / "cmsf.sqlite3")
    key = db.execute(
        "select key from sync_recordmap where sobject = 'CMSF_Subscriber__c' order by id limit 1"
    ).fetchone()[0]
    email = key.split(":", 1)[1]
    forgot = run(data_dir, "forget", email, "--json")
    assert forgot.returncode == 0, forgot.stderr + forgot.stdout
    summary = json.loads(forgot.stdout)
    assert summary["salesforce_rows_deleted"]["CMSF_Subscriber__c"] >= 1 and summary["problems"] == []
    assert not db.execute("select count(*) from sync_recordmap where key like ?", (f"%{email}",)).fetchone()[0]
    assert run(data_dir, "forget", "not an email").returncode == 2


def _stored_client_secret(data_dir: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CMSF_", "DATABASE_URL", "DJANGO_"))}
    env.update({"CMSF_DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "cmsf.project.settings"})
    code = "import django; django.setup(); from cmsf.connections.models import SalesforceOrg as O; print(O.load().client_secret)"
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_reconnecting_salesforce_without_the_secret_keeps_it_and_asks_before_losing_it(tmp_path, sandbox):
    info, info_file = sandbox
    sf = info["salesforce"]
    data_dir = tmp_path / "cmsf-data"
    run(data_dir, "init", "--no-input")
    assert run(data_dir, "connect", "--sandbox-info", str(info_file)).returncode == 0
    assert _stored_client_secret(data_dir) == sf["client_secret"]
    jwt = ["connect", "salesforce", "--flow", "jwt_bearer", "--login-domain", "custom", "--login-url", sf["login_url"],
           "--username", sf["jwt_username"], "--private-key-file", sf["jwt_private_key_file"], "--ca-file", sf["ca_file"]]  # fmt: skip

    again = run(data_dir, *jwt, "--client-id", sf["client_id"])  # the same connected app, no --client-secret
    assert again.returncode == 0, again.stderr
    assert _stored_client_secret(data_dir) == sf["client_secret"]  # "Log in with Salesforce" still works

    other = run(data_dir, *jwt, "--client-id", "another-connected-app")
    assert other.returncode == 2 and len(other.stderr.splitlines()) == 1
    assert '"Log in with Salesforce"' in other.stderr and "--yes" in other.stderr
    assert _stored_client_secret(data_dir) == sf["client_secret"]  # nothing changed
