"""Storage: cmsf's records in Salesforce and the storage they take, the tracking-history settings with a forecast
before saving, campaign member aggregates, and a person's email history read live from Campaign Monitor (also as
a signed page a Salesforce tab or link can show)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_GET, require_POST

from cmsf.billing.models import BillingAccount, Plan
from cmsf.console import embed
from cmsf.console import forms as console_forms
from cmsf.console.access import changer, viewer
from cmsf.console.forms import add_problems
from cmsf.options import services as options
from cmsf.options.models import TRACKING_HISTORY, EmailActivity, TrackingHistorySettings
from cmsf.sync import storage


class TrackingHistoryForm(TRACKING_HISTORY.form("retention", base=console_forms.ModelForm)):  # type: ignore[misc]
    email_types = forms.MultipleChoiceField(
        label=TRACKING_HISTORY.field("email_types").verbose_name,
        choices=EmailActivity.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"invalid_choice": "%(value)s is not an email type; choose from the boxes shown."},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["days_to_keep"].error_messages["min_value"] = (
            "Enter a number of days from 0 to 3650 (0 stores none)."
        )


class EmailForm(console_forms.Form):
    email = forms.EmailField(
        label="Email",
        max_length=254,
        error_messages={
            "required": "Enter an email address.",
            "invalid": "Enter an email address such as jane@example.com.",
        },
    )


class LinkForm(console_forms.Form):
    days = forms.IntegerField(
        label="Days valid",
        min_value=embed.MIN_DAYS,
        max_value=embed.MAX_DAYS,
        initial=embed.DEFAULT_DAYS,
        error_messages={
            "required": "Enter how many days the link works (1 to 365).",
            "invalid": "Enter a whole number of days from 1 to 365.",
            "min_value": "A link works for 1 to 365 days.",
            "max_value": "A link works for 1 to 365 days.",
        },
    )
    salesforce_domain = forms.RegexField(
        label="Salesforce domain",
        regex=r"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+$",
        max_length=255,
        required=False,
        error_messages={"invalid": "Enter a domain such as acme.my.salesforce.com, or leave it empty for your org's."},
    )


def _free_plan() -> bool:
    return BillingAccount.load().effective_plan(timezone.now()) == Plan.FREE


def _forecast(form: TrackingHistoryForm | None, settings: TrackingHistorySettings) -> storage.Forecast | None:
    """The forecast of what the form holds (of the saved settings when there is no form); None when the form has
    errors."""
    volume = storage.recent_volume(timezone.now(), settings)
    if form is None:
        days, types = settings.days_to_keep, list(settings.email_types)
    elif form.is_valid():
        days, types = form.cleaned_data["days_to_keep"], list(form.cleaned_data["email_types"])
    else:
        return None
    return storage.forecast(days_to_keep=days, email_types=types, volume=volume, free_plan=_free_plan())


def _tracking_form(settings: TrackingHistorySettings) -> TrackingHistoryForm:
    return TrackingHistoryForm(instance=settings)


def _typed(request: HttpRequest) -> TrackingHistoryForm | None:
    """The form as typed, for a preview (?preview) or the live forecast; None when nothing was typed."""
    if "days_to_keep" not in request.GET:
        return None
    return TrackingHistoryForm(request.GET)


def _page(request: HttpRequest, *, form: TrackingHistoryForm | None = None, status: int = 200) -> HttpResponse:
    settings = TrackingHistorySettings.load()
    bound = form is not None and form.is_bound
    context: dict[str, Any] = {
        "active_section": "storage",
        "reading": storage.read_storage(),
        "settings": settings,
        "form": form if form is not None else _tracking_form(settings),
        "previewing": bound,
        "forecast": _forecast(form if bound else None, settings),
        "saved_forecast": _forecast(None, settings) if bound else None,
        "free_plan": _free_plan(),
        "recent_days": storage.RECENT_DAYS,
        "email_types": EmailActivity.choices,
        "stored_type_labels": [label for value, label in EmailActivity.choices if value in settings.email_types],
    }
    if context["reading"].problem:
        messages.error(request, context["reading"].problem)
    return render(request, "console/storage/home.html", context, status=status)


@viewer
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The Storage page; with ?preview and the form's fields, the forecast of what was typed (nothing saved)."""
    return _page(request, form=_typed(request))


@viewer
@require_GET
def forecast(request: HttpRequest) -> HttpResponse:
    """The forecast fragment, swapped in by htmx while the form is changed."""
    settings = TrackingHistorySettings.load()
    form = _typed(request)
    context = {
        "forecast": _forecast(form, settings),
        "form": form,
        "previewing": form is not None,
        "free_plan": _free_plan(),
        "recent_days": storage.RECENT_DAYS,
        "settings": settings,
    }
    return render(request, "console/storage/_forecast.html", context)


@require_POST
@changer
def tracking_history(request: HttpRequest) -> HttpResponse:
    """Save days to keep and the email types (audited); bad input is shown next to its field and nothing saves."""
    form = TrackingHistoryForm(request.POST)
    if not form.is_valid():
        return _page(request, form=form)
    before = TrackingHistorySettings.load()
    try:
        settings = options.save_tracking_history(
            days_to_keep=form.cleaned_data["days_to_keep"],
            email_types=list(form.cleaned_data["email_types"]),
            actor=request.user.get_username(),
        )
    except ValidationError as error:
        add_problems(form, error.message_dict)
        return _page(request, form=form)
    messages.success(request, _what_happens(before, settings))
    return redirect("console:storage")


def _what_happens(before: TrackingHistorySettings, after: TrackingHistorySettings) -> str:
    if (before.days_to_keep, sorted(before.email_types)) == (after.days_to_keep, sorted(after.email_types)):
        return "Tracking history settings saved: nothing changed."
    if after.days_to_keep == 0:
        return "Saved: no tracking history is stored. The next sync removes the tracking history cmsf stored in Salesforce."
    said = ["Saved."]
    removed_types = set(before.email_types) - set(after.email_types)
    added_types = set(after.email_types) - set(before.email_types)
    if after.days_to_keep < before.days_to_keep or removed_types:
        said.append(
            "The next sync removes the tracking history older than the days to keep, or of a type no longer chosen."
        )
    if after.days_to_keep > before.days_to_keep or added_types:
        said.append(
            "The next sync reads the longer window (and the types added) back from Campaign Monitor and fills it in."
        )
    return " ".join(said)


@require_POST
@changer
def aggregates(request: HttpRequest) -> HttpResponse:
    """Campaign member aggregates on or off (audited)."""
    enabled = request.POST.get("enabled") == "on"
    options.set_campaign_member_aggregates(enabled, actor=request.user.get_username())
    messages.success(request, "Campaign member aggregates are on: the next sync updates them from the tracking "
                     "history stored in Salesforce." if enabled else "Campaign member aggregates are off.")  # fmt: skip
    return redirect("console:storage")


# -- email history ---------------------------------------------------------------------------------------


def _email_form(params: QueryDict) -> EmailForm | None:
    if "email" not in params:
        return None
    data = params.copy()
    # A link whose merge field was not URL-encoded turns the "+" of an address into a space.
    data["email"] = str(data.get("email", "")).strip().replace(" ", "+")
    return EmailForm(data)


def _history_context(request: HttpRequest) -> dict[str, Any]:
    form = _email_form(request.GET)
    reading = embed.read_email_history(form.cleaned_data["email"]) if form and form.is_valid() else None
    return {"email_form": form or EmailForm(), "reading": reading}


def _history_page(
    request: HttpRequest, *, link_form: LinkForm | None = None, link: embed.Link | None = None, status: int = 200
) -> HttpResponse:
    context = {
        "active_section": "storage",
        **_history_context(request),
        "link_form": link_form or LinkForm(),
        "link": link,
        "link_url": _link_url(request, link) if link else "",
        "frame_sources": embed.SALESFORCE_FRAMERS,
        "links": embed.links(),
        "now": timezone.now(),
        "default_domain": embed.default_domain(),
    }
    if context["reading"] and context["reading"].problem:
        messages.error(request, context["reading"].problem)
    return render(request, "console/storage/email_history.html", context, status=status)


def _link_url(request: HttpRequest, link: embed.Link) -> str:
    return request.build_absolute_uri(f"{reverse('console:storage_embed')}?link={link.token}")


@never_cache
@viewer
@require_GET
def email_history(request: HttpRequest) -> HttpResponse:
    """A person's campaigns and actions, read from Campaign Monitor now and not stored."""
    return _history_page(request)


@require_POST
@changer
def email_history_link(request: HttpRequest) -> HttpResponse:
    """A signed link to the history, valid for the chosen days (audited), shown once with how to place it."""
    form = LinkForm(request.POST)
    if not form.is_valid():
        return _history_page(request, link_form=form)
    link = embed.create_link(
        form.cleaned_data["days"], actor=request.user.get_username(), now=timezone.now(),
        salesforce_domain=form.cleaned_data["salesforce_domain"].lower(),
    )  # fmt: skip
    messages.success(request, f"A new email history link, valid for {link.days} days, is below.")
    return _history_page(request, link=link)


@require_POST
@changer
def email_history_link_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    """Revoke one link (audited): it is answered 403 from now on."""
    if embed.revoke_link(pk, actor=request.user.get_username(), now=timezone.now()) is None:
        messages.error(request, "There is no such link.")
    else:
        messages.success(request, "The link is revoked: it no longer shows any history.")
    return redirect(f"{reverse('console:storage_email_history')}#embed-links")


@never_cache
@xframe_options_exempt
@require_GET
def embedded(request: HttpRequest) -> HttpResponse:
    """The history for a Salesforce Web Tab or Web Link: no sign-in, a valid signed link instead; may be framed by
    the connected org and Salesforce's domains."""
    token = request.GET.get("link", "")
    try:
        embed.check_link(token, now=timezone.now())
    except embed.InvalidLink as error:
        response = render(request, "console/storage/embed.html", {"refused": str(error)}, status=403)
    else:
        response = render(request, "console/storage/embed.html", {"link": token, **_history_context(request)})
    # The console's whole policy (scripts and styles from cmsf only), but framed by the org and Salesforce.
    response._csp_replace = {"frame-ancestors": embed.framers()}  # type: ignore[attr-defined]
    response["Referrer-Policy"] = "no-referrer"
    return response


urlpatterns = [
    path("storage", home, name="storage"),
    path("storage/forecast", forecast, name="storage_forecast"),
    path("storage/tracking-history", tracking_history, name="storage_tracking_history"),
    path("storage/aggregates", aggregates, name="storage_aggregates"),
    path("storage/email-history", email_history, name="storage_email_history"),
    path("storage/email-history/link", email_history_link, name="storage_email_history_link"),
    path(
        "storage/email-history/link/<int:pk>/revoke",
        email_history_link_revoke,
        name="storage_email_history_link_revoke",
    ),
    path("storage/embed/", embedded, name="storage_embed"),
]
