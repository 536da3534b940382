"""Benchmark: the client's cost per record of decoding a page and building its records, three ways.

Run: .venv/bin/python bench/decode.py [--size small] [--pages 8] [--repeat 5]

The pages are the emulator's own (it serves them in a thread of this process; the bytes are fetched once, then
decoded many times, with no HTTP in what is timed): a list's active subscribers, and a campaign's recipients, opens
and clicks, 1,000 records a page. For each shape, per record:

- `json`: the standard library's `json.loads`, then each record built from its dict (`from_api`, what the client
  did before msgspec);
- `orjson`: `orjson.loads`, then the same building (orjson is not a dependency of cmsf: install it to measure it,
  `pip install orjson`);
- `msgspec`: the client's decoder now (`cmsf.campaign_monitor.decoding`): the page decoded by msgspec straight into
  the record structs, then the times converted to UTC in one loop.

Each figure is the best of `--repeat` passes over the pages, in microseconds a record.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from cmsf.campaign_monitor import decoding
from cmsf.campaign_monitor.records import Activity, Recipient, Subscriber
from cmsf_sandbox.campaign_monitor.app import create_app
from cmsf_sandbox.dataset import generate_world
from cmsf_sandbox.server import serve_in_thread
from cmsf_sandbox.tls import generate_tls_files

PAGE = 1000
ZONE = "(GMT+10:00) Canberra, Melbourne, Sydney"  # a zone with daylight saving: the offset cache is exercised


def fetch_pages(size: str, count: int) -> dict[str, list[bytes]]:
    """Up to `count` full pages of each shape, as the emulator serves them (bytes, gunzipped)."""
    world = generate_world(size, 1)
    campaigns = sorted(world.campaigns.values(), key=lambda c: -len(c.opens))
    wanted: list[tuple[str, str]] = []
    for lst in sorted(world.lists.values(), key=lambda x: -len(x.subscribers)):
        active = sum(1 for s in lst.subscribers.values() if s.state == "Active")
        wanted += [("subscribers", f"lists/{lst.list_id}/active.json?page={n}") for n in range(1, active // PAGE + 1)]
    for kind in ("recipients", "opens", "clicks"):
        for campaign in campaigns:
            total = len(getattr(campaign, kind))
            wanted += [
                (kind, f"campaigns/{campaign.campaign_id}/{kind}.json?page={n}") for n in range(1, total // PAGE + 1)
            ]
    pages: dict[str, list[bytes]] = {"subscribers": [], "recipients": [], "opens": [], "clicks": []}
    with tempfile.TemporaryDirectory() as folder:
        tls = generate_tls_files(Path(folder))
        with serve_in_thread(create_app(world), tls=tls) as base, requests.Session() as session:
            session.trust_env = False
            session.verify = str(tls.ca_file)
            session.auth = (world.account_api_key, "x")
            for kind, path in wanted:
                if len(pages[kind]) >= count:
                    continue
                extra = "&orderfield=date&orderdirection=asc" if kind != "recipients" else ""
                response = session.get(f"{base}/api/v3.3/{path}&pagesize={PAGE}{extra}")
                response.raise_for_status()
                pages[kind].append(response.content)
    return pages


def builder(kind: str) -> Callable[[dict[str, Any]], Any]:
    if kind == "subscribers":
        return lambda d: Subscriber.from_api(d, ZONE)
    if kind == "recipients":
        return lambda d: Recipient.from_api(d, ZONE)
    return lambda d: Activity.from_api(kind, d, ZONE)


def typed(kind: str) -> Callable[[bytes], decoding.Page]:
    if kind == "subscribers":
        return decoding.subscribers(ZONE, kind)
    if kind == "recipients":
        return decoding.recipients(ZONE, kind)
    return decoding.activities(kind, ZONE, kind)


def best_per_record(pages: list[bytes], decode: Callable[[bytes], list[Any]], repeat: int) -> float:
    records = sum(len(decode(page)) for page in pages)
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        for page in pages:
            decode(page)
        best = min(best, time.perf_counter() - started)
    return best / records * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="small")
    parser.add_argument("--pages", type=int, default=8, help="pages of each shape")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    try:
        import orjson
    except ImportError:
        orjson = None
        print("orjson is not installed: its column is left out (pip install orjson to measure it)")
    pages = fetch_pages(args.size, args.pages)
    print(
        f"{'page shape':<14}{'pages':>7}{'json us':>10}{'orjson us':>11}{'msgspec us':>12}   (a record, best of {args.repeat})"
    )
    for kind, shape in pages.items():
        if not shape:
            print(f"{kind:<14} no full page in dataset {args.size}")
            continue
        build = builder(kind)
        stdlib = best_per_record(
            shape, lambda page, build=build: [build(d) for d in json.loads(page)["Results"]], args.repeat
        )
        fast = (
            best_per_record(
                shape, lambda page, build=build: [build(d) for d in orjson.loads(page)["Results"]], args.repeat
            )
            if orjson is not None
            else None
        )
        decode = typed(kind)
        structs = best_per_record(shape, lambda page, decode=decode: decode(page)[0], args.repeat)
        fast_text = f"{fast:>11.2f}" if fast is not None else f"{'-':>11}"
        print(f"{kind:<14}{len(shape):>7}{stdlib:>10.2f}{fast_text}{structs:>12.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
