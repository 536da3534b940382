"""Salesforce Campaigns in the sync, against both emulators over TLS: linked and auto-created campaigns, their
statistics, campaign members with mapped statuses and the refresh rules, missing statuses, aggregates that follow
days to keep, and a linked campaign deleted in Salesforce."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from cmsf.campaign_monitor.timezones import to_utc
from cmsf.connections import services as connections
from cmsf.connections.models import CampaignMonitorClient
from cmsf.maintenance.models import MaintenanceMessage
from cmsf.options.models import CampaignSettings, CampaignStatusMapping, TrackingHistorySettings
from cmsf.sync import engine
from cmsf.sync import services as sync
from cmsf.sync.models import CampaignLink, RecordMap, SyncRun
from cmsf.sync.salesforce_campaigns import ADOPTED, Person, StatusMap, Written, member_status, status_of
from cmsf_sandbox.campaign_monitor.world import TrackingEvent
from tests.emulators import sync_every_client

pytestmark = pytest.mark.django_db(transaction=True)
ALWAYS, NEVER, ONCE = (CampaignSettings.StatusRefresh.ALWAYS, CampaignSettings.StatusRefresh.NEVER,
                       CampaignSettings.StatusRefresh.ONCE_ONLY)  # fmt: skip


@pytest.fixture
def synced(start_emulators):
    running = start_emulators(33)
    sync_every_client()
    running.sf = connections.salesforce()
    return running


def _busiest_campaign(client: CampaignMonitorClient) -> str:
    """The campaign with the most stored opens: recent enough for its tracking history to be in Salesforce."""
    keys = RecordMap.objects.filter(sobject="CMSF_Email_Activity__c", client=client, activity_kind="opens")
    return Counter(k.split(":")[0] for k in keys.values_list("key", flat=True)).most_common(1)[0][0]


def _link(running, *, client: CampaignMonitorClient | None = None) -> tuple[CampaignLink, str]:
    client = client or CampaignMonitorClient.objects.order_by("name").first()
    cm_id = _busiest_campaign(client)
    sf_id = running.sf.insert("Campaign", [{"Name": "Spring newsletter", "IsActive": True}])[0].id
    link = CampaignLink.objects.create(client=client, cm_campaign_id=cm_id, salesforce_campaign_id=sf_id,
                                       salesforce_campaign_name="Spring newsletter", linked_by="test")  # fmt: skip
    return link, sf_id


def _settings(**values) -> None:
    settings = CampaignSettings.load()
    for name, value in values.items():
        setattr(settings, name, value)
    settings.save()


def _members(running, sf_id: str) -> dict[str, dict]:
    soql = ("SELECT Id, ContactId, LeadId, Status, CMSF_Opens__c, CMSF_Clicks__c, CMSF_Activity__c, "
            f"CMSF_Member_Key__c FROM CampaignMember WHERE CampaignId = '{sf_id}'")  # fmt: skip
    return {(r["ContactId"] or r["LeadId"])[:15]: r for r in running.sf.query(soql)}


def _statuses(running, sf_id: str) -> list[dict]:
    soql = f"SELECT Label, IsDefault, HasResponded FROM CampaignMemberStatus WHERE CampaignId = '{sf_id}'"
    return list(running.sf.query(soql))


def _sync(client: CampaignMonitorClient, *, problems: bool = False) -> SyncRun:
    """A sync that goes through: succeeded, or succeeded with problems where members are held back on purpose (the
    campaign lacks a status and auto-create missing statuses is off)."""
    run = sync.sync_client(client=client)
    assert run.status == (SyncRun.Status.PROBLEMS if problems else SyncRun.Status.SUCCEEDED), run.message
    return run


def test_a_linked_campaign_gets_its_statistics_members_and_mapped_statuses(synced):
    link, sf_id = _link(synced)
    _settings(update_linked_campaign_statistics=True, auto_create_missing_statuses=True)
    tracking = TrackingHistorySettings.load()
    tracking.campaign_member_aggregates = True
    tracking.save()
    run = _sync(link.client)
    campaign = next(synced.sf.query(f"SELECT CMSF_Campaign_Id__c, CMSF_Recipients__c, CMSF_Unique_Opened__c, "
                                    f"CMSF_Web_Version_URL__c, CMSF_Tags__c, CMSF_Sent_Date__c FROM Campaign "
                                    f"WHERE Id = '{sf_id}'"))  # fmt: skip
    summary = synced.world.campaigns[link.cm_campaign_id]
    assert campaign["CMSF_Campaign_Id__c"] == link.cm_campaign_id
    assert campaign["CMSF_Recipients__c"] == len(summary.recipients) and campaign["CMSF_Web_Version_URL__c"]
    assert campaign["CMSF_Sent_Date__c"] and campaign["CMSF_Tags__c"] == (";".join(summary.tags) or None)
    members = _members(synced, sf_id)
    assert members and run.written["CampaignMember"] == len(members)
    # One member per person; the ones who opened carry Opened (or Clicked) and their counts.
    opened = [m for m in members.values() if m["CMSF_Opens__c"]]
    assert opened and all(m["Status"] in ("Opened", "Clicked") for m in opened)
    assert all(m["CMSF_Member_Key__c"].startswith(f"{sf_id}:") for m in members.values())
    statuses = _statuses(synced, sf_id)
    assert sum(1 for s in statuses if s["IsDefault"]) == 1
    assert {"Opened", "Clicked"} <= {s["Label"] for s in statuses}
    cmsf_row = next(synced.sf.query(
        f"SELECT Salesforce_Campaign__c FROM CMSF_Campaign__c WHERE Campaign_Id__c = '{link.cm_campaign_id}'"))  # fmt: skip
    assert cmsf_row["Salesforce_Campaign__c"][:15] == sf_id[:15]
    unmatched = MaintenanceMessage.objects.filter(support_code="CMSF-MEMBERS-UNMATCHED")
    recipients = {email.lower() for email, _ in summary.recipients}
    assert len(members) + sum(int(m.message.split()[0]) for m in unmatched) <= len(recipients)
    # A second sync with nothing new writes nothing and doubles nothing.
    again = _sync(link.client)
    assert again.written.get("CampaignMember", 0) == 0 and again.written.get("Campaign", 0) == 0
    assert len(_members(synced, sf_id)) == len(members)


def test_statistics_stay_off_until_the_option_is_on(synced):
    link, sf_id = _link(synced)
    _settings(auto_create_missing_statuses=True)
    _sync(link.client)
    campaign = next(
        synced.sf.query(f"SELECT CMSF_Campaign_Id__c, CMSF_Recipients__c FROM Campaign WHERE Id = '{sf_id}'")
    )
    assert campaign["CMSF_Campaign_Id__c"] == link.cm_campaign_id and campaign["CMSF_Recipients__c"] is None


def test_a_missing_status_holds_its_members_back_and_is_reported(synced):
    link, sf_id = _link(synced)
    CampaignStatusMapping.objects.update_or_create(activity="opened", defaults={"status_label": "Engaged",
                                                                                "responded": True})  # fmt: skip
    _settings(auto_create_missing_statuses=False)
    _sync(link.client, problems=True)  # members held back: the run says so
    members = _members(synced, sf_id)
    assert members and not any(m["Status"] == "Engaged" for m in members.values())
    assert all(m["Status"] != "Sent" or not m["CMSF_Opens__c"] for m in members.values())
    message = MaintenanceMessage.objects.get(support_code="CMSF-MEMBER-STATUS")
    assert "'Engaged'" in message.message and "not written" in message.message
    # With auto-create missing statuses on, the label is added (one default kept) and the members are written.
    _settings(auto_create_missing_statuses=True)
    _sync(link.client)
    assert any(m["Status"] == "Engaged" for m in _members(synced, sf_id).values())
    message.refresh_from_db()
    assert message.resolved_at is not None  # every member written: the problem resolved itself
    statuses = _statuses(synced, sf_id)
    assert sum(1 for s in statuses if s["IsDefault"]) == 1
    assert next(s for s in statuses if s["Label"] == "Engaged")["HasResponded"] is True


def test_auto_create_is_not_retrospective_and_never_doubles(synced):
    client = CampaignMonitorClient.objects.order_by("name").first()
    campaigns = sorted(
        (c for c in synced.world.campaigns.values() if c.client_id == client.cm_client_id), key=lambda c: c.sent_date
    )
    # Turned on just after the third-newest campaign was sent: only the two newest are after it.
    since_local = campaigns[-3].sent_date + timedelta(seconds=1)
    _settings(auto_create_campaigns=True, auto_create_since=to_utc(since_local, client.time_zone),
              auto_create_missing_statuses=True)  # fmt: skip
    _sync(client)
    links = CampaignLink.objects.filter(client=client, origin=CampaignLink.Origin.AUTO)
    assert {link.cm_campaign_id for link in links} == {c.campaign_id for c in campaigns[-2:]}
    created = list(synced.sf.query("SELECT Id, Name, Type, Status, CMSF_Campaign_Id__c FROM Campaign "
                                   "WHERE CMSF_Campaign_Id__c != null"))  # fmt: skip
    assert len(created) == 2 and all(c["Type"] == "Email" for c in created)
    _sync(client)
    assert CampaignLink.objects.filter(client=client).count() == 2
    assert len(list(synced.sf.query("SELECT Id FROM Campaign WHERE CMSF_Campaign_Id__c != null"))) == 2
    # Unlinked by an admin, an auto-created campaign is not made again, and its Salesforce campaign is freed.
    from cmsf.sync import campaign_links

    gone = links.first()
    campaign_links.unlink(gone.cm_campaign_id, actor="test")
    _sync(client)
    assert CampaignLink.objects.filter(client=client, unlinked_at=None).count() == 1
    freed = next(
        synced.sf.query(f"SELECT CMSF_Campaign_Id__c FROM Campaign WHERE Id = '{gone.salesforce_campaign_id}'")
    )
    assert freed["CMSF_Campaign_Id__c"] is None


def test_a_linked_campaign_deleted_in_salesforce_is_unlinked_and_the_sync_goes_on(synced):
    link, sf_id = _link(synced)
    _settings(auto_create_missing_statuses=True)
    _sync(link.client)
    assert synced.sf.delete("Campaign", [sf_id])[0].success
    _sync(link.client)
    link.refresh_from_db()
    assert link.unlinked_at is not None and "deleted in Salesforce" in link.unlinked_reason
    assert MaintenanceMessage.objects.filter(support_code="CMSF-CAMPAIGN-DELETED").count() == 1
    _sync(link.client)  # and the next one neither fails nor reports it again
    assert MaintenanceMessage.objects.filter(support_code="CMSF-CAMPAIGN-DELETED").count() == 1


def _add_click(world, cm_id: str, email: str) -> None:
    campaign = world.campaigns[cm_id]
    newest = max(e.date for kind in (campaign.opens, campaign.clicks) for e in kind)
    list_id = next(lid for addr, lid in campaign.recipients if addr.lower() == email.lower())
    with world.lock:
        campaign.clicks.append(TrackingEvent(date=newest + timedelta(minutes=1), email=email, list_id=list_id,
                                             url="https://example.com/new"))  # fmt: skip


def _refresh_across_two_syncs_with_new_activity_between(running, refresh: str, expected: str) -> None:
    """A linked campaign synced, a new click by one of its members in Campaign Monitor, and a second sync: the
    member's status follows the refresh rule."""
    link, sf_id = _link(running)
    _settings(member_status_refresh=refresh, auto_create_missing_statuses=True)
    _sync(link.client)
    members = _members(running, sf_id)
    opened_id = next(pid for pid, m in members.items() if m["Status"] in ("Opened", "Sent")
                     and (refresh != ONCE or m["Status"] == "Opened"))  # fmt: skip
    before = members[opened_id]["Status"]
    sobject = "Lead" if opened_id.startswith("00Q") else "Contact"
    email = next(running.sf.query(f"SELECT Email FROM {sobject} WHERE Id = '{opened_id}'"))["Email"]
    _add_click(running.world, link.cm_campaign_id, email)
    _sync(link.client)
    after = _members(running, sf_id)[opened_id]["Status"]
    if refresh == NEVER:
        assert after == before == "Sent"
    else:
        assert after == expected, (before, after)


@pytest.mark.parametrize("refresh,expected", [(ALWAYS, "Clicked"), (NEVER, "Sent"), (ONCE, "Opened")])
def test_status_refresh_across_two_syncs_with_new_activity_between(synced, refresh, expected):
    _refresh_across_two_syncs_with_new_activity_between(synced, refresh, expected)


def test_a_campaign_with_more_changes_than_are_noted_has_all_its_members_computed_again(synced, monkeypatch):
    # The people whose history changed are noted per linked campaign up to TOUCHED_PEOPLE; past it, the campaign's
    # members are all computed again (memory stays bounded however long the run): the outcome is the same.
    monkeypatch.setattr(engine, "TOUCHED_PEOPLE", 0)
    _refresh_across_two_syncs_with_new_activity_between(synced, ALWAYS, "Clicked")


def test_aggregates_follow_days_to_keep(synced):
    link, sf_id = _link(synced)
    tracking = TrackingHistorySettings.load()
    tracking.campaign_member_aggregates = True
    tracking.save()
    _settings(auto_create_missing_statuses=True)
    _sync(link.client)
    opens_before = sum(m["CMSF_Opens__c"] for m in _members(synced, sf_id).values())
    assert opens_before > 0
    tracking.days_to_keep = 0
    tracking.save()
    _sync(link.client)
    after = _members(synced, sf_id)
    assert sum(m["CMSF_Opens__c"] for m in after.values()) == 0 and len(after) > 0


def test_the_refresh_rules_on_their_own():
    t = [timezone.now() - timedelta(hours=h) for h in (3, 2, 1)]
    opened_then_clicked = Person(opens=1, clicks=1, newest=("clicks", t[2]), first=("opens", t[1]))
    only_sent = Person(newest=("sent", t[0]))
    assert status_of(opened_then_clicked, None, ALWAYS) == ("clicks", t[2])
    assert status_of(opened_then_clicked, None, ONCE) == ("opens", t[1])
    assert status_of(opened_then_clicked, None, NEVER)[0] == "sent"
    assert status_of(only_sent, None, ALWAYS) == ("sent", t[0])
    # Always: only newer activity changes a status.
    assert status_of(opened_then_clicked, ("opens", t[1]), ALWAYS) == ("clicks", t[2])
    assert status_of(opened_then_clicked, ("bounces", t[2] + timedelta(1)), ALWAYS)[0] == "bounces"
    # Once only: the first interaction stays; a member still at Sent takes its first interaction.
    assert status_of(opened_then_clicked, ("opens", t[1]), ONCE) == ("opens", t[1])
    assert status_of(opened_then_clicked, ("sent", t[0]), ONCE) == ("opens", t[1])
    assert status_of(opened_then_clicked, ("sent", t[0]), NEVER) == ("sent", t[0])


def test_industry_benchmarks_are_written_beside_each_campaigns_rates(synced):
    from cmsf.options.models import IndustryBenchmark

    IndustryBenchmark.objects.create(name="Our own survey", open_rate="25.17", click_rate="2.79", source="test")
    _settings(industry_benchmarks=True, industry="Our own survey")
    client = CampaignMonitorClient.objects.order_by("name").first()
    _sync(client)
    rows = list(synced.sf.query("SELECT Industry_Open_Rate__c, Industry_Click_Rate__c FROM CMSF_Campaign__c "
                                f"WHERE Client__r.Client_Id__c = '{client.cm_client_id}'"))  # fmt: skip
    assert rows and all((r["Industry_Open_Rate__c"], r["Industry_Click_Rate__c"]) == (25.17, 2.79) for r in rows)


# -- a linked campaign that already has members of its own (issue 17, case 3) ---------------------------------


def _recipients_in_salesforce(cm_id: str) -> list[str]:
    """The contacts and leads the stored tracking history links to this campaign's recipients."""
    rows = RecordMap.objects.filter(sobject="CMSF_Email_Activity__c", key__startswith=f"{cm_id}:", activity_kind="sent")
    return sorted({p for p in rows.values_list("person_id", flat=True) if p})


def _own_members(running, sf_id: str, people: list[str], *, status: str = "Registered") -> dict[str, str]:
    """Members an admin added before linking (an event's invite list): person -> member Id."""
    assert running.sf.insert(
        "CampaignMemberStatus", [{"CampaignId": sf_id, "Label": status, "HasResponded": True, "IsDefault": False}]
    )[0].success
    rows = [{"CampaignId": sf_id, ("LeadId" if p.startswith("00Q") else "ContactId"): p, "Status": status}
            for p in people]  # fmt: skip
    results = running.sf.insert("CampaignMember", rows)
    assert all(r.success for r in results), [r.errors for r in results if not r.success]
    return {p[:15]: r.id for p, r in zip(people, results, strict=True)}


def _someone_else(running, recipients: list[str]) -> str:
    """A contact who did not receive the campaign."""
    known = {p[:15] for p in recipients}
    return next(r["Id"] for r in running.sf.query("SELECT Id FROM Contact ORDER BY Id") if r["Id"][:15] not in known)


@pytest.mark.parametrize("refresh", [ALWAYS, NEVER, ONCE])
def test_a_linked_campaign_keeps_its_own_members_and_a_second_cli_sync_exits_0(synced, capsys, refresh):
    from cmsf.cli import main as cli_main

    link, sf_id = _link(synced)
    _settings(auto_create_missing_statuses=True, member_status_refresh=refresh)
    recipients = _recipients_in_salesforce(link.cm_campaign_id)
    assert len(recipients) > 6
    theirs = _own_members(synced, sf_id, recipients[:5])
    outsider = _someone_else(synced, recipients)
    outsider_member = _own_members(synced, sf_id, [outsider], status="Invited")[outsider[:15]]
    before = _members(synced, sf_id)

    # Both runs end with every record written: exit status 0, nothing refused, no DUPLICATE_VALUE anywhere.
    for _ in range(2):
        assert cli_main(["sync", "--json"]) == 0, capsys.readouterr().out
        runs = json.loads(capsys.readouterr().out)["runs"]
        assert all(r["status"] == "succeeded" and not r["failed"] for r in runs), runs
    assert not MaintenanceMessage.objects.filter(support_code__contains="DUPLICATE_VALUE").exists()

    after = _members(synced, sf_id)
    # The admin's members were adopted in place (same Id, not doubled), keyed as cmsf's from now on ...
    for person, member_id in theirs.items():
        assert after[person]["Id"] == member_id and after[person]["CMSF_Member_Key__c"]
        # ... they keep the admin's status under Never and Once only; Always sets their newest activity's ...
        if refresh == ALWAYS:
            assert after[person]["Status"] in ("Sent", "Opened", "Clicked", "Bounced", "Unsubscribed")
        else:
            assert after[person]["Status"] == "Registered"
    # ... every other recipient became a member, and the member who is not a recipient is not touched.
    assert {p[:15] for p in recipients} <= set(after)
    assert after[outsider[:15]] == before[outsider[:15]] and after[outsider[:15]]["Id"] == outsider_member
    assert after[outsider[:15]]["CMSF_Member_Key__c"] is None
    count = len(list(synced.sf.query(f"SELECT Id FROM CampaignMember WHERE CampaignId = '{sf_id}'")))
    assert count == len(after)


def test_the_duplicate_value_guidance_never_advises_deleting_the_admins_members():
    from cmsf.maintenance import support_codes

    said = support_codes.guidance("CMSF-SF-DUPLICATE_VALUE")
    assert "remove the duplicate" not in said.lower() and said.startswith("Delete nothing")
    assert "do not delete a campaign member" in said


# -- the refresh rules and a renamed label (issue 17, case 9) -----------------------------------------------------

RENAMED = {"sent": "Delivered", "opened": "Read", "clicked": "Followed a link"}


def _email_of(running, person_id: str) -> str:
    sobject = "Lead" if person_id.startswith("00Q") else "Contact"
    return next(running.sf.query(f"SELECT Email FROM {sobject} WHERE Id = '{person_id}'"))["Email"]


@pytest.mark.parametrize("refresh", [NEVER, ONCE, ALWAYS])
def test_a_renamed_label_applies_to_new_members_only_under_never_and_once_only(synced, monkeypatch, refresh):
    from cmsf.sync import directory

    link, sf_id = _link(synced)
    _settings(member_status_refresh=refresh, auto_create_missing_statuses=True)
    _sync(link.client)
    before = _members(synced, sf_id)
    at_sent = next(p for p, m in before.items() if m["Status"] == "Sent")
    # A recipient with no contact yet becomes one, and clicks: a new member after the rename.
    known = {_email_of(synced, p).lower() for p in before}
    newcomer = next(e for e, _ in synced.world.campaigns[link.cm_campaign_id].recipients if e.lower() not in known)
    assert synced.sf.insert("Contact", [{"LastName": "Newcomer", "Email": newcomer}])[0].success
    for activity, label in RENAMED.items():
        responded = CampaignStatusMapping.DEFAULTS[activity][1]
        CampaignStatusMapping.objects.update_or_create(
            activity=activity, defaults={"status_label": label, "responded": responded}
        )
    _add_click(synced.world, link.cm_campaign_id, _email_of(synced, at_sent))
    _add_click(synced.world, link.cm_campaign_id, newcomer)
    monkeypatch.setattr(directory, "FRESH_FOR", timedelta(0))  # the new contact is read at once

    run = _sync(link.client)
    after = _members(synced, sf_id)
    new = next(p for p in after if p not in before)
    old_labels = {"Sent", "Opened", "Clicked"}
    if refresh == ALWAYS:  # every member takes the current labels
        assert not {m["Status"] for m in after.values()} & old_labels
        assert after[at_sent]["Status"] == "Followed a link" and after[new]["Status"] == "Followed a link"
        return
    # Never and Once only: the existing members keep the labels they were written with; nothing else is rewritten.
    changed = {p for p in before if after[p]["Status"] != before[p]["Status"]}
    if refresh == NEVER:
        assert changed == set() and after[new]["Status"] == "Delivered"  # set when added, never changed
        assert run.written.get("CampaignMember", 0) == 1
    else:  # Once only: the one change a member at Sent still has takes the current label, as the new member does
        assert changed == {at_sent} and after[at_sent]["Status"] == "Followed a link"
        assert after[new]["Status"] == "Followed a link"
        assert run.written.get("CampaignMember", 0) == 2
    # A rerun writes nothing.
    assert _sync(link.client).written.get("CampaignMember", 0) == 0


def test_member_labels_by_rule_on_their_own():
    t = [timezone.now() - timedelta(hours=h) for h in (3, 2, 1)]
    clicked = Person(opens=1, clicks=1, newest=("clicks", t[2]), first=("opens", t[1]))
    renamed = StatusMap({**StatusMap.load().labels, "sent": ("Delivered", False), "opens": ("Read", True)})
    written_as_opened = Written("opens", t[1], "Opened")
    # Unchanged statuses keep their written label under Never and Once only; Always relabels.
    assert member_status(clicked, written_as_opened, NEVER, renamed) == ("opens", t[1], "Opened")
    assert member_status(clicked, written_as_opened, ONCE, renamed) == ("opens", t[1], "Opened")
    assert member_status(clicked, written_as_opened, ALWAYS, renamed)[2] == renamed.label("clicks")
    assert member_status(clicked, Written("sent", t[0], "Sent"), ONCE, renamed) == ("opens", t[1], "Read")
    assert member_status(clicked, None, NEVER, renamed) == ("sent", None, "Delivered")
    # A member an admin made keeps the admin's status, except under Always.
    theirs = Written(ADOPTED, None, "Registered")
    assert member_status(clicked, theirs, NEVER, renamed) == (ADOPTED, None, "Registered")
    assert member_status(clicked, theirs, ONCE, renamed) == (ADOPTED, None, "Registered")
    assert member_status(clicked, theirs, ALWAYS, renamed)[0] == "clicks"


def test_a_member_added_between_the_read_and_the_write_is_adopted_by_the_next_sync(synced, monkeypatch):
    from cmsf.sync import directory, salesforce_campaigns

    link, sf_id = _link(synced)
    _settings(member_status_refresh=NEVER, auto_create_missing_statuses=True)
    _sync(link.client)
    before = _members(synced, sf_id)
    known = {_email_of(synced, p).lower() for p in before}
    newcomer = next(e for e, _ in synced.world.campaigns[link.cm_campaign_id].recipients if e.lower() not in known)
    person = synced.sf.insert("Contact", [{"LastName": "Late", "Email": newcomer}])[0].id
    _add_click(synced.world, link.cm_campaign_id, newcomer)
    monkeypatch.setattr(directory, "FRESH_FOR", timedelta(0))
    # The admin adds the person while the sync runs: after cmsf read the campaign's members, before it wrote.
    theirs = _own_members(synced, sf_id, [person])[person[:15]]
    monkeypatch.setattr(salesforce_campaigns, "_members_in_salesforce", lambda *args: {})
    raced = sync.sync_client(client=link.client)
    assert raced.failed.get("CampaignMember") == 1
    monkeypatch.undo()
    monkeypatch.setattr(directory, "FRESH_FOR", timedelta(0))
    # The next sync adopts it, refuses nothing, and doubles nothing.
    again = _sync(link.client)
    assert not again.failed
    after = _members(synced, sf_id)
    assert after[person[:15]]["Id"] == theirs and after[person[:15]]["Status"] == "Registered"
    assert after[person[:15]]["CMSF_Member_Key__c"] == f"{sf_id}:{person}"
    assert len(list(synced.sf.query(f"SELECT Id FROM CampaignMember WHERE CampaignId = '{sf_id}'"))) == len(after)
