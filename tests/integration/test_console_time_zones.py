"""The console's time zone: the org's, read from Salesforce (the emulator over TLS) when it is connected; a
console user's own choice on Your preferences; UTC with no org. Pages show times in it, with its abbreviation."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from cmsf.connections import services as connections
from cmsf.connections.models import SalesforceOrg
from cmsf.console.models import ConsolePreference
from cmsf.maintenance.models import AuditEntry
from cmsf.maintenance.services import audit
from cmsf_sandbox.salesforce.data import generate_org
from tests.emulators import connect, serving

pytestmark = pytest.mark.django_db

MOMENT = dt.datetime(2026, 12, 4, 13, 5, tzinfo=dt.UTC)


def _entry_at(moment: dt.datetime) -> None:
    """An audit entry written at `moment`: the audit log shows its time."""
    audit(actor="test", section="sync", action="A change at a known moment", before={}, after={"x": 1})
    AuditEntry.objects.filter(action="A change at a known moment").update(created_at=moment)


def _audit_page(client) -> str:
    response = client.get(reverse("console:maintenance_audit"))
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def sydney_org(tmp_path):
    """The Salesforce emulator of an org whose time zone is Australia/Sydney, served over TLS and connected."""
    org = generate_org("tiny", 21)
    org.records["Organization"][0]["TimeZoneSidKey"] = "Australia/Sydney"
    with serving(tmp_path, org=org) as running:
        connect(running)
        yield running


def test_connecting_reads_the_orgs_time_zone_and_pages_show_times_in_it(client, alice, sydney_org):
    assert SalesforceOrg.load().time_zone == "Australia/Sydney"
    _entry_at(MOMENT)
    client.force_login(alice)
    assert "5 Dec 2026, 00:05 AEDT" in _audit_page(client)  # 13:05 UTC is past midnight in Sydney, in summer time


def test_a_user_chooses_their_own_time_zone_and_others_keep_the_orgs(client, alice, bob, sydney_org):
    _entry_at(MOMENT)
    client.force_login(bob)  # CM User Access changes no setting, but their own preferences are theirs
    page = client.get(reverse("console:preferences")).content.decode()
    assert "The Salesforce org&#x27;s (Australia/Sydney)" in page and "Australia/Sydney</strong>" in page
    response = client.post(reverse("console:preferences"), {"time_zone": "Europe/Paris"}, follow=True)
    assert "the console shows times in Europe/Paris" in response.content.decode()
    assert ConsolePreference.objects.get(user=bob).time_zone == "Europe/Paris"
    assert "4 Dec 2026, 14:05 CET" in _audit_page(client)
    client.force_login(alice)
    assert "5 Dec 2026, 00:05 AEDT" in _audit_page(client)
    client.force_login(bob)  # back to the org's
    client.post(reverse("console:preferences"), {"time_zone": ""})
    assert "5 Dec 2026, 00:05 AEDT" in _audit_page(client)


def test_a_name_that_is_no_time_zone_is_refused_next_to_the_field(client, bob):
    client.force_login(bob)
    response = client.post(reverse("console:preferences"), {"time_zone": "Mars/Olympus_Mons"})
    assert response.status_code == 400
    assert "Mars/Olympus_Mons is not a time zone: choose one from the list." in response.content.decode()
    assert not ConsolePreference.objects.filter(user=bob).exists()


def test_without_an_org_times_are_in_utc_and_the_emulators_org_is_in_los_angeles(client, alice, start_emulators):
    _entry_at(MOMENT)
    client.force_login(alice)
    assert "4 Dec 2026, 13:05 UTC" in _audit_page(client)
    start_emulators(33, world=False)  # the generated org's own time zone
    assert SalesforceOrg.load().time_zone == "America/Los_Angeles"
    assert "4 Dec 2026, 05:05 PST" in _audit_page(client)
    connections.disconnect_salesforce(actor="test")
    assert SalesforceOrg.load().time_zone == ""
    assert "4 Dec 2026, 13:05 UTC" in _audit_page(client)


def test_a_time_zone_salesforce_names_but_python_does_not_know_is_left_blank(caplog):
    assert connections.known_time_zone("Europe/Paris") == "Europe/Paris"
    assert connections.known_time_zone(None) == ""
    assert connections.known_time_zone("Nowhere/Land") == ""
    assert "'Nowhere/Land' is not a known time zone" in caplog.text
