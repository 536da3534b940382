"""Every page of the console needs a signed-in user, except the few named here."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve
from django.utils import timezone

from cmsf.console import preferences

# The HTTP API (`cmsf.api`) signs no one in: each call carries its bearer token, which the API checks itself.
PUBLIC_PREFIXES = ("/static/", "/api/")
# The pages a signed-out visitor may open: signing in (with a password or with Salesforce), the health check, and
# the embedded email history (which checks its own signed link).
PUBLIC_URL_NAMES = frozenset(
    {
        "console:login",
        "console:healthz",
        "console:readyz",  # JSON of checks, nothing secret, for a load balancer or a supervisor
        "console:salesforce_login",
        "console:salesforce_callback",
        "console:storage_embed",  # the email history behind a signed link, for a Salesforce tab or link
        "console:campaign_monitor_webhook",  # Campaign Monitor's POSTs: the secret in the path is the credential
        "console:metrics",  # Prometheus' scrapes: off without CMSF_METRICS_TOKEN, then the bearer token is the credential
    }
)


# The public pages that show times: in the org's time zone (no user to ask).
ORG_TIME_URL_NAMES = frozenset({"console:storage_embed"})


def _view_name(path: str) -> str | None:
    try:
        return resolve(path).view_name
    except Resolver404:
        return None


def is_public(path: str) -> bool:
    if path.startswith(PUBLIC_PREFIXES):
        return True
    return _view_name(path) in PUBLIC_URL_NAMES


class LoginRequiredMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # Public first: the health check must not read a session (a database query) for the cookie it may carry.
        if not is_public(request.path_info) and not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return self.get_response(request)


class TimeZoneMiddleware:
    """Pages show times in the signed-in user's time zone, by default the Salesforce org's (UTC without an org);
    the email history behind its signed link, in the org's. Other public URLs read nothing (the health checks
    touch no database)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_public(request.path_info):
            if _view_name(request.path_info) not in ORG_TIME_URL_NAMES:
                return self.get_response(request)
            name = preferences.org_time_zone() or preferences.UTC_NAME
        else:
            name = preferences.time_zone_name(request.user)
        timezone.activate(preferences.zone(name))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
