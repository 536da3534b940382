"""Writes of billing: the plan, the billing details, the daily usage count, the monthly invoices and their email.

Every change a user makes is audited in the same transaction. The invoice of a month is issued once: the month
is its key (`Invoice.period_start` is unique), so a rerun of the job finds it and issues nothing twice.
"""

from __future__ import annotations

from calendar import monthrange
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.utils import timezone

from cmsf.billing.models import CURRENCY, DETAIL_FIELDS, BillingAccount, Invoice, Plan, UsageSnapshot
from cmsf.billing.plans import PLAN_FEATURES, TIERS, Features, band_for
from cmsf.billing.usage import count_active_subscribers
from cmsf.connections import services as connections
from cmsf.maintenance.services import audit, record_message
from cmsf.salesforce.errors import SalesforceError

SECTION = "billing"
USAGE_CODE = "CMSF-BILLING-USAGE"
INVOICE_EMAIL_CODE = "CMSF-BILLING-EMAIL"


class BillingError(Exception):
    """A billing action that cannot be done, with what to do about it."""


def features(now: datetime) -> Features:
    """What the plan in force at `now` unlocks (the trial is Enterprise)."""
    return PLAN_FEATURES[BillingAccount.load().effective_plan(now)]


# -- the plan and the billing details ---------------------------------------------------------------------


def choose_plan(plan: str, *, actor: str) -> BillingAccount:
    if plan not in Plan.values:
        raise BillingError(f"{plan!r} is not a plan: choose Free, Standard or Enterprise.")
    with transaction.atomic():
        account = BillingAccount.objects.select_for_update().get(pk=BillingAccount.load().pk)
        before = {"plan": account.plan or "(trial, then Free)"}
        account.plan = plan
        account.save(update_fields=["plan"])
        audit(actor=actor, section=SECTION, action="Change plan", before=before, after={"plan": plan})
    return account


def save_details(values: Mapping[str, str], *, actor: str) -> BillingAccount:
    """Store the billing details (already validated by the form)."""
    with transaction.atomic():
        account = BillingAccount.objects.select_for_update().get(pk=BillingAccount.load().pk)
        before = account.details()
        for name in DETAIL_FIELDS:
            setattr(account, name, values.get(name, ""))
        account.save(update_fields=list(DETAIL_FIELDS))
        after = account.details()
        changed = {k for k in DETAIL_FIELDS if before[k] != after[k]}
        audit(
            actor=actor,
            section=SECTION,
            action="Change billing details",
            before={k: before[k] for k in sorted(changed)},
            after={k: after[k] for k in sorted(changed)},
        )
    return account


# -- usage ---------------------------------------------------------------------------------------------------


def record_usage(now: datetime) -> UsageSnapshot | None:
    """Count today's active subscribers in Salesforce and keep the count (one snapshot a day, the latest count
    of the day wins). None when Salesforce is not connected, or when Salesforce failed (a maintenance message
    says what happened and what to do)."""
    try:
        adapter = connections.salesforce()
    except connections.NotConnected:
        return None
    try:
        counted = count_active_subscribers(adapter)
    except SalesforceError as error:
        record_message(
            support_code=USAGE_CODE,
            job="Billing usage count",
            message="cmsf could not count today's active subscribers in Salesforce.",
            details=str(error),
            guidance="Check the Salesforce connection in Sync Settings; the count is taken again tomorrow, and a "
            "month is billed at the highest count of its days, so a missed day does not raise the invoice.",
        )
        return None
    finally:
        adapter.session.close()
    account = BillingAccount.load()
    snapshot, _ = UsageSnapshot.objects.update_or_create(
        day=now.astimezone(UTC).date(),
        defaults={
            "active_subscribers": counted.active_subscribers,
            "plan": account.effective_plan(now),
            "on_trial": account.on_trial(now),
            "counted_at": now,
            "sf_calls": counted.sf_calls,
        },
    )
    return snapshot


# -- invoices ------------------------------------------------------------------------------------------------


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


def month_end(month: date) -> date:
    return month.replace(day=monthrange(month.year, month.month)[1])


def invoice_number(month: date) -> str:
    return f"CMSF-{month:%Y-%m}"


def finished_months(now: datetime) -> list[date]:
    """Every month from the installation's first (the trial's start) up to the last one that has ended."""
    first = month_start(BillingAccount.load().trial_started_at.astimezone(UTC).date())
    current = month_start(now.astimezone(UTC).date())
    months: list[date] = []
    month = first
    while month < current:
        months.append(month)
        month = next_month(month)
    return months


def compute_invoice(month: date, *, now: datetime) -> dict[str, Any]:
    """What the invoice of a month says: the plan in force at the month's end (the plan of its last daily count,
    else the plan as it stands for that moment), billed by the band of the month's peak of active subscribers.
    A month that ended on the trial costs nothing."""
    account = BillingAccount.load()
    end = month_end(month)
    snapshots = list(UsageSnapshot.objects.filter(day__gte=month, day__lte=end).order_by("day"))
    if snapshots:
        last = snapshots[-1]
        plan, on_trial = Plan(last.plan), last.on_trial
        peak = max(snapshots, key=lambda s: (s.active_subscribers, -s.day.toordinal()))
        subscribers, peak_day = peak.active_subscribers, peak.day
    else:
        moment = datetime.combine(end, time.max, tzinfo=UTC)
        plan, on_trial = account.effective_plan(moment), account.on_trial(moment)
        subscribers, peak_day = 0, None
    peak_text = f"peak {subscribers:,} active subscribers" + (f" on {peak_day:%d %b %Y}" if peak_day else "")
    if on_trial:
        lines = [{"description": f"{plan.label} plan, free trial ({peak_text})", "amount": "0.00"}]
    else:
        band, price = band_for(plan, subscribers)
        priced = f"{plan.label} plan, {band} active subscribers" if len(TIERS[plan]) > 1 else f"{plan.label} plan"
        lines = [{"description": f"{priced} ({peak_text})", "amount": str(price)}]
    total = sum((Decimal(line["amount"]) for line in lines), Decimal("0.00"))
    return {
        "number": invoice_number(month),
        "period_start": month,
        "period_end": end,
        "plan": plan,
        "on_trial": on_trial,
        "subscribers": subscribers,
        "peak_day": peak_day,
        "lines": lines,
        "total": total.quantize(Decimal("0.01")),
        "currency": CURRENCY,
        "bill_to": account.details(),
        "issued_at": now,
    }


def issue_invoices(now: datetime) -> list[Invoice]:
    """Issue the invoice of every finished month that has none yet; the new invoices. Idempotent: the month is
    unique, so a rerun (or a second worker at the same time) issues nothing twice."""
    issued: list[Invoice] = []
    for month in finished_months(now):
        if Invoice.objects.filter(period_start=month).exists():
            continue
        try:
            with transaction.atomic():
                issued.append(Invoice.objects.create(**compute_invoice(month, now=now)))
        except IntegrityError:
            continue  # issued meanwhile by another worker
    return issued


def invoice_text(invoice: Invoice) -> str:
    bill_to = invoice.bill_to
    address = [
        bill_to.get(k, "")
        for k in ("billing_name", "address_line1", "address_line2", "city", "postcode", "country")
        if bill_to.get(k)
    ]
    lines = [
        f"Invoice {invoice.number}",
        f"Period: {invoice.period_start:%d %b %Y} to {invoice.period_end:%d %b %Y}",
        f"Issued: {invoice.issued_at:%d %b %Y}",
        "",
        "Bill to:",
        *(address or ["(no billing details on file)"]),
        "",
        *(f"{description}: {amount} {invoice.currency}" for description, amount in invoice.line_amounts),
        f"Total: {invoice.total} {invoice.currency}",
        "",
        "cmsf stores no card data.",
    ]
    return "\n".join(lines)


def send_invoice(invoice: Invoice, *, actor: str = "", to: str = "") -> Invoice:
    """Email the invoice to the invoice email (the current one, else the one it was issued with). With an actor
    (a resend from the console) the send is audited. BillingError when there is no address or the mail server
    refused it (recorded as a maintenance message)."""
    address = to or BillingAccount.load().invoice_email or invoice.bill_to.get("invoice_email", "")
    if not address:
        raise BillingError("No invoice email is set: enter one in Billing details, then resend the invoice.")
    message = EmailMessage(
        subject=f"cmsf invoice {invoice.number}: {invoice.total} {invoice.currency}",
        body=invoice_text(invoice),
        to=[address],
    )
    try:
        message.send(fail_silently=False)
    except OSError as error:
        record_message(
            support_code=INVOICE_EMAIL_CODE,
            job="Invoice email",
            message=f"The invoice {invoice.number} could not be emailed to {address}.",
            details=f"{type(error).__name__}: {error}",
            guidance="Check the mail server settings (CMSF_EMAIL_HOST and the related settings), then resend the "
            "invoice from Billing.",
        )
        raise BillingError(
            f"The mail server did not take the email ({error}): check the mail server settings and resend."
        ) from error
    with transaction.atomic():
        before = {"emailed_at": invoice.emailed_at.isoformat() if invoice.emailed_at else None}
        invoice.emailed_at, invoice.emailed_to = timezone.now(), address
        invoice.save(update_fields=["emailed_at", "emailed_to"])
        if actor:
            audit(
                actor=actor,
                section=SECTION,
                action=f"Resend invoice {invoice.number}",
                before=before,
                after={"emailed_at": invoice.emailed_at.isoformat(), "emailed_to": address},
            )
    return invoice


def billing_day(now: datetime) -> list[str]:
    """The daily job: count today's usage, issue the invoices of finished months and email the new ones."""
    record_usage(now)
    numbers: list[str] = []
    for invoice in issue_invoices(now):
        numbers.append(invoice.number)
        if invoice.bill_to.get("invoice_email"):
            try:
                send_invoice(invoice, to=invoice.bill_to["invoice_email"])
            except BillingError:
                pass  # recorded as a maintenance message; the invoice can be resent from the console
    return numbers
