"""Emailing a new maintenance message to the notification address."""

from __future__ import annotations

from django.core.mail import send_mail
from django.utils import timezone

from cmsf.maintenance.models import MaintenanceMessage, MaintenanceSettings


def notify(message_id: int) -> bool:
    """Email the message once; True when an email was sent. A message already notified is not sent again."""
    address = MaintenanceSettings.load().notification_email
    message = MaintenanceMessage.objects.filter(pk=message_id, notified_at=None).first()
    if message is None or not address:
        return False
    body = "\n\n".join(
        part
        for part in (
            message.message,
            f"Job: {message.job}\nSupport code: {message.support_code}\nSeverity: {message.get_severity_display()}",
            f"What to do: {message.guidance}" if message.guidance else "",
            message.details,
        )
        if part
    )
    send_mail(f"cmsf maintenance [{message.support_code}]: {message.message[:120]}", body, None, [address])
    # Conditional update: two workers that both got here send at most one more email, never more rows.
    MaintenanceMessage.objects.filter(pk=message_id, notified_at=None).update(notified_at=timezone.now())
    return True
