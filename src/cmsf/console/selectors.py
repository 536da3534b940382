"""Reads the console shows in several places."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import User
from django.db.models import Count
from django.utils import timezone

from cmsf.billing.models import BillingAccount
from cmsf.billing.plans import Features
from cmsf.billing.services import features
from cmsf.connections.models import CampaignMonitorAccount, CampaignMonitorClient, SalesforceOrg
from cmsf.maintenance.models import MaintenanceMessage
from cmsf.sync.engine import PURGE_ORDER
from cmsf.sync.models import RecordMap, SyncRun, SyncSettings


@dataclass
class Overview:
    sync: SyncSettings
    campaign_monitor: CampaignMonitorAccount
    salesforce: SalesforceOrg
    clients: list[CampaignMonitorClient]
    billing: BillingAccount
    plan: str
    on_trial: bool
    new_messages: int
    recent_runs: list[SyncRun]
    features: Features


def overview(*, now: datetime) -> Overview:
    billing = BillingAccount.load()
    return Overview(
        sync=SyncSettings.load(),
        campaign_monitor=CampaignMonitorAccount.load(),
        salesforce=SalesforceOrg.load(),
        clients=list(CampaignMonitorClient.objects.all()),
        billing=billing,
        plan=billing.effective_plan(now).label,
        on_trial=billing.on_trial(now),
        new_messages=MaintenanceMessage.objects.filter(acknowledged_at=None).count(),
        recent_runs=list(SyncRun.objects.select_related("client")[:10]),
        features=features(now),
    )


def console_user_by_email(email: str) -> User | None:
    """The active console user with this email (Log in with Salesforce), if exactly one has it."""
    if not email:
        return None
    users = list(User.objects.filter(email__iexact=email.strip(), is_active=True)[:2])
    return users[0] if len(users) == 1 else None


def salesforce_sign_in_offered() -> bool:
    """Whether the sign-in page offers "Log in with Salesforce": an org is connected with its connected app's secret."""
    org = SalesforceOrg.load()
    return bool(org.is_connected and org.client_id and org.client_secret)


@dataclass(frozen=True)
class Removal:
    """What a full Campaign Monitor sync removes before it imports again: cmsf's records, by object."""

    by_object: list[tuple[str, int]]
    clients: list[str]

    @property
    def total(self) -> int:
        return sum(count for _, count in self.by_object)


def full_sync_removal() -> Removal:
    selected = CampaignMonitorClient.objects.filter(selected=True, active=True)
    rows = (
        RecordMap.objects.filter(client__in=selected, sobject__in=PURGE_ORDER)
        .values("sobject")
        .annotate(count=Count("id"))
        .order_by("sobject")
    )
    return Removal([(row["sobject"], row["count"]) for row in rows], [c.name for c in selected])


def plan_features() -> Features:
    return features(timezone.now())
