"""Salesforce setup on the Maintenance page: Check schema, Apply page layouts and Remove page layouts against both
emulators over TLS, with the Salesforce emulator's recorded layouts as the proof."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
import requests
from django.urls import reverse

from cmsf.connections import services as connections
from cmsf.connections.models import PageLayoutBackup
from cmsf.maintenance.models import AuditEntry, MaintenanceMessage

pytestmark = pytest.mark.django_db(transaction=True)

NS = {"md": "http://soap.sforce.com/2006/04/metadata"}
CMSF_LAYOUTS = {
    "CMSF_Campaign__c-CMSF Campaign Layout",
    "CMSF_Client__c-CMSF Client Layout",
    "CMSF_Email_Activity__c-CMSF Email Activity Layout",
    "CMSF_List__c-CMSF List Layout",
    "CMSF_Subscriber__c-CMSF Subscriber Layout",
    "CMSF_Suppression__c-CMSF Suppression Layout",
}
PEOPLE_LAYOUTS = {"Contact-Contact Layout", "Lead-Lead Layout"}


class SalesforceSandbox:
    def __init__(self, base: str, ca: str) -> None:
        self.base, self.ca = base, ca

    def admin(self, method: str, path: str, **kwargs) -> dict:
        response = requests.request(method, f"{self.base}/admin{path}", verify=self.ca, timeout=30, **kwargs)
        response.raise_for_status()
        return response.json()

    def layouts(self) -> dict[str, str]:
        return self.admin("GET", "/layouts")["layouts"]


@pytest.fixture
def sandbox(start_emulators):
    """Both emulators over TLS, connected as an admin would."""
    running = start_emulators(41)
    return SalesforceSandbox(running.sf_base, running.ca)


def related_lists(xml: str) -> list[str]:
    return [r.findtext("md:relatedList", "", NS) for r in ET.fromstring(xml).findall("md:relatedLists", NS)]


def post(client, name: str, next_url: str = ""):
    return client.post(reverse(f"console:{name}"), {"next": next_url} if next_url else {}, follow=True)


def test_schema_check_says_everything_is_in_place(client, alice, sandbox):
    client.force_login(alice)
    response = post(client, "salesforce_schema_check", reverse("console:maintenance"))
    assert response.redirect_chain[-1][0] == reverse("console:maintenance") + "#salesforce-setup"
    html = response.content.decode()
    assert 'data-testid="schema-result" data-ok="true"' in html
    assert "Everything is in place" in html
    assert not MaintenanceMessage.objects.exists()


def test_schema_check_lists_fields_and_a_permission_set_missing_in_the_org(client, alice, sandbox):
    sandbox.admin("POST", "/schema/remove-field", json={"object": "CMSF_Subscriber__c", "field": "Mobile_Number__c"})
    sandbox.admin("POST", "/schema/remove-field", json={"object": "Campaign", "field": "CMSF_Clicks__c"})
    sf = connections.salesforce()
    user_access = [row["Id"] for row in sf.query("SELECT Id FROM PermissionSet WHERE Name = 'CMSF_User_Access'")]
    assert [r.success for r in sf.delete("PermissionSet", user_access)] == [True]
    sf.session.close()
    client.force_login(alice)
    html = post(client, "salesforce_schema_check").content.decode()
    assert 'data-ok="false"' in html
    result = html.split('data-testid="schema-result"', 1)[1].split("</div>", 1)[0]
    assert "<li>Field CMSF_Subscriber__c.Mobile_Number__c</li>" in result
    assert "<li>Field Campaign.CMSF_Clicks__c</li>" in result
    assert "<li>Permission set CMSF_User_Access</li>" in result and "CMSF_Full_Access" not in result
    assert "Object " not in result
    assert "The org lacks 3 things cmsf needs" in html
    # the last result stays on the page for this user
    page = client.get(reverse("console:salesforce_setup")).content.decode()
    assert "<li>Field CMSF_Subscriber__c.Mobile_Number__c</li>" in page


def test_apply_then_remove_page_layouts_and_the_org_follows(client, alice, sandbox):
    client.force_login(alice)
    originals = sandbox.layouts()
    assert set(originals) == PEOPLE_LAYOUTS  # the org's standard layouts
    assert all(not name.startswith("CMSF_") for xml in originals.values() for name in related_lists(xml))
    html = post(client, "salesforce_layouts_apply", reverse("console:maintenance")).content.decode()
    assert "Page layouts applied: 8 layouts deployed to Salesforce." in html
    assert "A copy of Contact-Contact Layout, Lead-Lead Layout was kept; Remove puts it back." in html
    assert "<li>Kept a copy of Contact-Contact Layout as it was</li>" in html
    # the copy is the org's layout from before Apply, byte for byte
    assert {row.full_name: row.layout_xml for row in PageLayoutBackup.objects.all()} == originals
    assert 'data-testid="layouts-result" data-status="Succeeded"' in html
    layouts = sandbox.layouts()
    assert set(layouts) == CMSF_LAYOUTS | PEOPLE_LAYOUTS
    assert {"CMSF_Subscriber__c.Contact__c", "CMSF_Email_Activity__c.Contact__c"} <= set(
        related_lists(layouts["Contact-Contact Layout"])
    )
    assert {"CMSF_Subscriber__c.Lead__c", "CMSF_Email_Activity__c.Lead__c"} <= set(
        related_lists(layouts["Lead-Lead Layout"])
    )
    applied = AuditEntry.objects.get(action="Apply page layouts")
    assert applied.actor == alice.get_username() and applied.section == "maintenance"
    assert set(applied.after["deployed"]) == set(layouts) and applied.after["deploy_id"].startswith("0Af")

    html = post(client, "salesforce_layouts_remove").content.decode()
    assert "Page layouts removed: 6 layouts of cmsf&#x27;s objects deleted" in html
    assert "Contact-Contact Layout, Lead-Lead Layout put back as they were before cmsf applied its layouts" in html
    assert sandbox.layouts() == originals  # byte-equal: the org is as it was before cmsf
    removed = AuditEntry.objects.get(action="Remove page layouts")
    assert set(removed.after["deleted"]) == CMSF_LAYOUTS and set(removed.after["deployed"]) == PEOPLE_LAYOUTS
    assert set(removed.after["restored_from_copies"]) == PEOPLE_LAYOUTS
    assert applied.after["copies_kept"] == sorted(PEOPLE_LAYOUTS)
    assert not PageLayoutBackup.objects.exists()  # put back, then forgotten
    assert not MaintenanceMessage.objects.exists()


def test_apply_twice_keeps_the_first_copy_and_remove_puts_the_originals_back(client, alice, sandbox):
    client.force_login(alice)
    originals = sandbox.layouts()
    assert "Page layouts applied" in post(client, "salesforce_layouts_apply").content.decode()
    applied = sandbox.layouts()
    assert applied["Contact-Contact Layout"] != originals["Contact-Contact Layout"]
    html = post(client, "salesforce_layouts_apply").content.decode()
    assert "Page layouts applied: 8 layouts deployed to Salesforce." in html and "A copy of" not in html
    # the second Apply read cmsf's own layouts from the org, but the kept copies are still the originals
    assert {row.full_name: row.layout_xml for row in PageLayoutBackup.objects.all()} == originals
    removing = client.get(reverse("console:salesforce_layouts_remove")).content.decode()
    assert "Put back as it was before cmsf applied its layouts (from the copy cmsf kept)." in removing
    post(client, "salesforce_layouts_remove")
    assert sandbox.layouts() == originals


def test_a_layout_read_failure_stops_apply_and_changes_nothing(client, alice, sandbox):
    client.force_login(alice)
    originals = sandbox.layouts()
    sandbox.admin("POST", "/faults", json={"profile": "limits", "after": 0})
    html = post(client, "salesforce_layouts_apply").content.decode()
    sandbox.admin("POST", "/faults", json={"profile": "none"})
    assert "Apply page layouts: cmsf could not read the org&#x27;s current page layouts to keep a copy." in html
    assert "REQUEST_LIMIT_EXCEEDED" in html and "Nothing was changed" in html
    message = MaintenanceMessage.objects.get()
    assert message.support_code == "CMSF-PAGE-LAYOUTS" and "metadata read" in message.details
    assert "keeps a copy" in message.guidance
    assert sandbox.layouts() == originals
    assert not PageLayoutBackup.objects.exists()
    assert not AuditEntry.objects.filter(section="maintenance").exists()


def test_a_failed_deploy_is_shown_with_what_to_do_and_recorded(client, alice, sandbox):
    sandbox.admin("POST", "/schema/remove-field", json={"object": "CMSF_Subscriber__c", "field": "Contact__c"})
    client.force_login(alice)
    html = post(client, "salesforce_layouts_apply").content.decode()
    assert 'data-status="Failed"' in html
    assert "Salesforce refused the deploy (Failed)" in html and "Run Check schema" in html
    assert "Contact-Contact Layout: Cannot find related list:CMSF_Subscriber__c.Contact__c of Contact" in html
    message = MaintenanceMessage.objects.get()
    assert message.support_code == "CMSF-PAGE-LAYOUTS" and "Contact-Contact Layout" in message.details
    assert "rolls back" in message.guidance
    assert set(sandbox.layouts()) == PEOPLE_LAYOUTS  # the standard ones, untouched
    assert not AuditEntry.objects.filter(section="maintenance").exists()


def test_user_access_sees_the_card_but_cannot_run_anything(client, bob, sandbox):
    client.force_login(bob)
    page = client.get(reverse("console:maintenance"))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="salesforce-setup"' in html and "Apply page layouts</a>" not in html
    assert "Check schema</button>" not in html
    for name in ("salesforce_schema_check", "salesforce_layouts_apply", "salesforce_layouts_remove"):
        assert client.post(reverse(f"console:{name}")).status_code == 403
    assert client.get(reverse("console:salesforce_setup")).status_code == 200
    assert set(sandbox.layouts()) == PEOPLE_LAYOUTS
    assert not AuditEntry.objects.filter(section="maintenance").exists()


def test_without_salesforce_the_actions_say_to_connect_first(client, alice):
    client.force_login(alice)
    html = post(client, "salesforce_schema_check").content.decode()
    assert "Salesforce is not connected: connect it under Sync Settings first." in html
    html = post(client, "salesforce_layouts_apply", "https://elsewhere.example/").content.decode()
    assert "Salesforce is not connected" in html
    assert not AuditEntry.objects.filter(section="maintenance").exists()


def test_the_layout_actions_list_what_changes_in_the_org_and_ask_first(client, alice, bob, sandbox):
    client.force_login(alice)
    card = client.get(reverse("console:maintenance")).content.decode()
    assert f'href="{reverse("console:salesforce_layouts_apply")}?next=/maintenance' in card
    asked = client.get(reverse("console:salesforce_layouts_apply"), {"next": reverse("console:maintenance")})
    html = asked.content.decode()
    assert asked.status_code == 200 and "Apply page layouts?" in html
    rows = re.findall(
        r'<tr><th scope="row" class="slds-cell-wrap">([^<]+)</th><td class="slds-cell-wrap">([^<]+)</td>', html
    )
    said = {what: how.replace("&#x27;", "'") for what, how in rows}
    assert list(said)[:2] == ["Contact Layout (Contact)", "Lead Layout (Lead)"]  # the org's own layouts first
    assert all("a copy of the current layout is kept, and Remove puts it back" in said[name] for name in list(said)[:2])
    assert "A copy of your current layouts is kept; Remove puts them back." in html
    assert said["CMSF Subscriber Layout (Subscriber List Member)"].startswith("Created, or replaced")
    assert f'href="{reverse("console:maintenance")}#salesforce-setup"' in html  # Cancel goes back to the card
    removing = client.get(reverse("console:salesforce_layouts_remove")).content.decode()
    assert "Remove page layouts?" in removing and "Deleted (a layout of cmsf&#x27;s own object)." in removing
    assert "cmsf has no copy of the layout from before it applied its own" in removing  # nothing applied yet
    assert f'href="{reverse("console:salesforce_setup")}"' in removing  # no next: the card's own page
    elsewhere = client.get(reverse("console:salesforce_layouts_apply"), {"next": "https://elsewhere.example/"})
    assert "elsewhere.example" not in elsewhere.content.decode()
    assert set(sandbox.layouts()) == PEOPLE_LAYOUTS and not AuditEntry.objects.filter(section="maintenance").exists()
    client.force_login(bob)
    seen = client.get(reverse("console:salesforce_layouts_remove")).content.decode()
    assert 'data-testid="view-only"' in seen and 'data-testid="confirm-button"' not in seen


def test_the_actions_take_get_and_post_only(client, alice):
    client.force_login(alice)
    assert client.put(reverse("console:salesforce_layouts_apply")).status_code == 405
