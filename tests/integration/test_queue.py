"""The task queue: a maintenance message notifies the admin through a real consumer.

.ci/run runs these again with CMSF_QUEUE_URL on Redis and on PostgreSQL."""

import signal
import time

import pytest
from django.core import mail
from django.db import connections
from huey.contrib.djhuey import HUEY

from cmsf.maintenance.models import MaintenanceMessage, MaintenanceSettings
from cmsf.maintenance.services import record_message

pytestmark = [pytest.mark.queue, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def consumer():
    """A consumer with one worker thread on the configured queue, stopped and its signals restored after."""
    HUEY.flush()

    # The worker thread's database connection would outlive the test and block the test database's teardown.
    @HUEY.post_execute(name="close-test-connections")
    def close_connections(task, task_value, exc):
        connections.close_all()

    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    running = HUEY.create_consumer(workers=1, periodic=False, worker_type="thread", initial_delay=0.05, max_delay=0.2)
    running.start()
    yield running
    running.stop(graceful=True)
    for sig, handler in saved.items():
        signal.signal(sig, handler)
    HUEY.unregister_post_execute("close-test-connections")
    HUEY.flush()


def _wait_for(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _set_notification_address(address):
    settings = MaintenanceSettings.load()
    settings.notification_email = address
    settings.save()


def test_a_new_maintenance_message_is_emailed_to_the_notification_address(consumer):
    _set_notification_address("ops@example.com")
    message = record_message(
        support_code="CMSF-SF-LIMIT",
        job="CMSF_TRACKING_SYNC",
        message="The sync stopped at the Salesforce API budget.",
        guidance="Raise the budget or wait for the daily allowance to recover.",
    )
    assert _wait_for(lambda: MaintenanceMessage.objects.get(pk=message.pk).notified_at is not None)
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == ["ops@example.com"]
    assert "CMSF-SF-LIMIT" in email.subject
    assert "Raise the budget" in email.body and "CMSF_TRACKING_SYNC" in email.body


def test_without_a_notification_address_nothing_is_sent():
    from cmsf.maintenance.notifications import notify

    message = MaintenanceMessage.objects.create(support_code="CMSF-X", job="CMSF_CLIENT_SYNC", message="Quiet.")
    assert notify(message.pk) is False
    assert mail.outbox == [] and MaintenanceMessage.objects.get(pk=message.pk).notified_at is None


def test_a_message_is_emailed_once_even_if_its_task_runs_twice(consumer):
    from cmsf.maintenance import tasks

    _set_notification_address("ops@example.com")
    message = record_message(support_code="CMSF-Z", job="CMSF_CLIENT_SYNC", message="Once only.")
    assert _wait_for(lambda: MaintenanceMessage.objects.get(pk=message.pk).notified_at is not None)
    result = tasks.notify_new_message(message.pk)
    assert result.get(blocking=True, timeout=15) is False
    assert len(mail.outbox) == 1
