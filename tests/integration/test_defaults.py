"""Every setting starts with the product's default, as the settings article describes it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from cmsf.billing.models import BillingAccount, Plan
from cmsf.maintenance.jobs import JOBS
from cmsf.maintenance.models import GovernorLimit, MaintenanceSettings
from cmsf.options.models import (
    CampaignSettings,
    CampaignStatusMapping,
    GeneralOptions,
    SmsSettings,
    TrackingHistorySettings,
)
from cmsf.sync.models import ImportFrequency, SyncSettings

pytestmark = pytest.mark.django_db


def test_primary_sync_runs_hourly_and_is_on():
    sync = SyncSettings.load()
    assert sync.import_frequency == ImportFrequency.HOURLY
    assert sync.sync_enabled
    assert sync.interval == timedelta(hours=1)


def test_tracking_history_keeps_180_days_of_every_email_type():
    tracking = TrackingHistorySettings.load()
    assert tracking.days_to_keep == 180
    assert tracking.email_types == ["sent", "opened", "clicked", "bounced", "unsubscribed", "spam_complaint"]
    assert not tracking.campaign_member_aggregates


def test_zero_days_to_keep_stores_no_tracking_history():
    tracking = TrackingHistorySettings(days_to_keep=0)
    assert not tracking.stores("opened")
    tracking = TrackingHistorySettings(days_to_keep=90, email_types=["sent"])
    assert tracking.stores("sent") and not tracking.stores("opened")


def test_general_options_are_off_but_the_first_two_sync_options():
    options = GeneralOptions.load()
    assert (options.trigger_journeys, options.account_trigger) == (True, True)
    assert not any(
        (
            options.prevent_adding_opted_out,
            options.unsubscribe_on_opt_out,
            options.opt_out_when_unsubscribed_everywhere,
            options.delete_subscribers_on_record_delete,
            options.disable_triggers,
            options.sync_suppression_list,
        )
    )


def test_campaign_member_status_refresh_is_always_and_the_status_map_covers_every_activity():
    campaigns = CampaignSettings.load()
    assert campaigns.member_status_refresh == CampaignSettings.StatusRefresh.ALWAYS
    assert not campaigns.auto_create_campaigns and not campaigns.auto_create_missing_statuses
    assert campaigns.filter_start_date is None and campaigns.filter_tags == []
    rows = {row.activity: (row.status_label, row.responded) for row in CampaignStatusMapping.objects.all()}
    assert rows == {
        "sent": ("Sent", False),
        "opened": ("Opened", True),
        "clicked": ("Clicked", True),
        "bounced": ("Bounced", False),
        "unsubscribed": ("Unsubscribed", False),
        "spam_complaint": ("Spam Complaint", False),
    }


def test_sms_is_off_and_has_no_country_until_chosen():
    sms = SmsSettings.load()
    assert not sms.enabled and sms.default_country == ""


def test_governor_limits_fall_back_to_each_jobs_default():
    assert GovernorLimit.batch_size_for("CMSF_EMAIL_OPT_OUT") == JOBS["CMSF_EMAIL_OPT_OUT"].default_batch_size
    GovernorLimit.objects.create(job="CMSF_EMAIL_OPT_OUT", batch_size=25)
    assert GovernorLimit.batch_size_for("CMSF_EMAIL_OPT_OUT") == 25
    assert GovernorLimit.all_batch_sizes()["CMSF_TRACKING_SYNC"] == JOBS["CMSF_TRACKING_SYNC"].default_batch_size


def test_no_notification_address_until_one_is_set():
    assert MaintenanceSettings.load().notification_email == ""


def test_a_new_installation_has_14_days_of_enterprise_then_free():
    billing = BillingAccount.load()
    now = timezone.now()
    assert billing.effective_plan(now) == Plan.ENTERPRISE and billing.on_trial(now)
    later = billing.trial_started_at + timedelta(days=14, seconds=1)
    assert billing.effective_plan(later) == Plan.FREE and not billing.on_trial(later)
    billing.plan = Plan.STANDARD
    assert billing.effective_plan(later) == Plan.STANDARD


def test_next_run_follows_the_frequency_and_the_switch():
    sync = SyncSettings.load()
    now = timezone.now()
    sync.reschedule(now)
    assert sync.next_run == now + timedelta(hours=1)
    assert not sync.is_due(now) and sync.is_due(now + timedelta(hours=1))
    sync.sync_enabled = False
    sync.reschedule(now)
    assert sync.next_run is None and not sync.is_due(now + timedelta(days=1))
    sync.sync_enabled, sync.import_frequency = True, ImportFrequency.OFF
    sync.reschedule(now)
    assert sync.next_run is None
