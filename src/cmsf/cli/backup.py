"""`cmsf backup` and `cmsf restore`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from cmsf.cli.common import CliError, pending_migrations, setup_django


def cmd_backup(args: argparse.Namespace) -> int:
    from cmsf.backup import SUPPORT_CODE, BackupFailed, BackupRefused, backup

    try:
        lines = backup(Path(args.path))
    except OSError as error:  # a folder it may not read, before anything was written
        print(f"cmsf: error: {SUPPORT_CODE}: {error}", file=sys.stderr)
        return 1
    except BackupRefused as error:
        raise CliError(f"backup: {error}") from None
    except BackupFailed as error:
        print(f"cmsf: error: {error}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """Runs before Django is set up (setting up makes files in the data folder, which must be found empty)."""
    from cmsf.backup import SUPPORT_CODE, BackupFailed, BackupRefused, restore

    try:
        lines = restore(Path(args.path), os.environ)
    except OSError as error:  # a folder it may not read, before anything was written
        print(f"cmsf: error: {SUPPORT_CODE}: {error}", file=sys.stderr)
        return 1
    except BackupRefused as error:
        raise CliError(f"restore: {error}") from None
    except BackupFailed as error:
        print(f"cmsf: error: {error}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    setup_django()
    from django.db import DatabaseError

    try:
        pending = pending_migrations()
    except DatabaseError as error:  # PostgreSQL not reachable: the files are in place, the database is not checked
        said = " ".join(str(error).split())
        print(f"cmsf: error: restored, but the database could not be read to check it: {said}", file=sys.stderr)
        return 1
    if "connections.0001_initial" in pending:
        print("the database is empty: restore the PostgreSQL dump with pg_restore (docs/production.md)")
    elif pending:
        count = f"{len(pending)} migration{'s' if len(pending) != 1 else ''}"
        print(f"the backup is older than this cmsf ({count} to apply): run `cmsf upgrade`, then start the services")
    else:
        from cmsf.connections.selectors import check_stored_secrets_readable

        check_stored_secrets_readable()  # the restored key opens the restored credentials
        print("the database is up to date and the key opens its credentials: start the services")
    return 0
