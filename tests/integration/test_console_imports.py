"""The Import Wizard section against both emulators: a wizard made from the console (its fields checked against
Salesforce and the list, a custom field made to match a Salesforce field), Run now, and a Remove wizard that runs
only after its preview, confirmed."""

from __future__ import annotations

import pytest
from django.urls import reverse

from cmsf.audience.models import ImportRun, ImportWizard
from cmsf.campaign_monitor.records import SubscriberInput
from cmsf.connections import services as connections
from cmsf.connections.models import CampaignMonitorClient
from cmsf.maintenance.models import AuditEntry
from cmsf.sync.outbound import ANY_ZONE

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(start_emulators):
    return start_emulators(47)


def _target() -> tuple[str, str]:
    client = CampaignMonitorClient.objects.order_by("pk").first()
    lst = connections.campaign_monitor().lists(client.cm_client_id)[0]
    return f"{client.pk}:{lst.list_id}", lst.list_id


def _campaign_with(emails: list[str]) -> str:
    sf = connections.salesforce()
    campaign = sf.insert("Campaign", [{"Name": "Console import"}])[0].id
    people = sf.insert(
        "Contact", [{"LastName": f"Person {i}", "Email": e, "Title": "Buyer"} for i, e in enumerate(emails)]
    )
    sf.insert("CampaignMember", [{"CampaignId": campaign, "ContactId": p.id, "Status": "Sent"} for p in people])
    return str(campaign)


def _form(target: str, campaign: str, **values: str) -> dict[str, str]:
    return {"name": "Buyers", "target": target, "active": "on", "source": "campaign", "campaign_id": campaign,
            "sobject": "Contact", "mode": "update", "email_field": "Email", "name_field": "Name",
            "map_salesforce_id": "on", **values}  # fmt: skip


def test_a_wizard_made_in_the_console_is_checked_and_its_new_custom_field_made(client, alice, world):
    client.force_login(alice)
    assert "No import wizard yet" in client.get(reverse("console:imports")).content.decode()
    target, list_id = _target()
    page = client.get(reverse("console:imports_new")).content.decode()
    assert f'value="{target}"' in page and 'data-testid="sms-off"' in page
    campaign = _campaign_with(["buyer.one@example.org"])

    bad = client.post(reverse("console:imports_create"), _form(target, campaign, email_field="Emial",
                                                               mappings="Title = [NoSuchField]"))  # fmt: skip
    assert bad.status_code == 400 and not ImportWizard.objects.exists()
    html = bad.content.decode()
    assert "Contact has no field Emial." in html and "The list has no custom field [NoSuchField]." in html

    made = client.post(
        reverse("console:imports_create"), _form(target, campaign, mappings="Title = new", run_hours="6")
    )
    wizard = ImportWizard.objects.get()
    assert made.status_code == 302 and made["Location"] == reverse("console:imports_wizard", args=[wizard.pk])
    [mapping] = wizard.mappings  # the key is Campaign Monitor's: "[title]" for a field named Title
    assert mapping["salesforce"] == "Title" and mapping["campaign_monitor"].lower() == "[title]"
    fields = {f.key: (f.name, f.data_type) for f in connections.campaign_monitor().custom_fields(list_id)}
    assert fields[mapping["campaign_monitor"]] == ("Title", "Text")
    assert wizard.run_hours == [6] and wizard.next_run.hour == 6
    assert AuditEntry.objects.filter(section="imports", action="Create an import wizard").count() == 1
    edit = client.get(reverse("console:imports_edit", args=[wizard.pk])).content.decode()
    assert f"Title = {mapping['campaign_monitor']}" in edit


def test_a_report_wizard_is_checked_against_the_report_when_saved(client, alice, world):
    client.force_login(alice)
    target, _ = _target()
    report = world.sf_admin("POST", "/reports", json={"sobject": "Lead", "name": "Hot leads"})["id"]
    page = client.get(reverse("console:imports_new")).content.decode()  # reports and list views to pick from
    assert f'<option value="{report}">Hot leads</option>' in page and ">Lead: All Open Leads</option>" in page
    values = {"source": "report", "campaign_id": "", "report_id": report}
    wrong = client.post(reverse("console:imports_create"), _form(target, "", **values))  # a Lead report, on Contact
    assert wrong.status_code == 400 and not ImportWizard.objects.exists()
    assert "the report&#x27;s type has no Contact Id column" in wrong.content.decode()
    made = client.post(reverse("console:imports_create"), _form(target, "", **values, sobject="Lead"))
    wizard = ImportWizard.objects.get()
    assert made.status_code == 302 and (wizard.source, wizard.report_id, wizard.sobject) == ("report", report, "Lead")
    assert f"Lead report {report}" in client.get(reverse("console:imports_wizard", args=[wizard.pk])).content.decode()


def test_run_now_and_a_remove_wizard_that_runs_only_after_its_confirmed_preview(client, alice, world, immediate_queue):
    client.force_login(alice)
    target, list_id = _target()
    cm = connections.campaign_monitor()
    active = sorted(s.email for s in cm.subscribers(list_id, "active", zone=ANY_ZONE))
    keep = active[:2]
    campaign = _campaign_with([*keep, "console.newcomer@example.org"])
    client.post(reverse("console:imports_create"), _form(target, campaign, mode="remove", map_salesforce_id=""))
    wizard = ImportWizard.objects.get()
    page = client.get(reverse("console:imports_wizard", args=[wizard.pk])).content.decode()
    assert "preview it first" in page

    refused = client.post(reverse("console:imports_run", args=[wizard.pk]), follow=True).content.decode()
    assert "Preview this wizard first" in refused and not ImportRun.objects.exists()

    client.post(reverse("console:imports_run", args=[wizard.pk]), {"preview": "1"})
    preview = ImportRun.objects.get()
    assert preview.dry_run and set(preview.would_remove) == set(active) - set(keep)
    shown = client.get(reverse("console:imports_wizard", args=[wizard.pk])).content.decode()
    assert f"delete {len(preview.would_remove)} subscriber" in shown
    listed = client.get(reverse("console:imports_run_page", args=[preview.pk])).content.decode()
    assert all(email in listed for email in preview.would_remove)

    unconfirmed = client.post(reverse("console:imports_run", args=[wizard.pk]), follow=True).content.decode()
    assert "Confirm that you checked the preview" in unconfirmed and ImportRun.objects.count() == 1
    # Someone joins the list after the preview: the confirmed run removes no one the preview did not show.
    cm.add_subscriber(list_id, SubscriberInput(email="joined.after@example.org", consent_to_track="Yes"))
    client.post(reverse("console:imports_run", args=[wizard.pk]), {"confirmed": str(preview.pk)})
    run = ImportRun.objects.exclude(pk=preview.pk).get()
    assert run.status == ImportRun.Status.SUCCEEDED, run.message
    assert run.removed == len(preview.would_remove) and "1 more active subscriber is missing" in run.message
    now_active = {s.email for s in cm.subscribers(list_id, "active", zone=ANY_ZONE)}
    assert now_active == {*keep, "console.newcomer@example.org", "joined.after@example.org"}
    again = client.post(reverse("console:imports_run", args=[wizard.pk]), {"confirmed": str(preview.pk)}, follow=True)
    assert "Preview this wizard first" in again.content.decode()  # a preview stands for one run


def test_user_access_sees_the_wizards_and_no_button(client, alice, bob, world):
    target, _ = _target()
    client.force_login(alice)
    client.post(reverse("console:imports_create"), _form(target, _campaign_with(["seen@example.org"])))
    wizard = ImportWizard.objects.get()
    client.force_login(bob)
    page = client.get(reverse("console:imports_wizard", args=[wizard.pk])).content.decode()
    assert "Buyers" in page and "Run now" not in page and "Preview" not in page and "Delete this wizard" not in page
    assert "New import wizard" not in client.get(reverse("console:imports")).content.decode()
