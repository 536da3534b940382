"""Writes of the options: each change is validated by its model, saved and audited in one transaction."""

from __future__ import annotations

from django.db import transaction

from cmsf.maintenance.services import audit
from cmsf.options.models import EmailActivity, TrackingHistorySettings

TRACKING_FIELDS = ("days_to_keep", "email_types")


def _tracking_state(settings: TrackingHistorySettings) -> dict[str, object]:
    return {
        "days_to_keep": settings.days_to_keep,
        "email_types": list(settings.email_types),
        "campaign_member_aggregates": settings.campaign_member_aggregates,
    }


def save_tracking_history(
    *, days_to_keep: int, email_types: list[str], actor: str, section: str = "storage"
) -> TrackingHistorySettings:
    """Days to keep and the email types stored; raises ValidationError (by field) and saves nothing when either
    is not allowed. The next sync removes what the choice no longer keeps and reads back what it now adds."""
    with transaction.atomic():
        settings = TrackingHistorySettings.objects.select_for_update().filter(pk=1).first()
        settings = settings or TrackingHistorySettings.load()
        before = _tracking_state(settings)
        settings.days_to_keep = days_to_keep
        order = {value: index for index, value in enumerate(EmailActivity.values)}
        settings.email_types = sorted(email_types, key=lambda value: order.get(value, len(order)))
        settings.full_clean()
        after = _tracking_state(settings)
        if after == before:
            return settings
        settings.save(update_fields=list(TRACKING_FIELDS))
        audit(
            actor=actor,
            section=section,
            action="Change the tracking history settings",
            before={k: before[k] for k in TRACKING_FIELDS},
            after={k: after[k] for k in TRACKING_FIELDS},
        )
    return settings


def set_campaign_member_aggregates(enabled: bool, *, actor: str, section: str = "storage") -> TrackingHistorySettings:
    """Turn the campaign member aggregates on or off."""
    with transaction.atomic():
        settings = TrackingHistorySettings.objects.select_for_update().filter(pk=1).first()
        settings = settings or TrackingHistorySettings.load()
        if settings.campaign_member_aggregates == enabled:
            return settings
        settings.campaign_member_aggregates = enabled
        settings.save(update_fields=["campaign_member_aggregates"])
        audit(
            actor=actor,
            section=section,
            action="Turn campaign member aggregates " + ("on" if enabled else "off"),
            before={"campaign_member_aggregates": not enabled},
            after={"campaign_member_aggregates": enabled},
        )
    return settings
