"""Benchmark: an import wizard's API calls and time, against both emulators over TLS.

Run: CMSF_DATA_DIR=$(mktemp -d) .venv/bin/python bench/imports.py [--rows 100000]

cmsf's database is made in CMSF_DATA_DIR (an empty folder: the script migrates it), and both emulators run in
threads of this process (the `tiny` datasets, so the list starts nearly empty). `--rows` contacts are made in the
Salesforce emulator (untimed), and a wizard reading them with a SOQL query imports them into one list: an Update
run into the empty list, the same run again (everyone exists), a Resubscribe run after a tenth of them were
deleted in Campaign Monitor, the preview of a Remove run after a tenth of them left the source, and an Update run
from a report on the same contacts (through the Analytics API: 50,000 records at most). Each reports
the rows read, what Campaign Monitor took, the Campaign Monitor and Salesforce calls, and the wall time. Target:
100,000 rows in at most 110 Campaign Monitor calls.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from itertools import islice
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cmsf.project.settings")

import django

django.setup()

import requests  # noqa: E402
from bench_common import connect  # noqa: E402  (bench/bench_common.py, beside this script)
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

from cmsf.audience.imports import run_import  # noqa: E402
from cmsf.audience.models import ImportRun, ImportWizard  # noqa: E402
from cmsf.connections import services as connections  # noqa: E402
from cmsf.connections.models import CampaignMonitorClient  # noqa: E402
from cmsf.lib.keys import create_encryption_key_file  # noqa: E402
from cmsf.sync.outbound import ANY_ZONE  # noqa: E402
from cmsf_sandbox.campaign_monitor.app import create_app as create_cm  # noqa: E402
from cmsf_sandbox.dataset import generate_world  # noqa: E402
from cmsf_sandbox.salesforce.app import create_app as create_sf  # noqa: E402
from cmsf_sandbox.salesforce.data import generate_org  # noqa: E402
from cmsf_sandbox.server import serve_in_thread  # noqa: E402
from cmsf_sandbox.tls import generate_tls_files  # noqa: E402

TARGET_CALLS_PER_100K = 110


def measure(label: str, wizard: ImportWizard, *, dry_run: bool = False) -> ImportRun:
    started = time.perf_counter()
    run = run_import(wizard, dry_run=dry_run)
    wall = time.perf_counter() - started
    took = (f"{run.imported:,} would be sent, {len(run.would_remove):,} would be removed" if dry_run
            else f"{run.imported:,} imported ({run.new:,} new, {run.resubscribed:,} resubscribed)")  # fmt: skip
    print(f"{label}: {run.status}; read {run.read:,}; {took}; {run.cm_calls} Campaign Monitor calls, "
          f"{run.sf_calls} Salesforce calls; {wall:.1f} s ({run.read / wall:,.0f} rows/s)")  # fmt: skip
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    if not settings.CMSF_ENCRYPTION_KEY and not settings.CMSF_ENCRYPTION_KEY_FILE.exists():
        create_encryption_key_file(settings.CMSF_ENCRYPTION_KEY_FILE)  # as `cmsf init` does
    call_command("migrate", verbosity=0)
    world, org = generate_world("tiny", 1), generate_org("tiny", 1)
    with tempfile.TemporaryDirectory() as folder:
        tls = generate_tls_files(Path(folder))
        with (
            serve_in_thread(create_cm(world, "none", webhook_ca=str(tls.ca_file)), tls=tls) as cm_base,
            serve_in_thread(create_sf(org, "none"), tls=tls) as sf_base,
        ):
            connect(world, org, cm_base, sf_base, str(tls.ca_file))
            sf, cm = connections.salesforce(), connections.campaign_monitor()
            made = time.perf_counter()
            for start in range(0, args.rows, 10_000):
                rows = [{"FirstName": "Bench", "LastName": f"Person {i}", "Email": f"bench.{i}@example.org",
                         "Title": f"Title {i % 50}"} for i in range(start, min(args.rows, start + 10_000))]  # fmt: skip
                sf.insert("Contact", rows)
            print(f"{args.rows:,} contacts made in Salesforce in {time.perf_counter() - made:.1f} s (untimed)")
            client = CampaignMonitorClient.objects.order_by("pk").first()
            list_id = cm.lists(client.cm_client_id)[0].list_id
            title = cm.create_custom_field(list_id, "Title", "Text")
            wizard = ImportWizard.objects.create(
                name="Bench", client=client, list_id=list_id, source=ImportWizard.Source.SOQL, sobject="Contact",
                soql="SELECT Id FROM Contact WHERE FirstName = 'Bench'",
                mappings=[{"salesforce": "Title", "campaign_monitor": title}],
            )  # fmt: skip
            first = measure("update, into the list", wizard)
            measure("update again (everyone exists)", wizard)
            ours = (s.email for s in cm.subscribers(list_id, "active", zone=ANY_ZONE) if s.email.startswith("bench."))
            tenth = list(islice(ours, args.rows // 10))
            for email in tenth:
                cm.delete_subscriber(list_id, email)
            wizard.mode = ImportWizard.Mode.RESUBSCRIBE
            wizard.save()
            measure(f"resubscribe ({len(tenth):,} deleted in Campaign Monitor)", wizard)
            wizard.mode, wizard.soql = ImportWizard.Mode.REMOVE, wizard.soql + " AND Title != 'Title 7'"
            wizard.save()
            measure("preview of add, update and remove (a fiftieth left the source)", wizard, dry_run=True)
            admin = sf_base + "/admin/reports"
            report = requests.post(admin, json={"sobject": "Contact", "name": "Bench people",
                                                "columns": ["Contact.Name", "Contact.Email"],
                                                "filters": [{"column": "Contact.FirstName", "operator": "equals",
                                                             "value": "Bench"}]},
                                   verify=str(tls.ca_file), timeout=120).json()  # fmt: skip
            by_report = ImportWizard.objects.create(
                name="Bench report", client=client, list_id=list_id, source=ImportWizard.Source.REPORT,
                sobject="Contact", report_id=report["id"], mappings=[{"salesforce": "Title", "campaign_monitor": title}],
            )  # fmt: skip
            measure("update from a report (the first 50,000 records at most)", by_report)
            if first.read >= 100_000:
                verdict = "met" if first.cm_calls <= TARGET_CALLS_PER_100K * first.read / 100_000 else "NOT MET"
                print(f"{verdict}: {first.cm_calls} Campaign Monitor calls for {first.read:,} rows (target: at most "
                      f"{TARGET_CALLS_PER_100K} for 100,000)")  # fmt: skip


if __name__ == "__main__":
    main()
