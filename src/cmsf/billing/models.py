"""The plan: a new installation has 14 days of Enterprise, then Free unless a plan is chosen."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import models
from django.utils import timezone

from cmsf.lib.singleton import SingletonModel

TRIAL_DAYS = 14


class Plan(models.TextChoices):
    FREE = "free", "Free"
    STANDARD = "standard", "Standard"
    ENTERPRISE = "enterprise", "Enterprise"


class BillingAccount(SingletonModel):
    plan = models.CharField(
        max_length=16,
        choices=Plan.choices,
        blank=True,
        help_text="The plan chosen; none chosen means the trial, then Free.",
    )
    trial_started_at = models.DateTimeField(default=timezone.now)

    @property
    def trial_ends_at(self) -> datetime:
        return self.trial_started_at + timedelta(days=TRIAL_DAYS)

    def on_trial(self, now: datetime) -> bool:
        return not self.plan and now < self.trial_ends_at

    def effective_plan(self, now: datetime) -> Plan:
        if self.plan:
            return Plan(self.plan)
        return Plan.ENTERPRISE if self.on_trial(now) else Plan.FREE
