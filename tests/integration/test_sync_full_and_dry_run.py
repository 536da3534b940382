"""The full Campaign Monitor sync and the dry run, against both emulators over HTTPS."""

from __future__ import annotations

import pytest
import requests

from cmsf.campaign_monitor.api import CampaignMonitor
from cmsf.campaign_monitor.transport import ApiKeyAuth, Transport
from cmsf.connections.models import CampaignMonitorClient
from cmsf.maintenance.models import GovernorLimit
from cmsf.salesforce.adapter import SalesforceAdapter
from cmsf.salesforce.auth import Credentials
from cmsf.sync.engine import run_primary_sync
from cmsf.sync.models import Cursor, RecordMap, SyncRun
from cmsf_sandbox.campaign_monitor.app import create_app as create_cm
from cmsf_sandbox.dataset import generate_world
from cmsf_sandbox.salesforce.app import create_app as create_sf
from cmsf_sandbox.salesforce.data import generate_org
from cmsf_sandbox.server import serve_in_thread
from cmsf_sandbox.tls import generate_tls_files

pytestmark = pytest.mark.django_db(transaction=True)
OBJECTS = ("CMSF_Client__c", "CMSF_List__c", "CMSF_Subscriber__c", "CMSF_Campaign__c", "CMSF_Email_Activity__c")
WRITES = ("composite/sobjects", "bulk2 ingest", "sobject")


@pytest.fixture
def sandbox(tmp_path):
    world, org = generate_world("tiny", 21), generate_org("tiny", 21)
    tls = generate_tls_files(tmp_path)
    with (
        serve_in_thread(create_cm(world, "none"), tls=tls) as cm_base,
        serve_in_thread(create_sf(org, "none"), tls=tls) as sf_base,
    ):
        ca = str(tls.ca_file)
        cm = CampaignMonitor(Transport(ApiKeyAuth(world.account_api_key), base_url=f"{cm_base}/api/v3.3", ca_bundle=ca))
        credentials = Credentials(flow="jwt_bearer", login_url=sf_base, client_id=org.oauth.client_id,
                                  username=org.oauth.jwt_username, private_key=org.oauth.jwt_private_key_pem)  # fmt: skip
        sf = SalesforceAdapter(credentials, ca_bundle=ca)
        clients = [
            CampaignMonitorClient.objects.create(cm_client_id=c.client_id, name=c.company_name, time_zone=c.time_zone)
            for c in world.clients.values()
        ]
        yield {"cm": cm, "sf": sf, "clients": clients, "sf_base": sf_base, "ca": ca}


def counts(sf: SalesforceAdapter) -> dict[str, int]:
    return {name: sf.count(f"SELECT COUNT() FROM {name}") for name in (*OBJECTS, "Contact", "Lead", "Campaign")}


def write_calls(sandbox) -> int:
    calls = requests.get(f"{sandbox['sf_base']}/admin/calls", verify=sandbox["ca"], timeout=30).json()["calls"]
    return sum(n for kind, n in calls.items() if kind.startswith(WRITES))


def sync_all(sandbox, **kwargs) -> list[SyncRun]:
    runs = [run_primary_sync(c, cm=sandbox["cm"], sf=sandbox["sf"], **kwargs) for c in sandbox["clients"]]
    assert all(r.status == SyncRun.Status.SUCCEEDED for r in runs), [r.message for r in runs]
    return runs


def test_a_dry_run_reads_everything_writes_nothing_and_says_what_it_would_write(sandbox):
    before = write_calls(sandbox)
    dry = sync_all(sandbox, dry_run=True)
    assert write_calls(sandbox) == before
    assert not RecordMap.objects.exists() and not Cursor.objects.exists()
    assert all(run.dry_run and run.written.get("CMSF_Subscriber__c") for run in dry)
    real = sync_all(sandbox)
    for would, did in zip(dry, real, strict=True):
        assert {k: v for k, v in would.written.items() if k != "CMSF_Client__c"} == {
            k: v for k, v in did.written.items() if k != "CMSF_Client__c"
        }


@pytest.mark.parametrize("purge_batch", [None, 37])  # the job's default, and pages smaller than each object
def test_a_full_sync_removes_only_cmsfs_records_and_imports_them_again(sandbox, purge_batch):
    GovernorLimit.objects.update_or_create(job="CMSF_FULL_SYNC_PURGE", defaults={"batch_size": purge_batch})
    sync_all(sandbox)
    after_primary = counts(sandbox["sf"])
    old_ids = set(RecordMap.objects.values_list("salesforce_id", flat=True))
    runs = sync_all(sandbox, full=True)
    assert all(run.kind == SyncRun.Kind.FULL for run in runs)
    assert sum(sum(run.deleted.values()) for run in runs) == len(old_ids)
    assert counts(sandbox["sf"]) == after_primary  # the same contents; Contacts, Leads, Campaigns untouched
    new_ids = set(RecordMap.objects.values_list("salesforce_id", flat=True))
    assert len(new_ids) == len(old_ids) and not (new_ids & old_ids)  # every cmsf record was made anew
    assert Cursor.objects.exists()
