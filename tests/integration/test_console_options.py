"""The General Options section: every option with its help hint, saved and audited, bad input beside its field, the
Disable triggers banner on every page, and Watch now running the watcher against both emulators."""

from __future__ import annotations

import pytest
from django.urls import reverse

from cmsf.console.sections import SECTIONS
from cmsf.maintenance.models import AuditEntry
from cmsf.options import services as options
from cmsf.options.models import GeneralOptions
from cmsf.sync.models import WatchRun

pytestmark = pytest.mark.django_db

ALL_ON = {name: "on" for name in options.GENERAL_FIELDS if name != "watch_interval_minutes"}


def test_every_option_is_shown_off_by_default_with_its_help_hint(client, bob):
    client.force_login(bob)
    page = client.get(reverse("console:options"))
    assert page.status_code == 200
    html = page.content.decode()
    for name in options.GENERAL_FIELDS:
        assert f'data-testid="hint-{name}"' in html, name
    for name in ("prevent_adding_opted_out", "unsubscribe_on_opt_out", "opt_out_when_unsubscribed_everywhere",
                 "delete_subscribers_on_record_delete", "disable_triggers", "sync_suppression_list"):  # fmt: skip
        assert f'name="{name}" id="id_{name}">' in html, f"{name} is shown on"
    assert 'name="trigger_journeys" id="id_trigger_journeys" checked' in html
    assert 'name="account_trigger" id="id_account_trigger" checked' in html  # Subscriber Rules points here
    assert "Other processes and custom code" not in html  # the seed's words are said plainly instead:
    assert "other processes and custom code on Contact and Lead" in html
    assert f"{reverse('console:maintenance_audit')}?actor=cmsf" in html
    assert 'type="submit">Save' not in html and "Watch now" not in html  # a viewer sees, changes nothing
    assert "General Options" in [section.title for section in SECTIONS]


def test_saving_changes_every_option_audits_it_and_the_banner_shows_everywhere(client, alice):
    client.force_login(alice)
    response = client.post(reverse("console:options_save"), {**ALL_ON, "watch_interval_minutes": "15"})
    assert response.status_code == 302
    general = GeneralOptions.load()
    assert all(getattr(general, name) for name in ALL_ON) and general.watch_interval_minutes == 15
    entry = AuditEntry.objects.get(action="Change the General Options")
    assert entry.actor == "alice@example.com" and entry.after["disable_triggers"] is True
    assert entry.before["watch_interval_minutes"] == 5
    for section in SECTIONS:
        page = client.get(reverse(f"console:{section.url_name}"))
        assert 'data-testid="triggers-disabled"' in page.content.decode(), section.slug
    # Saving the same values again changes and audits nothing.
    client.post(reverse("console:options_save"), {**ALL_ON, "watch_interval_minutes": "15"})
    assert AuditEntry.objects.filter(action="Change the General Options").count() == 1
    # Everything off: the banner goes.
    client.post(reverse("console:options_save"), {"watch_interval_minutes": "5"})
    assert not any(getattr(GeneralOptions.load(), name) for name in ALL_ON)
    assert 'data-testid="triggers-disabled"' not in client.get(reverse("console:options")).content.decode()


@pytest.mark.parametrize("interval", ["0", "61", "soon", ""])
def test_a_bad_interval_is_shown_beside_its_field_and_nothing_is_saved(client, alice, interval):
    client.force_login(alice)
    response = client.post(reverse("console:options_save"), {**ALL_ON, "watch_interval_minutes": interval})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'data-error-for="watch_interval_minutes"' in html and "1 to 60" in html
    assert f'value="{interval}"' in html  # what was typed stays
    assert not GeneralOptions.load().disable_triggers and not AuditEntry.objects.exists()


def test_a_viewer_cannot_save_or_watch(client, bob):
    client.force_login(bob)
    assert client.post(reverse("console:options_save"), {**ALL_ON, "watch_interval_minutes": "5"}).status_code == 403
    assert client.post(reverse("console:options_watch_now")).status_code == 403
    assert not GeneralOptions.load().disable_triggers


@pytest.mark.django_db(transaction=True)
def test_watch_now_runs_the_watcher_and_its_run_is_listed(client, alice, start_emulators, immediate_queue):
    start_emulators(41)
    client.force_login(alice)
    response = client.post(reverse("console:options_watch_now"), follow=True)
    assert "The watcher runs now" in response.content.decode()
    run = WatchRun.objects.get()
    assert run.status == WatchRun.Status.SUCCEEDED and "started watching" in run.message
    client.post(reverse("console:options_watch_now"))
    assert WatchRun.objects.count() == 2 and WatchRun.objects.first().sf_calls == 4
    page = client.get(reverse("console:options")).content.decode()
    assert page.count("Succeeded") == 2 and "started watching Salesforce" in page

    options.save_general_options({"disable_triggers": True}, actor="test")
    response = client.post(reverse("console:options_watch_now"), follow=True)
    assert "Disable triggers is on" in response.content.decode() and WatchRun.objects.count() == 2
    assert "Watch now" not in client.get(reverse("console:options")).content.decode()


def test_what_cmsf_changed_can_be_asked_for_before_it_changed_anything(client, bob):
    client.force_login(bob)
    page = client.get(f"{reverse('console:maintenance_audit')}?actor=cmsf")
    assert page.status_code == 200
    assert "not one of the available choices" not in page.content.decode()


def test_the_account_trigger_is_turned_off_on_the_page_and_audited(client, alice):
    client.force_login(alice)
    keep_on = {"trigger_journeys": "on", "watch_interval_minutes": "5"}
    assert client.post(reverse("console:options_save"), keep_on).status_code == 302
    assert not GeneralOptions.load().account_trigger and GeneralOptions.load().trigger_journeys
    entry = AuditEntry.objects.get(action="Change the General Options")
    assert (entry.before["account_trigger"], entry.after["account_trigger"]) == (True, False)
    assert 'name="account_trigger" id="id_account_trigger">' in client.get(reverse("console:options")).content.decode()
