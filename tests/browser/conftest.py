"""The console in a real browser: Playwright driving Debian's Chromium (never a downloaded browser) against a live
server, with both emulators over TLS and a queue consumer running the jobs, as `cmsf serve` does."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in the test's thread; the ORM calls of the tests are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from playwright.sync_api import Browser, Page, sync_playwright

from tests.emulators import Connected, connect_salesforce, serving

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed: `make test` installs it (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    opened = context.new_page()
    refused: list[str] = []  # what the Content-Security-Policy blocked: every page must need nothing it refuses
    opened.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    yield opened
    context.close()
    assert refused == [], refused


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Connected]:
    """Both emulators for the module's tests; each test connects cmsf to them anew (its database is new)."""
    from cmsf_sandbox.dataset import generate_world
    from cmsf_sandbox.salesforce.data import generate_org

    world, org = generate_world("tiny", 33), generate_org("tiny", 33)
    with serving(tmp_path_factory.mktemp("tls"), world=world, org=org) as both:
        yield both


@dataclass
class Site:
    url: str
    emulators: Connected

    def at(self, path: str) -> str:
        return self.url + path


@pytest.fixture
def site(live_server, running: Connected, transactional_db, alice, bob) -> Iterator[Site]:
    """The console at a live URL, connected to both emulators, with a queue consumer running its jobs."""
    from huey.contrib.djhuey import HUEY

    from cmsf.connections import services as connections

    connections.connect_campaign_monitor(
        api_key=running.world.account_api_key, actor="test", base_url=f"{running.cm_base}/api/v3.3", ca_file=running.ca
    )
    connect_salesforce(running.org, running.sf_base, running.ca, client_secret=True)
    running.sf_admin("POST", "/oauth/callback-urls", json={"url": f"{live_server.url}/oauth/salesforce/callback"})
    HUEY.flush()
    consumer = HUEY.create_consumer(workers=1, periodic=False, worker_type="thread")
    consumer.start()
    try:
        yield Site(live_server.url, running)
    finally:
        consumer.stop(graceful=True)
        HUEY.flush()


@pytest.fixture
def synced(site: Site) -> Site:
    """The site after a first sync of every client, so cmsf holds records, read positions and a ledger."""
    from cmsf.sync import services as sync

    for client in sync.clients_to_sync():
        sync.sync_client(client=client)
    return site


def sign_in(page: Page, site: Site, email: str, password: str) -> None:
    page.goto(site.at("/login/"))
    page.fill("#id_username", email)
    page.fill("#id_password", password)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(site.at("/"))


def screenshot(page: Page, name: str, tmp_path: Path) -> Path:
    """Screenshots go to docs/screenshots when CMSF_SCREENSHOTS=1 (to refresh the README's), else to a temp folder."""
    folder = SCREENSHOTS if os.environ.get("CMSF_SCREENSHOTS") == "1" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
