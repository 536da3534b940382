"""Benchmark: records/second the Campaign Monitor emulator serves as pages of 1000 campaign opens over TLS.

Run: .venv/bin/python bench/cm_emulator.py [--pages 100] [--size medium]

The emulator runs in a thread of this process (so the client's JSON decoding shares the GIL with it: the
figure is end to end, a floor for the server alone); the client is `requests` with a keep-alive session.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

from cmsf_sandbox.campaign_monitor.app import create_app
from cmsf_sandbox.campaign_monitor.world import World
from cmsf_sandbox.dataset import generate_world
from cmsf_sandbox.server import serve_in_thread
from cmsf_sandbox.tls import generate_tls_files

PAGE = 1000


def build_world(size: str) -> World:
    started = time.perf_counter()
    world = generate_world(size, 1)
    print(f"generate_world({size!r}, 1): {time.perf_counter() - started:.1f} s")
    return world


def full_pages(world: World) -> list[tuple[str, int]]:
    """(campaign id, page) for every page of opens that holds a full 1000 records, biggest campaigns first."""
    pages: list[tuple[str, int]] = []
    for campaign in sorted(world.campaigns.values(), key=lambda c: -len(c.opens)):
        pages.extend((campaign.campaign_id, page) for page in range(1, len(campaign.opens) // PAGE + 1))
    return pages


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--size", default="medium")
    args = parser.parse_args()
    world = build_world(args.size)
    pages = full_pages(world)
    if not pages:
        print("no campaign has 1000 opens", file=sys.stderr)
        return 1
    plan = [pages[i % len(pages)] for i in range(args.pages)]
    print(
        f"{sum(len(c.opens) for c in world.campaigns.values()):,} opens; {len(pages)} full pages; serving {len(plan)}"
    )
    with tempfile.TemporaryDirectory() as folder:
        tls = generate_tls_files(Path(folder))
        app = create_app(world)
        with serve_in_thread(app, tls=tls) as base, requests.Session() as session:
            session.trust_env = False  # REQUESTS_CA_BUNDLE would override session.verify
            session.verify = str(tls.ca_file)
            session.auth = (world.account_api_key, "x")
            api = base + "/api/v3.3"
            session.get(f"{api}/campaigns/{plan[0][0]}/opens.json", params={"pagesize": PAGE}).raise_for_status()
            records = 0
            decode = 0.0
            timings: list[float] = []
            started = time.perf_counter()
            for campaign_id, page in plan:
                t0 = time.perf_counter()
                response = session.get(
                    f"{api}/campaigns/{campaign_id}/opens.json",
                    params={"page": page, "pagesize": PAGE, "orderfield": "date", "orderdirection": "asc"},
                )
                t1 = time.perf_counter()
                response.raise_for_status()
                body = response.json()
                decode += time.perf_counter() - t1
                timings.append(time.perf_counter() - t0)
                records += body["RecordsOnThisPage"]
            elapsed = time.perf_counter() - started
    print(f"{records:,} records in {elapsed:.2f} s over {len(plan)} requests")
    print(f"median page {statistics.median(timings) * 1000:.1f} ms; client JSON decoding {decode:.2f} s of it")
    print(f"end to end: {records / elapsed:,.0f} records/s")
    print(f"without the client's decoding: {records / (elapsed - decode):,.0f} records/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
