"""Benchmark: the Salesforce change watcher's API calls and time per run, against both emulators over TLS.

Run: CMSF_DATA_DIR=$(mktemp -d) .venv/bin/python bench/watcher.py [--dataset small] [--changes 0,20,200,1000]

cmsf's database is made in CMSF_DATA_DIR (an empty folder: the script migrates it), both emulators run in threads
of this process, a first primary sync writes the memberships, and the watcher starts watching. Then, for each count
of changes, that many contacts with memberships are changed in Salesforce (half their email, half Email Opt Out
checked, with "unsubscribe when Email Opt Out is checked" on) and one watcher run is measured: records read, what it
did, Salesforce and Campaign Monitor calls, and wall time. Target: 4 Salesforce calls when nothing changed, and
calls that grow with the people changed by a query per 200 of them (plus the writes), not per person.
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cmsf.project.settings")

import django

django.setup()

from bench_common import connect  # noqa: E402  (bench/bench_common.py, beside this script)
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

from cmsf.connections import services as connections  # noqa: E402
from cmsf.lib.keys import create_encryption_key_file  # noqa: E402
from cmsf.options.models import GeneralOptions  # noqa: E402
from cmsf.sync import services as sync  # noqa: E402
from cmsf.sync.watcher import watch_once  # noqa: E402
from cmsf_sandbox.campaign_monitor.app import create_app as create_cm  # noqa: E402
from cmsf_sandbox.dataset import generate_world  # noqa: E402
from cmsf_sandbox.salesforce.app import create_app as create_sf  # noqa: E402
from cmsf_sandbox.salesforce.data import generate_org  # noqa: E402
from cmsf_sandbox.server import serve_in_thread  # noqa: E402
from cmsf_sandbox.tls import generate_tls_files  # noqa: E402


def contacts_with_memberships() -> list[str]:
    sf = connections.salesforce()
    rows = sf.query("SELECT Contact__c FROM CMSF_Subscriber__c WHERE Contact__c != null AND State__c = 'Active'")
    return sorted({str(r["Contact__c"]) for r in rows})


def measure(label: str) -> None:
    started = time.perf_counter()
    run = watch_once()
    wall = time.perf_counter() - started
    done = ", ".join(f"{k} {v}" for k, v in sorted(run.done.items())) or "nothing"
    read = ", ".join(f"{k} {v}" for k, v in sorted(run.read.items())) or "nothing"
    print(f"{label}: {run.status}; read {read}; did {done}; {run.sf_calls} Salesforce calls, "
          f"{run.cm_calls} Campaign Monitor calls; {wall:.2f} s; {len(run.problems)} not handled")  # fmt: skip
    reasons = Counter(re.sub(r"\S+@\S+", "<email>", p["reason"]) for p in run.problems)
    for reason, n in reasons.most_common():
        print(f"  {n} x {reason}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="small")
    parser.add_argument("--changes", default="0,20,200,1000", help="comma-separated counts of contacts changed")
    args = parser.parse_args()
    if not settings.CMSF_ENCRYPTION_KEY and not settings.CMSF_ENCRYPTION_KEY_FILE.exists():
        create_encryption_key_file(settings.CMSF_ENCRYPTION_KEY_FILE)  # as `cmsf init` does
    call_command("migrate", verbosity=0)
    world, org = generate_world(args.dataset, 1), generate_org(args.dataset, 1)
    with tempfile.TemporaryDirectory() as folder:
        tls = generate_tls_files(Path(folder))
        with (
            serve_in_thread(create_cm(world, "none", webhook_ca=str(tls.ca_file)), tls=tls) as cm_base,
            serve_in_thread(create_sf(org, "none"), tls=tls) as sf_base,
        ):
            connect(world, org, cm_base, sf_base, str(tls.ca_file))
            for client in sync.clients_to_sync():
                sync.sync_client(client=client)
            GeneralOptions.objects.filter(pk=GeneralOptions.load().pk).update(unsubscribe_on_opt_out=True)
            measure("first run (starts watching)")
            people = contacts_with_memberships()
            changed = 0
            for count in (int(c) for c in args.changes.split(",")):
                chosen = people[changed : changed + count]
                if len(chosen) < count:
                    print(f"{count} changes: the dataset has only {len(people) - changed} contacts left to change")
                    break
                half = len(chosen) // 2
                rows = [
                    {"Id": rid, "Email": f"bench.moved.{changed + i}@example.org"}
                    for i, rid in enumerate(chosen[:half])
                ]
                changed += count
                rows += [{"Id": rid, "HasOptedOutOfEmail": True} for rid in chosen[half:]]
                sf = connections.salesforce()
                for start in range(0, len(rows), 200):
                    sf.update("Contact", rows[start : start + 200])
                measure(f"{count} contacts changed ({half} emails, {count - half} opt-outs)")


if __name__ == "__main__":
    main()
