"""What went wrong in a run, told to the admin: maintenance messages with support codes, the guidance of each code
(from its one home, `cmsf.maintenance.support_codes`) and the client, so that Retry can sync it again."""

from __future__ import annotations

from collections import defaultdict

from cmsf.maintenance.services import record_message
from cmsf.maintenance.support_codes import guidance
from cmsf.sync.models import SyncRun
from cmsf.sync.writer import SAMPLED_FAILURES, WriteTally

JOB_OF_OBJECT = {
    "CMSF_Client__c": "CMSF_CLIENT_SYNC",
    "CMSF_List__c": "CMSF_CLIENT_SYNC",
    "CMSF_Subscriber__c": "CMSF_SUBSCRIBER_SYNC",
    "CMSF_Campaign__c": "CMSF_CAMPAIGN_SYNC",
    "CMSF_Email_Activity__c": "CMSF_TRACKING_SYNC",
    "CMSF_Suppression__c": "CMSF_SUPPRESSION_SYNC",
}
# The sync writes contacts and leads to check Email Opt Out (General Options), and their mapped fields (which say so:
# `Failure.job`).
JOB_OF_STANDARD_OBJECT = {"Contact": "CMSF_EMAIL_OPT_OUT", "Lead": "CMSF_EMAIL_OPT_OUT"}

MAX_KEYS = SAMPLED_FAILURES  # keys listed in a message; the writer keeps no more


def summary(tally: WriteTally) -> str:
    failed = sum(tally.failed.values())
    return f"{failed} record{'s' if failed != 1 else ''} could not be written" if failed else ""


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
            details="\n".join(shown),
            guidance=guidance(f"CMSF-SF-{code}"),
            client_id=run.client_id,
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
