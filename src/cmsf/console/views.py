from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from cmsf.console import selectors
from cmsf.console.access import changer, viewer
from cmsf.sync import services as sync


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


@viewer
def home(request: HttpRequest) -> HttpResponse:
    context = {"overview": selectors.overview(now=timezone.now()), "active_section": "sync"}
    return render(request, "console/home.html", context)


@require_POST
@changer
def sync_enabled(request: HttpRequest) -> HttpResponse:
    """Turn off sync / Turn on sync."""
    enabled = request.POST.get("enabled") == "on"
    sync.set_sync_enabled(enabled, actor=request.user.get_username())
    messages.success(request, "The sync is on: it runs at its next scheduled time." if enabled else
                     "The sync is off: no scheduled sync runs until you turn it on.")  # fmt: skip
    return redirect("console:home")
