"""SMS Settings (Enterprise plan): mobile numbers sent to Campaign Monitor in E.164 from the default country, and
the checkbox fields that hold consent to send SMS; the seed's three questions answered on the page."""

from __future__ import annotations

from functools import cache

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from cmsf.audience import services as audience
from cmsf.audience.imports import sms_allowed
from cmsf.billing.models import BillingAccount, Plan
from cmsf.connections.services import NotConnected
from cmsf.console import forms as console_forms
from cmsf.console import pickers
from cmsf.console.access import changer, viewer
from cmsf.console.forms import add_problems
from cmsf.lib.phones import BadNumber, country_choices, to_e164
from cmsf.options.models import SMS, SmsSettings
from cmsf.salesforce.errors import SalesforceError

SECTION = "sms"
EXAMPLE = "(555) 555-1234"


@cache
def countries() -> list[tuple[str, str]]:
    """The default country's choices: every region by name, once each."""
    return [("", "Choose a country"), *country_choices()]


class SmsForm(SMS.form("settings", base=console_forms.ModelForm)):  # type: ignore[misc]
    default_country = forms.ChoiceField(required=False, label=SMS.field("default_country").verbose_name)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["default_country"].choices = countries()


def _page(request: HttpRequest, form: SmsForm | None = None, *, status: int = 200) -> HttpResponse:
    settings = SmsSettings.load()
    form = form or SmsForm(instance=settings)
    try:
        example = to_e164(EXAMPLE, settings.default_country) if settings.default_country else ""
    except BadNumber as error:
        example = str(error)
    plan = BillingAccount.load().effective_plan(timezone.now())
    context = {
        "active_section": SECTION,
        "form": form,
        "settings": settings,
        "enterprise": plan == Plan.ENTERPRISE,
        "plan": plan.label,
        "sending": sms_allowed(),
        "example_in": EXAMPLE,
        "example_out": example,
        "contact_fields": pickers.picker(request, "contact-consent-fields", ["Contact"], pickers.CHECKBOX),
        "lead_fields": pickers.picker(request, "lead-consent-fields", ["Lead"], pickers.CHECKBOX),
    }
    return render(request, "console/sms/home.html", context, status=status)


@viewer
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return _page(request)


@require_POST
@changer
def save(request: HttpRequest) -> HttpResponse:
    form = SmsForm(request.POST)
    if form.is_valid():
        values = dict(form.cleaned_data)
        try:
            named = any(values.get(name) for name in audience.SMS_CONSENT_FIELDS)
            sf = pickers.salesforce(request) if named else None
            audience.save_sms_settings(values, actor=request.user.get_username(), sf=sf)
        except ValidationError as error:
            add_problems(form, error.message_dict)
        except (SalesforceError, NotConnected) as error:
            form.add_error(None, f"The consent fields could not be checked against Salesforce: {error}")
        else:
            messages.success(request, "The SMS settings are saved.")
            return redirect("console:sms")
    return _page(request, form, status=400)


urlpatterns = [
    path("sms", home, name="sms"),
    path("sms/save", save, name="sms_save"),
]
