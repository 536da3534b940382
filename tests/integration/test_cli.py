"""The `cmsf` command as a user runs it: a fresh data folder, real processes, real HTTP."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml

from tests.processes import CMSF

ADMIN = ("admin@example.org", "a-long-admin-password")


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "data"


def cmsf(data_dir: Path, *args: str, input: str | None = None, extra_env: dict[str, str] | None = None):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CMSF_", "DATABASE_URL", "DJANGO_"))}
    env.update({"CMSF_DATA_DIR": str(data_dir), **(extra_env or {})})
    return subprocess.run([CMSF, *args], env=env, input=input, capture_output=True, text=True, timeout=120)


def init(data_dir: Path):
    result = cmsf(data_dir, "init", "--admin-email", ADMIN[0], "--admin-password", ADMIN[1], "--no-input")
    assert result.returncode == 0, result.stderr
    return result


def test_help_lists_every_command_with_a_line_each(data_dir):
    result = cmsf(data_dir, "--help")
    assert result.returncode == 0
    for command in ("init", "serve", "worker", "status", "config", "demo"):
        assert re.search(rf"^\s+{command}\s+\S", result.stdout, re.M), command


def test_init_sets_everything_up_and_can_run_again(data_dir):
    first = init(data_dir)
    assert "created the encryption key" in first.stdout and f"created the admin {ADMIN[0]}" in first.stdout
    key = data_dir / "encryption.key"
    assert key.stat().st_mode & 0o777 == 0o600
    again = init(data_dir)
    assert "encryption key in place" in again.stdout and f"updated the admin {ADMIN[0]}" in again.stdout
    db = sqlite3.connect(data_dir / "cmsf.sqlite3")
    groups = {name for (name,) in db.execute("select name from auth_group")}
    assert groups == {"CM Full Access", "CM User Access"}
    member_of = db.execute(
        "select g.name from auth_user u join auth_user_groups ug on ug.user_id = u.id "
        "join auth_group g on g.id = ug.group_id where u.username = ?",
        (ADMIN[0],),
    ).fetchall()
    assert member_of == [("CM Full Access",)]


def test_init_stores_the_public_url_which_export_shows_and_the_variable_only_seeds(data_dir, tmp_path):
    stored = cmsf(data_dir, "init", "--no-input", "--public-url", "https://cmsf.example.org/")
    assert stored.returncode == 0, stored.stderr
    assert "public URL https://cmsf.example.org: the sync registers a webhook" in stored.stdout
    exported = yaml.safe_load(cmsf(data_dir, "config", "export").stdout)
    assert exported["sync"]["public_url"] == "https://cmsf.example.org"
    refused = cmsf(data_dir, "init", "--no-input", "--public-url", "http://cmsf.example.org")
    assert refused.returncode != 0 and "--public-url" in refused.stderr and "https is required" in refused.stderr
    other = {"CMSF_PUBLIC_URL": "https://elsewhere.example.org"}
    assert "public URL https://cmsf.example.org:" in cmsf(data_dir, "init", "--no-input", extra_env=other).stdout

    fresh = tmp_path / "fresh"  # a new installation: the variable seeds the setting at init
    seeded = cmsf(fresh, "init", "--no-input", extra_env=other)
    assert "public URL https://elsewhere.example.org:" in seeded.stdout
    assert "public URL https://elsewhere.example.org:" in cmsf(fresh, "init", "--no-input").stdout  # stored


def test_init_without_input_refuses_an_email_without_a_password(data_dir):
    result = cmsf(data_dir, "init", "--admin-email", ADMIN[0], "--no-input")
    assert result.returncode == 2 and "--admin-password is needed" in result.stderr


def test_init_refuses_a_weak_password_plainly(data_dir):
    result = cmsf(data_dir, "init", "--admin-email", ADMIN[0], "--admin-password", "123", "--no-input")
    assert result.returncode == 2 and "--admin-password: This password is too short" in result.stderr
    assert "Traceback" not in result.stderr


def test_status_reports_the_defaults_as_json(data_dir):
    init(data_dir)
    result = cmsf(data_dir, "status", "--json")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["sync"]["import_frequency"] == "hourly" and status["sync"]["sync_enabled"] is True
    assert status["plan"]["plan"] == "Enterprise" and status["plan"]["on_trial"] is True
    assert status["campaign_monitor"]["connected"] is False


def test_export_edit_import_changes_exactly_the_edited_values_and_audits(data_dir, tmp_path):
    init(data_dir)
    exported = cmsf(data_dir, "config", "export")
    assert exported.returncode == 0
    assert "import_frequency: hourly" in exported.stdout and "days_to_keep: 180" in exported.stdout
    edited = exported.stdout.replace("days_to_keep: 180", "days_to_keep: 90")
    document = tmp_path / "settings.yaml"
    document.write_text(edited)

    result = cmsf(data_dir, "config", "import", str(document), "--actor", "alice")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "tracking_history.days_to_keep: 180 -> 90"
    assert cmsf(data_dir, "config", "export").stdout == edited
    db = sqlite3.connect(data_dir / "cmsf.sqlite3")
    audits = db.execute("select actor, before, after from maintenance_auditentry").fetchall()
    assert audits == [("alice", '{"tracking_history.days_to_keep": 180}', '{"tracking_history.days_to_keep": 90}')]

    as_json = json.loads(cmsf(data_dir, "config", "export", "--format", "json").stdout)
    assert as_json == yaml.safe_load(edited)


def test_a_bad_document_is_refused_naming_each_key_and_changes_nothing(data_dir):
    init(data_dir)
    before = cmsf(data_dir, "config", "export").stdout
    bad = "tracking_history:\n  days_to_keep: -1\nsync:\n  import_frequency: sometimes\n"
    result = cmsf(data_dir, "config", "import", "-", input=bad)
    assert result.returncode == 2
    assert "tracking_history.days_to_keep" in result.stderr and "sync.import_frequency" in result.stderr
    assert "nothing changed" in result.stderr and "Traceback" not in result.stderr
    assert cmsf(data_dir, "config", "export").stdout == before


def test_a_missing_file_is_reported_plainly(data_dir):
    init(data_dir)
    result = cmsf(data_dir, "config", "import", "/nonexistent/settings.yaml")
    assert result.returncode == 2 and "cannot read /nonexistent/settings.yaml" in result.stderr


def test_commands_before_init_say_to_run_init(data_dir):
    result = cmsf(data_dir, "status")
    assert result.returncode == 2 and "run `cmsf init` first" in result.stderr


def test_a_missing_or_malformed_encryption_key_is_a_clear_error(data_dir):
    init(data_dir)
    (data_dir / "encryption.key").rename(data_dir / "elsewhere.key")
    missing = cmsf(data_dir, "status")
    assert missing.returncode == 2 and "No encryption key" in missing.stderr and "Traceback" not in missing.stderr
    malformed = cmsf(data_dir, "status", extra_env={"CMSF_ENCRYPTION_KEY": "short"})
    assert malformed.returncode == 2 and "CMSF_ENCRYPTION_KEY is not valid" in malformed.stderr


def test_a_wrong_key_over_stored_credentials_is_a_clear_error_and_init_will_not_replace_it(data_dir):
    init(data_dir)
    store = (
        "import django; django.setup();"
        "from cmsf.connections.models import CampaignMonitorAccount as A;"
        "a = A.load(); a.api_key = 'secret-api-key'; a.auth_method = 'api_key'; a.save()"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CMSF_", "DATABASE_URL"))}
    env.update(CMSF_DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="cmsf.project.settings")
    subprocess.run([sys.executable, "-c", store], env=env, check=True, timeout=60)

    (data_dir / "encryption.key").unlink()
    refused = cmsf(data_dir, "init", "--no-input")
    assert refused.returncode == 2 and "Credentials are stored but their encryption key is gone" in refused.stderr
    assert not (data_dir / "encryption.key").exists()

    wrong = cmsf(data_dir, "status", extra_env={"CMSF_ENCRYPTION_KEY": "x" * 43 + "="})
    assert wrong.returncode == 2 and "does not match" in wrong.stderr and "Traceback" not in wrong.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_brings_up_the_console_with_a_login_page(data_dir):
    init(data_dir)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CMSF_", "DATABASE_URL", "DJANGO_"))}
    env["CMSF_DATA_DIR"] = str(data_dir)
    server = subprocess.Popen(
        [CMSF, "serve", "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        session = requests.Session()
        deadline = time.monotonic() + 60
        while True:
            try:
                if session.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "the console did not come up"
            time.sleep(0.2)

        home = session.get(f"{base}/", allow_redirects=False)
        assert home.status_code == 302 and home.headers["Location"].startswith("/login/")
        login = session.get(f"{base}/login/")
        assert login.status_code == 200 and 'name="password"' in login.text
        assert session.get(f"{base}/static/console/console.css").status_code == 200
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)
        signed_in = session.post(
            f"{base}/login/",
            data={"csrfmiddlewaretoken": token, "username": ADMIN[0], "password": ADMIN[1]},
            headers={"Referer": f"{base}/login/"},
        )
        assert signed_in.status_code == 200 and "Sync Settings" in signed_in.text
    finally:
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=30)
    assert server.returncode == 0, output
    assert "with the queue worker and scheduler" in output


def test_config_import_refuses_an_alias_bomb_and_a_file_that_is_not_utf8_in_one_line(data_dir, tmp_path):
    init(data_dir)
    before = cmsf(data_dir, "config", "export").stdout
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(5)
    )  # a million items: small enough that the old loader only choked on it, large enough to show the refusal
    result = cmsf(data_dir, "config", "import", "-", input=bomb + "sync: *f\n")
    assert result.returncode == 2 and "aliases and anchors" in result.stderr
    latin1 = tmp_path / "settings.yaml"
    latin1.write_bytes("general_options:\n  sync_suppression_list: true # d\xe9j\xe0\n".encode("latin-1"))
    result = cmsf(data_dir, "config", "import", str(latin1))
    assert result.returncode == 2 and "not UTF-8" in result.stderr
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
    assert cmsf(data_dir, "config", "export").stdout == before
