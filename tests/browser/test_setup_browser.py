"""A newcomer connects both services from the console alone: real `cmsf init`, `cmsf serve` and `cmsf sandbox
--console-url` processes and nothing else, then only the browser. The same pages against a live test server
connect Campaign Monitor through OAuth. Chromium trusts the sandbox's certificate by its public key."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import CHROMIUM, Site, screenshot, sign_in
from tests.emulators import Connected
from tests.integration.test_cli import ADMIN, cmsf, free_port, init
from tests.processes import CMSF

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
    expect(page.get_by_test_id("toasts")).to_contain_text("Campaign Monitor is connected")

    _connect_salesforce(page, fresh)
    expect(page.get_by_test_id("toasts")).to_contain_text("Salesforce is connected")
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


# -- the newcomer, with nothing but the commands an installation runs ----------------------------------------------


@dataclass
class Installation:
    console: str  # where `cmsf serve` listens
    info: dict  # what `cmsf sandbox` wrote: how to reach its emulators
    data_dir: Path


def _environment(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CMSF_", "DATABASE_URL", "DJANGO_"))}
    return {**env, "CMSF_DATA_DIR": str(data_dir)}


def _stop(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    return output


@pytest.fixture
def installation(tmp_path: Path) -> Iterator[Installation]:
    """`cmsf init`, `cmsf sandbox --console-url` and `cmsf serve` (with its worker and scheduler), as processes."""
    data_dir, info_file, port = tmp_path / "data", tmp_path / "sandbox.json", free_port()
    console = f"http://127.0.0.1:{port}"
    init(data_dir)
    sandbox = subprocess.Popen(
        [CMSF, "sandbox", "--dataset", "tiny", "--info-json", str(info_file), "--console-url", console],
        env=_environment(tmp_path / "sandbox-data"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    server = None
    try:
        deadline = time.monotonic() + 120
        while not info_file.exists():
            assert sandbox.poll() is None and time.monotonic() < deadline, "the sandbox did not start"
            time.sleep(0.1)
        server = subprocess.Popen([CMSF, "serve", "--port", str(port)], env=_environment(data_dir),
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
        while True:
            try:
                if requests.get(f"{console}/healthz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "the console did not come up"
            time.sleep(0.2)
        yield Installation(console, json.loads(info_file.read_text()), data_dir)
    finally:
        if server is not None:
            _stop(server)
        _stop(sandbox)


def test_a_newcomer_with_cmsf_init_and_cmsf_serve_connects_both_services_in_the_browser(
    browser: Browser, installation: Installation
):
    cm, sf, console = installation.info["campaign_monitor"], installation.info["salesforce"], installation.console
    server_cert = str(Path(cm["ca_file"]).with_name("server.pem"))
    trusting = browser.browser_type.launch(
        executable_path=CHROMIUM,
        args=["--no-sandbox", f"--ignore-certificate-errors-spki-list={_spki_hash(server_cert)}"],
    )
    try:
        context = trusting.new_context(viewport={"width": 1280, "height": 1000})
        context.set_default_timeout(30_000)
        page = context.new_page()
        refused: list[str] = []  # what the console's Content-Security-Policy blocked: nothing may be
        page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
        page.goto(f"{console}/login/")
        page.fill("#id_username", ADMIN[0])
        page.fill("#id_password", ADMIN[1])
        page.click("button:has-text('Sign in')")
        page.get_by_test_id("setup-banner").get_by_role("link", name="Set up the connections").click()
        page.wait_for_url(f"{console}/setup/")

        key = page.get_by_test_id("cm-key-form")
        key.locator("#id_key-api_key").fill(cm["api_key"])
        key.locator("summary").click()
        key.locator("#id_key-api_base_url").fill(cm["base_url"])
        key.locator("#id_key-ca_file").fill(cm["ca_file"])
        key.get_by_role("button", name="Connect with the API key").click()
        expect(page.get_by_test_id("cm-status")).to_have_attribute("data-connected", "true")

        form = page.get_by_test_id("sf-form")
        form.locator("#id_sf-login_domain").select_option("custom")
        form.locator("#id_sf-custom_login_url").fill(sf["login_url"])
        form.locator("#id_sf-client_id").fill(sf["client_id"])
        form.locator("#id_sf-client_secret").fill(sf["client_secret"])
        form.locator("summary").click()
        form.locator("#id_sf-ca_file").fill(sf["ca_file"])
        form.get_by_role("button", name="Connect Salesforce").click()
        page.wait_for_url(f"{sf['login_url']}/services/oauth2/authorize*")
        page.fill("#username", sf["jwt_username"])
        page.get_by_role("button", name="Log In").click()
        page.wait_for_url(f"{console}/setup/")
        expect(page.get_by_test_id("sf-status")).to_have_attribute("data-connected", "true")
        expect(page.get_by_test_id("sf-org")).to_contain_text(sf["org_id"][:15])
        expect(page.get_by_test_id("schema-result")).to_have_attribute("data-ok", "true")
        page.goto(f"{console}/")
        expect(page.get_by_test_id("setup-banner")).to_have_count(0)
        context.close()
        assert refused == [], refused
    finally:
        trusting.close()
    status = cmsf(installation.data_dir, "status", "--json")
    assert status.returncode == 0, status.stderr
    connected = json.loads(status.stdout)
    assert connected["campaign_monitor"]["connected"] and connected["salesforce"]["connected"]
    assert connected["salesforce"]["sync_user"] and connected["salesforce"]["instance_url"] == sf["instance_url"]
