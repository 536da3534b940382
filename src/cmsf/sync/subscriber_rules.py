"""Subscriber rules applied to the records that exist already: the retrospective run an admin starts for one rule.
(The watcher applies the rules to what changes from then on; rules are not retrospective otherwise.)

One Bulk 2.0 query reads every record of the rule's object with the fields its criteria read; the records that
meet them are then added to the list with Campaign Monitor's import call, 1,000 a call (never resubscribing anyone,
leaving out opted-out records when General Options says so, suppressed addresses and forgotten people), or, for a
remove rule, their active subscribers of the list are deleted. The run's outcome is kept on the rule.

A rule evaluated "when a record is created, and any time it is edited to subsequently meet the criteria" needs to
know which records meet its criteria already: the same Bulk read, once when the rule is saved, keeps their Ids
(`RuleMatch`); the watcher skips the rule until that read has ended, and keeps the Ids as records change.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from django.db import transaction
from django.utils import timezone

from cmsf.campaign_monitor.api import CampaignMonitor
from cmsf.campaign_monitor.errors import CampaignMonitorError
from cmsf.campaign_monitor.records import SubscriberInput
from cmsf.connections import services as connections
from cmsf.maintenance import support_codes
from cmsf.maintenance.services import record_message, resolve_cleared
from cmsf.options.models import SubscriberRule
from cmsf.salesforce.adapter import SalesforceAdapter, parse_bool
from cmsf.salesforce.errors import SalesforceError
from cmsf.sync import forget, rule_logic
from cmsf.sync.models import RuleMatch
from cmsf.sync.outbound import ANY_ZONE, Outbound, Refused, TriggersDisabled

IMPORT_BATCH = 1000
JOB = "CMSF_SUBSCRIBER_RULES"
RULE_CODE = "CMSF-RULE-RUN"
MATCH_BATCH = 5000  # RuleMatch rows written at once


def run_retrospective(
    rule_id: int, *, cm: CampaignMonitor | None = None, sf: SalesforceAdapter | None = None
) -> SubscriberRule | None:
    """Apply one rule to every existing record; the rule, with its outcome saved (None when it is gone)."""
    rule = SubscriberRule.objects.filter(pk=rule_id).first()
    if rule is None:
        return None
    started = timezone.now()
    subject = f"subscriber rule {rule.pk}"
    what = f"The retrospective run of the {rule.get_kind_display().lower()} rule of the list {rule.list_name or rule.list_id}"
    try:
        result, failed = _run(rule, cm or connections.campaign_monitor(), sf or connections.salesforce())
    except (CampaignMonitorError, SalesforceError, TriggersDisabled, connections.NotConnected) as error:
        result = f"stopped: {error}"
        record_message(support_code=RULE_CODE, job=JOB, message=f"{what} stopped.", details=str(error),
                       guidance=support_codes.guidance(RULE_CODE), subject=subject)  # fmt: skip
    else:
        if failed:
            record_message(support_code=RULE_CODE, job=JOB, severity="warning",
                           message=f"{what}: Campaign Monitor refused {failed:,} record{'s' if failed != 1 else ''}.",
                           details=result, guidance=support_codes.guidance(RULE_CODE), subject=subject)  # fmt: skip
        resolve_cleared(jobs=[JOB], subject=subject, since=started)
    rule.retrospective_at, rule.retrospective_result = timezone.now(), result
    SubscriberRule.objects.filter(pk=rule.pk).update(
        retrospective_at=rule.retrospective_at, retrospective_result=result
    )
    return rule


def read_matches(rule_id: int, token: str, *, sf: SalesforceAdapter | None = None) -> str:
    """The records that meet a rule's criteria now, kept as its starting point (its earlier ones replaced), unless
    the rule was saved again since this read was asked for (`token`); what it found, or why it stopped."""
    rule = SubscriberRule.objects.filter(pk=rule_id, matches_token=token).first()
    if rule is None:
        return "the rule is gone or was saved again since"
    started = timezone.now()
    found: set[str] = set()
    read = 0
    try:
        for record in _records(rule, sf or connections.salesforce(), ["Id"]):
            read += 1
            if rule_logic.met(rule.criteria, rule.logic, record):
                found.add(str(record["Id"]))
    except (SalesforceError, connections.NotConnected) as error:
        note = f"stopped: {error}. The rule waits until its matching records are read: press Read again."
        SubscriberRule.objects.filter(pk=rule_id, matches_token=token).update(matches_note=note)
        record_message(support_code=RULE_CODE, job=JOB, subject=f"subscriber rule {rule.pk}",
                       message=f"The {rule.get_kind_display().lower()} rule of the list {rule.list_name or rule.list_id} "
                       "waits: the records that meet its criteria could not be read.",
                       details=str(error), guidance=support_codes.guidance(RULE_CODE))  # fmt: skip
        return note
    note = f"{len(found):,} of {read:,} records met the criteria when the rule started"
    with transaction.atomic():
        if not SubscriberRule.objects.select_for_update().filter(pk=rule_id, matches_token=token).exists():
            return "the rule is gone or was saved again since"
        RuleMatch.objects.filter(rule_id=rule_id).delete()
        RuleMatch.objects.bulk_create((RuleMatch(rule_id=rule_id, record_id=rid) for rid in found),
                                      batch_size=MATCH_BATCH)  # fmt: skip
        SubscriberRule.objects.filter(pk=rule_id).update(matches_from=started, matches_note=note)
    resolve_cleared(jobs=[JOB], subject=f"subscriber rule {rule_id}", since=started)
    return note


def _records(rule: SubscriberRule, sf: SalesforceAdapter, fields: list[str]) -> Iterator[dict[str, Any]]:
    """Every record of the rule's object (one Bulk 2.0 query), with these fields and those its criteria read."""
    names = list(dict.fromkeys([*fields, *rule_logic.fields_of(rule.criteria)]))
    return sf.bulk_query(f"SELECT {', '.join(names)} FROM {rule.sobject}")


def _run(rule: SubscriberRule, cm: CampaignMonitor, sf: SalesforceAdapter) -> tuple[str, int]:
    """What the run did, and how many records Campaign Monitor refused."""
    out = Outbound(cm)
    if out.options.disable_triggers:
        raise TriggersDisabled("Disable triggers is on (General Options): nothing is sent to Campaign Monitor")
    read, matched = 0, dict[str, dict[str, str]]()
    for record in _records(rule, sf, ["Id", "Email", "Name", "HasOptedOutOfEmail"]):
        read += 1
        email = record.get("Email", "").strip()
        if email and rule_logic.met(rule.criteria, rule.logic, record):
            matched.setdefault(email.lower(), record)  # one subscriber an address
    because = f"a retrospective run of the {rule.get_kind_display().lower()} rule"
    if not rule.adds:
        removed = 0
        for subscriber in cm.subscribers(rule.list_id, "active", zone=ANY_ZONE):
            if subscriber.email.lower() in matched:
                out.delete(rule.list_id, subscriber.email, because=because)
                removed += 1
        return f"{read:,} records read, {len(matched):,} met the criteria, {removed:,} removed from the list", 0
    suppressed = {s.email.lower() for s in cm.suppression_list(rule.client.cm_client_id, zone=ANY_ZONE)}
    present = {s.email.lower() for state in ("active", "unconfirmed", "unsubscribed", "bounced")
               for s in cm.subscribers(rule.list_id, state, zone=ANY_ZONE)}  # fmt: skip
    forgotten = forget.forgotten_hashes()
    refused: Counter[str] = Counter()
    batch: list[SubscriberInput] = []
    added = failed = 0

    def send() -> None:
        nonlocal added, failed, batch
        if batch:
            result = out.import_subscribers(rule.list_id, batch, resubscribe=False, because=because)
            added += result.new_subscribers
            failed += len(result.failures)
            batch = []

    for email, record in matched.items():
        if email in present:
            continue  # a subscriber already, in any state: an add never resubscribes
        try:
            if forget.is_forgotten(email, forgotten):
                raise Refused("forgotten on request")
            out.may_add(opted_out=parse_bool(record.get("HasOptedOutOfEmail")), suppressed=email in suppressed)
        except Refused as reason:
            refused[str(reason)] += 1
            continue
        batch.append(SubscriberInput(email=record["Email"].strip(), name=record.get("Name", "")))
        if len(batch) == IMPORT_BATCH:
            send()
    send()
    outcome = f"{read:,} records read, {len(matched):,} met the criteria, {added:,} added to the list"
    if refused:
        outcome += "; left out: " + ", ".join(f"{n:,} ({why})" for why, n in refused.most_common())
    if failed:
        outcome += f"; {failed:,} refused by Campaign Monitor"
    return outcome, failed
