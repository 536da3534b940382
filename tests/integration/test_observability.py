"""Logs and metrics: one line a run (INFO, or ERROR with the support code when it failed), a WARNING with its support
code for each retry, rate-limit wait and refused batch, JSON lines under CMSF_LOG_FORMAT=json, no secret at any level
and no email address above DEBUG; `/metrics` off without its token, 401 without the bearer, and, with it, every
family, counting what a separate `cmsf worker` process did."""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from cmsf.connections.models import CampaignMonitorAccount, CampaignMonitorClient
from cmsf.deploy_check import problems
from cmsf.lib.redact import EMAIL, REDACTED, RedactSecrets, json_formatter
from cmsf.maintenance import observe, support_codes
from cmsf.maintenance.models import MetricCounter
from cmsf.sync import services as sync
from cmsf.sync.models import SyncRun
from tests.integration.sandboxes import Sandbox, cmsf, dataset, env_for
from tests.processes import CMSF
from tests.unit.test_cm_client import client as cm_client
from tests.unit.test_cm_client import fixture, ok, reset

TOKEN = "metrics-token-for-the-tests-0123456789abcdef"
ANY_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
FAMILIES = (
    "cmsf_runs_total",
    "cmsf_run_seconds_total",
    "cmsf_records_read_total",
    "cmsf_records_written_total",
    "cmsf_api_calls_total",
    "cmsf_api_retries_total",
    "cmsf_rate_limit_waits_total",
    "cmsf_refused_records_total",
    "cmsf_queue_depth",
    "cmsf_queue_scheduled",
    "cmsf_webhook_backlog",
    "cmsf_webhook_backlog_age_seconds",
    "cmsf_webhook_quarantined",
    "cmsf_seconds_since_last_good_sync",
    "cmsf_salesforce_api_used",
    "cmsf_salesforce_api_limit",
    "cmsf_salesforce_api_budget",
    "cmsf_salesforce_api_budget_percent",
    "cmsf_salesforce_api_calls_today",
    "cmsf_maintenance_messages_open",
)


def _runs(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "cmsf.runs"]


@pytest.fixture
def connected(start_emulators):
    return start_emulators(19)


@pytest.mark.django_db(transaction=True)
def test_a_sandbox_sync_logs_one_info_line_a_run_and_counts_it(connected, caplog):
    caplog.set_level(logging.INFO)
    clients = sync.clients_to_sync()
    runs = [sync.sync_client(client=each) for each in clients]
    assert clients and {run.status for run in runs} == {SyncRun.Status.SUCCEEDED}
    lines = _runs(caplog)
    assert len(lines) == len(runs) and {line.levelno for line in lines} == {logging.INFO}
    for run, line in zip(runs, lines, strict=True):
        assert line.run_kind == "sync" and line.run_id == run.pk and line.outcome == "succeeded"
        assert line.client == run.client.name and line.duration_s is not None and line.duration_s >= 0
        assert line.written == {k: v for k, v in sorted(run.written.items()) if v} and line.read
        assert line.api_calls == {"campaign_monitor": run.cm_calls, "salesforce": run.sf_calls}
        text = line.getMessage()
        assert f"sync run {run.pk} of {run.client.name}: succeeded in " in text
        assert "CMSF_Subscriber__c=" in text and f"salesforce={run.sf_calls}" in text
    # Counted in the database, for /metrics.
    assert _value(observe.RUNS, kind="sync", outcome="succeeded") == len(runs)
    assert _value(observe.API_CALLS, service="salesforce") == sum(run.sf_calls for run in runs)
    assert _value(observe.RECORDS_WRITTEN, kind="sync", object="CMSF_Subscriber__c") == sum(
        run.written.get("CMSF_Subscriber__c", 0) for run in runs
    )
    assert _value(observe.SF_ORG_LIMIT) > 0  # the org's usage, as Salesforce reported it


@pytest.mark.django_db(transaction=True)
def test_a_failed_run_logs_an_error_with_its_support_code(connected, caplog):
    account = CampaignMonitorAccount.load()
    account.api_key = "revoked-key"
    account.save()
    caplog.set_level(logging.INFO)
    run = sync.sync_client(client=CampaignMonitorClient.objects.filter(selected=True).first())
    assert run.status == SyncRun.Status.FAILED
    (line,) = _runs(caplog)
    assert line.levelno == logging.ERROR and line.support_code == "CMSF-SYNC-FAILED" and line.outcome == "failed"
    assert line.getMessage().startswith(f"[CMSF-SYNC-FAILED] sync run {run.pk} of ")
    assert "revoked-key" not in caplog.text
    assert _value(observe.RUNS, kind="sync", outcome="failed") == 1


@pytest.mark.django_db(transaction=True)
def test_locked_records_sent_again_log_a_warning_with_their_support_code(connected, caplog):
    connected.sf_admin("POST", "/faults/locks", json={"sobject": "CMSF_Subscriber__c", "calls": 1, "every": 2})
    caplog.set_level(logging.INFO)
    run = sync.sync_client(client=CampaignMonitorClient.objects.filter(selected=True).first())
    assert run.status == SyncRun.Status.SUCCEEDED
    warned = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "cmsf.salesforce.adapter"]
    assert warned and all(r.getMessage().startswith("[CMSF-SF-UNABLE_TO_LOCK_ROW] Salesforce upsert") for r in warned)
    assert "records refused for now (UNABLE_TO_LOCK_ROW); sent again in" in warned[0].getMessage()
    (line,) = _runs(caplog)
    assert line.retries.get("salesforce", 0) >= 1
    assert _value(observe.RETRIES, service="salesforce") >= 1


@pytest.mark.django_db(transaction=True)
def test_watch_import_and_webhook_runs_each_log_their_line(connected, caplog):
    from django.utils import timezone

    from cmsf.audience.imports import run_import
    from cmsf.audience.models import ImportWizard
    from cmsf.connections import services as connections
    from cmsf.sync import watcher, webhooks
    from cmsf.sync.models import WebhookEvent

    caplog.set_level(logging.INFO)
    watch = watcher.watch_once()
    sf = connections.salesforce()
    campaign = sf.insert("Campaign", [{"Name": "Import source"}])[0].id
    contact = sf.insert("Contact", [{"LastName": "Lee", "Email": "lee@example.org"}])[0].id
    assert sf.insert("CampaignMember", [{"CampaignId": campaign, "ContactId": contact, "Status": "Sent"}])[0].success
    client = CampaignMonitorClient.objects.filter(selected=True).first()
    list_id = connections.campaign_monitor().lists(client.cm_client_id)[0].list_id
    wizard = ImportWizard(name="Members", client=client, list_id=list_id, source=ImportWizard.Source.CAMPAIGN,
                          campaign_id=campaign)  # fmt: skip
    wizard.full_clean()
    wizard.save()
    imported = run_import(wizard)
    WebhookEvent.objects.create(key="k1", list_id="L-unknown", kind="Subscribe", payload={}, received_at=timezone.now())
    webhooks.apply_pending()

    lines = {line.run_kind: line for line in _runs(caplog)}
    assert set(lines) == {"watch", "import", "webhooks"}
    assert lines["watch"].run_id == watch.pk and lines["watch"].outcome == watch.status
    line = lines["import"]
    assert line.run_id == imported.pk and line.outcome == imported.status and line.levelno == logging.INFO
    assert line.client == f"{client.name} (import wizard Members)" and line.read == {"source records": 1}
    assert line.written == {"subscribers imported": 1} and set(line.api_calls) == {"campaign_monitor", "salesforce"}
    line = lines["webhooks"]  # an event of no shape: quarantined, counted under its support code
    assert line.outcome == "problems" and line.refused == {"CMSF-WEBHOOK-EVENT": 1} and line.read == {"events": 1}
    assert _value(observe.REFUSED, support_code="CMSF-WEBHOOK-EVENT") == 1
    assert _value(observe.RUNS, kind="import", outcome=imported.status) == 1


def test_campaign_monitor_retries_and_rate_limit_waits_are_warnings_with_their_codes(caplog):
    caplog.set_level(logging.INFO)
    limited = ok(fixture("rate_limited"), 429, {"X-RateLimit-Reset": "3"})
    cm, _, _ = cm_client({"GET /clients.json": [limited, ok(fixture("sample_server_error"), 500), (0, reset(), {}),
                                                 ok(fixture("clients"))]})  # fmt: skip
    assert len(cm.clients()) == 2
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert said[0].startswith("[CMSF-CM-RATE-LIMIT] Campaign Monitor GET /clients.json: rate limit reached; waiting 3")
    assert said[1].startswith("[CMSF-CM-RETRY] Campaign Monitor GET /clients.json: HTTP 500; sent again in")
    assert said[2].startswith("[CMSF-CM-RETRY] Campaign Monitor GET /clients.json: ProtocolError; sent again in")
    assert cm.transport.retries == 2 and cm.transport.rate_limit_waits == 1
    for code in ("CMSF-CM-RETRY", "CMSF-CM-RATE-LIMIT", "CMSF-SALESFORCE-RETRY"):
        assert support_codes.lookup(code).registered  # each code of a log line has its page


def test_a_refused_batch_is_a_warning_with_its_support_code(caplog):
    from cmsf.salesforce.errors import RecordError, RecordResult
    from cmsf.sync.writer import Batch, Writer, WriteTally

    writer = Writer(adapter=None, client_id=1, dry_run=False, tally=WriteTally())
    batch = Batch("CMSF_List__c", "List_Id__c", ["L1", "L2"], [{}, {}], ["h1", "h2"], None, None)
    refused = RecordResult(index=1, key="L2", errors=[RecordError("INVALID_FIELD", "No such column")])
    caplog.set_level(logging.INFO)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("cmsf.sync.writer._record", lambda *args: None)  # the ledger is not what is tested here
        assert writer.record(batch, [RecordResult(index=0, key="L1", id="a01"), refused]) is False
    (line,) = [r for r in caplog.records if r.name == "cmsf.sync.writer"]
    assert line.levelno == logging.WARNING
    assert (
        line.getMessage()
        == "[CMSF-SF-INVALID_FIELD] Salesforce refused 1 of 2 CMSF_List__c records of a batch (upsert)"
    )


def _record(level: int, msg: str, *args, exc: BaseException | None = None, **extra) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc else None
    record = logging.LogRecord("cmsf.test", level, __file__, 1, msg, args, exc_info)
    for name, value in extra.items():
        setattr(record, name, value)
    return record


def test_no_email_address_above_debug_and_no_secret_at_any_level():
    try:
        raise ValueError("refused ann@example.org with api_key=abc123")
    except ValueError as error:
        failure = error
    record = _record(logging.WARNING, "subscriber %s: %s", "bob@example.com", failure, exc=failure,
                     client="carol@example.net")  # fmt: skip
    assert RedactSecrets().filter(record)
    shown = logging.Formatter().format(record)
    assert not ANY_EMAIL.search(shown) and shown.count(EMAIL) >= 3 and "abc123" not in shown
    assert record.client == EMAIL  # a field given as `extra` too

    access = _record(logging.INFO, '%s - "%s %s HTTP/%s" %d', "10.0.0.1:5", "GET", "/e?link=t0k&email=a%40example.org",
                     "1.1", 200)  # fmt: skip
    access.name = "uvicorn.access"  # its formatter reads the arguments: they are redacted in place
    RedactSecrets().filter(access)
    assert access.args[2] == f"/e?link={REDACTED}&email={EMAIL}"  # percent-encoded in a URL, masked too

    debug = _record(logging.DEBUG, "subscriber %s", "bob@example.com")
    RedactSecrets().filter(debug)
    assert debug.getMessage() == "subscriber bob@example.com"  # at DEBUG, an operator may see whom it concerns
    for secret, kept in (
        ("Authorization: Bearer 00Dxx0000001gEH!AQ4AQ.tok_en", "Authorization: Bearer "),
        ("Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic "),
        ("grant_type=refresh_token&refresh_token=5Aep861xyz&client_secret=s3cr3t", "refresh_token="),
        ('{"access_token": "00Dabc!xyz", "instance_url": "x"}', '"access_token": "'),
        ("POST /hooks/campaign-monitor/abcdef0123456789 HTTP/1.1", "/hooks/campaign-monitor/"),
    ):
        for level in (logging.DEBUG, logging.ERROR):
            record = _record(level, "%s", secret)
            RedactSecrets().filter(record)
            assert kept + REDACTED in record.getMessage(), record.getMessage()
            assert not any(part in record.getMessage() for part in ("tok_en", "dXNlcjpwYXNz", "5Aep861xyz", "s3cr3t",
                                                                     "00Dabc", "abcdef0123456789"))  # fmt: skip


def test_the_json_format_is_one_object_a_line():
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RedactSecrets())
    config = json_formatter()
    factory = config.pop("()")
    module, name = factory.rsplit(".", 1)
    handler.setFormatter(getattr(__import__(module, fromlist=[name]), name)(**config))
    logger = logging.getLogger("cmsf.test.json")
    logger.addHandler(handler)
    try:
        logger.warning("first line\nwith a break, for %s", "dan@example.org", extra={"read": {"Contact": 2}})
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logger.exception("second")
    finally:
        logger.removeHandler(handler)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["level"] == "WARNING" and first["logger"] == "cmsf.test.json" and first["read"] == {"Contact": 2}
    assert first["message"] == f"first line\nwith a break, for {EMAIL}" and first["time"].endswith("+00:00")
    assert second["level"] == "ERROR" and "RuntimeError: boom" in second["exc_info"]


def test_a_bad_log_format_is_one_line_and_exit_2(tmp_path):
    result = cmsf(tmp_path, "status", env=env_for(tmp_path, CMSF_LOG_FORMAT="xml"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == "cmsf: error: CMSF_LOG_FORMAT must be plain or json, not 'xml'"


@pytest.mark.django_db
def test_metrics_are_off_without_a_token_and_need_the_bearer(client, settings, alice):
    settings.CMSF_METRICS_TOKEN = ""
    url = reverse("console:metrics")
    assert client.get(url).status_code == 404
    client.force_login(alice)  # a session is no credential here
    assert client.get(url).status_code == 404
    settings.CMSF_METRICS_TOKEN = TOKEN
    for header in ("", f"Basic {TOKEN}", "Bearer wrong", f"Bearer {TOKEN}x"):
        response = client.get(url, headers={"Authorization": header} if header else {})
        assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")
    client.logout()
    response = client.get(url, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain; version=")
    assert client.post(url, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 405
    settings.SECURE_SSL_REDIRECT = True  # under CMSF_HTTPS: a scraper inside the network may still ask over HTTP
    plain_http = Client()  # its middleware reads the setting anew
    assert plain_http.get(url, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert plain_http.get(reverse("console:login")).status_code == 301


def test_check_deploy_warns_of_a_short_metrics_token(settings):
    settings.CMSF_METRICS_TOKEN = "short"
    found = [line for line in problems(database_ready=False) if line.startswith("cmsf.metrics")]
    assert found == [
        "cmsf.metrics: CMSF_METRICS_TOKEN is 5 characters long: use at least 32 random ones "
        "(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
    ]
    settings.CMSF_METRICS_TOKEN = TOKEN
    assert not [line for line in problems(database_ready=False) if line.startswith("cmsf.metrics")]


@pytest.mark.django_db
def test_counters_add_up_and_keep_their_labels():
    observe.bump(observe.RUNS, {"kind": "sync", "outcome": "succeeded"})
    observe.bump(observe.RUNS, {"outcome": "succeeded", "kind": "sync"}, 2)
    observe.bump(observe.RUNS, {"kind": "watch", "outcome": "failed"}, 0)  # nothing to add: no series
    assert MetricCounter.objects.count() == 1 and _value(observe.RUNS, kind="sync", outcome="succeeded") == 3


def _value(name: str, **labels: str) -> float:
    key = observe.labels_key(labels)
    return sum(MetricCounter.objects.filter(name=name, labels=key).values_list("value", flat=True))


# -- a worker process, and /metrics read by another -------------------------------------------------------------


METRICS = """
import sys
import django
django.setup()
from django.test import Client
response = Client(HTTP_HOST="localhost").get("/metrics", headers={"Authorization": sys.argv[1]} if sys.argv[1] else {})
print(response.status_code)
print(response.content.decode())
"""
ENQUEUE = """
import django
django.setup()
from cmsf.connections.models import CampaignMonitorClient
from cmsf.sync.tasks import run_sync
ids = list(CampaignMonitorClient.objects.filter(selected=True).values_list("pk", flat=True))
for pk in ids:
    run_sync(pk)
print(len(ids))
"""


def _python(script: str, env: dict[str, str], *args: str) -> str:
    result = subprocess.run([sys.executable, "-c", script, *args], env={**env, "DJANGO_SETTINGS_MODULE":
                            "cmsf.project.settings"}, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def _scrape(env: dict[str, str], authorization: str) -> tuple[int, str]:
    status, _, body = _python(METRICS, env, authorization).partition("\n")
    return int(status), body


def _sample(body: str, family: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in body.splitlines():
        name, _, value = line.rpartition(" ")
        if name == (f"{family}{{{wanted}}}" if labels else family):
            return float(value)
    raise AssertionError(f"{family}{{{wanted}}} is not in the metrics:\n{body}")


def test_a_worker_process_logs_json_lines_and_metrics_count_its_runs(tmp_path):
    with Sandbox(*dataset(), tmp_path, "none") as sandbox:
        data_dir = tmp_path / "cmsf"
        env = env_for(data_dir, CMSF_LOG_FORMAT="json", CMSF_METRICS_TOKEN=TOKEN,
                      CMSF_QUEUE_NAME=f"obs-{uuid.uuid4().hex[:6]}")  # fmt: skip
        sandbox.connect(data_dir, env=env)
        sandbox.admin("sf", "POST", "/faults/locks", json={"sobject": "CMSF_Subscriber__c", "calls": 1, "every": 2})
        assert _scrape({**env, "CMSF_METRICS_TOKEN": ""}, f"Bearer {TOKEN}")[0] == 404
        assert _scrape(env, "")[0] == 401
        log = tmp_path / "worker.log"
        with log.open("wb") as out:
            worker = subprocess.Popen([CMSF, "worker", "--no-scheduler", "--workers", "1"], env=env, stdout=out,
                                      stderr=subprocess.STDOUT)  # fmt: skip
            try:
                clients = int(_python(ENQUEUE, env).strip())
                runs = _wait_for_runs(log, clients, worker)
            finally:
                worker.terminate()
                worker.wait(timeout=60)
        status, body = _scrape(env, f"Bearer {TOKEN}")

    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]  # each line one object
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    assert {run["outcome"] for run in runs} == {"succeeded"} and all(run["level"] == "INFO" for run in runs)
    assert not [line for line in lines if line["logger"].startswith("huey") and line["level"] == "INFO"]
    locked = [
        line for line in lines if line["level"] == "WARNING" and "[CMSF-SF-UNABLE_TO_LOCK_ROW]" in line["message"]
    ]
    assert locked, "the lock retry was not logged"
    text = log.read_text()
    assert not ANY_EMAIL.search(text), "an email address reached the log above DEBUG"
    assert sandbox.world.account_api_key not in text and TOKEN not in text

    assert status == 200
    for family in FAMILIES:
        assert re.search(rf"^# TYPE {family} ", body, re.M), f"{family} is missing"
    assert _sample(body, "cmsf_runs_total", kind="sync", outcome="succeeded") == clients
    assert _sample(body, "cmsf_api_calls_total", service="salesforce") == sum(
        run["api_calls"]["salesforce"] for run in runs
    )
    assert _sample(body, "cmsf_records_written_total", kind="sync", object="CMSF_Subscriber__c") == sum(
        run["written"].get("CMSF_Subscriber__c", 0) for run in runs
    )
    assert _sample(body, "cmsf_api_retries_total", service="salesforce") >= 1
    assert _sample(body, "cmsf_queue_depth") == 0
    assert _sample(body, "cmsf_webhook_backlog") == 0
    assert _sample(body, "cmsf_maintenance_messages_open", severity="error") == 0
    assert _sample(body, "cmsf_salesforce_api_limit") > 0
    assert _sample(body, "cmsf_salesforce_api_calls_today") == sum(run["api_calls"]["salesforce"] for run in runs)
    ages = [line for line in body.splitlines() if line.startswith("cmsf_seconds_since_last_good_sync{")]
    assert len(ages) == clients and all(0 <= float(line.rpartition(" ")[2]) < 600 for line in ages)


def _wait_for_runs(log: Path, count: int, worker: subprocess.Popen, timeout: float = 240) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = []
        for line in log.read_text().splitlines():
            if '"run_kind"' in line:
                runs.append(json.loads(line))
        if len(runs) >= count:
            return runs
        assert worker.poll() is None, f"the worker ended: {log.read_text()[-3000:]}"
        time.sleep(0.5)
    raise AssertionError(f"{count} runs did not end in time: {log.read_text()[-3000:]}")
