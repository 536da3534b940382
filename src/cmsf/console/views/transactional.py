"""Transactional (Enterprise plan): the smart emails of the selected clients, their recent sends as cmsf recorded them
(status, opens, clicks, the Salesforce Task), and "Send a test" (CM Full Access), which sends through the one service
the HTTP API uses too (`sync.smart_emails`)."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from cmsf.billing.models import BillingAccount
from cmsf.billing.services import features
from cmsf.campaign_monitor.errors import CampaignMonitorError
from cmsf.connections.models import SalesforceOrg
from cmsf.console import forms as console_forms
from cmsf.console.access import changer, viewer
from cmsf.sync import smart_emails, transactional
from cmsf.sync.smart_emails import CONSENT_VALUES, SendRefused, SmartEmail

SECTION = "transactional"
DATA_ROWS = 4


class SendTestForm(console_forms.Form):
    smart_email = forms.ChoiceField(label="Smart email")
    recipient = forms.EmailField(label="Recipient address", max_length=smart_emails.MAX_RECIPIENT_LENGTH)
    variables = forms.CharField(
        label="Data (JSON)",
        required=False,
        widget=forms.Textarea(attrs={"rows": DATA_ROWS}),
        help_text='The smart email\'s variables as a JSON object, such as {"firstname": "Ada"}; empty for none.',
    )
    consent_to_track = forms.ChoiceField(
        label="Consent to track", choices=[(v, v) for v in CONSENT_VALUES], initial="Unchanged"
    )

    def __init__(self, *args: Any, choices: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["smart_email"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", "Choose a smart email"), *choices]

    def clean_variables(self) -> dict[str, Any]:
        text = self.cleaned_data["variables"].strip()
        if not text:
            return {}
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            raise forms.ValidationError(
                f"This is not JSON: {error.msg} (line {error.lineno}, column {error.colno})."
            ) from None
        if not isinstance(value, dict):
            raise forms.ValidationError('The data must be a JSON object, such as {"firstname": "Ada"}.')
        return value


def _choices(found: list[SmartEmail]) -> list[tuple[str, str]]:
    return [(e.id, f"{e.name} ({e.client_name})") for e in found if e.status != "draft"]


def _page(request: HttpRequest, form: SendTestForm | None = None, *, status: int = 200) -> HttpResponse:
    now = timezone.now()
    enterprise = features(now).transactional
    found: list[SmartEmail] = []
    problem = ""
    if enterprise:
        try:
            found = smart_emails.smart_emails()
        except SendRefused as error:
            problem = error.message
        except CampaignMonitorError as error:
            problem = f"Campaign Monitor did not list the smart emails: {error}"
    context = {
        "active_section": SECTION,
        "enterprise": enterprise,
        "plan": BillingAccount.load().effective_plan(now).label,
        "smart_emails": found,
        "problem": problem,
        "sends": transactional.latest_sends(),
        "instance_url": SalesforceOrg.load().instance_url.rstrip("/"),
        "form": form or SendTestForm(choices=_choices(found)),
        "list_seconds": smart_emails.LIST_SECONDS,
    }
    return render(request, "console/transactional/home.html", context, status=status)


@viewer
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return _page(request)


@require_POST
@changer
def send_test(request: HttpRequest) -> HttpResponse:
    try:
        choices = _choices(smart_emails.smart_emails())
    except (SendRefused, CampaignMonitorError):
        choices = []  # the page says why; the form refuses every choice
    form = SendTestForm(request.POST, choices=choices)
    if form.is_valid():
        values = form.cleaned_data
        try:
            sent = smart_emails.send_smart_email(
                values["smart_email"],
                to=[values["recipient"]],
                data=values["variables"],
                consent_to_track=values["consent_to_track"],
                actor=request.user.get_username(),
            )
        except SendRefused as error:
            form.add_error(None, str(error))
        except CampaignMonitorError as error:
            form.add_error(None, f"Campaign Monitor did not take the send: {error}")
        else:
            said = ", ".join(f"{m.recipient} ({m.status}, message {m.message_id})" for m in sent)
            messages.success(request, f"Test sent: {said}. It is among the recent sends below.")
            return redirect("console:transactional")
    return _page(request, form, status=400)


urlpatterns = [
    path("transactional", home, name="transactional"),
    path("transactional/send", send_test, name="transactional_send"),
]
