"""Field Mappings: per list, a Salesforce field and a Campaign Monitor custom field in one direction each, checked
type against type when saved; Salesforce to Campaign Monitor is sent by the watcher when a record changes,
Campaign Monitor to Salesforce is applied by the primary sync (and by list webhooks)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.views.decorators.http import require_GET, require_POST

from cmsf.audience import fields as mapping_fields
from cmsf.audience import services
from cmsf.campaign_monitor.errors import CampaignMonitorError
from cmsf.connections import services as connections
from cmsf.console import forms as console_forms
from cmsf.console import pickers
from cmsf.console.access import changer, viewer
from cmsf.console.forms import add_problems
from cmsf.console.views.imports import NEW_FIELD, chosen_list, lists_or_message
from cmsf.options.models import FieldMapping, RecordCreation
from cmsf.salesforce.errors import SalesforceError

SECTION = "mappings"
CONSENT_CHOICE = "consent"
# What may be typed for Campaign Monitor's own subscriber fields (any case), besides their API names.
STANDARD_CHOICES = {
    CONSENT_CHOICE: FieldMapping.CONSENT,
    "mobile": FieldMapping.MOBILE,
    "sms consent": FieldMapping.SMS_CONSENT,
    **{name.lower(): name for name in FieldMapping.STANDARD},
}


class MappingForm(console_forms.Form):
    target = forms.ChoiceField(label="Campaign Monitor list")
    sobject = forms.ChoiceField(choices=FieldMapping.Object.choices, widget=forms.RadioSelect, initial="Contact",
                                label="Object")  # fmt: skip
    salesforce_field = forms.CharField(max_length=80, label="Salesforce field")
    campaign_monitor = forms.CharField(
        max_length=102, label="Campaign Monitor field",
        help_text="A custom field key such as [Title], new (a custom field named and typed as the Salesforce "
        "field), consent (consent to track), mobile (the mobile number, sent in E.164) or sms consent (consent to "
        "send SMS, sent with the mobile number).",
    )  # fmt: skip
    direction = forms.ChoiceField(choices=FieldMapping.Direction.choices, widget=forms.RadioSelect,
                                  initial=FieldMapping.Direction.TO_CM)  # fmt: skip

    def __init__(self, *args: Any, lists: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["target"].choices = lists  # type: ignore[attr-defined]


class CreationForm(console_forms.Form):
    target = forms.ChoiceField(label="Campaign Monitor list")
    sobject = forms.ChoiceField(choices=RecordCreation.Object.choices, widget=forms.RadioSelect, initial="Lead",
                                label="Create a", error_messages={"required": "Choose a Contact or a Lead to create.",
                                "invalid_choice": "Choose a Contact or a Lead to create."})  # fmt: skip
    defaults = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}),
                               label="Defaults (one a line: Field = value)")  # fmt: skip
    active = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args: Any, lists: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["target"].choices = lists  # type: ignore[attr-defined]

    def clean_defaults(self) -> dict[str, str]:
        defaults = {}
        for number, line in enumerate(self.cleaned_data["defaults"].splitlines(), start=1):
            if not line.strip():
                continue
            name, equals, value = (part.strip() for part in line.partition("="))
            if not equals or not name:
                raise ValidationError(f"Line {number}: write Field = value.")
            defaults[name] = value
        return defaults


def _page(
    request: HttpRequest,
    form: MappingForm | None,
    creation: CreationForm | None = None,
    *,
    status: int = 200,
    lists: list[tuple[str, str]] | None = None,
) -> HttpResponse:
    mappings = list(FieldMapping.objects.select_related("client"))
    creations = list(RecordCreation.objects.select_related("client"))
    if creation is None and lists is not None:
        creation = CreationForm(lists=lists)
    context: dict[str, Any] = {"active_section": SECTION, "form": form, "mappings": mappings,
                               "creations": creations, "creation_form": creation}  # fmt: skip
    if form is not None:
        objects = [value for value, _ in FieldMapping.Object.choices]
        context["fields"] = pickers.picker(request, "mapping-fields", objects, pickers.MAPPABLE)
    return render(request, "console/mappings/home.html", context, status=status)


@viewer
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    lists = lists_or_message(request)
    return _page(request, MappingForm(lists=lists) if lists is not None else None, lists=lists)


def _mapping(form: MappingForm, lists: dict[str, str]) -> tuple[FieldMapping, bool]:
    """The form's mapping (not saved), and whether its custom field is to be made."""
    data = form.cleaned_data
    client_id, list_id, list_name = chosen_list(data["target"], lists)
    target = data["campaign_monitor"].strip()
    mapping = services.field_mapping(
        client_id=client_id, list_id=list_id, list_name=list_name, sobject=data["sobject"],
        salesforce_field=data["salesforce_field"], direction=data["direction"],
        campaign_monitor=STANDARD_CHOICES.get(target.lower(), target),
    )  # fmt: skip
    return mapping, target.lower() == NEW_FIELD


@require_POST
@changer
def create(request: HttpRequest) -> HttpResponse:
    lists = lists_or_message(request)
    if lists is None:
        return redirect("console:mappings")
    form = MappingForm(request.POST, lists=lists)
    if not form.is_valid():
        return _page(request, form, status=400, lists=lists)
    mapping, make_field = _mapping(form, dict(lists))
    try:
        cm, sf = connections.campaign_monitor(), pickers.salesforce(request)
        if make_field:
            mapping.campaign_monitor = "[new]"  # checked below once the field is made
            mapping.full_clean(exclude=["campaign_monitor"])
            mapping.campaign_monitor = mapping_fields.create_matching_field(
                cm, sf, mapping.list_id, mapping.sobject, mapping.salesforce_field
            )
            messages.info(request, f"The custom field {mapping.campaign_monitor} was made in the list.")
        problems = mapping_fields.check_mapping(mapping, cm, sf)
    except ValidationError as error:
        problems = error.message_dict
    except LookupError as error:
        problems = {"salesforce_field": [f"{error}."]}
    except (CampaignMonitorError, SalesforceError, connections.NotConnected) as error:
        form.add_error(None, f"The mapping could not be checked: {error}")
        return _page(request, form, status=400, lists=lists)
    if not problems:
        try:
            services.save_mapping(mapping, actor=request.user.get_username())
        except ValidationError as error:
            problems = error.message_dict
    if problems:
        add_problems(form, problems)
        return _page(request, form, status=400, lists=lists)
    messages.success(request, f"The mapping {mapping} is saved.")
    return redirect("console:mappings")


@require_POST
@changer
def delete(request: HttpRequest, pk: int) -> HttpResponse:
    mapping = get_object_or_404(FieldMapping, pk=pk)
    services.delete_mapping(mapping, actor=request.user.get_username())
    messages.success(request, f"The mapping {mapping} is deleted; the custom field and its values stay.")
    return redirect("console:mappings")


@require_POST
@changer
def save_creation(request: HttpRequest) -> HttpResponse:
    """Record creation for a list: made, or changed (one setting a list); checked against the object's fields."""
    lists = lists_or_message(request)
    if lists is None:
        return redirect("console:mappings")
    form = CreationForm(request.POST, lists=lists)
    mapping_form = MappingForm(lists=lists)
    if not form.is_valid():
        return _page(request, mapping_form, form, status=400, lists=lists)
    data = form.cleaned_data
    client_id, list_id, list_name = chosen_list(data["target"], lists)
    setting = services.record_creation(client_id=client_id, list_id=list_id, list_name=list_name,
                                       sobject=data["sobject"], defaults=data["defaults"], active=data["active"])  # fmt: skip
    try:
        setting.full_clean()
        problems = mapping_fields.check_creation(setting, connections.salesforce())
        if not problems:
            services.save_creation(setting, actor=request.user.get_username())
    except ValidationError as error:
        problems = error.message_dict
    except (SalesforceError, connections.NotConnected) as error:
        form.add_error(None, f"The setting could not be checked: {error}")
        return _page(request, mapping_form, form, status=400, lists=lists)
    if problems:
        add_problems(form, problems)
        return _page(request, mapping_form, form, status=400, lists=lists)
    messages.success(request, f"{setting} is saved: the next sync makes the records.")
    return redirect("console:mappings")


@require_POST
@changer
def delete_creation(request: HttpRequest, pk: int) -> HttpResponse:
    setting = get_object_or_404(RecordCreation, pk=pk)
    services.delete_creation(setting, actor=request.user.get_username())
    messages.success(request, f"Record creation for {setting.list_name or setting.list_id} is off.")
    return redirect("console:mappings")


urlpatterns = [
    path("mappings", home, name="mappings"),
    path("mappings/create", create, name="mappings_create"),
    path("mappings/<int:pk>/delete", delete, name="mappings_delete"),
    path("mappings/creation", save_creation, name="mappings_creation"),
    path("mappings/creation/<int:pk>/delete", delete_creation, name="mappings_creation_delete"),
]
