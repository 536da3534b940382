"""Writes of the maintenance app: messages (which notify the admin) and audit entries."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from cmsf.maintenance import tasks
from cmsf.maintenance.models import AuditEntry, MaintenanceMessage


def record_message(
    *,
    support_code: str,
    job: str,
    message: str,
    details: str = "",
    guidance: str = "",
    severity: str = MaintenanceMessage.Severity.ERROR,
) -> MaintenanceMessage:
    """Store a maintenance message and, once it is committed, queue the email to the notification address."""
    entry = MaintenanceMessage.objects.create(
        support_code=support_code, job=job, severity=severity, message=message, details=details, guidance=guidance
    )
    transaction.on_commit(lambda: tasks.notify_new_message(entry.pk))
    return entry


def audit(*, actor: str, section: str, action: str, before: dict[str, Any], after: dict[str, Any]) -> AuditEntry:
    return AuditEntry.objects.create(actor=actor, section=section, action=action, before=before, after=after)
