"""The Transactional section in the browser: a test sent from the console against both emulators shows in the recent
sends, with its Task in Salesforce."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import Site, screenshot, sign_in


def test_a_test_sent_from_the_console_shows_among_the_recent_sends(page: Page, site: Site, tmp_path):
    from cmsf.connections import services as connections
    from cmsf.sync.models import SmartEmailMessage

    connections.salesforce().insert("Contact", [{"LastName": "Browser", "Email": "browser.test@example.com"}])
    active = next(e for e in site.emulators.world.smart_emails.values() if e.status == "active")
    sign_in(page, site, "alice@example.com", "alice-password-1")
    page.get_by_role("navigation", name="Console sections").get_by_role("link", name="Transactional").click()
    expect(page.get_by_role("heading", name="Transactional", exact=True)).to_be_visible()
    expect(page.locator(f'[data-smart-email="{active.smart_email_id}"]')).to_be_visible()
    expect(page.get_by_test_id("no-sends")).to_be_visible()

    page.get_by_label("Smart email").select_option(active.smart_email_id)
    page.get_by_label("Recipient address").fill("browser.test@example.com")
    page.get_by_label("Data (JSON)").fill('{"firstname": "Browser"')
    page.get_by_label("Consent to track").select_option("Yes")
    page.get_by_role("button", name="Send a test").click()
    expect(page.locator('[data-error-for="variables"]')).to_contain_text("This is not JSON")

    page.get_by_label("Data (JSON)").fill('{"firstname": "Browser"}')
    page.get_by_role("button", name="Send a test").click()
    expect(page.get_by_role("status").filter(has_text="Test sent")).to_contain_text("browser.test@example.com")
    message = SmartEmailMessage.objects.get()
    row = page.get_by_test_id("recent-sends").locator(f'[data-message="{message.message_id}"]')
    expect(row).to_contain_text("browser.test@example.com")
    expect(row).to_contain_text(re.compile(r"Received"))
    expect(row.get_by_role("link", name=message.task_id)).to_be_visible()
    screenshot(page, "transactional", tmp_path)
