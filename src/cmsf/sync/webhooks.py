"""Real time beyond the hourly sync: Campaign Monitor list webhooks.

When `CMSF_PUBLIC_URL` is set, cmsf registers one webhook (Subscribe, Deactivate, Update; JSON) on every list of
the selected clients, at `{CMSF_PUBLIC_URL}/hooks/campaign-monitor/{secret}`; the secret is random, kept encrypted
with the account, and a POST without it is refused. The primary sync registers the lists it has not registered
yet (no call once all are), and removes them when the URL is no longer set; disconnecting removes them all.

A POSTed batch is stored event by event, each under a hash of what it says, so that a batch delivered twice counts
once; a queue job then applies the events in the order received: the membership rows (`CMSF_Subscriber__c`) in
Salesforce through the writer and its ledger (an email changed in Campaign Monitor renames the row, it does not
add one), the field mappings of the list toward Salesforce (the preference centre's edits), and the opt-out rule
of General Options for the people left with no active list. The hourly sync
remains the safety net: it reads the same changes again and finds them written.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from cmsf.campaign_monitor.api import NOT_IN_LIST, CampaignMonitor, webhook_batch
from cmsf.campaign_monitor.errors import FatalError
from cmsf.campaign_monitor.records import Subscriber
from cmsf.campaign_monitor.records import WebhookEvent as Event
from cmsf.connections import services as connections
from cmsf.connections.models import CampaignMonitorAccount, CampaignMonitorClient
from cmsf.maintenance.models import GovernorLimit
from cmsf.options.models import GeneralOptions
from cmsf.salesforce.adapter import SalesforceAdapter
from cmsf.sync import forget, mapped_fields, opt_out
from cmsf.sync.directory import load as load_directory
from cmsf.sync.matching import Link
from cmsf.sync.models import ListWebhook, RecordMap, WebhookEvent
from cmsf.sync.transforms import SUBSCRIBER, member_key, subscriber_row
from cmsf.sync.writer import Writer, WriteTally

HOOK_PATH = "hooks/campaign-monitor/"
EVENTS = ("Subscribe", "Deactivate", "Update")
UNKNOWN_FROM_EVENTS = ("Date_Added__c", "Consent_To_Track__c", "Mobile_Number__c", "Consent_To_Send_SMS__c")
APPLY_AT_ONCE = 5_000
KEEP_APPLIED = timedelta(days=7)  # applied events are kept this long, for the console's figures and for support


class UnknownHook(Exception):
    """A POST to a webhook URL whose secret is not cmsf's."""


def enabled() -> bool:
    return bool(settings.CMSF_PUBLIC_URL)


def _url(secret: str) -> str:
    return f"{settings.CMSF_PUBLIC_URL}/{HOOK_PATH}{secret}"


def _secret() -> str:
    account = CampaignMonitorAccount.load()
    if not account.webhook_secret:
        account.webhook_secret = secrets.token_urlsafe(32)
        account.save(update_fields=["webhook_secret"])
    return account.webhook_secret


# -- registering -----------------------------------------------------------------------------------------


def ensure(cm: CampaignMonitor, client: CampaignMonitorClient, list_ids: Iterable[str]) -> int:
    """Register cmsf's webhook on the client's lists that have none yet (and forget those of lists gone); with no
    public URL, remove the client's webhooks. Returns how many webhooks were created or removed."""
    if not enabled():
        return remove(cm, ListWebhook.objects.filter(client=client))
    url = _url(_secret())
    wanted = set(list_ids)
    changed = remove(cm, ListWebhook.objects.filter(client=client).exclude(list_id__in=wanted))
    known = dict(ListWebhook.objects.filter(client=client).values_list("list_id", "url"))
    for list_id in sorted(wanted):
        if known.get(list_id) == url:
            continue
        hook_id = ""
        for hook in cm.webhooks(list_id):
            if hook.url == url:
                hook_id = hook.webhook_id
            elif hook.url.startswith(f"{settings.CMSF_PUBLIC_URL}/{HOOK_PATH}") or hook.url == known.get(list_id):
                _delete(cm, list_id, hook.webhook_id)  # cmsf's own, under an older secret or address
        if not hook_id:
            hook_id = cm.create_webhook(list_id, events=EVENTS, url=url, payload_format="json")
            changed += 1
        ListWebhook.objects.update_or_create(
            list_id=list_id,
            defaults={"client": client, "webhook_id": hook_id, "url": url, "registered_at": timezone.now()},
        )
    return changed


def remove(cm: CampaignMonitor, hooks: Iterable[ListWebhook] | None = None) -> int:
    """Remove cmsf's webhooks from Campaign Monitor (all of them by default)."""
    removed = 0
    for hook in list(hooks if hooks is not None else ListWebhook.objects.all()):
        _delete(cm, hook.list_id, hook.webhook_id)
        hook.delete()
        removed += 1
    return removed


def _delete(cm: CampaignMonitor, list_id: str, webhook_id: str) -> None:
    try:
        cm.delete_webhook(list_id, webhook_id)
    except FatalError as error:
        if error.status != 404 and error.code not in (NOT_IN_LIST, 600, 601):
            raise  # gone already (the list or the webhook) is what was wanted


# -- receiving -------------------------------------------------------------------------------------------


def receive(secret: str, body: bytes) -> int:
    """Store the events of a POSTed batch; how many were new. Raises UnknownHook for a wrong secret and ValueError
    for a body that is not a webhook batch."""
    known = CampaignMonitorAccount.load().webhook_secret
    if not known or not hmac.compare_digest(secret.encode(), known.encode()):
        raise UnknownHook("not a webhook of cmsf")
    list_id, events = webhook_batch(body)
    if not ListWebhook.objects.filter(list_id=list_id).exists():
        return 0  # a list cmsf no longer watches: nothing to keep
    now, added = timezone.now(), 0
    forgotten = forget.forgotten_hashes()
    with transaction.atomic():
        for event in events:
            if event.get("Type") not in EVENTS:
                continue
            emails = (str(event.get("EmailAddress") or ""), str(event.get("OldEmailAddress") or ""))
            if any(e and forget.is_forgotten(e, forgotten) for e in emails):
                continue  # a person forgotten on request: not kept, not written
            key = hashlib.sha1(json.dumps([list_id, event], sort_keys=True).encode()).hexdigest()
            _, created = WebhookEvent.objects.get_or_create(
                key=key, defaults={"list_id": list_id, "kind": event["Type"], "payload": event, "received_at": now}
            )
            added += created
    return added


# -- applying --------------------------------------------------------------------------------------------


@dataclass
class Applied:
    events: int = 0
    written: int = 0
    renamed: int = 0
    opted_out: int = 0
    problems: list[str] = field(default_factory=list)


def register_all(cm: CampaignMonitor | None = None) -> int:
    """`ensure` for every selected client, from its lists in Campaign Monitor."""
    cm = cm or connections.campaign_monitor()
    changed = 0
    for client in CampaignMonitorClient.objects.filter(active=True, selected=True):
        changed += ensure(cm, client, [summary.list_id for summary in cm.lists(client.cm_client_id)])
    changed += remove(cm, ListWebhook.objects.exclude(client__active=True, client__selected=True))
    return changed


def apply_pending(sf: SalesforceAdapter | None = None) -> Applied:
    """Apply the events received and not applied yet, in the order received."""
    applied = Applied()
    pending = list(WebhookEvent.objects.filter(applied_at=None).order_by("pk")[:APPLY_AT_ONCE])
    if not pending:
        return applied
    sf = sf or connections.salesforce()
    hooks = {h.list_id: h for h in ListWebhook.objects.select_related("client")}
    directory = load_directory(sf)
    gone: set[str] = set()
    # (client, list, email) -> its last state and row, and its subscriber and link (for field mappings)
    latest: dict[tuple[int, str, str], tuple[str, dict[str, Any], Subscriber, Link]] = {}
    renames: list[tuple[int, str, str]] = []  # (client, old key, new key)
    forgotten = forget.forgotten_hashes()
    for stored in pending:
        hook = hooks.get(stored.list_id)
        if hook is None:
            continue
        client = hook.client
        event = Event.from_api(stored.payload, client.time_zone)
        if forget.is_forgotten(event.email, forgotten):
            continue
        state = "Active" if event.type == "Subscribe" else event.state
        subscriber = Subscriber(email=event.email, name=event.name, state=state, date=event.date,
                                list_joined_date=None, custom_fields=event.custom_fields, consent_to_track="",
                                consent_to_send_sms="", mobile_number="", reads_email_with="")  # fmt: skip
        link = directory.link(event.email, event.custom_fields)
        row = subscriber_row(stored.list_id, subscriber, link, owner_id=client.security_owner_id)
        for name in UNKNOWN_FROM_EVENTS:  # not in an event: what the sync wrote stays
            row.pop(name, None)
        if event.type == "Update":
            row.pop("State_Changed__c", None)  # an update (a name, an email) is not a change of state
        if event.type == "Update" and event.old_email and event.old_email.lower() != event.email.lower():
            renames.append((client.pk, member_key(stored.list_id, event.old_email), row[SUBSCRIBER[1]]))
            latest.pop((client.pk, stored.list_id, event.old_email.lower()), None)
        latest[(client.pk, stored.list_id, event.email.lower())] = (state, row, subscriber, link)
        applied.events += 1
    for client_id, old_key, new_key in renames:
        applied.renamed += _rename(sf, client_id, old_key, new_key, applied)
    by_client: dict[int, list[dict[str, Any]]] = {}
    for (client_id, _, _), (state, row, _, _) in latest.items():
        by_client.setdefault(client_id, []).append(row)
        if state in opt_out.GONE:
            gone.update(p for p in (row.get("Contact__c"), row.get("Lead__c")) if p)
    for client_id, rows in by_client.items():
        tally = WriteTally()
        Writer(adapter=sf, client_id=client_id, dry_run=False, tally=tally).write(
            SUBSCRIBER, rows, batch_size=GovernorLimit.batch_size_for("CMSF_SUBSCRIBER_SYNC")
        )
        _mapped_fields(sf, client_id, latest, tally)
        applied.written += sum(tally.written.values())
        applied.problems += [f"{f.key}: {f.error.code}: {f.error.message}" for f in tally.failures]
    if gone and GeneralOptions.load().opt_out_when_unsubscribed_everywhere:
        result = opt_out.opt_out_everywhere(sf, gone)
        applied.opted_out = len(result.checked)
        applied.problems += [f"{person}: {error.code}: {error.message}" for person, error in result.failed]
    outcome = f"applied: {applied.written} membership rows written, {applied.opted_out} opted out"
    if applied.problems:
        outcome += f"; {len(applied.problems)} refused: " + "; ".join(applied.problems[:5])
    now = timezone.now()
    WebhookEvent.objects.filter(pk__in=[e.pk for e in pending]).update(applied_at=now, outcome=outcome)
    WebhookEvent.objects.filter(applied_at__lt=now - KEEP_APPLIED).delete()  # the events hold emails: not for long
    return applied


def _mapped_fields(
    sf: SalesforceAdapter,
    client_id: int,
    latest: dict[tuple[int, str, str], tuple[str, dict[str, Any], Subscriber, Link]],
    tally: WriteTally,
) -> None:
    """The field mappings of the client's lists toward Salesforce, from the events' custom fields (the preference
    centre's edits arrive as Update events)."""
    inbound = mapped_fields.Inbound.load(client_id)
    if inbound is None:
        return
    for (client, list_id, _), (_, _, subscriber, link) in latest.items():
        if client == client_id:
            inbound.gather(list_id, subscriber, link)
    writer = Writer(adapter=sf, client_id=client_id, dry_run=False, tally=tally)
    inbound.write(writer, sf, tally, batch_size=GovernorLimit.batch_size_for(mapped_fields.JOB))


def _rename(sf: SalesforceAdapter, client_id: int, old_key: str, new_key: str, applied: Applied) -> int:
    """An email changed in Campaign Monitor: the row under the old key takes the new one (and so does the ledger),
    unless a row already holds the new key; the upsert of the event's row then writes the new email."""
    entry = RecordMap.objects.filter(sobject=SUBSCRIBER[0], key=old_key).first()
    if entry is None or RecordMap.objects.filter(sobject=SUBSCRIBER[0], key=new_key).exists():
        return 0
    result = sf.update(SUBSCRIBER[0], [{"Id": entry.salesforce_id, SUBSCRIBER[1]: new_key}])[0]  # then the row
    if not result.success:
        applied.problems.append(f"{old_key}: " + "; ".join(f"{e.code}: {e.message}" for e in result.errors))
        return 0
    RecordMap.objects.filter(pk=entry.pk).update(key=new_key, content_hash="")
    return 1
