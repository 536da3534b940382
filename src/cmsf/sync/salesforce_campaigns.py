"""Salesforce Campaigns in the sync: auto-created and linked campaigns, their statistics, and their campaign members
with the mapped statuses.

- **Links** (`CampaignLink`): made by an admin (manual) or by auto-create, which gives a Salesforce Campaign to each
  sent campaign sent on or after the moment the option was turned on (not retrospective). A linked Salesforce
  campaign carries the Campaign Monitor campaign's id in `CMSF_Campaign_Id__c` (set once), so its statistics are
  written by that external id, and a rerun never makes a second campaign.
- **Deleted in Salesforce**: a linked campaign that Salesforce no longer has is unlinked (the link stays as a mark,
  so auto-create does not make it again, as it does when an admin unlinks) with a maintenance message; the sync
  goes on.
- **Members** come from the campaign's recipients, matched to contacts and leads as the sync matches everyone;
  recipients with no contact or lead are counted and reported, never invented. One member per campaign and person,
  written by `CMSF_Member_Key__c` ("<campaign Id>:<person Id>") through the writer, so unchanged members cost
  nothing and large campaigns go through Bulk 2.0 in batches.
- **Statuses** follow the status map and the refresh rule (never, always, once only), changing a member's status
  only when the new activity is newer than the one its status came from. Labels the campaign lacks are added when
  "auto-create missing statuses" is on; otherwise the members that would need them are not written (Salesforce
  would silently give them the default status) and a maintenance message names the campaign and the labels.
- **Aggregates** (opens, clicks, the last activity and its date) are computed from the tracking history cmsf stores
  (the ledger's activity rows and the person each is linked to), so a shorter days to keep lowers them.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from django.utils import timezone

from cmsf.campaign_monitor.records import Campaign, CampaignSummary
from cmsf.maintenance import support_codes
from cmsf.maintenance.services import record_message
from cmsf.options.models import CampaignSettings, CampaignStatusMapping, EmailActivity, TrackingHistorySettings
from cmsf.salesforce import soql
from cmsf.salesforce.adapter import CampaignMembers, ExistingMember
from cmsf.salesforce.ids import LEAD_PREFIX
from cmsf.sync import forget
from cmsf.sync.models import CampaignLink, RecordMap
from cmsf.sync.run import Buffer, Context, batch_of, directory, write_behind
from cmsf.sync.transforms import ACTIVITY, ACTIVITY_LABELS, EMAIL_TYPE_OF_KIND, Row, Target, sf_datetime, with_owner
from cmsf.sync.writer import LEDGER_DATE, LEDGER_KIND, LEDGER_LABEL, WriteContext

SF_CAMPAIGN = Target("Campaign", "CMSF_Campaign_Id__c")
MEMBER = Target("CampaignMember", "CMSF_Member_Key__c")
MEMBER_CREATE_ONLY = ("CampaignId", "ContactId", "LeadId")
IN_ROW = WriteContext(ledger_in_row=True)  # members carry what the ledger keeps of them
MEMBER_WRITE = WriteContext(ledger_in_row=True, create_only=MEMBER_CREATE_ONLY)
CHUNK = 200  # Ids per SOQL query
NAME_LIMIT = 80
STATISTICS = {  # Campaign field -> CampaignSummary attribute
    "CMSF_Recipients__c": "recipients",
    "CMSF_Total_Opened__c": "total_opened",
    "CMSF_Unique_Opened__c": "unique_opened",
    "CMSF_Clicks__c": "clicks",
    "CMSF_Bounced__c": "bounced",
    "CMSF_Unsubscribed__c": "unsubscribed",
    "CMSF_Spam_Complaints__c": "spam_complaints",
    "CMSF_Forwards__c": "forwards",
    "CMSF_Likes__c": "likes",
    "CMSF_Mentions__c": "mentions",
}
JOB = "CMSF_CAMPAIGN_MEMBER_SYNC"
ADOPTED = "adopted"  # the ledger's kind of a member an admin made and cmsf adopted: its status is the admin's
WHOLE_READ_FROM = 400  # new members past which a linked campaign's members are read whole, not by person


def _chunks(values: list[str], size: int = CHUNK) -> Iterator[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _prefixed(head: str) -> dict[str, str]:
    """Ledger keys "<head>:..." as a range of the (object, key) index: a LIKE 'head:%' would read the whole ledger
    on SQLite, whose LIKE ignores case and so cannot use the index."""
    return {"key__gte": f"{head}:", "key__lt": f"{head};"}  # ';' is the character after ':'


def live_links(client_pk: int) -> dict[str, CampaignLink]:
    """Campaign Monitor campaign id -> its live link, for one client."""
    links = CampaignLink.objects.filter(client_id=client_pk, unlinked_at=None)
    return {link.cm_campaign_id: link for link in links}


# -- links: deleted in Salesforce, auto-create ---------------------------------------------------------------


def drop_deleted(ctx: Context, links: dict[str, CampaignLink]) -> None:
    """Unlink the campaigns deleted in Salesforce, with a maintenance message each. Every Salesforce campaign has
    at least one member status, so one query per 200 links both finds the campaigns that still exist and gives
    their statuses (`ctx.campaign_statuses`), which the members need."""
    if ctx.sf is None or not links:
        return
    by_sf = {link.salesforce_campaign_id: link for link in links.values()}
    ctx.campaign_statuses.update(_statuses(ctx, list(by_sf)))
    for sf_id, link in by_sf.items():
        if sf_id[:15] in ctx.campaign_statuses:
            continue
        link.unlinked_at = timezone.now()
        link.unlinked_reason = "The Salesforce campaign was deleted in Salesforce."
        link.save(update_fields=["unlinked_at", "unlinked_reason"])
        RecordMap.objects.filter(sobject=SF_CAMPAIGN.sobject, key=link.cm_campaign_id).delete()
        RecordMap.objects.filter(sobject=MEMBER.sobject, **_prefixed(sf_id)).delete()
        del links[link.cm_campaign_id]
        record_message(
            support_code="CMSF-CAMPAIGN-DELETED",
            job="CMSF_CAMPAIGN_SYNC",
            severity="info",
            message=f"The Salesforce campaign {link.salesforce_campaign_name or sf_id} linked to the Campaign Monitor "
            f"campaign {link.cm_campaign_name or link.cm_campaign_id} was deleted in Salesforce: cmsf unlinked them.",
            details=f"Salesforce campaign {sf_id}; Campaign Monitor campaign {link.cm_campaign_id}",
            guidance=support_codes.guidance("CMSF-CAMPAIGN-DELETED"),
            client_id=ctx.client.pk,
            subject=f"campaign {link.cm_campaign_id}",
        )


def _base_row(campaign: Campaign, owner_id: str) -> Row:
    row: Row = {
        SF_CAMPAIGN.external_id: campaign.campaign_id,
        "Name": campaign.name[:NAME_LIMIT] or campaign.campaign_id,
        "Type": "Email",
        "Status": "Completed",
        "IsActive": True,
        "StartDate": campaign.sent_date.date().isoformat() if campaign.sent_date else None,
    }
    return with_owner(row, owner_id)


def auto_create(
    ctx: Context, campaigns: list[Campaign], settings: CampaignSettings, links: dict[str, CampaignLink]
) -> None:
    """A Salesforce Campaign for each campaign sent on or after auto-create was turned on that has none yet; the
    new links join `links`."""
    since = settings.auto_create_since if settings.auto_create_campaigns else None
    if since is None:
        return
    seen = set(CampaignLink.objects.filter(client=ctx.client).values_list("cm_campaign_id", flat=True))
    new = [c for c in campaigns if c.sent_date and c.sent_date >= since and c.campaign_id not in seen]
    if not new:
        return
    ctx.writer.write(SF_CAMPAIGN, [_base_row(c, ctx.owner) for c in new], batch_size=CHUNK)
    if ctx.writer.dry_run:
        return
    created = dict(
        RecordMap.objects.filter(sobject=SF_CAMPAIGN.sobject, key__in=[c.campaign_id for c in new]).values_list(
            "key", "salesforce_id"
        )
    )
    for campaign in new:
        if campaign.campaign_id in created:
            links[campaign.campaign_id] = CampaignLink.objects.create(
                client=ctx.client,
                cm_campaign_id=campaign.campaign_id,
                cm_campaign_name=campaign.name[:255],
                salesforce_campaign_id=created[campaign.campaign_id],
                salesforce_campaign_name=campaign.name[:255],
                origin=CampaignLink.Origin.AUTO,
                linked_by="auto-create",
            )


def claim_manual_links(ctx: Context, links: dict[str, CampaignLink]) -> None:
    """Write the Campaign Monitor campaign id on each newly linked Salesforce campaign (once), so statistics are
    written by that external id, and remember it in the ledger."""
    if ctx.sf is None or ctx.writer.dry_run:
        return
    known = set(
        RecordMap.objects.filter(sobject=SF_CAMPAIGN.sobject, key__in=list(links)).values_list("key", flat=True)
    )
    new = [link for cm_id, link in links.items() if cm_id not in known]
    if not new:
        return
    results = ctx.sf.update(
        SF_CAMPAIGN.sobject,
        [{"Id": link.salesforce_campaign_id, SF_CAMPAIGN.external_id: link.cm_campaign_id} for link in new],
    )
    now = timezone.now()
    for link, result in zip(new, results, strict=True):
        if result.success:
            RecordMap.objects.update_or_create(
                sobject=SF_CAMPAIGN.sobject,
                key=link.cm_campaign_id,
                defaults={"client": ctx.client, "salesforce_id": link.salesforce_campaign_id, "content_hash": "",
                          "synced_at": now},
            )  # fmt: skip
        else:
            reason = "; ".join(f"{e.code}: {e.message}" for e in result.errors)
            record_message(
                support_code="CMSF-CAMPAIGN-LINK",
                job="CMSF_CAMPAIGN_SYNC",
                message=f"cmsf could not mark the Salesforce campaign {link.salesforce_campaign_name} as linked.",
                details=f"Salesforce campaign {link.salesforce_campaign_id}: {reason}",
                guidance=support_codes.guidance("CMSF-CAMPAIGN-LINK"),
                client_id=ctx.client.pk,
                subject=f"campaign {link.cm_campaign_id}",
            )


def write_statistics(
    ctx: Context,
    links: dict[str, CampaignLink],
    campaigns: list[Campaign],
    summaries: dict[str, CampaignSummary],
    settings: CampaignSettings,
) -> None:
    """Campaign Monitor's statistics on every linked Salesforce campaign (when the option is on); unchanged ones
    are not sent again."""
    if not settings.update_linked_campaign_statistics:
        return
    rows = []
    by_id = {campaign.campaign_id: campaign for campaign in campaigns}
    for cm_id in links:
        summary, campaign = summaries.get(cm_id), by_id.get(cm_id)
        if summary is None or campaign is None:
            continue
        row: Row = {SF_CAMPAIGN.external_id: cm_id}
        row["CMSF_Sent_Date__c"] = sf_datetime(campaign.sent_date)
        row["CMSF_Tags__c"] = ";".join(campaign.tags) or None
        row.update({name: getattr(summary, attribute) for name, attribute in STATISTICS.items()})
        row["CMSF_Web_Version_URL__c"] = summary.web_version_url[:255] or None
        row["CMSF_Text_Version_URL__c"] = summary.web_version_text_url[:255] or None
        row["CMSF_Worldview_URL__c"] = summary.worldview_url[:255] or None
        rows.append(row)
    known = set(
        RecordMap.objects.filter(sobject=SF_CAMPAIGN.sobject, key__in=list(links)).values_list("key", flat=True)
    )
    write_behind(ctx, SF_CAMPAIGN, [r for r in rows if r[SF_CAMPAIGN.external_id] in known], "CMSF_CAMPAIGN_SYNC")


# -- members --------------------------------------------------------------------------------------------------


@dataclass
class Person:
    """What the stored tracking history says of one person in one campaign."""

    opens: int = 0
    clicks: int = 0
    newest: tuple[str, datetime | None] = ("sent", None)  # (kind, date) of the most recent activity
    first: tuple[str, datetime | None] | None = None  # the first interaction other than being sent


@dataclass
class CampaignPeople:
    people: dict[str, Person] = field(default_factory=dict)
    unmatched: int = 0  # recipients with no contact or lead


def _later(date: datetime | None, than: datetime | None) -> bool:
    return date is not None and (than is None or date > than)


def people_from_ledger(cm_campaign_id: str, only: set[str] | None = None) -> CampaignPeople:
    """Who received the campaign and what they did, from the stored tracking history (of `only` these people)."""
    found = CampaignPeople()
    rows = RecordMap.objects.filter(sobject=ACTIVITY.sobject, **_prefixed(cm_campaign_id))
    chunks = [rows] if only is None else [rows.filter(person_id__in=c) for c in _chunks(sorted(only), 500)]
    for part in chunks:
        for person_id, kind, when in part.values_list("person_id", "activity_kind", "activity_date").iterator(
            chunk_size=5000
        ):
            _count(found, person_id, kind, when)
    return found


def _count(found: CampaignPeople, person_id: str, kind: str, when: datetime | None) -> None:
    if not person_id:
        if kind == "sent":
            found.unmatched += 1
        return
    person = found.people.setdefault(person_id, Person())
    if kind == "opens":
        person.opens += 1
    elif kind == "clicks":
        person.clicks += 1
    if kind == "sent":
        if person.newest == ("sent", None):
            person.newest = ("sent", when)
        return
    if person.newest[0] == "sent" or _later(when, person.newest[1]):
        person.newest = (kind, when)
    if person.first is None or (when is not None and person.first[1] is not None and when < person.first[1]):
        person.first = (kind, when)


def _recipients(ctx: Context, campaign_id: str, into: CampaignPeople) -> None:
    """The campaign's recipients read from Campaign Monitor, for a link made after its tracking was read."""
    for recipient in ctx.cm.campaign_recipients(campaign_id, zone=ctx.zone):
        ctx.read["recipients (members)"] += 1
        if ctx.forgotten and forget.is_forgotten(recipient.email, ctx.forgotten):
            continue
        link = directory(ctx).link(recipient.email)
        person_id = link.contact_id or link.lead_id
        if person_id:
            into.people.setdefault(person_id, Person())
        else:
            into.unmatched += 1


@dataclass(frozen=True)
class StatusMap:
    labels: dict[str, tuple[str, bool]]  # engine kind -> (label, responded)

    @classmethod
    def load(cls) -> StatusMap:
        by_activity = {m.activity: (m.status_label, m.responded) for m in CampaignStatusMapping.objects.all()}
        labels = {}
        for kind, email_type in EMAIL_TYPE_OF_KIND.items():
            default = CampaignStatusMapping.DEFAULTS[EmailActivity(email_type)]
            labels[kind] = by_activity.get(email_type, default)
        return cls(labels)

    def label(self, kind: str) -> str:
        return self.labels[kind][0]


def status_of(
    person: Person, previous: tuple[str, datetime | None] | None, refresh: str
) -> tuple[str, datetime | None]:
    """The (kind, date) a member's status comes from, by the refresh rule; a status changes only for activity newer
    than the one it came from."""
    if previous is None:
        if refresh == CampaignSettings.StatusRefresh.NEVER:
            return ("sent", person.newest[1] if person.newest[0] == "sent" else None)
        if refresh == CampaignSettings.StatusRefresh.ONCE_ONLY:
            return person.first or person.newest
        return person.newest
    if refresh == CampaignSettings.StatusRefresh.NEVER:
        return previous
    if refresh == CampaignSettings.StatusRefresh.ONCE_ONLY:
        if previous[0] != "sent" or person.first is None:
            return previous
        return person.first if previous[1] is None or _later(person.first[1], previous[1]) else previous
    if previous[1] is None or _later(person.newest[1], previous[1]):
        return person.newest
    return previous


@dataclass(frozen=True)
class Written:
    """What the ledger says of a member cmsf wrote (or adopted)."""

    kind: str  # the activity its status came from, or ADOPTED
    when: datetime | None
    label: str | None  # the status as written; None on ledger rows older than the column


def member_status(
    person: Person, before: Written | None, refresh: str, statuses: StatusMap
) -> tuple[str, datetime | None, str]:
    """(kind, date, label) of a member's status. A status that does not change keeps the label it was written with
    under Never and Once only, so a label renamed in the status map applies to new members (and to the one change
    Once only allows) and rewrites no existing member; under Always every member takes the current label. A member
    an admin made (ADOPTED) keeps the admin's status under Never and Once only."""
    previous = (before.kind, before.when) if before is not None else None
    kind, when = status_of(person, previous, refresh)
    if (
        before is not None
        and before.label
        and (kind, when) == previous
        and refresh != CampaignSettings.StatusRefresh.ALWAYS
    ):
        return kind, when, before.label
    if kind == ADOPTED:  # an adopted member whose label the ledger lost: leave its status alone
        return kind, when, ""
    return kind, when, statuses.label(kind)


def sync_members(ctx: Context, links: dict[str, CampaignLink], settings: CampaignSettings) -> None:
    """Campaign members of every linked campaign, with mapped statuses and (when on) aggregates. Members the campaign
    already has that cmsf did not write (an admin's: an event's invite list, a campaign built from a report) are read
    before any member is created and adopted: updated in place by their Id, under the refresh rule."""
    if not links or ctx.sf is None:
        return
    ctx.stage("campaign members")
    tracking = TrackingHistorySettings.load()
    aggregates = tracking.campaign_member_aggregates
    statuses = StatusMap.load()
    members = CampaignMembers(ctx.sf)
    refresh = settings.member_status_refresh
    fingerprint = _fingerprint(statuses, refresh, aggregates)
    due = {
        cm_id: link
        for cm_id, link in links.items()
        if link.members_filled_at is None or link.members_fingerprint != fingerprint or cm_id in ctx.touched
    }
    if not due:
        return  # nothing stored changed for any linked campaign: its members are as they were
    unknown = [link.salesforce_campaign_id for link in due.values()]
    unknown = [sf_id for sf_id in unknown if sf_id[:15] not in ctx.campaign_statuses]  # auto-created in this run
    if unknown:
        ctx.campaign_statuses.update(_statuses(ctx, unknown))
    have = ctx.campaign_statuses
    # Several campaigns' members go in one batch, sent while the next are computed; a campaign's link is settled
    # once all of its members are in Salesforce.
    buffer = Buffer(ctx, MEMBER, JOB, context=MEMBER_WRITE)
    for cm_id, link in due.items():
        whole = link.members_filled_at is None or link.members_fingerprint != fingerprint
        only = None if whole else ctx.touched.get(cm_id)
        if not whole and not ctx.writer.dry_run:  # until these members are all in (`_settle`), the next run redoes all
            CampaignLink.objects.filter(pk=link.pk).update(members_fingerprint="")
        people = people_from_ledger(cm_id, only)
        if link.members_filled_at is None and not (tracking.stores("sent") and people.unmatched + len(people.people)):
            _recipients(ctx, cm_id, people)
        sf_id = link.salesforce_campaign_id
        members_now = RecordMap.objects.filter(sobject=MEMBER.sobject, **_prefixed(sf_id))
        if only is not None:
            members_now = members_now.filter(key__in=[f"{sf_id}:{person_id}" for person_id in only if person_id])
        previous = {
            key.split(":", 1)[1]: Written(kind or "sent", when, label)
            for key, kind, when, label in members_now.values_list(
                "key", "activity_kind", "activity_date", "status_label"
            )
        }
        for person_id in previous:  # members already written stay members, whatever history is still stored
            people.people.setdefault(person_id, Person())
        theirs = _members_in_salesforce(ctx, link, members, [p for p in people.people if p not in previous])
        rows = []
        adopted: dict[str, str] = {}  # member key -> the Id of the admin's member it adopts
        for person_id, person in people.people.items():
            key = f"{sf_id}:{person_id}"
            before = previous.get(person_id)
            found = theirs.get(person_id[:15]) if before is None else None
            if found is not None:  # an admin's member (or one of cmsf's the ledger lost): updated by its Id
                before = Written(ADOPTED, None, found.status)
                adopted[key] = found.id
            kind, when, label = member_status(person, before, refresh, statuses)
            row: Row = {
                MEMBER.external_id: key,
                "CampaignId": sf_id,
                ("LeadId" if person_id.startswith(LEAD_PREFIX) else "ContactId"): person_id,
                LEDGER_KIND: kind,
                LEDGER_DATE: when,
                LEDGER_LABEL: label or None,
            }
            if label:
                row["Status"] = label
            if aggregates:
                row["CMSF_Opens__c"] = person.opens
                row["CMSF_Clicks__c"] = person.clicks
                row["CMSF_Activity__c"] = ACTIVITY_LABELS[person.newest[0]]
                row["CMSF_Activity_Date__c"] = sf_datetime(person.newest[1])
            rows.append(row)
        wanted = len(rows)
        rows = _with_known_statuses(ctx, link, rows, have.setdefault(sf_id[:15], set()), statuses, settings, members)
        held = wanted - len(rows)
        adopted_ok = _adopt(ctx, [r for r in rows if r[MEMBER.external_id] in adopted], adopted)
        stream = buffer.stream()
        for row in rows:
            if row[MEMBER.external_id] not in adopted:
                buffer.add(stream, row)
        if people.unmatched and whole:
            ctx.read["recipients without a contact or lead"] += people.unmatched
        if adopted_ok:  # otherwise the link stays unsettled, and the next run adopts again what is left
            buffer.end(
                stream, partial(_settle, ctx, link, held=held, unmatched=people.unmatched, fingerprint=fingerprint)
            )
    buffer.close()


def _members_in_salesforce(
    ctx: Context, link: CampaignLink, members: CampaignMembers, new: list[str]
) -> dict[str, ExistingMember]:
    """The campaign's members in Salesforce among the people cmsf is about to make members (Contact or Lead Id, 15
    characters -> member): the whole campaign when it is filled for the first time (one query, paged), otherwise
    only those people. Nothing is read when no member is new, nor for a campaign cmsf created in this run."""
    if not new or (link.origin == CampaignLink.Origin.AUTO and link.linked_at >= ctx.started):
        return {}
    whole = link.members_filled_at is None or len(new) > WHOLE_READ_FROM
    found: dict[str, ExistingMember] = {}
    for member in members.read([link.salesforce_campaign_id], people=None if whole else new):
        found[member.person_id[:15]] = member
        if member.lead_id:
            found.setdefault(member.lead_id[:15], member)
    return found


def _adopt(ctx: Context, rows: list[Row], ids: dict[str, str]) -> bool:
    """Members an admin made, updated in place by their Id (status and aggregates as the refresh rule says) and
    given cmsf's key, so that every later write finds them by it; the ledger keeps them like the members cmsf
    created. True when all were adopted."""
    if not rows:
        return True
    ok = True
    for batch in ctx.writer.prepare(MEMBER, rows, batch_size=batch_of(JOB), context=IN_ROW):
        batch.job = JOB
        update = [
            {"Id": ids[key], **{k: v for k, v in row.items() if k not in MEMBER_CREATE_ONLY}}
            for key, row in zip(batch.keys, batch.rows, strict=True)
        ]
        assert ctx.sf is not None
        ok = ctx.writer.record(batch, ctx.sf.update(MEMBER.sobject, update)) and ok
    return ok


def _settle(ctx: Context, link: CampaignLink, *, held: int, unmatched: int, fingerprint: str) -> None:
    """A campaign's members are written: remember with what (unless some were held back), and report the
    recipients who are not members, once."""
    if ctx.writer.dry_run:
        return
    first = link.members_filled_at is None
    link.members_filled_at = link.members_filled_at or timezone.now()
    link.members_fingerprint = "" if held else fingerprint  # held-back members are tried again next run
    link.save(update_fields=["members_filled_at", "members_fingerprint"])
    if first and unmatched:
        record_message(
            support_code="CMSF-MEMBERS-UNMATCHED",
            job=JOB,
            severity="info",
            message=f"{unmatched} recipient{'s' if unmatched != 1 else ''} of "
            f"{link.cm_campaign_name or link.cm_campaign_id} have no contact or lead in Salesforce: they are not "
            f"members of {link.salesforce_campaign_name or link.salesforce_campaign_id}.",
            details=f"Campaign Monitor campaign {link.cm_campaign_id}; Salesforce campaign {link.salesforce_campaign_id}",
            guidance=support_codes.guidance("CMSF-MEMBERS-UNMATCHED"),
            client_id=ctx.client.pk,
            subject=f"campaign {link.cm_campaign_id}",
        )


def _fingerprint(statuses: StatusMap, refresh: str, aggregates: bool) -> str:
    raw = json.dumps([sorted(statuses.labels.items()), refresh, aggregates])
    return hashlib.sha1(raw.encode()).hexdigest()


def _statuses(ctx: Context, sf_ids: list[str]) -> dict[str, set[str]]:
    """Campaign Id (15) -> the lower-case labels of its member statuses (one query per 200 campaigns)."""
    found: dict[str, set[str]] = defaultdict(set)
    assert ctx.sf is not None
    for chunk in _chunks(sorted(set(sf_ids))):
        query = f"SELECT CampaignId, Label FROM CampaignMemberStatus WHERE CampaignId IN ({soql.quote_list(chunk)})"
        for row in ctx.sf.query(query):
            found[str(row["CampaignId"])[:15]].add(str(row["Label"]).lower())
    return found


def _with_known_statuses(
    ctx: Context,
    link: CampaignLink,
    rows: list[Row],
    have: set[str],
    statuses: StatusMap,
    settings: CampaignSettings,
    members: CampaignMembers,
) -> list[Row]:
    """The rows whose status the campaign has. Missing labels are added when auto-create missing statuses is on;
    otherwise those rows are held back and reported (Salesforce would silently give them the default status)."""
    missing = sorted({str(r["Status"]) for r in rows if "Status" in r and str(r["Status"]).lower() not in have})
    if not missing:
        return rows
    if settings.auto_create_missing_statuses and not ctx.writer.dry_run:
        wanted = [statuses.labels[kind] for kind in statuses.labels]
        results = members.ensure_statuses(link.salesforce_campaign_id, wanted, have=have)
        failed = [r for r in results if not r.success]
        if not failed:
            have.update(label.lower() for label, _ in wanted)  # this run's later batches need not add them again
            return rows
        reason = "; ".join(f"{e.code}: {e.message}" for r in failed for e in r.errors)
    else:
        reason = ""
    held = [r for r in rows if r.get("Status") in missing]
    record_message(
        support_code="CMSF-MEMBER-STATUS",
        job=JOB,
        message=f"{len(held)} member{'s' if len(held) != 1 else ''} of {link.salesforce_campaign_name or link.salesforce_campaign_id} "
        f"were not written: the campaign has no member status {', '.join(repr(m) for m in missing)}.",
        details=reason or f"Salesforce campaign {link.salesforce_campaign_id} lacks: {', '.join(missing)}",
        guidance=support_codes.guidance("CMSF-MEMBER-STATUS"),
        client_id=ctx.client.pk,
        subject=f"campaign {link.cm_campaign_id}",
    )
    return [r for r in rows if r.get("Status") not in missing]
