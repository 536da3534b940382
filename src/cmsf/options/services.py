"""Writes of the options: each change is validated by its model, saved and audited in one transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from cmsf.connections import services as connections
from cmsf.connections.models import CampaignMonitorClient
from cmsf.maintenance.services import audit, update_settings
from cmsf.options.models import (
    GENERAL_OPTIONS,
    SALESFORCE_CAMPAIGNS,
    TRACKING_HISTORY,
    CampaignSettings,
    CampaignStatusMapping,
    EmailActivity,
    GeneralOptions,
    IndustryBenchmark,
    TrackingHistorySettings,
    status_map_conflicts,
)


def save_tracking_history(
    *, days_to_keep: int, email_types: list[str], actor: str, section: str = "storage"
) -> TrackingHistorySettings:
    """Days to keep and the email types stored; raises ValidationError (by field) and saves nothing when either
    is not allowed. The next sync removes what the choice no longer keeps and reads back what it now adds."""
    order = {value: index for index, value in enumerate(EmailActivity.values)}
    values = {
        "days_to_keep": days_to_keep,
        "email_types": sorted(email_types, key=lambda value: order.get(value, len(order))),
    }
    return update_settings(
        TRACKING_HISTORY, values, actor=actor, section=section, action="Change the tracking history settings",
        fields=TRACKING_HISTORY.group("retention"),
    )  # fmt: skip


def set_campaign_member_aggregates(enabled: bool, *, actor: str, section: str = "storage") -> TrackingHistorySettings:
    """Turn the campaign member aggregates on or off."""
    return update_settings(
        TRACKING_HISTORY, {"campaign_member_aggregates": enabled}, actor=actor, section=section,
        action="Turn campaign member aggregates " + ("on" if enabled else "off"),
        fields=TRACKING_HISTORY.group("aggregates"),
    )  # fmt: skip


# -- Salesforce Campaigns ----------------------------------------------------------------------------------

GENERAL_SECTION = GENERAL_OPTIONS.key
GENERAL_FIELDS = GENERAL_OPTIONS.group("opt_out", "sync_options", "watcher")  # what the console edits


def save_general_options(values: Mapping[str, Any], *, actor: str) -> GeneralOptions:
    """General Options (any of GENERAL_FIELDS), validated by the model, saved and audited in one transaction; raises
    ValidationError by field and saves nothing when a value is not allowed."""
    return update_settings(
        GENERAL_OPTIONS, values, actor=actor, action="Change the General Options", fields=GENERAL_FIELDS
    )


CAMPAIGNS_SECTION = "campaigns"
CAMPAIGN_FIELDS = SALESFORCE_CAMPAIGNS.group("settings")  # what the console edits; auto_create_since follows


def save_campaign_settings(values: Mapping[str, Any], *, actor: str, now: datetime) -> CampaignSettings:
    """The Salesforce Campaigns settings (any of CAMPAIGN_FIELDS), validated by the model and saved and audited in
    one transaction; raises ValidationError by field and saves nothing when a value is not allowed.

    Turning auto-create on stamps `auto_create_since` with `now` (only when it was off: campaigns sent from then on
    get a Salesforce campaign, not earlier ones); turning it off clears it. With benchmarks on, the industry must be
    one of the industry benchmarks."""
    unknown = sorted(set(values) - set(CAMPAIGN_FIELDS))
    if unknown:
        raise ValidationError(f"Unknown campaign setting {', '.join(unknown)}.")

    def prepare(settings: CampaignSettings, values: dict[str, Any]) -> dict[str, Any]:
        if "filter_tags" in values:
            values["filter_tags"] = list(values["filter_tags"])
        turned_on = values.get("auto_create_campaigns", settings.auto_create_campaigns)
        if turned_on and not settings.auto_create_campaigns:
            values["auto_create_since"] = now
        elif not turned_on:
            values["auto_create_since"] = None
        industry = values.get("industry", settings.industry)
        if values.get("industry_benchmarks", settings.industry_benchmarks) and industry:
            if not IndustryBenchmark.objects.filter(name=industry).exists():
                raise ValidationError({"industry": f"{industry!r} is not in the industry benchmarks: choose one."})
        return values

    return update_settings(
        SALESFORCE_CAMPAIGNS, values, actor=actor, section=CAMPAIGNS_SECTION,
        action="Change the Salesforce Campaigns settings", prepare=prepare,
    )  # fmt: skip


def benchmark_rates(settings: CampaignSettings | None = None) -> tuple[float, float] | None:
    """The chosen industry's (open rate, click rate) in percent when industry benchmarks are on, else None."""
    settings = settings or CampaignSettings.load()
    if not settings.industry_benchmarks or not settings.industry:
        return None
    row = IndustryBenchmark.objects.filter(name=settings.industry).first()
    return row.rates() if row else None


STATUS_LABEL_MAX = 40


def save_status_map(rows: Mapping[str, tuple[str, bool]], *, actor: str) -> list[CampaignStatusMapping]:
    """The status map: each activity's Salesforce member status label and responded flag, all or nothing.

    Raises ValidationError keyed by activity when a label is empty, longer than 40 characters, or shared by
    activities with different responded flags (a CampaignMemberStatus has one HasResponded). Labels are stripped."""
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, tuple[str, bool]] = {}
    for activity, (label, responded) in rows.items():
        if activity not in EmailActivity.values:
            errors.setdefault("__all__", []).append(f"{activity!r} is not a Campaign Monitor activity.")
            continue
        label = label.strip()
        if not label:
            errors.setdefault(activity, []).append("Enter the Salesforce member status label.")
        elif len(label) > STATUS_LABEL_MAX:
            errors.setdefault(activity, []).append(
                f"A Salesforce member status label has at most {STATUS_LABEL_MAX} characters (this has {len(label)})."
            )
        cleaned[activity] = (label, bool(responded))
    with transaction.atomic():
        current = {row.activity: row for row in CampaignStatusMapping.objects.select_for_update()}
        merged = {a: (row.status_label, row.responded) for a, row in current.items()} | cleaned
        for activity, message in status_map_conflicts(
            [(a, label, r) for a, (label, r) in merged.items() if label]
        ).items():
            if activity in cleaned:
                errors.setdefault(activity, []).append(message)
        if errors:
            raise ValidationError(errors)
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        for activity, (label, responded) in cleaned.items():
            row = current.get(activity) or CampaignStatusMapping(activity=activity)
            if row.pk and (row.status_label, row.responded) == (label, responded):
                continue
            if row.pk:
                before[activity] = {"label": row.status_label, "responded": row.responded}
            row.status_label, row.responded = label, responded
            row.save()
            current[activity] = row
            after[activity] = {"label": label, "responded": responded}
        if after:
            audit(actor=actor, section=CAMPAIGNS_SECTION, action="Change the status map", before=before, after=after)
    order = {value: index for index, value in enumerate(EmailActivity.values)}
    return sorted(current.values(), key=lambda row: order.get(row.activity, len(order)))


class BenchmarkInUse(Exception):
    """The industry is the one the campaign settings compare with: it cannot be deleted."""


def _benchmark_state(row: IndustryBenchmark) -> dict[str, Any]:
    return {"name": row.name, "open_rate": str(row.open_rate), "click_rate": str(row.click_rate), "source": row.source}


def save_industry_benchmark(
    benchmark_id: int | None, *, name: str, open_rate: Decimal, click_rate: Decimal, source: str, actor: str
) -> IndustryBenchmark:
    """Add (benchmark_id None) or edit an industry benchmark; validated by the model, audited. Renaming the industry
    the settings use renames it there too, so the settings keep pointing at it."""
    with transaction.atomic():
        if benchmark_id is None:
            row = IndustryBenchmark()
            before: dict[str, Any] = {}
        else:
            row = IndustryBenchmark.objects.select_for_update().get(pk=benchmark_id)
            before = _benchmark_state(row)
        old_name = row.name
        row.name, row.open_rate, row.click_rate, row.source = name.strip(), open_rate, click_rate, source.strip()
        row.full_clean()
        after = _benchmark_state(row)
        if after == before:
            return row
        row.save()
        if old_name and old_name != row.name:
            CampaignSettings.objects.filter(industry=old_name).update(industry=row.name)
        audit(
            actor=actor,
            section=CAMPAIGNS_SECTION,
            action=("Edit" if before else "Add") + f" the industry benchmark {row.name}",
            before=before,
            after=after,
        )
    return row


def delete_industry_benchmark(benchmark_id: int, *, actor: str) -> str:
    """Delete an industry benchmark (audited); refused with BenchmarkInUse while the settings compare with it.
    Returns the deleted industry's name."""
    with transaction.atomic():
        row = IndustryBenchmark.objects.select_for_update().get(pk=benchmark_id)
        settings = CampaignSettings.load()
        if settings.industry == row.name:
            raise BenchmarkInUse(
                f"{row.name} is the industry the Salesforce Campaigns settings compare with: choose another "
                "industry (or clear it with benchmarks off) before deleting it."
            )
        before = _benchmark_state(row)
        row.delete()
        audit(
            actor=actor,
            section=CAMPAIGNS_SECTION,
            action=f"Delete the industry benchmark {before['name']}",
            before=before,
            after={},
        )
    return str(before["name"])


def offered_tags(chosen: Sequence[str], available: Sequence[str]) -> list[tuple[str, bool]]:
    """The tag choices: every tag Campaign Monitor offers, then chosen tags it no longer offers, each with whether
    Campaign Monitor still offers it."""
    seen = dict.fromkeys(available)
    return [(tag, True) for tag in seen] + [(tag, False) for tag in chosen if tag not in seen]


def campaign_monitor_tags() -> list[str]:
    """The tags Campaign Monitor has for the selected clients (one call per client), sorted without duplicates.
    Raises CampaignMonitorError or NotConnected when Campaign Monitor cannot be asked."""
    cm = connections.campaign_monitor()
    tags: set[str] = set()
    for client in CampaignMonitorClient.objects.filter(selected=True, active=True).order_by("name"):
        tags.update(tag for tag in cm.tags(client.cm_client_id) if tag.strip())
    return sorted(tags, key=str.casefold)
