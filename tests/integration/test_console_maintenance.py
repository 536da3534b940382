"""The console's Maintenance section: messages (details, support codes, acknowledge, retry), the audit log and the
cog page (notification email, internal governor limits)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from cmsf.connections.models import CampaignMonitorClient
from cmsf.console.sections import AUDIT_SECTION_LABELS
from cmsf.maintenance import support_codes
from cmsf.maintenance.jobs import JOBS
from cmsf.maintenance.models import AuditEntry, GovernorLimit, MaintenanceMessage, MaintenanceSettings
from cmsf.maintenance.services import audit, record_message
from cmsf.sync.models import SyncRun

pytestmark = pytest.mark.django_db


def _message(text: str = "Something went wrong.", code: str = "CMSF-SYNC-FAILED", **fields) -> MaintenanceMessage:
    return MaintenanceMessage.objects.create(support_code=code, job="CMSF_SYNC", message=text, **fields)


def _bell(client) -> str:
    page = client.get(reverse("console:maintenance")).content.decode()
    start = page.index('data-testid="new-messages">') + len('data-testid="new-messages">')
    return page[start : page.index("<", start)]


# -- every page, for both permission sets ------------------------------------------------------------


@pytest.mark.parametrize("persona", ["alice", "bob"])
def test_every_page_renders_for_full_and_user_access(client, persona, request):
    client.force_login(request.getfixturevalue(persona))
    message = _message("A sync failed.", details="the details", guidance="the guidance")
    audit(actor="alice@example.com", section="Sync Settings", action="Turn off sync",
          before={"sync_enabled": True}, after={"sync_enabled": False})  # fmt: skip
    pages = [
        reverse("console:maintenance"),
        reverse("console:maintenance") + "?show=new",
        reverse("console:maintenance_message", args=[message.pk]),
        reverse("console:maintenance_support", args=["CMSF-SYNC-FAILED"]),
        reverse("console:maintenance_audit"),
        reverse("console:maintenance_settings"),
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        assert 'aria-current="page"' in response.content.decode()  # the Maintenance section is the active one
    home = client.get(reverse("console:maintenance")).content.decode()
    assert "#settings" in home and reverse("console:maintenance_settings") in home  # the cog, top right
    detail = client.get(reverse("console:maintenance_message", args=[message.pk])).content.decode()
    assert "the details" in detail and "the guidance" in detail
    can_change = persona == "alice"
    acknowledge = f'action="{reverse("console:maintenance_acknowledge", args=[message.pk])}"'
    assert (acknowledge in detail) == can_change
    settings_page = client.get(reverse("console:maintenance_settings")).content.decode()
    assert ("Save governor limits" in settings_page) == can_change
    assert "advanced operation" in settings_page


def test_a_user_without_a_permission_set_is_refused(client, charlie):
    client.force_login(charlie)
    assert client.get(reverse("console:maintenance")).status_code == 403


def test_the_bell_links_to_the_new_messages_and_maintenance_is_in_the_navigation(client, bob):
    client.force_login(bob)
    page = client.get(reverse("console:home")).content.decode()
    assert f'href="{reverse("console:maintenance")}?show=new"' in page
    assert f'href="{reverse("console:maintenance")}"' in page


def test_user_access_changes_nothing(client, bob):
    message = _message(client_id=CampaignMonitorClient.objects.create(cm_client_id="c1", name="One").pk)
    client.force_login(bob)
    posts = [
        (reverse("console:maintenance_acknowledge", args=[message.pk]), {}),
        (reverse("console:maintenance_acknowledge_all"), {}),
        (reverse("console:maintenance_retry", args=[message.pk]), {}),
        (reverse("console:maintenance_notification_email"), {"notification_email": "ops@example.com"}),
        (reverse("console:maintenance_governor_limits"), {code: 5 for code in JOBS}),
        (reverse("console:maintenance_reset_limit", args=["CMSF_EMAIL_OPT_OUT"]), {}),
    ]
    GovernorLimit.objects.create(job="CMSF_EMAIL_OPT_OUT", batch_size=50)
    for url, data in posts:
        assert client.post(url, data).status_code == 403, url
    message.refresh_from_db()
    assert message.acknowledged_at is None and message.retried_at is None
    assert not SyncRun.objects.exists()
    assert MaintenanceSettings.load().notification_email == ""
    assert GovernorLimit.all_batch_sizes()["CMSF_EMAIL_OPT_OUT"] == 50
    assert not GovernorLimit.objects.exclude(job="CMSF_EMAIL_OPT_OUT").exists()
    assert not AuditEntry.objects.exists()


# -- messages -----------------------------------------------------------------------------------------


def test_new_messages_come_first_and_the_new_filter_shows_only_them(client, alice):
    seen = _message("Seen already.", acknowledged_at=timezone.now())
    old_new = _message("Old but new.")
    MaintenanceMessage.objects.filter(pk=old_new.pk).update(created_at=timezone.now() - timedelta(days=3))
    client.force_login(alice)
    page = client.get(reverse("console:maintenance")).content.decode()
    assert page.index("Old but new.") < page.index("Seen already.")
    only_new = client.get(reverse("console:maintenance") + "?show=new").content.decode()
    assert "Old but new." in only_new and "Seen already." not in only_new
    assert f'data-message="{seen.pk}"' in page


def test_messages_are_paginated(client, bob):
    for number in range(30):
        _message(f"Message number {number:02d}.")
    client.force_login(bob)
    first = client.get(reverse("console:maintenance") + "?show=all").content.decode()
    second = client.get(reverse("console:maintenance") + "?show=all&page=2").content.decode()
    assert "Page 1 of 2" in first and "show=all&amp;page=2" in first
    assert "Message number 29." in first and "Message number 00." not in first
    assert "Message number 00." in second and "Message number 29." not in second


def test_acknowledging_drops_the_bell_count_and_is_audited(client, alice):
    first, second, third = _message("one"), _message("two"), _message("three")
    client.force_login(alice)
    assert _bell(client) == "3"
    response = client.post(reverse("console:maintenance_acknowledge", args=[first.pk]))
    assert response.status_code == 302
    assert _bell(client) == "2"
    first.refresh_from_db()
    assert first.acknowledged_at is not None and first.acknowledged_by == alice
    detail = client.get(reverse("console:maintenance_message", args=[first.pk])).content.decode()
    assert "by alice@example.com" in detail
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.section, entry.action) == ("alice@example.com", "maintenance",
                                                         "Acknowledge maintenance message")  # fmt: skip
    assert entry.after == {"message": first.pk, "acknowledged": True}
    # Once more changes nothing and audits nothing.
    client.post(reverse("console:maintenance_acknowledge", args=[first.pk]))
    assert AuditEntry.objects.count() == 1

    client.post(reverse("console:maintenance_acknowledge_all"))
    assert _bell(client) == "0"
    assert not MaintenanceMessage.objects.filter(acknowledged_at=None).exists()
    assert {second.pk, third.pk} <= set(
        MaintenanceMessage.objects.filter(acknowledged_by=alice).values_list("pk", flat=True)
    )
    last = AuditEntry.objects.order_by("-id").first()
    assert last.action == "Acknowledge all maintenance messages"
    assert last.before == {"new_messages": 2} and last.after == {"new_messages": 0}


def test_acknowledging_goes_back_to_the_page_it_came_from_and_never_elsewhere(client, alice):
    message = _message()
    client.force_login(alice)
    here = reverse("console:maintenance_message", args=[message.pk])
    assert client.post(reverse("console:maintenance_acknowledge", args=[message.pk]), {"next": here}).url == here
    other = _message()
    response = client.post(
        reverse("console:maintenance_acknowledge", args=[other.pk]), {"next": "https://evil.example/"}
    )
    assert response.url == reverse("console:maintenance")


def test_retry_syncs_the_messages_client_again_and_links_to_the_run(
    client, alice, immediate_queue, django_capture_on_commit_callbacks
):
    one = CampaignMonitorClient.objects.create(cm_client_id="c1", name="One")
    two = CampaignMonitorClient.objects.create(cm_client_id="c2", name="Two")
    message = record_message(support_code="CMSF-SF-UNABLE_TO_LOCK_ROW", job="CMSF_TRACKING_SYNC",
                             message="3 records of client Two not written", client_id=two.pk)  # fmt: skip
    client.force_login(alice)
    detail = client.get(reverse("console:maintenance_message", args=[message.pk])).content.decode()
    assert reverse("console:maintenance_retry", args=[message.pk]) in detail
    assert "not in cmsf&#x27;s ledger" in detail  # says why Retry sends the refused records again

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("console:maintenance_retry", args=[message.pk]))
    run = SyncRun.objects.get()
    assert run.client_id == two.pk != one.pk
    assert response.status_code == 302 and response.url == f"{reverse('console:home')}?run={run.pk}"
    # The queued job ran for that client: with no connections it ends at once, with the reason, and tells the admin
    # in a message that names the client (so it too can be retried).
    run.refresh_from_db()
    assert run.started_at is not None and run.status == SyncRun.Status.NOT_CONNECTED
    assert "not connected" in run.message
    failed = MaintenanceMessage.objects.exclude(pk=message.pk).get()
    assert failed.support_code == "CMSF-NOT-CONNECTED" and failed.client_id == two.pk
    assert failed.guidance == support_codes.guidance("CMSF-NOT-CONNECTED")

    message.refresh_from_db()
    assert message.retried_at is not None and message.retry_run_id == run.pk and message.retried_by == alice
    assert message.acknowledged_at is not None
    entry = AuditEntry.objects.get(action="Retry maintenance message")
    assert entry.after == {"message": message.pk, "retried": True, "client": two.pk, "run": run.pk}
    detail = client.get(reverse("console:maintenance_message", args=[message.pk])).content.decode()
    assert f'href="{reverse("console:home")}?run={run.pk}"' in detail
    assert reverse("console:maintenance_retry", args=[message.pk]) not in detail  # retried: no second Retry
    # The run it started did not write the records: Retry does not say Succeeded.
    assert "Not connected; the problem is not resolved yet" in detail and "Succeeded" not in detail

    response = client.post(reverse("console:maintenance_retry", args=[message.pk]))
    assert response.status_code == 302 and SyncRun.objects.count() == 1
    assert "retried already" in client.get(response.url).content.decode()


def test_retry_is_not_offered_for_a_message_without_a_client_and_refused_for_an_inactive_one(client, alice):
    plain = _message("No client here.")
    gone = CampaignMonitorClient.objects.create(cm_client_id="c3", name="Gone", active=False)
    inactive = _message("Inactive client.", client_id=gone.pk)
    client.force_login(alice)
    detail = client.get(reverse("console:maintenance_message", args=[plain.pk])).content.decode()
    assert reverse("console:maintenance_retry", args=[plain.pk]) not in detail
    for message, reason in ((plain, "nothing to retry"), (inactive, "no longer active and selected")):
        response = client.post(reverse("console:maintenance_retry", args=[message.pk]))
        assert reason in client.get(response.url).content.decode()
        message.refresh_from_db()
        assert message.retried_at is None
    assert not SyncRun.objects.exists() and not AuditEntry.objects.exists()


# -- support codes -------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", sorted(support_codes.CODES))
def test_every_registered_support_code_has_its_page(client, bob, code):
    client.force_login(bob)
    entry = support_codes.CODES[code]
    page = client.get(reverse("console:maintenance_support", args=[code])).content.decode()
    assert escape(entry.title) in page and escape(entry.action) in page and escape(entry.meaning) in page
    assert "has no page of its own" not in page


def test_every_code_cmsf_records_is_registered():
    import pathlib
    import re

    import cmsf

    source = pathlib.Path(cmsf.__file__).parent
    literal = re.compile(r'"(CMSF-[A-Z][A-Z-]+)"')
    found = {code for path in source.rglob("*.py") for code in literal.findall(path.read_text())}
    found -= {"CMSF-SF-"}
    assert {"CMSF-API-BUDGET", "CMSF-RECONNECT", "CMSF-SYNC-FAILED"} <= found
    assert found <= set(support_codes.CODES), found - set(support_codes.CODES)


@pytest.mark.parametrize("code", ["CMSF-TEST", "CMSF-SF-SOME_NEW_ERROR"])
def test_a_code_on_a_message_that_is_not_registered_gets_a_general_page(client, bob, code):
    message = _message("An unusual problem.", code=code)
    client.force_login(bob)
    detail = client.get(reverse("console:maintenance_message", args=[message.pk])).content.decode()
    url = reverse("console:maintenance_support", args=[code])
    assert f'href="{url}"' in detail
    response = client.get(url)
    assert response.status_code == 200
    page = response.content.decode()
    assert "has no page of its own" in page and "An unusual problem." in page
    if code.startswith("CMSF-SF-"):
        assert "SOME_NEW_ERROR" in page and "not in cmsf&#x27;s ledger" in page


# -- audit log --------------------------------------------------------------------------------------------


def _entry(actor: str, section: str, action: str, when: datetime) -> AuditEntry:
    entry = audit(actor=actor, section=section, action=action, before={"value": 1}, after={"value": 2})
    AuditEntry.objects.filter(pk=entry.pk).update(created_at=when)
    return entry


def test_the_audit_log_filters_by_user_section_and_dates(client, bob):
    tz = timezone.get_current_timezone()
    _entry("alice@example.com", "Sync Settings", "Action A", datetime(2026, 3, 1, 12, tzinfo=tz))
    _entry("alice@example.com", "Maintenance", "Action B", datetime(2026, 3, 5, 12, tzinfo=tz))
    _entry("dave@example.com", "Maintenance", "Action C", datetime(2026, 3, 9, 12, tzinfo=tz))
    client.force_login(bob)
    url = reverse("console:maintenance_audit")

    def shown(**query) -> set[str]:
        page = client.get(url, query).content.decode()
        return {name for name in ("Action A", "Action B", "Action C") if name in page}

    assert shown() == {"Action A", "Action B", "Action C"}
    assert shown(actor="alice@example.com") == {"Action A", "Action B"}
    assert shown(section="Maintenance") == {"Action B", "Action C"}
    assert shown(actor="alice@example.com", section="Maintenance") == {"Action B"}
    assert shown(date_from="2026-03-05") == {"Action B", "Action C"}
    assert shown(date_to="2026-03-05") == {"Action A", "Action B"}
    assert shown(date_from="2026-03-02", date_to="2026-03-08") == {"Action B"}
    page = client.get(url).content.decode()
    assert "value:</span> 1" in page and "value:</span> 2" in page  # before and after, readably


def test_a_bad_date_is_an_error_next_to_the_field_with_the_typed_value_kept(client, bob):
    _entry("alice@example.com", "Sync Settings", "Action A", timezone.now())
    client.force_login(bob)
    page = client.get(reverse("console:maintenance_audit"), {"date_from": "2026-02-31"}).content.decode()
    assert "slds-has-error" in page and "Enter the first day to show as a date, such as 2025-01-31." in page
    assert 'value="2026-02-31"' in page and "Action A" not in page
    page = client.get(reverse("console:maintenance_audit"), {"date_from": "2026-03-09", "date_to": "2026-03-01"})
    assert "The end date must be on or after the start date." in page.content.decode()


def test_the_audit_log_is_paginated_and_keeps_its_filter_across_pages(client, bob):
    for number in range(30):
        audit(actor="alice@example.com", section="Maintenance", action=f"Change {number:02d}", before={}, after={})
    client.force_login(bob)
    page = client.get(reverse("console:maintenance_audit"), {"section": "Maintenance"}).content.decode()
    assert "section=Maintenance&amp;page=2" in page and "Change 29" in page and "Change 00" not in page


def test_audit_values_are_shown_readably():
    entry = AuditEntry(before={"sync_enabled": True, "notification_email": ""}, after={"sync_enabled": False})
    assert entry.changes() == [("sync enabled", "Yes", "No"), ("notification email", "(blank)", "—")]


# -- the cog page: notification email ----------------------------------------------------------------


def test_the_notification_email_is_saved_audited_and_a_new_message_emails_it(
    client, alice, immediate_queue, django_capture_on_commit_callbacks
):
    client.force_login(alice)
    response = client.post(reverse("console:maintenance_notification_email"), {"notification_email": "ops@example.com"})
    assert response.status_code == 302
    assert MaintenanceSettings.load().notification_email == "ops@example.com"
    entry = AuditEntry.objects.get()
    assert entry.before == {"notification_email": ""} and entry.after == {"notification_email": "ops@example.com"}
    assert 'value="ops@example.com"' in client.get(reverse("console:maintenance_settings")).content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        record_message(support_code="CMSF-API-BUDGET", job="CMSF_SYNC", message="Stopped at the API budget.",
                       guidance=support_codes.guidance("CMSF-API-BUDGET"))  # fmt: skip
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["ops@example.com"] and "CMSF-API-BUDGET" in mail.outbox[0].subject


def test_a_bad_notification_email_keeps_the_typed_value_and_saves_nothing(client, alice):
    MaintenanceSettings.objects.update_or_create(pk=1, defaults={"notification_email": "old@example.com"})
    client.force_login(alice)
    response = client.post(reverse("console:maintenance_notification_email"), {"notification_email": "not an email"})
    page = response.content.decode()
    assert response.status_code == 400
    assert "slds-has-error" in page and "Enter the notification email as an email address, such as" in page
    assert 'value="not an email"' in page
    assert MaintenanceSettings.load().notification_email == "old@example.com"
    assert not AuditEntry.objects.exists()


# -- the cog page: internal governor limits ----------------------------------------------------------------


def _sizes(**changes: int | str) -> dict[str, int | str]:
    return {code: changes.get(code, job.default_batch_size) for code, job in JOBS.items()}


def test_every_job_is_listed_with_its_description_default_and_current_size(client, bob):
    GovernorLimit.objects.create(job="CMSF_EMAIL_OPT_OUT", batch_size=50)
    client.force_login(bob)
    page = client.get(reverse("console:maintenance_settings")).content.decode()
    for code, job in JOBS.items():
        assert f'data-job="{code}"' in page and escape(job.description) in page
        assert f'max="{job.max_batch_size}"' in page
    assert 'data-testid="current-CMSF_EMAIL_OPT_OUT">50' in page
    assert 'data-testid="current-CMSF_SUBSCRIBER_SYNC">10,000' in page


def test_governor_limits_are_saved_and_audited(client, alice):
    client.force_login(alice)
    response = client.post(reverse("console:maintenance_governor_limits"),
                           _sizes(CMSF_EMAIL_OPT_OUT=50, CMSF_TRACKING_SYNC=2000))  # fmt: skip
    assert response.status_code == 302
    assert GovernorLimit.batch_size_for("CMSF_EMAIL_OPT_OUT") == 50
    assert GovernorLimit.batch_size_for("CMSF_TRACKING_SYNC") == 2000
    assert GovernorLimit.objects.count() == 2  # jobs left on their default keep no row
    entry = AuditEntry.objects.get()
    assert entry.action == "Change internal governor limits"
    assert entry.before == {"CMSF_EMAIL_OPT_OUT": 200, "CMSF_TRACKING_SYNC": 10_000}
    assert entry.after == {"CMSF_EMAIL_OPT_OUT": 50, "CMSF_TRACKING_SYNC": 2000}
    # Saving the same sizes again changes nothing and audits nothing.
    client.post(reverse("console:maintenance_governor_limits"), _sizes(CMSF_EMAIL_OPT_OUT=50, CMSF_TRACKING_SYNC=2000))
    assert AuditEntry.objects.count() == 1


@pytest.mark.parametrize("bad", [0, 1001, "-3", "many"])
def test_a_bad_batch_size_saves_nothing_and_keeps_what_was_typed(client, alice, bad):
    client.force_login(alice)
    response = client.post(reverse("console:maintenance_governor_limits"),
                           _sizes(CMSF_EMAIL_OPT_OUT=50, CMSF_IMPORT_WIZARD=bad))  # fmt: skip
    page = response.content.decode()
    assert response.status_code == 400
    assert not GovernorLimit.objects.exists() and not AuditEntry.objects.exists()
    assert f'id="id_CMSF_IMPORT_WIZARD" value="{bad}"' in page and 'id="id_CMSF_EMAIL_OPT_OUT" value="50"' in page
    start = page.index('data-job="CMSF_IMPORT_WIZARD"')
    row = page[start : page.index("</tr>", start)]
    assert "slds-has-error" in row
    if isinstance(bad, int):
        assert "The batch size of CMSF_IMPORT_WIZARD must be from 1 to 1000." in row
    assert "slds-has-error" not in page[page.index('data-job="CMSF_EMAIL_OPT_OUT"') : start]


def test_reset_to_default(client, alice):
    GovernorLimit.objects.create(job="CMSF_EMAIL_OPT_OUT", batch_size=50)
    client.force_login(alice)
    page = client.get(reverse("console:maintenance_settings")).content.decode()
    reset = reverse("console:maintenance_reset_limit", args=["CMSF_EMAIL_OPT_OUT"])
    assert reset in page and reverse("console:maintenance_reset_limit", args=["CMSF_CLIENT_SYNC"]) not in page
    assert client.post(reset).status_code == 302
    assert GovernorLimit.batch_size_for("CMSF_EMAIL_OPT_OUT") == 200 and not GovernorLimit.objects.exists()
    entry = AuditEntry.objects.get()
    assert entry.action == "Reset internal governor limit to default"
    assert entry.before == {"CMSF_EMAIL_OPT_OUT": 50} and entry.after == {"CMSF_EMAIL_OPT_OUT": 200}
    response = client.post(reverse("console:maintenance_reset_limit", args=["NO_SUCH_JOB"]))
    assert "There is no job NO_SUCH_JOB." in client.get(response.url).content.decode()


def test_the_audit_log_names_sections_by_their_labels_and_the_command_line_as_one_actor(client, bob):
    audit(actor="cli:upgrade", section="installation", action="Upgrade", before={}, after={})
    audit(actor="cli:alice", section="configuration", action="Import the configuration", before={}, after={})
    audit(actor="cli:init", section="sync", action="Store the public URL", before={}, after={})
    audit(actor="alice@example.com", section="general_options", action="Change the General Options", before={},
          after={})  # fmt: skip
    client.force_login(bob)
    url = reverse("console:maintenance_audit")
    page = client.get(url)
    html = page.content.decode()
    actors = page.context["form"].fields["actor"].choices
    assert [label for value, label in actors].count("Command line") == 1
    assert ("cli:", "Command line") in actors and not any(
        value.startswith("cli:") and value != "cli:" for value, _ in actors
    )
    assert AUDIT_SECTION_LABELS["field_mappings"] == "Field Mappings"
    sections = dict(page.context["form"].fields["section"].choices)
    assert sections["general_options"] == "General Options" and sections["sync"] == "Sync Settings"
    assert sections["installation"].startswith("Installation")
    assert 'data-testid="audit-section">General Options<' in html and ">general_options<" not in html
    assert 'data-testid="audit-actor">Command line <span class="slds-text-color_weak">(upgrade)</span>' in html
    assert "cli:upgrade" not in html
    # One actor to filter by, whatever ran it; the stored values stay as they were.
    shown = client.get(url, {"actor": "cli:"}).content.decode()
    assert all(name in shown for name in ("Upgrade", "Import the configuration", "Store the public URL"))
    assert "Change the General Options" not in shown
    assert set(AuditEntry.objects.values_list("actor", flat=True)) == {"cli:upgrade", "cli:alice", "cli:init",
                                                                        "alice@example.com"}  # fmt: skip
    only = client.get(url, {"section": "general_options"}).content.decode()
    assert "Change the General Options" in only and "Upgrade<" not in only
