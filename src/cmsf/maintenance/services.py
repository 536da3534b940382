"""Writes of the maintenance app: messages (which notify the admin), audit entries, acknowledging and retrying
messages, the notification address and the internal governor limits."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from cmsf.lib.declared import Declared, model_update
from cmsf.maintenance import tasks
from cmsf.maintenance.jobs import JOBS
from cmsf.maintenance.models import MAINTENANCE, AuditEntry, GovernorLimit, MaintenanceMessage, MaintenanceSettings

SECTION = "maintenance"
log = logging.getLogger(__name__)

User = AbstractBaseUser | AnonymousUser


def record_message(
    *,
    support_code: str,
    job: str,
    message: str,
    details: str = "",
    guidance: str = "",
    severity: str = MaintenanceMessage.Severity.ERROR,
    client_id: int | None = None,
    subject: str = "",
) -> MaintenanceMessage:
    """Tell the admin of a problem. While a message of the same support code, job, client and subject is open, the
    problem is that message met again: its count grows, its last sighting moves, its text, details (the latest
    example records) and guidance become this one's, and no email goes out. Otherwise a new message is stored and,
    once it is committed, emailed to the notification address. Logged either way.
    `client_id`: the Campaign Monitor client whose job met it (Retry syncs that client again); `subject`: what it is
    about within its job (an object, an import wizard, a list)."""
    subject = subject[:255]
    level = logging.ERROR if severity == MaintenanceMessage.Severity.ERROR else logging.WARNING
    with transaction.atomic():
        now = timezone.now()
        entry = (
            MaintenanceMessage.objects.select_for_update()
            .filter(support_code=support_code, job=job, client_id=client_id, subject=subject, resolved_at=None)
            .order_by("-id")
            .first()
        )
        if entry is not None:
            entry.occurrences += 1
            entry.last_seen_at = now
            entry.message, entry.details, entry.severity = message, details, severity
            entry.guidance = guidance or entry.guidance
            entry.save(update_fields=["occurrences", "last_seen_at", "message", "details", "severity", "guidance"])
            log.log(level, "[%s] %s (%s, seen %d times)", support_code, message, job, entry.occurrences)
            return entry
        entry = MaintenanceMessage.objects.create(
            support_code=support_code,
            job=job,
            subject=subject,
            severity=severity,
            message=message,
            details=details,
            guidance=guidance,
            client_id=client_id,
            last_seen_at=now,
        )
    log.log(level, "[%s] %s (%s)", support_code, message, job)
    transaction.on_commit(lambda: tasks.notify_new_message(entry.pk))
    return entry


def resolve_cleared(
    *, jobs: Iterable[str], since: datetime, client_id: int | None = None, subject: str | None = None
) -> int:
    """A run of these jobs (for this client; about this subject, when given) that began at `since` has ended and no
    longer met the problems its open messages tell of: every one not met again since then is marked resolved. It
    stays in the history and leaves the bell. Notices (severity info: something cmsf did, such as unlinking a deleted
    campaign) tell of an event rather than a problem that goes on, and stay until acknowledged. Call it only for a run
    that went through to its end. The number resolved."""
    rows = MaintenanceMessage.objects.filter(
        job__in=list(jobs), client_id=client_id, resolved_at=None, last_seen_at__lt=since
    ).exclude(severity=MaintenanceMessage.Severity.INFO)  # a notice tells of an event, not a state: it stays
    if subject is not None:
        rows = rows.filter(subject=subject)
    resolved = rows.update(resolved_at=timezone.now())
    if resolved:
        log.info("%d maintenance message%s resolved: a later run no longer met %s", resolved,
                 "s" if resolved != 1 else "", "them" if resolved != 1 else "it")  # fmt: skip
    return resolved


def audit(*, actor: str, section: str, action: str, before: dict[str, Any], after: dict[str, Any]) -> AuditEntry:
    return AuditEntry.objects.create(actor=actor, section=section, action=action, before=before, after=after)


# -- messages ----------------------------------------------------------------------------------------


class CannotRetry(Exception):
    """The message names no client to sync again, was retried already, or its client is no longer synced."""


def _user_pk(user: User) -> Any:
    return user.pk if user.is_authenticated else None


def acknowledge(message_id: int, *, user: User) -> bool:
    """Mark a new message as seen (the bell counts one fewer); audited. False when it was acknowledged already."""
    with transaction.atomic():
        now = timezone.now()
        changed = MaintenanceMessage.objects.filter(pk=message_id, acknowledged_at=None).update(
            acknowledged_at=now, acknowledged_by_id=_user_pk(user)
        )
        if changed:
            audit(actor=user.get_username(), section=SECTION, action="Acknowledge maintenance message",
                  before={"message": message_id, "acknowledged": False},
                  after={"message": message_id, "acknowledged": True})  # fmt: skip
    return bool(changed)


def acknowledge_all(*, user: User) -> int:
    """Mark every new message as seen; audited with how many. The number acknowledged."""
    with transaction.atomic():
        new = MaintenanceMessage.objects.select_for_update().filter(acknowledged_at=None, resolved_at=None)
        ids = list(new.values_list("pk", flat=True))
        if not ids:
            return 0
        MaintenanceMessage.objects.filter(pk__in=ids, acknowledged_at=None).update(
            acknowledged_at=timezone.now(), acknowledged_by_id=_user_pk(user)
        )
        audit(actor=user.get_username(), section=SECTION, action="Acknowledge all maintenance messages",
              before={"new_messages": len(ids)}, after={"new_messages": 0})  # fmt: skip
    return len(ids)


def retry(message_id: int, *, user: User, queue_sync: Callable[[int], int | None]) -> MaintenanceMessage:
    """Sync the message's client again: records Salesforce refused are not in the ledger, so the sync sends them
    again. `queue_sync(client_id)` queues the sync (its job starts once this commits) and gives the run's id, or
    None when the client is no longer synced. The message is marked retried (and acknowledged); audited."""
    with transaction.atomic():
        message = MaintenanceMessage.objects.select_for_update(of=("self",)).select_related("client").get(pk=message_id)
        if message.client_id is None:
            raise CannotRetry("This message does not come from the sync of a client: there is nothing to retry.")
        if message.resolved_at is not None:
            raise CannotRetry("This problem is resolved: a later sync no longer met it.")
        if not message.can_retry:
            raise CannotRetry("This message was retried already and the problem was not met since: see the run it "
                              "started.")  # fmt: skip
        run_id = queue_sync(message.client_id)
        if run_id is None:
            name = message.client.name if message.client else "the client"
            raise CannotRetry(f"{name} is no longer active and selected for sync: select it under Sync Settings.")
        now = timezone.now()
        message.retried_at, message.retried_by_id, message.retry_run_id = now, _user_pk(user), run_id
        fields = ["retried_at", "retried_by", "retry_run"]
        if message.acknowledged_at is None:
            message.acknowledged_at, message.acknowledged_by_id = now, _user_pk(user)
            fields += ["acknowledged_at", "acknowledged_by"]
        message.save(update_fields=fields)
        audit(actor=user.get_username(), section=SECTION, action="Retry maintenance message",
              before={"message": message_id, "retried": False},
              after={"message": message_id, "retried": True, "client": message.client_id, "run": run_id})  # fmt: skip
    return message


# -- the cog page: notification address and internal governor limits ------------------------------------------


def set_notification_email(address: str, *, actor: str) -> MaintenanceSettings:
    """The address new maintenance messages are emailed to ("" sends none); ValidationError for a bad address;
    audited."""
    settings = update_settings(MAINTENANCE, {"notification_email": address.strip()}, actor=actor, section=SECTION,
                               action="Change notification email")  # fmt: skip
    return settings


def set_governor_limits(sizes: Mapping[str, int | None], *, actor: str) -> dict[str, int]:
    """Set the batch size of each job given (None or the job's default: use the default). Every value is checked by
    `GovernorLimit.clean` first: one bad value saves nothing and raises ValidationError with an error per job
    (`error_dict`, keyed by job code). Audited with the sizes that changed. The batch sizes now in use."""
    unknown = [code for code in sizes if code not in JOBS]
    if unknown:
        raise ValidationError({code: "There is no such job." for code in unknown})
    errors: dict[str, list[str]] = {}
    for code, size in sizes.items():
        try:
            GovernorLimit(job=code, batch_size=size).clean()
        except ValidationError as error:
            errors[code] = error.messages
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        before = GovernorLimit.all_batch_sizes()
        for code, size in sizes.items():
            chosen = None if size == JOBS[code].default_batch_size else size
            if chosen is None:
                GovernorLimit.objects.filter(job=code).delete()
            else:
                GovernorLimit.objects.update_or_create(job=code, defaults={"batch_size": chosen})
        after = GovernorLimit.all_batch_sizes()
        changed = sorted(code for code in after if after[code] != before[code])
        if changed:
            audit(actor=actor, section=SECTION, action="Change internal governor limits",
                  before={code: before[code] for code in changed},
                  after={code: after[code] for code in changed})  # fmt: skip
    return after


def reset_governor_limit(job: str, *, actor: str) -> int:
    """Put a job back on its default batch size; audited when it was not on it. The default."""
    if job not in JOBS:
        raise ValidationError({job: "There is no such job."})
    with transaction.atomic():
        before = GovernorLimit.batch_size_for(job)
        GovernorLimit.objects.filter(job=job).delete()
        default = JOBS[job].default_batch_size
        if before != default:
            audit(actor=actor, section=SECTION, action="Reset internal governor limit to default",
                  before={job: before}, after={job: default})  # fmt: skip
    return default


# -- settings ------------------------------------------------------------------------------------------------


def update_settings(
    declared: Declared,
    values: Mapping[str, Any],
    *,
    actor: str,
    action: str,
    fields: tuple[str, ...] | None = None,
    section: str | None = None,
    prepare: Callable[[Any, dict[str, Any]], dict[str, Any]] | None = None,
) -> Any:
    """Update a settings row from validated values (names among `fields`, every declared field by default): the
    model validates them (ValidationError by field, nothing saved), only the fields that changed are saved, and
    one audit entry holds their values before and after; none when nothing changed. `prepare` sees the locked row
    and the values, and returns the values to set (a field computed from others, a check against other rows)."""
    fields = fields or declared.fields
    with transaction.atomic():
        obj = declared.model._default_manager.select_for_update().filter(pk=1).first() or declared.model.load()
        before = declared.snapshot(obj, fields)
        given = prepare(obj, dict(values)) if prepare else values
        changed = model_update(obj, given, fields=fields)
        if changed:
            audit(
                actor=actor,
                section=section or declared.key,
                action=action,
                before={name: before[name] for name in changed},
                after=declared.snapshot(obj, tuple(changed)),
            )
    return obj
