"""The primary sync's settings and schedule."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import models

from cmsf.lib.singleton import SingletonModel


class ImportFrequency(models.TextChoices):
    OFF = "off", "Off"
    EVERY_15_MINUTES = "15m", "Every 15 minutes"
    EVERY_30_MINUTES = "30m", "Every 30 minutes"
    HOURLY = "hourly", "Hourly (recommended)"
    EVERY_2_HOURS = "2h", "Every 2 hours"
    EVERY_4_HOURS = "4h", "Every 4 hours"
    EVERY_6_HOURS = "6h", "Every 6 hours"
    EVERY_12_HOURS = "12h", "Every 12 hours"
    DAILY = "daily", "Daily"
    WEEKLY = "weekly", "Weekly"


INTERVALS: dict[str, timedelta] = {
    ImportFrequency.EVERY_15_MINUTES: timedelta(minutes=15),
    ImportFrequency.EVERY_30_MINUTES: timedelta(minutes=30),
    ImportFrequency.HOURLY: timedelta(hours=1),
    ImportFrequency.EVERY_2_HOURS: timedelta(hours=2),
    ImportFrequency.EVERY_4_HOURS: timedelta(hours=4),
    ImportFrequency.EVERY_6_HOURS: timedelta(hours=6),
    ImportFrequency.EVERY_12_HOURS: timedelta(hours=12),
    ImportFrequency.DAILY: timedelta(days=1),
    ImportFrequency.WEEKLY: timedelta(weeks=1),
}


class SyncStatus(models.TextChoices):
    NEVER_RUN = "never_run", "Not run yet"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class SyncSettings(SingletonModel):
    """The Sync Settings screen: how often the primary sync runs, whether it runs, and how it went."""

    import_frequency = models.CharField(
        max_length=8,
        choices=ImportFrequency.choices,
        default=ImportFrequency.HOURLY,
        help_text="How often the primary sync pulls changes from Campaign Monitor. Hourly is recommended.",
    )
    sync_enabled = models.BooleanField(default=True, help_text="Turn off sync stops every scheduled sync.")
    next_run = models.DateTimeField(null=True, blank=True)
    last_status = models.CharField(max_length=16, choices=SyncStatus.choices, default=SyncStatus.NEVER_RUN)
    last_status_message = models.TextField(blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)

    @property
    def interval(self) -> timedelta | None:
        return INTERVALS.get(self.import_frequency)

    def reschedule(self, now: datetime) -> None:
        """Set the next run one interval from now, or none when the sync is off."""
        interval = self.interval
        self.next_run = now + interval if (self.sync_enabled and interval) else None

    def is_due(self, now: datetime) -> bool:
        return self.sync_enabled and self.next_run is not None and self.next_run <= now

    def settings_changed(self, now: datetime) -> None:
        """The frequency or the on/off switch changed: the next run follows from the new choice."""
        self.reschedule(now)
        self.save(update_fields=["next_run"])
