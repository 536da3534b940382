import zoneinfo
from functools import cache

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models


class ConsoleAccess(models.Model):
    """No table: it only carries the console's permissions, which the permission sets grant."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("view_console", "Can see status, maintenance messages and email history"),
            ("change_settings", "Can change settings, connections and run syncs"),
        ]

    def __str__(self) -> str:
        return "console access"


class EmbedLink(models.Model):
    """An email history link (`console.embed`): who made it, for which Salesforce domain, until when, and whether
    an admin revoked it. The token (signed, carrying this row's id) is kept nowhere."""

    created_by = models.CharField(max_length=150)
    salesforce_domain = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"email history link {self.pk}"


def validate_time_zone(value: str) -> None:
    """A time zone this Python knows by its IANA name (Europe/Paris), or blank."""
    if value and value not in available_time_zones():
        raise ValidationError(f"{value} is not a time zone: choose one from the list (an IANA name).")


@cache
def available_time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


class ConsolePreference(models.Model):
    """What one console user chose for themselves: the time zone the console shows times in."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="console_preference")
    time_zone = models.CharField(
        "Time zone",
        max_length=64,
        blank=True,
        validators=[validate_time_zone],
        help_text="The console shows dates and times in this zone. Blank: the Salesforce org's time zone "
        "(UTC while no org is connected).",
    )

    def __str__(self) -> str:
        return f"preferences of {self.user}"
