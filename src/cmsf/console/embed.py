"""A person's email history, read live from Campaign Monitor and never stored, and the signed links that let a
Salesforce page show it without signing in to cmsf.

This is the counterpart of the product's Lightning component: with days to keep at 0 nothing of the tracking
history is stored in Salesforce, and a Web Tab or a Web Link on the Contact and Lead pages shows it from here.

Each link is a record (`EmbedLink`: who made it, for which Salesforce domain, until when; 30 days by default, 365 at
most), listed under Storage, where an admin can revoke it. The token carries the record's id, signed with the site's
secret (`django.core.signing`), and is kept nowhere (the logs redact it, `lib.redact`); a changed, cut, revoked or
expired link is refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.core import signing
from django.db import transaction

from cmsf.campaign_monitor import timezones
from cmsf.campaign_monitor.api import CampaignMonitor
from cmsf.campaign_monitor.errors import CampaignMonitorError
from cmsf.connections import services as connections
from cmsf.connections.models import CampaignMonitorClient, SalesforceOrg
from cmsf.console.models import EmbedLink
from cmsf.maintenance.services import audit, record_message
from cmsf.sync import transactional
from cmsf.sync.models import SmartEmailMessage

SALT = "cmsf.console.email-history-link"
MIN_DAYS, MAX_DAYS, DEFAULT_DAYS = 1, 365, 30
DEFAULT_ZONE = "(GMT) Coordinated Universal Time"
NOT_IN_LIST = 203  # Campaign Monitor's "Subscriber Not In List"
SALESFORCE_FRAMERS = ("https://*.force.com", "https://*.salesforce.com")


# -- the signed link ------------------------------------------------------------------------------------


class InvalidLink(Exception):
    """The link is missing, was changed, was revoked, or has expired."""


@dataclass(frozen=True)
class Link:
    token: str
    days: int
    expires_at: datetime
    record: EmbedLink


def default_domain() -> str:
    """The connected org's host, the Salesforce domain a new link is for unless the admin names another."""
    instance = SalesforceOrg.objects.values_list("instance_url", flat=True).first()  # a page view writes no row
    return urlsplit(instance or "").netloc


def create_link(days: int, *, actor: str, now: datetime, salesforce_domain: str = "") -> Link:
    """A new link valid for `days` days (1 to 365), kept as a record (who made it, for which Salesforce domain,
    until when) and audited. The token carries the record's id, signed; the token itself is kept nowhere."""
    if not MIN_DAYS <= days <= MAX_DAYS:
        raise ValueError(f"A link is valid for {MIN_DAYS} to {MAX_DAYS} days.")
    with transaction.atomic():
        record = EmbedLink.objects.create(
            created_by=actor, salesforce_domain=salesforce_domain or default_domain(), created_at=now,
            expires_at=now + timedelta(days=days),
        )  # fmt: skip
        audit(
            actor=actor,
            section="storage",
            action="Create an email history link",
            before={},
            after={
                "link": record.pk,
                "salesforce_domain": record.salesforce_domain,
                "days_valid": days,
                "expires_at": record.expires_at.isoformat(),
            },
        )
    token = signing.dumps({"link": record.pk}, salt=SALT)
    return Link(token=token, days=days, expires_at=record.expires_at, record=record)


def check_link(token: str, *, now: datetime) -> EmbedLink:
    """The link's record; raises InvalidLink when the token is missing or changed, or the link was revoked or has
    expired."""
    if not token:
        raise InvalidLink("This link has no signature: ask your cmsf admin for a new link.")
    try:
        payload = signing.loads(token, salt=SALT)
        record = EmbedLink.objects.get(pk=int(payload["link"]))
    except (signing.BadSignature, EmbedLink.DoesNotExist, KeyError, TypeError, ValueError) as error:
        raise InvalidLink("This link is not valid: ask your cmsf admin for a new link.") from error
    if record.revoked_at is not None:
        raise InvalidLink("This link was revoked: ask your cmsf admin for a new link.")
    if record.expires_at <= now:
        raise InvalidLink("This link has expired: ask your cmsf admin for a new link.")
    return record


def links() -> list[EmbedLink]:
    """Every link, newest first, for the console's list."""
    return list(EmbedLink.objects.all())


def revoke_link(pk: int, *, actor: str, now: datetime) -> EmbedLink | None:
    """Revoke a link (audited): it is refused from now on. None when there is no such link; revoking twice changes
    nothing."""
    with transaction.atomic():
        record = EmbedLink.objects.select_for_update().filter(pk=pk).first()
        if record is None or record.revoked_at is not None:
            return record
        record.revoked_at, record.revoked_by = now, actor
        record.save(update_fields=["revoked_at", "revoked_by"])
        audit(
            actor=actor,
            section="storage",
            action="Revoke an email history link",
            before={"link": pk, "revoked": False},
            after={"link": pk, "revoked": True, "salesforce_domain": record.salesforce_domain},
        )
    return record


def framers() -> list[str]:
    """Who may frame the embedded history (the Content-Security-Policy's frame-ancestors): cmsf, the connected org's
    pages and Salesforce's own domains, nobody else."""
    sources = ["'self'"]
    instance = SalesforceOrg.load().instance_url
    if instance:
        parts = urlsplit(instance)
        if parts.scheme and parts.netloc:
            sources.append(f"{parts.scheme}://{parts.netloc}")
    sources.extend(SALESFORCE_FRAMERS)
    return sources


# -- the history ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    event: str  # Open, Click, Bounce, Unsubscribe, ...
    date: datetime | None  # UTC
    ip_address: str
    detail: str  # the link clicked, the bounce reason


@dataclass
class CampaignHistory:
    campaign_id: str
    name: str
    client: str
    lists: list[str] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)

    @property
    def newest(self) -> datetime | None:
        dates = [a.date for a in self.actions if a.date is not None]
        return max(dates) if dates else None


@dataclass(frozen=True)
class Membership:
    client: str
    list_name: str
    state: str
    added: datetime | None


@dataclass
class EmailHistory:
    email: str
    memberships: list[Membership] = field(default_factory=list)
    campaigns: list[CampaignHistory] = field(default_factory=list)
    smart_emails: list[SmartEmailMessage] = field(default_factory=list)  # sends cmsf recorded, newest first

    @property
    def actions(self) -> int:
        return sum(len(c.actions) for c in self.campaigns)


def _when(text: Any, zone: str) -> datetime | None:
    try:
        return timezones.parse(str(text or ""), zone)
    except ValueError:
        return None


def _clients() -> list[CampaignMonitorClient]:
    return list(CampaignMonitorClient.objects.filter(selected=True, active=True).order_by("name"))


def email_history(email: str, *, cm: CampaignMonitor | None = None) -> EmailHistory:
    """The lists the address is on and its campaigns with their actions, newest first, for every selected
    client: one call per client, then one per list the address is on; and the smart emails sent to it that cmsf
    recorded, with their status as last read. Nothing is written anywhere.

    Raises connections.NotConnected, or CampaignMonitorError when Campaign Monitor fails."""
    own = cm is None
    cm = cm or connections.campaign_monitor()
    history = EmailHistory(email=email)
    try:
        for client in _clients():
            zone = client.time_zone or DEFAULT_ZONE
            campaigns: dict[str, CampaignHistory] = {}
            for membership in cm.lists_for_email(client.cm_client_id, email):
                list_id, list_name = str(membership.get("ListID", "")), str(membership.get("ListName", ""))
                history.memberships.append(
                    Membership(
                        client=client.name,
                        list_name=list_name,
                        state=str(membership.get("SubscriberState", "")),
                        added=_when(membership.get("DateSubscriberAdded"), zone),
                    )
                )
                try:
                    entries = cm.subscriber_history(list_id, email)
                except CampaignMonitorError as error:
                    if error.code == NOT_IN_LIST:
                        continue  # left the list between the two calls
                    raise
                _merge(campaigns, entries, client=client.name, list_name=list_name, zone=zone)
            history.campaigns.extend(campaigns.values())
    finally:
        if own:
            cm.transport.close()
    for campaign in history.campaigns:
        campaign.actions.sort(key=_newest_first)
    history.campaigns.sort(key=lambda c: _newest_first_date(c.newest))
    history.smart_emails = transactional.recent_sends(email)
    return history


def _merge(
    campaigns: dict[str, CampaignHistory],
    entries: Iterable[dict[str, Any]],
    *,
    client: str,
    list_name: str,
    zone: str,
) -> None:
    """A list's history into the client's campaigns: a campaign sent to two of the address's lists is shown
    once, with each action once."""
    for entry in entries:
        campaign_id = str(entry.get("ID", ""))
        campaign = campaigns.get(campaign_id)
        if campaign is None:
            campaign = campaigns[campaign_id] = CampaignHistory(campaign_id, str(entry.get("Name", "")), client)
        if list_name not in campaign.lists:
            campaign.lists.append(list_name)
        seen = set(campaign.actions)
        for item in entry.get("Actions") or ():
            action = Action(
                event=str(item.get("Event", "")),
                date=_when(item.get("Date"), zone),
                ip_address=str(item.get("IPAddress", "") or ""),
                detail=str(item.get("Detail", "") or ""),
            )
            if action not in seen:
                seen.add(action)
                campaign.actions.append(action)


@dataclass(frozen=True)
class Reading:
    history: EmailHistory | None
    not_connected: bool = False
    problem: str = ""  # what failed and what to do; also a maintenance message


def read_email_history(email: str) -> Reading:
    """The history of `email`, or why it cannot be shown (a Campaign Monitor failure is also a maintenance
    message)."""
    try:
        return Reading(email_history(email))
    except connections.NotConnected:
        return Reading(None, not_connected=True)
    except CampaignMonitorError as error:
        message = "Campaign Monitor did not give the email history."
        guidance = (
            "Try again in a few minutes. If it keeps failing, reconnect Campaign Monitor under Sync Settings."
            if error.kind != "configuration"
            else "Reconnect Campaign Monitor under Sync Settings: its credentials no longer work."
        )
        record_message(
            support_code="CMSF-EMAIL-HISTORY", job="CMSF_EMAIL_HISTORY", message=message, details=str(error),
            guidance=guidance,
        )  # fmt: skip
        return Reading(None, problem=f"{message} ({error}) {guidance}")


_OLDEST = datetime.min.replace(tzinfo=UTC)


def _newest_first_date(moment: datetime | None) -> tuple[int, float]:
    # no date (a campaign received, no action yet) after every dated one
    return (1, 0.0) if moment is None else (0, -(moment - _OLDEST).total_seconds())


def _newest_first(action: Action) -> tuple[int, float]:
    return _newest_first_date(action.date)
