"""How `cmsf sync` tells its progress and its summary: a live bar per client on a terminal, one short line per
stage in a log (cron, CI, a file), and summaries a person reads: labels, separators, the refused records and
where to look.

Every line it prints is shorter than MAX_LINE characters; long lists wrap onto indented lines."""

from __future__ import annotations

import logging
import shutil
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import Any, TextIO

MAX_LINE = 200
WRAP = 120  # where a summary's list wraps onto its next line
NAME = 60  # a client's name is cut to this many characters in a progress line
LIVE_NAME = 24  # and in the live bar
BAR = 20
SHOWN_RECORDS = 5  # refused records named under a maintenance message, then "and M more"

# The stages of a primary sync in the order the engine runs them (`cmsf.sync.engine`): the bar's fraction.
STAGES = (
    "purging",
    "client",
    "lists",
    "subscribers",
    "mapped fields",
    "creating records",
    "email opt-out",
    "campaigns",
    "salesforce campaigns",
    "tracking history",
    "campaign statistics",
    "suppression list",
    "retention",
    "campaign members",
    "repairing",
    "finishing",
)


@cache
def object_labels() -> dict[str, tuple[str, str]]:
    from cmsf.salesforce.sfdx import object_labels

    return object_labels()


def counted(counts: dict[str, int]) -> list[str]:
    """`{"CMSF_Subscriber__c": 1200}` as ["1,200 Subscriber List Members (CMSF_Subscriber__c)"], largest first."""
    labels = object_labels()
    rows = sorted(((n, name) for name, n in counts.items() if n), key=lambda row: (-row[0], row[1]))
    return [f"{n:,} {labels.get(name, (name, name))[0 if n == 1 else 1]} ({name})" for n, name in rows]


def wrapped(text: str, indent: str = "  ") -> list[str]:
    """A summary line as lines no longer than WRAP (plus the indent), the later ones indented once more."""
    return textwrap.wrap(
        text, width=WRAP, initial_indent=indent, subsequent_indent=indent + "  ", break_on_hyphens=False
    ) or [indent]


def listed(verb: str, items: list[str], indent: str = "  ") -> list[str]:
    """ "wrote a, b, c" on lines no longer than WRAP, each item whole on one line (the later lines indented)."""
    lines, line = [], f"{indent}{verb} "
    for i, item in enumerate(items):
        piece = item + ("," if i < len(items) - 1 else "")
        if line.strip() and len(line) + len(piece) > WRAP and line.strip() != verb:
            lines.append(line.rstrip())
            line = indent + "  "
        line += piece + " "
    return [*lines, line.rstrip()]


def seconds(value: float | None) -> str:
    value = value or 0.0
    if value < 60:
        return f"{value:.1f} s"
    minutes, rest = divmod(round(value), 60)
    return f"{minutes} min {rest} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


@dataclass
class StageProgress:
    """The progress callback of one client's run (`cmsf.sync.run.Progress`): the engine tells the stage and the
    run's counts so far; each stage is shown with its own counts (what the run read and wrote while in it), so the
    stages add up to the run's totals."""

    name: str
    dry_run: bool
    out: TextIO
    live: bool
    stage: str | None = None
    start: dict[str, int] = field(default_factory=lambda: {"read": 0, "written": 0})
    now: dict[str, int] = field(default_factory=lambda: {"read": 0, "written": 0})
    stages: list[tuple[str, int, int]] = field(default_factory=list)  # (stage, read, written) of each ended stage
    reached: int = 0  # the furthest stage of STAGES reached, for the bar (stages that run twice do not go back)
    drawn: bool = False

    @property
    def verb(self) -> str:
        return "would write" if self.dry_run else "written"

    def __call__(self, stage: str, counts: dict[str, int]) -> None:
        counts = {"read": counts.get("read", 0), "written": counts.get("written", 0)}
        if stage != self.stage:
            self._end_stage(counts)
            self.stage, self.start = stage, counts
            if stage in STAGES:
                self.reached = max(self.reached, STAGES.index(stage) + 1)
        self.now = counts
        if self.live:
            self.draw()

    def _end_stage(self, at: dict[str, int]) -> None:
        if self.stage is None:
            return
        read, written = at["read"] - self.start["read"], at["written"] - self.start["written"]
        self.stages.append((self.stage, read, written))
        if not self.live:
            line = f"{self.name[:NAME]}: {self.stage} read {read:,} {self.verb} {written:,}"
            print(line[:MAX_LINE], file=self.out, flush=True)

    def draw(self) -> None:
        done = BAR * self.reached // len(STAGES)
        line = (  # the name cut shorter than in a log: the counts and the stage fit a terminal of 80 columns
            f"{self.name[:LIVE_NAME]} [{'#' * done}{'-' * (BAR - done)}] read {self.now['read']:,} "
            f"{self.verb} {self.now['written']:,}, {self.stage or ''}"
        )
        width = shutil.get_terminal_size((100, 24)).columns - 1
        self.out.write(f"\r\x1b[K{line[:width]}")
        self.out.flush()
        self.drawn = True

    def clear(self) -> None:
        """Rub the bar out (a log line is about to be written to the same terminal, or the run ended)."""
        if self.live and self.drawn:
            self.out.write("\r\x1b[K")
            self.out.flush()
            self.drawn = False

    def finish(self, read: int, written: int) -> tuple[int, int]:
        """The run ended with these totals: the last stage ends there; the totals the stages add up to."""
        end = {"read": max(read, self.now["read"]), "written": max(written, self.now["written"])}
        self._end_stage(end)
        self.stage = None
        self.clear()
        return end["read"], end["written"]


class _ClearBar(logging.Filter):
    """Before a log line reaches the terminal (stderr), the live bar on stdout is rubbed out; the next report
    draws it again, on its own line."""

    def __init__(self, progress: StageProgress) -> None:
        super().__init__()
        self.progress = progress

    def filter(self, record: logging.LogRecord) -> bool:
        self.progress.clear()
        return True


@contextmanager
def log_lines_apart(progress: StageProgress) -> Iterator[None]:
    """While the bar is live, the log lines (the `cmsf.runs` line, warnings) do not land on the bar's line."""
    if not progress.live:
        yield
        return
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler)]
    guard = _ClearBar(progress)
    for handler in handlers:
        handler.addFilter(guard)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(guard)


def run_summary_lines(run: Any, read: int, messages: list[Any]) -> list[str]:
    """The lines under a client's run: how it ended, what it read, wrote, left unchanged, deleted and what
    Salesforce refused (by label), the maintenance messages it told with their support codes and the refused
    records they name, and the API calls."""
    from cmsf.maintenance.support_codes import SALESFORCE_PREFIX

    dry = run.dry_run
    lines = [f"{run.client.name[:NAME]}: {run.get_status_display().lower()} in {seconds(run.duration_s)}"]
    if run.message:
        lines += wrapped(run.message)
    lines += wrapped(f"read {read:,} records from Campaign Monitor")
    for verb, counts in (
        ("would write" if dry else "wrote", run.written),
        ("unchanged", run.skipped),
        ("would delete" if dry else "deleted", run.deleted),
        ("refused by Salesforce", run.failed),
    ):
        items = counted(counts)
        if items:
            lines += listed(verb, items)
        elif verb in ("wrote", "would write"):
            lines += wrapped(f"{verb} nothing")
    for message in messages:
        lines += wrapped(f"[{message.support_code}] {message.message}")
        if message.support_code.startswith(SALESFORCE_PREFIX):  # records Salesforce refused: name them
            lines += [f"    {line}" for line in refused_records(message.details)]
    if messages:
        lines.append("  see Maintenance in the console for each message's details and what to do")
    lines.append(f"  API calls: Campaign Monitor {run.cm_calls:,}, Salesforce {run.sf_calls:,}")
    return [line[:MAX_LINE] for line in lines]


def refused_records(details: str) -> list[str]:
    """The records a maintenance message names ("key: reason" lines), up to SHOWN_RECORDS, then "and M more"."""
    import re

    records, more = [], 0
    for line in details.splitlines():
        counted_more = re.fullmatch(r"\.\.\. and (\d+) more", line.strip())
        if counted_more:
            more += int(counted_more.group(1))
        elif line.strip() and not line.startswith("The run:"):
            records.append(line.strip())
    shown = [textwrap.shorten(line, width=WRAP, placeholder=" ...") for line in records[:SHOWN_RECORDS]]
    rest = len(records) - len(shown) + more
    return shown + ([f"and {rest:,} more"] if rest else [])
