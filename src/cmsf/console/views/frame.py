"""What is not a section: signing in (with a password, or with Salesforce) and out, and the health checks.

"Log in with Salesforce", "Change Salesforce Sync User" and Setup's Connect Salesforce share one OAuth web-server
flow: the browser signs in to the org, Salesforce sends it back to `salesforce_callback` with a code, and the
session's state says which of the three it was for (Connect also keeps the login asked for, its secret sealed).
"""

from __future__ import annotations

import secrets
from dataclasses import asdict
from typing import Any

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.log import log_response

from cmsf.connections import salesforce_setup as setup_checks
from cmsf.connections import services as connections
from cmsf.console import selectors
from cmsf.console.access import can_change
from cmsf.console.views import salesforce_setup
from cmsf.lib import crypto
from cmsf.maintenance.services import record_message
from cmsf.salesforce.auth import Token
from cmsf.salesforce.errors import SalesforceError
from cmsf.sync import health

OAUTH_SESSION_KEY = "cmsf_salesforce_oauth"
LOGIN = "login"
SYNC_USER = "sync_user"
CONNECT = "connect"  # the Setup page's Connect Salesforce
FAILURE = {LOGIN: "console:login", SYNC_USER: "console:home", CONNECT: "console:setup"}
SEALED_LOGIN_MAX_AGE_S = 30 * 60


def healthz(request: HttpRequest) -> JsonResponse:
    """Alive: answered without touching the database (the middleware lets it through before any session is read)."""
    return JsonResponse({"ok": True})


def readyz(request: HttpRequest) -> JsonResponse:
    """Ready: the database, the queue, the scheduler's heartbeat and no overdue sync (`sync.health`); 503 otherwise,
    logged at WARNING when the failing checks change and at DEBUG at the probes after (django.request stays quiet)."""
    checks = health.readiness()
    ok = all(check.ok for check in checks)
    response = JsonResponse({"ok": ok, "checks": [check.as_dict() for check in checks]}, status=200 if ok else 503)
    level = "warning" if health.newly_failing(checks) else "debug"
    if not ok:
        reasons = "; ".join(f"{check.name}: {check.reason}" for check in checks if not check.ok)
        log_response("not ready: %s", reasons, response=response, request=request, logger=health.log, level=level)
    return response


class LoginView(auth_views.LoginView):
    template_name = "console/login.html"
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), "salesforce_sign_in": selectors.salesforce_sign_in_offered()}


def callback_url(request: HttpRequest) -> str:
    return request.build_absolute_uri(reverse("console:salesforce_callback"))


def start_salesforce_flow(
    request: HttpRequest, purpose: str, next_url: str = "", *, login: connections.SalesforceLogin | None = None
) -> HttpResponse:
    """Send the browser to Salesforce's sign-in page; the state ties the answer to this session and purpose. With a
    `login` (Connect), the org it names, not the connected one."""
    state = secrets.token_urlsafe(32)
    pending: dict[str, Any] = {"state": state, "purpose": purpose, "next": next_url}
    try:
        if login is None:
            url = connections.salesforce_authorize_url(redirect_uri=callback_url(request), state=state)
        else:
            url = connections.salesforce_connect_authorize_url(login, redirect_uri=callback_url(request), state=state)
            pending["login"] = {**asdict(login), "client_secret": crypto.seal(login.client_secret)}
    except connections.NotConnected as error:
        messages.error(request, str(error))
        return redirect(FAILURE[purpose])
    request.session[OAUTH_SESSION_KEY] = pending
    return redirect(url)


def salesforce_login(request: HttpRequest) -> HttpResponse:
    """Log in with Salesforce: the Salesforce user's email must be a console user's."""
    next_url = request.GET.get("next", "")
    if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, require_https=request.is_secure()):
        next_url = ""
    return start_salesforce_flow(request, LOGIN, next_url)


def salesforce_callback(request: HttpRequest) -> HttpResponse:
    pending = request.session.pop(OAUTH_SESSION_KEY, None)
    purpose = pending.get("purpose") if isinstance(pending, dict) else None
    failure = FAILURE.get(str(purpose), "console:login")
    if not pending or not secrets.compare_digest(str(pending.get("state", "")), request.GET.get("state", "")):
        messages.error(request, "That Salesforce sign-in was not started here or has expired: start it again.")
        return redirect(failure)
    if request.GET.get("error"):
        reason = request.GET.get("error_description") or request.GET["error"]
        messages.error(request, f"Salesforce did not sign you in: {reason}.")
        return redirect(failure)
    if purpose == CONNECT:
        return _connect(request, pending)
    try:
        token, identity = connections.salesforce_identity(
            code=request.GET.get("code", ""), redirect_uri=callback_url(request)
        )
        if purpose == SYNC_USER:
            return _change_sync_user(request, token)
    except (SalesforceError, connections.SignInRefused) as error:
        messages.error(request, f"Salesforce sign-in failed: {error}")
        if purpose == SYNC_USER:
            record_message(
                support_code="CMSF-SYNC-USER",
                job="CMSF_SYNC",
                message="Changing the Salesforce Sync User failed.",
                details=str(error),
                guidance="Sign in with a Salesforce user of the connected org who holds the CM Full Access "
                "permission set, then try Change Salesforce Sync User again.",
            )
        return redirect(failure)
    user = selectors.console_user_by_email(identity.email)
    if user is None:
        messages.error(
            request,
            f"No console user has the email {identity.email or '(none)'} of your Salesforce user. "
            "Ask an admin to add you under User Security, or sign in with your password.",
        )
        return redirect(failure)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return redirect(pending.get("next") or "console:home")


def _change_sync_user(request: HttpRequest, token: Token) -> HttpResponse:
    if not request.user.is_authenticated or not can_change(request):
        messages.error(request, "Only a CM Full Access user can change the Salesforce Sync User.")
        return redirect("console:home")
    org = connections.change_sync_user(token, actor=request.user.get_username())
    messages.success(request, f"The Salesforce Sync User is now {org.sync_user_name}.")
    return redirect("console:home")


def _connect(request: HttpRequest, pending: dict[str, Any]) -> HttpResponse:
    """Setup's Connect Salesforce, back from Salesforce: connect on the signed-in user, then check the org's schema."""
    if not request.user.is_authenticated or not can_change(request):
        raise PermissionDenied("Only CM Full Access can connect Salesforce.")
    fields = dict(pending.get("login") or {})
    secret = crypto.unseal(str(fields.get("client_secret", "")), max_age_s=SEALED_LOGIN_MAX_AGE_S)
    if secret is None:
        messages.error(request, "That Salesforce sign-in has expired: connect again.")
        return redirect("console:setup")
    login = connections.SalesforceLogin(**{**fields, "client_secret": secret})
    try:
        org = connections.connect_salesforce_web_server(
            login, code=request.GET.get("code", ""), redirect_uri=callback_url(request),
            actor=request.user.get_username(),
        )  # fmt: skip
    except connections.OtherAccountRefused as error:
        messages.error(request, str(error))
        return redirect("console:setup")
    except (SalesforceError, connections.SignInRefused, ValidationError) as error:
        shown = " ".join(error.messages) if isinstance(error, ValidationError) else str(error)
        messages.error(request, f"Connecting Salesforce failed: {shown}")
        record_message(support_code="CMSF-CONSOLE-ACTION", job="CMSF_SYNC", message="Connecting Salesforce failed.",
                       details=shown, guidance="Check the login host, the connected app's consumer key and secret "
                       "and its callback URL, then connect again on the Setup page.")  # fmt: skip
        return redirect("console:setup")
    messages.success(request, f"Salesforce is connected: {org.instance_url} (org {org.org_id}), Salesforce Sync "
                     f"User {org.sync_user_name}.")  # fmt: skip
    try:
        salesforce_setup.remember(request, "schema", setup_checks.check_schema().as_dict())
    except setup_checks.SetupError as error:
        messages.warning(request, f"The schema check did not run: {error}")
    return redirect("console:setup")


urlpatterns = [
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("login/salesforce", salesforce_login, name="salesforce_login"),
    path("oauth/salesforce/callback", salesforce_callback, name="salesforce_callback"),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
]
