"""Billing: the plan and its trial, usage, the price table, billing details and the invoices (print, resend)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from cmsf.billing import selectors
from cmsf.billing import services as billing
from cmsf.billing.models import BillingAccount, Invoice, Plan
from cmsf.console import formats
from cmsf.console import forms as console_forms
from cmsf.console.access import changer, viewer
from cmsf.console.confirm import Confirmation, confirm_page


class BillingDetailsForm(console_forms.ModelForm):
    class Meta:
        model = BillingAccount
        fields = ["billing_name", "address_line1", "address_line2", "city", "postcode", "country", "invoice_email"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("billing_name", "address_line1", "city", "postcode", "country", "invoice_email"):
            self.fields[name].required = True

    def clean_postcode(self) -> str:
        value = str(self.cleaned_data["postcode"]).strip().upper()
        if not all(c.isalnum() or c in " -" for c in value) or not any(c.isalnum() for c in value):
            raise forms.ValidationError("Enter the postcode with letters, digits, spaces or hyphens only.")
        return value


def _page(request: HttpRequest, *, details_form: BillingDetailsForm | None = None, status: int = 200) -> HttpResponse:
    overview = selectors.overview(now=timezone.now())
    context = {
        "active_section": "billing",
        "o": overview,
        "plan_choices": Plan.choices,
        "details_form": details_form or BillingDetailsForm(instance=overview.account),
    }
    return render(request, "console/billing/home.html", context, status=status)


@viewer
def home(request: HttpRequest) -> HttpResponse:
    return _page(request)


@require_http_methods(["GET", "POST"])
@changer
def choose_plan(request: HttpRequest) -> HttpResponse:
    """Choose a plan: a GET asks first, saying what changes (the trial it ends, the features it adds or takes
    away); the POST does it."""
    if request.method == "GET":
        change = selectors.plan_change(request.GET.get("plan", ""), now=timezone.now())
        if change is None:
            messages.error(request, "Choose Free, Standard or Enterprise.")
            return redirect("console:billing")
        return confirm_page(request, _plan_confirmation(change), section="billing")
    try:
        account = billing.choose_plan(request.POST.get("plan", ""), actor=request.user.get_username())
    except billing.BillingError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Plan: {account.get_plan_display()}.")
    return redirect("console:billing")


def _plan_confirmation(change: selectors.PlanChange) -> Confirmation:
    if change.ends_trial:
        ends = formats.when(change.trial_ends_at)
        warning = (
            f"Choosing {change.new.label} ends the Enterprise trial now ({change.trial_days_left} day"
            f"{'s' if change.trial_days_left != 1 else ''} left, until {ends}); it cannot be started again."
        )
    elif change.current == change.new:
        warning = f"{change.new.label} is the plan already: choosing it again changes nothing."
    else:
        warning = f"The plan changes from {change.current.label} to {change.new.label} now."
    lines = [
        f"This month is billed at {change.new.label}'s price for its highest daily count of active subscribers"
        + (" (a month that ends on the trial costs nothing: this one no longer does)." if change.ends_trial else ".")
    ]
    lines += [f"Added: {label}." for label in change.gained]
    lines += [f"No longer included: {label}." for label in change.lost]
    if change.drops_history:
        lines.append("The email tracking history already stored in Salesforce is removed by the next syncs.")
    return Confirmation(
        title=f"Choose the {change.new.label} plan?",
        warning=warning,
        consequences=lines,
        action=reverse("console:billing_plan"),
        cancel=reverse("console:billing"),
        button=f"Choose {change.new.label}",
        fields=(("plan", change.new.value),),
        destructive=change.ends_trial or bool(change.lost),
    )


@require_POST
@changer
def details(request: HttpRequest) -> HttpResponse:
    form = BillingDetailsForm(request.POST, instance=BillingAccount.load())
    if not form.is_valid():
        return _page(request, details_form=form, status=400)
    billing.save_details(form.cleaned_data, actor=request.user.get_username())
    messages.success(request, "Billing details saved: the next invoices carry them.")
    return redirect("console:billing")


@require_POST
@changer
def count_usage(request: HttpRequest) -> HttpResponse:
    """Count today's active subscribers now (the daily job does it too; a day keeps its latest count)."""
    snapshot = billing.record_usage(timezone.now())
    if snapshot is None:
        messages.error(request, "Salesforce did not give the count: see Maintenance for what happened and what to do.")
    else:
        messages.success(request, f"{formats.count(snapshot.active_subscribers)} active subscribers today.")
    return redirect("console:billing")


@viewer
def invoice(request: HttpRequest, number: str) -> HttpResponse:
    found = get_object_or_404(Invoice, number=number)
    return render(request, "console/billing/invoice.html", {"active_section": "billing", "invoice": found})


@require_POST
@changer
def resend(request: HttpRequest, number: str) -> HttpResponse:
    found = get_object_or_404(Invoice, number=number)
    try:
        sent = billing.send_invoice(found, actor=request.user.get_username())
    except billing.BillingError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Invoice {sent.number} emailed to {sent.emailed_to}.")
    return redirect("console:billing_invoice", number=found.number)


urlpatterns = [
    path("billing/", home, name="billing"),
    path("billing/plan", choose_plan, name="billing_plan"),
    path("billing/details", details, name="billing_details"),
    path("billing/usage", count_usage, name="billing_count_usage"),
    path("billing/invoices/<str:number>/", invoice, name="billing_invoice"),
    path("billing/invoices/<str:number>/resend", resend, name="billing_resend"),
]
