"""Who may do what in the console: the two permission sets.

"CM User Access" sees status, maintenance messages and the email history; "CM Full Access" also changes
settings, connections and runs syncs. A page is viewed with `view_console`; every change needs `change_settings`
and is refused with 403 otherwise (never a silent redirect).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed

SAFE_METHODS = ["GET", "HEAD", "OPTIONS"]
VIEW = "console.view_console"
CHANGE = "console.change_settings"

View = Callable[..., HttpResponse]


def can_change(request: HttpRequest) -> bool:
    return bool(request.user.has_perm(CHANGE))


def viewer(view: View) -> View:
    """A page: any console user with a permission set sees it. It changes nothing, so it answers GET only."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.has_perm(VIEW):
            raise PermissionDenied("Your user has no cmsf permission set.")
        if request.method not in SAFE_METHODS:
            return HttpResponseNotAllowed(SAFE_METHODS)
        return view(request, *args, **kwargs)

    wrapped.cmsf_access = "view"  # type: ignore[attr-defined]  # read by the tests of every URL
    return wrapped


def changer(view: View) -> View:
    """An action or a form: CM Full Access only; a GET shows the page to viewers, a change is refused with 403."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.has_perm(VIEW):
            raise PermissionDenied("Your user has no cmsf permission set.")
        if request.method not in SAFE_METHODS and not can_change(request):
            raise PermissionDenied("CM User Access can see this page but not change it.")
        return view(request, *args, **kwargs)

    wrapped.cmsf_access = "change"  # type: ignore[attr-defined]
    return wrapped


def personal(view: View) -> View:
    """A user's own preferences: any console user with a permission set sees and changes them, for themselves
    only (they change nothing that others see)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.has_perm(VIEW):
            raise PermissionDenied("Your user has no cmsf permission set.")
        return view(request, *args, **kwargs)

    wrapped.cmsf_access = "own"  # type: ignore[attr-defined]
    return wrapped
