"""What `cmsf sync` prints, in a log (stdout to a file) and on a terminal (a pty), against both emulators: short
lines, no Python repr, stage counts that add up to the run's totals, labels, the refused records, and a full sync
that asks first."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.sandboxes import Sandbox, cmsf, dataset, env_for
from tests.processes import CMSF
from tests.unit.test_cli_json_schemas import valid

REPR = ("{'", "['", "datetime.", "Decimal(", "': ", "defaultdict", "Counter(")
STAGE_LINE = re.compile(
    r"^(?P<client>.+): (?P<stage>[a-z -]+) read (?P<read>[\d,]+) (?:written|would write) (?P<written>[\d,]+)$"
)


def number(text: str) -> int:
    return int(text.replace(",", ""))


def in_a_file(data_dir: Path, tmp_path: Path, *args: str, env: dict[str, str]) -> tuple[int, str, str]:
    out = tmp_path / "sync.log"
    with out.open("w") as file:
        result = subprocess.run([CMSF, *args], env=env, stdout=file, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                text=True, timeout=300)  # fmt: skip
    return result.returncode, out.read_text(), result.stderr


def in_a_terminal(args: list[str], env: dict[str, str], answer: str | None = None) -> tuple[int, str]:
    """Run cmsf with a pty as its terminal (stdin, stdout, stderr); what it wrote, and its exit status."""
    main, secondary = pty.openpty()
    process = subprocess.Popen([CMSF, *args], env={**env, "COLUMNS": "150"}, stdin=secondary, stdout=secondary,
                               stderr=secondary, close_fds=True)  # fmt: skip
    os.close(secondary)
    seen, deadline, answered = b"", time.monotonic() + 300, False
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the terminal closed: the process ended
                break
            if not chunk:
                break
            seen += chunk
        if answer is not None and not answered and b"[y/N]" in seen:
            os.write(main, answer.encode() + b"\n")
            answered = True
        if process.poll() is not None and not ready:
            break
    os.close(main)
    return process.wait(timeout=60), seen.decode(errors="replace")


@pytest.fixture(scope="module")
def synced(tmp_path_factory):
    """A connected cmsf whose first sync ran with stdout to a file, while Salesforce refused the lists' rows."""
    tmp_path = tmp_path_factory.mktemp("cli-sync")
    with Sandbox(*dataset(), tmp_path, "none") as sandbox:
        data_dir = tmp_path / "cmsf"
        env = env_for(data_dir, CMSF_QUEUE_NAME=f"cli-out-{os.getpid()}")
        sandbox.connect(data_dir, env=env)
        # One tracking row in 40 is refused (locked) on every write until the retries give up: refused records.
        plan = {"sobject": "CMSF_Email_Activity__c", "calls": 1000, "every": 40}
        sandbox.admin("sf", "POST", "/faults/locks", json=plan)
        status, log, stderr = in_a_file(data_dir, tmp_path, "sync", env=env)
        sandbox.admin("sf", "POST", "/faults/locks", json={**plan, "calls": 0})
        yield {"sandbox": sandbox, "data_dir": data_dir, "env": env, "status": status, "log": log,
               "stderr": stderr, "tmp_path": tmp_path}  # fmt: skip


def test_a_log_has_short_lines_one_a_stage_and_no_python_repr(synced):
    log = synced["log"]
    assert synced["status"] == 3, (log, synced["stderr"])  # records refused: succeeded with problems
    lines = log.splitlines()
    assert lines and all(len(line) < 200 for line in lines), max(lines, key=len)
    assert "\r" not in log and "\x1b" not in log  # nothing rewritten in place in a file
    for marker in REPR:
        assert marker not in log, f"{marker!r} in {log}"
    stages = [m for m in map(STAGE_LINE.match, lines) if m]
    assert {"client", "lists", "subscribers", "finishing"} <= {m["stage"] for m in stages}
    # The cmsf.runs line is the log's (stderr), not the progress output's.
    assert "cmsf.runs" not in log and "sync" in synced["stderr"]


def test_the_stage_counts_add_up_to_the_runs_totals(synced):
    status = json.loads(cmsf(synced["data_dir"], "status", "--json", env=synced["env"]).stdout)
    runs = {run["client"]: run for run in status["recent_runs"]}
    stages = [m for m in map(STAGE_LINE.match, synced["log"].splitlines()) if m]
    assert runs and {m["client"] for m in stages} == set(runs)
    for client, run in runs.items():
        mine = [m for m in stages if m["client"] == client]
        assert sum(number(m["written"]) for m in mine) == sum(run["written"].values())
        header = next(line for line in synced["log"].splitlines() if line.startswith(f"{client}: succeeded"))
        after = synced["log"].split(header, 1)[1]
        read = re.search(r"read ([\d,]+) records from Campaign Monitor", after)
        assert read and number(read[1]) == sum(number(m["read"]) for m in mine)


def test_the_summary_uses_labels_and_names_the_refused_records_and_the_support_code(synced):
    log = synced["log"]
    assert re.search(r"wrote [\d,]+ .*Subscriber List Members \(CMSF_Subscriber__c\)", log)
    assert re.search(r"refused by Salesforce [\d,]+ Email Tracking History \(CMSF_Email_Activity__c\)", log)
    assert "[CMSF-SF-UNABLE_TO_LOCK_ROW]" in log and "see Maintenance in the console" in log
    named = [line.strip() for line in log.splitlines() if line.startswith("    ")]
    assert named and any("UNABLE_TO_LOCK_ROW" in line or ":" in line for line in named)
    assert "API calls: Campaign Monitor" in log


def test_a_dry_run_says_would_write(synced):
    status, log, _ = in_a_file(synced["data_dir"], synced["tmp_path"], "sync", "--dry-run", env=synced["env"])
    assert status in (0, 3), log
    assert "would write" in log and "\n  wrote " not in log and " deleted " not in log
    assert all(len(line) < 200 for line in log.splitlines())


def test_a_full_sync_without_a_terminal_needs_yes(synced):
    result = subprocess.run([CMSF, "sync", "--full"], env=synced["env"], stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and "add --yes" in result.stderr


def test_on_a_terminal_a_live_bar_per_client_and_a_full_sync_asks(synced):
    status, seen = in_a_terminal(["sync"], synced["env"])
    assert status == 0, seen
    assert "\r\x1b[K" in seen and re.search(r"\[#+-*\] ", seen)  # the bar, rewritten in place
    assert "Subscriber List Members (CMSF_Subscriber__c)" in seen
    status, seen = in_a_terminal(["sync", "--full"], synced["env"], answer="n")
    assert status == 2 and "Continue? [y/N]" in seen and "the full sync was not run" in seen


def test_status_shows_local_times_to_the_second_and_the_next_run_relative_to_now(synced):
    result = cmsf(synced["data_dir"], "status", env={**synced["env"], "TZ": "America/New_York"})
    assert result.returncode == 0, result.stderr
    times = re.findall(r"\d{4}-\d\d-\d\d[ T][\d:.]+[^\n]*", result.stdout)
    assert times and all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d E[SD]T \(UTC-0[45]:00\)", t) for t in times)
    assert not re.search(r"\d\d:\d\d:\d\d\.\d", result.stdout)  # no microseconds
    next_run = next(line for line in result.stdout.splitlines() if line.startswith("Next run:"))
    assert "not scheduled" in next_run or re.search(r", (in \d+ (minute|hour|day)s?|now|\d+ \w+ ago)$", next_run)


def test_the_json_outputs_follow_their_schemas(synced):
    env, data_dir = synced["env"], synced["data_dir"]
    outputs = {
        "sync": cmsf(data_dir, "sync", "--dry-run", "--json", env=env),
        "status": cmsf(data_dir, "status", "--json", env=env),
        "doctor": cmsf(data_dir, "doctor", "--json", env=env),
        "watch": cmsf(data_dir, "watch", "--once", "--json", env=env),
    }
    for command, result in outputs.items():
        assert result.returncode in (0, 1, 3) and result.stdout, (command, result.stderr)
        valid(command, json.loads(result.stdout))
    assert json.loads(outputs["status"].stdout)["recent_runs"]  # the runs' part of the schema was exercised


def test_forget_json_follows_its_schema(synced):  # last: it removes a person from Salesforce
    email = next(iter(next(iter(synced["sandbox"].world.lists.values())).subscribers))
    result = cmsf(synced["data_dir"], "forget", email, "--json", env=synced["env"])
    assert result.returncode in (0, 3), result.stderr
    document = json.loads(result.stdout)
    valid("forget", document)
    assert document["salesforce_rows_deleted"]
