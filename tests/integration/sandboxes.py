"""Helpers for tests that run `cmsf` processes against a pair of in-process emulators."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import requests

from cmsf_sandbox.campaign_monitor.app import create_app as create_cm
from cmsf_sandbox.dataset import generate_world
from cmsf_sandbox.salesforce.app import create_app as create_sf
from cmsf_sandbox.salesforce.data import generate_org
from cmsf_sandbox.server import serve_in_thread
from cmsf_sandbox.tls import generate_tls_files
from tests.processes import CMSF

NOW = datetime.now(UTC).replace(microsecond=0)
QUERIES = {
    "CMSF_Client__c": "SELECT Client_Id__c, Name FROM CMSF_Client__c",
    "CMSF_List__c": "SELECT List_Id__c, Name, Client__r.Client_Id__c, Active_Subscribers__c FROM CMSF_List__c",
    "CMSF_Subscriber__c": "SELECT Member_Key__c, State__c, Email__c, Contact__c, Lead__c, List__r.List_Id__c "
    "FROM CMSF_Subscriber__c",
    "CMSF_Campaign__c": "SELECT Campaign_Id__c, Recipients__c, Unique_Opened__c, Clicks__c FROM CMSF_Campaign__c",
    "CMSF_Email_Activity__c": "SELECT Activity_Key__c, Activity__c, Activity_Date__c, Contact__c, Lead__c, "
    "Campaign__r.Campaign_Id__c FROM CMSF_Email_Activity__c",
}


def env_for(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CMSF_", "DATABASE_URL", "DJANGO_"))}
    env["CMSF_DATA_DIR"] = str(data_dir)
    env.update(extra)
    return env


def cmsf(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CMSF, *args], env=env or env_for(data_dir), capture_output=True, text=True, timeout=300)


class Sandbox:
    def __init__(self, world, org, folder: Path, faults: str) -> None:
        self.world, self.org, self.folder, self.faults = world, org, folder, faults

    def __enter__(self) -> Sandbox:
        self.tls = generate_tls_files(self.folder / "tls")
        self._cm = serve_in_thread(create_cm(self.world, self.faults), tls=self.tls)
        self._sf = serve_in_thread(create_sf(self.org, self.faults if self.faults != "slow" else "none"), tls=self.tls)
        self.cm_base, self.sf_base = self._cm.__enter__(), self._sf.__enter__()
        if self.faults == "flaky":
            rates = {"lock": 0.05, "unavailable": 0.05, "dropped": 0.02}
            self.admin("sf", "POST", "/faults", json={"profile": "flaky", "rates": rates})
            self.admin("cm", "POST", "/faults", json={"profile": "flaky"})
        return self

    def __exit__(self, *exc) -> None:
        self._sf.__exit__(*exc)
        self._cm.__exit__(*exc)

    def admin(self, which: str, method: str, path: str, **kwargs):
        base = self.cm_base if which == "cm" else self.sf_base
        response = requests.request(method, f"{base}/admin{path}", verify=str(self.tls.ca_file), timeout=30, **kwargs)
        response.raise_for_status()
        return response.json()

    def connect(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        key_file = self.folder / "jwt.pem"
        key_file.write_text(self.org.oauth.jwt_private_key_pem)
        ca = str(self.tls.ca_file)
        assert cmsf(data_dir, "init", "--no-input", env=env).returncode == 0
        result = cmsf(data_dir, "connect", "campaign-monitor", "--api-key", self.world.account_api_key,
                      "--base-url", f"{self.cm_base}/api/v3.3", "--ca-file", ca, env=env)  # fmt: skip
        assert result.returncode == 0, result.stderr
        result = cmsf(
            data_dir, "connect", "salesforce", "--flow", "jwt_bearer", "--login-domain", "custom",
            "--login-url", self.sf_base, "--client-id", self.org.oauth.client_id,
            "--username", self.org.oauth.jwt_username, "--private-key-file", str(key_file), "--ca-file", ca, env=env,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr

    def contents(self) -> dict[str, dict[str, tuple]]:
        self.admin("sf", "POST", "/faults", json={"profile": "none"})  # the test's own reads see no faults
        token = self.admin("sf", "POST", "/tokens")["access_token"]
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        found: dict[str, dict[str, tuple]] = {}
        for sobject, soql in QUERIES.items():
            rows, url, params = [], f"{self.sf_base}/services/data/v62.0/query", {"q": soql}
            while url:
                page = session.get(url, params=params, verify=str(self.tls.ca_file), timeout=60).json()
                rows.extend(page["records"])
                url = f"{self.sf_base}{page['nextRecordsUrl']}" if not page["done"] else ""
                params = None
            key_field = soql.split()[1].rstrip(",")
            values: dict[str, tuple] = {}
            for row in rows:
                # a parent is compared by its external id; its Salesforce Id may differ between the sandboxes
                parents = {k: v for k, v in row.items() if isinstance(v, dict) and k != "attributes"}
                plain = {k: v for k, v in row.items() if k != "attributes" and k not in parents}
                plain.update({f"{k}.{f}": x for k, v in parents.items() for f, x in v.items() if f != "attributes"})
                flat = tuple(sorted((k, str(v)) for k, v in plain.items()))
                assert row[key_field] not in values, f"{sobject} {row[key_field]} is in Salesforce twice"
                values[row[key_field]] = flat
            found[sobject] = values
        return found


def sync_until_done(data_dir: Path, attempts: int = 6, env: dict[str, str] | None = None) -> None:
    for _ in range(attempts):
        result = cmsf(data_dir, "sync", "--json", env=env)
        if result.returncode == 0:
            return
    raise AssertionError(
        f"the sync did not succeed in {attempts} runs: {result.stdout[-2000:]} {result.stderr[-2000:]}"
    )


def dataset(now: datetime = NOW):
    """The same world and org every time: the generators are deterministic in (size, seed, now)."""
    return generate_world("tiny", 31, now=now), generate_org("tiny", 31, now=now)


def compare(reference: dict[str, dict[str, tuple]], contents: dict[str, dict[str, tuple]]) -> None:
    for sobject, expected in reference.items():
        got = contents[sobject]
        missing, extra = set(expected) - set(got), set(got) - set(expected)
        assert not missing and not extra, f"{sobject}: missing {sorted(missing)[:3]}, extra {sorted(extra)[:3]}"
        differing = [key for key in expected if expected[key] != got[key]]
        assert not differing, f"{sobject}: {differing[:3]} differ, e.g. {expected[differing[0]]} != {got[differing[0]]}"
