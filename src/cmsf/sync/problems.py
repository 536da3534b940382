"""What went wrong in a run, told to the admin: maintenance messages with support codes and guidance."""

from __future__ import annotations

from collections import defaultdict

from cmsf.maintenance.services import record_message
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

# Salesforce's record errors that have a known cause, with what the admin can do about each.
GUIDANCE = {
    "INVALID_FIELD": "A field cmsf writes is missing or hidden. Run the schema check under Maintenance and "
    "give the Salesforce Sync User the CM Full Access permission set.",
    "INVALID_FIELD_FOR_INSERT_UPDATE": "The Salesforce Sync User cannot edit a field cmsf writes: assign the CM "
    "Full Access permission set.",
    "INSUFFICIENT_ACCESS_OR_READONLY": "The Salesforce Sync User lacks access: assign the CM Full Access "
    "permission set, or change the Salesforce Sync User.",
    "INACTIVE_OWNER_OR_USER": "The Salesforce Security Owner of this client is inactive: choose another owner.",
    "STORAGE_LIMIT_EXCEEDED": "The org's data storage is full: lower the days to keep or the email types stored.",
    "UNABLE_TO_LOCK_ROW": "Other automation held the records; they are sent again on the next sync. Lower the "
    "batch size of this job under the internal governor limits if it keeps happening.",
    "FIELD_CUSTOM_VALIDATION_EXCEPTION": "A validation rule in the org refused the record: adjust the rule for "
    "cmsf's objects.",
}
DEFAULT_GUIDANCE = "The records were not written; the rest of the batch was. They are tried again on the next sync."
MAX_KEYS = SAMPLED_FAILURES  # keys listed in a message; the writer keeps no more


def summary(tally: WriteTally) -> str:
    failed = sum(tally.failed.values())
    return f"{failed} record{'s' if failed != 1 else ''} could not be written" if failed else ""


def report(run: SyncRun, tally: WriteTally) -> None:
    """One message per object and error code (listing the first records' keys), and one for a failed or stopped
    run."""
    grouped: dict[tuple[str, str], list[str]] = defaultdict(list)
    messages: dict[tuple[str, str], str] = {}
    for failure in tally.failures:
        group = (failure.sobject, failure.error.code)
        grouped[group].append(f"{failure.key}: {failure.error.message}")
        messages.setdefault(group, failure.error.message)
    for (sobject, code), lines in grouped.items():
        count = max(tally.failure_counts.get((sobject, code), 0), len(lines))
        shown = lines[:MAX_KEYS] + ([f"... and {count - len(lines[:MAX_KEYS])} more"] if count > MAX_KEYS else [])
        record_message(
            support_code=f"CMSF-SF-{code}",
            job=JOB_OF_OBJECT.get(sobject, "CMSF_SYNC"),
            message=f"{count} {sobject} record{'s' if count != 1 else ''} of client "
            f"{run.client.name} not written: {messages[(sobject, code)]}",
            details="\n".join(shown),
            guidance=GUIDANCE.get(code, DEFAULT_GUIDANCE),
        )
    if run.status == SyncRun.Status.STOPPED:
        record_message(
            support_code="CMSF-API-BUDGET",
            job="CMSF_SYNC",
            severity="warning",
            message=f"The sync of {run.client.name} stopped at the Salesforce API limit.",
            details=run.message,
            guidance="It goes on from where it stopped at the next run. Raise cmsf's API budget (a share of the "
            "org's daily limit) or sync less often if this happens every day.",
        )
    elif run.status == SyncRun.Status.FAILED:
        reconnect = "reconnect" in run.message.lower()
        record_message(
            support_code="CMSF-RECONNECT" if reconnect else "CMSF-SYNC-FAILED",
            job="CMSF_SYNC",
            message=f"The sync of {run.client.name} failed.",
            details=run.message,
            guidance="Reconnect the service named in the details."
            if reconnect
            else "The next sync tries again; if it fails the same way, check the details and the connections.",
        )
