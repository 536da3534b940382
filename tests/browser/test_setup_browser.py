"""A newcomer connects both services from the console alone: a new installation (its first admin, as `cmsf init`
makes it), the console served, and the sandbox's emulators running, whose OAuth apps accept the console's callbacks
(as `cmsf sandbox --console-url` registers them). Chromium trusts the sandbox's certificate by its public key."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import CHROMIUM, Site, screenshot, sign_in
from tests.emulators import Connected

pytestmark = pytest.mark.django_db(transaction=True)


def _spki_hash(cert_file: str) -> str:
    """base64(SHA-256(SubjectPublicKeyInfo)) of the server certificate: what Chromium's
    --ignore-certificate-errors-spki-list trusts."""
    certificate = x509.load_pem_x509_certificates(open(cert_file, "rb").read())[0]
    spki = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


@pytest.fixture(scope="module")
def trusting(browser: Browser, running: Connected) -> Iterator[Browser]:
    """Chromium trusting the sandbox's certificate (and nothing else it would not trust anyway)."""
    launched = browser.browser_type.launch(
        executable_path=CHROMIUM,
        args=["--no-sandbox", f"--ignore-certificate-errors-spki-list={_spki_hash(str(running.tls.cert_file))}"],
    )
    yield launched
    launched.close()


@pytest.fixture
def newcomer(trusting: Browser) -> Iterator[Page]:
    context = trusting.new_context(viewport={"width": 1280, "height": 1000})
    context.set_default_timeout(30_000)
    opened = context.new_page()
    refused: list[str] = []
    opened.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    yield opened
    context.close()
    assert refused == [], refused


@pytest.fixture
def fresh(live_server, running: Connected, transactional_db, alice) -> Site:
    """A new installation: one admin, nothing connected; the emulators accept the console's OAuth callbacks."""
    import requests

    from cmsf.connections.models import CampaignMonitorAccount, SalesforceOrg

    assert not CampaignMonitorAccount.load().is_connected and not SalesforceOrg.load().is_connected
    running.sf_admin("POST", "/oauth/callback-urls", json={"url": f"{live_server.url}/oauth/salesforce/callback"})
    requests.post(f"{running.cm_base}/admin/oauth/redirect-uris", verify=running.ca, timeout=30,
                  json={"url": f"{live_server.url}/oauth/campaign-monitor/callback"}).raise_for_status()  # fmt: skip
    return Site(live_server.url, running)


def _connect_salesforce(page: Page, site: Site) -> None:
    running = site.emulators
    sf = page.get_by_test_id("sf-form")
    sf.locator("#id_sf-login_domain").select_option("custom")
    sf.locator("#id_sf-custom_login_url").fill(running.sf_base)
    sf.locator("#id_sf-client_id").fill(running.org.oauth.client_id)
    sf.locator("#id_sf-client_secret").fill(running.org.oauth.client_secret)
    sf.locator("summary").click()
    sf.locator("#id_sf-ca_file").fill(running.ca)
    sf.get_by_role("button", name="Connect Salesforce").click()
    # Salesforce's sign-in page (the emulator's), over the sandbox's TLS
    page.wait_for_url(f"{running.sf_base}/services/oauth2/authorize*")
    page.fill("#username", running.org.oauth.jwt_username)
    page.get_by_role("button", name="Log In").click()
    page.wait_for_url(site.at("/setup/"))
    expect(page.get_by_test_id("sf-status")).to_have_attribute("data-connected", "true")
    expect(page.get_by_test_id("sf-sync-user")).not_to_be_empty()
    expect(page.get_by_test_id("sf-org")).to_contain_text(running.org.org_id[:15])
    expect(page.get_by_test_id("schema-result")).to_be_visible()


def test_a_newcomer_connects_both_services_from_the_console_alone(newcomer: Page, fresh: Site, tmp_path):
    page, running = newcomer, fresh.emulators
    sign_in(page, fresh, "alice@example.com", "alice-password-1")
    banner = page.get_by_test_id("setup-banner")
    expect(banner).to_contain_text("not connected")
    banner.get_by_role("link", name="Set up the connections").click()
    page.wait_for_url(fresh.at("/setup/"))

    cm = page.get_by_test_id("cm-key-form")
    cm.locator("#id_key-api_key").fill(running.world.account_api_key)
    cm.locator("summary").click()
    cm.locator("#id_key-api_base_url").fill(f"{running.cm_base}/api/v3.3")
    cm.locator("#id_key-ca_file").fill(running.ca)
    cm.get_by_role("button", name="Connect with the API key").click()
    expect(page.get_by_test_id("cm-status")).to_have_attribute("data-connected", "true")
    expect(page.get_by_role("alert").filter(has_text="Campaign Monitor is connected")).to_be_visible()

    _connect_salesforce(page, fresh)
    expect(page.get_by_role("alert").filter(has_text="Salesforce is connected")).to_be_visible()
    screenshot(page, "setup", tmp_path)

    page.goto(fresh.at("/"))
    expect(page.get_by_test_id("setup-banner")).to_have_count(0)
    expect(page.get_by_test_id("sync-status")).not_to_have_attribute("data-status", "not_connected")


def test_a_newcomer_connects_campaign_monitor_through_oauth(newcomer: Page, fresh: Site):
    from cmsf.connections.models import CampaignMonitorAccount

    page, running = newcomer, fresh.emulators
    sign_in(page, fresh, "alice@example.com", "alice-password-1")
    page.goto(fresh.at("/setup/"))
    cm = page.get_by_test_id("cm-oauth-form")
    cm.locator("#id_oauth-oauth_client_id").fill(running.world.oauth_app.client_id)
    cm.locator("#id_oauth-oauth_client_secret").fill(running.world.oauth_app.client_secret)
    cm.locator("summary").click()
    cm.locator("#id_oauth-api_base_url").fill(f"{running.cm_base}/api/v3.3")
    cm.locator("#id_oauth-ca_file").fill(running.ca)
    cm.get_by_role("button", name="Connect through OAuth").click()
    page.wait_for_url(fresh.at("/setup/"))
    expect(page.get_by_test_id("cm-status")).to_have_attribute("data-connected", "true")
    expect(page.get_by_test_id("cm-status")).to_contain_text("OAuth")
    assert CampaignMonitorAccount.load().auth_method == "oauth"
