"""Field mappings of a list against both emulators over TLS: checked type against type when saved (one direction a
field); Salesforce to Campaign Monitor sent by the watcher when a mapped field changes (and only then), consent to
track from a checkbox, a blank value clearing the custom field; Campaign Monitor to Salesforce applied by the
primary sync, a value the field cannot take reported with the record while the rest goes on, and a rerun writing
nothing; `cmsf config` export and import."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from django.core.exceptions import ValidationError
from django.urls import reverse

from cmsf.audience import fields as mapping_fields
from cmsf.audience import services
from cmsf.campaign_monitor.records import SubscriberInput
from cmsf.configuration import export_document, import_document
from cmsf.connections import services as connections
from cmsf.connections.models import CampaignMonitorClient
from cmsf.maintenance.models import AuditEntry, MaintenanceMessage
from cmsf.options.models import FieldMapping, SmsSettings
from cmsf.sync import services as sync
from cmsf.sync.models import SyncRun
from cmsf.sync.outbound import ANY_ZONE
from cmsf.sync.watcher import watch_once
from tests import emulators
from tests.emulators import sync_every_client, watched

pytestmark = pytest.mark.django_db(transaction=True)
MEMBERS = "SELECT Contact__c, Email__c, List__r.List_Id__c FROM CMSF_Subscriber__c"


class World:
    def __init__(self, running: emulators.Connected) -> None:
        self.running = running
        self.sf, self.cm = connections.salesforce(), connections.campaign_monitor()
        self.client = CampaignMonitorClient.objects.filter(selected=True).order_by("pk").first()
        lists = {lst.list_id for lst in self.cm.lists(self.client.cm_client_id)}
        # A contact with one active membership, on a list of the first client, whose email no lead has.
        rows = self.sf.query(f"{MEMBERS} WHERE Contact__c != null AND Lead__c = null AND State__c = 'Active'")
        counts: dict[str, int] = {}
        found: list[dict[str, Any]] = []
        for row in rows:
            counts[row["Contact__c"]] = counts.get(row["Contact__c"], 0) + 1
            found.append(row)
        row = next(r for r in found if counts[r["Contact__c"]] == 1 and r["List__r.List_Id__c"] in lists)
        self.contact, self.email, self.list_id = row["Contact__c"], row["Email__c"], row["List__r.List_Id__c"]

    def custom(self) -> dict[str, list[str]]:
        found = self.cm.subscriber(self.list_id, self.email, zone=ANY_ZONE)
        values: dict[str, list[str]] = {}
        for name, value in found.custom_fields:
            values.setdefault(name, []).append(value)
        return values

    def mapping(self, sf_field: str, cm_field: str, direction: str, sobject: str = "Contact") -> FieldMapping:
        mapping = FieldMapping(client=self.client, list_id=self.list_id, sobject=sobject, salesforce_field=sf_field,
                               campaign_monitor=cm_field, direction=direction)  # fmt: skip
        problems = mapping_fields.check_mapping(mapping, self.cm, self.sf)
        assert not problems, problems
        return services.save_mapping(mapping, actor="test")

    def cm_calls(self) -> int:
        response = requests.get(f"{self.running.cm_base}/admin/calls", verify=self.running.ca, timeout=30)
        response.raise_for_status()
        return int(response.json()["total"])

    def contact_values(self, fields: str) -> dict[str, Any]:
        return next(self.sf.query(f"SELECT {fields} FROM Contact WHERE Id = '{self.contact}'"))

    def sync(self, *, full: bool = False, problems: bool = False) -> SyncRun:
        """A run that goes through: succeeded, or succeeded with problems where the test expects records refused."""
        run = sync.sync_client(client=self.client, full=full)
        expected = SyncRun.Status.PROBLEMS if problems else SyncRun.Status.SUCCEEDED
        assert run.status == expected, run.message
        return run


@pytest.fixture
def world(start_emulators):
    running = start_emulators(45)
    sync_every_client()
    assert "started watching" in watched().message
    return World(running)


TO_CM, TO_SF = FieldMapping.Direction.TO_CM, FieldMapping.Direction.TO_SF


def test_types_are_checked_when_saved_and_a_field_is_mapped_in_one_direction_only(world):
    joined = world.cm.create_custom_field(world.list_id, "Joined", "Date")
    seats = world.cm.create_custom_field(world.list_id, "Seats", "Number")
    wrong = FieldMapping(client=world.client, list_id=world.list_id, salesforce_field="Title",
                         campaign_monitor=seats.upper(), direction=TO_CM)  # fmt: skip
    assert mapping_fields.check_mapping(wrong, world.cm, world.sf) == {
        "salesforce_field": [f"Title is a string field: the Number field {seats} cannot take its values."]
    }
    back = FieldMapping(client=world.client, list_id=world.list_id, salesforce_field="DoNotCall",
                        campaign_monitor=joined, direction=TO_SF)  # fmt: skip
    assert f"it cannot take the values of the Date field {joined}" in mapping_fields.check_mapping(
        back, world.cm, world.sf)["salesforce_field"][0]  # fmt: skip
    unknown = FieldMapping(client=world.client, list_id=world.list_id, salesforce_field="Nope__c",
                           campaign_monitor=joined, direction=TO_CM)  # fmt: skip
    assert mapping_fields.check_mapping(unknown, world.cm, world.sf) == {
        "salesforce_field": ["Contact has no field Nope__c."]
    }
    world.mapping("Birthdate", joined, TO_SF)
    again = FieldMapping(client=world.client, list_id=world.list_id, salesforce_field="birthdate",
                         campaign_monitor=seats, direction=TO_CM)  # fmt: skip
    with pytest.raises(ValidationError) as refused:
        services.save_mapping(again, actor="test")
    assert "a field is mapped in one direction only" in str(refused.value)
    consent_back = FieldMapping(client=world.client, list_id=world.list_id, salesforce_field="DoNotCall",
                                campaign_monitor=FieldMapping.CONSENT, direction=TO_SF)  # fmt: skip
    with pytest.raises(ValidationError, match="Consent to track is mapped from Salesforce to Campaign Monitor only"):
        consent_back.full_clean()


def test_the_watcher_sends_mapped_fields_when_they_change_and_only_then(world):
    department = world.cm.create_custom_field(world.list_id, "Department", "Text")
    world.mapping("Department", department, TO_CM)
    world.mapping("CMSF_SMS_Consent__c", FieldMapping.CONSENT, TO_CM)

    world.sf.update("Contact", [{"Id": world.contact, "Department": "Finance", "CMSF_SMS_Consent__c": True}])
    run = watched()
    assert run.done.get("fields_sent") == 1, (run.done, run.problems)
    assert world.custom()["Department"] == ["Finance"]
    found = world.cm.subscriber(world.list_id, world.email, zone=ANY_ZONE)
    assert found.consent_to_track == "Yes" and found.state == "Active"
    assert AuditEntry.objects.filter(action="Send mapped fields to Campaign Monitor").count() == 1

    calls = world.cm_calls()
    world.sf.update("Contact", [{"Id": world.contact, "Phone": "555-0100"}])  # no mapped field changed
    assert watched().done.get("fields_sent") is None and world.cm_calls() == calls

    world.sf.update("Contact", [{"Id": world.contact, "Department": None}])  # Salesforce is the source: cleared
    assert watched().done.get("fields_sent") == 1
    assert world.custom().get("Department", [""]) == [""]


def test_the_mobile_number_goes_in_e164_with_consent_to_send_sms_only_with_sms_on(world):
    mobile = world.mapping("MobilePhone", FieldMapping.MOBILE, TO_CM)
    world.mapping("CMSF_SMS_Consent__c", FieldMapping.SMS_CONSENT, TO_CM)
    assert mobile.salesforce_type == "phone" and mobile.target_label == "Mobile number"
    before = world.cm.subscriber(world.list_id, world.email, zone=ANY_ZONE)
    # SMS off: neither is sent
    world.sf.update("Contact", [{"Id": world.contact, "MobilePhone": "(555) 555-1234", "CMSF_SMS_Consent__c": True}])
    assert watched().done.get("fields_sent") is None
    assert world.cm.subscriber(world.list_id, world.email, zone=ANY_ZONE).mobile_number == before.mobile_number
    # SMS on, from the United States: the number in E.164, and the consent with it
    SmsSettings.objects.update_or_create(pk=1, defaults={"enabled": True, "default_country": "US"})
    world.sf.update("Contact", [{"Id": world.contact, "MobilePhone": "(555) 555-1235"}])
    assert watched().done.get("fields_sent") == 1
    found = world.cm.subscriber(world.list_id, world.email, zone=ANY_ZONE)
    assert (found.mobile_number, found.consent_to_send_sms) == ("+15555551235", "Yes")
    # a number that cannot be made E.164 is left out and said with its record
    world.sf.update("Contact", [{"Id": world.contact, "MobilePhone": "12"}])
    run = watch_once()
    assert any("the mobile number in MobilePhone is not sent" in p["reason"] for p in run.problems), run.problems
    assert world.cm.subscriber(world.list_id, world.email, zone=ANY_ZONE).mobile_number == "+15555551235"
    # only from Salesforce, and only from a field that can hold it
    back = FieldMapping(client=world.client, list_id=world.list_id, salesforce_field="MobilePhone",
                        campaign_monitor=FieldMapping.MOBILE, direction=TO_SF)  # fmt: skip
    with pytest.raises(ValidationError, match="Mobile number is mapped from Salesforce to Campaign Monitor only"):
        back.full_clean()
    wrong = FieldMapping(client=world.client, list_id=world.list_id, salesforce_field="Birthdate",
                         campaign_monitor=FieldMapping.MOBILE, direction=TO_CM)  # fmt: skip
    assert mapping_fields.check_mapping(wrong, world.cm, world.sf) == {
        "salesforce_field": ["Contact.Birthdate is a date field; mobile number takes a phone or string field."]
    }


def test_the_primary_sync_applies_mapped_fields_to_the_contact_and_reports_a_value_it_cannot_take(world):
    title = world.cm.create_custom_field(world.list_id, "Role from CM", "Text")
    call_me = world.cm.create_custom_field(
        world.list_id, "Call me please", "MultiSelectOne", options=["Yes", "No", "Maybe"]
    )
    world.mapping("Title", title, TO_SF)
    world.mapping("DoNotCall", call_me, TO_SF)
    subscriber = SubscriberInput(email=world.email, name="Mapped Person",
                                 custom_fields=((title, "Chief Buyer"), (call_me, "Maybe")))  # fmt: skip
    world.cm.update_subscriber(world.list_id, world.email, subscriber)

    run = world.sync(full=True, problems=True)
    assert world.contact_values("Title, DoNotCall") == {"Title": "Chief Buyer", "DoNotCall": False}
    assert run.written.get("Contact") == 1 and run.failed.get("Contact") == 1
    message = MaintenanceMessage.objects.get(support_code="CMSF-SF-MAPPED_VALUE")
    assert message.job == "CMSF_FIELD_MAPPINGS"
    assert f"{world.contact}: DoNotCall not set from {call_me} of list {world.list_id}: 'Maybe' is not yes or no" in (
        message.details
    )

    world.cm.update_subscriber(world.list_id, world.email, SubscriberInput(
        email=world.email, name="Mapped Person", custom_fields=((call_me, "Yes"),)))  # fmt: skip
    world.sync(full=True)
    assert world.contact_values("Title, DoNotCall") == {"Title": "Chief Buyer", "DoNotCall": True}
    message.refresh_from_db()
    assert message.resolved_at is not None  # the value it could not take is gone: the message resolved itself
    again = world.sync(full=True)  # the same values: nothing is written to the contact again
    assert again.written.get("Contact") is None and not again.failed.get("Contact")


def test_the_console_saves_and_deletes_mappings_and_config_carries_them(client, alice, world):
    client.force_login(alice)
    page = client.get(reverse("console:mappings")).content.decode()
    assert "No field mapping yet" in page
    target = f"{world.client.pk}:{world.list_id}"
    form = {"target": target, "sobject": "Contact", "salesforce_field": "Title", "campaign_monitor": "new",
            "direction": TO_CM}  # fmt: skip
    made = client.post(reverse("console:mappings_create"), form)
    assert made.status_code == 302, made.content.decode()[-3000:]
    mapping = FieldMapping.objects.get()
    assert (mapping.salesforce_type, mapping.campaign_monitor_type) == ("string", "Text")
    assert mapping.campaign_monitor.lower() == "[title]"
    twice = client.post(reverse("console:mappings_create"), {**form, "campaign_monitor": "consent"})
    assert twice.status_code == 400 and "is mapped in this list already" in twice.content.decode()
    mobile = client.post(reverse("console:mappings_create"),
                         {**form, "salesforce_field": "MobilePhone", "campaign_monitor": "mobile"})  # fmt: skip
    assert mobile.status_code == 302, mobile.content.decode()[-3000:]
    made_mobile = FieldMapping.objects.get(campaign_monitor=FieldMapping.MOBILE)
    assert made_mobile.salesforce_type == "phone"
    page = client.get(reverse("console:mappings")).content.decode()
    assert "<td>Mobile number</td>" in page and "sent in E.164" in page
    made_mobile.delete()

    document = export_document()
    assert document["field_mappings"][world.list_id]["mappings"] == [
        {"sobject": "Contact", "salesforce_field": "Title", "salesforce_type": "string",
         "campaign_monitor": mapping.campaign_monitor, "campaign_monitor_type": "Text", "direction": TO_CM}]  # fmt: skip

    deleted = client.post(reverse("console:mappings_delete", args=[mapping.pk]))
    assert deleted.status_code == 302 and not FieldMapping.objects.exists()
    assert AuditEntry.objects.filter(section="field_mappings").count() == 3  # Title made, mobile made, Title deleted
    changes = import_document({"field_mappings": document["field_mappings"]}, actor="test")
    assert len(changes) == 1 and FieldMapping.objects.get().salesforce_field == "Title"
    bad = {world.list_id: {"client": world.client.cm_client_id, "list_name": "",
                           "mappings": [{"sobject": "Contact", "salesforce_field": "Title",
                                         "campaign_monitor": "ConsentToTrack", "direction": TO_SF}]}}  # fmt: skip
    with pytest.raises(Exception, match=r"field_mappings\..*mappings\[1\]"):
        import_document({"field_mappings": bad}, actor="test")


def test_a_list_creates_a_lead_for_an_active_subscriber_no_record_matches_once(world):
    from cmsf.options.models import RecordCreation

    setting = RecordCreation(client=world.client, list_id=world.list_id, sobject="Lead", defaults={"LeadSource": "Web"})
    assert mapping_fields.check_creation(setting, world.sf) == {
        "defaults": ["Lead requires Company: give it a default."]
    }
    setting.defaults = {"Company": "From Campaign Monitor", "LeadSource": "Web", "Nope__c": "x"}
    assert mapping_fields.check_creation(setting, world.sf) == {"defaults": ["Lead has no field Nope__c."]}
    setting.defaults = {"Company": "From Campaign Monitor", "LeadSource": "Web"}
    services.save_creation(setting, actor="test")
    role = world.cm.create_custom_field(world.list_id, "Role for new leads", "Text")
    world.mapping("Title", role, TO_SF, sobject="Lead")
    world.cm.add_subscriber(world.list_id, SubscriberInput(email="nina.new@example.org", name="Nina van New",
                                                           custom_fields=((role, "Buyer"),)))  # fmt: skip
    world.cm.add_subscriber(world.list_id, SubscriberInput(email="gone.new@example.org", name="Gone"))
    world.cm.unsubscribe(world.list_id, "gone.new@example.org")

    run = world.sync()
    leads = list(world.sf.query("SELECT FirstName, LastName, Company, LeadSource, Title FROM Lead "
                                "WHERE Email = 'nina.new@example.org'"))  # fmt: skip
    assert leads == [{"FirstName": "Nina van", "LastName": "New", "Company": "From Campaign Monitor",
                      "LeadSource": "Web", "Title": "Buyer"}], run.message  # fmt: skip
    assert world.sf.count("SELECT COUNT() FROM Lead WHERE Email = 'gone.new@example.org'") == 0  # active only
    world.sync(full=True)  # every subscriber read again: still one lead for the address
    assert world.sf.count("SELECT COUNT() FROM Lead WHERE Email = 'nina.new@example.org'") == 1

    # A record Salesforce refuses is a maintenance message with the list's address; the others are made.
    setting.defaults = {"Company": "x" * 300}  # longer than the field takes
    services.save_creation(setting, actor="test", before={})
    world.cm.add_subscriber(world.list_id, SubscriberInput(email="refused.new@example.org", name="Refused"))
    refused = world.sync(problems=True)
    assert refused.failed.get("Lead") == 1
    message = MaintenanceMessage.objects.get(job="CMSF_RECORD_CREATION")
    assert "new:refused.new@example.org" in message.details


def test_the_console_turns_record_creation_on_and_off_and_config_carries_it(client, alice, world):
    client.force_login(alice)
    target = f"{world.client.pk}:{world.list_id}"
    form = {"target": target, "sobject": "Lead", "defaults": "LeadSource = Web", "active": "on"}
    missing = client.post(reverse("console:mappings_creation"), form)
    assert missing.status_code == 400 and "Lead requires Company: give it a default." in missing.content.decode()
    garbled = client.post(reverse("console:mappings_creation"), {**form, "defaults": "Company Acme"})
    assert garbled.status_code == 400 and "Line 1: write Field = value." in garbled.content.decode()
    made = client.post(reverse("console:mappings_creation"), {**form, "defaults": "Company = Acme\nLeadSource = Web"})
    assert made.status_code == 302
    page = client.get(reverse("console:mappings")).content.decode()
    assert "Company = Acme; LeadSource = Web" in page
    document = export_document()["record_creation"]
    assert document[world.list_id]["create"] == [{"sobject": "Lead", "defaults": {"Company": "Acme",
                                                                                 "LeadSource": "Web"}, "active": True}]  # fmt: skip
    from cmsf.options.models import RecordCreation

    setting = RecordCreation.objects.get()
    assert client.post(reverse("console:mappings_creation_delete", args=[setting.pk])).status_code == 302
    assert not RecordCreation.objects.exists()
    import_document({"record_creation": document}, actor="test")
    assert RecordCreation.objects.get().defaults == {"Company": "Acme", "LeadSource": "Web"}
    assert AuditEntry.objects.filter(section="record_creation").count() == 2
