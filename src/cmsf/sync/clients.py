"""Which Campaign Monitor clients cmsf syncs, and what it keeps for each: the Select Clients dialog, Reconnect to
Campaign Monitor (new credentials of the same account, with client selection), Disconnect, and the Salesforce
Security Owner of each client.

A client left unselected loses its configuration in cmsf (its read positions, the tracking window they were read
with, its Security Owner); the records cmsf already wrote stay in Salesforce, and cmsf keeps its ledger of them,
so selecting the client again later updates those records instead of doubling them.

On a plan without agency sub-accounts (Free and Standard; see `cmsf.billing`), one client is synced.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from cmsf.billing.services import features
from cmsf.campaign_monitor.api import CampaignMonitor
from cmsf.campaign_monitor.errors import CampaignMonitorError
from cmsf.campaign_monitor.records import ClientSummary
from cmsf.connections import services as connections
from cmsf.connections.models import CampaignMonitorAccount, CampaignMonitorClient, SalesforceOrg
from cmsf.connections.signals import client_configuration, client_left_out
from cmsf.maintenance import support_codes
from cmsf.maintenance.services import audit, record_message
from cmsf.options.models import FieldMapping, RecordCreation, SubscriberRule
from cmsf.salesforce import soql
from cmsf.sync import tasks, webhooks
from cmsf.sync.models import (
    ClientLease,
    Cursor,
    ListWebhook,
    PushedFields,
    RuleMatch,
    SyncRun,
    SyncSettings,
    TrackingCoverage,
)


class ClientChoiceError(ValueError):
    """The choice of clients cannot be saved; the message says why and what to do."""


@dataclass
class ClientChoice:
    """One client of the account, as the Select Clients dialog and the reconnect step show it."""

    client_id: str
    name: str
    known: CampaignMonitorClient | None  # cmsf's row, if it has one
    selected: bool
    configuration: list[str] = field(default_factory=list)  # what is removed if it is left unselected


def _counted(count: int, one: str, many: str, names: list[str]) -> str:
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return f"{count} {one if count == 1 else many}" + (f" ({shown})" if shown else "")


def configuration_of(client: CampaignMonitorClient) -> list[str]:
    """What cmsf keeps for a client and removes when the client is left unselected, in words: its read positions and
    tracking window, its Security Owner, its lists' field mappings, subscriber rules and record creation, and what the
    apps above keep (import wizards)."""
    items = []
    cursors = Cursor.objects.filter(client=client).count()
    if cursors:
        items.append(f"{cursors} read position{'s' if cursors != 1 else ''} (its next sync reads everything again)")
    if TrackingCoverage.objects.filter(client=client).exists():
        items.append("the tracking-history window its activity was read with")
    if client.security_owner_id:
        items.append(f"its Salesforce Security Owner ({client.security_owner_name or client.security_owner_id})")
    mappings = list(FieldMapping.objects.filter(client=client))
    if mappings:
        names = [
            f"{m.sobject}.{m.salesforce_field} and {m.campaign_monitor} of {m.list_name or m.list_id}" for m in mappings
        ]
        items.append(_counted(len(mappings), "field mapping", "field mappings", names))
    rules = list(SubscriberRule.objects.filter(client=client))
    if rules:
        names = [f"{r.get_kind_display()} of {r.list_name or r.list_id}" for r in rules]
        items.append(_counted(len(rules), "subscriber rule", "subscriber rules", names))
    creations = list(RecordCreation.objects.filter(client=client))
    if creations:
        names = [f"{c.get_sobject_display()} for {c.list_name or c.list_id}" for c in creations]
        items.append(_counted(len(creations), "record creation setting", "record creation settings", names))
    for _, answer in client_configuration.send(sender=CampaignMonitorClient, client=client):
        items.extend(answer or ())
    return items


def _remove_configuration(client: CampaignMonitorClient, *, actor: str) -> None:
    rules = SubscriberRule.objects.filter(client=client)
    RuleMatch.objects.filter(rule__in=rules).delete()
    rules.delete()
    PushedFields.objects.filter(list_id__in=FieldMapping.objects.filter(client=client).values("list_id")).delete()
    FieldMapping.objects.filter(client=client).delete()
    RecordCreation.objects.filter(client=client).delete()
    client_left_out.send(sender=CampaignMonitorClient, client=client, actor=actor)
    Cursor.objects.filter(client=client).delete()
    TrackingCoverage.objects.filter(client=client).delete()
    ClientLease.objects.filter(client=client).delete()  # a running sync of it stops at its next heartbeat
    SyncRun.objects.filter(client=client, status=SyncRun.Status.QUEUED).update(
        status=SyncRun.Status.FAILED, message="the client was left unselected", finished_at=timezone.now()
    )
    client.security_owner_id = client.security_owner_name = ""
    client.selected = False
    client.save(update_fields=["security_owner_id", "security_owner_name", "selected"])


def choices(summaries: Iterable[ClientSummary]) -> list[ClientChoice]:
    known = {c.cm_client_id: c for c in CampaignMonitorClient.objects.all()}
    found = []
    for summary in summaries:
        client = known.get(summary.client_id)
        selected = bool(client and client.selected and client.active)
        found.append(
            ClientChoice(summary.client_id, summary.name, client, selected, configuration_of(client) if client else [])
        )
    return sorted(found, key=lambda choice: choice.name.lower())


def account_choices() -> list[ClientChoice]:
    """The connected account's clients as Campaign Monitor lists them now (one call), with cmsf's selection."""
    cm = connections.campaign_monitor()
    try:
        return choices(cm.clients())
    finally:
        cm.transport.close()


def _check_plan(selected: set[str], now: datetime) -> None:
    if not selected:
        raise ClientChoiceError("Select at least one client to sync.")
    plan = features(now)
    if len(selected) > 1 and not plan.agency_clients:
        raise ClientChoiceError(
            f"The {plan.plan.label} plan syncs one Campaign Monitor client: select one, or choose the Enterprise "
            "plan under Billing to sync an agency's sub-accounts."
        )


def _apply_selection(
    cm_clients: list[ClientSummary], selected: set[str], details: dict[str, tuple[str, str]], *, actor: str
) -> tuple[list[str], list[str]]:
    """Create rows for newly selected clients, update names, and remove the configuration of the unselected."""
    listed = {summary.client_id for summary in cm_clients}
    unknown = selected - listed
    if unknown:
        raise ClientChoiceError(f"Campaign Monitor does not list the client {', '.join(sorted(unknown))} any more.")
    added, removed = [], []
    for summary in cm_clients:
        client = CampaignMonitorClient.objects.filter(cm_client_id=summary.client_id).first()
        if summary.client_id in selected:
            name, zone = details.get(summary.client_id, (summary.name, client.time_zone if client else ""))
            if client is None:
                CampaignMonitorClient.objects.create(cm_client_id=summary.client_id, name=name, time_zone=zone)
                added.append(summary.client_id)
            else:
                if not (client.selected and client.active):
                    added.append(summary.client_id)
                client.name, client.time_zone, client.selected, client.active = name, zone, True, True
                client.save(update_fields=["name", "time_zone", "selected", "active"])
        elif client is not None and (client.selected or configuration_of(client)):
            _remove_configuration(client, actor=actor)
            removed.append(summary.client_id)
    # Clients the account no longer lists cannot be synced.
    CampaignMonitorClient.objects.exclude(cm_client_id__in=listed).update(active=False, selected=False)
    return added, removed


def select_clients(selected_ids: Iterable[str], *, actor: str, now: datetime | None = None) -> list[ClientChoice]:
    """Save the Select Clients dialog: sync exactly these clients of the connected account."""
    selected = set(selected_ids)
    _check_plan(selected, now or timezone.now())
    cm = connections.campaign_monitor()
    try:
        listed = cm.clients()
        details = _new_client_details(cm, selected)
    finally:
        cm.transport.close()
    before = sorted(
        CampaignMonitorClient.objects.filter(selected=True, active=True).values_list("cm_client_id", flat=True)
    )
    with transaction.atomic():
        added, removed = _apply_selection(listed, selected, details, actor=actor)
        audit(
            actor=actor,
            section="sync",
            action="Select the Campaign Monitor clients",
            before={"selected": before},
            after={"selected": sorted(selected), "added": added, "removed": removed},
        )
    _remove_webhooks(ListWebhook.objects.exclude(client__cm_client_id__in=selected))
    return choices(listed)


# -- Reconnect to Campaign Monitor ---------------------------------------------------------------------------


@dataclass
class ReconnectPreview:
    account_name: str
    clients: list[ClientChoice]


def _new_client_details(cm: CampaignMonitor, selected: set[str]) -> dict[str, tuple[str, str]]:
    """Name and time zone of the selected clients cmsf has not seen yet (a call each, never for known ones)."""
    known = set(CampaignMonitorClient.objects.values_list("cm_client_id", flat=True))
    return {cid: (d.name, d.time_zone) for cid in selected - known for d in [cm.client(cid)]}


def _with_key(api_key: str) -> CampaignMonitor:
    """A Campaign Monitor client with new credentials, at the connected account's address; nothing is stored."""
    account = CampaignMonitorAccount.load()
    trial = CampaignMonitorAccount(
        auth_method=CampaignMonitorAccount.AuthMethod.API_KEY,
        api_key=api_key,
        api_base_url=account.api_base_url,
        ca_file=account.ca_file,
    )
    return connections.campaign_monitor(trial)


def preview_reconnect(api_key: str) -> ReconnectPreview:
    """Check new credentials against Campaign Monitor without storing them: they must reach the same account
    (at least one client cmsf knows) unless no account was connected before."""
    cm = _with_key(api_key)
    try:
        return _preview(cm)
    finally:
        cm.transport.close()


def _preview(cm: CampaignMonitor) -> ReconnectPreview:
    listed = cm.clients()
    known = set(CampaignMonitorClient.objects.values_list("cm_client_id", flat=True))
    if known and not known & {s.client_id for s in listed}:
        raise ClientChoiceError(
            "These credentials belong to another Campaign Monitor account. Reconnect with a full-access user "
            "added to the account that was connected before."
        )
    name = listed[0].name if len(listed) == 1 else f"Agency account ({len(listed)} clients)"
    return ReconnectPreview(name, choices(listed))


def reconnect(api_key: str, selected_ids: Iterable[str], *, actor: str, now: datetime | None = None) -> None:
    """Store the new credentials (only the credentials change) and the client selection."""
    selected = set(selected_ids)
    _check_plan(selected, now or timezone.now())
    cm = _with_key(api_key)
    try:
        preview = _preview(cm)  # checks again: the same account, and the clients it lists now
        details = _new_client_details(cm, selected)
    finally:
        cm.transport.close()
    listed = [ClientSummary(choice.client_id, choice.name) for choice in preview.clients]
    account = CampaignMonitorAccount.load()
    with transaction.atomic():
        before = {"connected": account.is_connected, "account": account.account_name}
        account.auth_method = CampaignMonitorAccount.AuthMethod.API_KEY
        account.api_key = api_key
        account.oauth_access_token = account.oauth_refresh_token = ""
        account.oauth_expires_at = None
        account.account_name = preview.account_name
        account.is_agency = len(listed) > 1
        account.connected_at = timezone.now()
        account.save()
        added, removed = _apply_selection(listed, selected, details, actor=actor)
        audit(
            actor=actor,
            section="connections",
            action="Reconnect to Campaign Monitor",
            before=before,
            after={
                "connected": True,
                "account": account.account_name,
                "selected": sorted(selected),
                "added": added,
                "configuration_removed_for": removed,
            },
        )


# -- Disconnect from Campaign Monitor -----------------------------------------------------------------------


def disconnect(*, actor: str) -> None:
    """Stop the jobs, remove cmsf's webhooks from the lists, remove the credentials and reset the clients'
    ownership. A webhook Campaign Monitor would not remove is a maintenance message; the disconnect goes on (a
    webhook left behind is refused by cmsf, its secret gone)."""
    now = timezone.now()
    _remove_webhooks()
    with transaction.atomic():
        account = CampaignMonitorAccount.load()
        before = {"connected": account.is_connected, "account": account.account_name}
        account.webhook_secret = ""
        account.auth_method = ""
        account.api_key = account.oauth_access_token = account.oauth_refresh_token = ""
        account.oauth_expires_at = None
        account.connected_at = None
        account.save()
        _stop_runs("Campaign Monitor was disconnected", now)
        CampaignMonitorClient.objects.update(security_owner_id="", security_owner_name="")
        audit(
            actor=actor,
            section="connections",
            action="Disconnect from Campaign Monitor",
            before=before,
            after={"connected": False},
        )


def _stop_runs(why: str, now: datetime) -> None:
    """Queued runs fail with the reason, running ones stop at their next heartbeat, and none is scheduled."""
    SyncRun.objects.filter(status=SyncRun.Status.QUEUED).update(
        status=SyncRun.Status.FAILED, message=why, finished_at=now
    )
    ClientLease.objects.all().delete()  # running syncs stop at their next heartbeat
    SyncSettings.objects.filter(pk=SyncSettings.load().pk).update(next_run=None)


def disconnect_salesforce(*, actor: str) -> None:
    """Disconnect Salesforce: stop the jobs as Disconnect from Campaign Monitor does, and remove the org's
    credentials (`connections.services.disconnect_salesforce`)."""
    with transaction.atomic():
        _stop_runs("Salesforce was disconnected", timezone.now())
        connections.disconnect_salesforce(actor=actor)


# -- the public URL, where Campaign Monitor posts list webhooks -------------------------------------------------


def set_public_url(value: str, *, actor: str) -> bool:
    """Store the public URL an admin gave ("" clears it), checked by the model's field; audited. The webhooks follow
    on the queue once this commits: a new address registers every list there and removes the old webhooks; a
    cleared one removes them. Raises ValidationError for an address that cannot be used; False when unchanged."""
    with transaction.atomic():
        stored = SyncSettings.load()
        before = stored.public_url
        stored.public_url = value.strip()
        try:
            stored.full_clean()
        except ValidationError as error:
            raise ValidationError({"public_url": error.message_dict.get("public_url", error.messages)}) from None
        if stored.public_url == before:
            return False
        SyncSettings.objects.filter(pk=stored.pk).update(public_url=stored.public_url)
        audit(actor=actor, section="options", action="Set the public URL of the webhooks",
              before={"public_url": before}, after={"public_url": stored.public_url})  # fmt: skip
        public_url_changed()
    return True


def public_url_changed() -> None:
    """The public URL was stored by an admin (the console, `cmsf config import`, `cmsf init --public-url`): it is
    theirs from now on (CMSF_PUBLIC_URL no longer seeds it), and the webhooks follow it once this commits."""
    SyncSettings.objects.filter(pk=1).update(public_url_set_at=timezone.now())  # pk, not load(): nothing seeds now
    transaction.on_commit(tasks.follow_public_url)


def _remove_webhooks(hooks: QuerySet[ListWebhook] | None = None) -> None:
    """Remove cmsf's webhooks (all, or of the clients no longer synced)."""
    hooks = hooks if hooks is not None else ListWebhook.objects.all()
    if not hooks.exists():
        return
    try:
        webhooks.remove(connections.campaign_monitor(), hooks)
    except (CampaignMonitorError, connections.NotConnected) as error:
        hooks.delete()
        record_message(
            support_code="CMSF-WEBHOOKS",
            job="CMSF_SYNC",
            message="Campaign Monitor's webhooks could not be removed.",
            details=str(error),
            guidance=support_codes.guidance("CMSF-WEBHOOKS"),
        )


# -- the Salesforce Security Owner ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SalesforceUser:
    user_id: str
    name: str
    email: str


def active_salesforce_users(search: str = "", *, limit: int = 200) -> list[SalesforceUser]:
    """Active users of the org to choose an owner from (one query), filtered by name or email."""
    where = "IsActive = true"
    if search.strip():
        term = soql.contains(search.strip())
        where += f" AND (Name LIKE {term} OR Email LIKE {term})"
    adapter = connections.salesforce()
    try:
        rows = adapter.query(f"SELECT Id, Name, Email FROM User WHERE {where} ORDER BY Name LIMIT {int(limit)}")
        return [SalesforceUser(str(r["Id"]), str(r.get("Name") or ""), str(r.get("Email") or "")) for r in rows]
    finally:
        adapter.session.close()


SYNC_USER = "sync-user"  # the choice that clears the owner: records are owned by the Salesforce Sync User again


def set_security_owner(client_pk: int, user_id: str, *, actor: str) -> CampaignMonitorClient:
    """Records of this client are created under this Salesforce user (an active user of the org), or, with
    SYNC_USER, under the Salesforce Sync User again (the user cmsf connects as)."""
    client = CampaignMonitorClient.objects.get(pk=client_pk)
    if user_id == SYNC_USER:
        return _owned_by(client, "", "", actor=actor)
    if not user_id.isalnum() or len(user_id) not in (15, 18):
        raise ClientChoiceError("Choose a Salesforce user from the list.")
    adapter = connections.salesforce()
    try:
        found = list(adapter.query(f"SELECT Id, Name, IsActive FROM User WHERE Id = {soql.quote(user_id)}"))
    finally:
        adapter.session.close()
    if not found:
        raise ClientChoiceError("The connected org has no such user.")
    if not found[0].get("IsActive"):
        raise ClientChoiceError(f"{found[0].get('Name')} is inactive in Salesforce: choose an active user.")
    return _owned_by(client, str(found[0]["Id"]), str(found[0].get("Name") or ""), actor=actor)


def _owned_by(client: CampaignMonitorClient, owner_id: str, name: str, *, actor: str) -> CampaignMonitorClient:
    """Store the owner (both empty: the Salesforce Sync User) and audit the change."""
    with transaction.atomic():
        before = {"owner": client.security_owner_name, "owner_id": client.security_owner_id}
        client.security_owner_id, client.security_owner_name = owner_id, name
        client.save(update_fields=["security_owner_id", "security_owner_name"])
        audit(
            actor=actor,
            section="sync",
            action=f"Change the Salesforce Security Owner of {client.name}",
            before=before,
            after={"owner": client.security_owner_name, "owner_id": client.security_owner_id},
        )
    return client


# -- API usage -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiUsage:
    used_today: int  # by every app of the org, since the org's day began (the org's own count)
    limit: int  # the org's daily API request limit
    budget: int  # the share of it cmsf stops at
    budget_percent: int
    cmsf_today: int  # counted by cmsf's runs since midnight UTC

    @property
    def used_percent(self) -> float:
        return 100.0 * self.used_today / self.limit if self.limit else 0.0


def api_usage(now: datetime | None = None) -> ApiUsage:
    """The org's API requests today against its limit and cmsf's budget (one call to /limits)."""
    now = now or timezone.now()
    org = SalesforceOrg.load()
    adapter = connections.salesforce(org)
    try:
        limits = adapter.limits().get("DailyApiRequests", {})
    finally:
        adapter.session.close()
    limit = int(limits.get("Max") or 0)
    used = limit - int(limits.get("Remaining") or 0)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    ours = sum(SyncRun.objects.filter(started_at__gte=midnight).values_list("sf_calls", flat=True))
    return ApiUsage(used, limit, limit * org.api_budget_percent // 100, org.api_budget_percent, ours)
