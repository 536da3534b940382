"""Reads the console shows in several places."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.core.paginator import Page, Paginator
from django.db.models import Count, QuerySet
from django.utils import timezone

from cmsf.audience import selectors as audience_selectors
from cmsf.billing.models import BillingAccount
from cmsf.billing.plans import Features
from cmsf.billing.services import features
from cmsf.connections.models import CampaignMonitorAccount, CampaignMonitorClient, SalesforceOrg
from cmsf.connections.selectors import not_connected_reason
from cmsf.maintenance.selectors import new_message_count
from cmsf.options.models import FieldMapping, GeneralOptions, RecordCreation
from cmsf.sync import selectors as sync_selectors
from cmsf.sync.engine import PURGE_ORDER
from cmsf.sync.models import RecordMap, SyncRun, SyncSettings, SyncStatus
from cmsf.sync.selectors import RunRow


@dataclass(frozen=True)
class SyncState:
    """The sync's status as the console, `cmsf status` and its JSON tell it."""

    value: str  # a SyncStatus value
    label: str
    message: str


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
    not_connected: str  # why nothing can sync now ("" when both sides are connected)

    @property
    def status(self) -> SyncState:
        """Not connected while either side is (whatever the last runs did), else the worst of the clients' last
        runs."""
        if self.not_connected:
            return SyncState(SyncStatus.NOT_CONNECTED, SyncStatus.NOT_CONNECTED.label, self.not_connected)
        return SyncState(self.sync.last_status, self.sync.get_last_status_display(), self.sync.last_status_message)


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
        new_messages=new_message_count(),
        recent_runs=list(SyncRun.objects.select_related("client")[:10]),
        features=features(now),
        not_connected=not_connected_reason(),
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
    person_changes: list[str]  # what the current options change on contacts and leads (the full sync's import too)

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
    return Removal(
        [(row["sobject"], row["count"]) for row in rows], [c.name for c in selected], person_changes(selected)
    )


def person_changes(clients: QuerySet[CampaignMonitorClient]) -> list[str]:
    """What the current options make a sync of these clients change on contacts and leads, in words, with the counts
    cmsf knows before Campaign Monitor is read: Email Opt Out (General Options), the field mappings toward Salesforce
    and record creation (Field Mappings)."""
    changes = []
    if GeneralOptions.load().opt_out_when_unsubscribed_everywhere:
        changes.append(
            "Email Opt Out is checked on every contact and lead whose email is unsubscribed or deleted in all of its "
            'lists (General Options: "Check Email Opt Out when the email is unsubscribed or deleted in all lists"); '
            "how many is known once Campaign Monitor is read"
        )
    mappings = list(FieldMapping.objects.filter(client__in=clients, direction=FieldMapping.Direction.TO_SF))
    if mappings:
        fields = sorted({f"{m.sobject}.{m.salesforce_field}" for m in mappings})
        linked = RecordMap.objects.filter(client__in=clients, sobject__in=("Contact", "Lead")).count()
        changes.append(
            f"{len(fields)} mapped field{'s' if len(fields) != 1 else ''} ({', '.join(fields)}) "
            f"{'are' if len(fields) != 1 else 'is'} written from Campaign Monitor's custom fields on the linked "
            f"contacts and leads whose value differs (cmsf's ledger holds {linked:,} contacts and leads it wrote)"
        )
    for setting in RecordCreation.objects.filter(client__in=clients, active=True).order_by("list_name"):
        made = RecordMap.objects.filter(client=setting.client, sobject=setting.sobject, key__startswith="new:").count()
        changes.append(
            f"a {setting.sobject} is made for each active subscriber of {setting.list_name or setting.list_id} "
            f"that no contact or lead matches ({made:,} made so far; an address is never made twice)"
        )
    return changes


def plan_features() -> Features:
    return features(timezone.now())


# -- the run history: the runs of every kind, newest first, paged -----------------------------------------------------

RUNS_PER_PAGE = 50


@dataclass
class RunHistoryPage:
    rows: list[RunRow]
    page: Page[Any]


def run_history(*, client_id: int | None, outcome: str, page: int) -> RunHistoryPage:
    """The sync's, the watcher's and the import wizards' runs as one history, newest first (queued syncs on top),
    filtered by client (the watcher watches for every client: it is left out) and by outcome. `outcome` is a key of
    `sync.selectors.OUTCOMES` ("" for any: an unknown one raises UnknownOutcome); `page` counts from 1 (past the last
    page raises EmptyPage)."""
    keys = sync_selectors.sync_run_keys(client_id=client_id, outcome=outcome).union(
        audience_selectors.import_run_keys(client_id=client_id, outcome=outcome), all=True
    )
    if client_id is None:
        keys = keys.union(sync_selectors.watch_run_keys(outcome=outcome), all=True)
    paginator = Paginator(keys.order_by("-sort_at", "-id"), RUNS_PER_PAGE, allow_empty_first_page=True)
    shown = paginator.page(page)
    wanted: dict[str, list[int]] = {}
    for kind, pk, _ in shown.object_list:
        wanted.setdefault(kind, []).append(pk)
    found = {
        sync_selectors.SYNC: sync_selectors.sync_run_rows(wanted.get(sync_selectors.SYNC, [])),
        sync_selectors.WATCH: sync_selectors.watch_run_rows(wanted.get(sync_selectors.WATCH, [])),
        sync_selectors.IMPORT: audience_selectors.import_run_rows(wanted.get(sync_selectors.IMPORT, [])),
    }
    # A run removed between the two reads (its client left out) is left out of the page.
    rows = [found[kind][pk] for kind, pk, _ in shown.object_list if pk in found[kind]]
    return RunHistoryPage(rows=rows, page=shown)


@dataclass
class SyncNowResult:
    """How the runs of one Sync now ended, told in place of their progress: the outcome of each client's run, its
    counts per Salesforce object and the maintenance messages it met."""

    runs: list[sync_selectors.SyncRunDetail]

    @property
    def outcome(self) -> str:
        """The worst of the runs' outcomes (a key of `sync.selectors.OUTCOMES`)."""
        worst = ("failed", "not_connected", "stopped", "problems", "skipped", "succeeded")
        found = {detail.row.outcome for detail in self.runs}
        return next((outcome for outcome in worst if outcome in found), "succeeded")

    @property
    def summary(self) -> str:
        """ "Succeeded" when every run did, else each outcome with its count: "1 succeeded, 1 failed"."""
        counts: dict[str, int] = {}
        for detail in self.runs:
            counts[detail.row.outcome] = counts.get(detail.row.outcome, 0) + 1
        if len(counts) == 1:
            return sync_selectors.OUTCOMES[next(iter(counts))]
        return ", ".join(f"{n} {sync_selectors.OUTCOMES[outcome].lower()}" for outcome, n in counts.items())

    @property
    def problems(self) -> int:
        """The maintenance messages the runs met, each a problem told in Maintenance."""
        return sum(len(detail.messages) for detail in self.runs)


def sync_now_result(runs: list[SyncRun], *, now: datetime) -> SyncNowResult | None:
    """The result of Sync now's runs once every one has ended; None while any is queued or running."""
    if not runs or any(run.status not in SyncRun.ENDED for run in runs):
        return None
    return SyncNowResult([sync_selectors.sync_run_detail(run, now=now) for run in runs])
