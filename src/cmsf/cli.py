"""The `cmsf` command: one entry point for setting up, serving, working and configuring cmsf."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


class CliError(Exception):
    """A problem the user can fix, reported as one line without a stack trace."""


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cmsf.project.settings")
    import django
    from django.apps import apps

    if not apps.ready:  # once a process: setting up again would configure logging again, on today's stderr
        django.setup()


# ---------------------------------------------------------------------------------------------- init


def _pending_migrations() -> list[str]:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _ in plan]


def _ensure_encryption_key() -> str:
    """Create the encryption key file on a new installation; never over stored secrets."""
    from django.conf import settings

    from cmsf.connections.selectors import check_stored_secrets_readable, has_stored_secrets
    from cmsf.lib.keys import EncryptionKeyError, create_encryption_key_file, load_encryption_key

    try:
        load_encryption_key(settings.CMSF_ENCRYPTION_KEY, settings.CMSF_ENCRYPTION_KEY_FILE)
    except EncryptionKeyError:
        if settings.CMSF_ENCRYPTION_KEY or settings.CMSF_ENCRYPTION_KEY_FILE.exists():
            raise  # a key is given but malformed: say so rather than replace it
        if has_stored_secrets():
            raise EncryptionKeyError(
                f"Credentials are stored but their encryption key is gone ({settings.CMSF_ENCRYPTION_KEY_FILE} "
                "is missing and CMSF_ENCRYPTION_KEY is not set). Restore the key, or disconnect and reconnect."
            ) from None
        create_encryption_key_file(settings.CMSF_ENCRYPTION_KEY_FILE)
        return f"created the encryption key {settings.CMSF_ENCRYPTION_KEY_FILE}"
    check_stored_secrets_readable()
    return "encryption key in place"


def _ensure_admin(email: str, password: str) -> str:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    from cmsf.console.permission_sets import FULL_ACCESS

    try:
        validate_email(email)
    except ValidationError:
        raise CliError(f"--admin-email: {email!r} is not an email address") from None
    user_model = get_user_model()
    user = user_model.objects.filter(username=email).first() or user_model(username=email, email=email)
    try:
        validate_password(password, user)
    except ValidationError as error:
        raise CliError("--admin-password: " + " ".join(error.messages)) from None
    created = user.pk is None
    user.set_password(password)
    user.save()
    user.groups.add(Group.objects.get(name=FULL_ACCESS))
    return f"{'created' if created else 'updated'} the admin {email} (CM Full Access)"


def initialize(
    *, admin_email: str | None, admin_password: str | None, no_input: bool, public_url: str | None = None
) -> list[str]:
    """Data folder, keys, migrations, permission sets, settings rows (the public URL given, or seeded from
    CMSF_PUBLIC_URL when none was ever stored) and a first admin; safe to run again."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from cmsf.billing.models import BillingAccount
    from cmsf.configuration import SECTIONS
    from cmsf.lib.env import make_private

    make_private(settings.DATA_DIR)
    done = [f"data folder {settings.DATA_DIR} (private to its owner)"]
    call_command("migrate", interactive=False, verbosity=0)  # also creates the two permission sets
    done.append("database up to date, permission sets CM Full Access and CM User Access in place")
    done.append(_ensure_encryption_key())
    for section in SECTIONS:
        section.model.load()
    BillingAccount.load()  # the trial starts with the installation
    done.append(_public_url(public_url))
    if admin_email is None and not no_input and not get_user_model().objects.exists():
        admin_email = input("Admin email: ").strip()
    if admin_email:
        if admin_password is None:
            if no_input:
                raise CliError("--admin-password is needed with --admin-email when --no-input is given")
            admin_password = getpass.getpass("Admin password: ")
            if getpass.getpass("Admin password (again): ") != admin_password:
                raise CliError("the two passwords differ")
        done.append(_ensure_admin(admin_email, admin_password))
    elif not get_user_model().objects.exists():
        done.append("no admin yet: run `cmsf init --admin-email EMAIL` to create one")
    return done


def _public_url(given: str | None, *, actor: str = "cli:init") -> str:
    """Store the public URL given (checked, audited); say which one is stored."""
    from django.core.exceptions import ValidationError

    from cmsf.sync.clients import set_public_url
    from cmsf.sync.webhooks import public_url

    if given is not None:
        try:
            set_public_url(given, actor=actor)
        except ValidationError as error:
            raise CliError("--public-url: " + " ".join(error.messages)) from None
    stored = public_url()
    if not stored:
        return "no public URL: changes in Campaign Monitor arrive with the sync (set one with --public-url URL)"
    return f"public URL {stored}: the sync registers a webhook on every list of the selected clients"


def cmd_init(args: argparse.Namespace) -> int:
    lines = initialize(admin_email=args.admin_email, admin_password=args.admin_password, no_input=args.no_input,
                       public_url=args.public_url)  # fmt: skip
    for line in lines:
        print(line)
    return 0


# ------------------------------------------------------------------------------------ serve, worker


def _require_initialized() -> None:
    from django.conf import settings

    from cmsf.connections.selectors import check_stored_secrets_readable
    from cmsf.lib.keys import load_encryption_key

    pending = _pending_migrations()
    if pending:
        raise CliError(f"the database is not set up ({len(pending)} migrations to apply): run `cmsf init` first")
    load_encryption_key(settings.CMSF_ENCRYPTION_KEY, settings.CMSF_ENCRYPTION_KEY_FILE)
    check_stored_secrets_readable()


def _consumer(*, workers: int, scheduler: bool) -> Any:
    from django.utils.module_loading import autodiscover_modules
    from huey.contrib.djhuey import HUEY

    autodiscover_modules("tasks")
    return HUEY.create_consumer(workers=workers, periodic=scheduler, worker_type="thread")


def serve(*, host: str, port: int, worker: bool, workers: int) -> None:
    import uvicorn
    from django.conf import settings
    from django.core.management import call_command

    from cmsf.lib.redact import uvicorn_log_config

    call_command("collectstatic", interactive=False, verbosity=0)
    consumer = _consumer(workers=workers, scheduler=True) if worker else None
    if consumer is not None:
        consumer.start()
    try:
        print(f"cmsf console on http://{host}:{port}/" + (" with the queue worker and scheduler" if worker else ""))
        proxies = settings.CMSF_TRUSTED_PROXIES  # forwarded headers from these only (uvicorn's default: loopback)
        uvicorn.run(
            "cmsf.project.asgi:application",
            host=host,
            port=port,
            log_level="info",
            lifespan="off",
            proxy_headers=bool(proxies),
            forwarded_allow_ips=proxies or [],
            log_config=uvicorn_log_config(settings.CMSF_LOG_FORMAT),  # secrets redacted, as CMSF_LOG_FORMAT says
        )
    finally:
        if consumer is not None:
            consumer.stop(graceful=True)


def cmd_serve(args: argparse.Namespace) -> int:
    _require_initialized()
    serve(host=args.host, port=args.port, worker=not args.no_worker, workers=args.workers)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from django.core.management import call_command

    if not args.deploy:
        call_command("check")
        return 0
    from cmsf.deploy_check import problems

    found = problems(database_ready=not _pending_migrations())
    for line in found:
        print(f"warning: {line}")
    print(f"{len(found)} warning{'s' if len(found) != 1 else ''}" if found else "no warnings: ready to deploy")
    return 1 if found else 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from cmsf import doctor

    lines = doctor.run()
    if args.json:
        print(json.dumps(doctor.document(lines), indent=2, ensure_ascii=False))
    else:
        for line in lines:
            print(line.text())
    return doctor.exit_code(lines)


def cmd_upgrade(args: argparse.Namespace) -> int:
    from cmsf.upgrade import NotInitialized, plan, upgrade, version

    try:
        pending = plan()
        if args.plan:
            for name in pending:
                print(f"to apply: {name}")
            print(
                f"{len(pending)} migrations to apply for cmsf {version()}" if pending else "the database is up to date"
            )
            return 0
        done = upgrade()
    except NotInitialized as error:  # a state to fix, not a bad argument: 1, like a failed check
        print(f"cmsf: error: {error}", file=sys.stderr)
        return 1
    for name in done.applied:
        print(f"applied: {name}")
    if done.stopped_at:
        print(
            f"the upgrade stopped at {done.stopped_at}: {len(done.applied)} of {len(done.pending)} migrations applied"
        )
    elif done.applied:
        print(f"database upgraded to cmsf {version()}")
    else:
        print(f"the database was not upgraded: {len(done.pending)} migrations to apply" if done.pending
              else "the database was up to date")  # fmt: skip
    for line in done.problems:
        print(f"error: {line}")
    for line in done.warnings:
        print(f"warning: {line}")
    said = [f"{len(found)} {what}{'s' if len(found) != 1 else ''}"
            for found, what in ((done.problems, "error"), (done.warnings, "warning")) if found]  # fmt: skip
    print(", ".join(said) if said else "checks passed")
    return 0 if done.ok else 1


def cmd_worker(args: argparse.Namespace) -> int:
    _require_initialized()
    _consumer(workers=args.workers, scheduler=not args.no_scheduler).run()
    return 0


# ------------------------------------------------------------------------------------------- status


def status_document() -> dict[str, Any]:
    from django.conf import settings
    from django.utils import timezone

    from cmsf.console.selectors import overview

    o = overview(now=timezone.now())

    def when(value: Any) -> str | None:
        return value.isoformat() if value else None

    return {
        "sync": {
            "import_frequency": o.sync.import_frequency,
            "sync_enabled": o.sync.sync_enabled,
            "next_run": when(o.sync.next_run),
            "last_status": o.status.value,
            "last_status_label": o.status.label,
            "last_status_message": o.status.message,
            "last_run_at": when(o.sync.last_run_at),
        },
        "campaign_monitor": {
            "connected": o.campaign_monitor.is_connected,
            "account_name": o.campaign_monitor.account_name,
            "clients": [
                {
                    "id": c.cm_client_id,
                    "name": c.name,
                    "selected": c.selected,
                    "active": c.active,
                    "last_synced_at": when(c.last_synced_at),
                    "security_owner": c.security_owner_name or c.security_owner_id,
                }
                for c in o.clients
            ],
        },
        "salesforce": {
            "connected": o.salesforce.is_connected,
            "instance_url": o.salesforce.instance_url,
            "sync_user": o.salesforce.sync_user_name,
        },
        "plan": {"plan": o.plan, "on_trial": o.on_trial, "trial_ends_at": when(o.billing.trial_ends_at)},
        "recent_runs": [
            {
                "client": run.client.name,
                "kind": run.kind,
                "status": run.status,
                "started_at": when(run.started_at),
                "duration_s": run.duration_s,
                "written": run.written,
                "api_calls": {"campaign_monitor": run.cm_calls, "salesforce": run.sf_calls},
                "message": run.message,
            }
            for run in o.recent_runs
        ],
        "maintenance": {"new_messages": o.new_messages},
        "data_dir": str(settings.DATA_DIR),
    }


def cmd_status(args: argparse.Namespace) -> int:
    _require_initialized()
    doc = status_document()
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    sync, cm, sf, plan = doc["sync"], doc["campaign_monitor"], doc["salesforce"], doc["plan"]
    print(f"Sync:               {'on' if sync['sync_enabled'] else 'turned off'}, {sync['import_frequency']}")
    print(f"Next run:           {sync['next_run'] or 'not scheduled'}")
    print(
        f"Last status:        {sync['last_status_label']}"
        f"{': ' + sync['last_status_message'] if sync['last_status_message'] else ''}"
    )
    print(f"Campaign Monitor:   {cm['account_name'] if cm['connected'] else 'not connected'}")
    for client in cm["clients"]:
        flags = ", ".join(
            f for f in ("selected" if client["selected"] else "", "active" if client["active"] else "inactive") if f
        )
        print(f"  {client['name']} ({client['id']}): {flags}; last synced {client['last_synced_at'] or 'never'}")
    print(f"Salesforce:         {sf['instance_url'] if sf['connected'] else 'not connected'}")
    print(f"Sync user:          {sf['sync_user'] or '-'}")
    trial = f" (trial until {plan['trial_ends_at']})" if plan["on_trial"] else ""
    print(f"Plan:               {plan['plan']}{trial}")
    print(f"New maintenance messages: {doc['maintenance']['new_messages']}")
    if doc["recent_runs"]:
        print("Recent runs:")
    for run in doc["recent_runs"]:
        written = sum(run["written"].values())
        print(f"  {run['started_at'] or '-'}  {run['client']}: {run['status']}, {written:,} rows written, "
              f"{run['duration_s'] or 0:.1f} s")  # fmt: skip
    return 0


# ------------------------------------------------------------------------------------------- config


def cmd_config_export(args: argparse.Namespace) -> int:
    from cmsf.configuration import dump, export_document

    _require_initialized()
    sys.stdout.write(dump(export_document(), args.format))
    return 0


def cmd_config_import(args: argparse.Namespace) -> int:
    from cmsf.configuration import MAX_DOCUMENT_BYTES, import_document, read_document

    _require_initialized()
    try:
        if args.file == "-":
            data = sys.stdin.buffer.read(MAX_DOCUMENT_BYTES + 1)  # one byte over the cap is enough to refuse
        else:
            with open(args.file, "rb") as handle:
                data = handle.read(MAX_DOCUMENT_BYTES + 1)
    except OSError as error:
        raise CliError(f"cannot read {args.file}: {error.strerror}") from None
    changes = import_document(read_document(data), actor=args.actor or f"cli:{getpass.getuser()}")
    if not changes:
        print("no setting changed")
    for key, before, after in changes:
        print(f"{key}: {json.dumps(before, default=str)} -> {json.dumps(after, default=str)}")
    return 0


# --------------------------------------------------------------------------------------------- demo


def cmd_demo(args: argparse.Namespace) -> int:
    """Everything on a fresh machine: init, the sandbox, connect, a first sync, then the console (see
    cmsf_sandbox.demo); this command hands it the steps that are cmsf's own."""
    demo = _sandbox_module("demo", "demo")
    SandboxError = _sandbox_module("command", "demo").SandboxError

    def public_url(address: str) -> str:
        try:
            return _public_url(address, actor="demo")
        except CliError as error:
            return f"real time is off in the demo: {error}"

    steps = demo.DemoSteps(
        initialize=initialize,
        connect=_connect_sandbox,
        public_url=public_url,
        sync=lambda: sync_now(client_id=None, dry_run=False, quiet=False),
        serve=lambda: serve(host=args.host, port=args.port, worker=True, workers=1),
    )
    try:
        return int(demo.run_demo(steps, dataset=args.dataset, host=args.host, port=args.port))
    except SandboxError as error:
        raise CliError(str(error)) from None


# ------------------------------------------------------------------------------------------ sandbox


SANDBOX_MISSING = (
    "cmsf {command} needs the cmsf-sandbox distribution beside cmsf: pip install ./sandbox (from cmsf's source)"
)


def _sandbox_module(name: str, command: str) -> Any:
    """cmsf_sandbox.<name>, or one line saying how to install the sandbox when it is not installed."""
    import importlib

    try:
        return importlib.import_module(f"cmsf_sandbox.{name}")
    except ModuleNotFoundError as error:
        if error.name and (error.name == "cmsf_sandbox" or error.name.startswith("cmsf_sandbox.")):
            raise CliError(SANDBOX_MISSING.format(command=command)) from None
        raise


def cmd_sandbox(args: argparse.Namespace) -> int:
    command = _sandbox_module("command", "sandbox")
    SandboxError, run_sandbox = command.SandboxError, command.run_sandbox

    try:
        return run_sandbox(
            dataset=args.dataset,
            seed=args.seed,
            faults=args.faults,
            cm_port=args.cm_port,
            sf_port=args.sf_port,
            info_json=Path(args.info_json),
            cert_dir=Path(args.dir) if args.dir else None,
            console_url=args.console_url,
            announce=lambda line: print(line, flush=True),
        )
    except SandboxError as error:
        raise CliError(str(error)) from None


# ------------------------------------------------------------------------------------------ connect


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _read(path: str, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise CliError(f"cannot read the {what} {path}: {error.strerror}") from None


def _connect_campaign_monitor(api_key: str, base_url: str, ca_file: str) -> None:
    from cmsf.connections.services import connect_campaign_monitor

    clients = connect_campaign_monitor(api_key=api_key, base_url=base_url, ca_file=ca_file, actor=_actor())
    print(f"Campaign Monitor connected: {len(clients)} client{'s' if len(clients) != 1 else ''}")
    for client in clients:
        print(f"  {client.name} ({client.cm_client_id}), {client.time_zone}")


def _connect_salesforce(login: Any) -> None:
    from cmsf.connections.services import connect_salesforce

    org = connect_salesforce(login, actor=_actor())
    print(f"Salesforce connected: {org.instance_url} (org {org.org_id}); Salesforce Sync User {org.sync_user_name}")


def _connect_salesforce_asking(yes: bool, login: Any) -> None:
    """Connect, but first say which features would stop, and ask (or need --yes)."""
    from cmsf.connections.services import salesforce_features_lost

    lost = salesforce_features_lost(login)
    if lost and not yes:
        said = f"reconnecting with another connected app and no --client-secret turns off {'; '.join(lost)}"
        if not sys.stdin.isatty():
            raise CliError(f"{said}: give its --client-secret, or --yes to go on")
        if input(f"{said[0].upper()}{said[1:]}. Go on? [y/N] ").strip().lower() not in ("y", "yes"):
            raise CliError("not reconnected")
    _connect_salesforce(login)


def _connect_sandbox(info: dict[str, Any], source: str) -> None:
    from cmsf.connections.models import SalesforceOrg
    from cmsf.connections.services import SalesforceLogin

    cm, sf = info.get("campaign_monitor"), info.get("salesforce")
    if not isinstance(cm, dict) or not isinstance(sf, dict) or not cm or not sf:
        raise CliError(f"{source} has no campaign_monitor or no salesforce section")
    _connect_campaign_monitor(cm["api_key"], cm["base_url"], cm["ca_file"])
    _connect_salesforce(
        SalesforceLogin(
            flow=SalesforceOrg.AuthFlow.JWT_BEARER,
            login_domain=SalesforceOrg.LoginDomain.CUSTOM,
            custom_login_url=sf["login_url"],
            client_id=sf["client_id"],
            client_secret=sf.get("client_secret") or "",  # the connected app's, for "Log in with Salesforce"
            jwt_username=sf["jwt_username"],
            jwt_private_key=_read(sf["jwt_private_key_file"], "private key"),
            ca_file=sf["ca_file"],
        )
    )


# the option of `cmsf connect` that sets each field a connection checks
_CONNECT_OPTIONS = {"api_base_url": "--base-url", "custom_login_url": "--login-url", "my_domain": "--my-domain",
                    "ca_file": "--ca-file", "client_id": "--client-id", "jwt_username": "--username"}  # fmt: skip


def _invalid(error: Any) -> CliError:
    """One line for a connection's ValidationError, naming the option of each field."""
    if not hasattr(error, "error_dict"):
        return CliError(" ".join(error.messages))
    return CliError("; ".join(f"{_CONNECT_OPTIONS.get(field, field)}: {' '.join(messages)}"
                              for field, messages in error.message_dict.items()))  # fmt: skip


def cmd_connect(args: argparse.Namespace) -> int:
    """Connect both services from a sandbox info file, or one service from its own options."""
    from django.core.exceptions import ValidationError

    from cmsf.campaign_monitor.errors import CampaignMonitorError
    from cmsf.connections.services import SalesforceLogin
    from cmsf.salesforce.errors import SalesforceError

    _require_initialized()
    try:
        if args.service is None:
            if not args.sandbox_info:
                raise CliError("give --sandbox-info PATH, or `campaign-monitor` or `salesforce` with their options")
            try:
                info = json.loads(_read(args.sandbox_info, "sandbox info file"))
            except ValueError as error:
                raise CliError(f"--sandbox-info: {args.sandbox_info} is not JSON: {error}") from None
            if not isinstance(info, dict):
                raise CliError(f"--sandbox-info: {args.sandbox_info} is not the info JSON `cmsf sandbox` writes")
            _connect_sandbox(info, args.sandbox_info)
        elif args.service == "campaign-monitor":
            _connect_campaign_monitor(args.api_key, args.base_url or "", args.ca_file or "")
        else:
            domain = args.login_domain
            _connect_salesforce_asking(
                args.yes,
                SalesforceLogin(
                    flow=args.flow,
                    login_domain=domain,
                    my_domain=args.my_domain or "",
                    custom_login_url=args.login_url or "",
                    client_id=args.client_id,
                    client_secret=args.client_secret or "",
                    jwt_username=args.username or "",
                    jwt_private_key=_read(args.private_key_file, "private key") if args.private_key_file else "",
                    ca_file=args.ca_file or "",
                ),
            )
    except (CampaignMonitorError, SalesforceError) as error:
        raise CliError(f"could not connect: {error}") from None
    except ValidationError as error:
        raise _invalid(error) from None
    except KeyError as error:
        raise CliError(f"the sandbox info file lacks {error}") from None
    return 0


# --------------------------------------------------------------------------------------------- sync


def _run_summary(run: Any) -> dict[str, Any]:
    return {
        "client": run.client.cm_client_id,
        "client_name": run.client.name,
        "kind": run.kind,
        "status": run.status,
        "dry_run": run.dry_run,
        "read": run.read,
        "written": run.written,
        "unchanged": run.skipped,
        "failed": run.failed,
        "deleted": run.deleted,
        "api_calls": {"campaign_monitor": run.cm_calls, "salesforce": run.sf_calls},
        "duration_s": run.duration_s,
        "message": run.message,
    }


def sync_now(*, client_id: str | None, dry_run: bool, quiet: bool, full: bool = False) -> list[dict[str, Any]]:
    """Sync the selected clients (or one) in the foreground, printing progress unless quiet."""
    from cmsf.connections.selectors import not_connected_reason
    from cmsf.sync.services import ClientBusy, clients_to_sync, sync_client

    reason = not_connected_reason()
    if reason:
        raise CliError(f"cannot sync: {reason} (`cmsf connect`)")
    clients = clients_to_sync(client_id)
    if not clients:
        raise CliError("no Campaign Monitor client to sync: connect one first (`cmsf connect`)"
                       if not client_id else f"--client: no client with id {client_id}")  # fmt: skip

    def progress(stage: str, counts: dict[str, int]) -> None:
        if not quiet:
            print(f"\r  {stage:<20} read {counts['read']:>9,}  written {counts['written']:>9,}", end="", flush=True)

    summaries = []
    for client in clients:
        if not quiet:
            print(f"{client.name} ({client.cm_client_id}){' [dry run]' if dry_run else ''}")
        try:
            run = sync_client(client=client, full=full, dry_run=dry_run, progress=progress)
        except ClientBusy as error:
            raise CliError(str(error)) from None
        summary = _run_summary(run)
        summaries.append(summary)
        if not quiet:
            verb = "would write" if dry_run else "wrote"
            print(f"\r{' ' * 60}\r  {run.get_status_display()} in {run.duration_s or 0:.1f} s: {verb} "
                  f"{summary['written']}, unchanged {summary['unchanged']}, failed {summary['failed']}, "
                  f"deleted {summary['deleted']}; API calls: Campaign Monitor {run.cm_calls}, "
                  f"Salesforce {run.sf_calls}")  # fmt: skip
            if run.message:
                print(f"  {run.message}")
    return summaries


def cmd_sync(args: argparse.Namespace) -> int:
    _require_initialized()
    summaries = sync_now(client_id=args.client, dry_run=args.dry_run, quiet=args.json, full=args.full)
    if args.json:
        print(json.dumps({"runs": summaries}, indent=2))
    if not all(s["status"] in ("succeeded", "problems") for s in summaries):
        return 1  # failed, stopped at the API budget, or not connected
    # Succeeded with problems (records Salesforce refused, or another problem told in Maintenance): 3.
    return 3 if any(s["status"] == "problems" or s["failed"] for s in summaries) else 0


# -------------------------------------------------------------------------------------------- watch


def _watch_summary(run: Any) -> dict[str, Any]:
    return {
        "status": run.status,
        "message": run.message,
        "read": run.read,
        "done": run.done,
        "problems": run.problems,
        "sf_calls": run.sf_calls,
        "cm_calls": run.cm_calls,
    }


def cmd_watch(args: argparse.Namespace) -> int:
    """Read what changed in Salesforce and push it to Campaign Monitor: once, or every interval until stopped."""
    _require_initialized()
    from cmsf.options.models import GeneralOptions
    from cmsf.sync.watcher import watch_once

    while True:
        run = watch_once()
        summary = _watch_summary(run)
        if args.json:
            print(json.dumps(summary, indent=2))
        else:
            done = ", ".join(f"{kind.replace('_', ' ')} {n}" for kind, n in sorted(run.done.items())) or "nothing to do"
            read = ", ".join(f"{kind} {n}" for kind, n in sorted(run.read.items())) or "nothing"
            print(f"watch {run.status}: read {read}; {done}; {run.sf_calls} Salesforce and {run.cm_calls} "
                  f"Campaign Monitor calls")  # fmt: skip
            if run.message:
                print(f"  {run.message}")
            for problem in run.problems:
                print(f"  {problem['key']}: {problem['reason']}")
        if args.once:
            if run.status == "failed":
                return 1
            return 3 if run.problems else 0  # records that could not be handled: reported above
        time.sleep(GeneralOptions.load().watch_interval_minutes * 60)


# ------------------------------------------------------------------------------------------- forget


def cmd_forget(args: argparse.Namespace) -> int:
    """Forget one person: what cmsf wrote about the email in Salesforce and holds itself, and (asked) the subscriber
    in Campaign Monitor; 3 when some of it could not be removed (listed)."""
    _require_initialized()
    from cmsf.sync.forget import forget

    try:
        done = forget(args.email, in_campaign_monitor=args.in_campaign_monitor, actor=args.actor or _actor())
    except ValueError as error:
        raise CliError(str(error)) from None
    summary = {
        "email_hash": done.email_hash,
        "salesforce_rows_deleted": done.salesforce,
        "cmsf_rows": done.local,
        "campaign_monitor_lists": done.campaign_monitor_lists,
        "problems": done.problems,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        deleted = ", ".join(f"{n} {sobject}" for sobject, n in sorted(done.salesforce.items())) or "nothing"
        print(f"forgotten (kept as {done.email_hash[:12]}...): deleted in Salesforce: {deleted}")
        if args.in_campaign_monitor:
            print(f"  set to Deleted in {len(done.campaign_monitor_lists)} Campaign Monitor lists")
        for problem in done.problems:
            print(f"  not done: {problem}")
    return 3 if done.problems else 0


# -------------------------------------------------------------------------------------------- import


def _import_summary(run: Any) -> dict[str, Any]:
    return {
        "wizard": run.wizard.name,
        "dry_run": run.dry_run,
        "status": run.status,
        "message": run.message,
        "read": run.read,
        "duplicates": run.duplicates,
        "imported": run.imported,
        "new": run.new,
        "resubscribed": run.resubscribed,
        "removed": run.removed,
        "would_remove": run.would_remove,
        "refused": run.refused,
        "failed": run.failed,
        "problems": run.problems,
        "cm_calls": run.cm_calls,
        "sf_calls": run.sf_calls,
    }


def cmd_import_run(args: argparse.Namespace) -> int:
    """Run an import wizard in the foreground: 0 all imported, 1 the run failed, 3 some records were kept out or
    refused (listed). A wizard that removes subscribers shows its preview and asks first, unless --yes."""
    _require_initialized()
    from cmsf.audience.imports import other_feeders, run_import
    from cmsf.audience.models import ImportRun, ImportWizard

    wizard = ImportWizard.objects.filter(name=args.name).select_related("client").first()
    if wizard is None:
        names = ", ".join(ImportWizard.objects.values_list("name", flat=True)) or "none yet"
        raise CliError(f"no import wizard is named {args.name!r} (the wizards: {names})")
    removes = wizard.mode == ImportWizard.Mode.REMOVE
    remove_only = None
    if removes and not args.dry_run and not args.yes:
        preview = run_import(wizard, dry_run=True, trigger=ImportRun.Trigger.COMMAND)
        if preview.status == ImportRun.Status.FAILED:
            raise CliError(f"the preview failed: {preview.message}")
        print(f"{wizard.name} removes the list's subscribers missing from its source: {len(preview.would_remove)} "
              f"would be deleted.")  # fmt: skip
        for email in preview.would_remove[:20]:
            print(f"  {email}")
        if len(preview.would_remove) > 20:
            print(f"  ... and {len(preview.would_remove) - 20} more (cmsf import run {args.name!r} --dry-run --json)")
        if not sys.stdin.isatty() or input("Run it? [y/N] ").strip().lower() not in ("y", "yes"):
            raise CliError("not run: give --yes to run a wizard that removes subscribers without asking")
        remove_only = preview.would_remove  # no one the preview did not show
    for other in other_feeders(wizard):
        if removes or other.mode == ImportWizard.Mode.REMOVE:
            print(f"warning: {other.name} also feeds this list, and one of the two removes subscribers missing from "
                  f"its own source", file=sys.stderr)  # fmt: skip
    run = run_import(wizard, dry_run=args.dry_run, trigger=ImportRun.Trigger.COMMAND, remove_only=remove_only)
    summary = _import_summary(run)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        verb = "would import" if run.dry_run else "imported"
        print(f"{wizard.name} {run.status}: read {run.read}, {verb} {run.imported} ({run.new} new, "
              f"{run.resubscribed} resubscribed), {run.duplicates} duplicate addresses; {run.cm_calls} Campaign "
              f"Monitor and {run.sf_calls} Salesforce calls")  # fmt: skip
        if removes:
            print(
                f"  {'would remove' if run.dry_run else 'removed'} {len(run.would_remove) if run.dry_run else run.removed}"
            )
        if run.message:
            print(f"  {run.message}")
        for reason, count in sorted(run.refused.items()):
            print(f"  kept out ({count}): {reason}")
        for problem in run.problems:
            print(f"  {problem['key']}: {problem['reason']}")
    if run.status == ImportRun.Status.FAILED:
        return 1
    return 3 if run.status == ImportRun.Status.PARTIAL else 0


# -------------------------------------------------------------------------------------------- bench


def cmd_bench(args: argparse.Namespace) -> int:
    """Measure the primary sync against the sandbox (see cmsf_sandbox.benchmark); 1 only when a sync fails."""
    benchmark = _sandbox_module("benchmark", "bench")
    BenchError, run_bench = benchmark.BenchError, benchmark.run_bench

    try:
        return run_bench(
            dataset=args.dataset,
            json_path=Path(args.json) if args.json else None,
            compare=Path(args.compare) if args.compare else None,
            seed=args.seed,
            keep=args.keep,
            campaign_members=args.campaign_members,
        )
    except BenchError as error:
        raise CliError(str(error)) from None


# ------------------------------------------------------------------------------------ backup, restore


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
    _setup_django()
    from django.db import DatabaseError

    try:
        pending = _pending_migrations()
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


# ------------------------------------------------------------------------------------------- parser


class _Parser(argparse.ArgumentParser):
    """argparse with its errors on one line, like every other error of cmsf (subcommands inherit it)."""

    def error(self, message: str) -> Any:  # argparse's own: usage, then the message, exit 2
        command = self.prog.removeprefix("cmsf").strip()
        self.exit(2, f"cmsf: error: {command + ': ' if command else ''}{' '.join(message.split())} "
                     f"(see {self.prog} --help)\n")  # fmt: skip


def _number(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number from low to high (argparse names the option in its message)."""

    def number(value: str) -> int:
        try:
            n = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
        if n < low or (high is not None and n > high):
            raise argparse.ArgumentTypeError(f"{n} is not from {low} to {high}" if high else f"{n} is below {low}")
        return n

    return number


PORT, ANY_PORT, WORKERS, SEED = _number(1, 65535), _number(0, 65535), _number(1, 64), _number(0)


def _text(value: str) -> str:
    """An argparse type: text that is not empty (`--client ""` would otherwise mean every client)."""
    if not value.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return value


def _console_url(value: str) -> str:
    """An argparse type: the console's http(s) address, such as http://127.0.0.1:8000 (no path, query or fragment)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(_text(value))
        parts.port  # noqa: B018  (a bad port raises here)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an http(s) address") from None
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path.strip("/")
        or parts.query
        or parts.fragment
    ):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not the console's http(s) address, such as http://127.0.0.1:8000"
        )
    return value.rstrip("/")


def _host(value: str) -> str:
    """An argparse type: an address or name this machine can listen on."""
    import socket

    try:
        socket.getaddrinfo(_text(value), None)
    except (socket.gaierror, UnicodeError):
        raise argparse.ArgumentTypeError(f"{value!r} is not an address or host name of this machine") from None
    return value


def _readable_file(value: str) -> str:
    """An argparse type: a file that exists and can be read."""
    try:
        with open(_text(value), "rb"):
            pass
    except OSError as error:
        raise argparse.ArgumentTypeError(f"cannot read {value}: {error.strerror}") from None
    return value


def _new_file(value: str) -> str:
    """An argparse type: a file to write, in a folder that exists."""
    folder = Path(_text(value)).expanduser().parent
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"cannot write {value}: the folder {folder} does not exist")
    return value


def _folder(value: str) -> str:
    """An argparse type: a folder, or a path where one can be made (what exists of it is a folder)."""
    path = Path(_text(value)).expanduser().absolute()
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        raise argparse.ArgumentTypeError(f"cannot make the folder {value}: {existing} is not a folder")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cmsf", description="cmsf keeps Salesforce in step with Campaign Monitor.")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    def command(name: str, summary: str, func: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=summary, description=summary)
        sub.set_defaults(func=func)
        return sub

    init = command("init", "set up the data folder, keys, database, permission sets and a first admin", cmd_init)
    init.add_argument("--admin-email", type=_text, help="the first admin's email, which is also the sign-in name")
    init.add_argument("--admin-password", help="the first admin's password (prompted for when not given)")
    init.add_argument("--no-input", action="store_true", help="never prompt (for scripts)")
    init.add_argument(
        "--public-url",
        metavar="URL",
        help="the https address Campaign Monitor reaches cmsf at (stored; an empty value clears it); when never "
        "stored, CMSF_PUBLIC_URL seeds it",
    )

    srv = command("serve", "serve the console, with the queue worker and scheduler unless --no-worker", cmd_serve)
    srv.add_argument("--host", type=_host, default="127.0.0.1")
    srv.add_argument("--port", type=PORT, default=8000)
    srv.add_argument("--no-worker", action="store_true", help="serve the console only (web machines)")
    srv.add_argument("--workers", type=WORKERS, default=1, help="queue worker threads (default 1)")

    chk = command("check", "check the installation; with --deploy, that it is ready to face the internet", cmd_check)
    chk.add_argument("--deploy", action="store_true", help="Django's deployment checks and cmsf's (docs/security.md)")

    doc = command("doctor", "check the installation end to end, one line a check with its fix (exit 1: a check "
                  "failed)", cmd_doctor)  # fmt: skip
    doc.add_argument("--json", action="store_true", help="print the checks as JSON")
    upg = command("upgrade", "after installing a new version: apply the migrations, then run the checks (exit 1 on "
                  "an error)", cmd_upgrade)  # fmt: skip
    upg.add_argument("--plan", action="store_true", help="list the migrations to apply and change nothing")

    wrk = command("worker", "run a queue consumer, with the scheduler unless --no-scheduler", cmd_worker)
    wrk.add_argument("--no-scheduler", action="store_true", help="exactly one machine should run the scheduler")
    wrk.add_argument("--workers", type=WORKERS, default=2, help="worker threads (default 2)")

    st = command("status", "show the sync settings, next run, connections, clients and plan", cmd_status)
    st.add_argument("--json", action="store_true", help="print JSON")

    config = commands.add_parser("config", help="export or import every setting as one YAML or JSON document")
    config_commands = config.add_subparsers(title="config commands", metavar="ACTION", required=True)
    export = config_commands.add_parser("export", help="print every setting")
    export.add_argument("--format", choices=("yaml", "json"), default="yaml")
    export.set_defaults(func=cmd_config_export)
    imp = config_commands.add_parser("import", help="apply a YAML or JSON document in one audited transaction")
    imp.add_argument("file", help="the document, or - for standard input")
    imp.add_argument("--actor", type=_text, help="who is making the change, for the audit log (default: cli:USER)")
    imp.set_defaults(func=cmd_config_import)

    demo = command("demo", "set up cmsf with the sandbox, connect, sync, and serve the console", cmd_demo)
    demo.add_argument("--dataset", default="small", help="the sandbox dataset (default small)")
    demo.add_argument("--host", type=_host, default="127.0.0.1")
    demo.add_argument("--port", type=PORT, default=8000)

    syn = command("sync", "run the primary sync now, in the foreground, for every selected client (exit status 0: "
                  "all written; 1: a run failed; 3: some records were refused, see maintenance)", cmd_sync)  # fmt: skip
    syn.add_argument("--client", type=_text, help="only this Campaign Monitor client id")
    syn.add_argument("--full", action="store_true",
                     help="a full Campaign Monitor sync: remove what cmsf wrote to its objects, then import everything")  # fmt: skip
    syn.add_argument("--dry-run", action="store_true", help="read everything, write nothing, report what would change")
    syn.add_argument("--json", action="store_true", help="print a JSON summary")

    wat = command("watch", "push what changed in Salesforce to Campaign Monitor (every interval, or --once)",
                  cmd_watch)  # fmt: skip
    wat.add_argument("--once", action="store_true",
                     help="one run, then exit: 0 done, 1 failed, 3 some records could not be handled")  # fmt: skip
    wat.add_argument("--json", action="store_true", help="print a JSON summary of each run")

    fgt = command("forget", "forget one person: cmsf's records of an email in Salesforce and in cmsf", cmd_forget)
    fgt.add_argument("email", help="the email address to forget")
    fgt.add_argument("--in-campaign-monitor", action="store_true",
                     help="also set the subscriber to Deleted in every list of the selected clients")  # fmt: skip
    fgt.add_argument("--actor", type=_text, help="who asks, for the audit log (default: cli:USER)")
    fgt.add_argument("--json", action="store_true", help="print a JSON summary")

    imports = commands.add_parser("import", help="import wizards: Salesforce records into Campaign Monitor lists")
    import_commands = imports.add_subparsers(title="import commands", metavar="ACTION", required=True)
    irun = import_commands.add_parser("run", help="run an import wizard now, in the foreground")
    irun.add_argument("name", help="the wizard's name")
    irun.add_argument("--dry-run", action="store_true",
                      help="a preview: read everything, send nothing, list who a Remove wizard would delete")  # fmt: skip
    irun.add_argument("--yes", action="store_true", help="run a wizard that removes subscribers without asking")
    irun.add_argument("--json", action="store_true", help="print a JSON summary")
    irun.set_defaults(func=cmd_import_run)

    bench = command("bench", "measure a full, a no-change and an incremental sync against the sandbox", cmd_bench)
    bench.add_argument("--dataset", required=True, help="dataset size: tiny, small, medium or large")
    bench.add_argument("--json", type=_new_file, help="write the figures to this JSON file")
    bench.add_argument(
        "--compare", type=_readable_file, help="a JSON result of a smaller dataset, for the peak memory growth target"
    )
    bench.add_argument("--seed", type=SEED, default=1, help="dataset seed (default 1)")
    bench.add_argument("--keep", action="store_true", help="keep the working folder (logs, cmsf's state)")
    bench.add_argument(
        "--campaign-members",
        action="store_true",
        help="auto-create a Salesforce campaign for every campaign, with statistics and campaign members",
    )

    con = command("connect", "connect Campaign Monitor and Salesforce (from a sandbox info file, or each with options)",
                  cmd_connect)  # fmt: skip
    con.add_argument(
        "--sandbox-info", type=_readable_file, help="the info JSON `cmsf sandbox` writes: connects both emulators"
    )
    con.set_defaults(service=None)
    services = con.add_subparsers(title="services", metavar="SERVICE")
    cm_parser = services.add_parser("campaign-monitor", help="connect a Campaign Monitor account with its API key")
    cm_parser.set_defaults(service="campaign-monitor")
    cm_parser.add_argument(
        "--api-key", required=True, type=_text, help="an API key of a full-access Campaign Monitor user"
    )
    cm_parser.add_argument("--base-url", help="the API's base URL (default: Campaign Monitor's own)")
    cm_parser.add_argument(
        "--ca-file", type=_readable_file, help="a PEM bundle to verify the API's certificate (default: the system's)"
    )
    sf_parser = services.add_parser("salesforce", help="connect a Salesforce org through a connected app")
    sf_parser.set_defaults(service="salesforce")
    sf_parser.add_argument("--flow", choices=("jwt_bearer", "client_credentials"), required=True)
    sf_parser.add_argument("--login-domain", choices=("production", "sandbox", "my_domain", "custom"),
                           default="production")  # fmt: skip
    sf_parser.add_argument("--my-domain", help="the My Domain host, such as acme.my.salesforce.com")
    sf_parser.add_argument("--login-url", help="the login URL when --login-domain custom")
    sf_parser.add_argument("--client-id", required=True, type=_text, help="the connected app's consumer key")
    sf_parser.add_argument("--client-secret", type=_text, help="the consumer secret (client credentials flow)")
    sf_parser.add_argument("--yes", action="store_true",
                           help="reconnect even when a feature would stop (without asking)")  # fmt: skip
    sf_parser.add_argument("--username", type=_text, help="the Salesforce Sync User's username (JWT bearer flow)")
    sf_parser.add_argument(
        "--private-key-file", type=_readable_file, help="the PEM private key of the app's certificate (JWT bearer)"
    )
    sf_parser.add_argument(
        "--ca-file", type=_readable_file, help="a PEM bundle to verify Salesforce's certificate (default: the system's)"
    )

    bkp = command("backup", "write a backup (the SQLite database while cmsf runs, the keys, a manifest) into a "
                  "folder that is empty or new", cmd_backup)  # fmt: skip
    bkp.add_argument("path", type=_folder, help="the backup folder: empty, or not there yet")
    rst = command("restore", "restore a backup into an empty data folder, checking every file", cmd_restore)
    rst.add_argument("path", type=_text, help="the folder `cmsf backup` wrote")
    rst.set_defaults(django=False)

    sbx = command("sandbox", "serve a generated Campaign Monitor account over TLS on loopback, for tests", cmd_sandbox)
    sbx.add_argument("--dataset", required=True, help="dataset size: tiny, small, medium or large")
    sbx.add_argument("--seed", type=SEED, default=1, help="dataset seed (default 1)")
    sbx.add_argument(
        "--faults",
        default="none",
        help="fault profile: none, flaky, slow (Campaign Monitor) or limits (Salesforce); default none",
    )
    sbx.add_argument(
        "--cm-port", type=ANY_PORT, default=0, help="Campaign Monitor emulator port (default 0: a free port)"
    )
    sbx.add_argument("--sf-port", type=ANY_PORT, default=0, help="Salesforce emulator port (default 0: a free port)")
    sbx.add_argument(
        "--info-json", required=True, type=_new_file, help="where to write the connection details once serving"
    )
    sbx.add_argument(
        "--dir", type=_folder, help="folder for the certificates (default: sandbox/tls in the data folder)"
    )
    sbx.add_argument(
        "--console-url",
        type=_console_url,
        default="http://127.0.0.1:8000",
        help="the console's address, whose OAuth callbacks both emulators accept, so its Setup page connects through "
        "OAuth (default http://127.0.0.1:8000, where `cmsf serve` listens)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 0
    from cmsf.lib.env import EnvError
    from cmsf.lib.keys import EncryptionKeyError
    from cmsf.lib.memory import tune_allocator

    tune_allocator()  # before the first big buffer: syncs and the console run for hours
    os.umask(0o077)  # every file and folder cmsf makes (data folder, database, queue, keys, outbox) its owner's only
    try:
        if not getattr(args, "django", True):  # cmsf restore: sets Django up itself, once the data folder is filled
            return func(args)
        _setup_django()
        from cmsf.configuration import ConfigError

        try:
            return func(args)
        except ConfigError as error:
            if len(error.errors) == 1:  # one line, like every other error
                print(f"cmsf: error: the document was not imported: {error.errors[0]}", file=sys.stderr)
                return 2
            print("cmsf: the document was not imported; nothing changed:", file=sys.stderr)
            for line in error.errors:
                print(f"  {line}", file=sys.stderr)
            return 2
    except (CliError, EncryptionKeyError, EnvError) as error:
        print(f"cmsf: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
