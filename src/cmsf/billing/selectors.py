"""Reads of billing that the console (and the CLI) show."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from cmsf.billing.models import TRIAL_DAYS, BillingAccount, Invoice, Plan, UsageSnapshot
from cmsf.billing.plans import FEATURE_LABELS, PLAN_FEATURES, TIERS, TierRow, band_for, tier_table
from cmsf.billing.services import month_end, month_start


@dataclass(frozen=True)
class FeatureRow:
    label: str
    included: tuple[bool, ...]  # in the order of Plan


@dataclass
class BillingOverview:
    account: BillingAccount
    plan: Plan
    on_trial: bool
    trial_days: int
    trial_ends_at: datetime
    trial_days_left: int
    plans: list[tuple[str, str]]
    features: list[FeatureRow]
    tiers: list[TierRow]
    latest_usage: UsageSnapshot | None
    month_peak: UsageSnapshot | None  # the highest count of the current month so far
    month_estimate: Decimal | None  # what the current month costs at its peak so far
    month_band: str
    invoices: list[Invoice]


def overview(*, now: datetime) -> BillingOverview:
    account = BillingAccount.load()
    plan = account.effective_plan(now)
    on_trial = account.on_trial(now)
    today = now.astimezone(UTC).date()
    start = month_start(today)
    month = UsageSnapshot.objects.filter(day__gte=start, day__lte=month_end(start))
    peak = month.order_by("-active_subscribers", "day").first()
    estimate, band = None, ""
    if peak is not None:
        band, price = band_for(plan, peak.active_subscribers)
        band = band if len(TIERS[plan]) > 1 else ""
        estimate = Decimal("0.00") if on_trial else price
    return BillingOverview(
        account=account,
        plan=plan,
        on_trial=on_trial,
        trial_days=TRIAL_DAYS,
        trial_ends_at=account.trial_ends_at,
        trial_days_left=account.trial_days_left(now),
        plans=list(Plan.choices),
        features=[
            FeatureRow(label, tuple(getattr(PLAN_FEATURES[p], name) for p in Plan)) for name, label in FEATURE_LABELS
        ],
        tiers=tier_table(),
        latest_usage=UsageSnapshot.objects.order_by("-day").first(),
        month_peak=peak,
        month_estimate=estimate,
        month_band=band,
        invoices=list(Invoice.objects.all()),
    )


@dataclass(frozen=True)
class PlanChange:
    """What choosing `new` changes, for the confirmation before it: the trial it ends, the features it adds or
    takes away."""

    current: Plan
    new: Plan
    ends_trial: bool
    trial_ends_at: datetime
    trial_days_left: int
    gained: list[str]
    lost: list[str]
    drops_history: bool  # the tracking history stored in Salesforce is removed by the next syncs


def plan_change(new: str, *, now: datetime) -> PlanChange | None:
    """None when `new` is not a plan."""
    if new not in Plan.values:
        return None
    account = BillingAccount.load()
    current, chosen = account.effective_plan(now), Plan(new)
    before, after = PLAN_FEATURES[current], PLAN_FEATURES[chosen]
    return PlanChange(
        current=current,
        new=chosen,
        ends_trial=account.on_trial(now),
        trial_ends_at=account.trial_ends_at,
        trial_days_left=account.trial_days_left(now),
        gained=[label for name, label in FEATURE_LABELS if getattr(after, name) and not getattr(before, name)],
        lost=[label for name, label in FEATURE_LABELS if getattr(before, name) and not getattr(after, name)],
        drops_history=before.tracking_history and not after.tracking_history,
    )
