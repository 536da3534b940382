"""Benchmark: the Salesforce emulator's Bulk API 2.0 upsert of 100,000 rows and its 2,000-row query pages.

Run: .venv/bin/python bench/sf_emulator.py [--rows 100000] [--size small] [--pages 20]

Raw HTTP over TLS with `requests` (a keep-alive session): a Bulk API 2.0 upsert into CMSF_Subscriber__c by
Member_Key__c (create the job, upload the CSV, close it, poll until JobComplete, read successful and failed
results), once creating every row and once more updating them all; then REST query pages of 2,000 rows
(the first page, which runs the query over every row, and queryMore pages). Targets: the upsert under
20 s, a 2,000-row page under 100 ms. The emulator runs in a thread of this process, so the figures are end
to end (client work included).
"""

from __future__ import annotations

import argparse
import csv
import io
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from cmsf_sandbox.salesforce.app import create_app
from cmsf_sandbox.salesforce.data import generate_org
from cmsf_sandbox.server import serve_in_thread
from cmsf_sandbox.tls import generate_tls_files

VERSION = "62.0"
STATES = ("Active", "Unconfirmed", "Unsubscribed", "Bounced", "Deleted")


def subscriber_csv(rows: int, lists: list[str], contacts: list[str], generation: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "Member_Key__c",
            "Email__c",
            "Name__c",
            "State__c",
            "List__c",
            "Contact__c",
            "Date_Added__c",
            "Consent_To_Track__c",
        ]
    )
    for index in range(rows):
        email = f"person{index}@example.com"
        list_id = lists[index % len(lists)]
        writer.writerow(
            [
                f"{list_id}:{email}",
                email,
                f"Person {index} ({generation})",
                STATES[(index + generation) % len(STATES)],
                list_id,
                contacts[index % len(contacts)] if index % 3 == 0 else "",
                f"2024-0{1 + index % 9}-1{index % 10}T10:20:30.000Z",
                "Yes" if index % 2 else "No",
            ]
        )
    return out.getvalue().encode("utf-8")


def bulk_upsert(session: requests.Session, v: str, data: bytes) -> dict[str, Any]:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    job = session.post(
        f"{v}/jobs/ingest",
        json={"object": "CMSF_Subscriber__c", "operation": "upsert", "externalIdFieldName": "Member_Key__c"},
    )
    job.raise_for_status()
    job_id = job.json()["id"]
    timings["create"] = time.perf_counter() - started
    mark = time.perf_counter()
    upload = session.put(f"{v}/jobs/ingest/{job_id}/batches", data=data, headers={"Content-Type": "text/csv"})
    assert upload.status_code == 201, upload.text
    timings["upload"] = time.perf_counter() - mark
    mark = time.perf_counter()
    session.patch(f"{v}/jobs/ingest/{job_id}", json={"state": "UploadComplete"}).raise_for_status()
    timings["close (processing)"] = time.perf_counter() - mark
    mark = time.perf_counter()
    polls = 0
    while True:
        polls += 1
        info = session.get(f"{v}/jobs/ingest/{job_id}").json()
        if info["state"] in ("JobComplete", "Failed", "Aborted"):
            break
        time.sleep(0.05)
    timings["poll"] = time.perf_counter() - mark
    mark = time.perf_counter()
    successful = session.get(f"{v}/jobs/ingest/{job_id}/successfulResults/")
    failed = session.get(f"{v}/jobs/ingest/{job_id}/failedResults/")
    timings["results"] = time.perf_counter() - mark
    timings["total"] = time.perf_counter() - started
    created = sum(1 for row in csv.DictReader(io.StringIO(successful.text)) if row["sf__Created"] == "true")
    return {
        "state": info["state"],
        "processed": info["numberRecordsProcessed"],
        "failed": info["numberRecordsFailed"],
        "created": created,
        "failed_rows": len(failed.text.splitlines()) - 1,
        "polls": polls,
        "timings": timings,
        "bytes": len(data),
    }


def report(label: str, result: dict[str, Any]) -> None:
    t = result["timings"]
    steps = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in t.items() if name != "total")
    print(
        f"{label}: {t['total']:.2f} s total ({steps}); {result['processed']:,} processed, {result['created']:,} created, "
        f"{result['failed']:,} failed; {result['bytes'] / 1e6:.1f} MB CSV; state {result['state']} after "
        f"{result['polls']} poll(s)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--size", default="small")
    parser.add_argument("--pages", type=int, default=20)
    args = parser.parse_args()
    started = time.perf_counter()
    org = generate_org(args.size, 1)
    app = create_app(org)
    em = app.state.emulator
    print(f"generate_org({args.size!r}) and create_app: {time.perf_counter() - started:.1f} s")
    with tempfile.TemporaryDirectory() as folder:
        tls = generate_tls_files(Path(folder))
        with serve_in_thread(app, tls=tls) as base:
            session = requests.Session()
            session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
            session.verify = str(tls.ca_file)
            session.headers["Authorization"] = f"Bearer {em.issue_token()}"
            v = f"{base}/services/data/v{VERSION}"
            lists = []
            for index in range(5):
                created = session.post(
                    f"{v}/sobjects/CMSF_List__c/", json={"Name": f"List {index}", "List_Id__c": f"L{index}"}
                )
                lists.append(created.json()["id"])
            contacts = [
                r["Id"]
                for r in session.get(f"{v}/query", params={"q": "SELECT Id FROM Contact LIMIT 500"}).json()["records"]
            ]
            first = bulk_upsert(session, v, subscriber_csv(args.rows, lists, contacts, 1))
            report(f"Bulk API 2.0 upsert of {args.rows:,} new rows", first)
            second = bulk_upsert(session, v, subscriber_csv(args.rows, lists, contacts, 2))
            report(f"Bulk API 2.0 upsert of {args.rows:,} existing rows", second)

            soql = (
                "SELECT Id, Name, Member_Key__c, Email__c, Name__c, State__c, Date_Added__c, List__c, "
                "Contact__c, Contact__r.Email FROM CMSF_Subscriber__c WHERE State__c != 'Deleted' ORDER BY Member_Key__c"
            )
            mark = time.perf_counter()
            page = session.get(f"{v}/query", params={"q": soql})
            first_page = time.perf_counter() - mark
            body = page.json()
            more: list[float] = []
            next_url = body.get("nextRecordsUrl")
            while next_url and len(more) < args.pages:
                mark = time.perf_counter()
                page = session.get(base + next_url)
                more.append(time.perf_counter() - mark)
                next_url = page.json().get("nextRecordsUrl")
            print(
                f"query: {body['totalSize']:,} rows; first page of {len(body['records'])} (runs the query, sorts): "
                f"{first_page * 1000:.0f} ms; queryMore pages of 2,000: median {statistics.median(more) * 1000:.0f} ms, "
                f"max {max(more) * 1000:.0f} ms over {len(more)} pages"
            )
            simple = "SELECT Id, Name, Member_Key__c, Email__c, State__c FROM CMSF_Subscriber__c"
            times = []
            for _ in range(5):
                mark = time.perf_counter()
                session.get(f"{v}/query", params={"q": simple}).raise_for_status()
                times.append(time.perf_counter() - mark)
            print(f"query without WHERE/ORDER BY, first page of 2,000: median {statistics.median(times) * 1000:.0f} ms")
            session.close()
    ok = first["timings"]["total"] < 20 and second["timings"]["total"] < 20 and statistics.median(more) < 0.1
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
