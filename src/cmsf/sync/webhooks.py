"""Real time beyond the hourly sync: Campaign Monitor list webhooks.

The public URL (`SyncSettings.public_url`, set under General Options, by `cmsf config import` or `cmsf init
--public-url`; `CMSF_PUBLIC_URL` only seeds it, see the model) is where cmsf registers one webhook (Subscribe,
Deactivate, Update; JSON) on every list of the selected clients, at `{public URL}/hooks/campaign-monitor/{secret}`;
the secret is random, kept encrypted with the account and in the stored URLs (`ListWebhook.url`), compared in
constant time, and a POST without it is refused. The primary sync registers the lists it has not registered yet (no
call once all are). Webhooks are removed only when Campaign Monitor is
disconnected, a client is deselected, or an admin clears or changes the public URL (`follow_public_url`: a change
registers the new address and removes the old one); never because a process's environment lacks an address.

A POSTed batch is bounded (its size, its nesting) and then read event by event: each event's shape is checked
(`records.webhook_event_problem`), a bad one is quarantined alone and the others are kept; each is stored under a
hash of what it says, so that a batch delivered twice counts once. Events for a list cmsf does not watch are counted
(`UnwatchedWebhookList`), not dropped in silence. A queue job then applies the events in the order received, 200 at
a time: the membership rows (`CMSF_Subscriber__c`) in Salesforce through the writer and its ledger (an email changed
in Campaign Monitor renames the row, it does not add one), the field mappings of the list toward Salesforce (the
preference centre's edits), and the opt-out rule of General Options for the people left with no active list. When
applying a group fails, it is split in halves until the event at fault is alone; that event, or one whose row
Salesforce refused, is quarantined: a maintenance message (CMSF-WEBHOOK-EVENT), one line in the log, the event kept
30 days for download. When Salesforce does not answer, no event is at fault: they wait (CMSF-WEBHOOK-WAIT) and the
queue tries again. No exception leaves the job. The hourly sync remains the safety net: it reads the same changes
again and finds them written.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import InterfaceError, OperationalError, transaction
from django.db.models import F
from django.utils import timezone

from cmsf.campaign_monitor.api import NOT_IN_LIST, CampaignMonitor, webhook_batch
from cmsf.campaign_monitor.errors import CampaignMonitorError, FatalError
from cmsf.campaign_monitor.records import Subscriber, webhook_event_problem
from cmsf.campaign_monitor.records import WebhookEvent as Event
from cmsf.connections import services as connections
from cmsf.connections.models import CampaignMonitorAccount, CampaignMonitorClient
from cmsf.maintenance import observe, support_codes
from cmsf.maintenance.models import GovernorLimit
from cmsf.maintenance.services import record_message, resolve_cleared
from cmsf.options.models import GeneralOptions
from cmsf.salesforce.adapter import SalesforceAdapter
from cmsf.salesforce.errors import SalesforceError
from cmsf.sync import forget, mapped_fields, opt_out
from cmsf.sync.directory import Directory
from cmsf.sync.directory import load as load_directory
from cmsf.sync.matching import Link
from cmsf.sync.models import ListWebhook, RecordMap, SyncSettings, UnwatchedWebhookList, WebhookEvent
from cmsf.sync.transforms import SUBSCRIBER, member_key, subscriber_row
from cmsf.sync.writer import Writer, WriteTally

log = logging.getLogger(__name__)

HOOK_PATH = "hooks/campaign-monitor/"
EVENTS = ("Subscribe", "Deactivate", "Update")
UNKNOWN_FROM_EVENTS = ("Date_Added__c", "Consent_To_Track__c", "Mobile_Number__c", "Consent_To_Send_SMS__c")
APPLY_AT_ONCE = 5_000  # events one job takes
APPLY_TOGETHER = 200  # events applied together (their Salesforce writes batched); split in halves on a fault
KEEP_APPLIED = timedelta(days=7)  # applied events are kept this long, for the console's figures and for support
KEEP_QUARANTINED = timedelta(days=30)  # quarantined events, for download
KEEP_UNWATCHED = timedelta(days=30)  # the count of a list not watched, from its last event
JOB = "CMSF_WEBHOOKS"  # the apply job, in maintenance messages
RECEIVING = "CMSF_WEBHOOK_RECEIVE"  # the receiving of a batch
FOLLOWING = "CMSF_PUBLIC_URL"  # the webhooks following a new public URL
QUARANTINED = "CMSF-WEBHOOK-EVENT"
WAITING = "CMSF-WEBHOOK-WAIT"
REGISTERING = "CMSF-WEBHOOKS"


class UnknownHook(Exception):
    """A POST to a webhook URL whose secret is not cmsf's."""


def public_url() -> str:
    """The stored public URL ("" when none): the one home of the address, whatever this process's environment."""
    return SyncSettings.load().public_url


def enabled() -> bool:
    return bool(public_url())


def _cleared_by_admin() -> bool:
    stored = SyncSettings.load()
    return not stored.public_url and stored.public_url_set_at is not None


def _url(base: str, secret: str) -> str:
    return f"{base}/{HOOK_PATH}{secret}"


def _secret() -> str:
    account = CampaignMonitorAccount.load()
    if not account.webhook_secret:
        account.webhook_secret = secrets.token_urlsafe(32)
        account.save(update_fields=["webhook_secret"])
    return account.webhook_secret


# -- registering -----------------------------------------------------------------------------------------


def ensure(cm: CampaignMonitor, client: CampaignMonitorClient, list_ids: Iterable[str]) -> int:
    """Register cmsf's webhook on the client's lists that have none at the public URL yet (and forget those of lists
    gone). With no public URL nothing is registered, and the client's webhooks are removed only when an admin
    cleared the URL (a removal that failed then is finished here), never because none was ever stored. Returns how
    many webhooks were created or removed."""
    base = public_url()
    if not base:
        return remove(cm, ListWebhook.objects.filter(client=client)) if _cleared_by_admin() else 0
    url = _url(base, _secret())
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
            elif hook.url.startswith(f"{base}/{HOOK_PATH}") or hook.url == known.get(list_id):
                _delete(cm, list_id, hook.webhook_id)  # cmsf's own, under an older secret or address
        if not hook_id:
            hook_id = cm.create_webhook(list_id, events=EVENTS, url=url, payload_format="json")
            changed += 1
        ListWebhook.objects.update_or_create(
            list_id=list_id,
            defaults={"client": client, "webhook_id": hook_id, "url": url, "registered_at": timezone.now()},
        )
        UnwatchedWebhookList.objects.filter(list_id=list_id).delete()  # watched now
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


def register_all(cm: CampaignMonitor | None = None) -> int:
    """`ensure` for every selected client, from its lists in Campaign Monitor; the webhooks of clients no longer
    selected are removed."""
    cm = cm or connections.campaign_monitor()
    changed = 0
    for client in CampaignMonitorClient.objects.filter(active=True, selected=True):
        changed += ensure(cm, client, [summary.list_id for summary in cm.lists(client.cm_client_id)])
    changed += remove(cm, ListWebhook.objects.exclude(client__active=True, client__selected=True))
    return changed


def unregistered_lists(cm: CampaignMonitor) -> tuple[int, list[str]]:
    """How many lists of the selected clients there are in Campaign Monitor, and the names of those that have no
    webhook at the public URL (as Campaign Monitor itself lists them, not as cmsf remembers): `cmsf doctor`."""
    base = public_url()
    secret = CampaignMonitorAccount.load().webhook_secret
    url = _url(base, secret) if base and secret else None
    checked, missing = 0, []
    for client in CampaignMonitorClient.objects.filter(active=True, selected=True):
        for summary in cm.lists(client.cm_client_id):
            checked += 1
            if url is None or not any(hook.url == url for hook in cm.webhooks(summary.list_id)):
                missing.append(f"{client.name} / {summary.name}")
    return checked, missing


def follow_public_url() -> int:
    """The webhooks follow the public URL an admin changed or cleared (a queue job): cleared, cmsf's webhooks are
    removed; changed, every list of the selected clients is registered at the new address and the webhooks at the
    old one removed. A refusal is a maintenance message; the next sync finishes the work. How many webhooks were
    created or removed."""
    started = timezone.now()
    if not public_url() and not ListWebhook.objects.exists():
        return 0
    try:
        cm = connections.campaign_monitor()
    except connections.NotConnected:
        return 0  # nothing is registered without a connection (disconnecting removed it all)
    try:
        changed = register_all(cm) if public_url() else remove(cm)
    except CampaignMonitorError as error:
        record_message(
            support_code=REGISTERING,
            job=FOLLOWING,
            message="The webhooks could not follow the new public URL: changes arrive with the hourly sync.",
            details=str(error),
            guidance=support_codes.guidance(REGISTERING),
        )
        return 0
    finally:
        cm.transport.close()
    resolve_cleared(jobs=[FOLLOWING], since=started)
    return changed


# -- receiving -------------------------------------------------------------------------------------------


@dataclass
class Received:
    added: int = 0  # new events stored, to apply
    refused: int = 0  # new events whose shape is not sound: quarantined
    unwatched: int = 0  # events of a list cmsf does not watch: counted


def receive(secret: str, body: bytes) -> Received:
    """Store the events of a POSTed batch, each on its own: a sound one to apply, a bad one quarantined. Raises
    UnknownHook for a wrong secret, and ValueError for a body that is not a webhook batch (WebhookBatchTooLarge past
    the size bound)."""
    known = CampaignMonitorAccount.load().webhook_secret
    if not known or not hmac.compare_digest(secret.encode(), known.encode()):
        raise UnknownHook("not a webhook of cmsf")
    list_id, events = webhook_batch(body)
    received = Received()
    hook = ListWebhook.objects.filter(list_id=list_id).first()
    if hook is None:
        received.unwatched = len(events)
        _count_unwatched(list_id, len(events))
        return received
    now = timezone.now()
    forgotten = forget.forgotten_hashes()
    refused: list[WebhookEvent] = []
    with transaction.atomic():
        for event in events:
            if _mentions_forgotten(event, forgotten):
                continue  # a person forgotten on request: not kept, not written
            problem = webhook_event_problem(event)
            kind = event.get("Type") if isinstance(event, dict) else None
            stored, created = WebhookEvent.objects.get_or_create(
                key=hashlib.sha1(json.dumps([list_id, event], sort_keys=True).encode()).hexdigest(),
                defaults={
                    "list_id": list_id,
                    "kind": kind[:16] if isinstance(kind, str) else "",
                    "payload": _keepable(event) if problem else event,
                    "received_at": now,
                    "quarantined_at": now if problem else None,
                    "problem": problem,
                },
            )
            if not created:
                continue  # delivered before
            if problem:
                received.refused += 1
                refused.append(stored)
            else:
                received.added += 1
        for stored in refused:
            _report(stored, f"refused when received: {stored.problem}", hook.client_id, job=RECEIVING)
        if not refused:  # a batch with no bad event: what earlier batches of the client met is over
            resolve_cleared(jobs=[RECEIVING], since=now, client_id=hook.client_id)
    return received


def _mentions_forgotten(event: Any, forgotten: frozenset[str]) -> bool:
    if not isinstance(event, dict):
        return False
    emails = (event.get("EmailAddress"), event.get("OldEmailAddress"))
    return any(isinstance(e, str) and e and forget.is_forgotten(e, forgotten) for e in emails)


def _keepable(event: Any) -> Any:
    """A refused event as the database can keep it: as it came, or its JSON text when it is null (a JSON field keeps
    None as no value) or holds text no database takes (a NUL character, half a surrogate pair)."""
    if event is None:
        return "null"
    text = json.dumps(event, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(event)
    return json.dumps(event) if "\\u0000" in text else event


def _count_unwatched(list_id: str, n: int) -> None:
    if not n:
        return
    now = timezone.now()
    log.info("%s webhook events for list %s, which cmsf does not watch: counted, not applied", n, list_id)
    entry, created = UnwatchedWebhookList.objects.get_or_create(
        list_id=list_id, defaults={"events": n, "first_seen": now, "last_seen": now}
    )
    if not created:
        UnwatchedWebhookList.objects.filter(pk=entry.pk).update(events=F("events") + n, last_seen=now)


def _report(stored: WebhookEvent, problem: str, client_id: int | None, *, job: str = JOB) -> None:
    """A maintenance message for a quarantined event: one a client while the problem goes on (grouped, with a count),
    whose text names the latest event; recording it writes the one line the log gets."""
    email = stored.payload.get("EmailAddress") if isinstance(stored.payload, dict) else None
    who = f" of {email}" if isinstance(email, str) and email else ""
    record_message(
        support_code=QUARANTINED,
        job=job,
        message=f"Webhook event {stored.pk} ({stored.kind or 'no Type'}{who} on list {stored.list_id}) is "
        f"quarantined: {problem[:300]}",
        details=f"Event {stored.pk}, received {stored.received_at:%Y-%m-%d %H:%M:%S} UTC: {problem}. The events after "
        "it are applied; the quarantined ones are kept 30 days for download under General Options > Real time.",
        guidance=support_codes.guidance(QUARANTINED),
        client_id=client_id,
    )


def prune(now: datetime | None = None) -> int:
    """Forget applied events after a week, quarantined ones and the counts of unwatched lists after 30 days (the
    events hold emails: not for long). How many events were removed."""
    now = now or timezone.now()
    removed = WebhookEvent.objects.filter(applied_at__lt=now - KEEP_APPLIED).delete()[0]
    removed += WebhookEvent.objects.filter(quarantined_at__lt=now - KEEP_QUARANTINED).delete()[0]
    UnwatchedWebhookList.objects.filter(last_seen__lt=now - KEEP_UNWATCHED).delete()
    return removed


def waiting() -> bool:
    return WebhookEvent.objects.filter(applied_at=None, quarantined_at=None).exists()


def quarantined_events() -> list[dict[str, Any]]:
    """The quarantined events as kept, oldest first, for download."""
    return [
        {
            "id": event.pk,
            "list_id": event.list_id,
            "type": event.kind,
            "received_at": event.received_at.isoformat(),
            "quarantined_at": event.quarantined_at.isoformat() if event.quarantined_at else None,
            "problem": event.problem,
            "support_code": QUARANTINED,
            "event": event.payload,
        }
        for event in WebhookEvent.objects.exclude(quarantined_at=None).order_by("pk")
    ]


# -- applying --------------------------------------------------------------------------------------------


@dataclass
class Applied:
    events: int = 0  # events applied
    written: int = 0
    renamed: int = 0
    opted_out: int = 0
    quarantined: int = 0
    unwatched: int = 0  # events of lists no longer watched when applied: counted, not applied
    waiting: str = ""  # why events were left to wait (Salesforce did not answer); "" when none were


@dataclass
class _Context:
    sf: SalesforceAdapter
    directory: Directory
    hooks: dict[str, ListWebhook]
    forgotten: frozenset[str]


@dataclass
class _Outcome:
    """What applying a group of events did, and the reasons each event that failed failed."""

    written: int = 0
    renamed: int = 0
    opted_out: int = 0
    forgotten: set[int] = field(default_factory=set)
    problems: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))


class _Unattributed(Exception):
    """A refusal of Salesforce cannot be traced to one event of a group (more refusals than were kept with their
    keys, or a key several events share): the group is split, until each event meets its own fate."""


def _waits(error: Exception) -> bool:
    """Salesforce, Campaign Monitor or the database not answering (or not connected): no event is at fault."""
    if isinstance(error, SalesforceError | CampaignMonitorError):
        return error.kind != "error" and error.kind != "fatal"
    return isinstance(error, connections.NotConnected | OperationalError | InterfaceError)


def apply_pending(sf: SalesforceAdapter | None = None) -> Applied:
    """Apply the events received and not applied yet, in the order received, so that no event holds back another:
    a bad or failing one is quarantined, and when Salesforce does not answer they all wait. Raises nothing."""
    applied, started = Applied(), timezone.now()
    prune()
    pending = list(WebhookEvent.objects.filter(applied_at=None, quarantined_at=None).order_by("pk")[:APPLY_AT_ONCE])
    if not pending:
        return applied
    hooks = {h.list_id: h for h in ListWebhook.objects.select_related("client")}
    ready: list[WebhookEvent] = []
    for stored in pending:
        hook = hooks.get(stored.list_id)
        problem = webhook_event_problem(stored.payload)  # events kept before their shape was checked on receipt
        if problem:
            _quarantine(stored, problem, hook.client_id if hook else None, applied)
        elif hook is None:
            applied.unwatched += 1
            _count_unwatched(stored.list_id, 1)
            _settle([stored.pk], "not applied: cmsf no longer watches this list")
        else:
            ready.append(stored)
    before = observe.ApiUse.of(None, sf) if sf is not None else None  # an adapter the caller used before
    try:
        if not ready:
            return applied
        try:
            sf = sf or connections.salesforce()
            ctx = _Context(sf, load_directory(sf), hooks, forget.forgotten_hashes())
        except Exception as error:  # no event's fault: they wait, and the message says why
            _wait(applied, error, len(ready))
            return applied
        for start in range(0, len(ready), APPLY_TOGETHER):
            if not _isolate(ctx, ready[start : start + APPLY_TOGETHER], applied):
                return applied
        for client_id in {None, *(hooks[stored.list_id].client_id for stored in ready)}:  # the job went through:
            resolve_cleared(jobs=[JOB], since=started, client_id=client_id)  # what it no longer met is resolved
        return applied
    finally:
        _observe(applied, started, len(pending), observe.ApiUse.of(None, sf).since(before))


def _observe(applied: Applied, started: datetime, events: int, api: observe.ApiUse) -> None:
    """The run's line in the log and its counters (`maintenance.observe`)."""
    outcome = "waiting" if applied.waiting else "problems" if applied.quarantined else "succeeded"
    observe.run_ended(
        kind="webhooks",
        outcome=outcome,
        started=started,
        read={"events": events},
        written={
            "events applied": applied.events,
            "membership rows": applied.written,
            "opted out": applied.opted_out,
            "renamed": applied.renamed,
        },
        refused={QUARANTINED: applied.quarantined},
        api=api,
        support_code=WAITING if applied.waiting else "",
        message=applied.waiting,
    )


def _isolate(ctx: _Context, events: list[WebhookEvent], applied: Applied) -> bool:
    """Apply the events together; when that fails, each half on its own, until the event at fault is alone and
    quarantined. False when Salesforce stopped answering (the events left wait for the next job)."""
    try:
        outcome = _apply_together(ctx, events)
    except Exception as error:  # sorted here: waiting, or the fault of one event, quarantined
        if _waits(error):
            _wait(applied, error, len(events))
            return False
        if len(events) > 1:
            middle = len(events) // 2
            return _isolate(ctx, events[:middle], applied) and _isolate(ctx, events[middle:], applied)
        hook = ctx.hooks[events[0].list_id]
        _quarantine(events[0], f"applying it failed: {type(error).__name__}: {error}", hook.client_id, applied)
        return True
    said = f"applied: {outcome.written} membership rows written, {outcome.opted_out} opted out"
    done: list[int] = []
    for stored in events:
        if stored.pk in outcome.problems:
            hook = ctx.hooks[stored.list_id]
            _quarantine(stored, "; ".join(outcome.problems[stored.pk]), hook.client_id, applied)
        elif stored.pk not in outcome.forgotten:
            done.append(stored.pk)
    _settle(done, said)
    _settle(list(outcome.forgotten), "not applied: a person forgotten on request")
    applied.events += len(done)
    applied.written += outcome.written
    applied.renamed += outcome.renamed
    applied.opted_out += outcome.opted_out
    return True


def _settle(pks: list[int], outcome: str) -> None:
    if pks:
        WebhookEvent.objects.filter(pk__in=pks, applied_at=None).update(applied_at=timezone.now(), outcome=outcome)


def _quarantine(stored: WebhookEvent, problem: str, client_id: int | None, applied: Applied) -> None:
    WebhookEvent.objects.filter(pk=stored.pk).update(quarantined_at=timezone.now(), problem=problem)
    applied.quarantined += 1
    _report(stored, problem, client_id)


def _wait(applied: Applied, error: Exception, n: int) -> None:
    applied.waiting = f"{type(error).__name__}: {error}"
    record_message(
        support_code=WAITING,
        job=JOB,
        message="Campaign Monitor webhook events are waiting: Salesforce did not answer. They are applied in order "
        "once it does.",
        details=f"{n} events wait. {applied.waiting}",
        guidance=support_codes.guidance(WAITING),
    )


def _apply_together(ctx: _Context, events: list[WebhookEvent]) -> _Outcome:
    """Apply a group of events with batched Salesforce writes; the rows Salesforce refused are traced back to the
    events they came from (by member key, old key, contact or lead Id)."""
    out = _Outcome()
    # (client, list, email) -> its last state and row, and its subscriber and link (for field mappings)
    latest: dict[tuple[int, str, str], tuple[str, dict[str, Any], Subscriber, Link]] = {}
    renames: list[tuple[str, str]] = []  # (old key, new key)
    named: dict[str, list[int]] = defaultdict(list)  # a key a refusal may name -> the events it came from
    for stored in events:
        client = ctx.hooks[stored.list_id].client
        event = Event.from_api(stored.payload, client.time_zone)
        if forget.is_forgotten(event.email, ctx.forgotten):
            out.forgotten.add(stored.pk)
            continue
        state = "Active" if event.type == "Subscribe" else event.state
        subscriber = Subscriber(email=event.email, name=event.name, state=state, date=event.date,
                                list_joined_date=None, custom_fields=event.custom_fields, consent_to_track="",
                                consent_to_send_sms="", mobile_number="", reads_email_with="")  # fmt: skip
        link = ctx.directory.link(event.email, event.custom_fields)
        row = subscriber_row(stored.list_id, subscriber, link, owner_id=client.security_owner_id)
        for name in UNKNOWN_FROM_EVENTS:  # not in an event: what the sync wrote stays
            row.pop(name, None)
        if event.type == "Update":
            row.pop("State_Changed__c", None)  # an update (a name, an email) is not a change of state
        if event.type == "Update" and event.old_email and event.old_email.lower() != event.email.lower():
            old_key = member_key(stored.list_id, event.old_email)
            renames.append((old_key, row[SUBSCRIBER.external_id]))
            named[old_key].append(stored.pk)
            latest.pop((client.pk, stored.list_id, event.old_email.lower()), None)
        latest[(client.pk, stored.list_id, event.email.lower())] = (state, row, subscriber, link)
        for key in (row[SUBSCRIBER.external_id], link.contact_id, link.lead_id):
            if key:
                named[key].append(stored.pk)
    refusals: list[tuple[str, str]] = []  # (key, reason)
    for old_key, new_key in renames:
        renamed, problem = _rename(ctx.sf, old_key, new_key)
        out.renamed += renamed
        if problem:
            refusals.append((old_key, problem))
    gone: set[str] = set()
    by_client: dict[int, list[dict[str, Any]]] = {}
    for (client_id, _, _), (state, row, _, _) in latest.items():
        by_client.setdefault(client_id, []).append(row)
        if state in opt_out.GONE:
            gone.update(p for p in (row.get("Contact__c"), row.get("Lead__c")) if p)
    for client_id, rows in by_client.items():
        tally = WriteTally()
        Writer(adapter=ctx.sf, client_id=client_id, dry_run=False, tally=tally).write(
            SUBSCRIBER, rows, batch_size=GovernorLimit.batch_size_for("CMSF_SUBSCRIBER_SYNC")
        )
        _mapped_fields(ctx.sf, client_id, latest, tally)
        out.written += sum(tally.written.values())
        if sum(tally.failure_counts.values()) > len(tally.failures):
            raise _Unattributed("Salesforce refused more rows than were kept with their keys")
        refusals += [(f.key, f"{f.key}: {f.error.code}: {f.error.message}") for f in tally.failures]
    if gone and GeneralOptions.load().opt_out_when_unsubscribed_everywhere:
        result = opt_out.opt_out_everywhere(ctx.sf, gone)
        out.opted_out = len(result.checked)
        refusals += [(person, f"Email Opt Out of {person}: {error.code}: {error.message}")
                     for person, error in result.failed]  # fmt: skip
    for key, reason in refusals:
        traced = named.get(key) or []
        if len(traced) != 1 and len(events) > 1:  # none, or several (the later may have superseded the earlier)
            raise _Unattributed(f"a refusal names {key}, which is not one event of the group")
        for pk in traced or [events[0].pk]:
            out.problems[pk].append(reason)
    return out


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


def _rename(sf: SalesforceAdapter, old_key: str, new_key: str) -> tuple[int, str]:
    """An email changed in Campaign Monitor: the row under the old key takes the new one (and so does the ledger),
    unless a row already holds the new key; the upsert of the event's row then writes the new email. (1 when renamed,
    why Salesforce refused or "")."""
    entry = RecordMap.objects.filter(sobject=SUBSCRIBER.sobject, key=old_key).first()
    if entry is None or RecordMap.objects.filter(sobject=SUBSCRIBER.sobject, key=new_key).exists():
        return 0, ""
    result = sf.update(SUBSCRIBER.sobject, [{"Id": entry.salesforce_id, SUBSCRIBER.external_id: new_key}])[
        0
    ]  # then the row
    if not result.success:
        return 0, f"{old_key}: " + "; ".join(f"{e.code}: {e.message}" for e in result.errors)
    RecordMap.objects.filter(pk=entry.pk).update(key=new_key, content_hash="")
    return 1, ""
