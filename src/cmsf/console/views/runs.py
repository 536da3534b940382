"""Run history: the runs of the sync, the watcher and the import wizards, filtered by client and outcome; a page for
each run with its counts, API calls and problems; Sync now for one client."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import EmptyPage
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from cmsf.connections import selectors as connection_selectors
from cmsf.connections.models import CampaignMonitorClient
from cmsf.console import selectors
from cmsf.console.access import changer, viewer
from cmsf.sync import selectors as runs
from cmsf.sync import tasks as sync_tasks
from cmsf.sync.models import SyncRun, WatchRun

SECTION = "sync"


class BadFilter(ValueError):
    pass


def _filters(request: HttpRequest) -> tuple[CampaignMonitorClient | None, str, int]:
    """The client, outcome and page asked for; BadFilter says which value is wrong."""
    client_value = request.GET.get("client", "").strip()
    client = None
    if client_value:
        if not client_value.isdigit() or len(client_value) > 12:
            raise BadFilter(f"Unknown client {client_value[:40]!r}: choose one from the list.")
        client = CampaignMonitorClient.objects.filter(pk=int(client_value)).first()
        if client is None:
            raise BadFilter(f"Unknown client {client_value[:40]!r}: choose one from the list.")
    outcome = request.GET.get("outcome", "").strip()
    try:
        runs.check_outcome(outcome)
    except runs.UnknownOutcome:
        raise BadFilter(f"Unknown outcome {outcome[:40]!r}: choose one from the list.") from None
    page_value = request.GET.get("page", "1").strip() or "1"
    if not page_value.isdigit() or len(page_value) > 7 or int(page_value) < 1:
        raise BadFilter(f"Unknown page {page_value[:40]!r}: a page is a number from 1.")
    return client, outcome, int(page_value)


@viewer
def run_list(request: HttpRequest) -> HttpResponse:
    """Run history: every kind of run, newest first, filtered by client and by outcome (400 for a value it does not
    know), 50 a page."""
    context: dict[str, Any] = {
        "active_section": SECTION,
        "clients": CampaignMonitorClient.objects.order_by("name"),
        "outcomes": runs.OUTCOMES.items(),
        "chosen_client": request.GET.get("client", ""),
        "chosen_outcome": request.GET.get("outcome", ""),
    }
    try:
        client, outcome, page = _filters(request)
    except BadFilter as error:
        context["filter_error"] = str(error)
        return render(request, "console/runs/list.html", context, status=400)
    try:
        history = selectors.run_history(client_id=client.pk if client else None, outcome=outcome, page=page)
    except EmptyPage:
        raise Http404("There is no such page of runs.") from None
    filters = [
        (name, value) for name, value in (("client", client.pk if client else ""), ("outcome", outcome)) if value
    ]
    context.update(
        history=history,
        client=client,
        outcome=outcome,
        query=urlencode(filters),
        can_sync_client=client is not None and client.active and client.selected,
        not_connected=connection_selectors.not_connected_reason(),
    )
    return render(request, "console/runs/list.html", context)


@viewer
def run_page(request: HttpRequest, pk: int) -> HttpResponse:
    """One sync run: its counts per stream and per Salesforce object, its API calls and the problems it met, each
    linked to its maintenance message."""
    run = get_object_or_404(SyncRun.objects.select_related("client"), pk=pk)
    detail = runs.sync_run_detail(run, now=timezone.now())
    context = {
        "active_section": SECTION,
        "detail": detail,
        "row": detail.row,
        "not_connected": connection_selectors.not_connected_reason(),
    }
    return render(request, "console/runs/run.html", context)


@viewer
def run_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The progress of one sync run as an htmx fragment, polled while the run has not ended: its facts, counts per
    stream and per object and its problems, so that the run's result shows in place when it ends."""
    run = get_object_or_404(SyncRun.objects.select_related("client"), pk=pk)
    detail = runs.sync_run_detail(run, now=timezone.now())
    return render(request, "console/runs/_progress.html", {"detail": detail, "row": detail.row})


@viewer
def watch_run_page(request: HttpRequest, pk: int) -> HttpResponse:
    """One run of the Salesforce watcher: what it read and did, its API calls and the records it could not handle."""
    detail = runs.watch_run_detail(get_object_or_404(WatchRun, pk=pk), now=timezone.now())
    return render(request, "console/runs/watch_run.html", {"active_section": SECTION, "detail": detail})


@require_POST
@changer
def sync_client_now(request: HttpRequest, pk: int) -> HttpResponse:
    """Sync now for one client: a queued run of that client alone, whose page shows its progress."""
    client = get_object_or_404(CampaignMonitorClient, pk=pk)
    reason = connection_selectors.not_connected_reason()
    if reason:
        messages.error(request, f"Sync now cannot run: {reason}. Connect it under Sync Settings first.")
        return redirect(f"{reverse('console:runs')}?{urlencode({'client': client.pk})}")
    run_id = sync_tasks.sync_client_now(client.pk)
    if run_id is None:
        messages.error(request, f"{client.name} is not synced: select it under Sync Settings first.")
        return redirect(f"{reverse('console:runs')}?{urlencode({'client': client.pk})}")
    messages.success(request, f"The sync of {client.name} is queued.")
    return redirect("console:run", pk=run_id)


urlpatterns = [
    path("sync/runs", run_list, name="runs"),
    path("sync/runs/<int:pk>", run_page, name="run"),
    path("sync/runs/<int:pk>/progress", run_progress, name="run_progress"),
    path("sync/runs/watcher/<int:pk>", watch_run_page, name="watch_run"),
    path("sync/clients/<int:pk>/sync-now", sync_client_now, name="sync_client_now"),
]
