"""Sync now from the console: one queued job per selected client, and their progress as an htmx fragment."""

from __future__ import annotations

import pytest
from django.urls import reverse

from cmsf.connections.models import CampaignMonitorClient
from cmsf.sync.models import SyncRun

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def connected(start_emulators, request):
    """Both emulators over TLS, connected as an admin would, then the queue running its tasks at once."""
    running = start_emulators(33)
    request.getfixturevalue("immediate_queue")
    return running.world


def test_sync_now_queues_every_selected_client_and_the_fragment_shows_them_finished(client, alice, connected):
    client.force_login(alice)
    response = client.post(reverse("console:sync_now"), headers={"HX-Request": "true"})
    assert response.status_code == 200
    runs = list(SyncRun.objects.order_by("id"))
    assert {run.client_id for run in runs} == set(CampaignMonitorClient.objects.values_list("pk", flat=True))
    assert all(run.status == SyncRun.Status.SUCCEEDED for run in runs), [run.message for run in runs]
    html = response.content.decode()
    assert 'id="sync-progress"' in html and 'data-running="false"' in html and "hx-trigger" not in html
    # the result in place of the progress: each client's outcome, its counts per object by label, the sync status
    assert "Sync now finished: Succeeded." in html and "Refresh the page" not in html
    assert html.count('data-outcome="succeeded"') == len(runs) + 1  # each run's row and the summary
    assert 'id="sync-result" hx-swap-oob="innerHTML"' in html and "Subscriber List Members: " in html
    assert 'id="sync-status" data-testid="sync-status" data-status="succeeded" hx-swap-oob="true"' in html
    assert all(run.records_read > 0 and run.records_written > 0 for run in runs)


def test_sync_now_refused_in_a_fragment_tells_it_in_a_toast(client, alice):
    client.force_login(alice)  # nothing is connected
    response = client.post(reverse("console:sync_now"), headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200 and 'id="sync-progress"' in html and not SyncRun.objects.exists()
    assert 'id="cmsf-toasts"' in html and 'hx-swap-oob="true"' in html and 'role="alert"' in html
    assert "Sync now cannot run: " in html and "<html" not in html  # a fragment, not the page htmx would swap in


def test_the_fragment_polls_while_a_run_is_queued_and_stops_when_it_ends(client, bob):
    from cmsf.connections.models import CampaignMonitorClient as Client

    run = SyncRun.objects.create(client=Client.objects.create(cm_client_id="c9", name="Nine"))
    client.force_login(bob)  # CM User Access may watch
    url = f"{reverse('console:sync_progress')}?run={run.pk}"
    html = client.get(url).content.decode()
    assert 'hx-trigger="every 1s"' in html and f"run={run.pk}" in html and 'data-status="queued"' in html
    assert "Sync now finished" not in html and 'id="sync-status"' not in html  # the result waits for the end
    SyncRun.objects.filter(pk=run.pk).update(
        status=SyncRun.Status.PROBLEMS, written={"Contact": 4}, failed={"Contact": 1}, message="1 record refused"
    )
    html = client.get(url).content.decode()
    assert "hx-trigger" not in html and "Sync now finished: Succeeded with problems." in html
    assert "Contacts: 4 written, 0 unchanged, 1 refused" in html and "1 record refused" in html


def test_user_access_cannot_start_a_sync(client, bob):
    client.force_login(bob)
    assert client.post(reverse("console:sync_now")).status_code == 403
    assert not SyncRun.objects.exists()
