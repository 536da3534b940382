"""The primary sync of one Campaign Monitor client, stream by stream.

Order: the client, its lists (with statistics), subscribers of every state, sent campaigns (with their
summaries), tracking history, the suppression list, then retention. The streams are declared in `sync.streams`;
what the stages share within a run (the context, the buffer, write-behind) is `sync.run`. Each incremental stream
reads from its cursor less a lag (the date filter is inclusive; the ledger drops what was already written), and the
cursor moves only after the write succeeded, and never past the start of the run.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, cast

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from cmsf.billing.services import features
from cmsf.campaign_monitor.api import CampaignMonitor
from cmsf.campaign_monitor.errors import CampaignMonitorError
from cmsf.campaign_monitor.errors import ConfigurationError as CmConfigurationError
from cmsf.campaign_monitor.records import Activity, Campaign, Recipient, Subscriber
from cmsf.connections import services as connections
from cmsf.connections.models import CampaignMonitorClient
from cmsf.maintenance import observe, support_codes
from cmsf.maintenance.services import record_message
from cmsf.options.models import CampaignSettings, GeneralOptions, TrackingHistorySettings
from cmsf.options.services import benchmark_rates
from cmsf.salesforce.adapter import SalesforceAdapter
from cmsf.salesforce.errors import (
    ApiLimitExceeded,
    AuthenticationError,
    BudgetExhausted,
    SalesforceError,
)
from cmsf.sync import (
    forget,
    mapped_fields,
    opt_out,
    partitions,
    problems,
    record_creation,
    repair,
    salesforce_campaigns,
    webhooks,
)
from cmsf.sync.directory import follow as follow_directory
from cmsf.sync.leases import LeaseLost, release_run, worker_id
from cmsf.sync.models import CampaignLink, Cursor, RecordMap, SyncPartition, SyncRun, SyncSettings, TrackingCoverage
from cmsf.sync.run import (
    ACTIVITY_WRITE,
    READ_AHEAD,
    Buffer,
    Context,
    Progress,
    batch_of,
    directory,
    load_cursors,
    read_ahead,
    read_from,
    row_person,
    settle_behind,
    write_behind,
)
from cmsf.sync.streams import (
    ACTIVITIES,
    CAMPAIGNS,
    CLIENT_STREAM,
    LISTS,
    RECIPIENTS,
    SUBSCRIBERS,
    SUPPRESSIONS,
    Stream,
)
from cmsf.sync.transforms import (
    ACTIVITY,
    CAMPAIGN,
    CLIENT,
    EMAIL_TYPE_OF_KIND,
    LIST,
    SUBSCRIBER,
    SUPPRESSION,
    Row,
    sf_datetime,
)
from cmsf.sync.writer import PERSON_FIELDS, Failure, Writer, WriteTally, plain


def _relink(ctx: Context, rows: list[Row]) -> list[Row | None]:
    """Rows Salesforce refused because a contact or lead they link to is gone (deleted or merged since the directory
    last looked): the directory follows Salesforce (once per run for the same people; `directory.follow`), and each
    row is linked again by its email. None for a row whose links stay as they were (a refusal of another kind)."""
    assert ctx.sf is not None
    gone = {str(row[name]) for row in rows for name in PERSON_FIELDS if row.get(name)}
    if not gone <= ctx.followed:
        ctx.directory = follow_directory(ctx.sf, gone)
        ctx.followed |= gone
    relinked: list[Row | None] = []
    for row in rows:
        link = directory(ctx).link(str(row.get("Email__c") or ""))
        fresh = {**row, "Contact__c": link.contact_id or None, "Lead__c": link.lead_id or None}
        relinked.append(None if all(fresh[name] == row.get(name) for name in PERSON_FIELDS) else fresh)
    return relinked


# -- stages ------------------------------------------------------------------------------------------


def sync_client_record(ctx: Context) -> None:
    ctx.stage("client")
    details = ctx.cm.client(ctx.client.cm_client_id)
    ctx.read[CLIENT_STREAM.counted] += 1
    ctx.zone = details.time_zone or ctx.client.time_zone or "(GMT) Coordinated Universal Time"
    CampaignMonitorClient.objects.filter(pk=ctx.client.pk).update(name=details.name, time_zone=ctx.zone)
    row = CLIENT_STREAM.transform(details, synced_at=ctx.started, owner_id=ctx.owner)
    row.pop("Last_Synced__c")  # written at the end of the run, so an unchanged client is not sent again
    write_behind(ctx, CLIENT_STREAM.target, [row], CLIENT_STREAM.job)


def sync_lists(ctx: Context) -> list[str]:
    ctx.stage("lists")
    rows: list[Row] = []
    list_ids = []
    for summary in ctx.cm.lists(ctx.client.cm_client_id):
        details = ctx.cm.list_details(summary.list_id)
        stats = ctx.cm.list_stats(summary.list_id)
        ctx.read[LISTS.counted] += 1
        row = LISTS.transform(ctx.client.cm_client_id, details, stats, synced_at=ctx.started, owner_id=ctx.owner)
        row.pop("Last_Synced__c")
        rows.append(row)
        list_ids.append(summary.list_id)
    write_behind(ctx, LISTS.target, rows, LISTS.job)
    return list_ids


def _webhooks(ctx: Context, list_ids: list[str]) -> None:
    """Real time: cmsf's webhook on every list of the client (`sync.webhooks`; no call once all are registered). A
    refusal is a maintenance message; the sync goes on (the webhooks only bring changes sooner)."""
    if ctx.writer.dry_run:
        return
    try:
        webhooks.ensure(ctx.cm, ctx.client, list_ids)
    except CampaignMonitorError as error:
        record_message(
            support_code=WEBHOOKS_CODE,
            job="CMSF_SYNC",
            message=f"The webhooks of {ctx.client.name} could not be registered: changes arrive with the hourly sync.",
            details=str(error),
            guidance=support_codes.guidance(WEBHOOKS_CODE),
            client_id=ctx.client.pk,
        )


def _opener(
    ctx: Context, declared: Stream, scope_id: str, floor: datetime | None = None
) -> Callable[[], Iterator[Any]]:
    """Opens a declared stream of one list or campaign from its cursor (less the lag; not before `floor`)."""
    assert declared.read is not None and declared.name is not None
    since = read_from(ctx, declared.name, scope_id, floor=floor)
    return partial(declared.read, ctx.cm, scope_id, ctx.zone, since)


def _taken(ctx: Context, prefix: str) -> Iterator[SyncPartition]:
    """The run's partitions of one kind that this worker takes, one at a time, as the run reaches for the next (so a
    worker that joins later finds the rest open)."""
    while (taken := partitions.claim(ctx.run.pk, ctx.worker, prefix)) is not None:
        ctx.holding += 1
        yield taken


def sync_subscribers(ctx: Context) -> None:
    """The subscribers of every state of the lists whose partitions this worker takes."""
    ctx.stage("subscribers")
    buffer = Buffer(ctx, SUBSCRIBER, SUBSCRIBERS[0].job)  # every state of every list taken, in one buffer

    def streams() -> Iterator[tuple[tuple[Stream, str], Callable[[], Iterator[Subscriber]]]]:
        for taken in _taken(ctx, partitions.LIST):
            list_id = partitions.scope_of(taken.key)
            for declared in SUBSCRIBERS:
                yield (declared, list_id), _opener(ctx, declared, list_id)

    gone: set[str] = set()  # the contacts and leads of subscribers seen unsubscribed or deleted
    inbound = mapped_fields.Inbound.load(ctx.client)  # field mappings toward Salesforce, None when there are none
    creation = record_creation.Creation.load(ctx.client)  # lists that create records, None when there are none
    for (declared, list_id), subscribers in read_ahead(ctx, streams()):
        stream, newest = buffer.stream(), None
        for subscriber in subscribers:
            ctx.read[declared.counted] += 1
            if ctx.forgotten and forget.is_forgotten(subscriber.email, ctx.forgotten):
                continue
            link = directory(ctx).link(subscriber.email, subscriber.custom_fields)
            buffer.add(stream, declared.transform(list_id, subscriber, link, owner_id=ctx.owner))
            if inbound is not None:
                inbound.gather(list_id, subscriber, link)
            if creation is not None:
                creation.gather(list_id, subscriber, link)
            if subscriber.state in opt_out.GONE:
                gone.update(who for who in (link.contact_id, link.lead_id) if who)
            if subscriber.date and (newest is None or subscriber.date > newest):
                newest = subscriber.date
        buffer.end(stream, (*declared.cursor(list_id), newest))
    buffer.flush()
    ctx.behind[SUBSCRIBER] = buffer  # the last batch is written while the campaigns are read (settled before tracking)
    if inbound is not None:
        ctx.stage("mapped fields")
        inbound.write(ctx.writer, ctx.sf, ctx.tally, batch_size=batch_of(mapped_fields.JOB), heartbeat=ctx.heartbeat)
    if creation is not None:
        ctx.stage("creating records")
        creation.write(ctx.writer, ctx.sf, batch_size=batch_of(record_creation.JOB))
    if gone and ctx.sf is not None and GeneralOptions.load().opt_out_when_unsubscribed_everywhere:
        settle_behind(ctx, SUBSCRIBER)  # the pass reads the memberships just written
        ctx.stage("email opt-out")
        _opt_out_everywhere(ctx, gone)


def _opt_out_everywhere(ctx: Context, people: set[str]) -> None:
    """General Options: Email Opt Out checked on the people left with no active subscription (`sync.opt_out`)."""
    assert ctx.sf is not None
    result = opt_out.opt_out_everywhere(ctx.sf, people, dry_run=ctx.writer.dry_run)
    for person in result.checked:
        ctx.tally.written[opt_out.object_of(person)] += 1
    for person, error in result.failed:
        sobject = opt_out.object_of(person)
        ctx.tally.fail(Failure(sobject, person, error))
        ctx.tally.failed[sobject] += 1


def _campaigns(ctx: Context, settings: CampaignSettings) -> list[Campaign]:
    campaigns = list(
        ctx.cm.sent_campaigns(
            ctx.client.cm_client_id,
            zone=ctx.zone,
            sent_from=settings.filter_start_date,
            tags=settings.filter_tags or (),
        )
    )
    ctx.read["campaigns"] += len(campaigns)
    return campaigns


def sync_campaigns(ctx: Context, campaigns: list[Campaign], refresh: set[str]) -> set[str]:
    """Write the campaigns not yet in Salesforce, and refresh the statistics of `refresh`; returns the ids
    whose summary was read."""
    settle_behind(ctx, CAMPAIGN)
    known = set(RecordMap.objects.filter(sobject=CAMPAIGN.sobject, client=ctx.client).values_list("key", flat=True))
    wanted = [c for c in campaigns if c.campaign_id not in known or c.campaign_id in refresh]
    ids = [c.campaign_id for c in wanted]
    summaries = ctx.reader.map(ctx.cm.campaign_summary, ids) if ctx.reader else map(ctx.cm.campaign_summary, ids)
    rows = []
    for campaign, summary in zip(wanted, summaries, strict=True):
        ctx.read[CAMPAIGNS.counted] += 1
        ctx.summaries[campaign.campaign_id] = summary
        rows.append(
            CAMPAIGNS.transform(
                ctx.client.cm_client_id,
                campaign,
                summary,
                owner_id=ctx.owner,
                salesforce_campaign_id=ctx.links.get(campaign.campaign_id, ""),
                industry_rates=ctx.industry_rates,
            )
        )
    write_behind(ctx, CAMPAIGNS.target, rows, CAMPAIGNS.job)
    return {row[CAMPAIGN.external_id] for row in rows}


TOUCHED_PEOPLE = 2000  # people noted a campaign; past it, all of the campaign's members are computed again


def _note_change(ctx: Context, sobject: str, rows: list[Row]) -> None:
    """Tracking rows of a linked campaign that differ from what is stored: the members they concern are computed
    again. Only linked campaigns have members to compute, and a campaign with many changes has all of them
    computed, so what is noted stays small however long the run (a set of thousands a campaign, over hundreds of
    campaigns, held tens of megabytes on `large`)."""
    if sobject != ACTIVITY.sobject or not ctx.links:
        return
    for row in rows:
        campaign_id = str(row[ACTIVITY.external_id]).split(":", 1)[0]
        if campaign_id not in ctx.links:
            continue
        people = ctx.touched.setdefault(campaign_id, set())
        if people is not None:
            people.add(row_person(row))
            if len(people) > TOUCHED_PEOPLE:
                ctx.touched[campaign_id] = None


@dataclass(frozen=True)
class _Sent:
    """What a campaign's partition needs of the campaign: its id and when it was sent (kept in the partition's
    detail, so a worker that did not read the campaigns reads its activity)."""

    campaign_id: str
    sent_date: datetime | None

    @staticmethod
    def detail(campaign: Campaign) -> dict[str, Any]:
        return {"sent": campaign.sent_date.isoformat() if campaign.sent_date else None}

    @classmethod
    def of(cls, taken: SyncPartition) -> _Sent:
        sent = taken.detail.get("sent")
        return cls(partitions.scope_of(taken.key), datetime.fromisoformat(sent) if sent else None)


WEBHOOKS_CODE = "CMSF-WEBHOOKS"
RETENTION = "retention"  # the cursor of the boundary a retention last removed everything past


def keep_from(moment: datetime, days_to_keep: int) -> datetime:
    """The oldest moment of tracking history kept: days to keep counts whole days (UTC), today and the days before
    it, so the boundary moves once a day and a sync that finds nothing new removes nothing either."""
    today = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days_to_keep)


def _cover(ctx: Context, tracking: TrackingHistorySettings) -> None:
    """Start the activity cursors over when days to keep or the email types changed since they were read."""
    fingerprint = f"{tracking.days_to_keep}:{','.join(sorted(tracking.email_types))}"
    coverage = TrackingCoverage.objects.filter(client=ctx.client).values_list("fingerprint", flat=True).first()
    if coverage == fingerprint or ctx.writer.dry_run:
        return
    tracking_streams = [declared.name for declared in (RECIPIENTS, *ACTIVITIES)]
    Cursor.objects.filter(client=ctx.client, stream__in=[*tracking_streams, RETENTION]).delete()
    ctx.cursors = load_cursors(ctx.client)
    TrackingCoverage.objects.update_or_create(client=ctx.client, defaults={"fingerprint": fingerprint})


def _tracking_under_plan(tracking: TrackingHistorySettings, now: datetime) -> TrackingHistorySettings:
    """The Free plan stores no tracking history: the sync then reads none and retention removes what is stored
    (the settings themselves are kept, for when a paid plan is chosen)."""
    if not features(now).tracking_history:
        tracking.days_to_keep = 0
    return tracking


def _salesforce_campaigns(
    ctx: Context, campaigns: list[Campaign], settings: CampaignSettings
) -> dict[str, CampaignLink]:
    """Linked and auto-created Salesforce campaigns: drop the ones deleted in Salesforce, create the new ones,
    mark the newly linked ones; the live links, whose statistics and members the run writes."""
    ctx.stage("salesforce campaigns")
    links = salesforce_campaigns.live_links(ctx.client.pk)
    salesforce_campaigns.drop_deleted(ctx, links)
    salesforce_campaigns.auto_create(ctx, campaigns, settings, links)
    salesforce_campaigns.claim_manual_links(ctx, links)
    ctx.links = {cm_id: link.salesforce_campaign_id for cm_id, link in links.items()}
    return links


def sync_tracking(ctx: Context, tracking: TrackingHistorySettings) -> None:
    """Tracking history of the chosen kinds within days to keep, of the campaigns whose partitions this worker
    takes."""
    ctx.stage("tracking history")
    # The writes left behind (the last subscribers, the campaigns) are settled first: they were written while the
    # campaigns were read, and their rows are not held through the longest stage.
    settle_behind(ctx)
    if tracking.days_to_keep <= 0:
        for _ in _taken(ctx, partitions.CAMPAIGN):
            pass  # nothing to read: the partitions are done with this worker's share
        return
    cutoff = keep_from(ctx.started, tracking.days_to_keep)
    buffer = Buffer(ctx, ACTIVITY, RECIPIENTS.job, context=ACTIVITY_WRITE)  # every tracking stream, in one buffer

    def streams() -> Iterator[tuple[tuple[Stream, _Sent], Callable[[], Iterator[Recipient | Activity]]]]:
        for taken in _taken(ctx, partitions.CAMPAIGN):
            campaign = _Sent.of(taken)
            if tracking.stores(RECIPIENTS.email_type) and campaign.sent_date and campaign.sent_date >= cutoff:
                if RECIPIENTS.cursor(campaign.campaign_id) not in ctx.cursors:  # read once
                    yield (RECIPIENTS, campaign), _opener(ctx, RECIPIENTS, campaign.campaign_id)
            for declared in ACTIVITIES:
                if tracking.stores(declared.email_type):
                    yield (declared, campaign), _opener(ctx, declared, campaign.campaign_id, floor=cutoff)

    for (declared, campaign), records in read_ahead(ctx, streams()):
        stream, newest = buffer.stream(), None
        if declared is RECIPIENTS:
            for recipient in records:
                ctx.read[declared.counted] += 1
                if ctx.forgotten and forget.is_forgotten(recipient.email, ctx.forgotten):
                    continue
                link = directory(ctx).link(recipient.email)
                buffer.add(stream, declared.transform(
                    campaign.campaign_id, declared.kind, None, email=recipient.email, when=campaign.sent_date,
                    list_id=recipient.list_id, link=link, owner_id=ctx.owner,
                ))  # fmt: skip
            buffer.end(stream, (*declared.cursor(campaign.campaign_id), ctx.started))
            continue
        for activity in cast(Iterator[Activity], records):  # every stream but the recipients gives activity
            ctx.read[declared.counted] += 1
            if (
                activity.date is None
                or activity.date < cutoff
                or (ctx.forgotten and forget.is_forgotten(activity.email, ctx.forgotten))
            ):
                continue
            link = directory(ctx).link(activity.email)
            buffer.add(stream, declared.transform(
                campaign.campaign_id, declared.kind, activity, email=activity.email, when=activity.date,
                list_id=activity.list_id, link=link, owner_id=ctx.owner,
            ))  # fmt: skip
            newest = activity.date if newest is None or activity.date > newest else newest
        buffer.end(stream, (*declared.cursor(campaign.campaign_id), newest))
    buffer.close()


def sync_suppression(ctx: Context, *, enabled: bool) -> None:
    """The client's suppression list, read whole; addresses no longer on it (or all, when the option is off)
    leave Salesforce."""
    ctx.stage("suppression list")
    rows = []
    if enabled:
        for suppression in ctx.cm.suppression_list(ctx.client.cm_client_id, zone=ctx.zone):
            ctx.read[SUPPRESSIONS.counted] += 1
            if ctx.forgotten and forget.is_forgotten(suppression.email, ctx.forgotten):
                continue
            link = directory(ctx).link(suppression.email)
            rows.append(SUPPRESSIONS.transform(ctx.client.cm_client_id, suppression, link, owner_id=ctx.owner))
        ctx.writer.write(SUPPRESSIONS.target, rows, batch_size=batch_of(SUPPRESSIONS.job))
    current = {row[SUPPRESSION.external_id] for row in rows}
    gone = [
        (key, sf_id)
        for key, sf_id in RecordMap.objects.filter(client=ctx.client, sobject=SUPPRESSION.sobject).values_list(
            "key", "salesforce_id"
        )
        if key not in current
    ]
    if gone:
        ctx.writer.delete(SUPPRESSION.sobject, gone, batch_size=batch_of(SUPPRESSIONS.job))


def _ledger_pages(entries: QuerySet[RecordMap], size: int) -> Iterator[list[tuple[str, str]]]:
    """(key, Salesforce Id) pairs of ledger rows, a page at a time in primary-key order, so a purge of millions
    of rows never holds them all, and a row whose delete failed (still in the ledger) is not met again."""
    after = 0
    while page := list(entries.filter(pk__gt=after).order_by("pk").values_list("pk", "key", "salesforce_id")[:size]):
        after = page[-1][0]
        yield [(key, sf_id) for _, key, sf_id in page]


def apply_retention(ctx: Context, tracking: TrackingHistorySettings) -> None:
    """Delete the tracking history cmsf wrote that is older than days to keep or of an email type no longer
    stored (all of it when days to keep is 0).

    The boundary moves once a day and the sync writes nothing older than it, so once a retention has removed
    everything past a boundary (its cursor), nothing can cross it again until the boundary moves or the tracking
    settings change (which remove the cursor): the hourly syncs in between do not read the ledger for it."""
    ctx.stage("retention")
    old = RecordMap.objects.filter(client=ctx.client, sobject=ACTIVITY.sobject)
    boundary = None
    if tracking.days_to_keep > 0:
        boundary = keep_from(ctx.started, tracking.days_to_keep)
        if ctx.cursors.get((RETENTION, "")) == boundary:
            return
        kept = [kind for kind, email_type in EMAIL_TYPE_OF_KIND.items() if tracking.stores(email_type)]
        old = old.filter(Q(activity_date__lt=boundary) | ~Q(activity_kind__in=kept))
    size = batch_of("CMSF_RETENTION")
    all_gone = True
    for entries in _ledger_pages(old, size):
        ctx.touched.update((key.split(":", 1)[0], None) for key, _ in entries)  # whose rows: not read, so all
        all_gone = ctx.writer.delete(ACTIVITY.sobject, entries, batch_size=size) and all_gone
    if boundary is not None and all_gone and not ctx.writer.dry_run:
        Cursor.objects.update_or_create(client=ctx.client, stream=RETENTION, scope="", defaults={"position": boundary})


def _finish_client(ctx: Context, *, wrote: bool) -> None:
    """Stamp the client's last sync; in Salesforce only when the run (any of its workers) changed something there,
    so a sync that finds nothing new writes nothing."""
    ctx.stage("finishing")
    if ctx.writer.dry_run:
        return
    if wrote:
        stamp = {"Client_Id__c": ctx.client.cm_client_id, "Last_Synced__c": sf_datetime(ctx.started)}
        if ctx.sf is not None:
            ctx.sf.upsert(CLIENT.sobject, CLIENT.external_id, [stamp])
    CampaignMonitorClient.objects.filter(pk=ctx.client.pk).update(last_synced_at=ctx.started)


PURGE_ORDER = (
    ACTIVITY.sobject,
    SUPPRESSION.sobject,
    SUBSCRIBER.sobject,
    CAMPAIGN.sobject,
    LIST.sobject,
    CLIENT.sobject,
)  # children first


def purge_client(ctx: Context) -> None:
    """The first half of a full sync: delete every record cmsf wrote for this client to its own objects
    (never Contacts, Leads, Campaigns or other standard data) and forget the cursors."""
    ctx.stage("purging")
    size = batch_of("CMSF_FULL_SYNC_PURGE")
    for sobject in PURGE_ORDER:
        entries_of = RecordMap.objects.filter(client=ctx.client, sobject=sobject)
        for entries in _ledger_pages(entries_of, size):
            ctx.writer.delete(sobject, entries, batch_size=size)
        if not ctx.writer.dry_run:
            # A record whose delete failed (a lock held past every retry) stays, and the parents deleted next clear
            # its lookup to them: its ledger row no longer tells what Salesforce holds, so it is written again.
            entries_of.exclude(content_hash="").update(content_hash="")
    if not ctx.writer.dry_run:
        Cursor.objects.filter(client=ctx.client).delete()
        ctx.cursors = {}


# -- the run -----------------------------------------------------------------------------------------


def run_primary_sync(
    client: CampaignMonitorClient,
    *,
    full: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
    run: SyncRun | None = None,
    cm: CampaignMonitor | None = None,
    sf: SalesforceAdapter | None = None,
    heartbeat: Callable[[], None] | None = None,
    worker: str | None = None,
    ask_for_helpers: Callable[[int, int], None] | None = None,
) -> SyncRun:
    """Sync one client now (`full`: purge what cmsf wrote first, then import everything): open the run, take its
    partitions with whatever other workers join (`join_run`), and close it when the last partition ends, whichever
    worker that is. The caller holds the client's lease."""
    started = timezone.now()
    if run is None:
        kind = SyncRun.Kind.FULL if full else SyncRun.Kind.PRIMARY
        run = SyncRun.objects.create(client=client, kind=kind, dry_run=dry_run)
    SyncRun.objects.filter(pk=run.pk).update(status=SyncRun.Status.RUNNING, started_at=started)
    run.refresh_from_db()
    return _work(run, client, opening=True, progress=progress, cm=cm, sf=sf, heartbeat=heartbeat, worker=worker,
                 ask_for_helpers=ask_for_helpers)  # fmt: skip


def join_run(
    run: SyncRun, *, cm: CampaignMonitor | None = None, sf: SalesforceAdapter | None = None, worker: str | None = None
) -> SyncRun | None:
    """Take a share of a run another worker opened: its partitions still open, then those whose worker dies while
    this one waits for the run to end, and the run's close when this worker ends the last of them. None when the run
    had ended."""
    if run.status != SyncRun.Status.RUNNING or partitions.remaining(run.pk) == 0:
        return None  # it ended, or its last partitions are being marked done
    return _work(run, run.client, opening=False, progress=None, cm=cm, sf=sf, heartbeat=None, worker=worker,
                 ask_for_helpers=None)  # fmt: skip


def _partitions_of(list_ids: list[str], campaigns: list[Campaign]) -> list[tuple[str, dict[str, Any]]]:
    """A run's partitions, in the order they are offered: lists, campaigns, the suppression list, retention."""
    return [
        *((partitions.list_key(list_id), {}) for list_id in list_ids),
        *((partitions.campaign_key(c.campaign_id), _Sent.detail(c)) for c in campaigns),
        (partitions.SUPPRESSION, {}),
        (partitions.RETENTION, {}),
    ]


def _work(
    run: SyncRun,
    client: CampaignMonitorClient,
    *,
    opening: bool,
    progress: Progress | None,
    cm: CampaignMonitor | None,
    sf: SalesforceAdapter | None,
    heartbeat: Callable[[], None] | None,
    worker: str | None,
    ask_for_helpers: Callable[[int, int], None] | None,
) -> SyncRun:
    assert run.started_at is not None
    started, dry_run = run.started_at, run.dry_run
    tally = WriteTally()
    ctx_cm = ctx_sf = None
    ctx: Context | None = None
    sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cmsf-send")
    reader = ThreadPoolExecutor(max_workers=READ_AHEAD, thread_name_prefix="cmsf-read")
    status, message = SyncRun.Status.SUCCEEDED, ""
    closing = False
    try:
        ctx_cm = cm or connections.campaign_monitor()
        ctx_sf = sf or connections.salesforce()
        writer = Writer(adapter=ctx_sf, client_id=client.pk, dry_run=dry_run, tally=tally)
        ctx = Context(run=run, client=client, cm=ctx_cm, sf=ctx_sf, writer=writer, tally=tally, started=started,
                      owner=client.security_owner_id, progress=progress, cursors=load_cursors(client), sender=sender,
                      reader=reader, forgotten=forget.forgotten_hashes(), worker=worker or worker_id(),
                      zone=client.time_zone)  # fmt: skip
        writer.heartbeat = ctx.heartbeat = partial(_beat, ctx, heartbeat)
        writer.on_change = partial(_note_change, ctx)
        writer.relink = partial(_relink, ctx)
        tracking = _tracking_under_plan(TrackingHistorySettings.load(), started)
        campaign_settings = CampaignSettings.load()
        ctx.industry_rates = benchmark_rates(campaign_settings)
        campaigns: list[Campaign] | None = None
        fresh: set[str] = set()
        check_parents: bool | None = None
        if opening:
            if run.kind == SyncRun.Kind.FULL:
                purge_client(ctx)
            check_parents = repair.due(ctx)  # decided before the run writes: a first run has nothing to repair
            sync_client_record(ctx)
            list_ids = sync_lists(ctx)
            _webhooks(ctx, list_ids)
            ctx.stage("campaigns")
            campaigns = _campaigns(ctx, campaign_settings)
            _salesforce_campaigns(ctx, campaigns, campaign_settings)  # first: new rows carry their link
            fresh = sync_campaigns(ctx, campaigns, refresh=set())
            _cover(ctx, tracking)
            if settings.CMSF_SYNC_HELPERS > 0:
                settle_behind(ctx)  # every parent in Salesforce before another worker may take a partition
            partitions.open_run(run, _partitions_of(list_ids, campaigns))
            if ask_for_helpers is not None and settings.CMSF_SYNC_HELPERS > 0:
                ask_for_helpers(run.pk, settings.CMSF_SYNC_HELPERS)  # the queue's `join_run` jobs
        else:
            ctx.links = {cm_id: link.salesforce_campaign_id for cm_id, link in salesforce_campaigns.live_links(
                client.pk).items()}  # fmt: skip
        closing = _share_until_closed(ctx, tracking)
        if closing:
            _close(ctx, campaigns, fresh, check_parents, campaign_settings)
    except (BudgetExhausted, ApiLimitExceeded) as error:
        status, message = SyncRun.Status.STOPPED, str(error)
    except connections.NotConnected as error:
        status, message = SyncRun.Status.NOT_CONNECTED, str(error)
    except (
        CmConfigurationError,
        AuthenticationError,
        CampaignMonitorError,
        SalesforceError,
        LeaseLost,
    ) as error:
        status, message = SyncRun.Status.FAILED, str(error)
    except BaseException:
        status, message = SyncRun.Status.FAILED, "the run ended unexpectedly"
        raise
    finally:
        reader.shutdown(wait=True, cancel_futures=True)
        # A batch still on its way ends before the run does; after a failure, batches not yet begun are dropped
        # (the next run writes them, with their ledger rows).
        sender.shutdown(wait=True, cancel_futures=status != SyncRun.Status.SUCCEEDED)
        if status != SyncRun.Status.SUCCEEDED:
            # This worker's partitions end unwritten (their cursors stayed) and no other is started: the run ends
            # with the failure once the partitions other workers hold end.
            partitions.abandon(run.pk, ctx.worker if ctx else "")
            closing = closing or partitions.close(run.pk, ctx.worker if ctx else "")
        run = _add_share(ctx, tally, ctx_cm, ctx_sf, status, message, run=run, closing=closing)
        if closing:
            run = _end(run, tally, ctx_cm, ctx_sf)
    return run


def _beat(ctx: Context, heartbeat: Callable[[], None] | None) -> None:
    """The run's heartbeat: the client's lease (the opening worker's), and every partition this worker holds; a
    partition taken over by another worker (this one stopped renewing it too long) stops this worker."""
    if heartbeat is not None:
        heartbeat()
    if ctx.holding and partitions.renew(ctx.run, ctx.worker) < ctx.holding:
        raise LeaseLost("a partition of this run expired and another worker took it over")


def _share(ctx: Context, tracking: TrackingHistorySettings) -> None:
    """The partitions this worker takes, in the order they are offered, and then marks done (their rows written)."""
    sync_subscribers(ctx)
    sync_tracking(ctx, tracking)
    for _ in _taken(ctx, partitions.SUPPRESSION):
        sync_suppression(ctx, enabled=GeneralOptions.load().sync_suppression_list)
    for _ in _taken(ctx, partitions.RETENTION):
        apply_retention(ctx, tracking)
    settle_behind(ctx)
    partitions.finish(ctx.run.pk, ctx.worker, ctx.touched)
    ctx.holding = 0


WAIT = 2.0  # seconds between two looks at partitions other workers hold, while the run is not closed


def _share_until_closed(ctx: Context, tracking: TrackingHistorySettings) -> bool:
    """This worker's share, then, while other workers hold partitions, a look every WAIT seconds for one whose lease
    expired (its worker died), taken over and synced: the run ends as long as one of its workers lives. True for the
    worker that closes the run."""
    while True:
        _share(ctx, tracking)
        if partitions.close(ctx.run.pk, ctx.worker):
            return True
        if partitions.remaining(ctx.run.pk) == 0:
            return False  # another worker closed it
        while not partitions.open_partitions(ctx.run.pk):
            if partitions.remaining(ctx.run.pk) == 0:
                return partitions.close(ctx.run.pk, ctx.worker)
            partitions.renew(ctx.run, ctx.worker)  # the client's lease, while the run goes on
            time.sleep(WAIT)


def _close(
    ctx: Context,
    campaigns: list[Campaign] | None,
    fresh: set[str],
    check_parents: bool | None,
    campaign_settings: CampaignSettings,
) -> None:
    """What runs once the last partition ended: the campaigns' statistics, their members (from the tracking history
    every partition wrote and the campaigns they changed), the repair of parents and the client's stamp."""
    run = SyncRun.objects.only("status").get(pk=ctx.run.pk)
    if run.status != SyncRun.Status.RUNNING:
        return  # a worker's share failed: the run ends with its failure
    if campaigns is None:  # a worker that did not open the run reads the campaigns for their statistics
        campaigns = _campaigns(ctx, campaign_settings)
    ctx.touched = partitions.touched_of(ctx.run.pk)
    links = salesforce_campaigns.live_links(ctx.client.pk)
    ctx.links = {cm_id: link.salesforce_campaign_id for cm_id, link in links.items()}
    ctx.stage("campaign statistics")
    # Statistics change whether or not the activity behind them is stored: every summary is read again.
    sync_campaigns(ctx, campaigns, refresh={c.campaign_id for c in campaigns} - fresh)
    salesforce_campaigns.write_statistics(ctx, links, campaigns, ctx.summaries, campaign_settings)
    salesforce_campaigns.sync_members(ctx, links, campaign_settings)
    settle_behind(ctx)
    if check_parents is None:
        ctx.cursors = load_cursors(ctx.client)
        check_parents = repair.due(ctx)
    repair.parents(ctx, check=check_parents)  # every parent is in Salesforce by now
    others = SyncRun.objects.values_list("written", flat=True).get(pk=ctx.run.pk)
    _finish_client(ctx, wrote=any(ctx.tally.written.values()) or any((others or {}).values()))


def _add_share(
    ctx: Context | None,
    tally: WriteTally,
    cm: CampaignMonitor | None,
    sf: SalesforceAdapter | None,
    status: str,
    message: str,
    *,
    run: SyncRun,
    closing: bool,
) -> SyncRun:
    """Add this worker's counts (read, written, refused, API calls) to the run, under the run's row lock, and its
    failure when it failed (the first failure told is the run's). A worker that does not close the run tells the
    records its share could not write; the closing one tells its own with the run's outcome."""
    if ctx is not None:
        ctx.add_counts(skipped=plain(tally.skipped), failed=plain(tally.failed), deleted=plain(tally.deleted))
    with transaction.atomic():
        row = SyncRun.objects.select_for_update().get(pk=run.pk)
        row.cm_calls += sum(cm.transport.calls.values()) if cm else 0
        row.sf_calls += sf.meter.total if sf else 0
        fields = ["cm_calls", "sf_calls"]
        if status != SyncRun.Status.SUCCEEDED and row.status == SyncRun.Status.RUNNING:
            row.status, row.message = status, message
            fields += ["status", "message"]
        row.save(update_fields=fields)
    if not row.dry_run and tally.failures and not closing:
        problems.report(row, tally)
    return row


def _end(run: SyncRun, tally: WriteTally, cm: CampaignMonitor | None, sf: SalesforceAdapter | None) -> SyncRun:
    """The run's end, told by the worker that closed it: its outcome, its maintenance messages, the sync's status,
    the log line and counters; the client's lease is free for the next run."""
    if run.status == SyncRun.Status.RUNNING:
        run.status = SyncRun.Status.SUCCEEDED  # or with problems: settled once the run's problems are counted
        run.message = problems.summary_of_count(sum(run.failed.values()))
    run.stage = "finishing"
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "message", "stage", "finished_at"])
    release_run(run)
    if not run.dry_run:
        with transaction.atomic():
            problems.settle(run)  # the run's outcome first: the messages and their emails tell it
            problems.report(run, tally)  # the closing worker's refusals, and a message for a failed or stopped run
            problems.resolve(run)
            _record_status(run)
    _observe(run, tally, observe.ApiUse.of(cm, sf))
    return run


# Why a run ended short of its end, as a support code (the code of the maintenance message the run left).
_CODE_OF_STATUS = {
    SyncRun.Status.FAILED: "CMSF-SYNC-FAILED",
    SyncRun.Status.STOPPED: "CMSF-API-BUDGET",
    SyncRun.Status.NOT_CONNECTED: "CMSF-NOT-CONNECTED",
}


def _observe(run: SyncRun, tally: WriteTally, api: observe.ApiUse) -> None:
    """The run's line in the log and its counters (`maintenance.observe`)."""
    refused: dict[str, int] = defaultdict(int)
    for (_, code), n in tally.failure_counts.items():
        refused[f"{support_codes.SALESFORCE_PREFIX}{code}"] += n
    observe.run_ended(
        kind="sync",
        run_id=run.pk,
        outcome=run.status,
        started=run.started_at,
        finished=run.finished_at,
        client=run.client.name,
        read=run.read,
        written=run.written,
        failed=run.failed,
        refused=refused,
        api=api,
        support_code=_CODE_OF_STATUS.get(SyncRun.Status(run.status), ""),
        message=run.message,
        dry_run=run.dry_run,
    )


def _record_status(run: SyncRun) -> None:
    """The sync's status on Sync Settings: the worst of the last runs of the clients synced (one client's clean run
    does not hide another's refused records)."""
    settings = SyncSettings.load()
    settings.last_run_at = run.finished_at
    settings.last_status, settings.last_status_message = problems.overall_status(run)
    if run.finished_at and (settings.next_run is None or settings.next_run <= run.finished_at):
        settings.reschedule(run.finished_at)  # the first sync (or a late one) sets the schedule from now
    settings.save(update_fields=["last_run_at", "last_status", "last_status_message", "next_run"])
