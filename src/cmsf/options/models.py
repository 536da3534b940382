"""The options of the console, each a field with the default the product ships with."""

from __future__ import annotations

from decimal import Decimal

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

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


class GeneralOptions(SingletonModel):
    """The General Options screen: email opt-out in both directions and the sync options."""

    prevent_adding_opted_out = models.BooleanField(
        default=False,
        help_text="Never add contacts or leads with Email Opt Out checked to a Campaign Monitor list.",
    )
    unsubscribe_on_opt_out = models.BooleanField(
        default=False,
        help_text="Unsubscribe the person from Campaign Monitor lists when Email Opt Out is checked.",
    )
    opt_out_when_unsubscribed_everywhere = models.BooleanField(
        default=False,
        help_text="Check Email Opt Out when the email is unsubscribed or deleted in all of its lists.",
    )
    delete_subscribers_on_record_delete = models.BooleanField(
        default=False,
        help_text="Set the linked subscribers to Deleted in Campaign Monitor when the contact or lead "
        "is deleted in Salesforce.",
    )
    trigger_journeys = models.BooleanField(
        default=True,
        help_text="Start Campaign Monitor journeys when cmsf adds or resubscribes someone.",
    )
    account_trigger = models.BooleanField(
        default=True,
        help_text="Evaluate contact subscriber rules again when the contact's account changes.",
    )
    watch_interval_minutes = models.PositiveSmallIntegerField(
        default=5,
        validators=[MinValueValidator(1), MaxValueValidator(60)],
        help_text="How often cmsf reads what changed in Salesforce (minutes, 1 to 60).",
    )
    disable_triggers = models.BooleanField(
        default=False,
        help_text="Stop watching Salesforce and stop every push to Campaign Monitor (for troubleshooting).",
    )
    sync_suppression_list = models.BooleanField(
        default=False,
        help_text="Store a copy of the Campaign Monitor suppression list in Salesforce.",
    )


class CampaignSettings(SingletonModel):
    """The Salesforce Campaigns screen."""

    class StatusRefresh(models.TextChoices):
        NEVER = "never", "Never"
        ALWAYS = "always", "Always (every sync)"
        ONCE_ONLY = "once_only", "Once only"

    update_linked_campaign_statistics = models.BooleanField(
        default=False,
        help_text="Update the linked Salesforce campaign with Campaign Monitor campaign statistics.",
    )
    auto_create_campaigns = models.BooleanField(
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
    filter_start_date = models.DateField(null=True, blank=True, help_text="Only campaigns sent on or after this date.")
    filter_tags = models.JSONField(
        default=list, blank=True, validators=[validate_tags], help_text="Only campaigns with one of these tags."
    )
    industry_benchmarks = models.BooleanField(
        default=False, help_text="Show the industry's average open and click rates beside each campaign's."
    )
    industry = models.CharField(max_length=100, blank=True)
    member_status_refresh = models.CharField(max_length=16, choices=StatusRefresh.choices, default=StatusRefresh.ALWAYS)
    auto_create_missing_statuses = models.BooleanField(
        default=False, help_text="Add the mapped statuses to the linked campaign when they are missing."
    )

    def clean(self) -> None:
        if self.industry_benchmarks and not self.industry:
            raise ValidationError({"industry": "Choose an industry to compare with."})


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

    enabled = models.BooleanField(default=False)
    default_country = models.CharField(
        max_length=2,
        blank=True,
        validators=[validate_region],
        help_text="Numbers without a country code are read as numbers of this country.",
    )
    contact_consent_field = models.CharField(
        max_length=80,
        blank=True,
        validators=[salesforce_field_name],
        help_text="The Contact checkbox field that holds consent to send SMS.",
    )
    lead_consent_field = models.CharField(
        max_length=80,
        blank=True,
        validators=[salesforce_field_name],
        help_text="The Lead checkbox field that holds consent to send SMS.",
    )

    def clean(self) -> None:
        if self.enabled and not self.default_country:
            raise ValidationError({"default_country": "Choose the default country before enabling SMS."})
