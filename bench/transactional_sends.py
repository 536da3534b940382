"""Benchmark: 1,000 smart email messages sent through cmsf's service (`sync.smart_emails.send_smart_email`), each
recorded as a Task, then one run of the update job after the emulator's clock delivered and opened them; the Campaign
Monitor and Salesforce calls and the time of each, against both emulators over TLS.

Run: CMSF_DATA_DIR=$(mktemp -d) .venv/bin/python bench/transactional_sends.py [--messages 1000] [--per-send 1,25]

cmsf's database is made in CMSF_DATA_DIR (an empty folder: the script migrates it), both emulators (dataset `tiny`)
run in threads of this process, and Salesforce gets one contact per recipient, so that each Task is written on the
person found by email. For each count of recipients a send (1: one Flow action per person; 25: Campaign Monitor's
most), the messages are sent with one Campaign Monitor client and one Salesforce adapter, as one worker process keeps
them, and counted by the clients' own meters.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import timedelta
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cmsf.project.settings")

import django

django.setup()

import requests  # noqa: E402
from bench_common import connect  # noqa: E402  (bench/bench_common.py, beside this script)
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402

from cmsf.connections import services as connections  # noqa: E402
from cmsf.connections.models import CampaignMonitorClient  # noqa: E402
from cmsf.lib.keys import create_encryption_key_file  # noqa: E402
from cmsf.sync import smart_emails, transactional  # noqa: E402
from cmsf.sync.models import SmartEmailMessage  # noqa: E402
from cmsf_sandbox.campaign_monitor.app import create_app as create_cm  # noqa: E402
from cmsf_sandbox.dataset import generate_world  # noqa: E402
from cmsf_sandbox.salesforce.app import create_app as create_sf  # noqa: E402
from cmsf_sandbox.salesforce.data import generate_org  # noqa: E402
from cmsf_sandbox.server import serve_in_thread  # noqa: E402
from cmsf_sandbox.tls import generate_tls_files  # noqa: E402


def calls(cm: object, sf: object) -> tuple[int, int]:
    return sum(cm.transport.calls_snapshot().values()), sf.meter.total  # type: ignore[attr-defined]


def send_all(smart_id: str, addresses: list[str], per_send: int) -> None:
    cm, sf = connections.campaign_monitor(), connections.salesforce()
    smart_emails.smart_emails(fresh=True, cm=cm)  # the list read once, as the console or the API keeps it
    cm_before, sf_before = calls(cm, sf)
    started = time.perf_counter()
    for start in range(0, len(addresses), per_send):
        smart_emails.send_smart_email(
            smart_id, to=addresses[start : start + per_send], data={"firstname": "Bench"}, consent_to_track="Yes",
            actor="bench", cm=cm, sf=sf,
        )  # fmt: skip
    wall = time.perf_counter() - started
    cm_after, sf_after = calls(cm, sf)
    sends = -(-len(addresses) // per_send)
    tasks = SmartEmailMessage.objects.exclude(task_id="").count()
    print(f"{len(addresses)} messages, {per_send} a send ({sends} sends): {cm_after - cm_before} Campaign Monitor calls, "
          f"{sf_after - sf_before} Salesforce calls, {wall:.2f} s ({1000 * wall / sends:.1f} ms a send); "
          f"{tasks} Tasks")  # fmt: skip


def refresh(cm_base: str, ca: str) -> None:
    requests.post(f"{cm_base}/admin/advance", json={"forward_seconds": 2 * 86400}, verify=ca, timeout=60)
    cm, sf = connections.campaign_monitor(), connections.salesforce()
    zones = {c.cm_client_id: c.time_zone or smart_emails.UTC_ZONE for c in CampaignMonitorClient.objects.all()}
    started = time.perf_counter()
    outcome = transactional.refresh_statuses(
        lambda message_id, zone: cm.message_details(message_id, zone=zone), sf, now=timezone.now(), zones=zones
    )
    wall = time.perf_counter() - started
    cm_calls, sf_calls = calls(cm, sf)
    print(f"update job: {outcome.checked} messages read, {outcome.changed} changed, {outcome.tasks_updated} Tasks "
          f"updated; {cm_calls} Campaign Monitor calls, {sf_calls} Salesforce calls, {wall:.2f} s")  # fmt: skip
    # The week that follows, a run every STATUS_INTERVAL_MINUTES minutes: each message is read when it is due.
    started, start = time.perf_counter(), timezone.now()
    runs, read, before = 0, 0, calls(cm, sf)
    moment = start + timedelta(minutes=transactional.STATUS_INTERVAL_MINUTES)
    while moment < start + timedelta(days=transactional.RECENT_DAYS):
        week = transactional.refresh_statuses(
            lambda message_id, zone: cm.message_details(message_id, zone=zone), sf, now=moment, zones=zones
        )
        runs, read = runs + 1, read + week.checked
        moment += timedelta(minutes=transactional.STATUS_INTERVAL_MINUTES)
    wall = time.perf_counter() - started
    after = calls(cm, sf)
    print(f"update job over the next {transactional.RECENT_DAYS} days ({runs} runs): {read} messages read, "
          f"{after[0] - before[0]} Campaign Monitor calls ({(after[0] - before[0]) / max(outcome.checked, 1):.0f} a "
          f"message), {after[1] - before[1]} Salesforce calls, {wall:.1f} s")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--per-send", default="1,25", help="comma-separated counts of recipients a send")
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
            smart = next(e for e in smart_emails.smart_emails() if e.status == "active")
            for per_send in (int(n) for n in args.per_send.split(",")):
                SmartEmailMessage.objects.all().delete()
                addresses = [f"bench.{per_send}.{i}@example.org" for i in range(args.messages)]
                sf = connections.salesforce()
                people = [{"LastName": f"Bench {i}", "Email": a} for i, a in enumerate(addresses)]
                for start in range(0, len(people), 200):
                    sf.insert("Contact", people[start : start + 200])
                send_all(smart.id, addresses, per_send)
            refresh(cm_base, str(tls.ca_file))


if __name__ == "__main__":
    main()
