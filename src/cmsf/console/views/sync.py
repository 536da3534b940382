"""Sync Settings: the primary sync's schedule, its switch, Sync now and the connections."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from cmsf.console import selectors
from cmsf.console.access import changer, viewer
from cmsf.sync import services as sync
from cmsf.sync import tasks as sync_tasks
from cmsf.sync.models import ImportFrequency, SyncRun


@viewer
def home(request: HttpRequest) -> HttpResponse:
    run_ids = _run_ids(request)
    context = {
        "overview": selectors.overview(now=timezone.now()),
        "active_section": "sync",
        "run_ids": run_ids,
        "progress": _progress_of(run_ids),
        "frequencies": ImportFrequency.choices,
    }
    return render(request, "console/sync/home.html", context)


@require_POST
@changer
def sync_enabled(request: HttpRequest) -> HttpResponse:
    """Turn off sync / Turn on sync."""
    enabled = request.POST.get("enabled") == "on"
    sync.set_sync_enabled(enabled, actor=request.user.get_username())
    messages.success(request, "The sync is on: it runs at its next scheduled time." if enabled else
                     "The sync is off: no scheduled sync runs until you turn it on.")  # fmt: skip
    return redirect("console:home")


def _run_ids(request: HttpRequest) -> list[int]:
    return [int(value) for value in request.GET.getlist("run") if value.isdigit()]


def _progress_of(run_ids: list[int]) -> dict[str, Any]:
    runs = list(SyncRun.objects.filter(pk__in=run_ids).select_related("client").order_by("client__name"))
    done = (SyncRun.Status.SUCCEEDED, SyncRun.Status.FAILED, SyncRun.Status.STOPPED)
    return {"runs": runs, "running": any(run.status not in done for run in runs), "run_ids": run_ids}


def _progress(request: HttpRequest, run_ids: list[int]) -> HttpResponse:
    return render(request, "console/sync/_progress.html", _progress_of(run_ids))


@require_POST
@changer
def sync_now(request: HttpRequest) -> HttpResponse:
    """Sync now: one job per selected client on the queue; htmx swaps in their live progress (no page reload)."""
    run_ids = sync_tasks.sync_now()
    if not run_ids:
        messages.error(request, "No Campaign Monitor client is selected: connect Campaign Monitor first.")
        return redirect("console:home")
    if request.headers.get("HX-Request") == "true":  # django-htmx's request.htmx, typed
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
        messages.error(request, str(error))
    else:
        messages.success(request, f"Import frequency: {settings.get_import_frequency_display()}.")
    return redirect("console:home")


urlpatterns = [
    path("", home, name="home"),
    path("sync/enabled", sync_enabled, name="sync_enabled"),
    path("sync/now", sync_now, name="sync_now"),
    path("sync/frequency", sync_frequency, name="sync_frequency"),
    path("sync/progress", sync_progress, name="sync_progress"),
]
