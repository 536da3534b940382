from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone

from cmsf.console import selectors
from cmsf.console.access import viewer


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


@viewer
def home(request: HttpRequest) -> HttpResponse:
    context = {"overview": selectors.overview(now=timezone.now()), "active_section": "sync"}
    return render(request, "console/home.html", context)
