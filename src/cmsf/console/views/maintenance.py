"""Maintenance: the messages (details, support codes, acknowledge, retry), the audit log, and the cog page (the
notification email address and the internal governor limits)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from cmsf.console import forms as console_forms
from cmsf.console.access import changer, viewer
from cmsf.console.sections import audit_section_label
from cmsf.maintenance import selectors, support_codes
from cmsf.maintenance import services as maintenance
from cmsf.maintenance.jobs import JOBS
from cmsf.maintenance.models import MaintenanceMessage, MaintenanceSettings
from cmsf.sync import tasks as sync_tasks

PER_PAGE = 25


# -- forms ------------------------------------------------------------------------------------------


class NotificationEmailForm(console_forms.Form):
    notification_email = forms.EmailField(
        label="Notification email", required=False, max_length=254,
        help_text="New maintenance messages are emailed to this address. Leave it empty to send none.",
    )  # fmt: skip


class GovernorLimitsForm(console_forms.Form):
    """One batch size per job; the range of each is checked by `GovernorLimit.clean` in the service."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for code, job in JOBS.items():
            said = f"Enter the batch size of {job.name} as a whole number between 1 and {job.max_batch_size}."
            self.fields[code] = forms.IntegerField(
                label=job.name, required=True, error_messages={"required": said, "invalid": said},
                widget=forms.NumberInput(attrs={"class": "slds-input", "min": 1, "max": job.max_batch_size}),
            )  # fmt: skip


class AuditFilterForm(console_forms.Form):
    actor = forms.ChoiceField(label="User", required=False)
    section = forms.ChoiceField(label="Section", required=False)
    date_from = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": "Enter the first day to show as a date, such as 2025-01-31."},
    )  # fmt: skip
    date_to = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": "Enter the last day to show as a date, such as 2025-01-31."},
    )  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        actor, section = self.fields["actor"], self.fields["section"]
        assert isinstance(actor, forms.ChoiceField) and isinstance(section, forms.ChoiceField)
        actor.choices = [("", "All users"), *selectors.audit_actor_choices()]
        labelled = sorted(((s, audit_section_label(s)) for s in selectors.audit_sections()), key=lambda c: c[1])
        section.choices = [("", "All sections"), *labelled]

    def clean(self) -> dict[str, Any] | None:
        data = super().clean() or {}
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", "The end date must be on or after the start date.")
        return data


# -- helpers ----------------------------------------------------------------------------------------


def _page(request: HttpRequest, rows: QuerySet[Any]) -> Page[Any]:
    return Paginator(rows, PER_PAGE).get_page(request.GET.get("page"))


def _query_without_page(request: HttpRequest) -> str:
    """The page's query string without `page`, for the pagination links."""
    return urlencode([(key, value) for key, value in request.GET.items() if key != "page"])


def _back_to(request: HttpRequest, fallback: str) -> HttpResponse:
    """Back to where the form was (a message's page or the list), never to another site."""
    target = request.POST.get("next", "")
    safe = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return redirect(target if target and safe else fallback)


# -- messages ---------------------------------------------------------------------------------------


@viewer
def home(request: HttpRequest) -> HttpResponse:
    show = selectors.NEW if request.GET.get("show") == selectors.NEW else selectors.ALL
    context = {
        "active_section": "maintenance",
        "show": show,
        "page": _page(request, selectors.messages(show)),
        "query": _query_without_page(request),
        "new_count": selectors.new_message_count(),
    }
    return render(request, "console/maintenance/home.html", context)


@viewer
def message_detail(request: HttpRequest, message_id: int) -> HttpResponse:
    message = get_object_or_404(
        MaintenanceMessage.objects.select_related("acknowledged_by", "retried_by", "client", "retry_run"),
        pk=message_id,
    )
    context = {
        "active_section": "maintenance",
        "message": message,
        "support": support_codes.lookup(message.support_code),
        "retry_note": support_codes.RETRY_NOTE,
    }
    return render(request, "console/maintenance/message.html", context)


@require_POST
@changer
def acknowledge(request: HttpRequest, message_id: int) -> HttpResponse:
    get_object_or_404(MaintenanceMessage, pk=message_id)
    if maintenance.acknowledge(message_id, user=request.user):
        messages.success(request, "The message is acknowledged.")
    else:
        messages.info(request, "The message was acknowledged already.")
    return _back_to(request, reverse("console:maintenance"))


@require_POST
@changer
def acknowledge_all(request: HttpRequest) -> HttpResponse:
    count = maintenance.acknowledge_all(user=request.user)
    messages.success(request, f"{count} message{'s' if count != 1 else ''} acknowledged.")
    return redirect("console:maintenance")


@require_POST
@changer
def retry(request: HttpRequest, message_id: int) -> HttpResponse:
    """Retry: sync the message's client again; the records Salesforce refused are sent again."""
    get_object_or_404(MaintenanceMessage, pk=message_id)
    try:
        message = maintenance.retry(message_id, user=request.user, queue_sync=sync_tasks.sync_client_now)
    except maintenance.CannotRetry as error:
        messages.error(request, str(error))
        return redirect("console:maintenance_message", message_id=message_id)
    messages.success(request, "A sync of the client is queued: the records that were not written are sent again.")
    return redirect(f"{reverse('console:home')}?{urlencode([('run', message.retry_run_id)])}")


@viewer
def support(request: HttpRequest, code: str) -> HttpResponse:
    """What a support code means and what to do; a code not listed gets a general page, never "not found"."""
    entry = support_codes.lookup(code)
    context = {
        "active_section": "maintenance",
        "support": entry,
        "retry_note": support_codes.RETRY_NOTE if code.startswith(support_codes.SALESFORCE_PREFIX) else "",
        "recent": MaintenanceMessage.objects.filter(support_code=code).order_by("-created_at", "-id")[:5],
    }
    return render(request, "console/maintenance/support.html", context)


# -- the audit log ----------------------------------------------------------------------------------


@viewer
def audit_log(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    filters: dict[str, Any] = {}
    if form.is_bound and form.is_valid():
        filters = {key: value for key, value in form.cleaned_data.items() if value}
    rows = selectors.audit_entries(**filters) if not form.errors else selectors.audit_entries().none()
    page = _page(request, rows)
    page.object_list = list(page.object_list)
    for entry in page.object_list:
        entry.section_label = audit_section_label(entry.section)
    context = {
        "active_section": "maintenance",
        "form": form,
        "page": page,
        "query": _query_without_page(request),
    }
    return render(request, "console/maintenance/audit.html", context)


# -- the cog page -----------------------------------------------------------------------------------


def _settings_page(
    request: HttpRequest,
    *,
    email_form: NotificationEmailForm | None = None,
    limits_form: GovernorLimitsForm | None = None,
    status: int = 200,
) -> HttpResponse:
    limits = selectors.governor_limits()
    if email_form is None:
        email_form = NotificationEmailForm(
            initial={"notification_email": MaintenanceSettings.load().notification_email}
        )
    if limits_form is None:
        limits_form = GovernorLimitsForm(initial={limit.job.code: limit.batch_size for limit in limits})
    context = {
        "active_section": "maintenance",
        "email_form": email_form,
        "rows": [(limit, limits_form[limit.job.code]) for limit in limits],
        "limits_form": limits_form,
    }
    return render(request, "console/maintenance/settings.html", context, status=status)


@viewer
def settings_page(request: HttpRequest) -> HttpResponse:
    return _settings_page(request)


@require_POST
@changer
def notification_email(request: HttpRequest) -> HttpResponse:
    form = NotificationEmailForm(request.POST)
    if form.is_valid():
        try:
            saved = maintenance.set_notification_email(
                form.cleaned_data["notification_email"], actor=request.user.get_username()
            )
        except ValidationError as error:
            for message in error.message_dict.get("notification_email", error.messages):
                form.add_error("notification_email", message)
        else:
            address = saved.notification_email
            messages.success(request, f"New maintenance messages are emailed to {address}." if address else
                             "No notification email: new maintenance messages are not emailed.")  # fmt: skip
            return redirect("console:maintenance_settings")
    return _settings_page(request, email_form=form, status=400)


@require_POST
@changer
def governor_limits(request: HttpRequest) -> HttpResponse:
    """Save every job's batch size at once: one bad value saves none."""
    form = GovernorLimitsForm(request.POST)
    if form.is_valid():
        try:
            maintenance.set_governor_limits(form.cleaned_data, actor=request.user.get_username())
        except ValidationError as error:
            for code, errors in error.message_dict.items():
                for message in errors:
                    form.add_error(code if code in form.fields else None, message)
        else:
            messages.success(request, "The internal governor limits are saved.")
            return redirect("console:maintenance_settings")
    messages.error(request, "Nothing was saved: correct the batch sizes marked below.")
    return _settings_page(request, limits_form=form, status=400)


@require_POST
@changer
def reset_governor_limit(request: HttpRequest, job: str) -> HttpResponse:
    if job not in JOBS:
        messages.error(request, f"There is no job {job}.")
        return redirect("console:maintenance_settings")
    default = maintenance.reset_governor_limit(job, actor=request.user.get_username())
    messages.success(request, f"{JOBS[job].name} is back on its default batch size, {default:,}.")
    return redirect("console:maintenance_settings")


urlpatterns = [
    path("maintenance/", home, name="maintenance"),
    path("maintenance/messages/acknowledge-all", acknowledge_all, name="maintenance_acknowledge_all"),
    path("maintenance/messages/<int:message_id>", message_detail, name="maintenance_message"),
    path("maintenance/messages/<int:message_id>/acknowledge", acknowledge, name="maintenance_acknowledge"),
    path("maintenance/messages/<int:message_id>/retry", retry, name="maintenance_retry"),
    path("maintenance/support/<path:code>", support, name="maintenance_support"),
    path("maintenance/audit", audit_log, name="maintenance_audit"),
    path("maintenance/settings", settings_page, name="maintenance_settings"),
    path("maintenance/settings/notification-email", notification_email, name="maintenance_notification_email"),
    path("maintenance/settings/governor-limits", governor_limits, name="maintenance_governor_limits"),
    path("maintenance/settings/governor-limits/<str:job>/reset", reset_governor_limit, name="maintenance_reset_limit"),
]
