"""Running an import wizard: read the source from Salesforce, make each record a subscriber, keep out whom the
rules keep out, and import the rest into the list with Campaign Monitor's import call, 1,000 a call.

- **Update** adds new subscribers and updates existing ones; unsubscribed, deleted and bounced subscribers stay so.
- **Resubscribe** also brings back the list's *deleted* subscribers (read from the list first); bounced,
  unsubscribed and suppressed ones are never brought back.
- **Remove** (add, update and remove) also deletes the list's active subscribers missing from the source. Its
  preview (`dry_run`) reads everything and changes nothing, listing who would be removed.

The rules of every add (`sync.outbound`): Disable triggers stops the run; a record with Email Opt Out checked is
kept out when "prevent adding opted-out records" is on; an address in the client's suppression list or one cmsf
was told to forget is never added. A record kept out, or refused by Campaign Monitor, is reported with its key and
the reason, and the rest of the run goes on. A rerun imports the same people again, which changes nothing: an
import is an upsert by email.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from cmsf.audience import sources, transforms
from cmsf.audience.models import ImportRun, ImportWizard
from cmsf.billing.models import BillingAccount, Plan
from cmsf.campaign_monitor.api import IMPORT_BATCH, CampaignMonitor
from cmsf.campaign_monitor.errors import CampaignMonitorError
from cmsf.campaign_monitor.records import SubscriberInput
from cmsf.connections import services as connections
from cmsf.maintenance import observe, support_codes
from cmsf.maintenance.services import record_message, resolve_cleared
from cmsf.options.models import GeneralOptions, SmsSettings
from cmsf.salesforce.adapter import SalesforceAdapter, parse_bool
from cmsf.salesforce.errors import SalesforceError
from cmsf.sync import forget
from cmsf.sync.matching import SALESFORCE_ID_FIELD
from cmsf.sync.outbound import ANY_ZONE, Outbound, Refused, TriggersDisabled

FORGOTTEN = "cmsf was asked to forget this person"


class ImportFailed(Exception):
    """The run cannot go on; the message says why (nothing after the failure was sent)."""


@dataclass
class _Person:
    key: str
    subscriber: SubscriberInput
    opted_out: bool


@dataclass
class _Tally:
    read: int = 0
    duplicates: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    problems: list[dict[str, str]] = field(default_factory=list)
    failed: int = 0

    def problem(self, key: str, reason: str) -> None:
        if len(self.problems) < ImportRun.PROBLEMS_KEPT:
            self.problems.append({"key": key, "reason": reason})


def sms_allowed(now: Any = None) -> bool:
    """SMS is on and the plan allows it (Enterprise)."""
    settings = SmsSettings.load()
    plan = BillingAccount.load().effective_plan(now or timezone.now())
    return settings.enabled and plan == Plan.ENTERPRISE


def other_feeders(wizard: ImportWizard) -> list[ImportWizard]:
    """The other active wizards that import into the same list (several with Remove delete each other's people)."""
    return list(ImportWizard.objects.filter(list_id=wizard.list_id, active=True).exclude(pk=wizard.pk))


def run_import(
    wizard: ImportWizard,
    *,
    dry_run: bool = False,
    trigger: str = ImportRun.Trigger.MANUAL,
    cm: CampaignMonitor | None = None,
    sf: SalesforceAdapter | None = None,
    remove_only: Collection[str] | None = None,
    queued: ImportRun | None = None,
) -> ImportRun:
    """Run (or preview) one wizard and return its run record, saved. `remove_only`: a Remove run deletes only these
    addresses (the preview the admin checked), never more; the others missing from the source are left and counted.
    `queued`: the run record made when the run was asked for (`services.queue_run`), which this run takes up.
    Whatever happens, the run ends with a status and a message."""
    if queued is None:
        run = ImportRun.objects.create(wizard=wizard, trigger=trigger, dry_run=dry_run, started_at=timezone.now())
    else:
        run = queued
        run.status, run.started_at = ImportRun.Status.RUNNING, timezone.now()
        run.save(update_fields=["status", "started_at"])
    tally = _Tally()
    calls_before: tuple[int, int] | None = None
    use_before: observe.ApiUse | None = None
    unexpected: BaseException | None = None
    try:
        cm = cm or connections.campaign_monitor()
        sf = sf or connections.salesforce()
        calls_before = (sum(cm.transport.calls_snapshot().values()), sf.meter.total)
        use_before = observe.ApiUse.of(cm, sf)
        _run(run, wizard, cm, sf, tally, dry_run=dry_run, remove_only=remove_only)
    except (ImportFailed, TriggersDisabled, sources.SourceError) as error:
        run.status, run.message = ImportRun.Status.FAILED, str(error)
    except CampaignMonitorError as error:
        run.status, run.message = ImportRun.Status.FAILED, f"Campaign Monitor: {error}"
    except SalesforceError as error:
        run.status, run.message = ImportRun.Status.FAILED, f"Salesforce: {error}"
    except connections.NotConnected as error:
        run.status, run.message = ImportRun.Status.FAILED, str(error)
    except Exception as error:  # recorded, then raised for the queue's log: a run never stays "running"
        run.status, run.message = (
            ImportRun.Status.FAILED,
            f"the run ended unexpectedly: {type(error).__name__}: {error}",
        )
        unexpected = error
    else:
        problems = tally.failed or sum(tally.refused.values()) or tally.problems
        run.status = ImportRun.Status.PARTIAL if problems else ImportRun.Status.SUCCEEDED
    run.read, run.duplicates, run.failed = tally.read, tally.duplicates, tally.failed
    run.refused, run.problems = dict(tally.refused), tally.problems
    if calls_before is not None and cm is not None and sf is not None:
        run.cm_calls = sum(cm.transport.calls_snapshot().values()) - calls_before[0]
        run.sf_calls = sf.meter.total - calls_before[1]
    run.finished_at = timezone.now()
    run.save()
    if not dry_run:
        report(run, wizard)
    _observe(run, wizard, observe.ApiUse.of(cm, sf).since(use_before) if use_before is not None else None)
    if unexpected is not None:
        raise unexpected
    return run


def _observe(run: ImportRun, wizard: ImportWizard, api: observe.ApiUse | None) -> None:
    """The run's line in the log and its counters (`maintenance.observe`)."""
    observe.run_ended(
        kind="import",
        run_id=run.pk,
        outcome=run.status,
        started=run.started_at,
        finished=run.finished_at,
        client=f"{wizard.client.name} (import wizard {wizard.name})",
        read={"source records": run.read},
        written={"subscribers imported": run.imported, "subscribers removed": run.removed},
        failed={"subscribers": run.failed},
        refused={"CMSF-IMPORT-RECORDS": run.failed},
        api=api,
        support_code="CMSF-IMPORT-FAILED" if run.status == ImportRun.Status.FAILED else "",
        message=run.message,
        dry_run=run.dry_run,
    )


JOB = "CMSF_IMPORT_WIZARD"
SHOWN = 20  # records named in a maintenance message


def message_subject(wizard_id: int) -> str:
    """What a wizard's maintenance messages are about: one message a problem of each wizard."""
    return f"import wizard {wizard_id}"


def report(run: ImportRun, wizard: ImportWizard) -> None:
    """Tell the admin how a run (not a preview) went, as every job does: a failed run, or records left out or refused,
    is a maintenance message about the wizard (one while the problem goes on, with a count; the bell and the email);
    a run that went through to its end resolves the wizard's messages it did not meet again."""
    subject = message_subject(wizard.pk)
    if run.status == ImportRun.Status.FAILED:
        record_message(
            support_code="CMSF-IMPORT-FAILED",
            job=JOB,
            message=f"The import wizard {wizard.name} failed: nothing after the failure was sent.",
            details=run.message,
            guidance=support_codes.guidance("CMSF-IMPORT-FAILED"),
            subject=subject,
        )
        return
    # Records the rules keep out (opted out, suppressed, forgotten) are left out on purpose: counted on the run's page,
    # not a problem to tell. What Campaign Monitor refused, or a source read only in part, is.
    kept_out = set(run.refused)
    wrong = [problem for problem in run.problems if problem["reason"] not in kept_out]
    if wrong:
        lines = [f"{problem['key']}: {problem['reason']}" for problem in wrong[:SHOWN]]
        count = max(run.failed, len(wrong))
        more = count - len(lines)
        record_message(
            support_code="CMSF-IMPORT-RECORDS",
            job=JOB,
            severity="warning",
            message=f"The import wizard {wizard.name} could not import {count:,} record{'s' if count != 1 else ''}, "
            "or read only part of its source.",
            details="\n".join(lines + ([f"... and {more:,} more on the run's page"] if more > 0 else [])),
            guidance=support_codes.guidance("CMSF-IMPORT-RECORDS"),
            subject=subject,
        )
    resolve_cleared(jobs=[JOB], subject=subject, since=run.started_at)


def _shape(wizard: ImportWizard, cm: CampaignMonitor, *, sms: bool, dry_run: bool) -> transforms.Shape:
    """The wizard's fields, checked against the list's custom fields; "Salesforce ID" is made when missing."""
    fields = {f.key.lower(): f for f in cm.custom_fields(wizard.list_id)}
    missing = [m["campaign_monitor"] for m in wizard.mappings if m["campaign_monitor"].lower() not in fields]
    if missing:
        raise ImportFailed(
            f"the list {wizard.list_name or wizard.list_id} has no custom field {', '.join(missing)}: "
            "create it in Campaign Monitor or from the wizard, or change the mapping"
        )
    id_key = ""
    if wizard.map_salesforce_id:
        named = [f for f in fields.values() if f.name.lower() == SALESFORCE_ID_FIELD.lower()]
        if named:
            id_key = named[0].key
        elif dry_run:
            id_key = "[" + SALESFORCE_ID_FIELD.replace(" ", "") + "]"  # what Campaign Monitor will name it
        else:
            id_key = cm.create_custom_field(
                wizard.list_id, SALESFORCE_ID_FIELD, "Text", visible_in_preference_center=False
            )
    sms_settings = SmsSettings.load()
    return transforms.Shape(
        email_field=wizard.email_field,
        name_field=wizard.name_field,
        consent_field=wizard.consent_field,
        mappings=tuple(
            (
                m["salesforce"],
                fields[m["campaign_monitor"].lower()].key,
                fields[m["campaign_monitor"].lower()].data_type,
            )
            for m in wizard.mappings
        ),
        id_key=id_key,
        clear_blank_values=wizard.clear_blank_values,
        mobile_field=wizard.mobile_field if sms else "",
        sms_consent_field=wizard.sms_consent_field if sms else "",
        sms_consent_by_object=tuple(_sms_consent(sms_settings).items()) if sms else (),
        country=sms_settings.default_country,
    )


def _sms_consent(settings: SmsSettings) -> dict[str, str]:
    """SMS Settings' consent to send SMS field of Contact and Lead."""
    fields = {"Contact": settings.contact_consent_field, "Lead": settings.lead_consent_field}
    return {sobject: field for sobject, field in fields.items() if field}


def _people(
    wizard: ImportWizard,
    sf: SalesforceAdapter,
    shape: transforms.Shape,
    tally: _Tally,
    *,
    sms: bool,
    cut: list[str],
) -> Iterator[_Person]:
    """Each source record as a subscriber, once per address (the first record with an address wins)."""
    seen: set[str] = set()
    for record in sources.read(wizard, sf, sms=sms, sms_consent=dict(shape.sms_consent_by_object), cut=cut):
        tally.read += 1
        made = transforms.subscriber(record.record_id, record.values, shape, record.sobject)
        for reason in made.problems:
            tally.problem(record.key, reason)
        if made.subscriber is None:
            tally.failed += 1
            continue
        address = made.subscriber.email.lower()
        if address in seen:
            tally.duplicates += 1
            continue
        seen.add(address)
        yield _Person(record.key, made.subscriber, parse_bool(record.values.get(sources.OPTED_OUT, "")))


def _run(
    run: ImportRun,
    wizard: ImportWizard,
    cm: CampaignMonitor,
    sf: SalesforceAdapter,
    tally: _Tally,
    *,
    dry_run: bool,
    remove_only: Collection[str] | None,
) -> None:
    options = GeneralOptions.load()
    outbound = Outbound(cm, options)
    if options.disable_triggers and not dry_run:
        raise TriggersDisabled("Disable triggers is on (General Options): nothing is sent to Campaign Monitor")
    sms = sms_allowed()
    shape = _shape(wizard, cm, sms=sms, dry_run=dry_run)
    client_id = wizard.client.cm_client_id
    suppressed = {s.email.lower() for s in cm.suppression_list(client_id, zone=ANY_ZONE)}
    forgotten = forget.forgotten_hashes()
    deleted: set[str] = set()
    if wizard.mode == ImportWizard.Mode.RESUBSCRIBE:
        deleted = {s.email.lower() for s in cm.subscribers(wizard.list_id, "deleted", zone=ANY_ZONE)}

    because = f"import wizard {wizard.name}"
    in_source: set[str] = set()
    batches: dict[bool, list[tuple[str, SubscriberInput]]] = {False: [], True: []}  # by Resubscribe

    def send(resubscribe: bool) -> None:
        """One import call of the people gathered (1,000 at most); a preview only counts them."""
        batch, batches[resubscribe] = batches[resubscribe], []
        if not batch:
            return
        if dry_run:  # what would be sent; only Campaign Monitor can tell new subscribers from existing ones
            run.imported += len(batch)
            run.resubscribed += len(batch) if resubscribe else 0
            return
        keys = {subscriber.email.lower(): key for key, subscriber in batch}
        subscribers = [subscriber for _, subscriber in batch]
        result = outbound.import_subscribers(wizard.list_id, subscribers, resubscribe=resubscribe, because=because)
        accepted = result.new_subscribers + result.existing_subscribers
        run.new += result.new_subscribers
        run.imported += accepted
        run.resubscribed += accepted if resubscribe else 0
        for failure in result.failures:
            tally.failed += 1
            tally.problem(keys.get(failure.email.lower(), failure.email), f"Campaign Monitor: {failure.message}")

    cut: list[str] = []  # why the source was not read whole, if it was not
    for person in _people(wizard, sf, shape, tally, sms=sms, cut=cut):
        address = person.subscriber.email.lower()
        in_source.add(address)
        try:
            if forget.is_forgotten(address, forgotten):
                raise Refused(FORGOTTEN)
            outbound.may_add(opted_out=person.opted_out, suppressed=address in suppressed)
        except Refused as refused:
            tally.refused[str(refused)] += 1
            tally.problem(person.key, str(refused))
            continue
        resubscribe = address in deleted
        batches[resubscribe].append((person.key, person.subscriber))
        if len(batches[resubscribe]) == IMPORT_BATCH:
            send(resubscribe)
    send(False)
    send(True)

    if cut:
        run.message = "; ".join(cut)
        for reason in cut:
            tally.problem(f"report {wizard.report_id}", reason)
    if wizard.mode == ImportWizard.Mode.REMOVE and cut:
        run.message += ": nobody was removed, as the rest of the source was not read"
        return
    if wizard.mode == ImportWizard.Mode.REMOVE:
        gone = sorted(
            s.email for s in cm.subscribers(wizard.list_id, "active", zone=ANY_ZONE) if s.email.lower() not in in_source
        )
        if dry_run:
            run.would_remove = gone
            return
        if remove_only is not None:
            allowed = {email.lower() for email in remove_only}
            beyond = [email for email in gone if email.lower() not in allowed]
            gone = [email for email in gone if email.lower() in allowed]
            if beyond:
                run.message = (f"{len(beyond)} more active subscriber{'s are' if len(beyond) != 1 else ' is'} missing "
                               "from the source than the preview showed: not removed; preview again to see them")  # fmt: skip
        removed = 0
        for email in gone:
            try:
                outbound.delete(wizard.list_id, email, because=f"not in the source of {because}")
            except CampaignMonitorError as error:
                tally.failed += 1
                tally.problem(email, f"not removed: {error}")
                continue
            removed += 1
        run.removed = removed
