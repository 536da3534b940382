"""The plan, its trial, the billing details, the daily usage snapshots and the monthly invoices.

A new installation has 14 days of Enterprise, then Free unless a plan is chosen. cmsf stores no card data.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import models
from django.utils import timezone

from cmsf.lib.declared import Declared
from cmsf.lib.singleton import SingletonModel

TRIAL_DAYS = 14
CURRENCY = "USD"


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
    # The billing details printed on every invoice (copied into the invoice when it is issued).
    billing_name = models.CharField("Name", max_length=200, blank=True)
    address_line1 = models.CharField("Address line 1", max_length=200, blank=True)
    address_line2 = models.CharField("Address line 2", max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    postcode = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=100, blank=True)
    invoice_email = models.EmailField(blank=True, help_text="Invoices are emailed to this address.")

    @property
    def trial_ends_at(self) -> datetime:
        return self.trial_started_at + timedelta(days=TRIAL_DAYS)

    def on_trial(self, now: datetime) -> bool:
        return not self.plan and now < self.trial_ends_at

    def trial_days_left(self, now: datetime) -> int:
        """Whole days of the trial still to come (a part of a day counts as a day); 0 once it has ended."""
        if not self.on_trial(now):
            return 0
        left = self.trial_ends_at - now
        return left.days + (1 if left.seconds or left.microseconds else 0)

    def effective_plan(self, now: datetime) -> Plan:
        if self.plan:
            return Plan(self.plan)
        return Plan.ENTERPRISE if self.on_trial(now) else Plan.FREE

    def details(self) -> dict[str, str]:
        """The billing details, as an invoice keeps them."""
        return {name: str(getattr(self, name)) for name in DETAIL_FIELDS}


DETAIL_FIELDS = ("billing_name", "address_line1", "address_line2", "city", "postcode", "country", "invoice_email")


class UsageSnapshot(models.Model):
    """The number of active subscribers (each email once across lists and clients) counted on one day, and the
    plan in force when it was counted. A month is billed at its peak."""

    day = models.DateField(unique=True)
    active_subscribers = models.PositiveIntegerField()
    plan = models.CharField(max_length=16, choices=Plan.choices)
    on_trial = models.BooleanField(default=False)
    counted_at = models.DateTimeField()
    sf_calls = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-day"]

    def __str__(self) -> str:
        return f"{self.day}: {self.active_subscribers} active subscribers ({self.plan})"


class Invoice(models.Model):
    """One month's invoice: issued once (unique per month), with what it was computed from and the billing
    details as they were when it was issued."""

    number = models.CharField(max_length=32, unique=True)
    period_start = models.DateField(unique=True)  # the first day of the month billed
    period_end = models.DateField()  # its last day
    plan = models.CharField(max_length=16, choices=Plan.choices)
    on_trial = models.BooleanField(default=False)
    subscribers = models.PositiveIntegerField(help_text="The month's peak of active subscribers.")
    peak_day = models.DateField(null=True, blank=True)
    lines = models.JSONField(default=list)  # [{"description": str, "amount": "49.00"}]
    total = models.DecimalField(max_digits=10, decimal_places=2)
    currency = models.CharField(max_length=3, default=CURRENCY)
    bill_to = models.JSONField(default=dict)  # the billing details when issued
    issued_at = models.DateTimeField()
    emailed_at = models.DateTimeField(null=True, blank=True)
    emailed_to = models.EmailField(blank=True)

    class Meta:
        ordering = ["-period_start"]

    def __str__(self) -> str:
        return f"{self.number}: {self.total} {self.currency}"

    @property
    def line_amounts(self) -> list[tuple[str, Decimal]]:
        return [(line["description"], Decimal(line["amount"])) for line in self.lines]

    @property
    def month(self) -> date:
        return self.period_start


BILLING = Declared("billing", BillingAccount, {"plan": ("plan",)})
