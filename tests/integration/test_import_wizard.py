"""Import wizards against both emulators over TLS: a Salesforce campaign and a SOQL query as sources; Update,
Resubscribe and Remove; the opt-out, suppression and forget rules; E.164 numbers; a preview that matches what the
Remove run then deletes; a rerun that doubles nothing; Disable triggers; `cmsf import run`."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import requests
from django.core.exceptions import ValidationError
from django.utils import timezone

from cmsf.audience import sources
from cmsf.audience.imports import run_import
from cmsf.audience.models import ImportRun, ImportWizard
from cmsf.cli import main as cli_main
from cmsf.connections import services as connections
from cmsf.connections.models import CampaignMonitorClient
from cmsf.options.models import GeneralOptions, SmsSettings
from cmsf.sync import forget
from cmsf.sync.models import ForgottenEmail
from cmsf.sync.outbound import ANY_ZONE
from cmsf_sandbox.salesforce import reports as emulated_reports
from tests import emulators

pytestmark = pytest.mark.django_db(transaction=True)


class World:
    def __init__(self, running: emulators.Connected) -> None:
        self.running = running
        self.sf = connections.salesforce()
        self.cm = connections.campaign_monitor()
        self.client = CampaignMonitorClient.objects.order_by("pk").first()
        lists = self.cm.lists(self.client.cm_client_id)
        self.list_id = max(lists, key=lambda lst: self.count(lst.list_id)).list_id
        self.campaign = self.sf.insert("Campaign", [{"Name": "Import wizard source"}])[0].id

    def count(self, list_id: str, state: str = "active") -> int:
        return sum(1 for _ in self.cm.subscribers(list_id, state, zone=ANY_ZONE))

    def emails(self, state: str) -> list[str]:
        return sorted(s.email for s in self.cm.subscribers(self.list_id, state, zone=ANY_ZONE))

    def state(self, email: str) -> str | None:
        found = self.cm.subscriber(self.list_id, email, zone=ANY_ZONE)
        return found.state if found else None

    def person(self, sobject: str = "Contact", *, member: bool = True, status: str = "Sent", **fields: Any) -> str:
        values = {"LastName": fields.pop("LastName", "Imported"), **fields}
        if sobject == "Lead":
            values.setdefault("Company", "Acme")
        created = self.sf.insert(sobject, [values])[0]
        assert created.success, created.errors
        if member:
            link = "ContactId" if sobject == "Contact" else "LeadId"
            joined = self.sf.insert(
                "CampaignMember", [{"CampaignId": self.campaign, link: created.id, "Status": status}]
            )
            assert joined[0].success, joined[0].errors
        return str(created.id)

    def cm_calls(self) -> int:
        return sum(self.cm_calls_by_endpoint().values())

    def cm_calls_by_endpoint(self) -> dict[str, int]:
        response = requests.get(f"{self.running.cm_base}/admin/calls", verify=self.running.ca, timeout=30)
        response.raise_for_status()
        return dict(response.json()["calls"])

    def wizard(self, **values: Any) -> ImportWizard:
        defaults: dict[str, Any] = {"name": "Members", "client": self.client, "list_id": self.list_id,
                                    "source": ImportWizard.Source.CAMPAIGN, "campaign_id": self.campaign}  # fmt: skip
        wizard = ImportWizard(**{**defaults, **values})
        wizard.full_clean()
        wizard.save()
        return wizard


@pytest.fixture
def world(start_emulators):
    return World(start_emulators(43))


def done(run: ImportRun, status: str = ImportRun.Status.SUCCEEDED) -> ImportRun:
    assert run.status == status, (run.message, run.problems)
    return run


def test_a_campaign_source_imports_its_members_with_mapped_fields_and_e164_numbers(world):
    sms = SmsSettings.load()
    sms.enabled, sms.default_country = True, "US"
    sms.save()
    ann = world.person(FirstName="Ann", LastName="Lee", Email="ann.lee@example.org", Title="CFO",
                       MobilePhone="(555) 555-1234")  # fmt: skip
    bob = world.person(FirstName="Bob", LastName="Ray", Email="bob.ray@example.org", MobilePhone="555-1234")
    world.person(LastName="No Email")
    world.person("Lead", LastName="Same Address", Email="ANN.LEE@example.org")  # collapsed: Ann came first
    world.person(Email="not.a.member@example.org", member=False)
    title = world.cm.create_custom_field(world.list_id, "Title", "Text")
    wizard = world.wizard(mobile_field="MobilePhone", mappings=[{"salesforce": "Title", "campaign_monitor": title}])

    run = done(run_import(wizard), ImportRun.Status.PARTIAL)
    assert (run.read, run.duplicates, run.imported, run.new, run.failed) == (4, 1, 2, 2, 1)
    assert {p["key"]: p["reason"] for p in run.problems} == {
        **{key: "no email address in Email" for key in [p["key"] for p in run.problems if "no email" in p["reason"]]},
        f"Contact {bob}": "the mobile number in MobilePhone is not sent: '555-1234' is a local number: it needs its "
        "area code",
    }
    found = world.cm.subscriber(world.list_id, "ann.lee@example.org", zone=ANY_ZONE)
    assert found.name == "Ann Lee" and found.state == "Active" and found.mobile_number == "+15555551234"
    assert dict(found.custom_fields)["Title"] == "CFO" and dict(found.custom_fields)["Salesforce ID"] == ann
    assert world.state("bob.ray@example.org") == "Active"  # sent without the number
    assert world.state("not.a.member@example.org") is None
    # Two import calls at most for these people, plus the reads: custom fields, suppression list.
    assert run.cm_calls <= 4 and run.sf_calls <= 6

    again = done(run_import(wizard), ImportRun.Status.PARTIAL)  # a rerun changes nothing and doubles nothing
    assert (again.imported, again.new) == (2, 0)
    assert world.emails("active").count("ann.lee@example.org") == 1


def test_rules_keep_out_opted_out_suppressed_and_forgotten_people_each_reported(world):
    options = GeneralOptions.load()
    options.prevent_adding_opted_out = True
    options.save()
    out = world.person(Email="opted.out@example.org", HasOptedOutOfEmail=True)
    gone = world.person(Email="suppressed@example.org")
    forgotten_id = world.person(Email="forgotten@example.org")
    world.person(Email="welcome@example.org")
    world.cm.suppress(world.client.cm_client_id, ["suppressed@example.org"])
    ForgottenEmail.objects.create(email_hash=forget.email_hash("forgotten@example.org"), forgotten_at=timezone.now())

    run = done(run_import(world.wizard(map_salesforce_id=False)), ImportRun.Status.PARTIAL)
    assert run.imported == 1 and world.state("welcome@example.org") == "Active"
    reasons = {p["key"]: p["reason"] for p in run.problems}
    assert "Email Opt Out is checked" in reasons[f"Contact {out}"]
    assert "suppression list" in reasons[f"Contact {gone}"]
    assert reasons[f"Contact {forgotten_id}"] == "cmsf was asked to forget this person"
    assert sum(run.refused.values()) == 3
    for email in ("opted.out@example.org", "suppressed@example.org", "forgotten@example.org"):
        assert world.state(email) is None


def test_resubscribe_brings_back_deleted_subscribers_only(world):
    active = world.emails("active")
    deleted, unsubscribed = active[0], active[1]
    world.cm.delete_subscriber(world.list_id, deleted)
    world.cm.unsubscribe(world.list_id, unsubscribed)
    bounced = world.emails("bounced")
    for email in [deleted, unsubscribed, *bounced[:1]]:
        world.person(Email=email)
    # Unsubscribed and bounced addresses may also be in the client's suppression list (a list that unsubscribes
    # from all the client's lists puts them there): those are kept out as suppressed; the others are sent without
    # Resubscribe. Either way they stay as they are.
    update = run_import(world.wizard(name="Update"))
    assert update.status in (ImportRun.Status.SUCCEEDED, ImportRun.Status.PARTIAL), update.message
    assert update.resubscribed == 0 and world.state(deleted) == "Deleted"
    assert all("suppression list" in p["reason"] for p in update.problems)
    resubscribe = run_import(world.wizard(name="Resubscribe", mode=ImportWizard.Mode.RESUBSCRIBE))
    assert resubscribe.status in (ImportRun.Status.SUCCEEDED, ImportRun.Status.PARTIAL), resubscribe.message
    assert resubscribe.resubscribed == 1 and world.state(deleted) == "Active"
    assert world.state(unsubscribed) == "Unsubscribed"
    for email in bounced[:1]:
        assert world.state(email) == "Bounced"


def test_the_preview_of_a_remove_run_lists_exactly_whom_the_run_deletes(world):
    keep = world.emails("active")[:3]
    for email in keep:
        world.person(Email=email)
    world.person(Email="newcomer@example.org")
    before = set(world.emails("active"))
    wizard = world.wizard(mode=ImportWizard.Mode.REMOVE, map_salesforce_id=False)
    calls = world.cm_calls_by_endpoint()

    preview = done(run_import(wizard, dry_run=True))
    made = {k: n - calls.get(k, 0) for k, n in world.cm_calls_by_endpoint().items() if n != calls.get(k, 0)}
    assert sum(made.values()) == preview.cm_calls and all(k.startswith("GET ") for k in made), made  # reads only
    assert set(preview.would_remove) == before - set(keep) and preview.imported == 4
    assert world.state("newcomer@example.org") is None and set(world.emails("active")) == before

    run = done(run_import(wizard))
    assert run.removed == len(preview.would_remove)
    assert set(world.emails("active")) == set(keep) | {"newcomer@example.org"}
    assert set(world.emails("deleted")) >= set(preview.would_remove)


def test_a_soql_source_reads_leads_and_disable_triggers_sends_nothing(world):
    lead = world.person("Lead", member=False, LastName="Query", Email="query.lead@example.org", LeadSource="Web")
    world.person("Lead", member=False, LastName="Other", Email="other.lead@example.org", LeadSource="Phone")
    wizard = world.wizard(source=ImportWizard.Source.SOQL, campaign_id="",
                          soql="select Id from lead where LeadSource = 'Web' and Email like '%.lead@example.org'")  # fmt: skip
    assert wizard.sobject == "Lead"  # the query's object, whatever the form said
    options = GeneralOptions.load()
    options.disable_triggers = True
    options.save()
    calls = world.cm_calls()
    stopped = done(run_import(wizard), ImportRun.Status.FAILED)
    assert "Disable triggers" in stopped.message and world.cm_calls() == calls

    options.disable_triggers = False
    options.save()
    run = done(run_import(wizard))
    assert run.read == 1 and world.state("query.lead@example.org") == "Active"
    assert world.state("other.lead@example.org") is None
    found = world.cm.subscriber(world.list_id, "query.lead@example.org", zone=ANY_ZONE)
    assert dict(found.custom_fields)["Salesforce ID"] == lead


def test_a_query_that_gives_no_records_is_refused_and_one_salesforce_refuses_fails_the_run(world):
    with pytest.raises(ValidationError, match="aggregate query"):
        world.wizard(source=ImportWizard.Source.SOQL, campaign_id="", soql="SELECT COUNT() FROM Contact")
    wizard = world.wizard(source=ImportWizard.Source.SOQL, campaign_id="",
                          soql="SELECT Id FROM Contact WHERE No_Such_Field__c = 1")  # fmt: skip
    run = done(run_import(wizard), ImportRun.Status.FAILED)
    assert run.message.startswith("Salesforce: ") and "No_Such_Field__c" in run.message
    assert run.finished_at is not None


def test_a_run_that_cannot_connect_ends_failed_with_the_reason(world, monkeypatch):
    wizard = world.wizard()

    def refused(*args, **kwargs):
        raise connections.NotConnected("Salesforce is not connected: connect it in the console")

    monkeypatch.setattr(connections, "salesforce", refused)
    run = done(run_import(wizard), ImportRun.Status.FAILED)
    assert "Salesforce is not connected" in run.message and run.finished_at is not None


def test_the_command_runs_a_wizard_and_asks_before_removing(world, capsys):
    world.person(Email="cli.person@example.org")
    world.wizard(name="From the command")
    assert cli_main(["import", "run", "From the command", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["status"] == "succeeded" and summary["imported"] == 1
    assert world.state("cli.person@example.org") == "Active"

    world.wizard(name="Remover", mode=ImportWizard.Mode.REMOVE)
    before = world.emails("active")
    assert cli_main(["import", "run", "Remover"]) == 2  # not a terminal: not run without --yes
    assert "give --yes" in capsys.readouterr().err and world.emails("active") == before
    assert cli_main(["import", "run", "Nobody"]) == 2
    assert "no import wizard is named 'Nobody'" in capsys.readouterr().err


def test_a_scheduled_wizard_runs_from_the_queue_at_its_hour(world, immediate_queue):
    from cmsf.audience import tasks

    world.person(Email="scheduled.person@example.org")
    wizard = world.wizard(name="Hourly", run_hours=list(range(24)))
    ImportWizard.objects.filter(pk=wizard.pk).update(next_run=timezone.now() - timedelta(minutes=1))
    assert tasks.import_tick.call_local() == [wizard.pk]
    run = ImportRun.objects.get(wizard=wizard)
    assert run.trigger == ImportRun.Trigger.SCHEDULE and run.status == ImportRun.Status.SUCCEEDED, run.message
    assert world.state("scheduled.person@example.org") == "Active"
    assert tasks.import_tick.call_local() == []  # claimed: its next run is the next hour


def test_sms_consent_comes_from_the_sms_settings_field_when_the_wizard_maps_none(world):
    sms = SmsSettings.load()
    sms.enabled, sms.default_country, sms.contact_consent_field = True, "GB", "CMSF_SMS_Consent__c"
    sms.save()
    world.person(Email="texts.ok@example.org", MobilePhone="07700 900123", CMSF_SMS_Consent__c=True)
    world.person(Email="no.texts@example.org", MobilePhone="07700 900124")
    done(run_import(world.wizard(mobile_field="MobilePhone")))
    ok = world.cm.subscriber(world.list_id, "texts.ok@example.org", zone=ANY_ZONE)
    assert (ok.mobile_number, ok.consent_to_send_sms) == ("+447700900123", "Yes")
    assert world.cm.subscriber(world.list_id, "no.texts@example.org", zone=ANY_ZONE).consent_to_send_sms == "No"


def test_a_list_view_source_reads_what_the_view_shows_at_each_run(world):
    views = {v["developerName"]: v for v in world.sf.list_views("Lead")}
    assert {"AllOpenLeads", "TodaysLeads"} <= set(views) and all(v["soqlCompatible"] for v in views.values())
    saved = world.running.sf_admin("POST", "/listviews", json={
        "sobject": "Lead", "label": "Web leads of the test", "where": "Email LIKE '%.view@example.org'"})  # fmt: skip
    first = world.person("Lead", member=False, LastName="View", Email="first.view@example.org")
    wizard = world.wizard(source=ImportWizard.Source.LIST_VIEW, campaign_id="", sobject="Lead",
                          list_view_id=saved["id"])  # fmt: skip
    run = done(run_import(wizard))
    assert run.read == 1 and world.state("first.view@example.org") == "Active"
    world.person("Lead", member=False, LastName="Later", Email="later.view@example.org")
    again = done(run_import(wizard))  # the view as it stands now
    assert again.read == 2 and world.state("later.view@example.org") == "Active"
    found = world.cm.subscriber(world.list_id, "first.view@example.org", zone=ANY_ZONE)
    assert dict(found.custom_fields)["Salesforce ID"] == first
    # The view's own rows, through its results resource: its columns only.
    rows = world.sf.sf.restful(f"sobjects/Lead/listviews/{saved['id']}/results", params={"limit": 10})
    assert rows["size"] == 2 and [c["fieldNameOrPath"] for c in rows["records"][0]["columns"]][-1] == "Id"


def test_a_report_source_reads_its_records_by_id_past_the_rows_a_run_gives(world, monkeypatch):
    monkeypatch.setattr(emulated_reports, "ROW_LIMIT", 2)  # a run gives 2 rows: paging shows with a few records
    ids = [world.person(member=False, LastName=f"Report {n}", Email=f"r{n}.report@example.org", Title="VP")
           for n in range(5)]  # fmt: skip
    world.person(member=False, LastName="Not VP", Email="clerk.report@example.org", Title="Clerk")
    world.person(member=False, LastName="Elsewhere", Email="vp@example.org", Title="VP")
    saved = world.running.sf_admin("POST", "/reports", json={
        "sobject": "Contact", "name": "VPs of the test", "columns": ["Contact.Name", "Contact.Title"],
        "filters": [{"column": "Contact.Email", "operator": "contains", "value": ".report@"},
                    {"column": "Contact.Title", "operator": "equals", "value": "VP"}],
        "boolean_filter": "1 AND 2"})  # fmt: skip
    assert {r["id"] for r in world.sf.reports()} >= {saved["id"]}
    wizard = world.wizard(source=ImportWizard.Source.REPORT, campaign_id="", sobject="Contact", report_id=saved["id"])
    world.running.sf_admin("POST", "/calls/reset")
    run = done(run_import(wizard))
    assert run.read == 5 and [world.state(f"r{n}.report@example.org") for n in range(5)] == ["Active"] * 5
    assert world.state("clerk.report@example.org") is None and world.state("vp@example.org") is None
    found = world.cm.subscriber(world.list_id, "r3.report@example.org", zone=ANY_ZONE)
    assert dict(found.custom_fields)["Salesforce ID"] == ids[3]
    calls = world.running.sf_admin("GET", "/calls")["calls"]
    # 5 records, 2 a run: 3 runs of the report, each followed by one read of its records by Id
    assert (calls["analytics report describe"], calls["analytics report run"], calls["composite/sobjects"]) == (1, 3, 3)

    # Past the most a report gives (50,000; 3 here), the first records by Id are imported, the run says so, and a
    # Remove run removes nobody: the rest of the source was not read.
    monkeypatch.setattr(sources, "REPORT_ROWS", 3)
    active_before = world.emails("active")
    remover = world.wizard(name="Report, remove", source=ImportWizard.Source.REPORT, campaign_id="",
                           report_id=saved["id"], mode=ImportWizard.Mode.REMOVE)  # fmt: skip
    cut = done(run_import(remover), ImportRun.Status.PARTIAL)
    assert cut.read == 3 and cut.removed == 0 and world.emails("active") == active_before
    assert "more than 3 records" in cut.message and "nobody was removed" in cut.message
    assert cut.problems == [{"key": f"report {saved['id']}", "reason": cut.message.split(": nobody")[0]}]

    # A report that is not on the wizard's object is refused when the wizard is checked, with the reason.
    from cmsf.audience import fields as wizard_fields

    on_leads = ImportWizard(name="Wrong object", client=world.client, list_id=world.list_id, sobject="Lead",
                            source=ImportWizard.Source.REPORT, report_id=saved["id"])  # fmt: skip
    problems = wizard_fields.check(on_leads, world.cm, world.sf, sms=False)
    assert problems["report_id"] == ["The report cannot be read: the report's type has no Lead Id column: choose a "
                                     "report on Lead records."]  # fmt: skip


def test_disable_triggers_turned_on_in_the_middle_of_a_job_stops_its_next_call(world):
    from cmsf.sync.outbound import Outbound, TriggersDisabled

    outbound = Outbound(world.cm)  # the options as the job starts: triggers on
    email = world.emails("active")[0]
    GeneralOptions.objects.filter(pk=GeneralOptions.load().pk).update(disable_triggers=True)
    calls = world.cm_calls()
    with pytest.raises(TriggersDisabled):
        outbound.unsubscribe(world.list_id, email, because="a test")
    assert world.cm_calls() == calls and world.state(email) == "Active"


def test_one_member_status_and_clear_blank_values(world):
    title = world.cm.create_custom_field(world.list_id, "Title", "Text")
    kept = world.person(Email="responded.one@example.org", Title="Buyer", status="Responded")
    world.person(Email="only.sent@example.org", Title="Clerk", status="Sent")
    wizard = world.wizard(member_status="Responded", mappings=[{"salesforce": "Title", "campaign_monitor": title}])
    run = done(run_import(wizard))
    assert run.read == 1 and world.state("responded.one@example.org") == "Active"
    assert world.state("only.sent@example.org") is None

    def cm_title() -> str | None:
        found = world.cm.subscriber(world.list_id, "responded.one@example.org", zone=ANY_ZONE)
        return dict(found.custom_fields).get("Title")

    assert cm_title() == "Buyer"
    world.sf.update("Contact", [{"Id": kept, "Title": None}])
    done(run_import(wizard))  # off (the default): a blank Salesforce value leaves Campaign Monitor's alone
    assert cm_title() == "Buyer"
    wizard.clear_blank_values = True
    wizard.save()
    done(run_import(wizard))
    assert cm_title() in (None, "")
