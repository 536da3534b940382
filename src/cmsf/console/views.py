from __future__ import annotations

from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone

from cmsf.console import selectors


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


@permission_required("console.view_console", raise_exception=True)
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "console/home.html", {"overview": selectors.overview(now=timezone.now())})
