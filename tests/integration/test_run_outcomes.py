"""Outcomes that tell the truth, against both emulators over TLS: a problem a sync meets again is one maintenance
message with a count, it resolves itself once a run no longer meets it, the run and Sync Settings say "succeeded with
problems" while records are refused, and a disconnected installation reads as disconnected."""

from __future__ import annotations

import json

import pytest
from django.core import mail
from django.urls import reverse

from cmsf import cli
from cmsf.cli.status import status_document
from cmsf.connections.models import CampaignMonitorClient
from cmsf.maintenance.models import MaintenanceMessage, MaintenanceSettings
from cmsf.maintenance.selectors import new_message_count
from cmsf.maintenance.services import record_message, resolve_cleared
from cmsf.sync import clients as sync_clients
from cmsf.sync import services as sync
from cmsf.sync.models import SyncRun, SyncSettings, SyncStatus

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_problem_met_again_is_one_message_with_a_count_and_one_email(
    settings, immediate_queue, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    MaintenanceSettings.objects.update_or_create(pk=1, defaults={"notification_email": "admin@example.org"})
    client = CampaignMonitorClient.objects.create(cm_client_id="c1", name="One")
    with django_capture_on_commit_callbacks(execute=True):
        first = record_message(support_code="CMSF-SF-X", job="CMSF_SUBSCRIBER_SYNC", message="3 not written",
                               details="a\nb\nc", client_id=client.pk, subject="CMSF_Subscriber__c")  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        again = record_message(support_code="CMSF-SF-X", job="CMSF_SUBSCRIBER_SYNC", message="2 not written",
                               details="d\ne", client_id=client.pk, subject="CMSF_Subscriber__c")  # fmt: skip
    assert again.pk == first.pk and MaintenanceMessage.objects.count() == 1
    again.refresh_from_db()
    assert again.occurrences == 2 and again.message == "2 not written" and again.details == "d\ne"
    assert again.last_seen_at > again.created_at
    assert len(mail.outbox) == 1  # the problem was told once
    assert new_message_count() == 1
    # Another subject, client or code is another problem.
    record_message(support_code="CMSF-SF-X", job="CMSF_SUBSCRIBER_SYNC", message="m", client_id=client.pk,
                   subject="CMSF_List__c")  # fmt: skip
    record_message(support_code="CMSF-SF-X", job="CMSF_SUBSCRIBER_SYNC", message="m", subject="CMSF_Subscriber__c")
    assert MaintenanceMessage.objects.count() == 3 and new_message_count() == 3


def test_a_message_resolves_itself_when_a_later_run_of_its_job_no_longer_meets_it():
    from django.utils import timezone

    client = CampaignMonitorClient.objects.create(cm_client_id="c1", name="One")
    old = record_message(support_code="CMSF-A", job="CMSF_SUBSCRIBER_SYNC", message="old", client_id=client.pk)
    other_job = record_message(support_code="CMSF-A", job="CMSF_IMPORT_WIZARD", message="x", client_id=client.pk)
    notice = record_message(support_code="CMSF-N", job="CMSF_SUBSCRIBER_SYNC", message="cmsf did x", severity="info",
                            client_id=client.pk)  # fmt: skip
    since = timezone.now()
    still = record_message(support_code="CMSF-B", job="CMSF_SUBSCRIBER_SYNC", message="still", client_id=client.pk)
    assert resolve_cleared(jobs=["CMSF_SUBSCRIBER_SYNC"], client_id=client.pk, since=since) == 1
    old.refresh_from_db(), still.refresh_from_db(), other_job.refresh_from_db()
    assert old.resolved_at is not None and still.resolved_at is None and other_job.resolved_at is None
    notice.refresh_from_db()
    assert notice.resolved_at is None  # an event told, not a problem that goes on: it waits to be acknowledged
    assert new_message_count() == 3
    # Met again after it resolved: a new message (the resolved one stays as history).
    new = record_message(support_code="CMSF-A", job="CMSF_SUBSCRIBER_SYNC", message="back", client_id=client.pk)
    assert new.pk != old.pk and new.occurrences == 1


@pytest.fixture
def synced(start_emulators):
    return start_emulators(41)


def _sync_exit(capsys) -> tuple[int, list[dict]]:
    code = cli.main(["sync", "--json"])
    return code, json.loads(capsys.readouterr().out)["runs"]


def test_refused_records_are_succeeded_with_problems_one_message_with_a_count_then_resolved(
    synced, client, alice, capsys
):
    # Salesforce refuses every campaign row: a field cmsf writes is missing from the org.
    synced.sf_admin("POST", "/schema/remove-field", json={"object": "CMSF_Campaign__c", "field": "Recipients__c"})
    code, runs = _sync_exit(capsys)
    assert code == 3 and {run["status"] for run in runs} == {"problems"}
    assert all(run["failed"].get("CMSF_Campaign__c") for run in runs)
    settings = SyncSettings.load()
    assert settings.last_status == SyncStatus.PROBLEMS and "could not be written" in settings.last_status_message
    # One message per client and object (the campaigns, and the tracking history that needs them).
    refused = MaintenanceMessage.objects.filter(support_code="CMSF-SF-INVALID_FIELD")
    assert refused.filter(subject="CMSF_Campaign__c").count() == len(runs)
    assert {m.occurrences for m in refused.all()} == {1}
    told = refused.count()
    # The message, and so its email, tells the run's outcome above the records.
    assert all(m.details.startswith("The run: Succeeded with problems (") for m in refused.all())

    code, runs = _sync_exit(capsys)  # the same problem again: the same messages, counted
    assert code == 3
    assert refused.count() == told and {m.occurrences for m in refused.all()} == {2}
    assert new_message_count() == told
    client.force_login(alice)
    page = client.get(reverse("console:home")).content.decode()
    assert 'data-status="problems"' in page and "Succeeded with problems" in page
    page = client.get(reverse("console:maintenance")).content.decode()
    assert page.count("2 times") == told

    synced.sf_admin("POST", "/schema/reset")  # fixed: the next run writes the rows and resolves the messages
    code, runs = _sync_exit(capsys)
    assert code == 0 and {run["status"] for run in runs} == {"succeeded"}
    assert all(m.resolved_at is not None for m in refused.all()) and new_message_count() == 0
    assert SyncSettings.load().last_status == SyncStatus.SUCCEEDED
    page = client.get(reverse("console:maintenance")).content.decode()
    assert "Resolved" in page
    status = status_document()["sync"]
    assert status["last_status"] == "succeeded" and status["last_status_label"] == "Succeeded"


def test_after_disconnect_the_installation_reads_as_disconnected_and_sync_now_is_refused(synced, client, alice):
    for each in sync.clients_to_sync():
        sync.sync_client(client=each)
    assert SyncSettings.load().last_status == SyncStatus.SUCCEEDED
    sync_clients.disconnect(actor="test")
    client.force_login(alice)
    page = client.get(reverse("console:home")).content.decode()
    assert 'data-status="not_connected"' in page and "Campaign Monitor is not connected" in page
    assert "Succeeded" not in page and "On, but nothing runs" in page
    assert "disabled" in page.split("Sync now</button>")[0].rsplit("<button", 1)[1]
    clients = page.split("Campaign Monitor Clients")[1]
    assert clients.count("<td>Not connected</td>") == CampaignMonitorClient.objects.count()  # none reads as active
    runs = SyncRun.objects.count()
    response = client.post(reverse("console:sync_now"), follow=True)
    assert "Sync now cannot run: Campaign Monitor is not connected" in response.content.decode()
    assert SyncRun.objects.count() == runs
    from django.utils import timezone

    assert sync.due_clients(timezone.now()) == []  # and no scheduled run starts, to fail
    status = status_document()["sync"]
    assert status["last_status"] == "not_connected" and "not connected" in status["last_status_message"]
    assert cli.main(["sync"]) == 2
