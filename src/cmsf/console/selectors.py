"""Reads the console shows in several places."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cmsf.billing.models import BillingAccount
from cmsf.connections.models import CampaignMonitorAccount, CampaignMonitorClient, SalesforceOrg
from cmsf.maintenance.models import MaintenanceMessage
from cmsf.sync.models import SyncRun, SyncSettings


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
    )
