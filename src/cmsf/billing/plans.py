"""What each plan unlocks and what it costs: the feature table and the monthly price by band of active subscribers.

Prices are per month, in `CURRENCY`, by the month's peak of active subscribers (each email once across lists and
clients). The trial (Enterprise for `TRIAL_DAYS` days) costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from cmsf.billing.models import Plan


@dataclass(frozen=True)
class Features:
    """What the plan in force unlocks."""

    plan: Plan
    tracking_history: bool  # email tracking history is stored in Salesforce (Free removes it)
    agency_clients: bool  # more than one Campaign Monitor client (an agency's sub-accounts)
    sms: bool  # SMS consent and mobile numbers
    flow_actions: bool  # the HTTP API Salesforce Flows call (cmsf.api): subscribers, imports, smart emails
    transactional: bool  # smart (transactional) emails sent from cmsf: the console, the HTTP API


PLAN_FEATURES: dict[Plan, Features] = {
    Plan.FREE: Features(
        Plan.FREE, tracking_history=False, agency_clients=False, sms=False, flow_actions=False, transactional=False
    ),
    Plan.STANDARD: Features(
        Plan.STANDARD, tracking_history=True, agency_clients=False, sms=False, flow_actions=False, transactional=False
    ),
    Plan.ENTERPRISE: Features(
        Plan.ENTERPRISE, tracking_history=True, agency_clients=True, sms=True, flow_actions=True, transactional=True
    ),
}

FEATURE_LABELS: tuple[tuple[str, str], ...] = (
    ("tracking_history", "Email tracking history stored in Salesforce"),
    ("agency_clients", "Agency sub-accounts (several Campaign Monitor clients)"),
    ("sms", "SMS: mobile numbers and consent to send SMS"),
    ("flow_actions", "Salesforce Flow actions: the HTTP API for Flows (subscribers, imports, smart emails)"),
    ("transactional", "Smart (transactional) emails sent and recorded as Tasks"),
)


@dataclass(frozen=True)
class Band:
    up_to: int | None  # the most active subscribers of the band; None: no upper bound
    price: Decimal  # per month


# The tier table: per plan, the monthly price by band of the month's peak of active subscribers.
TIERS: dict[Plan, tuple[Band, ...]] = {
    Plan.FREE: (Band(None, Decimal("0.00")),),
    Plan.STANDARD: (
        Band(2_500, Decimal("49.00")),
        Band(10_000, Decimal("99.00")),
        Band(25_000, Decimal("179.00")),
        Band(50_000, Decimal("299.00")),
        Band(None, Decimal("499.00")),
    ),
    Plan.ENTERPRISE: (
        Band(2_500, Decimal("99.00")),
        Band(10_000, Decimal("179.00")),
        Band(25_000, Decimal("299.00")),
        Band(50_000, Decimal("449.00")),
        Band(None, Decimal("699.00")),
    ),
}


def band_for(plan: Plan, subscribers: int) -> tuple[str, Decimal]:
    """The band (as its label) and the monthly price of a plan for this many active subscribers."""
    low = 0
    for band in TIERS[plan]:
        if band.up_to is None or subscribers <= band.up_to:
            return _label(low, band.up_to), band.price
        low = band.up_to + 1
    raise ValueError(f"the tier table of {plan} has no open-ended band")


def _label(low: int, high: int | None) -> str:
    if high is None:
        return f"{low:,} or more" if low else "any number"
    return f"{low:,} to {high:,}"


@dataclass(frozen=True)
class TierRow:
    band: str
    prices: tuple[Decimal, ...]  # in the order of Plan


def tier_table() -> list[TierRow]:
    """The price table as the billing page shows it: one row per band, one price per plan."""
    bounds = sorted({band.up_to for bands in TIERS.values() for band in bands if band.up_to is not None})
    rows: list[TierRow] = []
    low = 0
    for high in [*bounds, None]:
        rows.append(TierRow(_label(low, high), tuple(band_for(plan, low)[1] for plan in Plan)))
        if high is not None:
            low = high + 1
    return rows
