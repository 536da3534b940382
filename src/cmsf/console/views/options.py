"""General Options: email opt-out in both directions and the sync options, each with its help hint; the Salesforce
change watcher that carries them out (its interval, its last runs, Watch now); real time through Campaign Monitor's
webhooks; and the right to be forgotten."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_GET, require_POST

from cmsf.campaign_monitor.errors import CampaignMonitorError
from cmsf.connections import services as connections
from cmsf.console import forms as console_forms
from cmsf.console.access import changer, viewer
from cmsf.console.forms import add_problems
from cmsf.options import services as options
from cmsf.options.models import GENERAL_OPTIONS, GeneralOptions
from cmsf.salesforce.errors import SalesforceError
from cmsf.sync import clients, forget, webhooks
from cmsf.sync import tasks as sync_tasks
from cmsf.sync.models import ListWebhook, UnwatchedWebhookList, Watcher, WatchRun, WebhookEvent

SECTION = "options"
RUNS_SHOWN = 10

# The page's groups and each option's help hint (the icon beside it), from the model's declaration.
HINTS: dict[str, str] = GENERAL_OPTIONS.hints()
OPT_OUT = GENERAL_OPTIONS.group("opt_out")
SYNC_OPTIONS = GENERAL_OPTIONS.group("sync_options")
(WATCHER,) = GENERAL_OPTIONS.group("watcher")  # the interval, shown as a number beside the watcher's runs
GeneralOptionsForm = GENERAL_OPTIONS.form("opt_out", "sync_options", "watcher", base=console_forms.ModelForm)


def _group(form: forms.ModelForm, names: tuple[str, ...]) -> list[tuple[forms.BoundField, str]]:
    return [(form[name], HINTS[name]) for name in names]


class PublicUrlForm(console_forms.Form):
    public_url = forms.CharField(
        required=False,
        max_length=200,
        label="Public URL",
        error_messages={"max_length": "Enter an address of at most 200 characters."},
    )


def _page(
    request: HttpRequest,
    *,
    form: forms.ModelForm | None = None,
    forget_form: ForgetForm | None = None,
    url_form: PublicUrlForm | None = None,
    status: int = 200,
) -> HttpResponse:
    general = GeneralOptions.load()
    form = form or GeneralOptionsForm(instance=general)
    context: dict[str, Any] = {
        "active_section": SECTION,
        "form": form,
        "opt_out": _group(form, OPT_OUT),
        "sync_options": _group(form, SYNC_OPTIONS),
        "interval_hint": HINTS[WATCHER],
        "general": general,
        "watcher": Watcher.load(),
        "runs": [_said(run) for run in WatchRun.objects.all()[:RUNS_SHOWN]],
        "forget_form": forget_form or ForgetForm(),
        "webhooks": _webhooks(),
        "url_form": url_form or PublicUrlForm(initial={"public_url": webhooks.public_url()}),
    }
    return render(request, "console/options/home.html", context, status=status)


def _webhooks() -> dict[str, Any]:
    """Real time: where Campaign Monitor posts, how many lists do, what arrived, what was quarantined, and the
    events of lists cmsf does not watch."""
    unwatched = list(UnwatchedWebhookList.objects.order_by("-last_seen"))
    return {
        "enabled": webhooks.enabled(),
        "public_url": webhooks.public_url(),
        "lists": ListWebhook.objects.count(),
        "received": WebhookEvent.objects.count(),
        "pending": WebhookEvent.objects.filter(applied_at=None, quarantined_at=None).count(),
        "quarantined": WebhookEvent.objects.exclude(quarantined_at=None).count(),
        "unwatched": unwatched,
        "unwatched_events": sum(entry.events for entry in unwatched),
        "last": WebhookEvent.objects.order_by("-id").first(),
    }


def _said(run: WatchRun) -> WatchRun:
    """A run with its counts in words, for the table: "Contact 3, Lead 1"; "email changed 2, unsubscribed 1"."""
    run.read_said = ", ".join(f"{kind} {n}" for kind, n in sorted(run.read.items())) or "nothing"  # type: ignore[attr-defined]
    run.done_said = (  # type: ignore[attr-defined]
        ", ".join(f"{kind.replace('_', ' ')} {n}" for kind, n in sorted(run.done.items())) or "nothing"
    )
    return run


@viewer
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return _page(request)


@require_POST
@changer
def save(request: HttpRequest) -> HttpResponse:
    """Save the General Options (audited); bad input is shown next to its field and nothing is saved."""
    form = GeneralOptionsForm(request.POST)
    if form.is_valid():
        values = {name: form.cleaned_data[name] for name in options.GENERAL_FIELDS}
        try:
            options.save_general_options(values, actor=request.user.get_username())
        except ValidationError as error:
            add_problems(form, error.message_dict)
        else:
            messages.success(request, "The General Options are saved.")
            return redirect("console:options")
    return _page(request, form=form, status=400)


@require_POST
@changer
def save_public_url(request: HttpRequest) -> HttpResponse:
    """Store the public URL (audited); the webhooks follow it on the queue. Bad input is shown next to the field."""
    form = PublicUrlForm(request.POST)
    if form.is_valid():
        try:
            changed = clients.set_public_url(form.cleaned_data["public_url"], actor=request.user.get_username())
        except ValidationError as error:
            add_problems(form, error.message_dict)
        else:
            if not changed:
                messages.info(request, "The public URL is unchanged.")
            elif webhooks.public_url():
                messages.success(request, "The public URL is saved: every list of the selected clients is "
                                          "registered at this address, and webhooks at an older one are removed.")  # fmt: skip
            else:
                messages.success(request, "The public URL is cleared: cmsf's webhooks are removed from the lists.")
            return redirect("console:options")
    return _page(request, url_form=form, status=400)


@viewer
@require_GET
def quarantined_events(request: HttpRequest) -> HttpResponse:
    """The quarantined webhook events, as kept (30 days), with the reason of each: a JSON file to download."""
    body = json.dumps({"events": webhooks.quarantined_events()}, indent=2, ensure_ascii=False)
    response = HttpResponse(body + "\n", content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="cmsf-quarantined-webhook-events.json"'
    return response


@require_POST
@changer
def watch_now(request: HttpRequest) -> HttpResponse:
    """Queue a run of the watcher now (not while Disable triggers is on)."""
    if GeneralOptions.load().disable_triggers:
        messages.error(request, "Disable triggers is on: turn it off to watch Salesforce.")
    else:
        sync_tasks.watch()
        messages.success(request, "The watcher runs now; its run appears below when it ends.")
    return redirect("console:options")


# -- the right to be forgotten ----------------------------------------------------------------------------------


class ForgetForm(console_forms.Form):
    email = forms.EmailField(
        label="Email",
        error_messages={"required": "Enter the email to forget.", "invalid": "Enter an email address."},
    )
    in_campaign_monitor = forms.BooleanField(
        required=False, label="Also set the subscriber to Deleted in Campaign Monitor"
    )
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput)


@require_POST
@changer
def forget_person(request: HttpRequest) -> HttpResponse:
    """Forget this person: a first POST shows what will be removed; the confirmed one removes it (audited by hash)."""
    form = ForgetForm(request.POST)
    if not form.is_valid():
        return _page(request, forget_form=form, status=400)
    email, in_cm = form.cleaned_data["email"], form.cleaned_data["in_campaign_monitor"]
    if not form.cleaned_data["confirmed"]:
        context = {"active_section": SECTION, "email": email, "in_campaign_monitor": in_cm}
        return render(request, "console/options/forget_confirm.html", context)
    try:
        done = forget.forget(email, in_campaign_monitor=in_cm, actor=request.user.get_username())
    except ValueError as error:
        form.add_error("email", str(error))
        return _page(request, forget_form=form, status=400)
    except (SalesforceError, CampaignMonitorError, connections.NotConnected) as error:
        messages.error(request, f"The person could not be forgotten completely: {error}. Try again: what was done "
                                "stays done and nothing is removed twice.")  # fmt: skip
        return redirect("console:options")
    deleted = sum(done.salesforce.values())
    said = f"Forgotten: {deleted} record{'s' if deleted != 1 else ''} deleted in Salesforce"
    if in_cm:
        said += f", the subscriber set to Deleted in {len(done.campaign_monitor_lists)} Campaign Monitor lists"
    said += ". The audit log keeps only that it happened, by whom, and a hash of the email."
    messages.success(request, said)
    for problem in done.problems:
        messages.error(request, f"Not done: {problem}")
    return redirect("console:options")


urlpatterns = [
    path("options", home, name="options"),
    path("options/forget", forget_person, name="options_forget"),
    path("options/save", save, name="options_save"),
    path("options/public-url", save_public_url, name="options_public_url"),
    path("options/webhooks/quarantined.json", quarantined_events, name="options_quarantined_events"),
    path("options/watch-now", watch_now, name="options_watch_now"),
]
