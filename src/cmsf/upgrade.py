"""`cmsf upgrade`: once a new version of cmsf is installed, bring the database to it and check the installation.

The order: the encryption key first, and that it reads the stored credentials (a migration may encrypt what was
stored in clear: nothing is changed without the installation's own key); then the migrations not yet applied
(audited); then the checks: Django's system checks, every stored credential decrypted with the key, and
`cmsf check --deploy`'s. A migration that fails stops there, named with its error (the traceback in the log).
`plan()` changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.db.migrations.executor import MigrationExecutor

log = logging.getLogger(__name__)


class NotInitialized(Exception):
    """The database has no migration at all: a new installation is made by `cmsf init`, not upgraded."""


@dataclass
class Upgrade:
    pending: list[str] = field(default_factory=list)  # what was to apply, "app.migration", in order
    applied: list[str] = field(default_factory=list)  # what was applied, in order
    stopped_at: str = ""  # the migration that failed, if one did
    problems: list[str] = field(default_factory=list)  # one line each; none: the installation can serve
    warnings: list[str] = field(default_factory=list)  # `cmsf check --deploy`'s: what production still lacks

    @property
    def ok(self) -> bool:
        return not self.problems


def _executor() -> MigrationExecutor:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    return MigrationExecutor(connection)


def plan() -> list[str]:
    """The migrations `upgrade()` would apply, in order, as "app.migration"; raises NotInitialized on an empty
    database."""
    executor = _executor()
    if not executor.loader.applied_migrations:
        raise NotInitialized("the database is not set up: run `cmsf init` to make a new installation")
    steps = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, backwards in steps if not backwards]


def version() -> str:
    try:
        return metadata.version("cmsf")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def upgrade(*, actor: str = "cli:upgrade") -> Upgrade:
    """Apply the pending migrations (audited when there were any), then run the checks."""
    from django.conf import settings
    from django.core.management import call_command
    from django.db import DatabaseError

    from cmsf.connections.selectors import check_stored_secrets_readable
    from cmsf.lib.keys import EncryptionKeyError, load_encryption_key
    from cmsf.maintenance.services import audit

    pending = plan()
    result = Upgrade(pending=pending)
    try:
        load_encryption_key(settings.CMSF_ENCRYPTION_KEY, settings.CMSF_ENCRYPTION_KEY_FILE)
        check_stored_secrets_readable()  # the key is this installation's: a migration may encrypt with it
    except EncryptionKeyError as error:
        result.problems.append(f"cmsf.keys: {error} (nothing was migrated)")
        return result
    except DatabaseError:
        pass  # the connections' tables are older than this version: their secrets are checked once migrated
    if not pending:
        result.problems, result.warnings = checks()
        return result
    failed: Exception | None = None
    try:
        call_command("migrate", interactive=False, verbosity=0)  # in the plan's order; each migration atomic
    except Exception as error:  # reported below, with its traceback in the log: the upgrade stops and says so
        log.exception("cmsf upgrade: a migration failed")
        failed = error
    left = set(plan())
    result.applied = [name for name in pending if name not in left]
    if result.applied:
        audit(
            actor=actor,
            section="installation",
            action=f"upgraded the database to cmsf {version()}" if failed is None else "upgraded the database in part",
            before={"pending_migrations": len(pending)},
            after={"applied": result.applied},
        )
    if failed is not None:
        result.stopped_at = next(name for name in pending if name in left)
        result.problems.append(
            f"cmsf.migrate: {result.stopped_at} failed ({type(failed).__name__}: {failed}); the migrations before it are "
            "applied: restore the backup, or fix the cause and run `cmsf upgrade` again"
        )
        return result
    result.problems, result.warnings = checks()
    return result


def checks() -> tuple[list[str], list[str]]:
    """What stands between this installation and serving (Django's errors, credentials the key cannot read), and
    apart, `cmsf check --deploy`'s warnings (what a production installation still lacks; a demo has them)."""
    from django.core import checks as django_checks

    from cmsf.connections.selectors import check_stored_secrets_readable
    from cmsf.deploy_check import problems
    from cmsf.lib.keys import EncryptionKeyError

    found = [
        f"{message.id}: {message.msg}" + (f" ({message.hint})" if message.hint else "")
        for message in django_checks.run_checks()
        if message.level >= django_checks.ERROR
    ]
    try:
        check_stored_secrets_readable()
    except EncryptionKeyError as error:
        found.append(f"cmsf.keys: {error}")
    return found, [line for line in problems(database_ready=not plan()) if line not in found]
