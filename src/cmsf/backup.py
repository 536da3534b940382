"""`cmsf backup PATH` and `cmsf restore PATH`: an installation's database, keys and a manifest, and back.

A backup is a folder: the SQLite database as one consistent snapshot taken while the services run (SQLite's
online backup API, in one step: one read transaction, which in WAL mode blocks no writer), the two keys (each
0600; the encryption key is what makes the stored credentials readable), and `manifest.json`, written last: the
format, the cmsf version, when it was made, the kind of database, the migrations it has, and the sha256 and size
of every file. On PostgreSQL the database is the operator's to dump with pg_dump (docs/production.md); the backup
holds the keys and the manifest, with the migrations read from the database.

A restore goes only into an empty data folder (or one not made yet), so it never mixes two installations, and
checks every file against the manifest before and after it is copied. It runs before Django is set up: setting
up makes files in the data folder (the signing key, the queue), and the folder must be found empty.

Refusals (a folder not empty, another kind of database, a key that is not the backup's) are `BackupRefused`;
failures (a file unreadable or unwritable, a checksum that does not match, a database that cannot be read) are
`BackupFailed`, whose text starts with the support code CMSF-BACKUP-FAILED.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SUPPORT_CODE = "CMSF-BACKUP-FAILED"
JOB = "CMSF_BACKUP"
FORMAT = 1
MANIFEST = "manifest.json"
DATABASE_FILE = "cmsf.sqlite3"
ENCRYPTION_KEY_FILE = "encryption.key"  # the names lib.keys gives them in the data folder
SECRET_KEY_FILE = "secret.key"
_CHUNK = 1024 * 1024


class BackupRefused(Exception):
    """What was asked cannot be done as asked; nothing was written."""


class BackupFailed(Exception):
    """The backup or the restore could not be made or verified."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{SUPPORT_CODE}: {' '.join(what.split())}")  # one line, whatever the driver said


@dataclass(frozen=True)
class Database:
    kind: str  # "sqlite" or "postgresql"
    file: Path | None  # the SQLite file


# ------------------------------------------------------------------------------------------ helpers


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _entry(path: Path) -> dict[str, Any]:
    return {"sha256": sha256(path), "bytes": path.stat().st_size}


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _refuse_unless_empty(folder: Path, what: str) -> None:
    if folder.exists() and not folder.is_dir():
        raise BackupRefused(f"{what} {folder} is not a folder")
    if folder.is_dir() and any(folder.iterdir()):
        raise BackupRefused(f"{what} {folder} is not empty: give a folder that is empty or does not exist yet")


def _kind(engine: str) -> str:
    if engine.endswith("sqlite3"):
        return "sqlite"
    if "postgresql" in engine:
        return "postgresql"
    raise BackupRefused(f"cmsf backs up SQLite and PostgreSQL databases, not {engine}")


def configured_database(environ: Mapping[str, str], data_dir: Path) -> Database:
    """The database the environment names, read as settings.py reads it (without setting Django up)."""
    url = environ.get("DATABASE_URL", "")
    if not url:
        return Database("sqlite", data_dir / DATABASE_FILE)
    import dj_database_url

    config = dj_database_url.parse(url)
    kind = _kind(str(config["ENGINE"]))
    return Database(kind, Path(str(config["NAME"])).resolve() if kind == "sqlite" else None)


# ------------------------------------------------------------------------------------------- backup


def _snapshot(source: Path, target: Path) -> list[str]:
    """Copy the live SQLite database into target in one step of the backup API; the snapshot's migrations."""
    if not source.is_file():
        raise BackupFailed(f"the database {source} does not exist: nothing to back up (run `cmsf init` first)")
    # Read-only, so a wrong path never makes an empty database; the timeout waits out a checkpoint.
    live = sqlite3.connect(f"{source.as_uri()}?mode=ro", uri=True, timeout=30)
    copy = sqlite3.connect(target)
    try:
        live.backup(copy)  # pages=-1: the whole database under one read transaction
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        (check,) = copy.execute("PRAGMA quick_check").fetchone()
        if check != "ok":
            raise BackupFailed(f"the snapshot of {source} fails SQLite's check: {check}")
        rows = copy.execute("SELECT app, name FROM django_migrations ORDER BY app, name").fetchall()
    finally:
        copy.close()
        live.close()
    target.chmod(0o600)
    return [f"{app}.{name}" for app, name in rows]


def _applied_migrations() -> list[str]:
    from django.db import connection
    from django.db.migrations.recorder import MigrationRecorder

    return sorted(f"{app}.{name}" for app, name in MigrationRecorder(connection).applied_migrations())


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cmsf")
    except PackageNotFoundError:
        from cmsf import __version__

        return __version__


def backup(target: Path) -> list[str]:
    """Write a backup of this installation into target (empty or not there yet). Lines saying what was written."""
    from django.conf import settings
    from django.db import DatabaseError

    from cmsf.lib.keys import EncryptionKeyError, load_encryption_key
    from cmsf.maintenance.models import MaintenanceMessage
    from cmsf.maintenance.services import resolve_cleared

    target = target.expanduser().absolute()
    _refuse_unless_empty(target, "the backup folder")
    database = settings.DATABASES["default"]
    kind = _kind(str(database["ENGINE"]))
    made = not target.exists()
    started = datetime.now(UTC)
    written: list[Path] = []
    try:
        target.mkdir(mode=0o700, parents=True, exist_ok=True)
        files: dict[str, dict[str, Any]] = {}
        if kind == "sqlite":
            written.append(target / DATABASE_FILE)
            migrations = _snapshot(Path(str(database["NAME"])), target / DATABASE_FILE)
            files[DATABASE_FILE] = _entry(target / DATABASE_FILE)
        else:
            migrations = _applied_migrations()
        encryption_key = load_encryption_key(settings.CMSF_ENCRYPTION_KEY, settings.CMSF_ENCRYPTION_KEY_FILE)
        for name, value in ((ENCRYPTION_KEY_FILE, encryption_key), (SECRET_KEY_FILE, settings.SECRET_KEY)):
            written.append(target / name)
            _write_private(target / name, (value + "\n").encode())
            files[name] = _entry(target / name)
        manifest = {
            "format": FORMAT,
            "cmsf_version": _version(),
            "created_at": started.isoformat().replace("+00:00", "Z"),
            "database": kind,
            "migrations": migrations,
            "keys": {
                "encryption": "environment" if settings.CMSF_ENCRYPTION_KEY else "file",
                "signing": "environment" if os.environ.get("CMSF_SECRET_KEY") else "file",
            },
            "files": files,
        }
        written.append(target / MANIFEST)
        _write_private(target / MANIFEST, (json.dumps(manifest, indent=2) + "\n").encode())
    except (OSError, sqlite3.Error, DatabaseError, EncryptionKeyError, BackupFailed) as error:
        for path in written:  # no half backup is left to be restored later
            path.unlink(missing_ok=True)
        if made and target.is_dir() and not any(target.iterdir()):
            target.rmdir()
        failed = error if isinstance(error, BackupFailed) else BackupFailed(f"the backup to {target} failed: {error}")
        raise _told(failed) from error
    lines = [f"backup written to {target}"]
    try:  # an earlier failure's message: this backup went through (a read first: no write lock taken for nothing)
        if MaintenanceMessage.objects.filter(job=JOB, resolved_at=None).exists():
            resolve_cleared(jobs=[JOB], since=started)
    except DatabaseError as error:
        lines.append(f"  (earlier backup failures under Maintenance could not be marked resolved: {error})")
    if kind == "sqlite":
        size = files[DATABASE_FILE]["bytes"]
        lines.append(f"  {DATABASE_FILE}: the SQLite database as of {manifest['created_at']} ({size:,} bytes)")
    else:
        lines.append(
            "  the database is PostgreSQL: dump it with pg_dump as well (pg_dump --format=custom --file "
            f'{target / "cmsf.dump"} "$DATABASE_URL"); see docs/production.md'
        )
    lines.append(f"  {ENCRYPTION_KEY_FILE}, {SECRET_KEY_FILE}: the keys (keep this folder as safe as the credentials)")
    lines.append(f"  {MANIFEST}: cmsf {manifest['cmsf_version']}, {len(migrations)} migrations, sha256 of each file")
    return lines


def _told(failed: BackupFailed) -> BackupFailed:
    """Tell the admin under Maintenance too (a backup that runs from a timer has nobody watching its output), when
    the database takes it; when it does not, the one line says so as well."""
    from django.db import DatabaseError

    from cmsf.maintenance.services import record_message

    text = str(failed).removeprefix(f"{SUPPORT_CODE}: ")
    try:
        record_message(support_code=SUPPORT_CODE, job=JOB, message="A backup failed.", details=text)
    except DatabaseError as error:
        return BackupFailed(f"{text} (not recorded under Maintenance either: {error})")
    return failed


# ------------------------------------------------------------------------------------------ restore


def read_manifest(source: Path) -> dict[str, Any]:
    path = source / MANIFEST
    if not source.is_dir():
        raise BackupRefused(f"{source} is not a folder: give the folder `cmsf backup` wrote")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupRefused(f"{source} is not a cmsf backup: it has no {MANIFEST}") from None
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise BackupFailed(f"cannot read {path}: {error}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupRefused(f"{path} is not a manifest this cmsf reads (format {FORMAT})")
    files = manifest.get("files")
    if (
        manifest.get("database") not in ("sqlite", "postgresql")
        or not isinstance(files, dict)
        or not isinstance(manifest.get("migrations"), list)
        or ENCRYPTION_KEY_FILE not in files
        or (manifest["database"] == "sqlite") != (DATABASE_FILE in files)
    ):
        raise BackupFailed(f"{path} is incomplete: it does not list the database, the keys and the migrations")
    return manifest


def verify(source: Path, manifest: dict[str, Any]) -> None:
    """Every file the manifest lists is there, of its size and sha256."""
    for name, expected in manifest["files"].items():
        if name not in (DATABASE_FILE, ENCRYPTION_KEY_FILE, SECRET_KEY_FILE) or not isinstance(expected, dict):
            raise BackupFailed(f"the manifest lists {name!r}, which is not a file of a cmsf backup")
        path = source / name
        try:
            found = _entry(path)
        except OSError as error:
            raise BackupFailed(f"cannot read {path}: {error.strerror}") from None
        if found != {"sha256": expected.get("sha256"), "bytes": expected.get("bytes")}:
            raise BackupFailed(f"{path} does not match the manifest's checksum: the backup is damaged")


def _unknown_migrations(manifest: dict[str, Any]) -> list[str]:
    """Migrations of cmsf's own apps that the backup's database has and this cmsf does not know (a newer cmsf)."""
    package = Path(__file__).parent
    unknown = []
    for entry in manifest["migrations"]:
        app, _, name = str(entry).partition(".")
        folder = package / app / "migrations"
        if folder.is_dir() and not (folder / f"{name}.py").is_file():
            unknown.append(str(entry))
    return unknown


def restore(source: Path, environ: Mapping[str, str]) -> list[str]:
    """Restore the backup in source into the (empty) data folder of this environment. Lines saying what was done."""
    from cmsf.lib.env import data_dir, make_private

    source = source.expanduser().absolute()
    data = data_dir()
    _refuse_unless_empty(data, "the data folder")
    manifest = read_manifest(source)
    database = configured_database(environ, data)
    if manifest["database"] != database.kind:
        raise BackupRefused(
            f"the backup holds a {manifest['database']} installation, and DATABASE_URL names {database.kind}: restore "
            "it with the same kind of database"
        )
    if database.file is not None and database.file.exists():
        raise BackupRefused(f"the database {database.file} exists: restore only where there is none")
    newer = _unknown_migrations(manifest)
    if newer:
        raise BackupRefused(
            f"the backup was made by cmsf {manifest.get('cmsf_version')}, whose database is newer than this cmsf's "
            f"({_version()}: {len(newer)} migrations it does not know, such as {newer[0]}): install that version first"
        )
    verify(source, manifest)
    key = (source / ENCRYPTION_KEY_FILE).read_text().strip()
    given = environ.get("CMSF_ENCRYPTION_KEY", "")
    if given and given != key:
        raise BackupRefused(
            "CMSF_ENCRYPTION_KEY is not the encryption key of this backup: the restored credentials would not "
            "decrypt; unset it or set it to the backup's"
        )
    lines: list[str] = []
    made = not data.exists()
    written: list[Path] = []
    try:
        data.mkdir(mode=0o700, parents=True, exist_ok=True)
        if database.file is not None:
            database.file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            partial = database.file.with_name(database.file.name + ".restoring")
            written.append(partial)
            shutil.copyfile(source / DATABASE_FILE, partial)
            partial.chmod(0o600)
            if _entry(partial) != manifest["files"][DATABASE_FILE]:
                raise BackupFailed(f"the copy of the database at {partial} does not match the manifest's checksum")
            written.append(database.file)
            partial.replace(database.file)
            lines.append(
                f"restored the database {database.file} as of {manifest.get('created_at')} "
                f"({len(manifest['migrations'])} migrations, cmsf {manifest.get('cmsf_version')})"
            )
        else:
            lines.append(
                "the database is PostgreSQL: not in this backup, its dump is pg_restore's (docs/production.md)"
            )
        for name, variable in ((ENCRYPTION_KEY_FILE, "CMSF_ENCRYPTION_KEY"), (SECRET_KEY_FILE, "CMSF_SECRET_KEY")):
            if name not in manifest["files"]:
                continue
            if environ.get(variable):
                lines.append(f"{name}: not written, {variable} gives it")
                continue
            written.append(data / name)
            _write_private(data / name, (source / name).read_bytes())
            if _entry(data / name) != manifest["files"][name]:
                raise BackupFailed(f"the copy of {name} at {data / name} does not match the manifest's checksum")
            lines.append(f"restored {data / name}")
        make_private(data)
    except (OSError, BackupFailed) as error:
        for path in written:  # the folder is left as empty as it was found, so that the restore can be run again
            path.unlink(missing_ok=True)
        if made and data.is_dir() and not any(data.iterdir()):
            data.rmdir()
        if isinstance(error, BackupFailed):
            raise
        raise BackupFailed(f"the restore into {data} failed: {error}") from None
    return lines
