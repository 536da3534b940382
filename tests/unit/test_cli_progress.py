"""`cmsf sync`'s progress and summaries (`cmsf.cli.progress`): the stages it knows, each stage's own counts, the
lines of a log and of a terminal."""

from __future__ import annotations

import io
import re
from pathlib import Path
from types import SimpleNamespace

from cmsf.cli.progress import MAX_LINE, STAGES, StageProgress, counted, refused_records, run_summary_lines

SYNC = Path(__file__).resolve().parents[2] / "src" / "cmsf" / "sync"


def test_the_bar_knows_every_stage_the_sync_names():
    named = {m for path in SYNC.glob("*.py") for m in re.findall(r'ctx\.stage\("([^"]+)"\)', path.read_text())}
    assert named and named <= set(STAGES), named - set(STAGES)


def test_each_stage_shows_its_own_counts_and_they_add_up_to_the_totals():
    out = io.StringIO()
    progress = StageProgress(name="Harbour & Vine Wines", dry_run=False, out=out, live=False)
    progress("client", {"read": 0, "written": 0})
    progress("subscribers", {"read": 1, "written": 0})
    progress("subscribers", {"read": 2_000, "written": 1_500})  # a report within the stage: no line
    progress("campaigns", {"read": 3_121, "written": 3_000})
    assert progress.finish(3_130, 3_119) == (3_130, 3_119)
    assert out.getvalue().splitlines() == [
        "Harbour & Vine Wines: client read 1 written 0",
        "Harbour & Vine Wines: subscribers read 3,120 written 3,000",
        "Harbour & Vine Wines: campaigns read 9 written 119",
    ]


def test_a_dry_run_says_would_write_and_a_terminal_rewrites_one_line():
    out = io.StringIO()
    progress = StageProgress(name="N" * 300, dry_run=True, out=out, live=True)
    progress("subscribers", {"read": 10, "written": 5})
    progress.finish(10, 5)
    text = out.getvalue()
    assert "\n" not in text and text.startswith("\r\x1b[K") and text.endswith("\r\x1b[K")
    assert "would write 5" in text and re.search(r"\[#+-+\]", text)


def test_a_summary_uses_labels_separators_and_wraps_short_lines():
    assert counted({"CMSF_Subscriber__c": 12_000, "Contact": 0, "CMSF_Client__c": 1}) == [
        "12,000 Subscriber List Members (CMSF_Subscriber__c)",
        "1 Campaign Monitor Client (CMSF_Client__c)",
    ]
    many = {name: 1_000_000 for name in ("CMSF_Subscriber__c", "CMSF_Email_Activity__c", "CMSF_Campaign__c",
                                        "CMSF_List__c", "CMSF_Client__c", "CMSF_Suppression__c", "Contact", "Lead")}  # fmt: skip
    run = SimpleNamespace(
        dry_run=True, client=SimpleNamespace(name="Harbour & Vine Wines"), get_status_display=lambda: "Succeeded",
        duration_s=75.2, message="", written=many, skipped={}, deleted={"CMSF_Subscriber__c": 3}, failed={},
        cm_calls=1200, sf_calls=34,
    )  # fmt: skip
    lines = run_summary_lines(run, 3_120, [])
    text = "\n".join(lines)
    assert lines[0] == "Harbour & Vine Wines: succeeded in 1 min 15 s"
    words = " ".join(text.split())  # the list wraps onto indented lines
    assert "would write 1,000,000 Campaign Monitor Campaigns (CMSF_Campaign__c), 1,000,000 Campaign" in words
    assert "1,000,000 Email Tracking History (CMSF_Email_Activity__c)" in words and "1,000,000 Leads (Lead)" in words
    assert "would delete 3 Subscriber List Members" in text and "1,200" in text
    assert all(len(line) < MAX_LINE for line in lines) and len(lines) > 5
    assert all(line.count("(") == line.count(")") for line in lines)  # an item is never cut over two lines
    assert "{" not in text and "[" not in text


def test_refused_records_are_named_up_to_five_then_how_many_more():
    details = "\n".join(
        ["The run: Succeeded with problems.", *(f"key{i}: refused" for i in range(8)), "... and 92 more"]
    )
    assert refused_records(details) == [*(f"key{i}: refused" for i in range(5)), "and 95 more"]
    assert refused_records("The run: Succeeded.\nk: r") == ["k: r"]


def test_status_times_are_local_to_the_second_with_the_zone_and_relative_to_now(monkeypatch):
    from datetime import UTC, datetime, timedelta

    from cmsf.cli.status import local_time, relative

    monkeypatch.setattr("cmsf.cli.common.MACHINE_TZ", "Europe/Paris")
    assert local_time("2026-12-05T09:41:07.123456+00:00") == "2026-12-05 10:41:07 CET (UTC+01:00)"
    assert local_time("2026-07-01T09:00:00+00:00") == "2026-07-01 11:00:00 CEST (UTC+02:00)"
    assert local_time(None) == "-"
    now = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
    assert relative((now + timedelta(minutes=12, seconds=10)).isoformat(), now) == "in 12 minutes"
    assert relative((now - timedelta(hours=3, minutes=5)).isoformat(), now) == "3 hours ago"
    assert relative((now + timedelta(days=1, hours=2)).isoformat(), now) == "in 1 day"
    assert relative((now + timedelta(seconds=20)).isoformat(), now) == "now"
