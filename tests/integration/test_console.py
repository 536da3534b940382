"""The console's frame: sign-in, the permission sets, and every page behind sign-in."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from tests.console_urls import console_urls

pytestmark = pytest.mark.django_db


def test_the_two_permission_sets_exist_with_their_permissions():
    full = set(Group.objects.get(name="CM Full Access").permissions.values_list("codename", flat=True))
    user = set(Group.objects.get(name="CM User Access").permissions.values_list("codename", flat=True))
    assert full == {"view_console", "change_settings"}
    assert user == {"view_console"}


def test_the_login_page_is_served(client):
    response = client.get(reverse("console:login"))
    assert response.status_code == 200
    assert b'name="password"' in response.content and b"csrfmiddlewaretoken" in response.content


def test_every_page_redirects_to_sign_in_when_signed_out(client):
    from cmsf.console.middleware import PUBLIC_URL_NAMES

    urls = list(console_urls())
    assert PUBLIC_URL_NAMES <= {url.name for url in urls}
    private = [url for url in urls if url.name not in PUBLIC_URL_NAMES]
    assert "console:home" in {url.name for url in private}  # the URL conf is walked: no page can skip the check
    for url in private:
        for method in (client.get, client.post):
            response = method(url.path)
            assert response.status_code == 302, url
            assert response["Location"].startswith(reverse("console:login")), url


def test_every_private_url_is_a_page_or_a_change_and_user_access_changes_nothing(client, bob):
    """Each view wears `viewer` (GET only) or `changer` (a change needs CM Full Access): CM User Access gets 405 or
    403 for every POST, on every URL of the URL conf."""
    from cmsf.console.middleware import PUBLIC_URL_NAMES

    client.force_login(bob)
    for url in console_urls():
        if url.name in PUBLIC_URL_NAMES or url.name == "console:logout":
            continue
        assert url.access in ("view", "change", "own"), f"{url.name} has neither the viewer nor the changer decorator"
        response = client.post(url.path)
        # A user's own preferences are theirs to change: an empty form keeps the org's time zone.
        assert response.status_code == {"change": 403, "view": 405, "own": 302}[url.access], url


def test_signing_in_shows_sync_settings(client, alice):
    response = client.post(
        reverse("console:login"), {"username": "alice@example.com", "password": "alice-password-1"}, follow=True
    )
    assert response.status_code == 200
    assert b"Sync Settings" in response.content and b"Hourly (recommended)" in response.content


def test_a_wrong_password_is_refused(client, alice):
    response = client.post(reverse("console:login"), {"username": "alice@example.com", "password": "nope"})
    assert response.status_code == 200 and b"didn't match" in response.content


def test_user_access_sees_the_status(client, bob):
    client.force_login(bob)
    assert client.get(reverse("console:home")).status_code == 200


def test_a_user_without_a_permission_set_is_refused(client, charlie):
    client.force_login(charlie)
    assert client.get(reverse("console:home")).status_code == 403


def test_every_page_has_the_frame_the_navigation_and_the_bell(client, alice):
    from cmsf.console.sections import SECTIONS
    from cmsf.maintenance.services import record_message

    record_message(support_code="CMSF-TEST", job="CMSF_SYNC", message="one", details="", guidance="")
    record_message(support_code="CMSF-TEST-2", job="CMSF_SYNC", message="two", details="", guidance="")
    client.force_login(alice)
    page = client.get(reverse("console:home")).content.decode()
    assert "salesforce-lightning-design-system.min.css" in page
    for section in SECTIONS:
        assert f'href="{reverse("console:" + section.url_name)}"' in page
    assert 'aria-current="page"' in page
    assert '<span class="slds-badge slds-badge_inverse" data-testid="new-messages">2</span>' in page


def test_the_vendored_design_system_is_served(client):
    from django.contrib.staticfiles import finders

    for path in ("console/slds/salesforce-lightning-design-system.min.css", "console/slds/icons/utility-symbols.svg"):
        assert finders.find(path), path


def test_turn_off_sync_and_on_again_is_audited_and_stops_the_schedule(client, alice):
    from django.utils import timezone

    from cmsf.maintenance.models import AuditEntry
    from cmsf.sync.models import SyncSettings
    from cmsf.sync.services import due_clients

    client.force_login(alice)
    assert "Turn off sync" in client.get(reverse("console:home")).content.decode()
    response = client.post(reverse("console:sync_enabled"), {"enabled": "off"}, follow=True)
    assert not SyncSettings.load().sync_enabled
    assert "Turn on sync" in response.content.decode() and "The sync is off" in response.content.decode()
    assert due_clients(timezone.now()) == []
    client.post(reverse("console:sync_enabled"), {"enabled": "on"})
    assert SyncSettings.load().sync_enabled
    entries = list(AuditEntry.objects.order_by("id").values_list("actor", "action", "before", "after"))
    assert entries == [
        ("alice@example.com", "Turn off sync", {"sync_enabled": True}, {"sync_enabled": False}),
        ("alice@example.com", "Turn on sync", {"sync_enabled": False}, {"sync_enabled": True}),
    ]


def test_user_access_sees_no_change_button_and_a_change_is_refused(client, bob):
    from cmsf.sync.models import SyncSettings

    client.force_login(bob)
    assert "Turn off sync" not in client.get(reverse("console:home")).content.decode()
    assert client.post(reverse("console:sync_enabled"), {"enabled": "off"}).status_code == 403
    assert SyncSettings.load().sync_enabled


def test_the_import_frequency_is_changed_from_its_dropdown_and_the_next_run_follows(client, alice):
    from datetime import timedelta

    from django.utils import timezone

    from cmsf.maintenance.models import AuditEntry
    from cmsf.sync.models import SyncSettings

    client.force_login(alice)
    page = client.get(reverse("console:home")).content.decode()
    assert '<option value="hourly" selected>Hourly (recommended)</option>' in page
    before = timezone.now()
    response = client.post(reverse("console:sync_frequency"), {"import_frequency": "6h"}, follow=True)
    settings = SyncSettings.load()
    assert settings.import_frequency == "6h" and "Import frequency: Every 6 hours." in response.content.decode()
    assert before + timedelta(hours=6) <= settings.next_run <= timezone.now() + timedelta(hours=6)
    assert AuditEntry.objects.get(action="Change import frequency").after == {"import_frequency": "6h"}
    response = client.post(reverse("console:sync_frequency"), {"import_frequency": "often"})
    page = response.content.decode()
    assert response.status_code == 400 and 'id="frequency-error"' in page and "slds-has-error" in page
    assert "Choose an import frequency from the list" in page and '<option value="often" selected>' in page
    assert SyncSettings.load().import_frequency == "6h"  # nothing half-saved
    client.post(reverse("console:sync_frequency"), {"import_frequency": "off"})
    assert SyncSettings.load().next_run is None


def test_user_access_sees_the_frequency_but_cannot_change_it(client, bob):
    from cmsf.sync.models import SyncSettings

    client.force_login(bob)
    page = client.get(reverse("console:home")).content.decode()
    assert "Hourly (recommended)" in page and 'name="import_frequency"' not in page
    assert client.post(reverse("console:sync_frequency"), {"import_frequency": "daily"}).status_code == 403
    assert SyncSettings.load().import_frequency == "hourly"


def test_every_page_title_is_short_plain_text(client, alice):
    """The <title> of each console page an admin can open: plain text (no markup leaking from a block), short."""
    import re

    from cmsf.console.middleware import PUBLIC_URL_NAMES

    client.force_login(alice)
    seen = 0
    for url in console_urls():
        if url.access not in ("view", "own") and url.name not in PUBLIC_URL_NAMES:
            continue
        response = client.get(url.path)
        if response.status_code != 200 or not response["Content-Type"].startswith("text/html"):
            continue
        titles = re.findall(r"<title>(.*?)</title>", response.content.decode(), flags=re.DOTALL)
        if not titles:
            continue
        seen += 1
        assert len(titles) == 1, url
        assert "<" not in titles[0] and "\n" not in titles[0].strip() and len(titles[0]) < 80, (url, titles[0][:200])
    assert seen >= 20  # the pages were walked, not skipped
