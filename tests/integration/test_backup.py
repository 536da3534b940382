"""`cmsf backup` and `cmsf restore` (issue 19, docs/production.md): an online snapshot of a connected installation
taken while another process holds the database open in the middle of a write, restored into an empty data folder
with every row equal and the credentials readable; what each refuses, and a damaged backup found out."""

from __future__ import annotations

import json
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cmsf.backup import sha256
from tests.integration.sandboxes import Sandbox, cmsf, dataset, env_for, sync_until_done
from tests.processes import CMSF

# Holds cmsf's database open as a running service does: one committed write still in the WAL, then a write
# transaction left open (the write lock held) until told to stop.
HOLDER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
db.execute("PRAGMA wal_autocheckpoint=0")  # the committed row stays in the WAL, not yet in the database file
db.execute("CREATE TABLE held_rows (id INTEGER PRIMARY KEY, what TEXT)")
db.execute("INSERT INTO held_rows (what) VALUES ('committed before the backup')")
db.execute("BEGIN IMMEDIATE")
db.execute("INSERT INTO held_rows (what) VALUES ('not committed when the backup ran')")
print("holding", flush=True)
sys.stdin.readline()
db.execute("ROLLBACK")
"""


def rows(database: Path) -> dict[str, list[tuple]]:
    """Every row of every table, in order: what "the same data" means here."""
    db = sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True)
    try:
        tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {table: sorted(db.execute(f'SELECT * FROM "{table}"').fetchall(), key=repr) for table in tables}
    finally:
        db.close()


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("cmsf: error: ") and result.stderr.count("\n") == 1, result.stderr
    return result.stderr


def modes(folder: Path) -> dict[str, int]:
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in [folder, *folder.iterdir()]}


@pytest.fixture(scope="module")
def installation(tmp_path_factory):
    """A connected installation with a synced tiny dataset, and its backup taken while a process held the database
    open mid-write. Yields (data folder, rows as of the backup, backup folder, backup output)."""
    folder = tmp_path_factory.mktemp("backup")
    data, backup = folder / "data", folder / "backup"
    with Sandbox(*dataset(), folder / "sandbox", "none") as sandbox:
        sandbox.connect(data)
        sync_until_done(data)
        holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(data / "cmsf.sqlite3")], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)  # fmt: skip
        try:
            assert holder.stdout is not None and holder.stdout.readline() == "holding\n"
            committed = rows(data / "cmsf.sqlite3")  # what a reader sees now: the committed row, not the open one
            started = time.monotonic()
            result = cmsf(data, "backup", str(backup))
            took = time.monotonic() - started
        finally:
            holder.communicate("stop\n", timeout=30)
        assert result.returncode == 0, result.stderr
        assert took < 15, f"the backup waited for the writer ({took:.1f} s)"  # the lock's timeout is 20 s
        yield data, committed, backup, result


def test_the_backup_is_a_snapshot_of_what_was_committed_while_a_writer_held_the_database(installation):
    data, committed, backup, result = installation
    assert committed["held_rows"] == [(1, "committed before the backup")]
    assert rows(backup / "cmsf.sqlite3") == committed
    assert committed["connections_campaignmonitoraccount"] and committed["sync_syncrun"]  # a connected, synced one
    assert f"backup written to {backup}" in result.stdout
    assert not (backup / "cmsf.sqlite3-wal").exists()  # one self-contained file
    manifest = json.loads((backup / "manifest.json").read_text())
    assert set(manifest["files"]) == {"cmsf.sqlite3", "encryption.key", "secret.key"}
    assert manifest["database"] == "sqlite" and manifest["format"] == 1 and manifest["cmsf_version"]
    applied = {f"{app}.{name}" for app, name, _ in [r[1:] for r in committed["django_migrations"]]}
    assert set(manifest["migrations"]) == applied and "connections.0001_initial" in applied
    assert (backup / "encryption.key").read_text() == (data / "encryption.key").read_text()
    assert modes(backup) == {"backup": 0o700, **{name: 0o600 for name in [*manifest["files"], "manifest.json"]}}


def test_restore_into_an_empty_folder_gives_the_same_data_and_readable_credentials(installation, tmp_path):
    _, committed, backup, _ = installation
    restored = tmp_path / "restored"
    restored.mkdir()  # empty: as a package or systemd may make it
    result = cmsf(restored, "restore", str(backup))
    assert result.returncode == 0, result.stderr
    assert "the database is up to date and the key opens its credentials" in result.stdout
    assert rows(restored / "cmsf.sqlite3") == committed
    assert (restored / "encryption.key").read_text() == (backup / "encryption.key").read_text()
    assert all(mode == (0o700 if name == "restored" else 0o600) for name, mode in modes(restored).items())
    status = cmsf(restored, "status", "--json")  # decrypts the stored credentials with the restored key
    assert status.returncode == 0, status.stderr
    document = json.loads(status.stdout)
    assert document["campaign_monitor"]["connected"] and document["salesforce"]["connected"]
    assert document["campaign_monitor"]["clients"]


def test_restore_refuses_a_data_folder_that_is_not_empty(installation, tmp_path):
    _, _, backup, _ = installation
    data = tmp_path / "data"
    data.mkdir()
    (data / "notes.txt").write_text("an operator's file")
    result = cmsf(data, "restore", str(backup))
    assert result.returncode == 2
    assert "not empty" in one_line(result) and str(data) in result.stderr
    assert [p.name for p in data.iterdir()] == ["notes.txt"]


def test_restore_refuses_a_key_in_the_environment_that_is_not_the_backups(installation, tmp_path):
    from cryptography.fernet import Fernet

    _, _, backup, _ = installation
    data = tmp_path / "data"
    other = env_for(data, CMSF_ENCRYPTION_KEY=Fernet.generate_key().decode())
    result = subprocess.run([CMSF, "restore", str(backup)], env=other, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "CMSF_ENCRYPTION_KEY is not the encryption key" in one_line(result)
    assert not data.exists()


@pytest.mark.parametrize("damaged", ["cmsf.sqlite3", "encryption.key"])
def test_restore_finds_a_file_that_does_not_match_its_checksum(installation, tmp_path, damaged):
    _, _, backup, _ = installation
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-a", str(backup), str(copy)], check=True)
    content = bytearray((copy / damaged).read_bytes())
    content[len(content) // 2] ^= 0x01  # one bit, same size
    (copy / damaged).write_bytes(bytes(content))
    data = tmp_path / "data"
    result = cmsf(data, "restore", str(copy))
    assert result.returncode == 1
    line = one_line(result)
    assert line.startswith("cmsf: error: CMSF-BACKUP-FAILED: ") and damaged in line and "checksum" in line
    assert not data.exists()  # nothing restored


def test_restore_refuses_a_folder_that_is_not_a_backup(tmp_path):
    (tmp_path / "empty").mkdir()
    result = cmsf(tmp_path / "data", "restore", str(tmp_path / "empty"))
    assert result.returncode == 2 and "has no manifest.json" in one_line(result)


def test_backup_refuses_a_folder_that_is_not_empty(installation, tmp_path):
    data, _, backup, _ = installation
    before = sorted(p.name for p in backup.iterdir())
    result = cmsf(data, "backup", str(backup))
    assert result.returncode == 2 and "not empty" in one_line(result)
    assert sorted(p.name for p in backup.iterdir()) == before


def test_a_backup_that_fails_is_one_line_with_its_support_code_and_leaves_nothing(tmp_path):
    data = tmp_path / "data"
    assert cmsf(data, "init", "--no-input").returncode == 0
    (data / "cmsf.sqlite3").write_bytes(b"not a database" * 100)  # the database itself unreadable
    for extra in data.glob("cmsf.sqlite3-*"):
        extra.unlink()
    result = cmsf(data, "backup", str(tmp_path / "out"))
    assert result.returncode == 1
    line = one_line(result)
    assert line.startswith("cmsf: error: CMSF-BACKUP-FAILED: the backup to ") and "not a database" in line
    assert "not recorded under Maintenance either" in line  # the database that would record it is the broken one
    assert not (tmp_path / "out").exists()


def test_the_restore_reads_the_database_settings_py_configures(monkeypatch, tmp_path):
    from cmsf.backup import configured_database
    from cmsf.project import settings

    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert configured_database({}, settings.DATA_DIR).file == Path(settings._database()["NAME"])
    url = f"sqlite:///{tmp_path}/elsewhere.sqlite3"
    monkeypatch.setenv("DATABASE_URL", url)
    assert configured_database({"DATABASE_URL": url}, settings.DATA_DIR).file == Path(settings._database()["NAME"])
    postgres = configured_database({"DATABASE_URL": "postgres://cmsf@db.example.org/cmsf"}, settings.DATA_DIR)
    assert postgres.kind == "postgresql" and postgres.file is None


@pytest.mark.django_db(transaction=True)
def test_a_failed_backup_is_a_maintenance_message_until_a_backup_goes_through(monkeypatch, tmp_path):
    from django.db import connection

    from cmsf import backup as backups
    from cmsf.maintenance.models import MaintenanceMessage

    def disk_full(path: Path, data: bytes) -> None:
        raise OSError(28, "No space left on device", str(path))

    with monkeypatch.context() as patched:
        patched.setattr(backups, "_write_private", disk_full)
        with pytest.raises(backups.BackupFailed, match=r"CMSF-BACKUP-FAILED: .*No space left on device"):
            backups.backup(tmp_path / "first")
    assert not (tmp_path / "first").exists()
    message = MaintenanceMessage.objects.get(support_code="CMSF-BACKUP-FAILED")
    assert message.job == backups.JOB and message.resolved_at is None and "No space left" in message.details

    lines = backups.backup(tmp_path / "second")
    assert lines[0] == f"backup written to {tmp_path / 'second'}"
    message.refresh_from_db()
    assert message.resolved_at is not None
    manifest = backups.read_manifest(tmp_path / "second")
    backups.verify(tmp_path / "second", manifest)
    assert manifest["database"] == {"sqlite": "sqlite", "postgresql": "postgresql"}[connection.vendor]


def _rewrite(backup: Path, copy: Path, change) -> None:
    """A copy of the backup whose database and manifest are changed together (its checksums made again)."""
    subprocess.run(["cp", "-a", str(backup), str(copy)], check=True)
    manifest = json.loads((copy / "manifest.json").read_text())
    change(copy / "cmsf.sqlite3", manifest)
    manifest["files"]["cmsf.sqlite3"] = {
        "sha256": sha256(copy / "cmsf.sqlite3"),
        "bytes": (copy / "cmsf.sqlite3").stat().st_size,
    }
    (copy / "manifest.json").write_text(json.dumps(manifest))


def test_a_backup_older_than_this_cmsf_is_restored_and_says_to_upgrade(installation, tmp_path):
    _, _, backup, _ = installation

    def older(database: Path, manifest: dict) -> None:  # as if made before the newest migration of the sync app
        newest = max(m for m in manifest["migrations"] if m.startswith("sync."))
        db = sqlite3.connect(database)
        db.execute("DELETE FROM django_migrations WHERE app = 'sync' AND name = ?", (newest.split(".", 1)[1],))
        db.commit()
        db.close()
        manifest["migrations"].remove(newest)

    _rewrite(backup, tmp_path / "older", older)
    result = cmsf(tmp_path / "data", "restore", str(tmp_path / "older"))
    assert result.returncode == 0, result.stderr
    assert "the backup is older than this cmsf (1 migration to apply): run `cmsf upgrade`" in result.stdout


def test_a_backup_of_a_newer_cmsf_is_refused(installation, tmp_path):
    _, _, backup, _ = installation

    def newer(database: Path, manifest: dict) -> None:
        manifest["migrations"].append("sync.9999_from_the_future")
        manifest["cmsf_version"] = "99.0"

    _rewrite(backup, tmp_path / "newer", newer)
    data = tmp_path / "data"
    result = cmsf(data, "restore", str(tmp_path / "newer"))
    assert result.returncode == 2
    line = one_line(result)
    assert "made by cmsf 99.0" in line and "sync.9999_from_the_future" in line and "install that version" in line
    assert not data.exists()
