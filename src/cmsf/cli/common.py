"""What every command of `cmsf` shares: the error a user can fix, setting Django up, and the checks that cmsf is
initialized."""

from __future__ import annotations

import getpass
import os
from datetime import UTC, tzinfo

# The machine's time zone as the user set it, read before Django sets TZ to its own TIME_ZONE (`cmsf status`).
MACHINE_TZ = os.environ.get("TZ", "")


class CliError(Exception):
    """A problem the user can fix, reported as one line without a stack trace."""


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cmsf.project.settings")
    import django
    from django.apps import apps

    if not apps.ready:  # once a process: setting up again would configure logging again, on today's stderr
        django.setup()


def pending_migrations() -> list[str]:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _ in plan]


def require_initialized() -> None:
    from django.conf import settings

    from cmsf.connections.selectors import check_stored_secrets_readable
    from cmsf.lib.keys import load_encryption_key

    pending = pending_migrations()
    if pending:
        raise CliError(f"the database is not set up ({len(pending)} migrations to apply): run `cmsf init` first")
    load_encryption_key(settings.CMSF_ENCRYPTION_KEY, settings.CMSF_ENCRYPTION_KEY_FILE)
    check_stored_secrets_readable()


def actor() -> str:
    return f"cli:{getpass.getuser()}"


def machine_zone() -> tzinfo:
    """The time zone of the machine (TZ as the user set it, else /etc/localtime; UTC when neither names one)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if MACHINE_TZ.lstrip(":"):
        try:
            return ZoneInfo(MACHINE_TZ.lstrip(":"))
        except (ZoneInfoNotFoundError, ValueError):
            pass  # a POSIX rule rather than a zone's name: the system's zone below, as cmsf cannot read the rule
    try:
        with open("/etc/localtime", "rb") as file:
            return ZoneInfo.from_file(file, key="localtime")
    except (OSError, ValueError):
        return UTC
