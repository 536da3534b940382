"""The primary sync's streams, declared as data: what each reads from Campaign Monitor, the scope its cursor is kept
per, the transform that makes a Salesforce row of each record, and the `Target` the rows are written to.

The engine (`sync.engine`) iterates over these declarations; a stream's cursor is stored under its `name` and the
id of its scope (a list's, a campaign's), so the names are those of the cursors in every database and never change.
Whole streams (read in full every run, with no cursor) are declared as well, for their target and job.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from cmsf.campaign_monitor.api import CampaignActivity, CampaignMonitor, SubscriberState
from cmsf.sync.transforms import (
    ACTIVITY,
    CAMPAIGN,
    CLIENT,
    EMAIL_TYPE_OF_KIND,
    LIST,
    SUBSCRIBER,
    SUPPRESSION,
    Row,
    Target,
    activity_row,
    campaign_row,
    client_row,
    list_row,
    subscriber_row,
    suppression_row,
)

STATES: tuple[SubscriberState, ...] = ("active", "unconfirmed", "unsubscribed", "bounced", "deleted")
KINDS: tuple[CampaignActivity, ...] = ("opens", "clicks", "bounces", "unsubscribes", "spam")
Scope = Literal["client", "list", "campaign"]
# Opens a stream: Campaign Monitor, the id of the stream's scope, the client's time zone, and the moment its cursor
# says to read from (None: from the start).
Read = Callable[[CampaignMonitor, str, str, datetime | None], Iterator[Any]]


@dataclass(frozen=True)
class Stream:
    """One stream of the primary sync. `name` is its cursor's name (None for a stream read whole every run);
    `scope` what its cursor is kept per; `read` opens it; `transform` makes a row of a record; `counted` the
    run's read count it adds to; `job` the governor limit its writes follow; `kind` a tracking stream's kind of
    activity, and `email_type` the tracking-history setting that turns it on."""

    name: str | None
    scope: Scope
    read: Read | None
    transform: Callable[..., Row]
    target: Target
    job: str
    counted: str
    kind: str = ""  # a tracking stream's kind of activity (`activity_row`)
    email_type: str = ""

    def cursor(self, scope_id: str) -> tuple[str, str]:
        """The (stream, scope) key of this stream's cursor for one list or campaign."""
        assert self.name is not None, "a stream read whole has no cursor"
        return self.name, scope_id


def _subscribers(state: SubscriberState) -> Read:
    def read(cm: CampaignMonitor, list_id: str, zone: str, since: datetime | None) -> Iterator[Any]:
        return cm.subscribers(list_id, state, zone=zone, since=since)

    return read


def _activity(kind: CampaignActivity) -> Read:
    def read(cm: CampaignMonitor, campaign_id: str, zone: str, since: datetime | None) -> Iterator[Any]:
        return cm.campaign_activity(campaign_id, kind, zone=zone, since=since)

    return read


def _recipients(cm: CampaignMonitor, campaign_id: str, zone: str, since: datetime | None) -> Iterator[Any]:
    return cm.campaign_recipients(campaign_id, zone=zone)  # read once, whole: the cursor only says it was read


CLIENT_STREAM = Stream(
    name=None, scope="client", read=None, transform=client_row, target=CLIENT, job="CMSF_CLIENT_SYNC", counted="client"
)
LISTS = Stream(
    name=None, scope="client", read=None, transform=list_row, target=LIST, job="CMSF_CLIENT_SYNC", counted="lists"
)
SUBSCRIBERS: tuple[Stream, ...] = tuple(
    Stream(
        name=f"subscribers:{state}",
        scope="list",
        read=_subscribers(state),
        transform=subscriber_row,
        target=SUBSCRIBER,
        job="CMSF_SUBSCRIBER_SYNC",
        counted="subscribers",
    )
    for state in STATES
)
CAMPAIGNS = Stream(
    name=None,
    scope="client",
    read=None,
    transform=campaign_row,
    target=CAMPAIGN,
    job="CMSF_CAMPAIGN_SYNC",
    counted="campaign summaries",
)
RECIPIENTS = Stream(
    name="recipients",
    scope="campaign",
    read=_recipients,
    transform=activity_row,
    target=ACTIVITY,
    job="CMSF_TRACKING_SYNC",
    counted="recipients",
    kind="sent",
    email_type=EMAIL_TYPE_OF_KIND["sent"],
)
ACTIVITIES: tuple[Stream, ...] = tuple(
    Stream(
        name=f"activity:{kind}",
        scope="campaign",
        read=_activity(kind),
        transform=activity_row,
        target=ACTIVITY,
        job="CMSF_TRACKING_SYNC",
        counted=kind,
        kind=kind,
        email_type=EMAIL_TYPE_OF_KIND[kind],
    )
    for kind in KINDS
)
SUPPRESSIONS = Stream(
    name=None,
    scope="client",
    read=None,
    transform=suppression_row,
    target=SUPPRESSION,
    job="CMSF_SUPPRESSION_SYNC",
    counted="suppressions",
)

STREAMS: tuple[Stream, ...] = (CLIENT_STREAM, LISTS, *SUBSCRIBERS, CAMPAIGNS, RECIPIENTS, *ACTIVITIES, SUPPRESSIONS)
