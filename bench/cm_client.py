"""Benchmark: cmsf's Campaign Monitor client reading a whole dataset from the emulator.

Run: .venv/bin/python bench/cm_client.py [--size medium] [--seed 1] [--parallel 1]

The emulator runs as `cmsf sandbox` in another process (its own core), as Campaign Monitor would. The
client reads every client, list, subscriber of every state, sent campaign, summary, recipient and
tracking event. "Waiting" is the time spent inside HTTP calls (sending, the server's work, receiving);
"overhead" is everything else the client does: decoding JSON, building typed records, converting times
to UTC, paging. The target is overhead under 10% of waiting. `--faults slow` adds the emulator's per-request
latency, closer to the real service's answer times than the bare emulator.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cmsf.campaign_monitor.api import CAMPAIGN_ACTIVITIES, SUBSCRIBER_STATES, CampaignMonitor
from cmsf.campaign_monitor.transport import ApiKeyAuth, Transport


def start_sandbox(size: str, seed: int, folder: Path, faults: str = "none") -> tuple[subprocess.Popen[bytes], dict]:
    info = folder / "info.json"
    cmsf = Path(sys.executable).with_name("cmsf")
    env = {**os.environ, "CMSF_DATA_DIR": str(folder / "data")}
    command = [str(cmsf), "sandbox", "--dataset", size, "--seed", str(seed), "--faults", faults]
    command += ["--info-json", str(info), "--dir", str(folder)]
    process = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 600
    while not info.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the sandbox did not start")
        time.sleep(0.2)
    return process, json.loads(info.read_text())["campaign_monitor"]


def read_everything(cm: CampaignMonitor) -> dict[str, int]:
    counts = {"subscribers": 0, "campaigns": 0, "recipients": 0, "tracking_events": 0}
    for summary in cm.clients():
        zone = cm.client(summary.client_id).time_zone
        for lst in cm.lists(summary.client_id):
            cm.list_stats(lst.list_id)
            for state in SUBSCRIBER_STATES:
                counts["subscribers"] += sum(1 for _ in cm.subscribers(lst.list_id, state, zone=zone))
        for campaign in cm.sent_campaigns(summary.client_id, zone=zone):
            counts["campaigns"] += 1
            cm.campaign_summary(campaign.campaign_id)
            counts["recipients"] += sum(1 for _ in cm.campaign_recipients(campaign.campaign_id, zone=zone))
            for kind in CAMPAIGN_ACTIVITIES:
                counts["tracking_events"] += sum(1 for _ in cm.campaign_activity(campaign.campaign_id, kind, zone=zone))
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="medium")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--parallel", type=int, default=1, help="pages fetched ahead in parallel")
    parser.add_argument("--faults", default="none", help="the emulator's fault profile: none, slow (latency) or flaky")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        process, info = start_sandbox(args.size, args.seed, Path(folder), args.faults)
        print(f"sandbox ({args.size}, faults {args.faults}) up in {time.perf_counter() - started:.1f} s")
        try:
            transport = Transport(ApiKeyAuth(info["api_key"]), base_url=info["base_url"], ca_bundle=info["ca_file"])
            cm = CampaignMonitor(transport, parallel=args.parallel)
            cpu_before = time.process_time()
            started = time.perf_counter()
            counts = read_everything(cm)
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu_before
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=60)
    waiting = transport.wait_seconds
    calls = sum(transport.calls.values())
    records = sum(counts.values())
    overhead = max(elapsed - waiting, 0.0) if args.parallel == 1 else None
    print(
        f"read {records:,} records ({counts}) in {calls:,} calls, {elapsed:.1f} s: {records / elapsed:,.0f} records/s"
    )
    if overhead is not None:
        print(
            f"waiting on the server {waiting:.1f} s; client overhead {overhead:.1f} s = {100 * overhead / waiting:.1f}%"
        )
    print(f"client CPU {cpu:.1f} s; peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
