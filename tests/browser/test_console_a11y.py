"""Every console page in Chromium, as the people who use it meet it: an axe-core scan finds no critical or serious
accessibility violation, each page has one <h1> and a plain-text <title>, and no page scrolls sideways at 1,366 or
1,024 px wide (wide tables wrap or scroll inside their card). And one pass with the keyboard alone: Sync now, a
settings save and a dialog."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from cmsf.connections.models import CampaignMonitorClient
from cmsf.sync.models import SyncRun
from tests.browser.conftest import Site, sign_in
from tests.console_urls import console_urls

pytestmark = pytest.mark.browser

ALICE = ("alice@example.com", "alice-password-1")
WIDTHS = (1366, 1024)
BLOCKING = ("critical", "serious")
# The URLs an admin may GET that answer with no page of their own: htmx fragments (scanned within their page) and JSON.
FRAGMENTS = {
    "console:sync_progress",
    "console:run_progress",
    "console:api_usage",
    "console:storage_forecast",
    "console:campaigns_filter_preview",
    "console:options_quarantined_events",
}


def _objects_for_pages() -> dict[str, dict[str, object]]:
    """One object of each kind a page shows by its id, and the URL arguments of the pages that show them."""
    from cmsf.audience.models import ImportRun, ImportWizard
    from cmsf.billing.models import Invoice, Plan
    from cmsf.maintenance import services as maintenance
    from cmsf.sync.models import WatchRun

    now = timezone.now()
    client = CampaignMonitorClient.objects.filter(selected=True).order_by("name").first()
    assert client is not None
    run = SyncRun.objects.filter(client=client).order_by("-pk").first()
    assert run is not None
    message = maintenance.record_message(
        support_code="CMSF-SYNC-FAILED",
        job="CMSF_SYNC",
        client_id=client.pk,
        message="The sync of a client failed: Campaign Monitor refused the call " + "with a long explanation " * 12,
        details="Contact 003000000000001AAA: " + "x" * 300,  # one long word: it must wrap, not widen the page
    )
    watch = WatchRun.objects.create(
        started_at=now - timedelta(minutes=30),
        finished_at=now - timedelta(minutes=29),
        status=WatchRun.Status.SUCCEEDED,
        read={"Contact": 5, "Lead": 1},
        done={"unsubscribed": 2},
        problems=[{"key": "Contact 003000000000001", "reason": "Campaign Monitor refused the address"}],
        sf_calls=4,
        cm_calls=2,
    )
    wizard = ImportWizard.objects.create(
        name="Event leads", client=client, list_id="list-1", campaign_id="701000000000001AAA"
    )
    imported = ImportRun.objects.create(
        wizard=wizard,
        status=ImportRun.Status.SUCCEEDED,
        started_at=now - timedelta(minutes=10),
        finished_at=now - timedelta(minutes=9),
        read=30,
        imported=28,
    )
    invoice = Invoice.objects.create(
        number="CMSF-2026-10",
        period_start=date(2026, 10, 1),
        period_end=date(2026, 10, 31),
        plan=Plan.STANDARD,
        subscribers=3_120,
        lines=[{"description": "Standard plan, 2,501 to 10,000 active subscribers", "amount": "99.00"}],
        total=Decimal("99.00"),
        issued_at=now,
    )
    return {
        "console:security_owner": {"pk": client.pk},
        "console:run": {"pk": run.pk},
        "console:run_progress": {"pk": run.pk},
        "console:watch_run": {"pk": watch.pk},
        "console:imports_wizard": {"pk": wizard.pk},
        "console:imports_edit": {"pk": wizard.pk},
        "console:imports_run_page": {"pk": imported.pk},
        "console:maintenance_message": {"message_id": message.pk},
        "console:maintenance_support": {"code": message.support_code},
        "console:billing_invoice": {"number": invoice.number},
    }


def _pages(page: Page, site: Site) -> list[tuple[str, str]]:
    """Every URL of the URL conf that answers a GET with a whole HTML page, with real objects behind its ids."""
    arguments = _objects_for_pages()
    found = []
    for url in console_urls():
        if url.name in ("console:logout", "console:salesforce_login", "console:salesforce_callback"):
            continue  # they sign out or leave for Salesforce: no page of the console's own
        path = reverse(url.name, kwargs=arguments[url.name]) if url.name in arguments else url.path
        response = page.request.get(site.at(path), max_redirects=0)
        if response.status != 200 or not response.headers.get("content-type", "").startswith("text/html"):
            continue
        if "<html" not in response.text():
            continue  # an htmx fragment: scanned within the page that holds it
        found.append((url.name, path))
    return found


def test_every_page_passes_axe_has_a_heading_and_a_title_and_never_scrolls_sideways(page: Page, synced: Site):
    axe = Axe()
    sign_in(page, synced, *ALICE)
    pages = _pages(page, synced)
    names = {name for name, _ in pages}
    assert {"console:home", "console:maintenance", "console:options", "console:imports_wizard"} <= names, names
    assert len(pages) >= 25, names
    skipped = {url.name for url in console_urls() if url.access == "view"} - names
    assert skipped == FRAGMENTS, skipped  # a page that stops answering with a whole page is not silently left out
    problems: list[str] = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        for name, path in pages:
            page.goto(synced.at(path))
            page.wait_for_load_state("load")
            overflow = page.evaluate(
                "() => [document.scrollingElement.scrollWidth, document.scrollingElement.clientWidth]"
            )
            if overflow[0] > overflow[1]:
                problems.append(f"{name} at {width}px scrolls sideways: {overflow[0]} > {overflow[1]}")
            if width != WIDTHS[0]:
                continue  # headings, titles and axe once: the markup is the same at each width
            title = page.title()
            if not title.strip() or "<" in title or len(title) >= 80:
                problems.append(f"{name}: title {title!r}")
            if page.locator("h1").count() != 1:
                problems.append(f"{name}: {page.locator('h1').count()} <h1> headings")
            results = axe.run(page)
            for violation in results.response["violations"]:
                if violation["impact"] in BLOCKING:
                    targets = [node["target"] for node in violation["nodes"][:3]]
                    problems.append(f"{name}: {violation['id']} ({violation['impact']}) {targets}")
    assert problems == [], "\n".join(problems)
    # The public sign-in page, signed out.
    page.context.clear_cookies()
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(synced.at("/login/"))
        assert page.evaluate("() => document.scrollingElement.scrollWidth <= document.scrollingElement.clientWidth")
    assert page.locator("h1").count() == 1 and page.title().strip()
    blocking = [v["id"] for v in axe.run(page).response["violations"] if v["impact"] in BLOCKING]
    assert blocking == []


def test_sync_now_a_settings_save_and_a_dialog_with_the_keyboard_alone(page: Page, site: Site):
    sign_in(page, site, *ALICE)

    def tab_to(locator, limit: int = 80) -> None:
        """Press Tab until the locator has the focus, as a keyboard user does."""
        for _ in range(limit):
            if locator.evaluate("element => element === document.activeElement"):
                return
            page.keyboard.press("Tab")
        raise AssertionError(f"Tab never reached {locator}")

    # Sync now: Tab to the button, Enter.
    tab_to(page.get_by_role("button", name="Sync now"))
    page.keyboard.press("Enter")
    progress = page.locator("#sync-progress")
    expect(progress).to_have_attribute("data-running", "false", timeout=120_000)
    result = page.get_by_role("status").filter(has=page.get_by_test_id("sync-result-outcome"))
    expect(result).to_contain_text("Sync now finished: ")  # its result in place, in a live region: no reload
    assert page.url == site.at("/")
    swapped = Axe().run(page, context="#sync-result").response["violations"]  # what htmx swapped in
    assert [v["id"] for v in swapped if v["impact"] in BLOCKING] == []

    # A settings save: General Options, tick a checkbox with Space, Save with Enter.
    page.goto(site.at("/options"))
    checkbox = page.get_by_label("Disable triggers")
    tab_to(checkbox)
    page.keyboard.press("Space")
    expect(checkbox).to_be_checked()
    tab_to(page.locator("main").get_by_role("button", name="Save").first)
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_contain_text("The General Options are saved.")

    # A help hint opens on keyboard focus and closes with Escape.
    page.goto(site.at("/options"))
    tip = page.locator("#hint-unsubscribe_on_opt_out")
    tab_to(page.get_by_test_id("hint-unsubscribe_on_opt_out"))
    expect(tip).to_be_visible()
    page.keyboard.press("Escape")
    expect(tip).to_be_hidden()

    # A dialog: Select Clients opens from its link with Enter, takes the focus, and Escape leaves it unchanged.
    page.goto(site.at("/"))
    tab_to(page.get_by_role("link", name="Select Clients"))
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Select Clients")
    expect(dialog).to_be_visible()
    assert dialog.evaluate("element => element.contains(document.activeElement)")
    before = sorted(CampaignMonitorClient.objects.filter(selected=True).values_list("pk", flat=True))
    first = dialog.locator('input[type="checkbox"]').first
    tab_to(first)
    page.keyboard.press("Space")  # a change, left by Escape: nothing is saved
    page.keyboard.press("Escape")
    expect(page).to_have_url(site.at("/"))
    assert sorted(CampaignMonitorClient.objects.filter(selected=True).values_list("pk", flat=True)) == before


def test_a_success_toast_goes_away_and_an_error_toast_stays_until_closed_with_the_keyboard(page: Page, site: Site):
    page.emulate_media(reduced_motion="reduce")  # no slide-in: axe measures the toast's colours as they stay
    sign_in(page, site, *ALICE)
    page.goto(site.at(reverse("console:maintenance_settings")))
    limit = page.locator('tr[data-job="CMSF_EMAIL_OPT_OUT"] input[type=number]')
    limit.fill("60")
    page.get_by_role("button", name="Save governor limits").click()
    saved = page.get_by_role("status").filter(has_text="The internal governor limits are saved.")
    expect(saved).to_be_visible()
    assert page.locator(".cmsf-toast").get_attribute("role") == "status"
    assert saved.evaluate("toast => getComputedStyle(toast).animationName") == "none"
    scanned = Axe().run(page, context="#cmsf-toasts").response["violations"]
    assert [v["id"] for v in scanned if v["impact"] in BLOCKING] == []
    expect(saved).to_be_hidden(timeout=30_000)  # it goes away by itself

    limit = page.locator('tr[data-job="CMSF_EMAIL_OPT_OUT"] input[type=number]')
    limit.evaluate("input => input.removeAttribute('min')")  # past the browser's own check, to the server's
    limit.fill("0")
    page.get_by_role("button", name="Save governor limits").click()
    refused = page.get_by_role("alert").filter(has_text="Nothing was saved: correct the batch sizes marked below.")
    expect(refused).to_be_visible()
    assert refused.get_attribute("data-dismiss-after") is None  # an error waits to be closed
    scanned = Axe().run(page, context="#cmsf-toasts").response["violations"]
    assert [v["id"] for v in scanned if v["impact"] in BLOCKING] == []
    close = refused.get_by_role("button", name="Close this message")
    for _ in range(80):  # Tab to its close button, as a keyboard user does
        if close.evaluate("element => element === document.activeElement"):
            break
        page.keyboard.press("Tab")
    else:
        raise AssertionError("Tab never reached the toast's close button")
    page.keyboard.press("Enter")
    expect(refused).to_be_hidden()
    expect(page.locator("main")).to_be_focused()  # the focus is not lost with the toast
