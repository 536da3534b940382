"""Setup: connect, reconnect and disconnect Campaign Monitor (an API key, or OAuth) and Salesforce (the OAuth
web-server flow) from the console, so that a new installation needs no command beyond `cmsf init` and starting it.

Campaign Monitor's OAuth comes back to `campaign_monitor_callback` with a code; the session holds the state (and the
base URL and CA file chosen) so an answer is only taken in the session that asked. Salesforce's comes back to the
console's one Salesforce callback (`frame.salesforce_callback`), whose session state says it was for CONNECT.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from cmsf.campaign_monitor.errors import CampaignMonitorError
from cmsf.connections import services as connections
from cmsf.connections.models import CampaignMonitorAccount, SalesforceOrg
from cmsf.connections.selectors import not_connected_reason
from cmsf.console import forms as console_forms
from cmsf.console.access import can_change, changer, viewer
from cmsf.console.views import frame
from cmsf.maintenance.services import record_message
from cmsf.sync import clients as sync_clients

CM_SESSION_KEY = "cmsf_campaign_monitor_oauth"  # {"state", "base_url", "ca_file"}
TEXT = {"class": "slds-input"}
SECRET = {"class": "slds-input", "autocomplete": "off"}


def _text(label: str, *, required: bool = False, help_text: str = "", max_length: int = 500) -> forms.CharField:
    return forms.CharField(
        label=label, required=required, help_text=help_text, max_length=max_length, widget=forms.TextInput(attrs=TEXT)
    )


def _secret(label: str, help_text: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        help_text=help_text,
        max_length=500,
        strip=True,
        widget=forms.PasswordInput(attrs=SECRET),
    )


class CaFileMixin:
    """A CA file given must be a readable file of this machine (what the TLS layer would fail on, named here)."""

    cleaned_data: dict[str, Any]

    def clean_ca_file(self) -> str:
        value = str(self.cleaned_data.get("ca_file") or "")
        if value and not (os.path.isfile(value) and os.access(value, os.R_OK)):
            raise ValidationError("No readable file has this path on the machine cmsf runs on.")
        return value


BASE_URL_HELP = "Blank: Campaign Monitor itself (https://api.createsend.com/api/v3.3)."
CA_HELP = "A PEM file on this machine to verify the service's certificate. Blank: the system's."


class CampaignMonitorKeyForm(CaFileMixin, console_forms.Form):
    api_key = _secret(
        "API key", "Account settings > API keys in Campaign Monitor. Blank on a reconnect: keep the stored key."
    )
    api_base_url = _text("API base URL", help_text=BASE_URL_HELP)
    ca_file = _text("CA file", help_text=CA_HELP)


class CampaignMonitorOAuthForm(CaFileMixin, console_forms.Form):
    oauth_client_id = _text("OAuth client id", required=True, max_length=64)
    oauth_client_secret = _secret("OAuth client secret", "Blank on a reconnect: keep the stored secret.")
    api_base_url = _text("API base URL", help_text=BASE_URL_HELP)
    ca_file = _text("CA file", help_text=CA_HELP)


class SalesforceConnectForm(CaFileMixin, console_forms.Form):
    login_domain = forms.ChoiceField(
        label="Log in at",
        choices=SalesforceOrg.LoginDomain.choices,
        widget=forms.Select(attrs={"class": "slds-select"}),
        error_messages={"required": "Choose where to log in to Salesforce.",
                        "invalid_choice": "Choose where to log in to Salesforce from the choices shown."},
    )  # fmt: skip
    my_domain = _text("My Domain", help_text="For My Domain: the host, such as acme.my.salesforce.com.", max_length=255)
    custom_login_url = _text("Login URL", help_text="For another login URL: its https address.")
    client_id = _text("Consumer key", required=True, max_length=255)
    client_secret = _secret(
        "Consumer secret", "Blank on a reconnect with the same connected app: keep the stored secret."
    )
    ca_file = _text("CA file", help_text=CA_HELP)

    def login(self) -> connections.SalesforceLogin:
        data = self.cleaned_data
        return connections.SalesforceLogin(
            flow=SalesforceOrg.AuthFlow.WEB_SERVER,
            login_domain=data["login_domain"],
            my_domain=data["my_domain"],
            custom_login_url=data["custom_login_url"],
            client_id=data["client_id"],
            client_secret=data["client_secret"],
            ca_file=data["ca_file"],
        )


def _add_errors(form: forms.Form, error: ValidationError) -> None:
    """A model's ValidationError onto the form: under its field when the form has it, else above the form."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for name, errors in error.message_dict.items():
        form.add_error(name if name in form.fields else None, errors)


def _forms(request: HttpRequest) -> dict[str, forms.Form]:
    account, org = CampaignMonitorAccount.load(), SalesforceOrg.load()
    cm = {"api_base_url": account.api_base_url, "ca_file": account.ca_file}
    return {
        "cm_key_form": CampaignMonitorKeyForm(initial=cm, prefix="key"),
        "cm_oauth_form": CampaignMonitorOAuthForm(
            initial={**cm, "oauth_client_id": account.oauth_client_id}, prefix="oauth"
        ),
        "sf_form": SalesforceConnectForm(
            initial={
                "login_domain": org.login_domain,
                "my_domain": org.my_domain,
                "custom_login_url": org.custom_login_url,
                "client_id": org.client_id,
                "ca_file": org.ca_file,
            },
            prefix="sf",
        ),
    }


def _page(request: HttpRequest, *, status: int = 200, **bound: forms.Form) -> HttpResponse:
    context: dict[str, Any] = {
        "active_section": "sync",
        "campaign_monitor": CampaignMonitorAccount.load(),
        "salesforce": SalesforceOrg.load(),
        "not_connected": not_connected_reason(),
        "cm_redirect_uri": cm_callback_url(request),
        "sf_redirect_uri": frame.callback_url(request),
        **_forms(request),
        **bound,
    }
    return render(request, "console/setup/home.html", context, status=status)


def cm_callback_url(request: HttpRequest) -> str:
    return request.build_absolute_uri(reverse("console:campaign_monitor_callback"))


@viewer
def setup(request: HttpRequest) -> HttpResponse:
    """The Setup page: both connections, what each is connected to, and the forms to connect or reconnect."""
    return _page(request)


def _connected(request: HttpRequest, clients: list[Any], how: str) -> HttpResponse:
    names = ", ".join(client.name for client in clients)
    messages.success(
        request,
        f"Campaign Monitor is connected {how}: {len(clients)} client{'s' if len(clients) != 1 else ''} ({names}).",
    )
    return redirect("console:setup")


def _cm_failed(request: HttpRequest, error: Exception) -> None:
    what = "Connecting Campaign Monitor failed"
    guidance = "Check the credentials (and, under Advanced, the API base URL and CA file), then connect again."
    record_message(
        support_code="CMSF-CONSOLE-ACTION", job="CMSF_SYNC", message=what, details=str(error), guidance=guidance
    )


@require_POST
@changer
def campaign_monitor_key(request: HttpRequest) -> HttpResponse:
    """Connect or reconnect Campaign Monitor with an API key."""
    form = CampaignMonitorKeyForm(request.POST, prefix="key")
    if form.is_valid():
        data = form.cleaned_data
        try:
            clients = connections.connect_campaign_monitor(
                api_key=data["api_key"],
                base_url=data["api_base_url"],
                ca_file=data["ca_file"],
                actor=request.user.get_username(),
                same_account=True,
            )
        except ValidationError as error:
            _add_errors(form, error)
        except connections.OtherAccountRefused as error:
            form.add_error(None, str(error))
        except (CampaignMonitorError, connections.NotConnected) as error:
            _cm_failed(request, error)
            form.add_error(None, f"Campaign Monitor refused the connection: {error}")
        else:
            return _connected(request, clients, "with an API key")
    return _page(request, status=400, cm_key_form=form)


@require_POST
@changer
def campaign_monitor_oauth(request: HttpRequest) -> HttpResponse:
    """Connect or reconnect Campaign Monitor through OAuth: store the OAuth app and send the browser to approve."""
    form = CampaignMonitorOAuthForm(request.POST, prefix="oauth")
    if form.is_valid():
        data, state = form.cleaned_data, secrets.token_urlsafe(32)
        try:
            url = connections.campaign_monitor_authorize_url(
                client_id=data["oauth_client_id"],
                client_secret=data["oauth_client_secret"],
                base_url=data["api_base_url"],
                ca_file=data["ca_file"],
                redirect_uri=cm_callback_url(request),
                state=state,
                actor=request.user.get_username(),
            )
        except ValidationError as error:
            _add_errors(form, error)
        else:
            request.session[CM_SESSION_KEY] = {
                "state": state,
                "base_url": data["api_base_url"],
                "ca_file": data["ca_file"],
            }
            return redirect(url)
    return _page(request, status=400, cm_oauth_form=form)


@changer
def campaign_monitor_callback(request: HttpRequest) -> HttpResponse:
    """Where Campaign Monitor sends the browser back with a code (or an error), in the session that asked."""
    if not can_change(request):
        raise PermissionDenied("Only CM Full Access can connect Campaign Monitor.")
    pending = request.session.pop(CM_SESSION_KEY, None)
    given = request.GET.get("state", "")
    if not isinstance(pending, dict) or not secrets.compare_digest(str(pending.get("state", "")), given):
        messages.error(request, "That Campaign Monitor approval was not started here or has expired: connect again.")
        return redirect("console:setup")
    if request.GET.get("error"):
        reason = request.GET.get("error_description") or request.GET["error"]
        messages.error(request, f"Campaign Monitor did not approve cmsf: {reason}.")
        return redirect("console:setup")
    try:
        clients = connections.connect_campaign_monitor_oauth(
            code=request.GET.get("code", ""),
            redirect_uri=cm_callback_url(request),
            base_url=str(pending.get("base_url", "")),
            ca_file=str(pending.get("ca_file", "")),
            actor=request.user.get_username(),
        )
    except connections.OtherAccountRefused as error:
        messages.error(request, str(error))
        return redirect("console:setup")
    except (ValidationError, CampaignMonitorError, connections.NotConnected) as error:
        shown = " ".join(error.messages) if isinstance(error, ValidationError) else str(error)
        _cm_failed(request, error)
        messages.error(request, f"Connecting Campaign Monitor through OAuth failed: {shown}")
        return redirect("console:setup")
    return _connected(request, clients, "through OAuth")


@require_POST
@changer
def salesforce_connect(request: HttpRequest) -> HttpResponse:
    """Connect or reconnect Salesforce: check the login, then sign in at Salesforce (the OAuth web-server flow)."""
    form = SalesforceConnectForm(request.POST, prefix="sf")
    if form.is_valid():
        try:
            login = connections.salesforce_connect_login(form.login())
        except ValidationError as error:
            _add_errors(form, error)
        else:
            return frame.start_salesforce_flow(request, frame.CONNECT, login=login)
    return _page(request, status=400, sf_form=form)


@changer
def salesforce_disconnect(request: HttpRequest) -> HttpResponse:
    """Disconnect Salesforce: a confirmation, then the org's credentials are removed."""
    if request.method == "POST":
        sync_clients.disconnect_salesforce(actor=request.user.get_username())
        messages.success(request, "Salesforce is disconnected: no sync runs until you connect an org again.")
        return redirect("console:setup")
    return render(
        request,
        "console/setup/salesforce_disconnect.html",
        {"active_section": "sync", "salesforce": SalesforceOrg.load()},
    )


urlpatterns = [
    path("setup/", setup, name="setup"),
    path("setup/campaign-monitor/key", campaign_monitor_key, name="setup_campaign_monitor_key"),
    path("setup/campaign-monitor/oauth", campaign_monitor_oauth, name="setup_campaign_monitor_oauth"),
    path("oauth/campaign-monitor/callback", campaign_monitor_callback, name="campaign_monitor_callback"),
    path("setup/salesforce/connect", salesforce_connect, name="setup_salesforce_connect"),
    path("setup/salesforce/disconnect", salesforce_disconnect, name="setup_salesforce_disconnect"),
]
