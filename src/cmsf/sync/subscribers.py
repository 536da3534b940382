"""One subscriber at a time, as asked from outside cmsf (the HTTP API's Flow actions): added or updated in a list,
or unsubscribed from one list or from every list of the selected clients. Every change goes through `sync.outbound`,
so Disable triggers, "prevent adding opted-out records", the suppression list, forgotten people and "Trigger
journeys" are obeyed here as everywhere, and each change is in the audit log."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from cmsf.campaign_monitor.api import CampaignMonitor
from cmsf.campaign_monitor.records import SubscriberInput
from cmsf.connections import services as connections
from cmsf.connections.models import CampaignMonitorClient
from cmsf.salesforce import soql
from cmsf.sync import forget
from cmsf.sync.outbound import ANY_ZONE, Outbound, Refused

CONSENT_TO_TRACK = ("Yes", "No", "Unchanged")
ACTIVE_STATES = ("Active", "Unconfirmed")


class UnknownList(Exception):
    """The list is not one of the selected clients' lists."""


@dataclass(frozen=True)
class Unsubscribed:
    lists: list[str]  # the lists the address was unsubscribed from (it was active in each)


def checked_email(email: str) -> str:
    """The address without surrounding spaces; ValueError for something that is not one."""
    email = email.strip()
    try:
        validate_email(email)
    except ValidationError:
        raise ValueError(f"{email!r} is not an email address") from None
    return email


def client_of_list(cm: CampaignMonitor, list_id: str) -> CampaignMonitorClient:
    """The selected client that owns the list (one call per selected client)."""
    for client in CampaignMonitorClient.objects.filter(selected=True, active=True).order_by("name"):
        if any(lst.list_id == list_id for lst in cm.lists(client.cm_client_id)):
            return client
    raise UnknownList(f"{list_id!r} is not a list of the clients cmsf syncs")


def opted_out_in_salesforce(email: str) -> bool:
    """True when a Contact or Lead with this address has Email Opt Out checked (a query each, at most)."""
    sf = connections.salesforce()
    try:
        for sobject in ("Contact", "Lead"):
            text = f"SELECT Id FROM {sobject} WHERE Email = {soql.quote(email)} AND HasOptedOutOfEmail = true LIMIT 1"
            if any(True for _ in sf.query(text)):
                return True
    finally:
        sf.session.close()
    return False


def subscribe(
    *,
    list_id: str,
    email: str,
    name: str,
    custom_fields: dict[str, str],
    consent_to_track: str,
    resubscribe: bool,
    because: str,
) -> str:
    """Add or update the subscriber ("added", "updated" or "resubscribed"); raises `Refused` with the reason when
    the rules say no, `UnknownList`, `TriggersDisabled`, `NotConnected`, or the client's errors."""
    email = checked_email(email)
    if consent_to_track not in CONSENT_TO_TRACK:
        raise ValueError(f"consent to track is one of {', '.join(CONSENT_TO_TRACK)}")
    if forget.is_forgotten(email, forget.forgotten_hashes()):
        raise Refused("the address was forgotten on request: cmsf never adds it again")
    cm = connections.campaign_monitor()
    client = client_of_list(cm, list_id)
    subscriber = SubscriberInput(
        email=email,
        name=name,
        custom_fields=tuple(sorted(custom_fields.items())),
        consent_to_track=consent_to_track,
    )

    def suppressed() -> bool:
        key = email.lower()
        return any(s.email.lower() == key for s in cm.suppression_list(client.cm_client_id, zone=ANY_ZONE))

    return Outbound(cm).subscribe(
        list_id,
        subscriber,
        opted_out=lambda: opted_out_in_salesforce(email),
        suppressed=suppressed,
        resubscribe=resubscribe,
        because=because,
    )


def unsubscribe(*, email: str, list_id: str | None, because: str) -> Unsubscribed:
    """Unsubscribe the address from one list, or from every list of the selected clients where it is active
    (found with listsforemail, a call per client). An address not in the list is taken as done."""
    email = checked_email(email)
    cm = connections.campaign_monitor()
    out = Outbound(cm)
    if list_id is not None:
        client_of_list(cm, list_id)
        out.unsubscribe(list_id, email, because=because)
        return Unsubscribed([list_id])
    lists: list[str] = []
    for client in CampaignMonitorClient.objects.filter(selected=True, active=True).order_by("name"):
        for entry in cm.lists_for_email(client.cm_client_id, email):
            if entry.get("ListID") and entry.get("SubscriberState") in ACTIVE_STATES:
                out.unsubscribe(str(entry["ListID"]), email, because=because)
                lists.append(str(entry["ListID"]))
    return Unsubscribed(lists)


__all__ = ["Refused", "UnknownList", "Unsubscribed", "checked_email", "subscribe", "unsubscribe"]
