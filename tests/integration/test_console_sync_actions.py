"""The Sync Settings dropdown and the clients table, against both emulators over TLS: Full Campaign Monitor Sync
with its confirmation, Reconnect with a client left out, Disconnect, the Salesforce Security Owner, Select Clients
under the plan, and the API-usage meter."""

from __future__ import annotations

import html
import re

import pytest
import requests
from django.urls import reverse

from cmsf.audience.models import ImportWizard
from cmsf.billing.models import BillingAccount, Plan
from cmsf.connections import services as connections
from cmsf.connections.models import CampaignMonitorAccount, CampaignMonitorClient
from cmsf.maintenance.models import AuditEntry, MaintenanceMessage
from cmsf.options.models import FieldMapping, GeneralOptions, RecordCreation, SubscriberRule
from cmsf.sync import clients
from cmsf.sync import services as sync
from cmsf.sync.models import Cursor, RecordMap, SyncRun

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def synced(start_emulators, request):
    """An agency account of two clients and an org, connected, synced once; then the queue runs tasks at once."""
    running = start_emulators(33)
    for client in sync.clients_to_sync():
        sync.sync_client(client=client)
    request.getfixturevalue("immediate_queue")
    return running.world, running.org, running.sf_base, running.ca


def test_the_full_sync_confirmation_says_what_is_removed_then_runs_a_full_sync_per_client(client, alice, synced):
    client.force_login(alice)
    page = client.get(reverse("console:full_sync")).content.decode()
    assert "Contacts and Leads are untouched" in page and "safe in Campaign Monitor" in page
    # by plural label, not API name, with separators
    for sobject, label in (("CMSF_Subscriber__c", "Subscriber List Members"), ("CMSF_List__c", "Subscriber Lists")):
        count = RecordMap.objects.filter(sobject=sobject).count()
        assert count and f"<td>{label}</td><td>{count:,}</td>" in page
    assert "<td>CMSF_Subscriber__c</td>" not in page
    before = SyncRun.objects.count()
    response = client.post(reverse("console:full_sync"))
    assert response.status_code == 302 and "run=" in response["Location"]
    runs = list(SyncRun.objects.order_by("id")[before:])
    assert {run.kind for run in runs} == {SyncRun.Kind.FULL} and len(runs) == 2
    assert all(run.status == SyncRun.Status.SUCCEEDED for run in runs), [run.message for run in runs]
    assert all(run.deleted for run in runs)


def test_the_full_sync_confirmation_lists_what_the_options_change_on_contacts_and_leads(client, alice, synced):
    client.force_login(alice)
    options = GeneralOptions.load()
    options.opt_out_when_unsubscribed_everywhere = True
    options.save()
    one = CampaignMonitorClient.objects.order_by("name").first()
    lst = connections.campaign_monitor().lists(one.cm_client_id)[0]
    FieldMapping.objects.create(client=one, list_id=lst.list_id, list_name=lst.name, sobject="Contact",
                                salesforce_field="Title", campaign_monitor="[Title]",
                                direction=FieldMapping.Direction.TO_SF)  # fmt: skip
    RecordCreation.objects.create(client=one, list_id=lst.list_id, list_name=lst.name, sobject="Lead",
                                  defaults={"Company": "Unknown"})  # fmt: skip
    page = html.unescape(client.get(reverse("console:full_sync")).content.decode())
    assert "Contacts and Leads are untouched" not in page
    changes = page.split('data-testid="person-changes"')[1].split("</ul>")[0]
    assert "Email Opt Out is checked on every contact and lead" in changes
    assert "1 mapped field (Contact.Title) is written" in changes
    assert f"a Lead is made for each active subscriber of {lst.name}" in changes


def test_reconnect_lists_what_goes_for_a_client_left_out_and_removes_only_that(client, alice, synced):
    world = synced[0]
    client.force_login(alice)
    kept, left = CampaignMonitorClient.objects.order_by("name")
    left.security_owner_id, left.security_owner_name = "005000000000001AAA", "Old Owner"
    left.save()
    assert Cursor.objects.filter(client=left).exists()
    # Its lists' settings and its import wizards are its configuration too.
    left_list = connections.campaign_monitor().lists(left.cm_client_id)[0]
    on_list = {"client": left, "list_id": left_list.list_id, "list_name": left_list.name}
    FieldMapping.objects.create(**on_list, sobject="Contact", salesforce_field="Title", campaign_monitor="[Title]")
    SubscriberRule.objects.create(**on_list, kind=SubscriberRule.Kind.ADD_LEAD,
                                  criteria=[{"field": "LeadSource", "operator": "equals", "value": "Web"}])  # fmt: skip
    RecordCreation.objects.create(**on_list, sobject="Lead", defaults={"Company": "Unknown"})
    ImportWizard.objects.create(name="Left out wizard", client=left, list_id=left_list.list_id,
                                source=ImportWizard.Source.SOQL, soql="SELECT Id FROM Contact")  # fmt: skip
    ImportWizard.objects.create(name="Kept wizard", client=kept, list_id="kept-list",
                                source=ImportWizard.Source.SOQL, soql="SELECT Id FROM Contact")  # fmt: skip
    step = client.post(reverse("console:reconnect"), {"api_key": world.account_api_key})
    page = html.unescape(step.content.decode())
    assert step.status_code == 200 and 'name="sealed_key"' in page and world.account_api_key not in page
    assert page.count('data-testid="removed-if-unselected"') == 2 and "Old Owner" in page
    for listed in ("1 field mapping (Contact.Title and [Title]", "1 subscriber rule (Add lead of",
                   "1 record creation setting (Lead for", "1 import wizard (Left out wizard)"):  # fmt: skip
        assert listed in page, listed
    sealed = re.search(r'name="sealed_key" value="([^"]+)"', page).group(1)
    done = client.post(reverse("console:reconnect_confirm"), {"sealed_key": sealed, "client": [kept.cm_client_id]})
    assert done.status_code == 302
    left.refresh_from_db()
    kept.refresh_from_db()
    assert not left.selected and not left.security_owner_id and not Cursor.objects.filter(client=left).exists()
    for model in (FieldMapping, SubscriberRule, RecordCreation, ImportWizard):
        assert not model.objects.filter(client=left).exists(), model
    assert ImportWizard.objects.filter(client=kept).exists()
    assert AuditEntry.objects.filter(action="Delete an import wizard", before__name="Left out wizard").exists()
    assert kept.selected and Cursor.objects.filter(client=kept).exists()
    assert RecordMap.objects.filter(client=left).exists()  # the ledger stays: reselecting never doubles records
    entry = AuditEntry.objects.get(action="Reconnect to Campaign Monitor")
    assert entry.after["configuration_removed_for"] == [left.cm_client_id]
    assert [c.pk for c in sync.clients_to_sync()] == [kept.pk]


def test_reconnect_refuses_a_wrong_key_next_to_the_field_and_keeps_the_old_one(client, alice, synced):
    client.force_login(alice)
    old = CampaignMonitorAccount.load().api_key
    response = client.post(reverse("console:reconnect"), {"api_key": "not-a-key"})
    page = response.content.decode()
    assert 'id="error-api_key"' in page and "refused these credentials" in page and "slds-has-error" in page
    assert CampaignMonitorAccount.load().api_key == old
    empty = client.post(reverse("console:reconnect"), {"api_key": ""})
    assert "Enter the API key." in empty.content.decode()


def test_reconnect_refuses_credentials_of_another_account(client, alice, synced):
    world = synced[0]
    client.force_login(alice)
    for number, known in enumerate(CampaignMonitorClient.objects.all()):
        known.cm_client_id = f"another-accounts-client-{number}"
        known.save()
    response = client.post(reverse("console:reconnect"), {"api_key": world.account_api_key})
    assert "belong to another Campaign Monitor account" in response.content.decode()


def test_an_expired_or_forged_reconnect_form_is_refused(client, alice, synced):
    client.force_login(alice)
    response = client.post(reverse("console:reconnect_confirm"), {"sealed_key": "forged", "client": ["x"]})
    assert response.status_code == 302 and response["Location"] == reverse("console:reconnect")


def test_disconnect_stops_the_jobs_removes_the_credentials_and_resets_ownership(client, alice, synced):
    client.force_login(alice)
    first = CampaignMonitorClient.objects.first()
    first.security_owner_id, first.security_owner_name = "005000000000001AAA", "Owner"
    first.save()
    queued = SyncRun.objects.create(client=first)
    assert "Disconnect" in client.get(reverse("console:disconnect")).content.decode()
    assert client.post(reverse("console:disconnect")).status_code == 302
    account = CampaignMonitorAccount.load()
    assert not account.is_connected and not account.api_key
    queued.refresh_from_db()
    assert queued.status == SyncRun.Status.FAILED and "disconnected" in queued.message
    assert not CampaignMonitorClient.objects.exclude(security_owner_id="").exists()
    assert AuditEntry.objects.filter(action="Disconnect from Campaign Monitor").exists()
    page = client.get(reverse("console:home")).content.decode()
    assert "Not connected" in page and reverse("console:reconnect") in page


def test_the_security_owner_is_chosen_from_active_salesforce_users(client, alice, synced):
    org = synced[1]
    client.force_login(alice)
    target = CampaignMonitorClient.objects.first()
    page = html.unescape(client.get(reverse("console:security_owner", args=[target.pk])).content.decode())
    active = [u for u in org.records["User"] if u["IsActive"]]
    inactive = [u for u in org.records["User"] if not u["IsActive"]]
    assert all(u["Name"] in page for u in active) and not any(u["Name"] in page for u in inactive)
    if inactive:
        refused = client.post(reverse("console:security_owner", args=[target.pk]), {"user_id": inactive[0]["Id"]})
        assert "is inactive" in refused.content.decode()
    response = client.post(reverse("console:security_owner", args=[target.pk]), {"user_id": active[-1]["Id"]})
    assert response.status_code == 302
    target.refresh_from_db()
    assert target.security_owner_id[:15] == active[-1]["Id"][:15] and target.security_owner_name == active[-1]["Name"]
    assert AuditEntry.objects.filter(action__startswith="Change the Salesforce Security Owner").exists()
    searched = client.get(reverse("console:security_owner", args=[target.pk]), {"q": active[0]["Name"]})
    assert active[0]["Name"] in html.unescape(searched.content.decode())
    # and back to the Salesforce Sync User, audited
    assert f'value="{clients.SYNC_USER}">' in searched.content.decode()  # offered, not checked while another owns
    back = client.post(reverse("console:security_owner", args=[target.pk]), {"user_id": clients.SYNC_USER})
    assert back.status_code == 302
    target.refresh_from_db()
    assert (target.security_owner_id, target.security_owner_name) == ("", "")
    last = AuditEntry.objects.filter(action__startswith="Change the Salesforce Security Owner").latest("id")
    assert last.after == {"owner": "", "owner_id": ""} and last.before["owner"] == active[-1]["Name"]
    page = client.get(reverse("console:security_owner", args=[target.pk])).content.decode()
    assert f'value="{clients.SYNC_USER}" checked>' in page


def test_select_clients_follows_the_plan(client, alice, synced):
    client.force_login(alice)
    ids = list(CampaignMonitorClient.objects.values_list("cm_client_id", flat=True))
    assert "Select Clients" in client.get(reverse("console:home")).content.decode()  # the trial is Enterprise
    assert 'name="client"' in client.get(reverse("console:select_clients")).content.decode()
    account = BillingAccount.load()
    account.plan = Plan.STANDARD
    account.save()
    refused = client.post(reverse("console:select_clients"), {"client": ids})
    assert "syncs one Campaign Monitor client" in refused.content.decode()
    assert len(sync.clients_to_sync()) == 1  # and the sync itself follows the plan
    saved = client.post(reverse("console:select_clients"), {"client": ids[:1]})
    assert saved.status_code == 302
    assert list(CampaignMonitorClient.objects.filter(selected=True).values_list("cm_client_id", flat=True)) == ids[:1]
    account.plan = Plan.ENTERPRISE
    account.save()
    client.post(reverse("console:select_clients"), {"client": ids})
    assert CampaignMonitorClient.objects.filter(selected=True).count() == 2


def test_the_api_usage_meter_shows_todays_calls_against_the_limit_and_the_budget(client, bob, synced):
    sf_base, ca = synced[2], synced[3]
    limits = requests.get(f"{sf_base}/admin/limits", verify=ca, timeout=30).json()
    client.force_login(bob)
    page = client.get(reverse("console:api_usage")).content.decode()
    assert 'data-testid="api-usage"' in page and "calls used today" in page and "cmsf stops at" in page
    assert f"of {limits['effective_daily_api_requests']:,} calls used today" in page


def test_a_salesforce_failure_in_an_action_is_explained_and_kept_in_maintenance(client, alice, synced):
    sf_base, ca = synced[2], synced[3]
    client.force_login(alice)
    requests.post(f"{sf_base}/admin/tokens/expire", verify=ca, timeout=30)
    from cmsf.connections.models import SalesforceOrg

    SalesforceOrg.objects.update(jwt_private_key="")  # the stored login no longer works
    response = client.get(reverse("console:security_owner", args=[CampaignMonitorClient.objects.first().pk]))
    assert response.status_code == 302
    assert MaintenanceMessage.objects.filter(message="Listing the Salesforce users failed").exists()


@pytest.mark.parametrize(
    "name,args",
    [("full_sync", []), ("reconnect", []), ("reconnect_confirm", []), ("disconnect", []), ("select_clients", []),
     ("security_owner", [1]), ("change_sync_user", [])],
)  # fmt: skip
def test_user_access_is_refused_every_change(client, bob, name, args):
    client.force_login(bob)
    assert client.post(reverse(f"console:{name}", args=args)).status_code == 403
