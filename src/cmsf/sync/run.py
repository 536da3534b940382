"""What the sync's modules share within a run: the run's `Context`, its cursors, the directory of contacts and
leads, the reading of streams ahead (`read_ahead`), and the writes of many streams together (`Buffer`), some of
them left to the sender while the run reads on (`write_behind`, settled by `settle_behind`).

The engine (`sync.engine`) runs the stages; the modules it hands a stage to (`sync.salesforce_campaigns`,
`sync.repair`) take the same `Context` and use these helpers, so none reaches into the engine.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import count, islice
from typing import TypeVar

from django.db import transaction

from cmsf.campaign_monitor.api import CampaignMonitor
from cmsf.campaign_monitor.records import CampaignSummary
from cmsf.connections.models import CampaignMonitorClient
from cmsf.maintenance.models import GovernorLimit
from cmsf.salesforce.adapter import SalesforceAdapter
from cmsf.salesforce.errors import RecordResult
from cmsf.sync.directory import load as load_directory
from cmsf.sync.matching import Directory
from cmsf.sync.models import Cursor, SyncRun
from cmsf.sync.transforms import ACTIVITY_LABELS, Row, Target
from cmsf.sync.writer import PLAIN, Batch, WriteContext, Writer, WriteTally, plain

REPORT_EVERY = 2.0  # seconds between saves of a run's counts within a stage
LAG = timedelta(minutes=10)  # events that reach Campaign Monitor late still fall inside the next read
Progress = Callable[[str, dict[str, int]], None]


@dataclass
class Context:
    run: SyncRun
    client: CampaignMonitorClient
    cm: CampaignMonitor
    sf: SalesforceAdapter | None
    writer: Writer
    tally: WriteTally
    started: datetime
    zone: str = ""
    owner: str = ""
    read: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    directory: Directory | None = None
    progress: Progress | None = None
    heartbeat: Callable[[], None] | None = None
    cursors: dict[tuple[str, str], datetime] = field(default_factory=dict)  # (stream, scope) -> position
    sender: ThreadPoolExecutor | None = None  # sends buffered writes while the next rows are read
    reader: ThreadPoolExecutor | None = None  # reads the first pages of the next streams while one is processed
    reported: float = 0.0  # when the run's counts were last saved (monotonic seconds)
    summaries: dict[str, CampaignSummary] = field(default_factory=dict)  # campaign id -> summary read this run
    links: dict[str, str] = field(default_factory=dict)  # campaign id -> the linked Salesforce campaign's Id
    industry_rates: tuple[float, float] | None = None  # the chosen industry's open and click rates, when on
    # Campaigns whose stored tracking history changed in this run -> the people it changed for (None: all of them).
    touched: dict[str, set[str] | None] = field(default_factory=dict)
    campaign_statuses: dict[str, set[str]] = field(default_factory=dict)  # linked campaign (15) -> its status labels
    forgotten: frozenset[str] = frozenset()  # the hashes of the emails forgotten on request: never written again
    behind: dict[Target, Buffer] = field(default_factory=dict)  # writes left to the sender (`write_behind`)
    followed: set[str] = field(default_factory=set)  # contacts and leads the directory followed after a refusal
    worker: str = ""  # this worker, owner of the partitions it takes (`sync.partitions`)
    holding: int = 0  # partitions this worker holds and has not yet marked done
    # What this worker has added to the run's counts so far: workers add what they read and wrote since, so that
    # several of them count into one run.
    added_read: dict[str, int] = field(default_factory=dict)
    added_written: dict[str, int] = field(default_factory=dict)

    def stage(self, name: str) -> None:
        if self.heartbeat is not None:
            self.heartbeat()
        self.run.stage = name
        self.report(force=True)

    def report(self, *, force: bool = False) -> None:
        """Save the run's stage and counts (every REPORT_EVERY seconds at most, unless forced) for the console's
        live progress and `cmsf status`, and tell the progress callback."""
        now = time.monotonic()
        if not force and now - self.reported < REPORT_EVERY:
            return
        self.reported = now
        self.add_counts(stage=self.run.stage)
        if self.progress is not None:
            counts = {"read": sum(self.read.values()), "written": sum(self.tally.written.values())}
            self.progress(self.run.stage, counts)

    def add_counts(self, *, stage: str | None = None, **more: dict[str, int]) -> SyncRun:
        """Add what this worker read and wrote since it last added to the run's counts (and `more`: skipped,
        failed, deleted), under the run's row lock, so the counts of workers sharing the run add up."""
        read, written = dict(self.read), plain(self.tally.written)
        with transaction.atomic():
            row = SyncRun.objects.select_for_update().get(pk=self.run.pk)
            fields = ["read", "written"]
            row.read = _added(row.read, read, self.added_read)
            row.written = _added(row.written, written, self.added_written)
            for name, counts in more.items():
                setattr(row, name, _added(getattr(row, name), counts, {}))
                fields.append(name)
            if stage is not None:
                row.stage = stage
                fields.append("stage")
            row.save(update_fields=fields)
        self.added_read, self.added_written = read, written
        return row


def _added(total: dict[str, int] | None, mine: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    result = dict(total or {})
    for key, n in mine.items():
        if n - before.get(key, 0):
            result[key] = result.get(key, 0) + n - before.get(key, 0)
    return result


def load_cursors(client: CampaignMonitorClient) -> dict[tuple[str, str], datetime]:
    """Every cursor of the client, read once a run (a run reads hundreds of streams)."""
    return {
        (stream, scope): position
        for stream, scope, position in Cursor.objects.filter(client=client).values_list("stream", "scope", "position")
    }


def advance(ctx: Context, stream: str, scope: str, newest: datetime | None) -> None:
    if ctx.writer.dry_run or newest is None:
        return
    position = min(newest, ctx.started)
    if ctx.cursors.get((stream, scope)) == position:
        return  # a stream that found nothing newer leaves its cursor, and the database, alone
    Cursor.objects.update_or_create(client=ctx.client, stream=stream, scope=scope, defaults={"position": position})
    ctx.cursors[(stream, scope)] = position


def read_from(ctx: Context, stream: str, scope: str = "", floor: datetime | None = None) -> datetime | None:
    cursor = ctx.cursors.get((stream, scope))
    since = cursor - LAG if cursor else None
    if floor is not None and (since is None or since < floor):
        since = floor
    return since


def directory(ctx: Context) -> Directory:
    """The run's directory of contacts and leads, loaded when first asked for (empty without Salesforce)."""
    if ctx.directory is None:
        if ctx.sf is None:
            ctx.directory = Directory()
        else:
            ctx.directory = load_directory(ctx.sf)  # the mirror, brought up to date with what changed
    return ctx.directory


KIND_OF_LABEL = {label: kind for kind, label in ACTIVITY_LABELS.items()}


def activity_kind(row: Row) -> str:
    return KIND_OF_LABEL.get(str(row.get("Activity__c")), "")


def row_person(row: Row) -> str:
    return str(row.get("Contact__c") or row.get("Lead__c") or "")


def activity_date(row: Row) -> datetime | None:
    value = row.get("Activity_Date__c")
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


# Tracking rows: the ledger keeps each one's date, kind and person (retention and the campaign members read them).
ACTIVITY_WRITE = WriteContext(activity_date=activity_date, activity_kind=activity_kind, person=row_person)


def batch_of(job: str) -> int:
    """The job's batch size (its governor limit)."""
    return GovernorLimit.batch_size_for(job)


CursorEnd = tuple[str, str, datetime | None]  # stream, scope, the position its rows reached
End = CursorEnd | Callable[[], None] | None  # what happens when a stream's rows are all in: a cursor moves, or a call
READ_AHEAD = 4  # streams whose first page is read while the streams before them are processed
FIRST_PAGE = 1000  # records of a stream read ahead (Campaign Monitor's page)
T = TypeVar("T")
K = TypeVar("K")


def read_ahead(ctx: Context, streams: Iterable[tuple[K, Callable[[], Iterator[T]]]]) -> Iterator[tuple[K, Iterator[T]]]:
    """Each stream in order, its first page already read on the reader's threads while the streams before it were
    processed: a run reads hundreds of small streams, and each would otherwise wait for its answer in turn. At
    most READ_AHEAD first pages are held. The rest of a long stream is read a page ahead, also on the reader's
    threads: page n + 1 is fetched while page n is processed."""

    def first_page(open_stream: Callable[[], Iterator[T]]) -> tuple[list[T], Iterator[T]]:
        records = open_stream()
        return list(islice(records, FIRST_PAGE)), records

    def page_ahead(head: list[T], rest: Iterator[T]) -> Iterator[T]:
        # `rest` is advanced by one thread at a time: the next page is asked for only once the last one came
        page = head
        while len(page) == FIRST_PAGE:
            assert ctx.reader is not None
            following = ctx.reader.submit(lambda: list(islice(rest, FIRST_PAGE)))
            yield from page
            page = following.result()
        yield from page

    if ctx.reader is None:
        for key, open_stream in streams:
            yield key, open_stream()
        return
    window: deque[tuple[K, Future[tuple[list[T], Iterator[T]]]]] = deque()
    pending = iter(streams)
    try:
        while True:
            while len(window) < READ_AHEAD and (item := next(pending, None)) is not None:
                window.append((item[0], ctx.reader.submit(first_page, item[1])))
            if not window:
                return
            key, future = window.popleft()
            head, rest = future.result()
            yield key, page_ahead(head, rest)
    finally:
        for _, future in window:
            future.cancel()


@dataclass
class _Sent:
    batches: list[Batch]
    results: Future[list[list[RecordResult]]] | None
    streams: set[int]  # the streams with rows in these batches
    ends: list[tuple[int, End]]  # the streams whose last row is in these batches (or before)
    keys: frozenset[str] = frozenset()  # the external ids of the rows sent


class Buffer:
    """Rows of many streams (a list's state, a campaign's opens) written together, in writes as large as the
    job's batch size allows, so small streams cost as few Salesforce calls as a big one, and a big stream is
    never held whole in memory. Each full batch is prepared (checked against the ledger) and handed to the sender
    while the previous one is still being written, so Salesforce is never left waiting for cmsf between two
    batches; the previous batch is then put in the ledger while Salesforce writes this one. A stream's cursor
    moves only once every row of the stream is in Salesforce."""

    def __init__(
        self,
        ctx: Context,
        target: Target,
        job: str,
        *,
        context: WriteContext = PLAIN,
    ) -> None:
        self.ctx, self.target, self.batch_size, self.context = ctx, target, batch_of(job), context
        self.rows: list[Row] = []
        self.streams: set[int] = set()
        self.ends: list[tuple[int, End]] = []
        self.failed: set[int] = set()  # streams with a row that did not go in: their cursors stay
        self.sent: _Sent | None = None
        self._ids = count()

    def stream(self) -> int:
        return next(self._ids)

    def add(self, stream: int, row: Row) -> None:
        self.rows.append(row)
        self.streams.add(stream)
        if len(self.rows) >= self.batch_size:
            self.flush()

    def end(self, stream: int, cursor: End) -> None:
        """The stream has given all its rows; its cursor moves (or the callable runs) once they are all written."""
        self.ends.append((stream, cursor))

    def flush(self) -> None:
        self.ctx.report()
        previous, self.sent = self.sent, None
        if not self.rows and not self.ends:
            self._settle(previous)
            return
        external_id = self.target.external_id
        if previous is not None and not previous.keys.isdisjoint(str(row[external_id]) for row in self.rows):
            self._settle(previous)  # a key written again: its ledger lookup must see the previous write
            previous = None
        writer = self.ctx.writer
        batches = writer.prepare(self.target, self.rows, batch_size=self.batch_size, context=self.context)
        results = None
        if batches:
            send = writer.send
            if self.ctx.sender is not None:  # one thread: this batch is written after the previous one
                results = self.ctx.sender.submit(lambda: [send(batch) for batch in batches])
            else:
                results = Future()
                results.set_result([send(batch) for batch in batches])
        keys = frozenset(key for batch in batches for key in batch.keys)
        current = _Sent(batches, results, self.streams, self.ends, keys)
        self.rows, self.streams, self.ends = [], set(), []
        self._settle(previous)  # into the ledger while Salesforce writes this batch
        if results is None:
            self._settle(current)  # nothing to send: the cursors can move now
        else:
            self.sent = current

    def close(self) -> None:
        self.flush()
        self._settle(self.sent)
        self.sent = None

    def _settle(self, sent: _Sent | None) -> None:
        if sent is None:
            return
        if sent.results is not None:
            outcomes = [
                self.ctx.writer.record(batch, results)
                for batch, results in zip(sent.batches, sent.results.result(), strict=True)
            ]
            if not all(outcomes):
                self.failed |= sent.streams
        for stream, cursor in sent.ends:
            if cursor is None or stream in self.failed:
                continue
            if callable(cursor):
                cursor()
            else:
                advance(self.ctx, *cursor)


def write_behind(ctx: Context, target: Target, rows: list[Row], job: str) -> None:
    """Rows handed to the sender and left to it while the run reads on: Salesforce takes them after everything
    handed over before (a list before its subscribers, a campaign before its activity), as one thread sends in
    order. They are in the ledger before the next write of the same object is prepared, and all of them before
    the run finishes (`settle_behind`)."""
    settle_behind(ctx, target)
    buffer = Buffer(ctx, target, job)
    stream = buffer.stream()
    for row in rows:
        buffer.add(stream, row)
    buffer.flush()
    ctx.behind[target] = buffer


def settle_behind(ctx: Context, target: Target | None = None) -> None:
    """Wait for the writes left to the sender (of one object, or all) and put them in the ledger: before the
    ledger of that object is read."""
    for key in [target] if target is not None else list(ctx.behind):
        buffer = ctx.behind.pop(key, None)
        if buffer is not None:
            buffer.close()
