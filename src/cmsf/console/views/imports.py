"""Import Wizard: the wizards that put Salesforce records in Campaign Monitor lists (source, mapping, refresh mode,
schedule), their runs with per-record results, Run now, and the preview a wizard that removes people needs first."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from cmsf.audience import fields as wizard_fields
from cmsf.audience import selectors as audience_selectors
from cmsf.audience import services, tasks
from cmsf.audience.imports import other_feeders, sms_allowed
from cmsf.audience.models import HOURS, PERSON_OBJECTS, ImportRun, ImportWizard
from cmsf.campaign_monitor.errors import CampaignMonitorError
from cmsf.connections import services as connections
from cmsf.connections.models import CampaignMonitorClient
from cmsf.console import forms as console_forms
from cmsf.console import pickers
from cmsf.console.access import changer, viewer
from cmsf.console.forms import add_problems
from cmsf.salesforce.errors import SalesforceError

SECTION = "imports"
RUNS_SHOWN = 10
NEW_FIELD = "new"  # "Title = new": make a custom field like the Salesforce field


def parse_mappings(text: str) -> tuple[list[dict[str, str]], list[str]]:
    """Lines of "SalesforceField = [Custom Field Key]" (or "= new"): the mappings, and the Salesforce fields that
    need a new custom field. Raises ValidationError naming the line."""
    mappings, new = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        sf_field, equals, key = (part.strip() for part in line.partition("="))
        if not equals or not sf_field or not key:
            raise ValidationError(f"Line {number}: write SalesforceField = [Custom Field Key], or = new.")
        if key.lower() == NEW_FIELD:
            new.append(sf_field)
        else:
            mappings.append({"salesforce": sf_field, "campaign_monitor": key})
    return mappings, new


def mappings_text(mappings: list[dict[str, str]]) -> str:
    return "\n".join(f"{m['salesforce']} = {m['campaign_monitor']}" for m in mappings)


class WizardForm(console_forms.Form):
    name = forms.CharField(max_length=80)
    target = forms.ChoiceField(label="Campaign Monitor list")
    active = forms.BooleanField(required=False, initial=True, label="Active (runs on its schedule)")
    source = forms.ChoiceField(choices=ImportWizard.Source.choices, widget=forms.RadioSelect, initial="campaign")
    campaign_id = forms.CharField(required=False, max_length=18, label="Salesforce campaign Id")
    member_status = forms.CharField(required=False, max_length=255, label="Member status (blank: every member)")
    report_id = forms.CharField(required=False, max_length=18, label="Report Id")
    list_view_id = forms.CharField(required=False, max_length=18, label="List view Id")
    sobject = forms.CharField(max_length=80, initial="Contact", label="Object the report, view or query reads")
    soql = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}), label="SOQL query")
    mode = forms.ChoiceField(choices=ImportWizard.Mode.choices, widget=forms.RadioSelect, initial="update")
    clear_blank_values = forms.BooleanField(
        required=False, label="Clear mapped values when the Salesforce value is blank"
    )
    email_field = forms.CharField(max_length=80, initial="Email")
    name_field = forms.CharField(max_length=80, initial="Name")
    consent_field = forms.CharField(required=False, max_length=80, label="Consent to track field (blank: Unchanged)")
    mobile_field = forms.CharField(required=False, max_length=80, label="Mobile number field (SMS)")
    sms_consent_field = forms.CharField(required=False, max_length=80, label="Consent to send SMS field")
    map_salesforce_id = forms.BooleanField(required=False, initial=True,
                                           label='Send the record Id to "Salesforce ID" (exact matching)')  # fmt: skip
    mappings = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}),
                               label="Custom fields (one a line: SalesforceField = [Key], or = new)")  # fmt: skip
    run_hours = forms.TypedMultipleChoiceField(
        required=False, coerce=int, choices=[(h, f"{h:02d}:00") for h in HOURS], widget=forms.CheckboxSelectMultiple,
        label="Run times (every hour: tick them all)",
    )  # fmt: skip

    def __init__(self, *args: Any, lists: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["target"].choices = lists  # type: ignore[attr-defined]

    def clean_mappings(self) -> tuple[list[dict[str, str]], list[str]]:
        return parse_mappings(self.cleaned_data["mappings"])


def list_choices() -> list[tuple[str, str]]:
    """Every list of the selected clients, as ("client pk:list id", "Client: List"): one call per client."""
    cm = connections.campaign_monitor()
    choices = []
    for client in CampaignMonitorClient.objects.filter(selected=True, active=True).order_by("name"):
        for lst in cm.lists(client.cm_client_id):
            choices.append((f"{client.pk}:{lst.list_id}", f"{client.name}: {lst.name}"))
    return choices


def chosen_list(target: str, lists: Iterable[tuple[str, str]] | dict[str, str]) -> tuple[int, str, str]:
    """A list choice of `list_choices` as its client's pk, the list's id and the list's name."""
    client_pk, _, list_id = target.partition(":")
    return int(client_pk), list_id, dict(lists).get(target, "").split(": ", 1)[-1]


def _apply(form: WizardForm, wizard: ImportWizard, lists: dict[str, str]) -> list[str]:
    """The form's values on the wizard; returns the Salesforce fields that need a new custom field."""
    data = form.cleaned_data
    wizard.client_id, wizard.list_id, wizard.list_name = chosen_list(data["target"], lists)
    wizard.name = data["name"].strip()
    for name in ("active", "source", "campaign_id", "member_status", "report_id", "list_view_id",
                 "sobject", "soql", "mode", "clear_blank_values",
                 "email_field", "name_field", "consent_field", "mobile_field", "sms_consent_field",
                 "map_salesforce_id", "run_hours"):  # fmt: skip
        setattr(wizard, name, data[name].strip() if isinstance(data[name], str) else data[name])
    wizard.mappings, new = data["mappings"]
    return new


def _save(request: HttpRequest, form: WizardForm, wizard: ImportWizard, lists: dict[str, str]) -> bool:
    """Check the wizard against Salesforce and the list, make the new custom fields, save it; errors go to the form."""
    before = services.snapshot(wizard) if wizard.pk else None
    new = _apply(form, wizard, lists)
    try:
        wizard.full_clean()
    except ValidationError as error:
        add_problems(form, error.message_dict)
        return False
    try:
        cm, sf = connections.campaign_monitor(), pickers.salesforce(request)
        problems = wizard_fields.check(wizard, cm, sf, sms=sms_allowed())
        if not problems:
            for sf_field in new:
                key = wizard_fields.create_matching_field(cm, sf, wizard.list_id, wizard.read_objects[0], sf_field)
                wizard.mappings.append({"salesforce": sf_field, "campaign_monitor": key})
                messages.info(request, f"The custom field {key} was made in the list for {sf_field}.")
    except LookupError as error:
        problems = {"mappings": [f"{error}."]}
    except (CampaignMonitorError, SalesforceError, connections.NotConnected) as error:
        form.add_error(None, f"The wizard could not be checked: {error}")
        return False
    for name, errors in problems.items():
        form.add_error(name, errors)
    if problems:
        return False
    services.save_wizard(wizard, actor=request.user.get_username(), before=before)
    return True


def salesforce_choices() -> dict[str, list[tuple[str, str]]]:
    """The reports and the Contact and Lead list views to pick from (three calls); empty when Salesforce cannot be
    read: the form then takes an Id as typed."""
    try:
        sf = connections.salesforce()
        reports = [(str(r["id"]), str(r.get("name") or r["id"])) for r in sf.reports()]
        views = [(str(v["id"]), f"{sobject}: {v.get('label') or v['id']}")
                 for sobject in PERSON_OBJECTS for v in sf.list_views(sobject)]  # fmt: skip
    except (SalesforceError, connections.NotConnected):
        return {"reports": [], "list_views": []}
    return {"reports": reports, "list_views": views}


def field_pickers(request: HttpRequest) -> dict[str, pickers.Picker]:
    """The wizard's Salesforce fields to pick from, by type, of Contact and Lead (one describe each)."""
    consent = wizard_fields.CONSENT_TYPES
    wanted = {"email": {"email", "string"}, "name": pickers.MAPPABLE, "consent": consent,
              "mobile": {"phone", "string"}, "sms_consent": consent, "mapping": pickers.MAPPABLE}  # fmt: skip
    return {f"{key}_fields": pickers.picker(request, f"wizard-{key.replace('_', '-')}-fields", PERSON_OBJECTS, types)
            for key, types in wanted.items()}  # fmt: skip


def _form_page(
    request: HttpRequest, form: WizardForm, wizard: ImportWizard | None, *, status: int = 200
) -> HttpResponse:
    context = {"active_section": SECTION, "form": form, "wizard": wizard, "sms": sms_allowed(),
               **salesforce_choices(), **field_pickers(request)}  # fmt: skip
    return render(request, "console/imports/form.html", context, status=status)


def lists_or_message(request: HttpRequest) -> list[tuple[str, str]] | None:
    """The lists for a form's list choice; None, with the reason shown, when Campaign Monitor cannot be read."""
    try:
        return list_choices()
    except (CampaignMonitorError, connections.NotConnected) as error:
        messages.error(request, f"The Campaign Monitor lists could not be read: {error}")
        return None


@viewer
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    wizards = list(ImportWizard.objects.select_related("client"))
    for wizard in wizards:
        wizard.last_run = wizard.runs.first()  # type: ignore[attr-defined]
        wizard.feeders = [w.name for w in other_feeders(wizard)]  # type: ignore[attr-defined]
    context = {"active_section": SECTION, "wizards": wizards}
    return render(request, "console/imports/home.html", context)


@viewer
@require_GET
def new(request: HttpRequest) -> HttpResponse:
    lists = lists_or_message(request)
    if lists is None:
        return redirect("console:imports")
    return _form_page(request, WizardForm(lists=lists), None)


def _submit(request: HttpRequest, wizard: ImportWizard, back: str, **back_args: int) -> HttpResponse:
    """Save a new or changed wizard from the form; its errors are shown beside their fields and nothing is saved."""
    lists = lists_or_message(request)
    if lists is None:
        return redirect(reverse(back, kwargs=back_args))
    form = WizardForm(request.POST, lists=lists)
    if form.is_valid() and _save(request, form, wizard, dict(lists)):
        messages.success(request, f"The import wizard {wizard.name} is saved.")
        return redirect("console:imports_wizard", pk=wizard.pk)
    return _form_page(request, form, wizard if wizard.pk else None, status=400)


@require_POST
@changer
def create(request: HttpRequest) -> HttpResponse:
    return _submit(request, ImportWizard(), "console:imports")


def _initial(wizard: ImportWizard) -> dict[str, Any]:
    initial = {name: getattr(wizard, name) for name in ImportWizard.SETTINGS if name not in ("list_id", "list_name")}
    initial.update(name=wizard.name, target=f"{wizard.client_id}:{wizard.list_id}",
                   mappings=mappings_text(wizard.mappings))  # fmt: skip
    return initial


def _runs(wizard: ImportWizard) -> list[ImportRun]:
    return list(wizard.runs.all()[:RUNS_SHOWN])


PREVIEW_KEPT = timedelta(hours=1)


def _preview_for_removal(wizard: ImportWizard) -> ImportRun | None:
    """The preview a Remove run stands on: the latest run, a preview made after the wizard's last change and within
    the hour. The run then removes no one the preview did not show."""
    latest = wizard.runs.first()
    if latest is None or not latest.dry_run or latest.status in (ImportRun.Status.FAILED, ImportRun.Status.RUNNING):
        return None
    fresh = latest.started_at >= wizard.updated_at and timezone.now() - latest.started_at <= PREVIEW_KEPT
    return latest if fresh else None


@viewer
@require_GET
def wizard_page(request: HttpRequest, pk: int) -> HttpResponse:
    wizard = get_object_or_404(ImportWizard.objects.select_related("client"), pk=pk)
    context = {
        "active_section": SECTION,
        "wizard": wizard,
        "runs": _runs(wizard),
        "feeders": other_feeders(wizard),
        "preview": _preview_for_removal(wizard),
        "removes": wizard.mode == ImportWizard.Mode.REMOVE,
    }
    return render(request, "console/imports/wizard.html", context)


@viewer
@require_GET
def edit(request: HttpRequest, pk: int) -> HttpResponse:
    wizard = get_object_or_404(ImportWizard, pk=pk)
    lists = lists_or_message(request)
    if lists is None:
        return redirect("console:imports_wizard", pk=pk)
    return _form_page(request, WizardForm(initial=_initial(wizard), lists=lists), wizard)


@require_POST
@changer
def save(request: HttpRequest, pk: int) -> HttpResponse:
    return _submit(request, get_object_or_404(ImportWizard, pk=pk), "console:imports_wizard", pk=pk)


@require_POST
@changer
def run(request: HttpRequest, pk: int) -> HttpResponse:
    """Queue a run, or a preview (`preview`); a wizard that removes people runs only after its preview, confirmed."""
    wizard = get_object_or_404(ImportWizard, pk=pk)
    if request.POST.get("preview"):
        tasks.run_wizard(wizard.pk, ImportRun.Trigger.MANUAL, dry_run=True)
        messages.success(request, "The preview runs now: it reads everything and changes nothing. It appears below.")
        return redirect("console:imports_wizard", pk=pk)
    if wizard.mode == ImportWizard.Mode.REMOVE:
        preview = _preview_for_removal(wizard)
        if preview is None:
            messages.error(request, "Preview this wizard first: it removes the list's subscribers missing from its "
                                    "source.")  # fmt: skip
            return redirect("console:imports_wizard", pk=pk)
        if request.POST.get("confirmed") != str(preview.pk):
            messages.error(request, "Confirm that you checked the preview before running.")
            return redirect("console:imports_wizard", pk=pk)
        tasks.run_wizard(wizard.pk, ImportRun.Trigger.MANUAL, preview_id=preview.pk)
        messages.success(request, "The import runs now; it removes no one the preview did not show.")
        return redirect("console:imports_wizard", pk=pk)
    tasks.run_wizard(wizard.pk, ImportRun.Trigger.MANUAL)
    messages.success(request, "The import runs now; its results appear below when it ends.")
    return redirect("console:imports_wizard", pk=pk)


@require_POST
@changer
def delete(request: HttpRequest, pk: int) -> HttpResponse:
    wizard = get_object_or_404(ImportWizard, pk=pk)
    services.delete_wizard(wizard, actor=request.user.get_username())
    messages.success(request, f"The import wizard {wizard.name} is deleted; its subscribers stay in the list.")
    return redirect("console:imports")


@viewer
@require_GET
def run_page(request: HttpRequest, pk: int) -> HttpResponse:
    run_ = get_object_or_404(ImportRun.objects.select_related("wizard"), pk=pk)
    context = {
        "active_section": SECTION,
        "run": run_,
        "wizard": run_.wizard,
        "told": audience_selectors.import_run_messages(run_, now=timezone.now()),
    }
    return render(request, "console/imports/run.html", context)


urlpatterns = [
    path("imports", home, name="imports"),
    path("imports/new", new, name="imports_new"),
    path("imports/create", create, name="imports_create"),
    path("imports/<int:pk>", wizard_page, name="imports_wizard"),
    path("imports/<int:pk>/edit", edit, name="imports_edit"),
    path("imports/<int:pk>/save", save, name="imports_save"),
    path("imports/<int:pk>/run", run, name="imports_run"),
    path("imports/<int:pk>/delete", delete, name="imports_delete"),
    path("imports/runs/<int:pk>", run_page, name="imports_run_page"),
]
