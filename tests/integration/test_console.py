"""The console's frame: sign-in, the permission sets, and every page behind sign-in."""

import pytest
from django.contrib.auth.models import Group
from django.urls import URLResolver, get_resolver, reverse

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


def _named_urls(resolver=None, namespace=""):
    """Every named URL of the URL conf, namespaced, walked recursively."""
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            yield from _named_urls(entry, f"{namespace}{entry.namespace}:" if entry.namespace else namespace)
        elif entry.name:
            yield f"{namespace}{entry.name}"


def test_every_page_redirects_to_sign_in_when_signed_out(client):
    public = {"console:login", "console:healthz"}
    names = [name for name in _named_urls() if name not in public]
    assert "console:home" in names  # the URL conf is walked, so a new page cannot skip the check
    for name in names:
        response = client.get(reverse(name))
        assert response.status_code == 302, name
        assert response["Location"].startswith(reverse("console:login")), name


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
    record_message(support_code="CMSF-TEST", job="CMSF_SYNC", message="two", details="", guidance="")
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
    response = client.post(reverse("console:sync_frequency"), {"import_frequency": "often"}, follow=True)
    assert "Choose an import frequency from the list" in response.content.decode()
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
