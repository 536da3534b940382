"""The watcher's identity rules (`sync.identity`): which people are converted, merged, deleted or live; the emails
a live person's subscribers move from; the emails whose subscribers a delete removes; and what an email change
and a merge leave to write, against a stand-in for the pushes to Campaign Monitor."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cmsf.sync import identity
from cmsf.sync.outbound import Moved
from cmsf.sync.transforms import member_key
from cmsf.sync.watched import Membership, Pending, Person

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def person(pid: str, email: str = "", **kwargs: Any) -> Person:
    return Person(pid, kwargs.pop("sobject", "Contact"), email, False, NOW, **kwargs)


def membership(**kwargs: Any) -> Membership:
    fields = {"id": "a01M1", "key": "K-old", "list_id": "L1", "email": "Old@Example.org", "name": "Ann",
              "state": "Active", "state_changed": None, "contact_id": "003A", "lead_id": ""}  # fmt: skip
    return Membership(**(fields | kwargs))


class FakeOut:
    """What `Identity` calls of `Outbound`, recorded; an email change answers `moved`."""

    def __init__(self, moved: Moved | None = None) -> None:
        self.moved = moved or Moved()
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.done: dict[str, int] = {}

    def change_email(self, list_id: str, old: str, new: str, **kwargs: Any) -> Moved:
        self.calls.append(("change_email", {"list_id": list_id, "old": old, "new": new, **kwargs}))
        return self.moved

    def replace_salesforce_id(self, list_id: str, email: str, **kwargs: Any) -> bool:
        self.calls.append(("replace_salesforce_id", {"list_id": list_id, "email": email, **kwargs}))
        return True


class FakeReader:
    sf = None


def rules(out: FakeOut, pending: Pending) -> identity.Identity:
    return identity.Identity(FakeReader(), out, pending, NOW)  # type: ignore[arg-type]


def test_split_sorts_people_into_converted_removed_and_live():
    lead = person("00QA", "a@example.org", sobject="Lead", converted_contact_id="003C")
    deleted_lead = person("00QB", "b@example.org", sobject="Lead", converted_contact_id="003D", deleted=True)
    loser = person("003L", "l@example.org", deleted=True, master_id="003M")
    gone = person("003G", "g@example.org", deleted=True)
    live = person("003K", "k@example.org")
    parts = identity.split([lead, deleted_lead, loser, gone, live])
    assert [p.id for p in parts.converted] == ["00QA"]  # a converted lead deleted since is removed, not converted
    assert [p.id for p in parts.removed] == ["00QB", "003L", "003G"]
    assert [p.id for p in parts.live] == ["003K"]


def test_merges_of_gathers_each_masters_losers_and_their_emails():
    merges = identity.merges_of([
        person("003L1", "One@Example.org ", deleted=True, master_id="003M"),
        person("003L2", "two@example.org", deleted=True, master_id="003M"),
        person("003L3", "three@example.org", deleted=True, master_id="003N"),
        person("003G", "gone@example.org", deleted=True),  # deleted, not merged
    ])  # fmt: skip
    assert merges.losers == {"003M": {"003L1", "003L2"}, "003N": {"003L3"}}
    assert merges.emails == {"003M": {"one@example.org", "two@example.org"}, "003N": {"three@example.org"}}


def test_only_records_deleted_without_a_merge_and_with_an_email_are_plainly_deleted():
    removed = [
        person("003L", "l@example.org", deleted=True, master_id="003M"),
        person("003G", "g@example.org", deleted=True),
        person("003E", "", deleted=True),  # purged before the directory knew its email
    ]
    assert [p.id for p in identity.plainly_deleted(removed)] == ["003G"]


def test_old_emails_are_the_previous_email_and_the_merged_records_but_never_the_present_one():
    master = person("003M", "Now@Example.org")
    merges = identity.Merges(emails={"003M": {"loser@example.org", "now@example.org"}}, losers={"003M": {"003L"}})
    assert identity.old_emails(master, "before@example.org", merges) == {"before@example.org", "loser@example.org"}
    assert identity.old_emails(master, "now@example.org", identity.Merges()) == set()  # unchanged
    assert identity.old_emails(master, "", identity.Merges()) == set()  # never seen, not in the mirror
    assert identity.old_emails(person("003X", "x@example.org"), "", merges) == set()  # someone else's merge


def test_emails_to_delete_leave_out_the_emails_another_record_holds():
    removed = [person("003A", "a@example.org", deleted=True), person("003B", "B@example.org", deleted=True)]
    assert identity.emails_to_delete(removed, held={"a@example.org"}) == {"b@example.org"}
    assert identity.emails_to_delete(removed, held=set()) == {"a@example.org", "b@example.org"}


def test_an_email_change_moves_the_subscriber_and_renames_its_row_and_ledger_key():
    out, pending = FakeOut(), Pending()
    member = membership()
    rules(out, pending).move(person("003A", "new@example.org"), member)
    assert out.calls[0][0] == "change_email"
    call = out.calls[0][1]
    assert (call["old"], call["new"], call["reactivate"]) == ("Old@Example.org", "new@example.org", False)
    new_key = member_key("L1", "new@example.org")
    assert pending.updates == {"a01M1": {"Id": "a01M1", "Email__c": "new@example.org", "Member_Key__c": new_key}}
    assert pending.renamed == {"K-old": (new_key, "a01M1")}
    assert (member.email, member.key, member.state) == ("new@example.org", new_key, "Active")
    assert pending.problems == []


def test_a_bounced_subscriber_moved_is_resubscribed_when_the_rules_allow_and_a_problem_when_not():
    out, pending = FakeOut(Moved(resubscribed=True)), Pending()
    member = membership(state="Bounced", key="")
    rules(out, pending).move(person("003A", "new@example.org"), member)
    assert out.calls[0][1]["reactivate"] is True
    assert pending.updates["a01M1"]["State__c"] == "Active"
    assert pending.updates["a01M1"]["State_Changed__c"].startswith("2026-12-01T09:30:00")
    assert member.state == "Active" and pending.renamed == {}  # a row without a key has no ledger key to follow

    out, pending = FakeOut(Moved(not_resubscribed="the email is suppressed")), Pending()
    member = membership(state="Bounced")
    rules(out, pending).move(person("003A", "new@example.org"), member)
    assert "State__c" not in pending.updates["a01M1"] and member.state == "Bounced"
    assert pending.problems == [{"key": member_key("L1", "new@example.org"),
                                 "reason": "moved to the new email but not resubscribed: the email is suppressed"}]  # fmt: skip


def test_a_masters_membership_takes_its_id_in_place_of_the_losers_and_its_ledger_row_is_written_again():
    out, pending = FakeOut(), Pending()
    rules(out, pending).merged(person("003M", "m@example.org"), membership(), {"003L2", "003L1"})
    name, call = out.calls[0]
    assert name == "replace_salesforce_id"
    assert (call["old_ids"], call["new_id"]) == ({"003L1", "003L2"}, "003M")
    assert call["because"] == "003L1, 003L2 merged into Contact 003M"
    assert pending.moved_rows == {"K-old"} and pending.updates == {}


def test_pending_gathers_the_fields_of_a_row_and_tells_problems_from_records_kept_out():
    pending = Pending()
    pending.update("a01M1", Email__c="x@example.org")
    pending.update("a01M1", State__c="Deleted")
    assert pending.updates == {"a01M1": {"Id": "a01M1", "Email__c": "x@example.org", "State__c": "Deleted"}}
    pending.problem("K1", "refused")
    pending.problem("K2", "suppressed", kept_out=True)
    assert pending.problems == [{"key": "K1", "reason": "refused"},
                                {"key": "K2", "reason": "suppressed", "kept_out": "yes"}]  # fmt: skip


@pytest.mark.django_db
def test_the_ledger_follows_a_person_to_its_new_id_unless_already_a_campaign_member():
    from cmsf.connections.models import CampaignMonitorClient
    from cmsf.sync.models import RecordMap

    client = CampaignMonitorClient.objects.create(cm_client_id="c1", name="Acme")

    def row(sobject: str, key: str, person_id: str = "") -> RecordMap:
        return RecordMap.objects.create(client=client, sobject=sobject, key=key, salesforce_id=key[-18:],
                                        content_hash="h", person_id=person_id, synced_at=NOW)  # fmt: skip

    opened = row("CMSF_Email_Activity__c", "open-1", person_id="00QA")
    row("CampaignMember", "701A:00QA")  # moves: the contact is not a member of 701A
    row("CampaignMember", "701B:00QA")  # stays: the contact is a member of 701B already
    row("CampaignMember", "701B:003C")
    other = row("CampaignMember", "701A:00QZ")
    assert identity.move_ledger("00QA", "003C") == 2
    opened.refresh_from_db()
    assert opened.person_id == "003C"
    members = set(RecordMap.objects.filter(sobject="CampaignMember").values_list("key", flat=True))
    assert members == {"701A:003C", "701B:00QA", "701B:003C", other.key}
    assert identity.move_ledger("00QA", "003C") == 0  # read again: nothing left to move
