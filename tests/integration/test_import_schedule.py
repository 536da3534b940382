"""Import wizards on a schedule: the next run time from the run hours, and a due wizard claimed by one worker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cmsf.audience.models import ImportWizard
from cmsf.audience.services import claim_due, next_run_after, reschedule
from cmsf.connections.models import CampaignMonitorClient

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 11, 27, 12, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("hours", "expected"),
    [
        ([13], datetime(2026, 11, 27, 13, 0, tzinfo=UTC)),
        ([12], datetime(2026, 11, 28, 12, 0, tzinfo=UTC)),  # this hour has begun: tomorrow's
        ([3, 20], datetime(2026, 11, 27, 20, 0, tzinfo=UTC)),
        (list(range(24)), datetime(2026, 11, 27, 13, 0, tzinfo=UTC)),  # every hour
        ([], None),
    ],
)
def test_the_next_run_is_the_next_start_of_a_run_hour(hours, expected):
    assert next_run_after(hours, NOON) == expected


def test_a_due_wizard_is_claimed_once_and_moved_to_its_next_hour():
    client = CampaignMonitorClient.objects.create(cm_client_id="c1", name="Acme")
    wizard = ImportWizard.objects.create(name="Nightly", client=client, list_id="L1", campaign_id="701000000000001AAA",
                                         run_hours=[13, 14])  # fmt: skip
    reschedule(wizard, NOON)
    assert wizard.next_run == datetime(2026, 11, 27, 13, 0, tzinfo=UTC)
    assert claim_due(NOON) == []
    at_one = NOON + timedelta(minutes=31)
    assert claim_due(at_one) == [wizard.pk]
    assert claim_due(at_one) == []  # another worker finds it claimed
    wizard.refresh_from_db()
    assert wizard.next_run == datetime(2026, 11, 27, 14, 0, tzinfo=UTC)

    ImportWizard.objects.filter(pk=wizard.pk).update(active=False)
    assert claim_due(NOON + timedelta(hours=3)) == []  # an inactive wizard never runs on its own
