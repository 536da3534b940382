"""The options of the console, each a field with the default the product ships with."""

from __future__ import annotations

import re
from decimal import Decimal

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from cmsf.lib.declared import Declared
from cmsf.lib.singleton import SingletonModel


class EmailActivity(models.TextChoices):
    """The kinds of email tracking history, as Campaign Monitor reports them.

    The label is the value of the Salesforce picklist CMSF_Email_Activity__c.Activity__c."""

    SENT = "sent", "Sent"
    OPENED = "opened", "Opened"
    CLICKED = "clicked", "Clicked"
    BOUNCED = "bounced", "Bounced"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
    SPAM_COMPLAINT = "spam_complaint", "Spam Complaint"


def all_email_types() -> list[str]:
    return list(EmailActivity.values)


def validate_email_types(value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError("Give a list of email types.")
    unknown = sorted(set(value) - set(EmailActivity.values))
    if unknown:
        raise ValidationError(
            f"Unknown email type {', '.join(unknown)}; choose from {', '.join(EmailActivity.values)}."
        )
    if len(set(value)) != len(value):
        raise ValidationError("Each email type may be listed once.")


def validate_tags(value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        raise ValidationError("Give a list of Campaign Monitor tag names.")


salesforce_field_name = RegexValidator(
    r"^[A-Za-z][A-Za-z0-9_]{0,79}$", "Enter a Salesforce field API name, such as SMS_Consent__c."
)


class TrackingHistorySettings(SingletonModel):
    """How much email tracking history is stored in Salesforce."""

    days_to_keep = models.PositiveIntegerField(
        default=180,
        validators=[MaxValueValidator(3650)],
        error_messages={
            "required": "Enter the days of tracking history to keep (0 to 3650).",
            "invalid": "Enter a whole number of days from 0 to 3650.",
            "max_value": "Enter a number of days from 0 to 3650 (ten years at most).",
        },
        help_text="Tracking history older than this is removed from Salesforce; 0 stores none.",
    )
    email_types = models.JSONField(
        default=all_email_types,
        validators=[validate_email_types],
        help_text="The kinds of email activity to store.",
    )
    campaign_member_aggregates = models.BooleanField(
        default=False,
        help_text="Update Salesforce Campaign Members with opens, clicks and the last activity, "
        "computed from the tracking history stored in Salesforce.",
    )

    def stores(self, activity: str) -> bool:
        return self.days_to_keep > 0 and activity in self.email_types


TRACKING_HISTORY = Declared(
    "tracking_history",
    TrackingHistorySettings,
    {"retention": ("days_to_keep", "email_types"), "aggregates": ("campaign_member_aggregates",)},
)


class GeneralOptions(SingletonModel):
    """The General Options screen: email opt-out in both directions and the sync options. Each field's verbose name
    is the option's label in the console and its help text the help hint beside it."""

    prevent_adding_opted_out = models.BooleanField(
        "Prevent adding records with Email Opt Out checked to any list",
        default=False,
        help_text="A contact or lead with Email Opt Out checked is never added (or resubscribed) to a Campaign Monitor "
        "list by cmsf. Each record left out is reported with the reason.",
    )
    unsubscribe_on_opt_out = models.BooleanField(
        "Unsubscribe in Campaign Monitor when Email Opt Out is checked",
        default=False,
        help_text="When Email Opt Out is checked on a contact or lead, its active subscribers are unsubscribed in "
        "Campaign Monitor within minutes. When Campaign Monitor changed the subscriber later than the box was "
        "checked, the later change wins; on a tie the opt-out wins.",
    )
    opt_out_when_unsubscribed_everywhere = models.BooleanField(
        "Check Email Opt Out when the email is unsubscribed or deleted in all of its lists",
        default=False,
        help_text="When every list membership of a contact or lead is unsubscribed or deleted in Campaign Monitor, "
        "the sync checks its Email Opt Out. If the box was cleared in Salesforce after the last unsubscribe, it "
        "stays clear.",
    )
    delete_subscribers_on_record_delete = models.BooleanField(
        "Set subscribers to Deleted in Campaign Monitor when the contact or lead is deleted",
        default=False,
        help_text="When a contact or lead is deleted in Salesforce, its subscribers are set to Deleted in Campaign "
        "Monitor, unless another contact or lead has the same email. A merge is not a delete: the merged record's "
        "subscribers move to the record kept.",
    )
    trigger_journeys = models.BooleanField(
        "Trigger journeys",
        default=True,
        help_text="When cmsf adds or resubscribes someone, Campaign Monitor starts the list's subscription-based "
        "journeys for them. Off: they are added without starting a journey.",
    )
    account_trigger = models.BooleanField(
        "Account trigger",
        default=True,
        help_text="Evaluate contact subscriber rules again when the contact's account changes.",
    )
    watch_interval_minutes = models.PositiveSmallIntegerField(
        "Watch Salesforce every (minutes)",
        default=5,
        validators=[MinValueValidator(1), MaxValueValidator(60)],
        error_messages={
            "required": "Enter how often to watch Salesforce, from 1 to 60 minutes.",
            "invalid": "Enter a whole number of minutes, from 1 to 60.",
            "min_value": "Watch at least every 60 minutes and at most every minute: enter 1 to 60.",
            "max_value": "Watch at least every 60 minutes and at most every minute: enter 1 to 60.",
        },
        help_text="How often cmsf reads what changed in Salesforce (contacts, leads, deletions, merges and lead "
        "conversions) and pushes it to Campaign Monitor.",
    )
    disable_triggers = models.BooleanField(
        "Disable triggers",
        default=False,
        help_text="Stops cmsf from watching Salesforce and from sending anything to Campaign Monitor, for "
        "troubleshooting or testing. The sync from Campaign Monitor goes on.",
    )
    sync_suppression_list = models.BooleanField(
        "Sync the suppression list to Salesforce",
        default=False,
        help_text="Each sync stores a copy of the Campaign Monitor suppression list in Salesforce, as Campaign "
        "Monitor Suppression records you can report on. Suppressed addresses are never added by cmsf either way.",
    )


GENERAL_OPTIONS = Declared(
    "general_options",
    GeneralOptions,
    {
        "opt_out": (
            "prevent_adding_opted_out",
            "unsubscribe_on_opt_out",
            "opt_out_when_unsubscribed_everywhere",
            "delete_subscribers_on_record_delete",
        ),
        "sync_options": ("trigger_journeys", "account_trigger", "disable_triggers", "sync_suppression_list"),
        "watcher": ("watch_interval_minutes",),
    },
)


class CampaignSettings(SingletonModel):
    """The Salesforce Campaigns screen."""

    class StatusRefresh(models.TextChoices):
        NEVER = "never", "Never"
        ALWAYS = "always", "Always (every sync)"
        ONCE_ONLY = "once_only", "Once only"

    update_linked_campaign_statistics = models.BooleanField(
        "Update the linked Salesforce campaign with Campaign Monitor statistics",
        default=False,
        help_text="Update the linked Salesforce campaign with Campaign Monitor campaign statistics.",
    )
    auto_create_campaigns = models.BooleanField(
        "Auto-create Salesforce Campaigns",
        default=False,
        help_text="Create and link a Salesforce Campaign for each sent Campaign Monitor campaign "
        "first seen after this is turned on.",
    )
    auto_create_since = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When auto-create was turned on: campaigns sent from then on get a Salesforce Campaign "
        "(not retrospective). Empty while auto-create is off.",
    )
    filter_start_date = models.DateField(
        "Start date",
        null=True,
        blank=True,
        error_messages={"invalid": "Enter a date as YYYY-MM-DD, or leave it empty for no start date."},
        help_text="Only campaigns sent on or after this date.",
    )
    filter_tags = models.JSONField(
        "Tags", default=list, blank=True, validators=[validate_tags], help_text="Only campaigns with one of these tags."
    )
    industry_benchmarks = models.BooleanField(
        default=False, help_text="Show the industry's average open and click rates beside each campaign's."
    )
    industry = models.CharField(max_length=100, blank=True)
    member_status_refresh = models.CharField(
        max_length=16,
        choices=StatusRefresh.choices,
        default=StatusRefresh.ALWAYS,
        error_messages={"invalid_choice": "Choose Never, Always (every sync) or Once only."},
    )
    auto_create_missing_statuses = models.BooleanField(
        "Auto-create missing statuses",
        default=False,
        help_text="Add the mapped statuses to the linked campaign when they are missing.",
    )

    def clean(self) -> None:
        if self.industry_benchmarks and not self.industry:
            raise ValidationError({"industry": "Choose the industry to compare with, or turn industry benchmarks off."})


SALESFORCE_CAMPAIGNS = Declared(
    "salesforce_campaigns",
    CampaignSettings,
    {
        "settings": (
            "update_linked_campaign_statistics",
            "auto_create_campaigns",
            "filter_start_date",
            "filter_tags",
            "industry_benchmarks",
            "industry",
            "member_status_refresh",
            "auto_create_missing_statuses",
        ),
        "computed": ("auto_create_since",),
    },
)


class CampaignStatusMapping(models.Model):
    """One row of the status map: a Campaign Monitor activity and the Salesforce member status it sets."""

    activity = models.CharField(max_length=16, choices=EmailActivity.choices, unique=True)
    status_label = models.CharField(max_length=40)
    responded = models.BooleanField(default=False)

    DEFAULTS: dict[str, tuple[str, bool]] = {
        EmailActivity.SENT: ("Sent", False),
        EmailActivity.OPENED: ("Opened", True),
        EmailActivity.CLICKED: ("Clicked", True),
        EmailActivity.BOUNCED: ("Bounced", False),
        EmailActivity.UNSUBSCRIBED: ("Unsubscribed", False),
        EmailActivity.SPAM_COMPLAINT: ("Spam Complaint", False),
    }

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.get_activity_display()} -> {self.status_label}"


def status_map_conflicts(rows: list[tuple[str, str, bool]]) -> dict[str, str]:
    """The activities whose label is shared with another activity that has a different responded flag, with why.

    A Salesforce campaign has one CampaignMemberStatus per label, and it has one HasResponded: two activities
    mapped to one label must agree on it. `rows`: (activity, label, responded)."""
    flags: dict[str, set[bool]] = {}
    names: dict[str, list[str]] = {}
    for activity, label, responded in rows:
        flags.setdefault(label.casefold(), set()).add(responded)
        names.setdefault(label.casefold(), []).append(activity)
    labels = dict(EmailActivity.choices)
    conflicts: dict[str, str] = {}
    for key, seen in flags.items():
        if len(seen) > 1:
            shared = ", ".join(str(labels.get(a, a)) for a in names[key])
            for activity in names[key]:
                conflicts[activity] = (
                    f"{shared} share this status, so they must share Responded: a Salesforce campaign member "
                    "status has one Responded flag."
                )
    return conflicts


class IndustryBenchmark(models.Model):
    """An industry's average open and click rates (percentages), with the published source they come from."""

    name = models.CharField(max_length=100, unique=True)
    open_rate = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
        help_text="Average open rate, in percent (0 to 100).",
    )
    click_rate = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
        help_text="Average click rate, in percent (0 to 100).",
    )
    source = models.TextField(blank=True, help_text="Where the figures come from (title and address).")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def rates(self) -> tuple[float, float]:
        return float(self.open_rate), float(self.click_rate)


def validate_region(value: str) -> None:
    if value and value not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError(f"{value!r} is not a country code that phone numbers can be formatted for (US, GB, ...).")


class SmsSettings(SingletonModel):
    """SMS (Enterprise plan): mobile numbers in E.164 and consent to send SMS."""

    enabled = models.BooleanField("Enable SMS", default=False)
    default_country = models.CharField(
        "Default country",
        max_length=2,
        blank=True,
        validators=[validate_region],
        help_text="Numbers without a country code are read as numbers of this country.",
    )
    contact_consent_field = models.CharField(
        "Contact: consent to send SMS field",
        max_length=80,
        blank=True,
        validators=[salesforce_field_name],
        help_text="The Contact checkbox field that holds consent to send SMS.",
    )
    lead_consent_field = models.CharField(
        "Lead: consent to send SMS field",
        max_length=80,
        blank=True,
        validators=[salesforce_field_name],
        help_text="The Lead checkbox field that holds consent to send SMS.",
    )

    def clean(self) -> None:
        if self.enabled and not self.default_country:
            raise ValidationError({"default_country": "Choose the default country before enabling SMS."})


SMS = Declared(
    "sms", SmsSettings, {"settings": ("enabled", "default_country", "contact_consent_field", "lead_consent_field")}
)


class PersonObject(models.TextChoices):
    CONTACT = "Contact", "Contact"
    LEAD = "Lead", "Lead"


class FieldMapping(models.Model):
    """A Salesforce field and a Campaign Monitor custom field of one list, in one direction: Salesforce to Campaign
    Monitor (sent when the record changes, by the watcher) or Campaign Monitor to Salesforce (applied by the primary
    sync; the preference centre's edits come back this way, and Campaign Monitor is then the field's source of
    truth). A field is mapped in one direction only, and a custom field takes one Salesforce field an object.
    Consent to track is mapped from Salesforce only; unmapped, it is sent as Unchanged."""

    class Direction(models.TextChoices):
        TO_CM = "to_cm", "Salesforce to Campaign Monitor"
        TO_SF = "to_sf", "Campaign Monitor to Salesforce"

    Object = PersonObject
    CONSENT = "ConsentToTrack"  # the mapping's Campaign Monitor side when it is consent to track
    MOBILE = "MobileNumber"  # ... the subscriber's mobile number (sent in E.164, with SMS on)
    SMS_CONSENT = "ConsentToSendSms"  # ... consent to send SMS (sent with the mobile number)
    # Campaign Monitor's own subscriber fields a mapping can fill (from Salesforce only), by their labels.
    STANDARD = {CONSENT: "Consent to track", MOBILE: "Mobile number", SMS_CONSENT: "Consent to send SMS"}

    client = models.ForeignKey("connections.CampaignMonitorClient", on_delete=models.CASCADE, related_name="+")
    list_id = models.CharField("Campaign Monitor list id", max_length=64)
    list_name = models.CharField(max_length=255, blank=True)
    sobject = models.CharField("object", max_length=7, choices=Object.choices, default=Object.CONTACT)
    salesforce_field = models.CharField(max_length=80, validators=[salesforce_field_name])
    salesforce_type = models.CharField(max_length=40, blank=True, help_text="The field's type when it was checked.")
    campaign_monitor = models.CharField(
        "Campaign Monitor field", max_length=102,
        help_text='A custom field key, such as [Title], or ConsentToTrack.',
    )  # fmt: skip
    campaign_monitor_type = models.CharField(max_length=20, blank=True)
    direction = models.CharField(max_length=5, choices=Direction.choices, default=Direction.TO_CM)
    created_at = models.DateTimeField(auto_now_add=True)

    # What the audit log and `cmsf config` carry of a mapping besides its client and list.
    SETTINGS = ("sobject", "salesforce_field", "salesforce_type", "campaign_monitor", "campaign_monitor_type",
                "direction")  # fmt: skip

    class Meta:
        ordering = ["list_name", "list_id", "sobject", "salesforce_field"]
        constraints = [
            models.UniqueConstraint(fields=["list_id", "sobject", "salesforce_field"], name="one_direction_a_field"),
            models.UniqueConstraint(fields=["list_id", "sobject", "campaign_monitor"], name="one_field_a_custom_field"),
        ]

    def __str__(self) -> str:
        arrow = "->" if self.direction == self.Direction.TO_CM else "<-"
        return (
            f"{self.list_name or self.list_id}: {self.sobject}.{self.salesforce_field} {arrow} {self.campaign_monitor}"
        )

    @property
    def is_consent(self) -> bool:
        return self.campaign_monitor == self.CONSENT

    @property
    def is_standard(self) -> bool:
        """A subscriber field of Campaign Monitor's own (consent to track, mobile number, consent to send SMS)
        rather than a custom field."""
        return self.campaign_monitor in self.STANDARD

    @property
    def is_sms(self) -> bool:
        return self.campaign_monitor in (self.MOBILE, self.SMS_CONSENT)

    @property
    def target_label(self) -> str:
        return self.STANDARD.get(self.campaign_monitor, self.campaign_monitor)

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if not self.is_standard and not re.fullmatch(r"\[[^\[\]]{1,100}\]", self.campaign_monitor):
            errors["campaign_monitor"] = (
                "Enter a custom field key, such as [Title], or ConsentToTrack, MobileNumber or ConsentToSendSms."
            )
        if self.is_standard and self.direction != self.Direction.TO_CM:
            errors["direction"] = f"{self.target_label} is mapped from Salesforce to Campaign Monitor only."
        others = FieldMapping.objects.filter(list_id=self.list_id, sobject=self.sobject).exclude(pk=self.pk)
        same_field = others.filter(salesforce_field__iexact=self.salesforce_field).first()
        if same_field is not None:
            errors["salesforce_field"] = (
                f"{self.sobject}.{same_field.salesforce_field} is mapped in this list already "
                f"({same_field.get_direction_display()}): a field is mapped in one direction only."
            )
        same_target = others.filter(campaign_monitor__iexact=self.campaign_monitor).first()
        if same_target is not None and "campaign_monitor" not in errors:
            errors["campaign_monitor"] = (
                f"{self.campaign_monitor} takes {self.sobject}.{same_target.salesforce_field} in this list already."
            )
        if errors:
            raise ValidationError(errors)


RULE_OPERATORS = {
    "equals": "equals",
    "not_equals": "does not equal",
    "contains": "contains",
    "not_contains": "does not contain",
    "starts_with": "starts with",
    "greater": "greater than",
    "less": "less than",
    "greater_or_equal": "greater or equal",
    "less_or_equal": "less or equal",
    "is_blank": "is blank",
    "is_not_blank": "is not blank",
}
RULE_FIELD = re.compile(r"^(Account\.)?[A-Za-z][A-Za-z0-9_]{0,79}$")
MAX_CRITERIA = 10


def validate_criteria(value: object) -> None:
    """[{"field": "LeadSource", "operator": "equals", "value": "Web"}, ...]: at least one, at most ten."""
    if not isinstance(value, list) or not value or not all(isinstance(c, dict) for c in value):
        raise ValidationError('Give the criteria as a list of {"field", "operator", "value"}, one at least.')
    if len(value) > MAX_CRITERIA:
        raise ValidationError(f"A rule has {MAX_CRITERIA} criteria at most.")
    for position, criterion in enumerate(value, start=1):
        if set(criterion) - {"field", "operator", "value"} or not {"field", "operator"} <= set(criterion):
            raise ValidationError(f"Criterion {position}: give field, operator and value.")
        if not isinstance(criterion["field"], str) or not RULE_FIELD.match(criterion["field"]):
            raise ValidationError(f"Criterion {position}: {criterion['field']!r} is not a field API name (or "
                                  "Account.Field on a contact).")  # fmt: skip
        if criterion["operator"] not in RULE_OPERATORS:
            raise ValidationError(f"Criterion {position}: the operator is one of {', '.join(RULE_OPERATORS)}.")
        if not isinstance(criterion.get("value", ""), str):
            raise ValidationError(f"Criterion {position}: the value is text.")


class SubscriberRule(models.Model):
    """Real-time subscriptions: when a contact or lead is created or edited in Salesforce and meets the criteria,
    it is added to (or removed from) a Campaign Monitor list. At most four a list, one of each kind; not
    retrospective unless a retrospective run is started."""

    class Kind(models.TextChoices):
        ADD_CONTACT = "add_contact", "Add contact"
        REMOVE_CONTACT = "remove_contact", "Remove contact"
        ADD_LEAD = "add_lead", "Add lead"
        REMOVE_LEAD = "remove_lead", "Remove lead"

    class When(models.TextChoices):
        EDITED = "edited", "When a record is created, and every time it is edited"
        CREATED = "created", "When a record is created only"
        MET = "met", "When a record is created, and any time it is edited to subsequently meet the criteria"

    client = models.ForeignKey("connections.CampaignMonitorClient", on_delete=models.CASCADE, related_name="+")
    list_id = models.CharField("Campaign Monitor list id", max_length=64)
    list_name = models.CharField(max_length=255, blank=True)
    kind = models.CharField(max_length=14, choices=Kind.choices)
    criteria = models.JSONField(validators=[validate_criteria])
    logic = models.CharField(
        "custom logic", max_length=255, blank=True,
        help_text="Such as 1 AND (2 OR 3); blank: every criterion (AND).",
    )  # fmt: skip
    evaluate = models.CharField(max_length=7, choices=When.choices, default=When.EDITED)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    retrospective_at = models.DateTimeField(null=True, blank=True)  # when a retrospective run last ended
    retrospective_result = models.TextField(blank=True)  # what it did, or why it stopped
    # "Edited to subsequently meet the criteria" needs the records that meet them as the rule starts: read once
    # when the rule is saved (the watcher keeps them after). The token names the read its last save asked for.
    matches_token = models.CharField(max_length=32, blank=True)
    matches_from = models.DateTimeField(null=True, blank=True)  # when that read started; None while it runs
    matches_note = models.TextField(blank=True)  # what it found, or why it stopped

    SETTINGS = ("kind", "criteria", "logic", "evaluate", "active")  # besides its client and list, as for a mapping

    class Meta:
        ordering = ["list_name", "list_id", "kind"]
        constraints = [models.UniqueConstraint(fields=["list_id", "kind"], name="one_rule_of_a_kind_a_list")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.list_name or self.list_id})"

    @property
    def sobject(self) -> str:
        return "Contact" if self.kind.endswith("contact") else "Lead"

    @property
    def adds(self) -> bool:
        return self.kind.startswith("add")

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.sobject == "Lead" and isinstance(self.criteria, list):
            if any(str(c.get("field", "")).startswith("Account.") for c in self.criteria if isinstance(c, dict)):
                errors["criteria"] = "Account fields apply to contact rules only."
        if self.logic.strip():
            count = len(self.criteria) if isinstance(self.criteria, list) else 0
            try:
                check_logic(self.logic, count)
            except ValueError as error:
                errors["logic"] = str(error)
        if SubscriberRule.objects.filter(list_id=self.list_id, kind=self.kind).exclude(pk=self.pk).exists():
            errors["kind"] = f"This list has a {self.get_kind_display().lower()} rule already: one of each kind a list."
        if errors:
            raise ValidationError(errors)


LOGIC_TOKEN = re.compile(r"\s*(\d+|AND\b|OR\b|NOT\b|\(|\))\s*", re.IGNORECASE)


def check_logic(text: str, count: int) -> list[str]:
    """The tokens of custom logic over criteria 1..count; ValueError saying what is wrong."""
    tokens: list[str] = []
    position = 0
    while position < len(text):
        found = LOGIC_TOKEN.match(text, position)
        if found is None or found.end() == position:
            raise ValueError(
                f"Custom logic: {text[position:].strip()!r} is not a number, AND, OR, NOT or a parenthesis."
            )
        tokens.append(found.group(1).upper())
        position = found.end()
    numbers = {int(t) for t in tokens if t.isdigit()}
    if not numbers or min(numbers) < 1 or max(numbers) > count:
        raise ValueError(f"Custom logic: name the criteria by their numbers, 1 to {count}.")
    # a grammar check: operand (op operand)*, NOT and parentheses where they may stand
    depth, expect_operand = 0, True
    for token in tokens:
        if expect_operand:
            if token == "(":
                depth += 1
            elif token == "NOT":
                continue
            elif token.isdigit():
                expect_operand = False
            else:
                raise ValueError(f"Custom logic: {token} where a criterion was expected.")
        else:
            if token == ")":
                depth -= 1
                if depth < 0:
                    raise ValueError("Custom logic: a parenthesis is closed that was not opened.")
            elif token in ("AND", "OR"):
                expect_operand = True
            else:
                raise ValueError(f"Custom logic: {token} where AND, OR or a closing parenthesis was expected.")
    if expect_operand or depth:
        raise ValueError("Custom logic: it ends before it is complete.")
    return tokens


def validate_defaults(value: object) -> None:
    """{"Company": "Unknown", "LeadSource": "Campaign Monitor"}: field API name -> the value a new record gets."""
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValidationError('Give the defaults as {"Field": "value"}, text each.')
    for name in value:
        salesforce_field_name(name)


class RecordCreation(models.Model):
    """Per list: a Contact or Lead made for each active subscriber the sync matches to no record, with the values of
    the list's mappings toward Salesforce and defaults for the fields the object requires. Salesforce's validation
    rules and triggers apply; a record they refuse is a maintenance message with its subscriber."""

    Object = PersonObject

    client = models.ForeignKey("connections.CampaignMonitorClient", on_delete=models.CASCADE, related_name="+")
    list_id = models.CharField("Campaign Monitor list id", max_length=64, unique=True)
    list_name = models.CharField(max_length=255, blank=True)
    sobject = models.CharField("create", max_length=7, choices=Object.choices, default=Object.LEAD)
    defaults = models.JSONField(default=dict, blank=True, validators=[validate_defaults])
    active = models.BooleanField(default=True)

    SETTINGS = ("sobject", "defaults", "active")  # besides its client and list, as for a mapping

    class Meta:
        ordering = ["list_name", "list_id"]

    def __str__(self) -> str:
        return f"Create a {self.sobject} for {self.list_name or self.list_id}"
