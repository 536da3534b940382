"""`cmsf bench --dataset NAME [--json PATH]`: measure the primary sync against the sandbox, end to end.

Three runs, in order, against one sandbox: a full sync (`run_primary_sync(client, full=True)` for every
selected client, on an empty cmsf), a no-change sync right after it, and an incremental sync after the
Campaign Monitor emulator has lived on until now (`POST {admin_url}/advance`; a dataset ends 3 h before it
was generated, so this adds about 3 h of activity).

Processes. The emulators run as `cmsf sandbox` in a process of their own (its own CMSF_DATA_DIR), so their
CPU and memory are never counted as the sync's. cmsf's own state goes into a fresh temporary data folder
(`cmsf init`, then `cmsf connect --sandbox-info`, as a user would). Each measured sync runs in a child
process of its own (`python -m cmsf_sandbox.benchmark sync`), which times only the sync (not the interpreter's
start or Django's setup) and reads its own peak resident set (VmHWM in /proc/self/status, the kernel's
high-water mark; ru_maxrss where there is no /proc). Per-process peaks are what a worker would hold: they
include the interpreter and Django (reported as `baseline_rss_mb`), and they are that sync's alone.
`getrusage(RUSAGE_CHILDREN)` in this process was not used: it gives the largest of all the children waited
for so far (the setup, the earlier syncs), not one sync's.

Figures of each run:

- `wall_s`, `cpu_s`: the sync's wall time and its process's CPU time (user + system), both in the child.
- `peak_rss_mb`: the child's peak resident set, in MiB.
- `records_per_s`: records the sync read from Campaign Monitor (its own `read` counts) per wall second.
- `read_records_per_s` (of the whole document, with `read_path`): the read path alone. Before the three runs, a dry
  run of every selected client (`cmsf sync --dry-run` on the dataset, nothing synced yet: every record is read,
  matched and transformed, nothing is written and no cursor moves) in a child process of its own, its records read
  per wall second. The target is 50,000 a second on `medium`.
- `cm_calls`: calls the sync's Campaign Monitor transport made (every attempt, `Transport.calls`);
  `cm_calls_server` is the same seen by the emulator (`GET /admin/calls`, before and after).
- `cm_min_calls`: the fewest calls that read what the run read::

      cm_min_calls = sum over the paged streams the run read of max(1, ceil(records / 1000))
                   + the distinct single-object calls the run needs: client details and the client's
                     lists (one each a client), list details and list stats (one each a list), and one
                     campaign summary per campaign whose summary the run fetched

  A stream is one paged endpoint with one set of parameters (a list's subscribers in one state since the
  cursor, a campaign's opens since the cursor, ...); a read of an empty stream still costs one call. A
  call beyond that (a page or a summary fetched twice, an endpoint the run did not need) is excess, and
  `cm_excess_by_endpoint` says where it went.
- `sf_calls`: Salesforce API calls of the sync (the adapter's meter, sign-ins excluded; `sf_calls_server`
  is the emulator's count); `sf_rows_written`: rows the sync wrote (its tally); `sf_calls_per_10k_rows`
  = sf_calls / sf_rows_written x 10,000; `sf_write_calls`: calls that write (Collections, Bulk 2.0
  ingest, single-record writes).
- `floor_wall_s` = `floor_download_s` + `floor_upload_s`, measured right after the run, in this process:
  the download is every distinct page and every needed single-object call the run made (the same
  endpoints, parameters and page numbers), with raw `requests` over one keep-alive session, bodies read
  but not decoded; the upload is the same number of rows to the same objects through the adapter, in
  upserts of at most 10,000 rows (Bulk 2.0 above 2,000 rows, Collections below), plus as many deletes
  per object as the run deleted. The rows are copies of rows the sync wrote (a sample kept per object)
  under throwaway external ids ("bench-floor-..."): each floor row is a new record, as the full sync's
  are, and the sync's own records, ledger and cursors stay exactly as the sync left them. The records the
  floor deletes are made for it beforehand, and each batch of floor rows is deleted and emptied from the
  recycle bin right after its upsert, neither timed, so each sync meets the org as the previous sync left
  it and the emulator never holds more than one batch of floor rows (`floor_left_kb`, the org's storage
  after the upload less before it, recycle bin included, is 0). The emulated org's data storage is
  lifted (`POST /admin/limits`; 1 GB by default, which a `medium` full sync nearly fills): the org's size
  is not what is measured.

Targets (set for `medium`): Campaign Monitor calls at most 1.05 x cm_min_calls; at most 10 Salesforce calls
per 10,000 rows in the full sync; no Salesforce write in the no-change sync; wall time at most 1.5 x the
floor; peak memory under 300 MB, growing less than 20% from medium to large (`--compare` a medium result).
A missed target is reported and the command still exits 0; a failed sync exits 1.

`--campaign-members`: before the first run, every sent campaign gets a Salesforce campaign (auto-create on since
2000, with statistics and missing statuses), and campaign members with aggregates, so the three runs also write
Campaigns and CampaignMembers. The floor writes as many of each: campaign copies under throwaway ids, and member
copies spread over throwaway campaigns made beforehand (a person is a member of a campaign once), untimed, as
its other preparations are.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cmsf.campaign_monitor.api import CampaignMonitor
from cmsf.campaign_monitor.paging import PAGE_SIZE

RUNS = ("full", "no_change", "incremental")
RUN_KEYS = (
    "wall_s",
    "cpu_s",
    "peak_rss_mb",
    "records_per_s",
    "cm_calls",
    "cm_min_calls",
    "sf_calls",
    "sf_rows_written",
    "floor_wall_s",
)
# The single-object calls a primary sync needs (see the module docstring); any other is excess.
NEEDED_SINGLE_CALLS = (
    "GET /clients/{clientid}.json",
    "GET /clients/{clientid}/lists.json",
    "GET /lists/{listid}.json",
    "GET /lists/{listid}/stats.json",
    "GET /campaigns/{campaignid}/summary.json",
)
SF_WRITE_KINDS = ("composite/sobjects", "bulk2 ingest", "sobject POST", "sobject PATCH", "sobject DELETE")
FLOOR_BATCH = 10_000
SAMPLE_ROWS = 64  # rows kept per object as the floor's templates
SANDBOX_START_TIMEOUT = 900.0
CAMPAIGN_MEMBERS_SETTINGS = """\
salesforce_campaigns:
  update_linked_campaign_statistics: true
  auto_create_campaigns: true
  auto_create_since: "2000-01-01T00:00:00+00:00"
  auto_create_missing_statuses: true
tracking_history:
  campaign_member_aggregates: true
"""
ORG_STORAGE_MB = 1_000_000  # the emulated org's data storage for the bench: room for any dataset and its floor
MIB = 1024 * 1024

CM_CALLS_FACTOR = 1.05
SF_CALLS_PER_10K = 10
FLOOR_FACTOR = 1.5
PEAK_RSS_MB = 300
PEAK_GROWTH = 0.20
READ_RECORDS_PER_S = 50_000


class BenchError(Exception):
    """The benchmark could not run (the sandbox did not start, setup failed), reported as one line."""


# ---------------------------------------------------------------------------------- measuring, in the child


def _params_key(params: dict[str, Any] | None) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, str(v)) for k, v in (params or {}).items() if k not in ("page", "pagesize")))


@dataclass
class StreamRead:
    endpoint: str
    path: str
    params: dict[str, Any]
    reads: int = 0
    records: int = 0  # the most one read of it returned
    pages: list[int] = field(default_factory=list)  # every page fetched, in order


class MeasuredCampaignMonitor(CampaignMonitor):
    """The Campaign Monitor client, noting every paged stream (records and pages) and every single call."""

    def __init__(self, inner: CampaignMonitor) -> None:
        super().__init__(inner.transport, page_size=inner.page_size, parallel=inner.parallel)
        self.streams: dict[tuple[str, tuple[tuple[str, str], ...]], StreamRead] = {}
        self.singles: Counter[tuple[str, str, tuple[tuple[str, str], ...]]] = Counter()
        self._lock = threading.Lock()  # the sync reads several streams at once

    def _get(
        self,
        path: str,
        endpoint: str,
        params: dict[str, Any] | None = None,
        decode: Callable[[bytes], Any] | None = None,
    ) -> Any:
        with self._lock:
            if params is not None and "page" in params:
                stream = self.streams.get((path, _params_key(params)))
                if stream is not None:
                    stream.pages.append(int(params["page"]))
            else:
                self.singles[(endpoint, path, _params_key(params))] += 1
        return super()._get(path, endpoint, params, decode)

    def _paged(
        self, path: str, endpoint: str, params: dict[str, Any], decode: Callable[[bytes], Any] | None = None
    ) -> Iterator[Any]:
        key = (path, _params_key(params))
        with self._lock:
            stream = self.streams.get(key)
            if stream is None:
                stream = self.streams[key] = StreamRead(endpoint, path, dict(params))
            stream.reads += 1
        count = 0
        try:
            for record in super()._paged(path, endpoint, params, decode):
                count += 1
                yield record
        finally:
            stream.records = max(stream.records, count)

    def minimum(self) -> tuple[int, dict[str, int]]:
        """(cm_min_calls, the minimum per endpoint), by the formula of the module docstring."""
        per_endpoint: Counter[str] = Counter()
        for stream in self.streams.values():
            per_endpoint[stream.endpoint] += max(1, math.ceil(stream.records / PAGE_SIZE))
        for endpoint, _, _ in self.singles:
            if endpoint in NEEDED_SINGLE_CALLS:
                per_endpoint[endpoint] += 1
        return sum(per_endpoint.values()), dict(per_endpoint)

    def plan(self) -> dict[str, Any]:
        """What the floor downloads: each stream's distinct pages, and each needed single call once."""
        return {
            "streams": [
                {"path": s.path, "params": s.params, "pages": sorted(set(s.pages))} for s in self.streams.values()
            ],
            "singles": [
                {"path": path, "params": dict(params)}
                for endpoint, path, params in self.singles
                if endpoint in NEEDED_SINGLE_CALLS
            ],
        }


class WriteRecorder:
    """Wraps the adapter's upsert to keep a few rows of each object (the floor's templates); costs nothing
    measurable, holds at most SAMPLE_ROWS rows an object."""

    def __init__(self, adapter: Any) -> None:
        self.templates: dict[str, dict[str, Any]] = {}
        self.upserts: dict[str, Counter[str]] = {}  # object -> calls, rows, bulk (calls through Bulk 2.0)
        original, threshold = adapter.upsert, adapter.collections_threshold

        def upsert(object_name: str, external_id: str, records: Any) -> Any:
            counts = self.upserts.setdefault(object_name, Counter())
            counts.update(calls=1, rows=len(records), bulk=int(len(records) > threshold))
            kept = self.templates.setdefault(object_name, {"external_id": external_id, "rows": []})["rows"]
            for row in records[: max(SAMPLE_ROWS - len(kept), 0)]:
                kept.append(json.loads(json.dumps(row, default=str)))
            return original(object_name, external_id, records)

        adapter.upsert = upsert


def _rss_mb(field_name: str) -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _sum_counts(runs: list[Any], attribute: str) -> dict[str, int]:
    total: Counter[str] = Counter()
    for run in runs:
        total.update(getattr(run, attribute) or {})
    return dict(total)


def measure_sync(*, full: bool, dry_run: bool = False) -> dict[str, Any]:
    """One primary sync of every selected client, measured; in a child process with Django set up."""
    from cmsf.connections import services as connections
    from cmsf.sync.engine import run_primary_sync
    from cmsf.sync.models import SyncRun
    from cmsf.sync.services import clients_to_sync

    clients = clients_to_sync()
    baseline = _rss_mb("VmRSS")
    cpu_before, started = time.process_time(), time.perf_counter()
    cm = MeasuredCampaignMonitor(connections.campaign_monitor())
    sf = connections.salesforce()
    recorder = WriteRecorder(sf)
    runs = [run_primary_sync(client, full=full, dry_run=dry_run, cm=cm, sf=sf) for client in clients]
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_before
    peak = _rss_mb("VmHWM")
    cm_min, min_by_endpoint = cm.minimum()
    calls = dict(cm.transport.calls)
    sf_kinds = {kind: n for kind, n in sf.meter.calls.items() if kind != "oauth"}
    written = _sum_counts(runs, "written")
    read = _sum_counts(runs, "read")
    return {
        "ok": bool(runs) and all(run.status == SyncRun.Status.SUCCEEDED for run in runs),
        "clients": [
            {
                "client": run.client.name,
                "status": run.status,
                "message": run.message,
                "read": run.read,
                "written": run.written,
                "unchanged": run.skipped,
                "failed": run.failed,
                "deleted": run.deleted,
            }
            for run in runs
        ],
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_rss_mb": peak,
        "baseline_rss_mb": baseline,
        "records_read": sum(read.values()),
        "read": read,
        "cm_calls": sum(calls.values()),
        "cm_wait_s": cm.transport.wait_seconds,
        "cm_calls_by_endpoint": calls,
        "cm_min_calls": cm_min,
        "cm_min_by_endpoint": min_by_endpoint,
        "cm_streams": len(cm.streams),
        "cm_stream_rereads": sum(s.reads - 1 for s in cm.streams.values()),
        "sf_calls": sf.meter.total,
        "sf_calls_by_kind": sf_kinds,
        "sf_write_calls": sum(n for kind, n in sf_kinds.items() if kind.startswith(SF_WRITE_KINDS)),
        "sf_rows_written": sum(written.values()),
        "written": written,
        "deleted": _sum_counts(runs, "deleted"),
        "failed": _sum_counts(runs, "failed"),
        "sf_upserts_by_object": {name: dict(counts) for name, counts in recorder.upserts.items()},
        "plan": cm.plan(),
        "templates": recorder.templates,
    }


def child_main(argv: list[str]) -> int:
    """`python -m cmsf_sandbox.benchmark sync [--full] --out PATH`: one measured sync, its figures as JSON."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m cmsf_sandbox.benchmark")
    parser.add_argument("action", choices=("sync",))
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    from cmsf.lib.memory import tune_allocator

    tuned = tune_allocator()  # as every cmsf process does (`cmsf.cli.main`): the sync is measured as it runs
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cmsf.project.settings")
    import django

    django.setup()
    if os.environ.get("BENCH_PROFILE"):  # a developer's aid: where a sync's time goes, as pstats beside --out
        import cProfile

        profiler = cProfile.Profile()
        measured = profiler.runcall(measure_sync, full=args.full, dry_run=args.dry_run)
        profiler.dump_stats(args.out + ".prof")
    else:
        measured = measure_sync(full=args.full, dry_run=args.dry_run)
    result = {**measured, "allocator_tuned": tuned}
    Path(args.out).write_text(json.dumps(result, default=str), encoding="utf-8")
    return 0 if result["ok"] else 1


# ---------------------------------------------------------------------------------- running, in the parent


def _clean_env(data_dir: Path) -> dict[str, str]:
    """This environment without cmsf's settings (never the caller's database or keys), on `data_dir`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CMSF_", "DJANGO_")) and k != "DATABASE_URL"}
    env["CMSF_DATA_DIR"] = str(data_dir)
    return env


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _die_with_parent() -> None:
    """In a child before it starts (Linux): SIGTERM when the bench process dies, so no emulator outlives it."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


@dataclass
class Sandbox:
    process: subprocess.Popen[bytes]
    info: dict[str, Any]
    info_file: Path

    @property
    def cm(self) -> dict[str, Any]:
        return dict(self.info["campaign_monitor"])

    @property
    def sf(self) -> dict[str, Any]:
        return dict(self.info["salesforce"])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)


def start_sandbox(dataset: str, seed: int, folder: Path) -> Sandbox:
    """`cmsf sandbox` in a process of its own; returns once its info file is written."""
    folder.mkdir(parents=True, exist_ok=True)
    info_file, log = folder / "info.json", folder / "sandbox.log"
    command = [sys.executable, "-m", "cmsf.cli", "sandbox", "--dataset", dataset, "--seed", str(seed)]
    command += ["--info-json", str(info_file), "--dir", str(folder / "tls")]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=_clean_env(folder / "data"), stdout=out, stderr=subprocess.STDOUT,
                                   preexec_fn=_die_with_parent)  # fmt: skip
    deadline = time.monotonic() + SANDBOX_START_TIMEOUT
    while not info_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
            raise BenchError(f"the sandbox did not start:\n{_tail(log)}")
        time.sleep(0.2)
    return Sandbox(process, json.loads(info_file.read_text(encoding="utf-8")), info_file)


def _cmsf(state: Path, log: Path, *args: str) -> None:
    with log.open("ab") as out:
        done = subprocess.run([sys.executable, "-m", "cmsf.cli", *args], env=_clean_env(state), stdout=out,
                              stderr=subprocess.STDOUT, check=False)  # fmt: skip
    if done.returncode != 0:
        raise BenchError(f"`cmsf {' '.join(args)}` failed:\n{_tail(log)}")


def _admin(method: str, url: str, ca_file: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    import requests

    response = requests.request(method, url, json=body, verify=ca_file, timeout=600)
    response.raise_for_status()
    return dict(response.json())


def _server_calls(sandbox: Sandbox) -> tuple[int, int]:
    cm = _admin("GET", sandbox.cm["admin_url"] + "/calls", sandbox.cm["ca_file"])
    sf = _admin("GET", sandbox.sf["admin_url"] + "/calls", sandbox.sf["ca_file"])
    sf_calls = sum(n for kind, n in sf["calls"].items() if not kind.startswith("oauth"))
    return int(cm["total"]), sf_calls


def run_sync_child(state: Path, folder: Path, name: str, *, full: bool, dry_run: bool = False) -> dict[str, Any]:
    out, log = folder / f"{name}.json", folder / f"{name}.log"
    command = [sys.executable, "-m", "cmsf_sandbox.benchmark", "sync", "--out", str(out)] + (["--full"] if full else [])
    command += ["--dry-run"] if dry_run else []
    with log.open("wb") as handle:
        done = subprocess.run(command, env=_clean_env(state), stdout=handle, stderr=subprocess.STDOUT, check=False,
                              preexec_fn=_die_with_parent)  # fmt: skip
    if not out.exists():
        return {"ok": False, "clients": [], "error": f"the sync process ended with {done.returncode}:\n{_tail(log)}"}
    return dict(json.loads(out.read_text(encoding="utf-8")))


class Floor:
    """The floor's download (raw HTTP, one keep-alive session) and upload (the adapter, throwaway keys)."""

    def __init__(self, sandbox: Sandbox) -> None:
        import requests

        from cmsf.campaign_monitor.transport import ApiKeyAuth
        from cmsf.salesforce.adapter import SalesforceAdapter
        from cmsf.salesforce.auth import Credentials

        cm, sf = sandbox.cm, sandbox.sf
        self.base_url = str(cm["base_url"]).rstrip("/")
        self.ca_file = str(cm["ca_file"])
        self.session = requests.Session()
        self.session.trust_env = False  # no proxy lookup in the environment on every call: the bare minimum
        self.session.headers.update({"Authorization": ApiKeyAuth(cm["api_key"]).header(),
                                     "Accept": "application/json", "Accept-Encoding": "gzip"})  # fmt: skip
        credentials = Credentials(
            flow="jwt_bearer", login_url=sf["login_url"], client_id=sf["client_id"], username=sf["jwt_username"],
            private_key=Path(sf["jwt_private_key_file"]).read_text(encoding="ascii"),
        )  # fmt: skip
        self.adapter = SalesforceAdapter(credentials, ca_bundle=sf["ca_file"], api_version=sf["api_version"])
        self.templates: dict[str, dict[str, Any]] = {}  # object -> its external id field and sample rows
        self.serial = 0
        self.member_slots: list[tuple[str, str, str]] = []  # (campaign Id, person field, person Id) per member copy
        self.member_campaigns: list[str] = []  # the throwaway campaigns the member copies go to
        self.sf_admin_url, self.sf_ca_file = str(sf["admin_url"]), str(sf["ca_file"])
        self.timed_s, self.timed_calls = 0.0, 0  # the upload's timed part: its seconds and Salesforce calls

    def close(self) -> None:
        self.session.close()
        self.adapter.session.close()

    def _get(self, path: str, params: dict[str, Any]) -> int:
        response = self.session.get(f"{self.base_url}/{path}", params=params, verify=self.ca_file, timeout=(10, 120))
        size = len(response.content)
        if response.status_code != 200:
            raise BenchError(f"floor download: {path} answered {response.status_code}")
        return size

    def download(self, plan: dict[str, Any]) -> tuple[float, int, int]:
        """(seconds, calls, bytes) to fetch the plan's pages and single calls once each."""
        calls = size = 0
        started = time.perf_counter()
        for single in plan["singles"]:
            size += self._get(single["path"], single["params"])
            calls += 1
        for stream in plan["streams"]:
            for page in stream["pages"]:
                size += self._get(stream["path"], {**stream["params"], "page": page, "pagesize": PAGE_SIZE})
                calls += 1
        return time.perf_counter() - started, calls, size

    def _people(self) -> list[tuple[str, str]]:
        """Every contact and lead of the org, as (CampaignMember field, Id): untimed, for member copies."""
        found = [("ContactId", r["Id"]) for r in self.adapter.bulk_query("SELECT Id FROM Contact")]
        found += [("LeadId", r["Id"]) for r in self.adapter.bulk_query("SELECT Id FROM Lead WHERE IsConverted = false")]
        return found

    def prepare_members(self, count: int) -> None:
        """Throwaway campaigns enough for `count` member copies, a person once per campaign (untimed)."""
        people = self._people()
        if not people:
            raise BenchError("floor upload: the org has no contact or lead to copy campaign members with")
        needed = -(-count // len(people))
        self.serial += 1
        outcome = self.adapter.upsert(
            "Campaign",
            "CMSF_Campaign_Id__c",
            [
                {"CMSF_Campaign_Id__c": f"bench-floor-{self.serial}-c{i}", "Name": f"bench floor {i}"}
                for i in range(needed)
            ],
        )
        self.member_campaigns = [r.id for r in outcome if r.success and r.id]
        if len(self.member_campaigns) != needed:
            raise BenchError("floor upload: the throwaway campaigns for member copies could not be made")
        self.member_slots = [(self.member_campaigns[i // len(people)], *people[i % len(people)]) for i in range(count)]

    def _copy(self, sobject: str, row: dict[str, Any], i: int) -> dict[str, Any]:
        if sobject == "CampaignMember":
            campaign_id, field, person = self.member_slots[i]
            row = {k: v for k, v in row.items() if k not in ("ContactId", "LeadId")}
            return {**row, "CampaignId": campaign_id, field: person}
        if sobject == "Campaign":
            return {"Name": "bench floor", **row}  # a statistics-only row creates a campaign here: it needs a name
        return row

    def _insert(self, sobject: str, count: int, *, timed: bool = False) -> tuple[list[str], int]:
        """Upsert `count` copies of the object's sample rows under new throwaway keys: (their Ids, failures).
        Timed: each upsert is timed and metered, and its rows are then deleted and emptied from the recycle bin
        (untimed), so that the org never holds more than one batch of them (none are returned)."""
        template = self.templates.get(sobject)
        if not template or not template["rows"]:
            raise BenchError(f"floor upload: no row of {sobject} was seen to copy")
        key, rows = template["external_id"], template["rows"]
        self.serial += 1
        ids: list[str] = []
        failed = 0
        for start in range(0, count, FLOOR_BATCH):
            with self._timed() if timed else nullcontext():
                batch = [
                    {**self._copy(sobject, rows[i % len(rows)], i), key: f"bench-floor-{self.serial}-{i}"}
                    for i in range(start, min(start + FLOOR_BATCH, count))
                ]
                outcome = self.adapter.upsert(sobject, key, batch)
            made = [r.id for r in outcome if r.success and r.id]
            failed += sum(1 for r in outcome if not r.success)
            if timed:
                failed += self._discard(sobject, made)
            else:
                ids.extend(made)
        return ids, failed

    @contextmanager
    def _timed(self) -> Iterator[None]:
        """Count what runs inside in the upload's time and Salesforce calls."""
        began, calls = time.perf_counter(), self.adapter.meter.total
        try:
            yield
        finally:
            self.timed_s += time.perf_counter() - began
            self.timed_calls += self.adapter.meter.total - calls

    def _delete(self, sobject: str, ids: list[str]) -> int:
        failed = 0
        for start in range(0, len(ids), FLOOR_BATCH):
            failed += sum(1 for r in self.adapter.delete(sobject, ids[start : start + FLOOR_BATCH]) if not r.success)
        return failed

    def _purge(self, ids: list[str]) -> None:
        """Empty deleted floor rows from the emulator's recycle bin (untimed): otherwise the org would keep a copy
        of every row the floor ever wrote, and a `large` run would need twice the emulator's memory."""
        for start in range(0, len(ids), FLOOR_BATCH):
            _admin(
                "POST",
                self.sf_admin_url + "/recycle-bin/empty",
                self.sf_ca_file,
                {"ids": ids[start : start + FLOOR_BATCH]},
            )

    def _discard(self, sobject: str, ids: list[str]) -> int:
        failed = self._delete(sobject, ids)
        self._purge(ids)
        return failed

    def upload(self, result: dict[str, Any]) -> tuple[float, int, int]:
        """(seconds, Salesforce calls, rows that failed) to upsert as many rows per object as the run wrote and
        delete as many as it deleted. The floor's rows are removed again as it goes (not timed), so the org
        holds what the sync left in it, and at most one batch of floor rows besides."""
        for sobject, template in result["templates"].items():
            self.templates.setdefault(sobject, template)
        doomed: dict[str, list[str]] = {}
        failed = 0
        for sobject, count in result["deleted"].items():  # records for the floor's deletes, made beforehand
            doomed[sobject], bad = self._insert(sobject, count)
            failed += bad
        if result["written"].get("CampaignMember"):
            self.prepare_members(result["written"]["CampaignMember"])
        self.timed_s, self.timed_calls = 0.0, 0
        for sobject, count in result["written"].items():
            failed += self._insert(sobject, count, timed=True)[1]
        for sobject, ids in doomed.items():
            with self._timed():
                failed += self._delete(sobject, ids)
            self._purge(ids)
        if self.member_campaigns:
            failed += self._discard("Campaign", self.member_campaigns)
            self.member_campaigns, self.member_slots = [], []
        return self.timed_s, self.timed_calls, failed


def _read_path(result: dict[str, Any]) -> dict[str, Any]:
    """The dry run's figures: the read path alone (every record read and transformed, nothing written)."""
    wall = result["wall_s"]
    return {
        "read_records_per_s": round(result["records_read"] / wall, 1) if wall > 0 else None,
        "records_read": result["records_read"],
        "wall_s": round(wall, 3),
        "cpu_s": round(result["cpu_s"], 3),
        "peak_rss_mb": round(result["peak_rss_mb"], 1),
        "cm_calls": result["cm_calls"],
        "cm_min_calls": result["cm_min_calls"],
        "cm_wait_s": round(result["cm_wait_s"], 3),
        "sf_calls": result["sf_calls"],
        "sf_write_calls": result["sf_write_calls"],
    }


def _per_10k(calls: int, rows: int) -> float | None:
    return round(calls / rows * 10_000, 2) if rows else None


def _figures(result: dict[str, Any], server: tuple[int, int], floor: dict[str, Any]) -> dict[str, Any]:
    excess = {
        endpoint: n - result["cm_min_by_endpoint"].get(endpoint, 0)
        for endpoint, n in sorted(result["cm_calls_by_endpoint"].items())
        if n > result["cm_min_by_endpoint"].get(endpoint, 0)
    }
    wall = result["wall_s"]
    return {
        "wall_s": round(wall, 3),
        "cpu_s": round(result["cpu_s"], 3),
        "peak_rss_mb": round(result["peak_rss_mb"], 1),
        "records_per_s": round(result["records_read"] / wall, 1) if wall > 0 else None,
        "cm_calls": result["cm_calls"],
        "cm_min_calls": result["cm_min_calls"],
        "sf_calls": result["sf_calls"],
        "sf_rows_written": result["sf_rows_written"],
        "floor_wall_s": round(floor["download_s"] + floor["upload_s"], 3),
        # more detail
        "baseline_rss_mb": round(result["baseline_rss_mb"], 1),
        "records_read": result["records_read"],
        "cm_calls_server": server[0],
        "cm_wait_s": round(result["cm_wait_s"], 3),
        "cm_calls_ratio": round(result["cm_calls"] / result["cm_min_calls"], 4) if result["cm_min_calls"] else None,
        "cm_excess_by_endpoint": excess,
        "cm_streams": result["cm_streams"],
        "sf_calls_server": server[1],
        "sf_calls_per_10k_rows": _per_10k(result["sf_calls"], result["sf_rows_written"]),
        "sf_write_calls": result["sf_write_calls"],
        "sf_calls_by_kind": result["sf_calls_by_kind"],
        "written": result["written"],
        "deleted": result["deleted"],
        "failed": result["failed"],
        "read": result["read"],
        "sf_upserts_by_object": result["sf_upserts_by_object"],
        "sync_messages": {c["client"]: c["message"] for c in result["clients"] if c["message"]},
        "floor_download_s": round(floor["download_s"], 3),
        "floor_download_calls": floor["download_calls"],
        "floor_download_mb": round(floor["download_bytes"] / MIB, 1),
        "floor_upload_s": round(floor["upload_s"], 3),
        "floor_upload_sf_calls": floor["upload_calls"],
        "floor_upload_failed": floor["upload_failed"],
        "wall_to_floor": round(wall / (floor["download_s"] + floor["upload_s"]), 3),
    }


@dataclass
class Target:
    name: str
    run: str
    met: bool | None  # None: not measured
    detail: str


def evaluate(
    runs: dict[str, dict[str, Any]], compare: dict[str, Any] | None, read_path: dict[str, Any] | None = None
) -> list[Target]:
    targets: list[Target] = []

    def add(name: str, run: str, met: bool | None, detail: str) -> None:
        targets.append(Target(name, run, met, detail))

    if read_path:
        rate = read_path["read_records_per_s"]
        add(f"read path >= {READ_RECORDS_PER_S:,} records/s", "dry_run", rate is not None and rate >= READ_RECORDS_PER_S,
            f"{read_path['records_read']:,} records in {read_path['wall_s']:.2f} s = {rate or 0:,.0f} records/s")  # fmt: skip

    for name, run in runs.items():
        met = run["cm_calls"] <= CM_CALLS_FACTOR * run["cm_min_calls"]
        detail = f"{run['cm_calls']:,} calls, minimum {run['cm_min_calls']:,} ({run['cm_calls_ratio']}x)"
        add(f"Campaign Monitor calls <= {CM_CALLS_FACTOR} x minimum", name, met, detail)
    if "full" in runs:
        full, per_10k = runs["full"], runs["full"]["sf_calls_per_10k_rows"]
        detail = f"{full['sf_calls']:,} calls for {full['sf_rows_written']:,} rows = {per_10k}"
        add(f"Salesforce calls per 10,000 rows <= {SF_CALLS_PER_10K}", "full",
            per_10k is not None and per_10k <= SF_CALLS_PER_10K, detail)  # fmt: skip
    if "no_change" in runs:
        rows, calls = runs["no_change"]["sf_rows_written"], runs["no_change"]["sf_write_calls"]
        add(
            "no Salesforce write",
            "no_change",
            rows == 0 and calls == 0,
            f"{rows:,} rows written in {calls} write calls",
        )
    for name, run in runs.items():
        detail = f"{run['wall_s']:.2f} s, floor {run['floor_wall_s']:.2f} s ({run['wall_to_floor']}x)"
        add(f"wall time <= {FLOOR_FACTOR} x floor", name, run["wall_to_floor"] <= FLOOR_FACTOR, detail)
    peak = max((run["peak_rss_mb"] for run in runs.values()), default=0.0)
    add(f"peak memory < {PEAK_RSS_MB} MB", "all", peak < PEAK_RSS_MB, f"{peak:.0f} MB at most")
    growth_target = f"peak memory grows < {PEAK_GROWTH:.0%} from medium to large"
    if compare is None:
        add(growth_target, "all", None, "not measured: give --compare with the medium result when running large")
    else:
        before = max(run["peak_rss_mb"] for run in compare["runs"].values())
        growth = peak / before - 1
        detail = f"{compare['dataset']} {before:.0f} MB -> this run {peak:.0f} MB ({growth:+.0%})"
        add(growth_target, "all", growth < PEAK_GROWTH, detail)
    return targets


def _table(dataset: str, runs: dict[str, dict[str, Any]], say: Callable[[str], None]) -> None:
    def number(value: Any, digits: int = 0) -> str:
        if value is None:
            return "-"
        return f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"

    rows: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("wall s", lambda r: number(r["wall_s"], 2)),
        ("CPU s", lambda r: number(r["cpu_s"], 2)),
        ("peak RSS MB", lambda r: number(r["peak_rss_mb"], 0)),
        ("records read", lambda r: number(r["records_read"])),
        ("records / s", lambda r: number(r["records_per_s"], 0)),
        ("CM calls", lambda r: number(r["cm_calls"])),
        ("CM minimum calls", lambda r: number(r["cm_min_calls"])),
        ("CM calls / minimum", lambda r: number(r["cm_calls_ratio"], 3)),
        ("SF calls", lambda r: number(r["sf_calls"])),
        ("SF write calls", lambda r: number(r["sf_write_calls"])),
        ("SF rows written", lambda r: number(r["sf_rows_written"])),
        ("SF calls / 10k rows", lambda r: number(r["sf_calls_per_10k_rows"], 1)),
        ("floor download s", lambda r: number(r["floor_download_s"], 2)),
        ("floor upload s", lambda r: number(r["floor_upload_s"], 2)),
        ("floor s", lambda r: number(r["floor_wall_s"], 2)),
        ("wall / floor", lambda r: number(r["wall_to_floor"], 2)),
    ]
    names = list(runs)
    say(f"\ncmsf bench, dataset {dataset}")
    say(f"{'':<22}" + "".join(f"{name:>14}" for name in names))
    for label, cell in rows:
        say(f"{label:<22}" + "".join(f"{cell(runs[name]):>14}" for name in names))
    for name in names:
        if runs[name]["cm_excess_by_endpoint"]:
            excess = ", ".join(f"{e} +{n}" for e, n in runs[name]["cm_excess_by_endpoint"].items())
            say(f"CM calls beyond the minimum ({name}): {excess}")


def _load_compare(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise BenchError(f"--compare: cannot read {path}: {error}") from None
    if not isinstance(document, dict) or not document.get("runs"):
        raise BenchError(f"--compare: {path} is not a `cmsf bench --json` result")
    return document


def run_bench(
    *,
    dataset: str,
    json_path: Path | None = None,
    compare: Path | None = None,
    seed: int = 1,
    keep: bool = False,
    campaign_members: bool = False,
    say: Callable[[str], None] = print,
) -> int:
    """The whole benchmark; 0 when every sync succeeded (targets missed or not), 1 when one failed."""
    from cmsf.lib.env import data_dir
    from cmsf_sandbox import dataset as datasets

    if dataset not in datasets.SIZES:
        raise BenchError(f"--dataset: {dataset!r} is not one of {', '.join(datasets.SIZES)}")
    baseline = _load_compare(compare)
    parent = data_dir() / "bench"
    parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{dataset}-", dir=parent))
    state = folder / "state"
    say(f"working in {folder}")
    sandbox: Sandbox | None = None
    floor: Floor | None = None
    runs: dict[str, dict[str, Any]] = {}
    read_path: dict[str, Any] = {}
    failure = ""
    extra: dict[str, Any] = {}
    finished = False
    try:
        started = time.perf_counter()
        sandbox = start_sandbox(dataset, seed, folder / "sandbox")
        say(f"sandbox ({dataset}, seed {seed}) up in {time.perf_counter() - started:.1f} s, pid {sandbox.process.pid}")
        # The emulated org's data storage (1 GB by default) is lifted: a `medium` full sync nearly fills it and
        # the floor's throwaway rows come on top; the org's size is not what is measured here.
        extra["org_limits"] = {
            "before": _admin("GET", sandbox.sf["admin_url"] + "/limits", sandbox.sf["ca_file"]),
            "after": _admin("POST", sandbox.sf["admin_url"] + "/limits", sandbox.sf["ca_file"],
                            {"data_storage_mb": ORG_STORAGE_MB}),
        }  # fmt: skip
        _cmsf(state, folder / "setup.log", "init", "--no-input")
        _cmsf(state, folder / "setup.log", "connect", "--sandbox-info", str(sandbox.info_file))
        if campaign_members:
            settings_file = folder / "campaign-members.yaml"
            settings_file.write_text(CAMPAIGN_MEMBERS_SETTINGS, encoding="utf-8")
            _cmsf(state, folder / "setup.log", "config", "import", str(settings_file))
            extra["campaign_members"] = True
        floor = Floor(sandbox)
        say("read path: a dry run ...")
        dry = run_sync_child(state, folder, "dry_run", full=False, dry_run=True)
        if not dry["ok"]:
            problems = [f"{c['client']}: {c['status']}: {c['message']}" for c in dry["clients"]]
            raise BenchError("the dry run failed: " + ("; ".join(problems) or dry.get("error", "")))
        read_path = _read_path(dry)
        say(f"  {read_path['records_read']:,} records read in {read_path['wall_s']:.2f} s: "
            f"{read_path['read_records_per_s']:,.0f} records/s")  # fmt: skip
        for name in RUNS:
            if name == "incremental":
                until = datetime.now(UTC).isoformat()
                extra["advance"] = _admin("POST", sandbox.cm["admin_url"] + "/advance", sandbox.cm["ca_file"],
                                          {"until": until})  # fmt: skip
                say(f"advanced the Campaign Monitor emulator to {until}: {extra['advance']}")
            say(f"{name} sync ...")
            before, load = _server_calls(sandbox), os.getloadavg()[0]
            result = run_sync_child(state, folder, name, full=name == "full")
            after = _server_calls(sandbox)
            if not result["ok"]:
                problems = [f"{c['client']}: {c['status']}: {c['message']}" for c in result["clients"]]
                failure = f"the {name} sync failed: " + ("; ".join(problems) or result.get("error", ""))
                break
            seconds, calls, size = floor.download(result["plan"])
            stored = _admin("GET", sandbox.sf["admin_url"] + "/storage", sandbox.sf["ca_file"])["used_kb"]
            up_seconds, up_calls, up_failed = floor.upload(result)
            left = _admin("GET", sandbox.sf["admin_url"] + "/storage", sandbox.sf["ca_file"])["used_kb"] - stored
            floor_figures = {"download_s": seconds, "download_calls": calls, "download_bytes": size,
                             "upload_s": up_seconds, "upload_calls": up_calls, "upload_failed": up_failed}  # fmt: skip
            run = runs[name] = _figures(result, (after[0] - before[0], after[1] - before[1]), floor_figures)
            run["floor_left_kb"] = left  # what the floor's rows left in the org (recycle bin included): 0
            run["load_avg_before"] = round(load, 2)  # other work on the machine skews wall times: a hint
            say(f"  {run['wall_s']:.2f} s, {run['records_read']:,} records read, {run['sf_rows_written']:,} rows "
                f"written; floor {run['floor_wall_s']:.2f} s")  # fmt: skip
        finished = True
    finally:
        if floor is not None:
            floor.close()
        if sandbox is not None:
            sandbox.stop()
        if finished and not failure and not keep:
            shutil.rmtree(folder, ignore_errors=True)
    targets = evaluate(runs, baseline, read_path) if runs else []
    if read_path:
        say(f"\nread path (dry run, nothing written): {read_path['records_read']:,} records in "
            f"{read_path['wall_s']:.2f} s = {read_path['read_records_per_s']:,.0f} records/s "
            f"({read_path['cm_calls']:,} Campaign Monitor calls, {read_path['cpu_s']:.2f} s CPU)")  # fmt: skip
    if runs:
        _table(dataset, runs, say)
        say(f"\nTargets (set for medium; this run is {dataset}):")
        for target in targets:
            verdict = "not measured" if target.met is None else "met" if target.met else "NOT MET"
            say(f"  {verdict:<13} {target.name} [{target.run}]: {target.detail}")
    if json_path is not None:
        document = {
            "dataset": dataset,
            "seed": seed,
            "read_records_per_s": read_path.get("read_records_per_s"),
            "read_path": read_path,
            "runs": runs,
            "targets": [target.__dict__ for target in targets],
            "machine": {"cpus": os.cpu_count()},
            **extra,
            **({"error": failure} if failure else {}),
        }
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        say(f"wrote {json_path}")
    if failure:
        say(f"cmsf bench: {failure} (logs in {folder})")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))
