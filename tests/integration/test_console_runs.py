"""Run history in the console: every kind of run, filtered by client and outcome, a page for each run with its counts
and problems, the progress of a running one, and Sync now for one client."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from cmsf.audience.models import ImportRun, ImportWizard
from cmsf.connections.models import CampaignMonitorClient
from cmsf.maintenance.models import MaintenanceMessage
from cmsf.sync.models import SyncRun, WatchRun


@pytest.fixture
def history(db):
    """Two clients, and runs of every kind: syncs that succeeded, met problems, failed and wait in the queue, a watcher
    run, and an import wizard's run."""
    now = timezone.now()
    acme = CampaignMonitorClient.objects.create(cm_client_id="c-acme", name="Acme", selected=True, active=True)
    zeta = CampaignMonitorClient.objects.create(cm_client_id="c-zeta", name="Zeta", selected=True, active=True)
    good = SyncRun.objects.create(
        client=acme,
        status=SyncRun.Status.SUCCEEDED,
        started_at=now - timedelta(hours=3),
        finished_at=now - timedelta(hours=3) + timedelta(seconds=42),
        read={"subscribers:active": 120, "campaigns": 4},
        written={"CMSF_Subscriber__c": 118, "CMSF_Campaign__c": 4},
        skipped={"CMSF_Subscriber__c": 2},
        cm_calls=17,
        sf_calls=9,
    )
    refused = SyncRun.objects.create(
        client=acme,
        status=SyncRun.Status.PROBLEMS,
        started_at=now - timedelta(hours=2),
        finished_at=now - timedelta(hours=2) + timedelta(seconds=30),
        read={"subscribers:active": 50},
        written={"CMSF_Subscriber__c": 47},
        failed={"CMSF_Subscriber__c": 3},
        deleted={"CMSF_Email_Activity__c": 11},
        cm_calls=8,
        sf_calls=5,
        message="3 records could not be written",
    )
    told = MaintenanceMessage.objects.create(
        support_code="CMSF-SF-FIELD_CUSTOM_VALIDATION_EXCEPTION",
        job="CMSF_SUBSCRIBER_SYNC",
        client=acme,
        subject="CMSF_Subscriber__c",
        message="3 CMSF_Subscriber__c records of client Acme not written: a validation rule refused them",
        last_seen_at=refused.started_at + timedelta(seconds=20),
    )
    MaintenanceMessage.objects.filter(pk=told.pk).update(created_at=refused.started_at + timedelta(seconds=20))
    other_client = MaintenanceMessage.objects.create(
        support_code="CMSF-SYNC-FAILED", job="CMSF_SYNC", client=zeta, message="The sync of Zeta failed."
    )
    failed = SyncRun.objects.create(
        client=zeta,
        status=SyncRun.Status.FAILED,
        started_at=now - timedelta(hours=1),
        finished_at=now - timedelta(hours=1) + timedelta(seconds=3),
        message="Campaign Monitor refused the API key: reconnect",
    )
    queued = SyncRun.objects.create(client=zeta)
    watch = WatchRun.objects.create(
        started_at=now - timedelta(minutes=30),
        finished_at=now - timedelta(minutes=30) + timedelta(seconds=2),
        status=WatchRun.Status.SUCCEEDED,
        read={"Contact": 5, "Lead": 1},
        done={"unsubscribed": 2},
        problems=[{"key": "Contact 003000000000001", "reason": "Campaign Monitor refused the address"}],
        sf_calls=4,
        cm_calls=2,
    )
    wizard = ImportWizard.objects.create(
        name="Event leads", client=zeta, list_id="list-1", campaign_id="701000000000001"
    )
    imported = ImportRun.objects.create(
        wizard=wizard,
        status=ImportRun.Status.SUCCEEDED,
        started_at=now - timedelta(minutes=10),
        finished_at=now - timedelta(minutes=9),
        read=30,
        imported=28,
        cm_calls=1,
        sf_calls=2,
    )
    return {
        "acme": acme,
        "zeta": zeta,
        "good": good,
        "refused": refused,
        "told": told,
        "other_client": other_client,
        "failed": failed,
        "queued": queued,
        "watch": watch,
        "imported": imported,
    }


def _rows(response) -> list[tuple[str, int]]:
    """(kind, id) of each run listed, in the order shown."""
    import re

    html = response.content.decode()
    return [(kind, int(pk)) for kind, pk in re.findall(r'data-kind="(\w+)" data-run="(\d+)"', html)]


def test_the_history_lists_every_kind_of_run_newest_first_with_its_counts_and_calls(client, bob, history):
    client.force_login(bob)  # CM User Access sees the history
    response = client.get(reverse("console:runs"))
    assert response.status_code == 200
    assert _rows(response) == [
        ("sync", history["queued"].pk),  # not started yet: on top
        ("import", history["imported"].pk),
        ("watch", history["watch"].pk),
        ("sync", history["failed"].pk),
        ("sync", history["refused"].pk),
        ("sync", history["good"].pk),
    ]
    html = response.content.decode()
    assert "Succeeded with problems" in html and "Failed" in html and "Queued" in html
    assert "42.0 s" in html  # the duration of the good run
    assert "9 Salesforce, 17 Campaign Monitor" in html  # its API calls
    assert "Event leads" in html and "Salesforce watcher" in html
    assert reverse("console:run", args=[history["good"].pk]) in html
    assert reverse("console:watch_run", args=[history["watch"].pk]) in html
    assert reverse("console:imports_run_page", args=[history["imported"].pk]) in html


def test_the_history_filters_by_client_and_by_outcome(client, bob, history):
    client.force_login(bob)
    acme = client.get(reverse("console:runs"), {"client": history["acme"].pk})
    assert acme.status_code == 200
    assert _rows(acme) == [("sync", history["refused"].pk), ("sync", history["good"].pk)]
    zeta = client.get(reverse("console:runs"), {"client": history["zeta"].pk})
    assert _rows(zeta) == [
        ("sync", history["queued"].pk),
        ("import", history["imported"].pk),
        ("sync", history["failed"].pk),
    ]
    problems = client.get(reverse("console:runs"), {"outcome": "problems"})
    assert _rows(problems) == [("watch", history["watch"].pk), ("sync", history["refused"].pk)]
    succeeded = client.get(reverse("console:runs"), {"outcome": "succeeded"})
    assert _rows(succeeded) == [("import", history["imported"].pk), ("sync", history["good"].pk)]
    both = client.get(reverse("console:runs"), {"client": history["zeta"].pk, "outcome": "failed"})
    assert _rows(both) == [("sync", history["failed"].pk)]
    nothing = client.get(reverse("console:runs"), {"client": history["acme"].pk, "outcome": "stopped"})
    assert (
        nothing.status_code == 200
        and _rows(nothing) == []
        and "No run matches these filters" in (nothing.content.decode())
    )


@pytest.mark.parametrize(
    "query",
    [
        {"client": "acme"},
        {"client": "999999"},
        {"client": "-1"},
        {"client": "9" * 40},
        {"outcome": "bogus"},
        {"outcome": "SUCCEEDED"},
        {"page": "0"},
        {"page": "two"},
        {"page": "9" * 40},
    ],
)
def test_a_bad_filter_is_a_400_that_says_which_value(client, bob, history, query):
    client.force_login(bob)
    response = client.get(reverse("console:runs"), query)
    assert response.status_code == 400
    html = response.content.decode()
    assert 'data-testid="filter-error"' in html and "Unknown" in html
    assert 'data-testid="runs"' not in html


def test_the_history_is_paged(client, bob, history):
    acme = history["acme"]
    start = timezone.now() - timedelta(days=2)
    SyncRun.objects.bulk_create(
        SyncRun(client=acme, status=SyncRun.Status.SUCCEEDED, started_at=start - timedelta(minutes=i))
        for i in range(60)
    )
    client.force_login(bob)
    first = client.get(reverse("console:runs"), {"client": acme.pk})
    second = client.get(reverse("console:runs"), {"client": acme.pk, "page": 2})
    assert len(_rows(first)) == 50 and len(_rows(second)) == 12
    assert not set(_rows(first)) & set(_rows(second))
    assert f"client={acme.pk}&amp;page=2" in first.content.decode()  # Next keeps the filter
    assert client.get(reverse("console:runs"), {"client": acme.pk, "page": 3}).status_code == 404


def test_a_run_page_shows_its_counts_per_object_calls_and_the_problems_it_met(client, bob, history):
    client.force_login(bob)
    response = client.get(reverse("console:run", args=[history["refused"].pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert (
        'data-object="CMSF_Subscriber__c"><td>Subscriber List Members</td><td>47</td><td>0</td><td>3</td><td>0</td>'
        in html
    )
    assert (
        'data-object="CMSF_Email_Activity__c"><td>Email Tracking History</td><td>0</td><td>0</td><td>0</td><td>11</td>'
        in (html)
    )
    assert "<td>subscribers:active</td><td>50</td>" in html
    assert "5 Salesforce, 8 Campaign Monitor" in html
    assert "Succeeded with problems: 3 records could not be written" in html
    told = history["told"]
    assert f'data-message="{told.pk}"' in html
    assert reverse("console:maintenance_message", args=[told.pk]) in html
    assert reverse("console:maintenance_support", args=[told.support_code]) in html
    assert f'data-message="{history["other_client"].pk}"' not in html  # another client's problem
    assert 'hx-trigger="every 1s"' not in html  # it has ended: nothing polls
    assert "Sync Acme now" not in html  # CM User Access cannot start one


def test_a_run_that_met_no_problem_links_no_message(client, bob, history):
    client.force_login(bob)
    html = client.get(reverse("console:run", args=[history["good"].pk])).content.decode()
    assert "<td>Subscriber List Members</td><td>118</td><td>2</td><td>0</td><td>0</td>" in html
    assert 'data-message="' not in html and "42.0 s" in html


def test_a_watcher_run_page_shows_what_it_read_did_and_could_not_handle(client, bob, history):
    client.force_login(bob)
    seen = history["watch"].finished_at
    watched = MaintenanceMessage.objects.create(
        support_code="CMSF-WATCH-RECORDS",
        job="CMSF_SF_WATCHER",
        message="1 Salesforce change could not be handled",
        last_seen_at=seen,
    )
    MaintenanceMessage.objects.filter(pk=watched.pk).update(created_at=seen)
    later = MaintenanceMessage.objects.create(  # told after the run ended: not this run's
        support_code="CMSF-WATCH-FAILED", job="CMSF_SF_WATCHER", message="The watcher failed"
    )
    html = client.get(reverse("console:watch_run", args=[history["watch"].pk])).content.decode()
    assert "<td>Contact</td><td>5</td>" in html and "<td>unsubscribed</td><td>2</td>" in html
    assert "Contact 003000000000001" in html and "Campaign Monitor refused the address" in html
    assert "4 Salesforce, 2 Campaign Monitor" in html
    assert reverse("console:maintenance_message", args=[watched.pk]) in html
    assert reverse("console:maintenance_message", args=[later.pk]) not in html


def test_the_progress_of_a_running_run_polls_until_it_ends(client, bob, history):
    run = history["queued"]
    client.force_login(bob)
    url = reverse("console:run_progress", args=[run.pk])
    page = client.get(reverse("console:run", args=[run.pk])).content.decode()
    assert f'hx-get="{url}"' in page and 'data-running="true"' in page
    SyncRun.objects.filter(pk=run.pk).update(
        status=SyncRun.Status.RUNNING, started_at=timezone.now(), read={"subscribers:active": 7}
    )
    running = client.get(url).content.decode()
    assert 'hx-trigger="every 1s"' in running and "Running" in running and "7 read" in running
    SyncRun.objects.filter(pk=run.pk).update(status=SyncRun.Status.SUCCEEDED, finished_at=timezone.now())
    SyncRun.objects.filter(pk=run.pk).update(written={"CMSF_Subscriber__c": 3}, skipped={"CMSF_Subscriber__c": 2})
    ended = client.get(url).content.decode()
    assert "hx-trigger" not in ended and 'data-outcome="succeeded"' in ended and "Refresh the page" not in ended
    # the result in place: the counts per object, by label, and the problems table
    assert '<tr data-object="CMSF_Subscriber__c"><td>Subscriber List Members</td><td>3</td><td>2</td>' in ended
    assert 'data-testid="run-messages"' in ended


def test_unknown_runs_are_404(client, bob, history):
    client.force_login(bob)
    for name in ("console:run", "console:run_progress", "console:watch_run"):
        assert client.get(reverse(name, args=[987654])).status_code == 404


def test_the_sync_settings_page_links_the_history_and_each_clients_runs(client, bob, history):
    client.force_login(bob)
    html = client.get(reverse("console:home")).content.decode()
    assert f'href="{reverse("console:runs")}"' in html
    assert f'href="{reverse("console:runs")}?client={history["acme"].pk}"' in html
    assert reverse("console:sync_client_now", args=[history["acme"].pk]) not in html  # a viewer gets no button


def test_user_access_cannot_sync_one_client(client, bob, history):
    client.force_login(bob)
    response = client.post(reverse("console:sync_client_now", args=[history["acme"].pk]))
    assert response.status_code == 403
    assert SyncRun.objects.count() == 4


def test_sync_now_for_one_client_is_refused_while_nothing_is_connected(client, alice, history):
    client.force_login(alice)
    response = client.post(reverse("console:sync_client_now", args=[history["acme"].pk]), follow=True)
    assert "Sync now cannot run" in response.content.decode()
    assert SyncRun.objects.count() == 4


@pytest.fixture
def connected(start_emulators, request):
    """Both emulators over TLS, connected as an admin would, then the queue running its tasks at once."""
    running = start_emulators(33)
    request.getfixturevalue("immediate_queue")
    return running.world


@pytest.mark.django_db(transaction=True)
def test_sync_now_for_one_client_runs_that_client_only(client, alice, connected):
    chosen, other = CampaignMonitorClient.objects.filter(selected=True, active=True).order_by("name")[:2]
    client.force_login(alice)
    home = client.get(reverse("console:home")).content.decode()
    assert reverse("console:sync_client_now", args=[chosen.pk]) in home  # each client's row offers it
    response = client.post(reverse("console:sync_client_now", args=[chosen.pk]))
    run = SyncRun.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("console:run", args=[run.pk])
    assert run.client_id == chosen.pk and run.client_id != other.pk
    assert run.status == SyncRun.Status.SUCCEEDED, run.message
    assert run.records_read > 0 and run.records_written > 0 and run.sf_calls > 0 and run.cm_calls > 0
    page = client.get(response["Location"]).content.decode()
    assert "Succeeded" in page and 'data-object="CMSF_Subscriber__c"' in page
    listed = client.get(reverse("console:runs"), {"client": other.pk})
    assert _rows(listed) == []


@pytest.mark.django_db(transaction=True)
def test_sync_now_for_a_client_left_out_of_the_sync_starts_nothing(client, alice, connected):
    left_out = CampaignMonitorClient.objects.order_by("name").first()
    CampaignMonitorClient.objects.filter(pk=left_out.pk).update(selected=False)
    client.force_login(alice)
    response = client.post(reverse("console:sync_client_now", args=[left_out.pk]), follow=True)
    assert "is not synced: select it under Sync Settings first" in response.content.decode()
    assert not SyncRun.objects.exists()


def test_an_import_runs_page_links_the_maintenance_message_it_told(client, bob, history):
    run = history["imported"]
    ImportRun.objects.filter(pk=run.pk).update(
        status=ImportRun.Status.PARTIAL, failed=2, problems=[{"key": "x@example.com", "reason": "refused"}]
    )
    seen = run.finished_at
    told = MaintenanceMessage.objects.create(
        support_code="CMSF-IMPORT-RECORDS",
        job="CMSF_IMPORT_WIZARD",
        subject=f"import wizard {run.wizard_id}",
        message="The import wizard Event leads could not import 2 records",
        last_seen_at=seen,
    )
    MaintenanceMessage.objects.filter(pk=told.pk).update(created_at=seen)
    other = MaintenanceMessage.objects.create(  # another wizard's
        support_code="CMSF-IMPORT-RECORDS",
        job="CMSF_IMPORT_WIZARD",
        subject="import wizard 999",
        message="Another wizard",
        last_seen_at=seen,
    )
    MaintenanceMessage.objects.filter(pk=other.pk).update(created_at=seen)
    client.force_login(bob)
    html = client.get(reverse("console:imports_run_page", args=[run.pk])).content.decode()
    assert reverse("console:maintenance_message", args=[told.pk]) in html
    assert reverse("console:maintenance_message", args=[other.pk]) not in html
    listed = client.get(reverse("console:runs"), {"outcome": "problems"})
    assert ("import", run.pk) in _rows(listed)
