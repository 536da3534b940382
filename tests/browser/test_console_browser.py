"""The console in Chromium: sign in, each section, Sync now with live progress then its result in place, toasts, the full sync
confirmation, reconnect with a client left out, the Security Owner, a governor limit, the run history with Sync now
for one client and a run's page, API tokens made, used and revoked, and a CM User Access user refused on every change and sent to sign in when signed
out, on every URL of the URL conf."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from cmsf.connections.models import CampaignMonitorClient
from cmsf.console.middleware import PUBLIC_URL_NAMES
from cmsf.console.sections import SECTIONS
from cmsf.maintenance.models import AuditEntry, GovernorLimit
from cmsf.sync.models import Cursor, SyncRun
from tests.browser.conftest import Site, screenshot, sign_in
from tests.console_urls import console_urls

pytestmark = pytest.mark.browser

ALICE = ("alice@example.com", "alice-password-1")
BOB = ("bob@example.com", "bob-password-1")


def test_sign_in_and_every_section(page: Page, synced: Site, tmp_path):
    page.goto(synced.at("/"))
    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))
    expect(page.get_by_role("link", name="Log in with Salesforce")).to_be_visible()
    sign_in(page, synced, *ALICE)
    expect(page.get_by_role("heading", name="Sync Settings")).to_be_visible()
    for section in SECTIONS:
        page.get_by_role("navigation", name="Console sections").get_by_role("link", name=section.title).click()
        current = page.locator(".slds-context-bar__item.slds-is-active")
        expect(current).to_have_text(re.compile(section.title))
        expect(page.locator("main")).not_to_contain_text("Server Error")
        screenshot(page, section.slug, tmp_path)


def test_sync_now_shows_live_progress_then_the_result_in_place(page: Page, site: Site, tmp_path):
    sign_in(page, site, *ALICE)
    page.evaluate("() => { window.cmsfSamePage = true; }")  # gone if the page were loaded again
    page.get_by_role("button", name="Sync now").click()
    progress = page.locator("#sync-progress")
    expect(progress).to_have_attribute("data-running", "false", timeout=120_000)
    result = page.get_by_test_id("sync-result")
    expect(result.get_by_test_id("sync-result-outcome")).to_have_text("Sync now finished: Succeeded.")
    assert page.url == site.at("/") and page.evaluate("() => window.cmsfSamePage === true")  # htmx: no page load
    rows = result.locator("tbody tr")
    expect(rows).to_have_count(CampaignMonitorClient.objects.filter(selected=True).count())
    for outcome in rows.evaluate_all("rows => rows.map(r => r.dataset.outcome)"):
        assert outcome == "succeeded"
    expect(rows.first).to_contain_text("Subscriber List Members: ")
    expect(page.get_by_test_id("sync-status")).to_have_attribute("data-status", "succeeded")  # swapped in too
    expect(page.locator("main")).not_to_contain_text("Refresh the page")
    screenshot(page, "sync-now", tmp_path)


def test_full_sync_asks_first_then_runs_a_full_sync(page: Page, synced: Site):
    sign_in(page, synced, *ALICE)
    page.get_by_test_id("sync-menu").hover()
    page.get_by_role("menuitem", name="Full Campaign Monitor Sync").click()
    expect(page.locator("main")).to_contain_text("Contacts and Leads are untouched")
    expect(page.get_by_test_id("removal")).to_contain_text("Subscriber List Members")  # labels, not API names
    page.get_by_role("button", name="Remove and import again").click()
    progress = page.locator("#sync-progress")
    expect(progress).to_have_attribute("data-running", "false", timeout=180_000)
    full = SyncRun.objects.filter(kind=SyncRun.Kind.FULL)
    assert full.count() == 2 and all(run.status == SyncRun.Status.SUCCEEDED for run in full)


def test_reconnect_with_a_client_left_out(page: Page, synced: Site):
    kept, left = CampaignMonitorClient.objects.order_by("name")
    sign_in(page, synced, *ALICE)
    page.get_by_test_id("sync-menu").hover()
    page.get_by_role("menuitem", name="Reconnect to Campaign Monitor").click()
    page.get_by_label("API key").fill(synced.emulators.world.account_api_key)
    page.get_by_role("button", name="Next: choose clients").click()
    left_row = page.locator(f'[data-client="{left.cm_client_id}"]')
    expect(left_row.get_by_test_id("removed-if-unselected")).to_contain_text("read position")
    left_row.get_by_text(left.name).click()  # the SLDS checkbox's label
    expect(left_row.locator("input")).not_to_be_checked()
    page.get_by_role("button", name="Reconnect").click()
    expect(page.get_by_test_id("toasts")).to_contain_text("Campaign Monitor is reconnected")
    expect(page.locator(f'tr[data-client="{left.cm_client_id}"] td').nth(1)).to_have_text("No")
    expect(page.locator(f'tr[data-client="{kept.cm_client_id}"] td').nth(1)).to_have_text("Yes")
    assert not Cursor.objects.filter(client=left).exists() and Cursor.objects.filter(client=kept).exists()


def test_security_owner_change(page: Page, site: Site):
    target = CampaignMonitorClient.objects.order_by("name").first()
    owner = next(u for u in site.emulators.org.records["User"] if u["IsActive"] and u["Name"] != "")
    sign_in(page, site, *ALICE)
    page.locator(f'tr[data-client="{target.cm_client_id}"]').get_by_role("link", name="Change").click()
    page.get_by_label("Find a user").fill(owner["Name"])
    page.get_by_role("button", name="Search").click()
    page.locator("label.slds-radio__label", has_text=owner["Name"]).first.click()
    expect(page.get_by_role("radio", name=re.compile(re.escape(owner["Name"]))).first).to_be_checked()
    page.get_by_role("button", name="Save").click()
    expect(page.locator(f'tr[data-client="{target.cm_client_id}"]')).to_contain_text(owner["Name"])
    target.refresh_from_db()
    assert target.security_owner_id[:15] == owner["Id"][:15]


def test_governor_limit_change_and_reset(page: Page, site: Site):
    sign_in(page, site, *ALICE)
    page.get_by_role("navigation", name="Console sections").get_by_role("link", name="Maintenance").click()
    page.get_by_test_id("maintenance-settings").click()
    expect(page.locator("main")).to_contain_text("advanced operation")
    row = page.locator('tr[data-job="CMSF_EMAIL_OPT_OUT"]')
    row.locator("input").fill("50")
    page.get_by_role("button", name="Save governor limits").click()
    expect(page.get_by_test_id("current-CMSF_EMAIL_OPT_OUT")).to_contain_text("50")
    assert GovernorLimit.batch_size_for("CMSF_EMAIL_OPT_OUT") == 50
    page.locator('tr[data-job="CMSF_EMAIL_OPT_OUT"]').get_by_role("button", name="Reset to default").click()
    expect(page.get_by_test_id("current-CMSF_EMAIL_OPT_OUT")).not_to_contain_text("Changed")
    assert GovernorLimit.batch_size_for("CMSF_EMAIL_OPT_OUT") == 200
    assert AuditEntry.objects.filter(section="maintenance", action__contains="governor limit").count() == 2


def test_every_url_sends_the_signed_out_to_sign_in_and_refuses_user_access_every_change(page: Page, site: Site):
    urls = [url for url in console_urls() if url.name not in PUBLIC_URL_NAMES]
    assert {"console:home", "console:sync_now", "console:maintenance_governor_limits"} <= {u.name for u in urls}
    for url in urls:  # signed out: every URL goes to the sign-in page
        response = page.request.get(site.at(url.path), max_redirects=0)
        assert response.status == 302 and response.headers["location"].startswith("/login/"), url.name
    sign_in(page, site, *BOB)
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    for url in urls:
        if url.name == "console:logout":
            continue
        response = page.request.post(
            site.at(url.path), headers={"X-CSRFToken": token, "Referer": site.url + "/"}, max_redirects=0
        )
        expected = {"change": 403, "view": 405, "own": 302}[url.access]  # "own": the user's own preferences
        assert response.status == expected, (url.name, response.status)
    # And the buttons that would change something are not offered to CM User Access at all.
    page.goto(site.at("/"))
    expect(page.get_by_role("button", name="Sync now")).to_have_count(0)
    expect(page.get_by_test_id("sync-menu")).to_have_count(0)


def test_general_options_hints_and_the_disable_triggers_banner(page: Page, site: Site):
    sign_in(page, site, *ALICE)
    page.get_by_role("navigation", name="Console sections").get_by_role("link", name="General Options").click()
    tip = page.locator("#hint-unsubscribe_on_opt_out")
    expect(tip).to_be_hidden()
    page.get_by_test_id("hint-unsubscribe_on_opt_out").hover()  # the help hint shows on hover
    expect(tip).to_be_visible()
    expect(tip).to_contain_text("the later change wins")
    expect(page.get_by_test_id("triggers-disabled")).to_have_count(0)
    page.locator('label[for="id_disable_triggers"]').click()  # as a person ticks an SLDS checkbox: its label
    expect(page.get_by_label("Disable triggers")).to_be_checked()
    page.get_by_role("button", name="Save").click()
    expect(page.locator("main")).to_contain_text("The General Options are saved.")
    expect(page.get_by_test_id("triggers-disabled")).to_be_visible()
    expect(page.get_by_role("button", name="Watch now")).to_have_count(0)
    page.get_by_role("navigation", name="Console sections").get_by_role("link", name="Sync Settings").click()
    expect(page.get_by_test_id("triggers-disabled")).to_contain_text("sends nothing to Campaign Monitor")


def test_an_import_wizard_made_and_run_from_the_console(page: Page, site: Site, tmp_path):
    from cmsf.audience.models import ImportRun, ImportWizard
    from cmsf.connections import services as connections

    sf = connections.salesforce()
    campaign = sf.insert("Campaign", [{"Name": "Browser import"}])[0].id
    person = sf.insert("Contact", [{"LastName": "Browser", "Email": "browser.import@example.org"}])[0].id
    sf.insert("CampaignMember", [{"CampaignId": campaign, "ContactId": person, "Status": "Sent"}])
    sign_in(page, site, *ALICE)
    page.get_by_role("navigation", name="Console sections").get_by_role("link", name="Import Wizard").click()
    page.get_by_role("link", name="New import wizard").click()
    page.fill("#id_name", "From the browser")
    page.fill("#id_campaign_id", campaign)
    page.locator('label[for="id_run_hours_6"]').click()
    page.get_by_role("button", name="Save").click()
    expect(page.locator("main")).to_contain_text("The import wizard From the browser is saved.")
    expect(page.locator("main")).to_contain_text("06:00")
    page.get_by_role("button", name="Run now").click()
    expect(page.locator("main")).to_contain_text("The import runs now")  # the post has come back before the reload
    runs = page.get_by_test_id("import-runs")
    for _ in range(60):  # the queue runs it; the page shows it once it ended
        if ImportRun.objects.filter(wizard__name="From the browser").exclude(status="running").exists():
            break
        page.wait_for_timeout(500)
    page.reload()
    expect(runs).to_contain_text("Succeeded")
    screenshot(page, "import-wizard", tmp_path)
    wizard = ImportWizard.objects.get(name="From the browser")
    found = connections.campaign_monitor().subscriber(
        wizard.list_id, "browser.import@example.org", zone="(GMT) Coordinated Universal Time"
    )
    assert found is not None and found.state == "Active"


def test_a_field_mapping_and_a_subscriber_rule_made_from_the_console(page: Page, site: Site, tmp_path):
    from cmsf.options.models import FieldMapping, SubscriberRule

    sign_in(page, site, *ALICE)
    nav = page.get_by_role("navigation", name="Console sections")
    nav.get_by_role("link", name="Field Mappings").click()
    page.fill("#id_salesforce_field", "Title")
    page.fill("#id_campaign_monitor", "new")
    page.locator("#mapping-form").get_by_role("button", name="Save").click()
    expect(page.locator("main")).to_contain_text("was made in the list")
    expect(page.get_by_test_id("mappings")).to_contain_text("Contact.Title")
    page.locator("#creation").locator('label[for="id_sobject_1"]').click()  # Lead
    page.locator("#creation").locator("#id_defaults").fill("Company = From Campaign Monitor")
    page.locator("#creation").get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("creations")).to_contain_text("Company = From Campaign Monitor")
    screenshot(page, "field-mappings", tmp_path)
    mapping = FieldMapping.objects.get()
    assert (mapping.salesforce_type, mapping.campaign_monitor_type, mapping.direction) == ("string", "Text", "to_cm")

    nav.get_by_role("link", name="Subscriber Rules").click()
    page.locator('label[for="id_kind_2"]').click()  # Add lead
    page.fill("#id_criteria", "LeadSource equals Web\nEmail is_not_blank")
    page.locator("#rule-form").get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("rules")).to_contain_text("LeadSource equals Web")
    page.get_by_role("link", name="Run retrospectively").click()  # asks first, saying what it does
    expect(page.get_by_test_id("confirm-warning")).to_contain_text("Every existing lead that meets the criteria")
    page.get_by_role("link", name="Cancel").click()  # Cancel changes nothing
    expect(page.get_by_test_id("rules")).to_be_visible()
    assert not SubscriberRule.objects.exclude(retrospective_at=None).exists()
    page.get_by_role("link", name="Run retrospectively").click()
    page.get_by_test_id("confirm-button").focus()
    page.keyboard.press("Enter")  # the confirmation works from the keyboard, without script
    expect(page.locator("main")).to_contain_text("is queued")  # the post has come back before the reload
    for _ in range(60):  # the queue runs it; the page shows its outcome once it ended
        if SubscriberRule.objects.exclude(retrospective_at=None).exists():
            break
        page.wait_for_timeout(500)
    page.reload()
    expect(page.get_by_test_id("retrospective")).to_contain_text("records read")
    screenshot(page, "subscriber-rules", tmp_path)


def test_run_history_sync_one_client_now_and_open_its_run(page: Page, synced: Site, tmp_path):
    chosen, other = CampaignMonitorClient.objects.filter(selected=True).order_by("name")[:2]
    before = {client: SyncRun.objects.filter(client=client).count() for client in (chosen, other)}
    sign_in(page, synced, *ALICE)
    page.locator(f'tr[data-client="{chosen.cm_client_id}"]').get_by_role("link", name="Run history").click()
    expect(page.get_by_role("heading", name=f"Run history: {chosen.name}")).to_be_visible()
    expect(page.get_by_test_id("runs").locator("tbody tr[data-run]")).to_have_count(before[chosen])
    page.get_by_role("button", name=f"Sync {chosen.name} now").click()
    expect(page).to_have_url(re.compile(r"/sync/runs/\d+$"))
    progress = page.locator("#run-progress")
    expect(progress).to_have_attribute("data-running", "false", timeout=120_000)  # htmx followed it to its end
    expect(progress).to_have_attribute("data-outcome", "succeeded")
    expect(progress).not_to_contain_text("Refresh the page")  # the fragment brought the counts in place
    expect(page.get_by_test_id("run-objects")).to_contain_text("Subscriber List Members")
    screenshot(page, "run", tmp_path)
    assert SyncRun.objects.filter(client=other).count() == before[other]  # the other client did not sync
    page.get_by_role("link", name=f"Runs of {chosen.name}").click()
    page.select_option("#run-outcome", "succeeded")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(rf"client={chosen.pk}&outcome=succeeded"))
    rows = page.get_by_test_id("runs").locator("tbody tr[data-run]")
    expect(rows).to_have_count(SyncRun.objects.filter(client=chosen, status=SyncRun.Status.SUCCEEDED).count())
    for outcome in rows.evaluate_all("rows => rows.map(r => r.dataset.outcome)"):
        assert outcome == "succeeded"
    screenshot(page, "run-history", tmp_path)
    rows.first.get_by_role("link").click()
    expect(page.get_by_test_id("run-calls")).to_contain_text("Salesforce")
    expect(page.locator("main")).not_to_contain_text("Server Error")


def test_api_tokens_made_shown_once_used_and_revoked_after_a_confirmation(page: Page, site: Site):
    from cmsf.api.models import ApiToken

    sign_in(page, site, *ALICE)
    page.get_by_role("navigation", name="Console sections").get_by_role("link", name="User Security").click()
    tokens = page.get_by_test_id("api-tokens")
    tokens.get_by_label("Token name").fill("browser-flows")
    tokens.get_by_label("Calls a minute at most").fill("20")
    tokens.locator("label", has_text="subscribers:").click()
    tokens.locator("label", has_text="imports:").click()
    tokens.get_by_role("button", name="Make a token").click()
    secret = page.get_by_test_id("new-token-secret").inner_text().strip()
    assert secret.startswith("cmsf_") and len(secret) == 48
    row = page.locator('tr[data-token="browser-flows"]')
    expect(row).to_contain_text("subscribers, imports")
    expect(row).to_contain_text("In use")

    # The token works against the running server, then stops once revoked.
    read = page.request.get(site.at("/api/v1/runs/999999"), headers={"Authorization": f"Bearer {secret}"})
    assert read.status == 404 and read.json()["error"]["code"] == "not_found"
    page.reload()
    expect(page.get_by_test_id("new-token")).to_have_count(0)  # shown once
    row.get_by_role("link", name="Revoke browser-flows").click()
    expect(page.locator("main")).to_contain_text("Revoke the API token browser-flows?")
    page.get_by_role("button", name="Revoke").click()
    expect(page.locator('tr[data-token="browser-flows"]')).to_contain_text("Revoked")
    assert ApiToken.objects.get(name="browser-flows").revoked_at is not None
    refused = page.request.get(site.at("/api/v1/runs/999999"), headers={"Authorization": f"Bearer {secret}"})
    assert refused.status == 401 and refused.headers["www-authenticate"].startswith("Bearer")
