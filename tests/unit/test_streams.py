"""The primary sync's stream declarations: the cursor names are those stored in every database, each stream writes
to the object and external id its rows carry, and a stream opens the Campaign Monitor read it names."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from cmsf.campaign_monitor.api import CampaignMonitor
from cmsf.sync import streams
from cmsf.sync.streams import ACTIVITIES, RECIPIENTS, STREAMS, SUBSCRIBERS, Stream
from cmsf.sync.transforms import Target

# The cursor names as the engine wrote them before streams were declared: stored cursors must still be found.
STORED_CURSOR_NAMES = {
    "subscribers:active": "list",
    "subscribers:unconfirmed": "list",
    "subscribers:unsubscribed": "list",
    "subscribers:bounced": "list",
    "subscribers:deleted": "list",
    "recipients": "campaign",
    "activity:opens": "campaign",
    "activity:clicks": "campaign",
    "activity:bounces": "campaign",
    "activity:unsubscribes": "campaign",
    "activity:spam": "campaign",
}
TARGETS = {  # the stream's read count -> the object and external id its rows are upserted by
    "client": ("CMSF_Client__c", "Client_Id__c"),
    "lists": ("CMSF_List__c", "List_Id__c"),
    "subscribers": ("CMSF_Subscriber__c", "Member_Key__c"),
    "campaign summaries": ("CMSF_Campaign__c", "Campaign_Id__c"),
    "recipients": ("CMSF_Email_Activity__c", "Activity_Key__c"),
    "opens": ("CMSF_Email_Activity__c", "Activity_Key__c"),
    "clicks": ("CMSF_Email_Activity__c", "Activity_Key__c"),
    "bounces": ("CMSF_Email_Activity__c", "Activity_Key__c"),
    "unsubscribes": ("CMSF_Email_Activity__c", "Activity_Key__c"),
    "spam": ("CMSF_Email_Activity__c", "Activity_Key__c"),
    "suppressions": ("CMSF_Suppression__c", "Suppression_Key__c"),
}


def test_every_incremental_stream_has_a_unique_cursor_name_equal_to_the_stored_one() -> None:
    named = [s for s in STREAMS if s.name is not None]
    names = [s.name for s in named]
    assert len(names) == len(set(names))
    assert {s.name: s.scope for s in named} == STORED_CURSOR_NAMES
    assert all(s.read is not None for s in named)
    assert all(s.read is None and s.scope == "client" for s in STREAMS if s.name is None)


def test_each_stream_writes_to_its_object_by_its_external_id() -> None:
    assert {s.counted: (s.target.sobject, s.target.external_id) for s in STREAMS} == TARGETS


def test_a_cursor_is_keyed_by_the_stream_name_and_the_scope_id() -> None:
    assert SUBSCRIBERS[2].cursor("list-1") == ("subscribers:unsubscribed", "list-1")
    assert RECIPIENTS.cursor("c-9") == ("recipients", "c-9")
    with pytest.raises(AssertionError):
        streams.SUPPRESSIONS.cursor("client-1")


def test_tracking_streams_name_their_activity_kind_and_email_type() -> None:
    assert [(s.kind, s.email_type) for s in (RECIPIENTS, *ACTIVITIES)] == [
        ("sent", "sent"),
        ("opens", "opened"),
        ("clicks", "clicked"),
        ("bounces", "bounced"),
        ("unsubscribes", "unsubscribed"),
        ("spam", "spam_complaint"),
    ]


def test_targets_are_values() -> None:
    assert Target("CMSF_List__c", "List_Id__c") == streams.LISTS.target
    assert len({s.target for s in STREAMS}) == 6  # hashable: the run keys its writes left behind by target


class _Recorder:
    """Stands in for the Campaign Monitor client: records which read a stream opened, with what."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Iterator[Any]:
            self.calls.append((name, args, kwargs))
            return iter(())

        return call


@pytest.mark.parametrize(
    ("stream", "scope_id", "expected"),
    [
        (SUBSCRIBERS[0], "l1", ("subscribers", ("l1", "active"), {"zone": "Z", "since": "SINCE"})),
        (SUBSCRIBERS[4], "l1", ("subscribers", ("l1", "deleted"), {"zone": "Z", "since": "SINCE"})),
        (RECIPIENTS, "c1", ("campaign_recipients", ("c1",), {"zone": "Z"})),
        (ACTIVITIES[1], "c1", ("campaign_activity", ("c1", "clicks"), {"zone": "Z", "since": "SINCE"})),
    ],
)
def test_a_stream_opens_the_read_it_declares(stream: Stream, scope_id: str, expected: tuple[Any, ...]) -> None:
    recorder = _Recorder()
    since = datetime(2026, 1, 1, tzinfo=UTC)
    assert stream.read is not None
    list(stream.read(cast(CampaignMonitor, recorder), scope_id, "Z", since))
    name, args, kwargs = expected
    kwargs = {k: (since if v == "SINCE" else v) for k, v in kwargs.items()}
    assert recorder.calls == [(name, args, kwargs)]
