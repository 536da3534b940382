"""Every job reports like the sync, against both emulators: an import wizard's failed run, records it could not
import, the watcher's records, and a subscriber rule's retrospective run become maintenance messages (one while the
problem goes on, with a count; the bell), which resolve themselves once a later run goes through. And a wizard's
source is checked when it is saved, the error in plain words on its field with Salesforce's own message beneath."""

from __future__ import annotations

import html

import pytest
from django.urls import reverse

from cmsf.audience.imports import run_import
from cmsf.audience.models import ImportRun, ImportWizard
from cmsf.connections import services as connections
from cmsf.connections.models import CampaignMonitorClient
from cmsf.maintenance.models import MaintenanceMessage
from cmsf.maintenance.selectors import new_message_count
from cmsf.options.models import SubscriberRule
from cmsf.sync import subscriber_rules
from cmsf.sync.models import WatchRun
from cmsf.sync.watcher import watch_once

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(start_emulators):
    return start_emulators(53)


def _list() -> tuple[CampaignMonitorClient, str]:
    client = CampaignMonitorClient.objects.order_by("pk").first()
    return client, connections.campaign_monitor().lists(client.cm_client_id)[0].list_id


def _form(target: str, **values: str) -> dict[str, str]:
    return {"name": "Checked", "target": target, "active": "on", "sobject": "Contact", "mode": "update",
            "email_field": "Email", "name_field": "Name", **values}  # fmt: skip


def test_a_wizard_source_that_does_not_exist_is_refused_on_its_field_when_saved(client, alice, world):
    client.force_login(alice)
    cm_client, list_id = _list()
    target = f"{cm_client.pk}:{list_id}"
    cases = [
        ({"source": "soql", "soql": "SELECT Id FROM Contact WHERE No_Such_Field__c = 1"}, "soql",
         "Salesforce could not run this query"),
        ({"source": "soql", "soql": "SELECT Id FROM Contact WHERE Email = "}, "soql",
         "Salesforce could not run this query"),
        ({"source": "campaign", "campaign_id": "701000000000000AAA"}, "campaign_id",
         "No Salesforce campaign has this Id"),
        ({"source": "list_view", "list_view_id": "00B000000000000AAA"}, "list_view_id",
         "No Contact list view has this Id"),
        ({"source": "report", "report_id": "00O000000000000AAA"}, "report_id", "No report has this Id"),
    ]  # fmt: skip
    for values, field, plain in cases:
        response = client.post(reverse("console:imports_create"), _form(target, **values))
        page = html.unescape(response.content.decode())
        assert response.status_code == 400, values
        assert plain in page, (values, page[:200])
        assert not ImportWizard.objects.exists()
        if field != "campaign_id":  # the others carry Salesforce's own words beneath
            assert "Salesforce said: " in page, values
    good = client.post(reverse("console:imports_create"),
                       _form(target, source="soql", soql="SELECT Name FROM Contact WHERE Email != null LIMIT 5"))  # fmt: skip
    assert good.status_code == 302 and ImportWizard.objects.count() == 1


def test_a_failed_import_run_is_a_maintenance_message_that_resolves_once_a_run_goes_through(world):
    cm_client, list_id = _list()
    wizard = ImportWizard(name="Broken", client=cm_client, list_id=list_id, source=ImportWizard.Source.SOQL,
                          soql="SELECT Id FROM Contact WHERE No_Such_Field__c = 1")  # fmt: skip
    wizard.full_clean()
    wizard.save()  # as `cmsf config import` saves it: not checked against Salesforce
    for _ in range(3):
        assert run_import(wizard).status == ImportRun.Status.FAILED
    [message] = MaintenanceMessage.objects.filter(support_code="CMSF-IMPORT-FAILED")
    assert message.occurrences == 3 and "Broken" in message.message and "No_Such_Field__c" in message.details
    assert message.job == "CMSF_IMPORT_WIZARD" and new_message_count() == 1
    # A preview that fails tells the admin on the page, not in Maintenance.
    assert run_import(wizard, dry_run=True).status == ImportRun.Status.FAILED
    message.refresh_from_db()
    assert message.occurrences == 3

    wizard.soql = "SELECT Id FROM Contact WHERE Email != null"
    wizard.save()
    assert run_import(wizard).status in (ImportRun.Status.SUCCEEDED, ImportRun.Status.PARTIAL)
    message.refresh_from_db()
    assert message.resolved_at is not None and new_message_count() == 0


def test_records_campaign_monitor_refuses_in_an_import_are_told_with_their_keys(world):
    cm_client, list_id = _list()
    sf = connections.salesforce()
    # The wizard takes the address from a text field, where Salesforce lets anything stand.
    bad = sf.insert("Contact", [{"LastName": "Bad", "Title": "not-an-email"}])[0].id
    wizard = ImportWizard(name="Bad emails", client=cm_client, list_id=list_id, source=ImportWizard.Source.SOQL,
                          soql=f"SELECT Id FROM Contact WHERE Id = '{bad}'", email_field="Title")  # fmt: skip
    wizard.full_clean()
    wizard.save()
    run = run_import(wizard)
    assert run.status == ImportRun.Status.PARTIAL, run.message
    [message] = MaintenanceMessage.objects.filter(support_code="CMSF-IMPORT-RECORDS")
    assert f"Contact {bad}" in message.details and message.severity == "warning"


def test_the_watchers_records_and_a_stopped_retrospective_run_are_told(world):
    assert watch_once().status == WatchRun.Status.SUCCEEDED  # the first run starts watching from now
    cm_client, list_id = _list()
    rule = SubscriberRule(client=cm_client, list_id=list_id, list_name="L", kind=SubscriberRule.Kind.ADD_CONTACT,
                          criteria=[{"field": "No_Such_Field__c", "operator": "equals", "value": "x"}])  # fmt: skip
    rule.save()
    subscriber_rules.run_retrospective(rule.pk)
    [stopped] = MaintenanceMessage.objects.filter(support_code="CMSF-RULE-RUN")
    assert "stopped" in stopped.message and "No_Such_Field__c" in stopped.details
    rule.criteria = [{"field": "LastName", "operator": "equals", "value": "Nobody-Has-This-Name"}]
    rule.save()
    rule = subscriber_rules.run_retrospective(rule.pk)
    assert rule.retrospective_result.startswith("0 records") or "met the criteria" in rule.retrospective_result
    stopped.refresh_from_db()
    assert stopped.resolved_at is not None
