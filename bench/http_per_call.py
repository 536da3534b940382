"""Benchmark: the client-side cost of one Campaign Monitor call, through cmsf's transport and through bare HTTP
libraries, against the emulator over TLS.

Run: .venv/bin/python bench/http_per_call.py [--calls 2000] [--page --dataset small]

The emulator runs in a child process, so that the CPU time counted here is the client's alone. The same small
call (`GET /clients.json`) is made `--calls` times on one keep-alive connection by: cmsf's `Transport` (a
`requests.Session` with retries, counting and JSON), a bare `requests.Session`, and a bare `urllib3` pool. The
small syncs of `cmsf bench` make about a thousand such calls from reading threads that share the interpreter lock,
so the client's CPU per call bounds how close they can come to their floor.

`--page` measures a full sync's call instead: a page of 1,000 active subscribers of the dataset's largest list,
gzipped as Campaign Monitor sends it, read and decoded by each client.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import requests
import urllib3

from cmsf.campaign_monitor.transport import ApiKeyAuth, Transport


def measure(label: str, calls: int, call: Callable[[], object]) -> None:
    call()  # the connection is opened outside the measure
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(calls):
        call()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"{label:<28} {1000 * cpu / calls:6.3f} ms CPU a call, {1000 * wall / calls:6.3f} ms wall a call")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--page", action="store_true", help="a page of 1,000 subscribers instead of the clients")
    parser.add_argument("--dataset", default="tiny", help="the sandbox's dataset (small or larger for --page)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        info_file = Path(folder) / "sandbox.json"
        env = {**os.environ, "CMSF_DATA_DIR": folder}
        cmsf = str(Path(sys.executable).with_name("cmsf"))
        sandbox = subprocess.Popen(
            [cmsf, "sandbox", "--dataset", args.dataset, "--info-json", str(info_file)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            while not info_file.exists():
                if sandbox.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the sandbox did not start")
                time.sleep(0.1)
            cm = json.loads(info_file.read_text())["campaign_monitor"]
            base, key, ca = cm["base_url"].rstrip("/"), cm["api_key"], cm["ca_file"]
            header = {
                "Authorization": ApiKeyAuth(key).header(),
                "Accept": "application/json",
                "Accept-Encoding": "gzip",
            }

            transport = Transport(ApiKeyAuth(key), base_url=base, ca_bundle=ca)
            path = "clients.json"
            if args.page:
                lists = [
                    lst["ListID"]
                    for client in transport.request("GET", "clients.json", endpoint="clients")
                    for lst in transport.request("GET", f"clients/{client['ClientID']}/lists.json", endpoint="lists")
                ]
                sizes = {
                    list_id: transport.request("GET", f"lists/{list_id}/stats.json", endpoint="stats")[
                        "TotalActiveSubscribers"
                    ]
                    for list_id in lists
                }
                largest = max(sizes, key=lambda list_id: sizes[list_id])
                path = f"lists/{largest}/active.json?page=1&pagesize=1000&date=2000-01-01"
                print(f"a page of {min(sizes[largest], 1000)} subscribers of {largest}")
            measure("cmsf Transport", args.calls, lambda: transport.request("GET", path, endpoint="page"))

            session = requests.Session()
            session.trust_env = False
            session.headers.update(header)
            measure("requests.Session", args.calls, lambda: session.get(f"{base}/{path}", verify=ca).json())

            host_port = base.split("//", 1)[1].split("/", 1)[0]
            host, port = host_port.split(":")
            prefix = "/" + base.split("//", 1)[1].split("/", 1)[1]
            pool = urllib3.HTTPSConnectionPool(host, int(port), ca_certs=ca, headers=header, maxsize=1)
            measure("urllib3 pool", args.calls, lambda: json.loads(pool.request("GET", f"{prefix}/{path}").data))
        finally:
            sandbox.terminate()
            sandbox.wait(timeout=30)


if __name__ == "__main__":
    main()
