"""What went wrong in a run, told to the admin: maintenance messages with support codes, the guidance of each code
(from its one home, `cmsf.maintenance.support_codes`) and the client, so that Retry can sync it again."""

from __future__ import annotations

from collections import defaultdict

from cmsf.connections.models import CampaignMonitorClient
from cmsf.maintenance.models import MaintenanceMessage
from cmsf.maintenance.services import record_message, resolve_cleared
from cmsf.maintenance.support_codes import guidance
from cmsf.sync.models import SyncRun, SyncStatus
from cmsf.sync.writer import SAMPLED_FAILURES, WriteTally

JOB_OF_OBJECT = {
    "CMSF_Client__c": "CMSF_CLIENT_SYNC",
    "CMSF_List__c": "CMSF_CLIENT_SYNC",
    "CMSF_Subscriber__c": "CMSF_SUBSCRIBER_SYNC",
    "CMSF_Campaign__c": "CMSF_CAMPAIGN_SYNC",
    "CMSF_Email_Activity__c": "CMSF_TRACKING_SYNC",
    "CMSF_Suppression__c": "CMSF_SUPPRESSION_SYNC",
}
# Every job a sync run reports under: a run that went through to its end resolves the open messages of these jobs
# for its client that it did not meet again.
SYNC_JOBS = (*dict.fromkeys(JOB_OF_OBJECT.values()), "CMSF_CAMPAIGN_MEMBER_SYNC", "CMSF_RETENTION", "CMSF_EMAIL_OPT_OUT",
             "CMSF_FIELD_MAPPINGS", "CMSF_RECORD_CREATION", "CMSF_SYNC")  # fmt: skip
# The sync writes contacts and leads to check Email Opt Out (General Options), and their mapped fields (which say so:
# `Failure.job`).
JOB_OF_STANDARD_OBJECT = {"Contact": "CMSF_EMAIL_OPT_OUT", "Lead": "CMSF_EMAIL_OPT_OUT"}

MAX_KEYS = SAMPLED_FAILURES  # keys listed in a message; the writer keeps no more


def summary(tally: WriteTally) -> str:
    return summary_of_count(sum(tally.failed.values()))


def report(run: SyncRun, tally: WriteTally) -> None:
    """One message per object and error code (listing the first records' keys), and one for a failed or stopped
    run."""
    grouped: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    messages: dict[tuple[str, str, str], str] = {}
    for failure in tally.failures:
        group = (failure.sobject, failure.error.code, failure.job)
        grouped[group].append(f"{failure.key}: {failure.error.message}")
        messages.setdefault(group, failure.error.message)
    for (sobject, code, job), lines in grouped.items():
        count = max(tally.failure_counts.get((sobject, code), 0), len(lines))
        shown = lines[:MAX_KEYS] + ([f"... and {count - len(lines[:MAX_KEYS])} more"] if count > MAX_KEYS else [])
        record_message(
            support_code=f"CMSF-SF-{code}",
            job=job or JOB_OF_OBJECT.get(sobject) or JOB_OF_STANDARD_OBJECT.get(sobject, "CMSF_SYNC"),
            message=f"{count} {sobject} record{'s' if count != 1 else ''} of client "
            f"{run.client.name} not written: {messages[(sobject, code, job)]}",
            details="\n".join([*_outcome(run), *shown]),
            guidance=guidance(f"CMSF-SF-{code}"),
            client_id=run.client_id,
            subject=sobject,
        )
    if run.status == SyncRun.Status.STOPPED:
        record_message(
            support_code="CMSF-API-BUDGET",
            job="CMSF_SYNC",
            severity="warning",
            message=f"The sync of {run.client.name} stopped at the Salesforce API limit.",
            details=run.message,
            guidance=guidance("CMSF-API-BUDGET"),
            client_id=run.client_id,
        )
    elif run.status == SyncRun.Status.NOT_CONNECTED:
        record_message(
            support_code="CMSF-NOT-CONNECTED",
            job="CMSF_SYNC",
            severity="warning",
            message=f"The sync of {run.client.name} did not run: {run.message.rstrip('.')}.",
            details=run.message,
            guidance=guidance("CMSF-NOT-CONNECTED"),
            client_id=run.client_id,
        )
    elif run.status == SyncRun.Status.FAILED:
        code = "CMSF-RECONNECT" if "reconnect" in run.message.lower() else "CMSF-SYNC-FAILED"
        record_message(
            support_code=code,
            job="CMSF_SYNC",
            message=f"The sync of {run.client.name} failed.",
            details=run.message,
            guidance=guidance(code),
            client_id=run.client_id,
        )


def _outcome(run: SyncRun) -> list[str]:
    """The line that tells how the run ended, above a message's records (none while it has not ended)."""
    if run.status not in SyncRun.ENDED:
        return []
    return [f"The run: {run.get_status_display()}" + (f" ({run.message})." if run.message else ".")]


def settle(run: SyncRun) -> None:
    """Before the run's problems are reported: a run that went through to its end is "succeeded with problems" when
    it met any (records refused, or an error or warning told for its client while it ran)."""
    if run.status not in SyncRun.COMPLETED or run.started_at is None:
        return
    told = MaintenanceMessage.objects.filter(
        client_id=run.client_id,
        resolved_at=None,
        last_seen_at__gte=run.started_at,
        severity__in=(MaintenanceMessage.Severity.ERROR, MaintenanceMessage.Severity.WARNING),
    ).count()
    refused = sum(run.failed.values())
    if told or refused:
        run.status = SyncRun.Status.PROBLEMS
        parts = [summary_of_count(refused)] if refused else []
        if told:
            parts.append(f"{told} other problem{'s' if told != 1 else ''} told in Maintenance")
        run.message = "; ".join(parts)
        run.save(update_fields=["status", "message"])


def resolve(run: SyncRun) -> None:
    """After the run's problems are reported: a run that went through to its end resolves the open messages of its
    jobs and client that it did not meet again."""
    if run.status not in SyncRun.COMPLETED or run.started_at is None:
        return
    jobs = SYNC_JOBS if run.kind == SyncRun.Kind.PRIMARY else (*SYNC_JOBS, "CMSF_FULL_SYNC_PURGE")
    resolve_cleared(jobs=jobs, client_id=run.client_id, since=run.started_at)


def summary_of_count(failed: int) -> str:
    return f"{failed:,} record{'s' if failed != 1 else ''} could not be written" if failed else ""


# Worst first: the status Sync Settings shows is the worst of the clients' last runs.
_SEVERITY = (
    SyncRun.Status.NOT_CONNECTED,
    SyncRun.Status.FAILED,
    SyncRun.Status.STOPPED,
    SyncRun.Status.PROBLEMS,
    SyncRun.Status.SUCCEEDED,
)


def overall_status(run: SyncRun) -> tuple[str, str]:
    """(status, message) of the sync as a whole after `run`: the worst of the last ended run of every client synced
    (the run's own client included), each message named by its client."""
    latest = {run.client_id: run}
    clients = CampaignMonitorClient.objects.filter(active=True, selected=True).exclude(pk=run.client_id)
    for client in clients:
        last = (
            SyncRun.objects.filter(client=client, dry_run=False, status__in=SyncRun.ENDED)
            .select_related("client")
            .order_by("-finished_at", "-id")
            .first()
        )
        if last is not None:
            latest[client.pk] = last
    worst = min(latest.values(), key=lambda r: _SEVERITY.index(SyncRun.Status(r.status)))
    status = SyncStatus(worst.status)
    if status == SyncStatus.SUCCEEDED:
        return status, ""
    told = [r for r in latest.values() if r.status == worst.status and r.message]
    return status, "; ".join(f"{r.client.name}: {r.message}" if len(latest) > 1 else r.message for r in told)
