"""The right to be forgotten: "Forget this person" (console) and `cmsf forget EMAIL`.

For one email, cmsf removes what it wrote about it in Salesforce (list memberships, email tracking history,
suppression rows, the campaign members it created for the contacts and leads with that email, with their
aggregates, and the Tasks of the smart emails it sent to it), what it holds in its own database (ledger rows, webhook events, the watcher's and the directory's
entries, and the email wherever its own logs quote it), and, when asked, sets the subscriber to Deleted in every
Campaign Monitor list of the selected clients.

The email is then kept only as a keyed hash (`ForgottenEmail`), so that the sync, the webhooks and campaign members
never write it to Salesforce again; the audit log says that it happened, by whom, and that hash. Contacts and leads
themselves are Salesforce's records, not cmsf's: they are left to the admin.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from cmsf.campaign_monitor.api import NOT_IN_LIST
from cmsf.campaign_monitor.errors import FatalError
from cmsf.connections import services as connections
from cmsf.connections.models import CampaignMonitorClient
from cmsf.lib.crypto import derived_key
from cmsf.maintenance.models import CMSF_ACTOR, AuditEntry, MaintenanceMessage
from cmsf.maintenance.services import audit
from cmsf.options.models import GeneralOptions
from cmsf.options.services import GENERAL_SECTION
from cmsf.salesforce import soql
from cmsf.salesforce.adapter import SalesforceAdapter
from cmsf.sync.models import (
    DirectoryEntry,
    ForgottenEmail,
    PersonState,
    RecordMap,
    SmartEmailMessage,
    WatchRun,
    WebhookEvent,
)
from cmsf.sync.transforms import ACTIVITY, SUBSCRIBER, SUPPRESSION

CHUNK = 200
OBJECTS = (SUBSCRIBER.sobject, ACTIVITY.sobject, SUPPRESSION.sobject)


def email_hash(email: str) -> str:
    """The keyed hash an email is remembered by: HMAC-SHA256 under a key derived from the encryption key, which
    every machine of an installation shares and which never changes (the credentials depend on it), unlike the
    signing key, which may differ between machines or be rotated to end every session."""
    return hmac.new(derived_key("forget"), email.strip().lower().encode(), hashlib.sha256).hexdigest()


def _signing_key_hash(email: str) -> str:
    """How earlier versions keyed the hash (with the signing key): still recognised, so nobody forgotten then
    comes back."""
    return hmac.new(settings.SECRET_KEY.encode(), email.strip().lower().encode(), hashlib.sha256).hexdigest()


def forgotten_hashes() -> frozenset[str]:
    return frozenset(ForgottenEmail.objects.values_list("email_hash", flat=True))


def is_forgotten(email: str, hashes: frozenset[str]) -> bool:
    """True when `email` was forgotten (free when nothing was: the hash is computed only then)."""
    return bool(hashes) and (email_hash(email) in hashes or _signing_key_hash(email) in hashes)


@dataclass
class Forgotten:
    email_hash: str
    salesforce: dict[str, int] = field(default_factory=dict)  # object -> rows deleted
    local: dict[str, int] = field(default_factory=dict)  # what -> rows removed or rewritten
    campaign_monitor_lists: list[str] = field(default_factory=list)  # lists where the subscriber was deleted
    problems: list[str] = field(default_factory=list)


def forget(email: str, *, in_campaign_monitor: bool, actor: str, sf: SalesforceAdapter | None = None) -> Forgotten:
    """Forget `email` (see the module). Raises ValueError for something that is not an email address."""
    email = email.strip()
    if "@" not in email or any(c.isspace() for c in email) or len(email) > 254:
        raise ValueError(f"{email!r} is not an email address")
    key = email.lower()
    done = Forgotten(email_hash(key))
    ForgottenEmail.objects.get_or_create(email_hash=done.email_hash, defaults={"forgotten_at": timezone.now()})
    sf = sf or connections.salesforce()
    lists = _salesforce(sf, email, key, done)
    if in_campaign_monitor:
        _campaign_monitor(email, lists, done)
    _local(key, done)
    audit(
        actor=actor,
        section=GENERAL_SECTION,
        action="Forget a person",
        before={},
        after={
            "email_sha256_hmac": done.email_hash,
            "salesforce_rows_deleted": sum(done.salesforce.values()),
            "campaign_monitor": (
                f"deleted in {len(done.campaign_monitor_lists)} lists" if in_campaign_monitor else "not asked"
            ),
            "problems": len(done.problems),
        },
    )
    return done


# -- Salesforce ------------------------------------------------------------------------------------------


def _salesforce(sf: SalesforceAdapter, email: str, key: str, done: Forgotten) -> set[str]:
    """Delete cmsf's rows with the email, and the campaign members cmsf created for the contacts and leads that had
    it; the lists it was on."""
    lists: set[str] = set()
    people = set(DirectoryEntry.objects.filter(email_lower=key).values_list("record_id", flat=True))
    literal = soql.quote(email)  # a text comparison in SOQL ignores case
    for sobject in OBJECTS:
        fields = "Id, Contact__c, Lead__c" + (", List__r.List_Id__c" if sobject == SUBSCRIBER.sobject else "")
        rows = list(sf.query(f"SELECT {fields} FROM {sobject} WHERE Email__c = {literal}"))
        for row in rows:
            people.update(p for p in (row.get("Contact__c"), row.get("Lead__c")) if p)
            if row.get("List__r.List_Id__c"):
                lists.add(str(row["List__r.List_Id__c"]))
        _delete(sf, sobject, [str(r["Id"]) for r in rows], done)
    members = [
        entry.salesforce_id
        for person in people
        for entry in RecordMap.objects.filter(sobject="CampaignMember", key__endswith=f":{person}")
    ]
    _delete(sf, "CampaignMember", members, done)
    tasks = SmartEmailMessage.objects.filter(email=key).exclude(task_id="").values_list("task_id", flat=True)
    _delete(sf, "Task", sorted(set(tasks)), done)  # the Tasks of smart emails sent to it quote the address
    return lists


def _delete(sf: SalesforceAdapter, sobject: str, ids: list[str], done: Forgotten) -> None:
    gone: list[str] = []
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        for rid, result in zip(chunk, sf.delete(sobject, chunk), strict=True):
            if result.success or any(e.code == "ENTITY_IS_DELETED" for e in result.errors):
                gone.append(rid)
            else:
                done.problems.append(f"{sobject} {rid}: " + "; ".join(f"{e.code}: {e.message}" for e in result.errors))
    if gone:
        done.salesforce[sobject] = len(gone)
        for start in range(0, len(gone), CHUNK):
            RecordMap.objects.filter(sobject=sobject, salesforce_id__in=gone[start : start + CHUNK]).delete()


# -- Campaign Monitor ------------------------------------------------------------------------------------


def _campaign_monitor(email: str, lists: set[str], done: Forgotten) -> None:
    """Set the subscriber to Deleted in every list of the selected clients (found with listsforemail, a call per
    client, besides the lists Salesforce showed); Disable triggers stops it, as it stops every push."""
    if GeneralOptions.load().disable_triggers:
        done.problems.append("not deleted in Campaign Monitor: Disable triggers is on (turn it off and forget again)")
        return
    cm = connections.campaign_monitor()
    found = set(lists)
    for client in CampaignMonitorClient.objects.filter(active=True, selected=True):
        found.update(str(e.get("ListID")) for e in cm.lists_for_email(client.cm_client_id, email) if e.get("ListID"))
    for list_id in sorted(found):
        try:
            cm.delete_subscriber(list_id, email)
        except FatalError as error:
            if error.code != NOT_IN_LIST:
                done.problems.append(f"list {list_id}: {error}".replace(email, "the email"))
                continue
        done.campaign_monitor_lists.append(list_id)


# -- cmsf's own database ---------------------------------------------------------------------------------


def _local(key: str, done: Forgotten) -> None:
    with transaction.atomic():
        done.local["ledger"] = RecordMap.objects.filter(
            Q(sobject__in=(SUBSCRIBER.sobject, SUPPRESSION.sobject), key__endswith=f":{key}")
        ).delete()[0]
        events = [e.pk for e in WebhookEvent.objects.iterator() if _mentions(e.payload, key)]
        done.local["webhook events"] = WebhookEvent.objects.filter(pk__in=events).delete()[0]
        label = f"forgotten:{done.email_hash[:12]}"
        for event in WebhookEvent.objects.filter(outcome__icontains=key):  # a batch's outcome quotes its keys
            event.outcome = _scrub(event.outcome, key, label)
            event.save(update_fields=["outcome"])
        done.local["watcher"] = PersonState.objects.filter(email_lower=key).delete()[0]
        done.local["directory"] = DirectoryEntry.objects.filter(email_lower=key).delete()[0]
        done.local["smart email messages"] = SmartEmailMessage.objects.filter(email=key).delete()[0]
        rewritten = 0
        for entry in AuditEntry.objects.filter(actor=CMSF_ACTOR).iterator():
            if _mentions(entry.before, key) or _mentions(entry.after, key):
                entry.before, entry.after = _scrub(entry.before, key, label), _scrub(entry.after, key, label)
                entry.save(update_fields=["before", "after"])
                rewritten += 1
        for run in WatchRun.objects.exclude(problems=[]).iterator():
            if _mentions(run.problems, key):
                run.problems = _scrub(run.problems, key, label)
                run.save(update_fields=["problems"])
                rewritten += 1
        for message in MaintenanceMessage.objects.filter(Q(details__icontains=key) | Q(message__icontains=key)):
            message.details, message.message = _scrub(message.details, key, label), _scrub(message.message, key, label)
            message.save(update_fields=["details", "message"])
            rewritten += 1
        done.local["log entries rewritten"] = rewritten


def _mentions(value: Any, key: str) -> bool:
    return key in str(value).lower()


def _scrub(value: Any, key: str, label: str) -> Any:
    """`value` with every text that mentions the email replaced (whatever its case)."""
    if isinstance(value, dict):
        return {k: _scrub(v, key, label) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, key, label) for v in value]
    if isinstance(value, str) and key in value.lower():
        start = value.lower().find(key)
        while start != -1:
            value = value[:start] + label + value[start + len(key) :]
            start = value.lower().find(key, start + len(label))
        return value
    return value
