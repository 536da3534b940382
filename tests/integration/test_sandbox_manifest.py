"""`cmsf sandbox --dataset small`: what its API serves, read with cmsf's client, is what its manifest counts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

from cmsf.campaign_monitor.api import CAMPAIGN_ACTIVITIES, SUBSCRIBER_STATES, CampaignMonitor
from cmsf.campaign_monitor.transport import ApiKeyAuth, Transport
from tests.processes import CMSF

MANIFEST_NAMES = {"opens": "opens", "clicks": "clicks", "bounces": "bounces", "unsubscribes": "unsubscribes",
                  "spam": "spam_complaints"}  # fmt: skip


def test_the_small_dataset_serves_exactly_what_its_manifest_counts(tmp_path):
    info_file = tmp_path / "sandbox.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CMSF_", "DATABASE_URL"))}
    env["CMSF_DATA_DIR"] = str(tmp_path / "data")
    command = [CMSF, "sandbox", "--dataset", "small", "--seed", "3", "--info-json", str(info_file)]
    sandbox = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while not info_file.exists():
            assert sandbox.poll() is None and time.monotonic() < deadline, "the sandbox did not start"
            time.sleep(0.1)
        info = json.loads(info_file.read_text())["campaign_monitor"]
        manifest = json.loads(Path(info["manifest"]).read_text())
        assert manifest["size"] == "small" and manifest["seed"] == 3

        transport = Transport(ApiKeyAuth(info["api_key"]), base_url=info["base_url"], ca_bundle=info["ca_file"])
        cm = CampaignMonitor(transport, parallel=2)
        states: Counter[str] = Counter()
        served: Counter[str] = Counter()
        for client in cm.clients():
            expected = manifest["clients"][client.client_id]
            zone = cm.client(client.client_id).time_zone
            assert zone == expected["time_zone"]
            for lst in cm.lists(client.client_id):
                by_state = {s: sum(1 for _ in cm.subscribers(lst.list_id, s, zone=zone)) for s in SUBSCRIBER_STATES}
                assert by_state == {
                    s.lower(): n for s, n in expected["lists"][lst.list_id]["subscribers_by_state"].items()
                }
                states.update(by_state)
            for campaign in cm.sent_campaigns(client.client_id, zone=zone):
                served["campaigns"] += 1
                served["recipients"] += sum(1 for _ in cm.campaign_recipients(campaign.campaign_id, zone=zone))
                for kind in CAMPAIGN_ACTIVITIES:
                    count = sum(1 for _ in cm.campaign_activity(campaign.campaign_id, kind, zone=zone))
                    served[MANIFEST_NAMES[kind]] += count
            served["suppressions"] += sum(1 for _ in cm.suppression_list(client.client_id, zone=zone))
            served["journeys"] += len(cm.journeys(client.client_id))

        totals = manifest["totals"]
        assert states == {s.lower(): n for s, n in totals["subscribers_by_state"].items()}
        assert sum(states.values()) == totals["memberships"]
        for key, count in served.items():
            assert count == totals[key], key
        assert (
            served["opens"] + served["clicks"] + served["bounces"] + served["unsubscribes"] + served["spam_complaints"]
            == totals["tracking_events"]
        )
    finally:
        sandbox.send_signal(signal.SIGINT)
        output, _ = sandbox.communicate(timeout=60)
    assert sandbox.returncode == 0, output
    assert not info_file.exists()  # the info file goes away with the sandbox
