"""The jobs of cmsf, each with a code that names it in maintenance messages and a default batch size.

The batch size is the internal governor limit of the job: how many records one batch of the job
writes. A smaller batch means more, smaller jobs (useful when Salesforce automation on the target
object runs out of limits); a larger one means fewer API calls.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Job:
    code: str
    name: str
    default_batch_size: int
    max_batch_size: int
    description: str


JOBS: dict[str, Job] = {
    job.code: job
    for job in (
        Job("CMSF_CLIENT_SYNC", "Clients and lists", 200, 10_000, "Campaign Monitor clients and lists."),
        Job("CMSF_SUBSCRIBER_SYNC", "Subscribers", 10_000, 100_000, "List memberships, linked to contacts and leads."),
        Job("CMSF_CAMPAIGN_SYNC", "Campaigns", 200, 10_000, "Sent campaigns and their statistics."),
        Job(
            "CMSF_TRACKING_SYNC",
            "Tracking history",
            10_000,
            100_000,
            "Sends, opens, clicks, bounces, unsubscribes and spam complaints.",
        ),
        Job("CMSF_SUPPRESSION_SYNC", "Suppression list", 10_000, 100_000, "The suppression list copy."),
        Job(
            "CMSF_CAMPAIGN_MEMBER_SYNC",
            "Campaign members",
            10_000,
            100_000,
            "Campaign members, their statuses and aggregates.",
        ),
        Job(
            "CMSF_RETENTION",
            "Tracking history retention",
            10_000,
            100_000,
            "Removing tracking history older than days to keep.",
        ),
        Job("CMSF_FULL_SYNC_PURGE", "Full sync purge", 10_000, 100_000, "Removing cmsf's records before a full sync."),
        Job(
            "CMSF_EMAIL_OPT_OUT", "Email opt-out", 200, 10_000, "Email Opt Out between Salesforce and Campaign Monitor."
        ),
        Job(
            "CMSF_FIELD_MAPPINGS",
            "Field mappings",
            200,
            10_000,
            "Custom field values written to the contacts and leads they are mapped to.",
        ),
        Job(
            "CMSF_RECORD_CREATION",
            "Record creation",
            200,
            10_000,
            "Contacts and leads made for active subscribers no record matches.",
        ),
        Job("CMSF_SF_WATCHER", "Salesforce changes", 2_000, 50_000, "Contacts and leads changed in Salesforce."),
        Job(
            "CMSF_IMPORT_WIZARD",
            "Import wizard",
            1_000,
            1_000,
            "Subscribers sent to Campaign Monitor (at most 1,000 a call).",
        ),
    )
}
