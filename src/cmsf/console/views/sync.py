"""Sync Settings: the primary sync's schedule, its switch, Sync now and the connections."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms as django_forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from cmsf.campaign_monitor.errors import CampaignMonitorError
from cmsf.connections import selectors as connection_selectors
from cmsf.connections import services as connections
from cmsf.connections.models import CampaignMonitorClient
from cmsf.console import forms as console_forms
from cmsf.console import selectors
from cmsf.console.access import changer, viewer
from cmsf.console.views import frame
from cmsf.lib import crypto
from cmsf.maintenance.services import record_message
from cmsf.salesforce.errors import SalesforceError
from cmsf.sync import clients
from cmsf.sync import services as sync
from cmsf.sync import tasks as sync_tasks
from cmsf.sync.models import ImportFrequency, SyncRun


@viewer
def home(request: HttpRequest) -> HttpResponse:
    return _home(request)


def _home(request: HttpRequest, *, frequency_error: str = "", status: int = 200) -> HttpResponse:
    run_ids = _run_ids(request)
    context = {
        "overview": selectors.overview(now=timezone.now()),
        "active_section": "sync",
        "run_ids": run_ids,
        "progress": _progress_of(run_ids),
        "frequencies": ImportFrequency.choices,
        "chosen_frequency": request.POST.get("import_frequency") if frequency_error else None,
        "frequency_error": frequency_error,
    }
    return render(request, "console/sync/home.html", context, status=status)


@require_POST
@changer
def sync_enabled(request: HttpRequest) -> HttpResponse:
    """Turn off sync / Turn on sync."""
    enabled = request.POST.get("enabled") == "on"
    sync.set_sync_enabled(enabled, actor=request.user.get_username())
    messages.success(
        request,
        "The sync is on: it runs at its next scheduled time."
        if enabled
        else "The sync is off: no scheduled sync runs until you turn it on.",
    )
    return redirect("console:home")


def _run_ids(request: HttpRequest) -> list[int]:
    return [int(value) for value in request.GET.getlist("run") if value.isdigit()]


def _progress_of(run_ids: list[int]) -> dict[str, Any]:
    runs = list(SyncRun.objects.filter(pk__in=run_ids).select_related("client").order_by("client__name"))
    result = selectors.sync_now_result(runs, now=timezone.now())
    return {"runs": runs, "running": bool(runs) and result is None, "run_ids": run_ids, "result": result}


def _progress(request: HttpRequest, run_ids: list[int]) -> HttpResponse:
    """The progress fragment htmx swaps in; once the runs have ended it brings their result and the new sync status
    too (out of band), and the page's toasts when a message was told."""
    context = {**_progress_of(run_ids), "fragment": True}
    if context["result"] is not None:
        context["overview"] = selectors.overview(now=timezone.now())
    return render(request, "console/sync/_progress.html", context)


@require_POST
@changer
def sync_now(request: HttpRequest) -> HttpResponse:
    """Sync now: one job per selected client on the queue; htmx swaps in their live progress (no page reload). Not
    while Campaign Monitor or Salesforce is disconnected (the button is disabled, with the reason)."""
    htmx = request.headers.get("HX-Request") == "true"  # django-htmx's request.htmx, typed
    reason = connection_selectors.not_connected_reason()
    if reason:
        messages.error(request, f"Sync now cannot run: {reason}. Connect it on the Setup page first.")
        return _progress(request, []) if htmx else redirect("console:home")
    run_ids = sync_tasks.sync_now()
    if not run_ids:
        messages.error(request, "No Campaign Monitor client is selected: connect Campaign Monitor first.")
        return _progress(request, []) if htmx else redirect("console:home")
    if htmx:
        return _progress(request, run_ids)
    return redirect(f"{reverse('console:home')}?{urlencode([('run', i) for i in run_ids])}")


@viewer
def sync_progress(request: HttpRequest) -> HttpResponse:
    """The progress fragment of the runs named in ?run=, polled by htmx while any of them is not finished."""
    return _progress(request, _run_ids(request))


@require_POST
@changer
def sync_frequency(request: HttpRequest) -> HttpResponse:
    """Import frequency: the dropdown of Sync Settings."""
    try:
        settings = sync.set_import_frequency(
            request.POST.get("import_frequency", ""), actor=request.user.get_username()
        )
    except sync.InvalidSetting as error:
        return _home(request, frequency_error=str(error), status=400)
    messages.success(request, f"Import frequency: {settings.get_import_frequency_display()}.")
    return redirect("console:home")


@require_POST
@changer
def change_sync_user(request: HttpRequest) -> HttpResponse:
    """Change Salesforce Sync User: to the signed-in user, through Salesforce's sign-in (the OAuth web-server flow)."""
    return frame.start_salesforce_flow(request, frame.SYNC_USER)


# -- the dropdown: Full Campaign Monitor Sync, Reconnect, Disconnect ------------------------------------------


class ReconnectForm(console_forms.Form):
    api_key = django_forms.CharField(
        label="API key",
        strip=True,
        max_length=200,
        widget=django_forms.PasswordInput(attrs={"class": "slds-input", "autocomplete": "off"}),
        help_text="The API key of a full-access user of the same Campaign Monitor account (Account settings, "
        "API keys).",
    )


CM_ERRORS = (CampaignMonitorError, connections.NotConnected)
SF_ERRORS = (SalesforceError, connections.NotConnected)
SEALED_KEY_MAX_AGE_S = 30 * 60


def _failed(request: HttpRequest, what: str, error: Exception, guidance: str, *, job: str = "CMSF_SYNC") -> None:
    """An action failed at Campaign Monitor or Salesforce: say what happened and what to do, and keep it in
    maintenance."""
    messages.error(request, f"{what}: {error}. {guidance}")
    record_message(support_code="CMSF-CONSOLE-ACTION", job=job, message=what, details=str(error), guidance=guidance)


@changer
def full_sync(request: HttpRequest) -> HttpResponse:
    """Full Campaign Monitor Sync: a confirmation saying what is removed, then one full sync job per client."""
    if request.method == "POST":
        run_ids = sync_tasks.sync_now(full=True)
        if not run_ids:
            messages.error(request, "No Campaign Monitor client is selected: connect Campaign Monitor first.")
            return redirect("console:home")
        messages.success(request, "The full Campaign Monitor sync started. You can leave this page: it goes on.")
        return redirect(f"{reverse('console:home')}?{urlencode([('run', i) for i in run_ids])}")
    context = {"active_section": "sync", "removal": selectors.full_sync_removal()}
    return render(request, "console/sync/full_sync.html", context)


@changer
def reconnect(request: HttpRequest) -> HttpResponse:
    """Reconnect to Campaign Monitor: new credentials of the same account, then the clients to keep syncing."""
    form = ReconnectForm(request.POST or None)
    context: dict[str, Any] = {"active_section": "sync", "form": form}
    if request.method == "POST" and form.is_valid():
        try:
            context["preview"] = clients.preview_reconnect(form.cleaned_data["api_key"])
        except clients.ClientChoiceError as error:
            form.add_error("api_key", str(error))
        except CM_ERRORS as error:
            form.add_error("api_key", f"Campaign Monitor refused these credentials: {error}")
        else:
            context["sealed_key"] = crypto.seal(form.cleaned_data["api_key"])
    return render(request, "console/sync/reconnect.html", context)


@require_POST
@changer
def reconnect_confirm(request: HttpRequest) -> HttpResponse:
    api_key = crypto.unseal(request.POST.get("sealed_key", ""), max_age_s=SEALED_KEY_MAX_AGE_S)
    if api_key is None:
        messages.error(request, "The reconnect form expired: enter the API key again.")
        return redirect("console:reconnect")
    selected = request.POST.getlist("client")
    try:
        clients.reconnect(api_key, selected, actor=request.user.get_username())
    except clients.ClientChoiceError as error:
        preview = clients.preview_reconnect(api_key)
        for choice in preview.clients:
            choice.selected = choice.client_id in selected
        context = {
            "active_section": "sync",
            "form": ReconnectForm(),
            "preview": preview,
            "sealed_key": request.POST["sealed_key"],
            "choice_error": str(error),
        }
        return render(request, "console/sync/reconnect.html", context)
    except CM_ERRORS as error:
        _failed(
            request,
            "Reconnecting to Campaign Monitor failed",
            error,
            "Check the API key of a full-access user of the same account and try again.",
        )
        return redirect("console:reconnect")
    messages.success(request, "Campaign Monitor is reconnected.")
    return redirect("console:home")


@changer
def disconnect(request: HttpRequest) -> HttpResponse:
    """Disconnect from Campaign Monitor: a confirmation, then stop the jobs, remove the credentials and reset the
    clients' ownership."""
    if request.method == "POST":
        clients.disconnect(actor=request.user.get_username())
        messages.success(request, "Campaign Monitor is disconnected: no sync runs until you reconnect.")
        return redirect("console:home")
    return render(request, "console/sync/disconnect.html", {"active_section": "sync"})


# -- the Campaign Monitor Clients table: Select Clients, the Security Owner; the API-usage meter ---------------


@changer
def select_clients(request: HttpRequest) -> HttpResponse:
    """The Select Clients dialog (agency accounts on the Enterprise plan): add or remove sub-accounts."""
    try:
        choices = clients.account_choices()
    except CM_ERRORS as failure:
        _failed(
            request,
            "Listing the Campaign Monitor clients failed",
            failure,
            "Reconnect to Campaign Monitor if the credentials no longer work.",
        )
        return redirect("console:home")
    refusal = ""
    if request.method == "POST":
        selected = request.POST.getlist("client")
        try:
            clients.select_clients(selected, actor=request.user.get_username())
        except clients.ClientChoiceError as refused:
            refusal = str(refused)
            for choice in choices:
                choice.selected = choice.client_id in selected
        except CM_ERRORS as failure:
            _failed(request, "Saving the selected clients failed", failure, "Try again in a few minutes.")
            return redirect("console:home")
        else:
            messages.success(request, "The selected clients are saved: they sync from the next run.")
            return redirect("console:home")
    context = {
        "active_section": "sync",
        "choices": choices,
        "choice_error": refusal,
        "features": selectors.plan_features(),
    }
    return render(request, "console/sync/select_clients.html", context)


@changer
def security_owner(request: HttpRequest, pk: int) -> HttpResponse:
    """Change the Salesforce Security Owner of a client: choose an active Salesforce user."""
    client = get_object_or_404(CampaignMonitorClient, pk=pk)
    search = request.GET.get("q", "")
    error = ""
    if request.method == "POST":
        try:
            clients.set_security_owner(client.pk, request.POST.get("user_id", ""), actor=request.user.get_username())
        except clients.ClientChoiceError as refused:
            error = str(refused)
        except SF_ERRORS as failure:
            _failed(
                request,
                "Changing the Salesforce Security Owner failed",
                failure,
                "Check the Salesforce connection under Sync Settings and try again.",
            )
            return redirect("console:home")
        else:
            messages.success(request, f"New records of {client.name} are owned by the chosen user from the next sync.")
            return redirect("console:home")
    try:
        users = clients.active_salesforce_users(search)
    except SF_ERRORS as failure:
        _failed(
            request,
            "Listing the Salesforce users failed",
            failure,
            "Check the Salesforce connection under Sync Settings and try again.",
        )
        return redirect("console:home")
    context = {
        "active_section": "sync",
        "client": client,
        "users": users,
        "search": search,
        "owner_error": error,
        "sync_user": clients.SYNC_USER,
    }
    return render(request, "console/sync/security_owner.html", context)


@viewer
def api_usage(request: HttpRequest) -> HttpResponse:
    """The API-usage meter, loaded by htmx after the page so a slow org never slows Sync Settings."""
    try:
        usage, error = clients.api_usage(), ""
    except SF_ERRORS as failure:
        usage, error = None, str(failure)
    return render(request, "console/sync/_api_usage.html", {"usage": usage, "error": error})


urlpatterns = [
    path("", home, name="home"),
    path("sync/enabled", sync_enabled, name="sync_enabled"),
    path("sync/now", sync_now, name="sync_now"),
    path("sync/frequency", sync_frequency, name="sync_frequency"),
    path("sync/progress", sync_progress, name="sync_progress"),
    path("sync/sync-user", change_sync_user, name="change_sync_user"),
    path("sync/full", full_sync, name="full_sync"),
    path("sync/reconnect", reconnect, name="reconnect"),
    path("sync/reconnect/confirm", reconnect_confirm, name="reconnect_confirm"),
    path("sync/disconnect", disconnect, name="disconnect"),
    path("sync/clients/select", select_clients, name="select_clients"),
    path("sync/clients/<int:pk>/owner", security_owner, name="security_owner"),
    path("sync/api-usage", api_usage, name="api_usage"),
]
