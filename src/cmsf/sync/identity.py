"""The watcher's identity rules: who a changed contact or lead is now, and what follows it.

- **lead conversion**: the lead's memberships and tracking history move to its contact, in Salesforce and in
  cmsf's ledger (campaign members and their aggregates follow);
- **merge**: Salesforce moves the loser's records to the master; cmsf moves its ledger, and the loser's
  subscribers take the master's email in Campaign Monitor (an email change, below) and, where their "Salesforce
  ID" custom field names a loser, the master's Id, so that later syncs keep matching them; they are not deleted;
- **delete** (option): the subscribers of a deleted contact's or lead's email are set to Deleted in Campaign
  Monitor, unless another contact or lead still has that email;
- **email change**: the subscribers of the old email move to the new one in Campaign Monitor; a bounced one is
  resubscribed (fixing the email reactivates it) when the add rules allow.

The pure functions (`split`, `merges_of`, `old_emails`, `emails_to_delete`) decide; `Identity` does, through
`sync.outbound`, and leaves the membership rows to write in the run's `Pending`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cmsf.salesforce import soql
from cmsf.sync.models import DirectoryEntry, RecordMap
from cmsf.sync.outbound import Outbound
from cmsf.sync.transforms import ACTIVITY, member_key, sf_datetime
from cmsf.sync.watched import CHUNK, Membership, Pending, Person, Reader, send


@dataclass(frozen=True)
class Split:
    """A run's people by what happened to them."""

    converted: list[Person]  # leads converted (not deleted)
    removed: list[Person]  # deleted: merged into a master, or plainly deleted
    live: list[Person]  # neither


@dataclass
class Merges:
    """The merges read in a run: a master -> the emails of the records merged into it (its subscribers of those
    emails take the master's), and -> their Ids (a "Salesforce ID" naming one takes the master's)."""

    emails: dict[str, set[str]] = field(default_factory=dict)
    losers: dict[str, set[str]] = field(default_factory=dict)


def split(people: Iterable[Person]) -> Split:
    people = list(people)
    return Split(
        converted=[p for p in people if p.converted_contact_id and not p.deleted],
        removed=[p for p in people if p.deleted],
        live=[p for p in people if not p.deleted and not p.converted_contact_id],
    )


def merges_of(removed: Iterable[Person]) -> Merges:
    merges = Merges()
    for person in removed:
        if person.master_id:
            merges.emails.setdefault(person.master_id, set()).add(person.email_lower)
            merges.losers.setdefault(person.master_id, set()).add(person.id)
    return merges


def plainly_deleted(removed: Iterable[Person]) -> list[Person]:
    """The deleted records that were not merged, with an email."""
    return [p for p in removed if not p.master_id and p.email_lower]


def old_emails(person: Person, before: str, merges: Merges) -> set[str]:
    """The emails whose subscribers now take the person's: the one it had when last seen (`before`), and those of
    the records merged into it; never its own."""
    old = ({before} if before else set()) | merges.emails.get(person.id, set())
    old.discard(person.email_lower)
    return old


def emails_to_delete(removed: Iterable[Person], *, held: set[str]) -> set[str]:
    """The emails of deleted records that no other contact or lead holds."""
    return {p.email_lower for p in removed} - held


class Identity:
    """The identity rules of one run (`now`: its start), through `out`; membership rows to write go to
    `pending`."""

    def __init__(self, reader: Reader, out: Outbound, pending: Pending, now: datetime) -> None:
        self.reader, self.sf, self.out, self.pending, self.now = reader, reader.sf, out, pending, now

    def convert(self, leads: list[Person]) -> None:
        """Memberships and tracking history of converted leads move to their contacts (a lead read again, its
        history already moved, counts for nothing)."""
        contact_of = {p.id: p.converted_contact_id for p in leads}
        moved: set[str] = set()
        for membership in self.reader.memberships("Lead__c IN ({})", contact_of):
            self.pending.update(membership.id, Contact__c=contact_of[membership.lead_id], Lead__c=None)
            moved.add(membership.lead_id)
        activities = list(self.activities(contact_of))
        if activities:
            rows = [{"Id": rid, "Contact__c": contact_of[lead], "Lead__c": None} for rid, lead in activities]
            send(self.sf, ACTIVITY.sobject, rows, self.pending)
            moved.update(lead for _, lead in activities)
        for lead, contact in contact_of.items():
            if move_ledger(lead, contact):
                moved.add(lead)
        if moved:
            self.out.done["converted"] = self.out.done.get("converted", 0) + len(moved)

    def activities(self, contact_of: dict[str, str]) -> Iterator[tuple[str, str]]:
        ids = sorted(contact_of)
        for start in range(0, len(ids), CHUNK):
            text = f"SELECT Id, Lead__c FROM {ACTIVITY.sobject} WHERE Lead__c IN ({soql.quote_list(ids[start : start + CHUNK])})"
            for record in self.sf.query(text):
                yield str(record["Id"]), str(record["Lead__c"])

    def merge(self, removed: list[Person]) -> Merges:
        """The merged records among the deleted: cmsf's ledger follows each to its master."""
        for person in removed:
            if person.master_id:
                move_ledger(person.id, person.master_id)
                self.out.done["merged"] = self.out.done.get("merged", 0) + 1
        return merges_of(removed)

    def delete(self, removed: list[Person], *, still_held: set[str]) -> None:
        """Option: the subscribers of a deleted record's email become Deleted, unless another contact or lead
        still has the email."""
        gone = {p.id for p in removed}
        held = still_held | set(
            DirectoryEntry.objects.filter(email_lower__in={p.email_lower for p in removed}, is_converted=False)
            .exclude(record_id__in=gone)
            .values_list("email_lower", flat=True)
        )
        emails = emails_to_delete(removed, held=held)
        for membership in self.reader.memberships("Email__c IN ({})", emails):
            if membership.state == "Deleted" or membership.email.lower() not in emails:
                continue
            self.out.delete(
                membership.list_id, membership.email, because="its contact or lead was deleted in Salesforce"
            )
            self.pending.update(membership.id, State__c="Deleted", State_Changed__c=sf_datetime(self.now))

    def move(self, person: Person, membership: Membership) -> None:
        """The person's email changed (or a merged record's email is now its master's): the subscriber follows."""
        moved = self.out.change_email(
            membership.list_id, membership.email, person.email, name=membership.name,
            reactivate=membership.state == "Bounced", opted_out=person.opted_out,
            because=f"the email of {person.sobject} {person.id} changed in Salesforce",
        )  # fmt: skip
        new_key = member_key(membership.list_id, person.email)
        if moved.not_resubscribed:
            self.pending.problem(new_key, f"moved to the new email but not resubscribed: {moved.not_resubscribed}")
        fields: dict[str, Any] = {"Email__c": person.email, "Member_Key__c": new_key}
        if moved.resubscribed:
            fields |= {"State__c": "Active", "State_Changed__c": sf_datetime(self.now)}
            membership.state = "Active"
        self.pending.update(membership.id, **fields)
        if membership.key:
            self.pending.renamed[membership.key] = (new_key, membership.id)
        membership.email, membership.key = person.email, new_key

    def merged(self, person: Person, membership: Membership, losers: set[str]) -> None:
        """A membership of a merge's master (Salesforce moved the losers' rows to it): a "Salesforce ID" in Campaign
        Monitor that names a loser takes the master's Id, so matching never meets a deleted Id again; the ledger's
        row no longer tells what Salesforce holds (its lookup moved), so the sync writes it whole when next read."""
        self.out.replace_salesforce_id(
            membership.list_id, membership.email, old_ids=losers, new_id=person.id, zone="",
            because=f"{', '.join(sorted(losers))} merged into {person.sobject} {person.id}",
        )  # fmt: skip
        if membership.key:
            self.pending.moved_rows.add(membership.key)


def move_ledger(old: str, new: str) -> int:
    """cmsf's ledger follows a lead to its contact or a merged record to its master: tracking rows' person,
    and campaign members' keys (campaign:person), unless the new person is already a member."""
    moved = RecordMap.objects.filter(person_id=old).update(person_id=new)
    for entry in RecordMap.objects.filter(sobject="CampaignMember", key__endswith=f":{old}"):
        campaign = entry.key.rsplit(":", 1)[0]
        if not RecordMap.objects.filter(sobject="CampaignMember", key=f"{campaign}:{new}").exists():
            moved += RecordMap.objects.filter(pk=entry.pk).update(key=f"{campaign}:{new}")
    return moved
