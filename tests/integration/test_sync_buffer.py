"""The sync's write buffer: streams share batches, batches go to Salesforce in the background, and a stream's
cursor moves only when every one of its rows is in Salesforce, however many batches it spans."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from cmsf.connections.models import CampaignMonitorClient
from cmsf.maintenance.models import GovernorLimit
from cmsf.salesforce.errors import RecordError, RecordResult
from cmsf.sync.models import Cursor, RecordMap, SyncRun
from cmsf.sync.run import Buffer, Context
from cmsf.sync.transforms import SUBSCRIBER
from cmsf.sync.writer import Writer, WriteTally

pytestmark = pytest.mark.django_db(transaction=True)


class RecordingAdapter:
    """Accepts every row except those whose key is in `refuse`; remembers each call and its thread."""

    def __init__(self, refuse: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.refuse = refuse
        self.calls: list[list[str]] = []
        self.threads: set[str] = set()

    def upsert(self, object_name: str, external_id: str, records: Sequence[Mapping[str, Any]]) -> list[RecordResult]:
        import threading

        self.threads.add(threading.current_thread().name)
        keys = [str(r[external_id]) for r in records]
        self.calls.append(keys)
        return [
            RecordResult(i, "", errors=[RecordError("FIELD_CUSTOM_VALIDATION_EXCEPTION", "refused")])
            if key in self.refuse
            else RecordResult(i, "", id=f"a0B{i:015d}", created=True)
            for i, key in enumerate(keys)
        ]


def _context(adapter: RecordingAdapter, sender: ThreadPoolExecutor | None) -> Context:
    client = CampaignMonitorClient.objects.create(cm_client_id="c1", name="Client")
    run = SyncRun.objects.create(client=client)
    tally = WriteTally()
    writer = Writer(adapter=adapter, client_id=client.pk, dry_run=False, tally=tally)  # type: ignore[arg-type]
    return Context(run=run, client=client, cm=None, sf=None, writer=writer, tally=tally,  # type: ignore[arg-type]
                   started=timezone.now(), sender=sender)  # fmt: skip


def _row(key: str) -> dict[str, Any]:
    return {SUBSCRIBER.external_id: key, "Email__c": f"{key}@example.com"}


def _position(client: CampaignMonitorClient, stream: str) -> datetime | None:
    return Cursor.objects.filter(client=client, stream=stream).values_list("position", flat=True).first()


@pytest.mark.parametrize("background", [True, False])
def test_a_stream_over_several_batches_moves_its_cursor_only_when_all_its_rows_went_in(background: bool) -> None:
    GovernorLimit.objects.update_or_create(job="CMSF_SUBSCRIBER_SYNC", defaults={"batch_size": 3})
    adapter = RecordingAdapter(refuse={"big-4"})
    sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-send") if background else None
    ctx = _context(adapter, sender)
    when = datetime(2026, 11, 1, tzinfo=UTC)
    buffer = Buffer(ctx, SUBSCRIBER, "CMSF_SUBSCRIBER_SYNC")
    small = buffer.stream()
    buffer.add(small, _row("small-1"))
    buffer.end(small, ("small", "s", when))
    big = buffer.stream()
    for i in range(8):  # batches [small-1, big-0, big-1], [big-2, big-3, big-4 (refused)], [big-5, big-6, big-7]
        buffer.add(big, _row(f"big-{i}"))
    buffer.end(big, ("big", "s", when + timedelta(hours=1)))
    after = buffer.stream()
    buffer.add(after, _row("after-1"))
    buffer.end(after, ("after", "s", when + timedelta(hours=2)))
    buffer.close()
    if sender is not None:
        sender.shutdown()

    assert adapter.calls == [["small-1", "big-0", "big-1"], ["big-2", "big-3", "big-4"], ["big-5", "big-6", "big-7"],
                             ["after-1"]]  # fmt: skip
    assert adapter.threads == ({"test-send_0"} if background else {"MainThread"})
    assert _position(ctx.client, "small") == when
    assert _position(ctx.client, "big") is None  # big-4 failed: the stream is read again next time
    assert _position(ctx.client, "after") == when + timedelta(hours=2)
    keys = set(RecordMap.objects.values_list("key", flat=True))
    assert keys == {"small-1", "after-1"} | {f"big-{i}" for i in range(8)} - {"big-4"}
    assert [(f.key, f.error.code) for f in ctx.tally.failures] == [("big-4", "FIELD_CUSTOM_VALIDATION_EXCEPTION")]


def test_a_row_met_again_in_the_next_batch_is_not_sent_twice() -> None:
    """The next batch's ledger lookup happens after the previous batch is recorded, even in the background."""
    GovernorLimit.objects.update_or_create(job="CMSF_SUBSCRIBER_SYNC", defaults={"batch_size": 2})
    adapter = RecordingAdapter()
    sender = ThreadPoolExecutor(max_workers=1)
    ctx = _context(adapter, sender)
    buffer = Buffer(ctx, SUBSCRIBER, "CMSF_SUBSCRIBER_SYNC")
    stream = buffer.stream()
    for key in ("a", "b", "a", "b", "c"):
        buffer.add(stream, _row(key))
    buffer.end(stream, None)
    buffer.close()
    sender.shutdown()
    assert adapter.calls == [["a", "b"], ["c"]]
    assert ctx.tally.written["CMSF_Subscriber__c"] == 3
    assert ctx.tally.skipped["CMSF_Subscriber__c"] == 2


def test_a_batch_refused_whole_is_counted_in_full_but_only_a_sample_of_keys_is_held() -> None:
    from cmsf.maintenance.models import MaintenanceMessage
    from cmsf.sync import problems
    from cmsf.sync.writer import SAMPLED_FAILURES

    keys = [f"k{i}" for i in range(SAMPLED_FAILURES + 70)]
    adapter = RecordingAdapter(refuse=set(keys))
    ctx = _context(adapter, None)
    assert not ctx.writer.write(SUBSCRIBER, [_row(k) for k in keys], batch_size=1000)
    assert ctx.tally.failed["CMSF_Subscriber__c"] == len(keys)
    assert len(ctx.tally.failures) == SAMPLED_FAILURES
    problems.report(ctx.run, ctx.tally)
    message = MaintenanceMessage.objects.get(support_code="CMSF-SF-FIELD_CUSTOM_VALIDATION_EXCEPTION")
    assert message.message.startswith(f"{len(keys)} CMSF_Subscriber__c records of client Client not written")
    assert message.details.splitlines()[0] == "k0: refused"
    assert message.details.splitlines()[-1] == "... and 70 more"
