"""Setting up and running cmsf: init, serve, worker, check, doctor and upgrade."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import Any

from cmsf.cli.common import CliError, pending_migrations, require_initialized


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
    done.append(store_public_url(public_url))
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


def store_public_url(given: str | None, *, actor: str = "cli:init") -> str:
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
    require_initialized()
    serve(host=args.host, port=args.port, worker=not args.no_worker, workers=args.workers)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from django.core.management import call_command

    if not args.deploy:
        call_command("check")
        return 0
    from cmsf.deploy_check import problems

    found = problems(database_ready=not pending_migrations())
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
    require_initialized()
    _consumer(workers=args.workers, scheduler=not args.no_scheduler).run()
    return 0
