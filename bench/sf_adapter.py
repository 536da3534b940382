"""Benchmark: API calls and time of the Salesforce adapter's writes and reads against the emulator.

Run: .venv/bin/python bench/sf_adapter.py [--rows 10000] [--collections-rows 1000]

The emulator runs in a thread of this process over TLS. Targets: 10,000 rows written in at most 6 API
calls through Bulk 2.0, and 1,000 rows in at most 5 calls through sObject Collections.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from cmsf.salesforce.adapter import SalesforceAdapter
from cmsf.salesforce.auth import Credentials
from cmsf_sandbox.salesforce.app import create_app
from cmsf_sandbox.salesforce.data import generate_org
from cmsf_sandbox.server import serve_in_thread
from cmsf_sandbox.tls import generate_tls_files

LIST_ID = "f" * 32


def rows(n: int, start: int) -> list[dict[str, object]]:
    return [
        {"Member_Key__c": f"{LIST_ID}:bench{i}@example.org", "Email__c": f"bench{i}@example.org", "State__c": "Active"}
        for i in range(start, start + n)
    ]


def measure(adapter: SalesforceAdapter, label: str, action) -> None:  # type: ignore[no-untyped-def]
    before = dict(adapter.meter.calls)
    started = time.perf_counter()
    result = action()
    elapsed = time.perf_counter() - started
    calls = {k: v - before.get(k, 0) for k, v in adapter.meter.calls.items() if v - before.get(k, 0)}
    count = len(result) if hasattr(result, "__len__") else result
    print(f"{label}: {count:,} records, {sum(calls.values())} API calls {calls}, {elapsed:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--collections-rows", type=int, default=1_000)
    args = parser.parse_args()
    org = generate_org("tiny", 1)
    with tempfile.TemporaryDirectory() as folder:
        tls = generate_tls_files(Path(folder))
        with serve_in_thread(create_app(org, "none"), tls=tls) as base:
            credentials = Credentials(
                flow="jwt_bearer",
                login_url=base,
                client_id=org.oauth.client_id,
                username=org.oauth.jwt_username,
                private_key=org.oauth.jwt_private_key_pem,
            )
            adapter = SalesforceAdapter(credentials, ca_bundle=str(tls.ca_file))
            small = rows(args.collections_rows, 0)
            big = rows(args.rows, 1_000_000)
            measure(
                adapter,
                "Collections upsert (new)",
                lambda: adapter.upsert("CMSF_Subscriber__c", "Member_Key__c", small),
            )
            measure(
                adapter,
                "Collections upsert (again)",
                lambda: adapter.upsert("CMSF_Subscriber__c", "Member_Key__c", small),
            )
            measure(
                adapter, "Bulk 2.0 upsert (new)", lambda: adapter.upsert("CMSF_Subscriber__c", "Member_Key__c", big)
            )
            measure(
                adapter, "Bulk 2.0 upsert (again)", lambda: adapter.upsert("CMSF_Subscriber__c", "Member_Key__c", big)
            )
            soql = "SELECT Id, Member_Key__c FROM CMSF_Subscriber__c"
            measure(adapter, "REST query", lambda: sum(1 for _ in adapter.query(soql)))
            measure(adapter, "Bulk 2.0 query", lambda: sum(1 for _ in adapter.bulk_query(soql)))
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB (emulator and adapter)")


if __name__ == "__main__":
    main()
