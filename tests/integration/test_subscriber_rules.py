"""Subscriber rules against both emulators over TLS: each kind applied by the watcher to what changes (an add never
resubscribes, opted-out records are kept out when the option says so), "when created only", "when edited to subsequently
meet the criteria" (its starting point read once, then kept), custom logic, the account trigger, a retrospective run, the console (one rule of each kind a list, fields checked) and `cmsf config`."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from cmsf.audience import fields as rule_fields
from cmsf.audience import services
from cmsf.configuration import export_document, import_document
from cmsf.connections import services as connections
from cmsf.connections.models import CampaignMonitorClient
from cmsf.console import formats, preferences
from cmsf.options.models import GeneralOptions, SubscriberRule
from cmsf.sync.models import RuleMatch
from cmsf.sync.outbound import ANY_ZONE
from cmsf.sync.subscriber_rules import read_matches, run_retrospective
from tests.emulators import sync_every_client, watched

pytestmark = pytest.mark.django_db(transaction=True)
Kind = SubscriberRule.Kind
MET = SubscriberRule.When.MET


class World:
    def __init__(self) -> None:
        self.sf, self.cm = connections.salesforce(), connections.campaign_monitor()
        self.client = CampaignMonitorClient.objects.filter(selected=True).order_by("pk").first()
        self.list_id = self.cm.lists(self.client.cm_client_id)[0].list_id

    def state(self, email: str) -> str | None:
        found = self.cm.subscriber(self.list_id, email, zone=ANY_ZONE)
        return found.state if found else None

    def rule(self, kind: str, criteria: list[dict[str, str]], **values: Any) -> SubscriberRule:
        rule = SubscriberRule(client=self.client, list_id=self.list_id, kind=kind, criteria=criteria, **values)
        assert not rule_fields.check_rule(rule, self.sf)
        return services.save_rule(rule, actor="test")

    def lead(self, **values: Any) -> str:
        made = self.sf.insert("Lead", [{"LastName": "Ruled", "Company": "Acme", **values}])[0]
        assert made.success, made.errors
        return str(made.id)


@pytest.fixture
def world(start_emulators):
    start_emulators(48)
    sync_every_client()
    assert "started watching" in watched().message
    return World()


WEB = {"field": "LeadSource", "operator": "equals", "value": "Web"}


def test_add_and_remove_rules_follow_what_changes_in_salesforce(world):
    world.rule(Kind.ADD_LEAD, [WEB, {"field": "Email", "operator": "is_not_blank", "value": ""}])
    world.rule(Kind.REMOVE_LEAD, [{"field": "Status", "operator": "equals", "value": "Closed - Not Converted"}])
    web = world.lead(Email="web.lead@example.org", LeadSource="Web", FirstName="Wendy")
    world.lead(Email="phone.lead@example.org", LeadSource="Phone Inquiry")
    run = watched()
    assert run.done.get("added") == 1, (run.done, run.problems)
    assert world.state("web.lead@example.org") == "Active" and world.state("phone.lead@example.org") is None
    assert world.cm.subscriber(world.list_id, "web.lead@example.org", zone=ANY_ZONE).name == "Wendy Ruled"
    # Its membership row is in Salesforce at once (before any sync), so a remove rule met now finds it.
    rows = list(world.sf.query(
        "SELECT Lead__c, State__c, List__r.List_Id__c FROM CMSF_Subscriber__c WHERE Email__c = 'web.lead@example.org'"))  # fmt: skip
    assert [(r["Lead__c"], r["State__c"], r["List__r.List_Id__c"]) for r in rows] == [(web, "Active", world.list_id)]
    assert run.done.get("membership_rows") == 1
    world.sf.update("Lead", [{"Id": web, "Status": "Closed - Not Converted"}])
    gone = watched()
    assert gone.done.get("deleted") == 1 and world.state("web.lead@example.org") == "Deleted", gone.done

    # A lead the sync linked to its subscriber of the list: the remove rule deletes it, and the add rule, met
    # again, does not bring it back.
    member = next(world.sf.query(
        "SELECT Lead__c, Email__c FROM CMSF_Subscriber__c WHERE Lead__c != null AND Contact__c = null "
        f"AND State__c = 'Active' AND List__r.List_Id__c = '{world.list_id}'"))  # fmt: skip
    world.sf.update("Lead", [{"Id": member["Lead__c"], "Status": "Closed - Not Converted", "LeadSource": "Web"}])
    removed = watched()
    assert removed.done.get("deleted") == 1 and world.state(member["Email__c"]) == "Deleted", removed.done
    world.sf.update("Lead", [{"Id": member["Lead__c"], "Status": "Open - Not Contacted"}])
    again = watched()
    assert again.done.get("added") is None and world.state(member["Email__c"]) == "Deleted"  # not brought back
    assert web


def test_opted_out_records_stay_out_with_the_option_and_created_only_rules_ignore_edits(world):
    options = GeneralOptions.load()
    options.prevent_adding_opted_out = True
    options.save()
    world.rule(Kind.ADD_LEAD, [WEB], evaluate=SubscriberRule.When.CREATED)
    opted = world.lead(Email="opted.out@example.org", LeadSource="Web", HasOptedOutOfEmail=True)
    later = world.lead(Email="later.web@example.org", LeadSource="Other")
    run = watched()
    assert world.state("opted.out@example.org") is None
    assert [p["key"] for p in run.problems] == [f"Lead {opted}"] and "Email Opt Out" in run.problems[0]["reason"]
    world.sf.update("Lead", [{"Id": later, "LeadSource": "Web"}])  # edited to meet it: not a creation
    assert watched().done.get("added") is None and world.state("later.web@example.org") is None


def test_a_rule_evaluated_when_edited_to_subsequently_meet_the_criteria(world):
    already = world.lead(Email="already.web@example.org", LeadSource="Web")
    later = world.lead(Email="later.web@example.org", LeadSource="Other")
    watched()
    rule = world.rule(Kind.ADD_LEAD, [WEB], evaluate=MET)
    token = rule.matches_token
    assert token and rule.matches_from is None and "reading" in rule.matches_note
    world.sf.update("Lead", [{"Id": later, "FirstName": "Lou"}])
    assert watched().done.get("added") is None  # the rule waits for the records that meet it as it starts

    assert "met the criteria when the rule started" in read_matches(rule.pk, token)
    rule.refresh_from_db()
    matched = set(RuleMatch.objects.filter(rule=rule).values_list("record_id", flat=True))
    assert rule.matches_from is not None and already in matched and later not in matched
    web_leads = sum(1 for _ in world.sf.query("SELECT Id FROM Lead WHERE LeadSource = 'Web'"))
    assert len(matched) == web_leads and f"{web_leads:,} of " in rule.matches_note

    # Met before, edited: nothing. Edited to meet it: added. Created meeting it: added.
    world.sf.update("Lead", [{"Id": already, "FirstName": "Ann"}, {"Id": later, "LeadSource": "Web"}])
    world.lead(Email="new.web@example.org", LeadSource="Web")
    run = watched()
    assert run.done.get("added") == 2, (run.done, run.problems)
    assert world.state("already.web@example.org") is None
    assert world.state("later.web@example.org") == world.state("new.web@example.org") == "Active"
    assert RuleMatch.objects.filter(rule=rule, record_id=later).exists()

    # A remove rule, evaluated the same way, on a lead the sync linked to its subscriber and that met the criteria
    # as the rule started: removed only once an edit made it stop meeting them and another made it meet them again.
    member = next(world.sf.query(
        "SELECT Lead__c, Email__c FROM CMSF_Subscriber__c WHERE Lead__c != null AND Contact__c = null "
        f"AND State__c = 'Active' AND List__r.List_Id__c = '{world.list_id}'"))  # fmt: skip
    lead, email = member["Lead__c"], member["Email__c"]
    closed = {"field": "Status", "operator": "equals", "value": "Closed - Not Converted"}
    world.sf.update("Lead", [{"Id": lead, "Status": "Closed - Not Converted"}])
    remove = world.rule(Kind.REMOVE_LEAD, [closed], evaluate=MET)
    read_matches(remove.pk, remove.matches_token)
    world.sf.update("Lead", [{"Id": lead, "FirstName": "Lou"}])
    assert watched().done.get("deleted") is None and world.state(email) == "Active"
    world.sf.update("Lead", [{"Id": lead, "Status": "Working - Contacted"}])
    assert watched().done.get("deleted") is None
    assert not RuleMatch.objects.filter(rule=remove, record_id=lead).exists()
    world.sf.update("Lead", [{"Id": lead, "Status": "Closed - Not Converted"}])
    assert watched().done.get("deleted") == 1 and world.state(email) == "Deleted"

    # Saved again: a read asked for by an earlier save keeps nothing; the rule waits for its own read.
    services.save_rule(rule, actor="test", before=services.list_snapshot(rule))
    assert "saved again" in read_matches(rule.pk, token)
    rule.refresh_from_db()
    assert rule.matches_from is None and rule.matches_token != token
    assert not RuleMatch.objects.filter(rule=rule).exists()
    # Evaluated otherwise: its records are no longer kept.
    rule.evaluate = SubscriberRule.When.EDITED
    services.save_rule(rule, actor="test")
    rule.refresh_from_db()
    assert (rule.matches_token, rule.matches_from) == ("", None)


def test_custom_logic_and_the_account_trigger(world):
    account = world.sf.insert("Account", [{"Name": "Rules Bank", "Industry": "Retail"}])[0].id
    contact = world.sf.insert("Contact", [{"LastName": "Teller", "Email": "teller@example.org",
                                           "AccountId": account, "Title": "Teller"}])[0].id  # fmt: skip
    world.rule(Kind.ADD_CONTACT, [{"field": "Account.Industry", "operator": "equals", "value": "Banking"},
                                  {"field": "Title", "operator": "equals", "value": "CEO"},
                                  {"field": "Title", "operator": "contains", "value": "tell"}],
               logic="1 AND (2 OR 3)")  # fmt: skip
    assert watched().done.get("added") is None  # the contact is new, its account is not in banking; accounts watched
    world.sf.update("Account", [{"Id": account, "Industry": "Banking"}])
    run = watched()
    assert run.done.get("added") == 1 and run.read.get("Account") == 1, (run.done, run.problems)
    assert world.state("teller@example.org") == "Active"
    assert contact

    options = GeneralOptions.load()
    options.account_trigger = False
    options.save()
    other = world.sf.insert("Contact", [{"LastName": "Clerk", "Email": "clerk@example.org", "AccountId": account,
                                         "Title": "Teller"}])[0].id  # fmt: skip
    world.sf.update("Account", [{"Id": account, "Industry": "Banking"}])  # the contact itself changed: evaluated
    assert watched().done.get("added") == 1 and other


def test_a_remove_contact_rule_deletes_the_contacts_active_subscribers_of_its_list(world):
    world.rule(Kind.REMOVE_CONTACT, [{"field": "Title", "operator": "equals", "value": "Former customer"}])
    member = next(world.sf.query(
        "SELECT Contact__c, Email__c FROM CMSF_Subscriber__c WHERE Contact__c != null AND Lead__c = null "
        f"AND State__c = 'Active' AND List__r.List_Id__c = '{world.list_id}'"))  # fmt: skip
    world.sf.update("Contact", [{"Id": member["Contact__c"], "Title": "Customer"}])
    assert watched().done.get("deleted") is None and world.state(member["Email__c"]) == "Active"
    world.sf.update("Contact", [{"Id": member["Contact__c"], "Title": "Former customer"}])
    run = watched()
    assert run.done.get("deleted") == 1 and world.state(member["Email__c"]) == "Deleted"
    row = next(world.sf.query(f"SELECT State__c FROM CMSF_Subscriber__c WHERE Contact__c = '{member['Contact__c']}' "
                              f"AND List__r.List_Id__c = '{world.list_id}'"))  # fmt: skip
    assert row["State__c"] == "Deleted"  # the membership row follows at once


def test_a_retrospective_run_applies_a_rule_to_existing_records(world):
    before = [world.lead(Email=f"old.web{n}@example.org", LeadSource="Web") for n in range(3)]
    world.lead(Email="old.other@example.org", LeadSource="Other")
    watched()  # the watcher has seen them before the rule exists
    rule = world.rule(Kind.ADD_LEAD, [WEB, {"field": "Email", "operator": "starts_with", "value": "old."}])
    watched()  # the rule is not retrospective: the records are not read again
    assert world.state("old.web0@example.org") is None
    done = run_retrospective(rule.pk)
    assert done.retrospective_result.startswith(f"{_leads(world)} records read, 3 met the criteria, 3 added")
    assert [world.state(f"old.web{n}@example.org") for n in range(3)] == ["Active"] * 3
    assert world.state("old.other@example.org") is None and len(before) == 3
    again = run_retrospective(rule.pk)  # a rerun adds nobody twice
    assert ", 0 added to the list" in again.retrospective_result

    remover = world.rule(Kind.REMOVE_LEAD, [{"field": "Email", "operator": "equals", "value": "old.web1@example.org"}])
    assert "1 removed from the list" in run_retrospective(remover.pk).retrospective_result
    assert world.state("old.web1@example.org") == "Deleted"


def _leads(world: World) -> str:
    return f"{world.sf.count('SELECT COUNT() FROM Lead'):,}"


def test_the_console_keeps_one_rule_of_each_kind_a_list_and_config_carries_them(client, alice, world, immediate_queue):
    client.force_login(alice)
    assert "No subscriber rule yet" in client.get(reverse("console:rules")).content.decode()
    target = f"{world.client.pk}:{world.list_id}"
    form = {"target": target, "kind": Kind.ADD_LEAD, "criteria": "LeadSource equals Web\nEmial is_not_blank",
            "logic": "", "evaluate": "edited", "active": "on"}  # fmt: skip
    bad = client.post(reverse("console:rules_save"), form)
    assert bad.status_code == 400 and "Criterion 2: Lead has no field Emial." in bad.content.decode()
    worse = client.post(reverse("console:rules_save"), {**form, "criteria": "LeadSource is Web"})
    assert worse.status_code == 400 and "Line 1: write Field operator value" in worse.content.decode()
    logic = client.post(reverse("console:rules_save"), {**form, "criteria": "LeadSource equals Web", "logic": "1 OR 2"})
    assert logic.status_code == 400 and "name the criteria by their numbers, 1 to 1" in logic.content.decode()
    made = client.post(reverse("console:rules_save"), {**form, "criteria": "LeadSource equals Web\nEmail is_not_blank"})
    assert made.status_code == 302 and SubscriberRule.objects.count() == 1
    changed = client.post(reverse("console:rules_save"), {**form, "criteria": "LeadSource equals Partner"})
    rule = SubscriberRule.objects.get()  # the list's add lead rule, changed: still one
    assert changed.status_code == 302 and rule.criteria == [{"field": "LeadSource", "operator": "equals",
                                                             "value": "Partner"}]  # fmt: skip
    world.lead(Email="partner.lead@example.org", LeadSource="Partner")
    rules_page = client.get(reverse("console:rules")).content.decode()
    assert f'href="{reverse("console:rules_retrospective", args=[rule.pk])}"' in rules_page  # asks first
    asked = client.get(reverse("console:rules_retrospective", args=[rule.pk])).content.decode()
    assert "Every existing lead that meets the criteria is added to the list" in asked
    assert "No one who left the list is resubscribed" in asked and 'data-testid="confirm-button"' in asked
    assert rule.retrospective_at is None and world.state("partner.lead@example.org") != "Active"
    queued = client.post(reverse("console:rules_retrospective", args=[rule.pk]))
    assert queued.status_code == 302
    rule.refresh_from_db()
    assert "1 added to the list" in rule.retrospective_result and world.state("partner.lead@example.org") == "Active"
    page = client.get(reverse("console:rules")).content.decode()
    assert "LeadSource equals Partner" in page and "1 added to the list" in page

    document = export_document()
    assert document["subscriber_rules"][world.list_id]["rules"] == [
        {"kind": "add_lead", "criteria": rule.criteria, "logic": "", "evaluate": "edited", "active": True}
    ]
    assert client.post(reverse("console:rules_delete", args=[rule.pk])).status_code == 302
    assert not SubscriberRule.objects.exists()
    import_document({"subscriber_rules": document["subscriber_rules"]}, actor="test")
    assert SubscriberRule.objects.get().criteria == rule.criteria
    twice = {world.list_id: {**document["subscriber_rules"][world.list_id],
                             "rules": [document["subscriber_rules"][world.list_id]["rules"][0]] * 2}}  # fmt: skip
    with pytest.raises(Exception, match=r"subscriber_rules\..*rules\[2\]\.kind"):
        import_document({"subscriber_rules": twice}, actor="test")

    # "Edited to subsequently meet the criteria", from the console and from `cmsf config`: the records that meet
    # the criteria are read on the queue (at once here), and the page says what was found.
    met = client.post(reverse("console:rules_save"), {**form, "criteria": "LeadSource equals Partner",
                                                      "evaluate": "met"})  # fmt: skip
    assert met.status_code == 302
    assert "are read first" in client.get(reverse("console:rules")).content.decode()
    rule = SubscriberRule.objects.get()
    assert rule.matches_from is not None and "met the criteria when the rule started" in rule.matches_note
    assert RuleMatch.objects.filter(rule=rule).count() >= 1  # partner.lead at least
    SubscriberRule.objects.filter(pk=rule.pk).update(matches_from=None, matches_note="stopped: the org was down")
    page = client.get(reverse("console:rules")).content.decode()
    assert "stopped: the org was down" in page and "Read again" in page
    assert client.post(reverse("console:rules_matches", args=[rule.pk])).status_code == 302
    rule.refresh_from_db()
    with timezone.override(preferences.zone(preferences.org_time_zone())):  # the page shows the org's time
        since = f"Since {formats.when(rule.matches_from)}"
    assert rule.matches_from is not None and since in client.get(reverse("console:rules")).content.decode()
    exported = export_document()["subscriber_rules"]
    assert exported[world.list_id]["rules"][0]["evaluate"] == "met"
    import_document({"subscriber_rules": {world.list_id: {**exported[world.list_id], "rules": []}}}, actor="test")
    import_document({"subscriber_rules": exported}, actor="test")
    imported = SubscriberRule.objects.get()
    assert imported.pk != rule.pk and imported.matches_from is not None and imported.matches_token
