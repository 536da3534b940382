"""`cmsf doctor`: the installation checked end to end, one line a check with a mark (✓ passed, ✗ failed, ! worth a
look) and, when something is wrong, what to do about it. It exits 1 when any check failed (✗), 0 otherwise.

The checks, in order: the configuration (`cmsf check --deploy`'s), the encryption key, the data folder's file modes,
the database and its migrations, the queue and the scheduler's heartbeat (`sync.health`), both APIs with the stored
credentials, the org's schema, the list webhooks at the public URL and whether that URL answers, and the clock
against Salesforce's. A check that needs something that failed before it (the database, a connection) is reported
as failed, saying which; nothing is left out in silence. docs/health.md describes each line."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

OK, WARN, FAIL = "ok", "warn", "fail"
MARKS = {OK: "✓", WARN: "!", FAIL: "✗"}
MAX_SKEW = timedelta(seconds=30)  # beyond this, tokens, webhooks and the watcher's time windows go wrong
PUBLIC_URL_TIMEOUT = 10.0  # seconds for GET /healthz on the public URL
PUBLIC_URL_READ = 4096  # bytes of its answer read at most

CONNECT_CM = (
    "connect Campaign Monitor in the console (Sync Settings) or with `cmsf connect campaign-monitor --api-key KEY`"
)
CONNECT_SF = "connect Salesforce in the console (Sync Settings) or with `cmsf connect salesforce`"


@dataclass(frozen=True)
class Line:
    name: str
    status: str  # OK, WARN or FAIL
    summary: str
    fix: str = ""

    @property
    def mark(self) -> str:
        return MARKS[self.status]

    def text(self) -> str:
        return f"{self.mark} {self.name}: {self.summary}" + (f" — fix: {self.fix}" if self.fix else "")

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "mark": self.mark}


def exit_code(lines: list[Line]) -> int:
    return 1 if any(line.status == FAIL for line in lines) else 0


def document(lines: list[Line]) -> dict[str, Any]:
    return {"ok": exit_code(lines) == 0, "checks": [line.as_dict() for line in lines]}


def _now() -> datetime:
    return datetime.now(UTC)


# ------------------------------------------------------------------------------------ the installation


def _configuration() -> Line:
    from cmsf.deploy_check import settings_problems

    found = settings_problems()
    if found:
        said = f"{len(found)} warning{'s' if len(found) != 1 else ''} of `cmsf check --deploy`"
        return Line("configuration", WARN, said, "; ".join(found))
    return Line("configuration", OK, "ready for production (`cmsf check --deploy`)")


def _keys(database_ready: bool) -> Line:
    from cmsf.connections.selectors import check_stored_secrets_readable
    from cmsf.deploy_check import key_problems
    from cmsf.lib.keys import EncryptionKeyError

    found = key_problems()
    if found:
        return Line("keys", FAIL, "the encryption key cannot be loaded", found[0].removeprefix("cmsf.keys: "))
    if not database_ready:
        return Line("keys", OK, "the encryption key loads (the stored credentials not read: see database)")
    try:
        check_stored_secrets_readable()
    except EncryptionKeyError as error:
        return Line("keys", FAIL, "the stored credentials cannot be decrypted with this key", str(error))
    return Line("keys", OK, "the encryption key loads and decrypts the stored credentials")


def _modes() -> Line:
    from django.conf import settings

    from cmsf.deploy_check import mode_problems

    found = [line.removeprefix("cmsf.modes: ") for line in mode_problems(settings.DATA_DIR)]
    if found:
        more = f" and {len(found) - 1} more" if len(found) > 1 else ""
        return Line("file modes", FAIL, f"{found[0].split(':')[0]}{more} readable by others", "; ".join(found))
    return Line("file modes", OK, f"the data folder {settings.DATA_DIR} is its owner's only")


def pending_migrations() -> list[str]:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _ in plan]


def _database() -> Line:
    from django.db import DatabaseError

    from cmsf.sync.health import database

    answered = database()
    if not answered.ok:
        return Line("database", FAIL, answered.reason, "check DATABASE_URL and that the database server is up")
    try:
        pending = pending_migrations()
    except DatabaseError as error:
        return Line("database", FAIL, f"the migrations cannot be read: {error}", "run `cmsf init`")
    if pending:
        said = f"{len(pending)} migration{'s' if len(pending) != 1 else ''} not applied ({', '.join(pending[:3])}"
        said += ", ...)" if len(pending) > 3 else ")"
        return Line("database", FAIL, said, "run `cmsf init`, which applies them (stop the workers first)")
    return Line("database", OK, "the database answers and every migration is applied")


def _queue() -> Line:
    from cmsf.sync.health import queue

    found = queue()
    if not found.ok:
        fix = "check CMSF_QUEUE_URL and that the queue's storage (its SQLite file, Redis or PostgreSQL) is reachable"
        return Line("queue", FAIL, found.reason, fix)
    return Line("queue", OK, f"the queue answers: {found.reason}")


def _scheduler() -> Line:
    from cmsf.sync.health import scheduler

    found = scheduler()
    if not found.ok:
        fix = ("start the worker with its scheduler: `cmsf serve` (with its worker) or `cmsf worker`, on exactly one "
               "machine without --no-scheduler")  # fmt: skip
        return Line("scheduler", FAIL, found.reason, fix)
    return Line("scheduler", OK, f"the scheduler is alive ({found.reason})")


# ------------------------------------------------------------------------------------------ the services


@dataclass
class _Services:
    cm: Any = None
    cm_failure: str = ""
    sf: Any = None
    sf_failure: str = ""
    sf_time: datetime | None = None
    sf_time_local: datetime | None = None


def _campaign_monitor(found: _Services) -> Line:
    from cmsf.campaign_monitor.errors import CampaignMonitorError
    from cmsf.connections import services as connections
    from cmsf.connections.models import CampaignMonitorAccount
    from cmsf.lib.keys import EncryptionKeyError

    name = "Campaign Monitor API"
    try:
        cm = connections.campaign_monitor()
        clients = cm.clients()
    except connections.NotConnected:
        found.cm_failure = "Campaign Monitor is not connected"
        return Line(name, FAIL, "not connected", CONNECT_CM)
    except EncryptionKeyError:
        found.cm_failure = "the stored credentials cannot be read"
        return Line(name, FAIL, "not checked: the stored credentials cannot be read", "see keys")
    except CampaignMonitorError as error:
        found.cm_failure = "Campaign Monitor did not answer"
        base = CampaignMonitorAccount.load().api_base_url or "Campaign Monitor"
        fix = f"check that this machine reaches {base} (proxy, firewall) and the credentials: reconnect if refused"
        return Line(name, FAIL, f"the call failed: {error}", fix)
    found.cm = cm
    return Line(name, OK, f"answers with the stored credentials ({len(clients)} clients)")


def _salesforce(found: _Services, clock: Callable[[], datetime]) -> Line:
    from cmsf.connections import services as connections
    from cmsf.lib.keys import EncryptionKeyError
    from cmsf.salesforce.errors import SalesforceError

    name = "Salesforce API"
    try:
        sf = connections.salesforce()
        before = clock()
        started = time.monotonic()
        found.sf_time = sf.server_time()
        found.sf_time_local = before + timedelta(seconds=(time.monotonic() - started) / 2)
    except connections.NotConnected:
        found.sf_failure = "Salesforce is not connected"
        return Line(name, FAIL, "not connected", CONNECT_SF)
    except EncryptionKeyError:
        found.sf_failure = "the stored credentials cannot be read"
        return Line(name, FAIL, "not checked: the stored credentials cannot be read", "see keys")
    except SalesforceError as error:
        found.sf_failure = "Salesforce did not answer"
        fix = "check that this machine reaches the org's login and instance URLs, and the connected app: reconnect"
        return Line(name, FAIL, f"the call failed: {error}", fix)
    found.sf = sf
    return Line(name, OK, f"answers with the stored credentials ({sf.token.instance_url})")


def _schema(found: _Services) -> Line:
    from cmsf.connections import salesforce_setup

    name = "Salesforce schema"
    if found.sf is None:
        return Line(name, FAIL, f"not checked: {found.sf_failure}", "see Salesforce API")
    try:
        report = salesforce_setup.check_schema()
    except salesforce_setup.SetupError as error:
        return Line(name, FAIL, "the check failed", str(error))
    if not report.ok:
        missing = report.missing_objects + report.missing_fields + report.missing_permission_sets
        said = f"{len(missing)} missing: {', '.join(missing[:5])}" + (", ..." if len(missing) > 5 else "")
        fix = ("deploy cmsf's objects, fields and permission sets (the SFDX source in the package's sfdx/ folder) to the org; "
               "Maintenance > Salesforce setup checks again")  # fmt: skip
        return Line(name, FAIL, said, fix)
    return Line(name, OK, f"the org has cmsf's {report.checked_objects} objects and {report.checked_fields} fields")


def _webhooks(found: _Services) -> Line:
    from cmsf.campaign_monitor.errors import CampaignMonitorError
    from cmsf.deploy_check import public_url_problems
    from cmsf.sync.webhooks import public_url, unregistered_lists

    name = "webhooks"
    base = public_url()
    if not base:
        fix = "set the public URL under General Options > Real time, or `cmsf init --public-url URL`"
        return Line(name, WARN, "no public URL: changes in Campaign Monitor arrive with the next sync only", fix)
    if found.cm is None:
        return Line(name, FAIL, f"not checked: {found.cm_failure}", "see Campaign Monitor API")
    try:
        checked, missing = unregistered_lists(found.cm)
    except CampaignMonitorError as error:
        return Line(name, FAIL, f"Campaign Monitor did not list them: {error}", "see Campaign Monitor API")
    if missing:
        said = f"{len(missing)} of {checked} lists have no webhook at {base}: {', '.join(missing[:3])}"
        said += ", ..." if len(missing) > 3 else ""
        fix = "run a sync (Sync now, or `cmsf sync`): it registers the webhooks of every list"
        return Line(name, FAIL, said, fix)
    warned = public_url_problems()
    if warned:
        return Line(name, WARN, f"every list ({checked}) has its webhook at {base}", warned[0])
    return Line(name, OK, f"every list ({checked}) has its webhook at {base}")


def _public_url_answers() -> Line:
    import requests

    from cmsf.sync.webhooks import public_url

    name = "public URL"
    base = public_url()
    if not base:
        return Line(name, WARN, "none set: nothing to reach", "see webhooks")
    url = f"{base}/healthz"
    fix = (f"make {url} reach cmsf from the internet: the reverse proxy, its TLS certificate, DNS and the firewall "
           "(Campaign Monitor posts webhooks there)")  # fmt: skip
    try:
        with requests.get(url, timeout=PUBLIC_URL_TIMEOUT, stream=True, allow_redirects=False) as response:
            body = response.raw.read(PUBLIC_URL_READ, decode_content=True)
            status = response.status_code
    except requests.RequestException as error:
        return Line(name, FAIL, f"GET {url} failed: {type(error).__name__}", fix)
    if status != 200 or b'"ok": true' not in body:
        return Line(name, FAIL, f"GET {url} answered {status}, not cmsf's health check", fix)
    return Line(name, OK, f"GET {url} answers")


def _clock(found: _Services) -> Line:
    name = "clock"
    if found.sf is None:
        return Line(name, FAIL, f"not checked: {found.sf_failure}", "see Salesforce API")
    if found.sf_time is None or found.sf_time_local is None:
        return Line(name, WARN, "Salesforce's answer had no Date header to compare with", "")
    skew = found.sf_time_local - found.sf_time
    seconds = skew.total_seconds()
    said = f"{abs(seconds):.0f} s {'ahead of' if seconds > 0 else 'behind'} Salesforce's"
    if abs(skew) > MAX_SKEW:
        fix = "synchronise this machine's clock with NTP (systemd-timesyncd or chrony)"
        return Line(name, FAIL, f"this machine's clock is {said}", fix)
    return Line(name, OK, f"within {MAX_SKEW.seconds} s of Salesforce's ({said})")


def run(*, clock: Callable[[], datetime] = _now) -> list[Line]:
    """Every check, in order."""
    lines = [_configuration()]
    database = _database()
    ready = database.status == OK
    lines += [_keys(ready), _modes(), database]
    if not ready:
        after = ("scheduler", "Campaign Monitor API", "Salesforce API", "Salesforce schema", "webhooks", "public URL",
                 "clock")  # fmt: skip
        lines.append(_queue())
        return lines + [Line(name, FAIL, "not checked: the database is not ready", "see database") for name in after]
    found = _Services()
    lines += [_queue(), _scheduler(), _campaign_monitor(found), _salesforce(found, clock), _schema(found)]
    lines += [_webhooks(found), _public_url_answers(), _clock(found)]
    if found.sf is not None:
        found.sf.session.close()
    return lines
