"""Salesforce to Campaign Monitor: import wizards (who is put in a list, from which Salesforce records) and their runs.

A wizard's settings are its own (every field here has the product's default); a run is the record of one import,
with its counts and the problems met, each with the record's key and the reason.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

from cmsf.options.models import salesforce_field_name
from cmsf.salesforce import soql

salesforce_id = RegexValidator(r"^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$", "Enter a Salesforce Id (15 or 18 characters).")
object_name = RegexValidator(r"^[A-Za-z][A-Za-z0-9_]{0,79}$", "Enter a Salesforce object API name, such as Contact.")
custom_field_key = RegexValidator(
    r"^\[[^\[\]]{1,100}\]$", "Enter a Campaign Monitor custom field key, such as [Title]."
)

SALESFORCE_ID_FIELD = "Salesforce ID"  # the Campaign Monitor custom field that makes later matching exact
HOURS = range(24)
PERSON_OBJECTS = ("Contact", "Lead")


def canonical_object(name: str) -> str:
    """Contact and Lead as Salesforce spells them, whatever case a query used; other objects as given."""
    return {o.lower(): o for o in PERSON_OBJECTS}.get(name.lower(), name)


def validate_run_hours(value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(h, int) and not isinstance(h, bool) for h in value):
        raise ValidationError("Give the run times as a list of hours from 0 to 23.")
    wrong = sorted({h for h in value if h not in HOURS})
    if wrong:
        raise ValidationError(f"{', '.join(map(str, wrong))}: an hour is from 0 to 23.")
    if len(set(value)) != len(value):
        raise ValidationError("An hour is given twice.")


def validate_mappings(value: object) -> None:
    """[{"salesforce": "Title", "campaign_monitor": "[Title]"}, ...]: a Salesforce field to a custom field each."""
    if not isinstance(value, list) or not all(isinstance(m, dict) for m in value):
        raise ValidationError('Give the mappings as a list of {"salesforce": FIELD, "campaign_monitor": "[Key]"}.')
    seen: set[str] = set()
    for position, mapping in enumerate(value, start=1):
        if set(mapping) != {"salesforce", "campaign_monitor"}:
            raise ValidationError(f"Mapping {position}: give exactly salesforce and campaign_monitor.")
        sf_field, key = mapping["salesforce"], mapping["campaign_monitor"]
        if not isinstance(sf_field, str) or not isinstance(key, str):
            raise ValidationError(f"Mapping {position}: both sides are text.")
        for validator, text in ((salesforce_field_name, sf_field), (custom_field_key, key)):
            try:
                validator(text)
            except ValidationError as error:
                raise ValidationError(f"Mapping {position}: {error.messages[0]}") from None
        if key.lower() in seen:
            raise ValidationError(f"Mapping {position}: {key} is mapped twice; a custom field takes one value.")
        seen.add(key.lower())


class ImportWizard(models.Model):
    """Puts the Contacts and Leads of one Salesforce source in one Campaign Monitor list, now or on a schedule."""

    class Source(models.TextChoices):
        CAMPAIGN = "campaign", "Salesforce campaign"
        REPORT = "report", "Report"
        LIST_VIEW = "list_view", "List view"
        SOQL = "soql", "SOQL query"

    class Mode(models.TextChoices):
        UPDATE = "update", "Update: add and update"
        RESUBSCRIBE = "resubscribe", "Resubscribe: add, update and bring back deleted subscribers"
        REMOVE = "remove", "Add, update and remove: subscribers missing from the source are deleted"

    name = models.CharField(max_length=80, unique=True)
    client = models.ForeignKey("connections.CampaignMonitorClient", on_delete=models.CASCADE, related_name="+")
    list_id = models.CharField("Campaign Monitor list id", max_length=64)
    list_name = models.CharField(max_length=255, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.CAMPAIGN)
    campaign_id = models.CharField(
        "Salesforce campaign", max_length=18, blank=True, validators=[salesforce_id],
        help_text="The campaign whose members are imported (source: Salesforce campaign).",
    )  # fmt: skip
    member_status = models.CharField(
        max_length=255, blank=True, help_text="Only members with this status; blank imports every member."
    )
    report_id = models.CharField(
        "report Id", max_length=18, blank=True, validators=[salesforce_id],
        help_text="A report on the object below (source: report): its first 50,000 records, by Id, as Salesforce "
        "allows; the report needs no particular columns.",
    )  # fmt: skip
    list_view_id = models.CharField(
        "list view Id", max_length=18, blank=True, validators=[salesforce_id],
        help_text="A list view of the object below (source: list view); edits to the view apply to the next run.",
    )  # fmt: skip
    sobject = models.CharField(
        "object", max_length=80, default="Contact", validators=[object_name],
        help_text="The object the report, the list view or the query reads (a campaign gives Contacts and Leads).",
    )  # fmt: skip
    soql = models.TextField(
        "SOQL query", blank=True,
        help_text="SELECT Id FROM Contact WHERE ...: cmsf adds the fields it maps to the SELECT.",
    )  # fmt: skip
    mode = models.CharField(max_length=12, choices=Mode.choices, default=Mode.UPDATE)
    clear_blank_values = models.BooleanField(
        default=False, help_text="A blank Salesforce value clears the mapped Campaign Monitor field."
    )
    email_field = models.CharField(max_length=80, default="Email", validators=[salesforce_field_name])
    name_field = models.CharField(max_length=80, default="Name", validators=[salesforce_field_name])
    consent_field = models.CharField(
        "consent to track field", max_length=80, blank=True, validators=[salesforce_field_name],
        help_text="A Salesforce checkbox or picklist (Yes, No, Unchanged); blank sends Unchanged.",
    )  # fmt: skip
    mobile_field = models.CharField(
        max_length=80, blank=True, validators=[salesforce_field_name],
        help_text="Sent in E.164 when SMS is on (Enterprise plan).",
    )  # fmt: skip
    sms_consent_field = models.CharField(
        "consent to send SMS field", max_length=80, blank=True, validators=[salesforce_field_name]
    )
    map_salesforce_id = models.BooleanField(
        default=True,
        help_text=f'The record Id goes to the custom field "{SALESFORCE_ID_FIELD}" (made when missing): the sync '
        "then links the subscriber to this record first, by Id, and falls back to the email.",
    )
    mappings = models.JSONField(default=list, blank=True, validators=[validate_mappings])
    run_hours = models.JSONField(
        default=list, blank=True, validators=[validate_run_hours],
        help_text="The hours (0 to 23, the server's time zone) a scheduled run starts; every hour is all 24.",
    )  # fmt: skip
    active = models.BooleanField(default=True, help_text="An inactive wizard runs only when asked to.")
    next_run = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # The settings of a wizard besides its name and client: what the console edits and `cmsf config` carries.
    SETTINGS = (
        "list_id",
        "list_name",
        "source",
        "campaign_id",
        "member_status",
        "report_id",
        "list_view_id",
        "sobject",
        "soql",
        "mode",
        "clear_blank_values",
        "email_field",
        "name_field",
        "consent_field",
        "mobile_field",
        "sms_consent_field",
        "map_salesforce_id",
        "mappings",
        "run_hours",
        "active",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, Any] = {}
        needs = {
            self.Source.CAMPAIGN: ("campaign_id", "Choose the Salesforce campaign."),
            self.Source.REPORT: ("report_id", "Choose the report."),
            self.Source.LIST_VIEW: ("list_view_id", "Choose the list view."),
            self.Source.SOQL: ("soql", "Write the SOQL query."),
        }
        field, message = needs[self.Source(self.source)]
        if not str(getattr(self, field)).strip():
            errors[field] = message
        if self.source == self.Source.SOQL and self.soql.strip():
            try:  # the object is the query's: the fields are checked, and read, on it
                sobject, _ = soql.select_fields(self.soql, ["Id"])
            except soql.QueryShapeError as error:
                errors["soql"] = f"This query gives no records to import: {error}."
            else:
                self.sobject = canonical_object(sobject)
        if self.source != self.Source.CAMPAIGN and self.member_status:
            errors["member_status"] = "A member status applies to a Salesforce campaign source only."
        if errors:
            raise ValidationError(errors)

    @property
    def read_objects(self) -> tuple[str, ...]:
        """The Salesforce objects whose records this wizard imports."""
        return PERSON_OBJECTS if self.source == self.Source.CAMPAIGN else (self.sobject,)

    @property
    def every_hour(self) -> bool:
        return len(self.run_hours) == len(HOURS)


class ImportRun(models.Model):
    """One run of a wizard (or its preview): what it read, imported, removed and refused, and why."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"  # asked for through the API, waiting for a worker
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        PARTIAL = "partial", "Succeeded with problems"
        FAILED = "failed", "Failed"

    class Trigger(models.TextChoices):
        MANUAL = "manual", "Run now"
        SCHEDULE = "schedule", "Schedule"
        COMMAND = "command", "cmsf import run"
        API = "api", "API (Salesforce Flow)"

    wizard = models.ForeignKey(ImportWizard, on_delete=models.CASCADE, related_name="runs")
    trigger = models.CharField(max_length=8, choices=Trigger.choices, default=Trigger.MANUAL)
    dry_run = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    read = models.PositiveIntegerField(default=0)  # source rows read from Salesforce
    duplicates = models.PositiveIntegerField(default=0)  # rows whose email an earlier row had
    imported = models.PositiveIntegerField(default=0)  # sent in an import call and accepted (new + existing)
    new = models.PositiveIntegerField(default=0)
    resubscribed = models.PositiveIntegerField(default=0)
    removed = models.PositiveIntegerField(default=0)
    refused = models.JSONField(default=dict)  # reason -> how many rows the rules kept out
    failed = models.PositiveIntegerField(default=0)  # rows Campaign Monitor or the transform refused
    problems = models.JSONField(default=list)  # [{"key": ..., "reason": ...}], the first PROBLEMS_KEPT
    would_remove = models.JSONField(default=list)  # a preview of a Remove run: the addresses it would delete
    cm_calls = models.PositiveIntegerField(default=0)
    sf_calls = models.PositiveIntegerField(default=0)
    message = models.TextField(blank=True)

    PROBLEMS_KEPT = 500

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["wizard", "-started_at"])]

    def __str__(self) -> str:
        return f"{self.wizard} at {self.started_at:%Y-%m-%d %H:%M} ({self.status})"
