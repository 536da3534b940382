"""The HTTP API's checks, without the emulators: tokens (401 with WWW-Authenticate, revoked, scopes), the plan, the
rate limit shared through the database, bodies (not JSON, wrong shape, too deep, too large), unknown paths and
methods, the OpenAPI document served, an import run queued and read, and every call audited and logged. Each answer
follows the schema its operation declares (tests/api_calls.py)."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from cmsf.api import tokens
from cmsf.api.bounds import MAX_BODY_BYTES, MAX_DEPTH
from cmsf.api.models import ApiToken, RateWindow
from cmsf.audience.models import ImportRun, ImportWizard
from cmsf.billing.models import BillingAccount, Plan
from cmsf.connections.models import CampaignMonitorClient
from cmsf.maintenance.models import AuditEntry
from tests.api_calls import call, make_token

pytestmark = pytest.mark.django_db

SUBSCRIBERS = "/api/v1/subscribers"
GOOD = {"list_id": "list-1", "email": "ann@example.org"}


def test_no_token_a_wrong_one_and_a_revoked_one_get_401_with_the_bearer_challenge(client):
    secret = make_token()
    for token, says in ((None, "Authorization: Bearer"), ("cmsf_" + "x" * 43, "not a cmsf API token"),
                        ("not-a-token", "not a cmsf API token")):  # fmt: skip
        answer = call(client, "POST", SUBSCRIBERS, token=token, body=GOOD)
        assert answer.status == 401 and answer.body["error"]["code"] == "unauthorized"
        assert says in answer.body["error"]["message"]
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    response = client.post(
        SUBSCRIBERS, data="{}", content_type="application/json", HTTP_AUTHORIZATION=f"Basic {secret}"
    )
    assert response.status_code == 401
    tokens.revoke("flows", actor="test")
    answer = call(client, "POST", SUBSCRIBERS, token=secret, body=GOOD)
    assert answer.status == 401 and "revoked" in answer.body["error"]["message"]
    assert not AuditEntry.objects.filter(section="api", action__startswith="API:").exists()  # no token, no actor


def test_a_token_without_the_scope_gets_403(client):
    secret = make_token("imports-only", scopes=("imports",))
    answer = call(client, "POST", SUBSCRIBERS, token=secret, body=GOOD)
    assert answer.status == 403 and answer.body["error"]["code"] == "missing_scope"
    assert "subscribers" in answer.body["error"]["message"]
    entry = AuditEntry.objects.get(section="api", action="API: Add or update a subscriber")
    assert entry.actor == "API token imports-only" and entry.after["status"] == 403
    assert entry.after["refused"] == "missing_scope"


def test_a_plan_without_flow_actions_gets_403_with_the_reason(client):
    secret = make_token()
    account = BillingAccount.load()
    for plan in (Plan.STANDARD, Plan.FREE):
        account.plan = plan
        account.save()
        answer = call(client, "GET", "/api/v1/runs/1", token=secret)
        assert answer.status == 403 and answer.body["error"]["code"] == "plan"
        assert "Enterprise" in answer.body["error"]["message"] and plan.label in answer.body["error"]["message"]
    account.plan = Plan.ENTERPRISE
    account.save()
    assert call(client, "GET", "/api/v1/runs/1", token=secret).status == 404  # through the checks now


def test_the_rate_limit_answers_429_with_retry_after_and_counts_in_the_database(client):
    secret = make_token(rate=3)
    statuses = [call(client, "GET", "/api/v1/runs/999", token=secret).status for _ in range(3)]
    assert statuses == [404, 404, 404]
    limited = call(client, "GET", "/api/v1/runs/999", token=secret)
    assert limited.status == 429 and limited.body["error"]["code"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    token = ApiToken.objects.get(name="flows")
    assert RateWindow.objects.get(token=token).calls == 4  # one row a minute, which every process bumps
    # The 429 is logged, not audited; the other calls are.
    assert AuditEntry.objects.filter(section="api", actor="API token flows").count() == 3
    # The next minute is a new window.
    later = timezone.now() + timedelta(minutes=1)
    assert tokens.take_call(token, later) is None
    assert token.rate_per_minute == 3 and ApiToken.objects.get(pk=token.pk).last_used_at is not None


def test_bad_bodies_get_400_or_413_with_a_clear_message(client):
    secret = make_token()
    cases = [
        (b"{not json", "invalid_json", "not JSON"),
        (b"[1, 2]", "invalid_request", "JSON object"),
        (b'{"email": "ann@example.org"}', "invalid_request", "'list_id' is a required property"),
        (b'{"list_id": "l", "email": "ann@example.org", "colour": "red"}', "invalid_request", "colour"),
        (b'{"list_id": "l", "email": "ann@example.org", "resubscribe": "yes"}', "invalid_request", "resubscribe"),
        (b'{"list_id": "l", "email": "ann@example.org", "consent_to_track": "Maybe"}', "invalid_request",
         "consent_to_track"),
        (b'{"list_id": "l", "email": "ann@example.org", "custom_fields": {"[A]": 1}}', "invalid_request",
         "custom_fields.[A]"),
        (b'{"list_id": "l", "email": "\xff"}', "invalid_json", "UTF-8"),
        (b'{"list_id": "l", "email": "a@b.c", "custom_fields": ' + b'{"a": ' * MAX_DEPTH + b"1" + b"}" * (MAX_DEPTH + 1),
         "invalid_json", "deeper"),
        (b"[" * 100_000 + b"]" * 100_000, "invalid_json", "deeper"),
    ]  # fmt: skip
    for raw, code, says in cases:
        answer = call(client, "POST", SUBSCRIBERS, token=secret, raw=raw)
        assert (answer.status, answer.body["error"]["code"]) == (400, code), (raw[:60], answer.body)
        assert says in answer.body["error"]["message"], (raw[:60], answer.body)
    answer = call(client, "POST", SUBSCRIBERS, token=secret, raw=b"list_id=l", content_type="text/plain")
    assert answer.status == 400 and "application/json" in answer.body["error"]["message"]
    large = b'{"list_id": "l", "email": "ann@example.org", "name": "' + b"x" * MAX_BODY_BYTES + b'"}'
    answer = call(client, "POST", SUBSCRIBERS, token=secret, raw=large)
    assert answer.status == 413 and answer.body["error"]["code"] == "body_too_large"


def test_not_an_email_address_is_400(client):
    secret = make_token()
    answer = call(client, "POST", SUBSCRIBERS, token=secret, body={"list_id": "l", "email": "not an address"})
    assert answer.status == 400 and "not an email address" in answer.body["error"]["message"]


def test_unknown_paths_and_methods_answer_json(client):
    secret = make_token()
    assert call(client, "GET", "/api/v1/nothing-here", token=secret).status == 404
    answer = call(client, "GET", SUBSCRIBERS, token=secret)
    assert answer.status == 405 and answer.headers["Allow"] == "POST"
    response = client.post("/api/v1/openapi.json")
    assert response.status_code == 405


def test_the_openapi_document_is_served_without_a_token_and_names_this_server(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.0") and document["servers"] == [{"url": "http://testserver"}]
    assert "/api/v1/subscribers" in document["paths"]


def test_an_import_wizard_run_is_queued_at_once_and_read_by_its_id(client, immediate_queue,
                                                                   django_capture_on_commit_callbacks):  # fmt: skip
    secret = make_token()
    cm_client = CampaignMonitorClient.objects.create(cm_client_id="c1", name="Acme")
    ImportWizard.objects.create(name="Donors", client=cm_client, list_id="list-1", campaign_id="701000000000001")
    with django_capture_on_commit_callbacks() as queued:
        answer = call(client, "POST", "/api/v1/import-wizards/Donors/run", token=secret)
    assert answer.status == 202 and answer.body["status"] == "queued" and answer.body["wizard"] == "Donors"
    run_id = answer.body["id"]
    read = call(client, "GET", f"/api/v1/runs/{run_id}", token=secret)
    assert read.status == 200 and read.body["status"] == "queued" and read.body["trigger"] == "api"
    assert "finished_at" not in read.body
    for callback in queued:  # the worker takes it up: nothing is connected here, so it fails, and says why
        callback()
    read = call(client, "GET", f"/api/v1/runs/{run_id}", token=secret)
    assert read.status == 200 and read.body["status"] == "failed" and "not connected" in read.body["message"].lower()
    assert "finished_at" in read.body and ImportRun.objects.count() == 1  # the queued run was the one that ran
    entry = AuditEntry.objects.get(action="API: Run an import wizard")
    assert entry.actor == "API token flows" and entry.after == {"operation": "runImportWizard", "status": 202,
                                                                "wizard": "Donors", "run": run_id}  # fmt: skip


def test_a_wizard_that_removes_subscribers_or_does_not_exist_is_refused(client):
    secret = make_token()
    cm_client = CampaignMonitorClient.objects.create(cm_client_id="c1", name="Acme")
    ImportWizard.objects.create(name="Prune", client=cm_client, list_id="l", campaign_id="701000000000001",
                                mode=ImportWizard.Mode.REMOVE)  # fmt: skip
    answer = call(client, "POST", "/api/v1/import-wizards/Prune/run", token=secret)
    assert answer.status == 409 and "preview" in answer.body["error"]["message"]
    answer = call(client, "POST", "/api/v1/import-wizards/Nobody/run", token=secret)
    assert answer.status == 404 and "Nobody" in answer.body["error"]["message"]
    assert call(client, "GET", "/api/v1/runs/12345", token=secret).status == 404
    assert not ImportRun.objects.exists()


def test_each_call_is_logged_without_the_token(client, caplog):
    secret = make_token()
    with caplog.at_level(logging.INFO, logger="cmsf.api"):
        call(client, "GET", "/api/v1/runs/7", token=secret)
        call(client, "GET", "/api/v1/runs/7", token="cmsf_" + "y" * 43)
    lines = [r.getMessage() for r in caplog.records if r.name == "cmsf.api"]
    assert lines == ["GET /api/v1/runs/7 404 token=flows", "GET /api/v1/runs/7 401 token=-"]
    assert secret not in caplog.text


def test_tokens_are_stored_hashed_named_once_and_checked():
    made = tokens.create("Flows", scopes=["subscribers"], actor="alice@example.com")
    assert made.secret.startswith("cmsf_") and len(made.secret) == 48
    stored = ApiToken.objects.get(name="Flows")
    assert made.secret not in str(list(ApiToken.objects.values()))
    assert stored.secret_sha256 == tokens.hashed(made.secret) and stored.prefix == made.secret[:9]
    assert tokens.authenticate(f"Bearer {made.secret}") == stored
    assert tokens.authenticate(f"bearer  {made.secret} ") == stored
    for bad in ({"name": "flows", "scopes": ["send"]}, {"name": "x/y", "scopes": ["send"]},
                {"name": "z", "scopes": []}, {"name": "z", "scopes": ["admin"]},
                {"name": "z", "scopes": ["send"], "rate_per_minute": 0}):  # fmt: skip
        with pytest.raises(tokens.TokenError):
            tokens.create(**bad, actor="test")  # type: ignore[arg-type]
    tokens.revoke("flows", actor="alice@example.com")
    with pytest.raises(tokens.TokenError, match="revoked already"):
        tokens.revoke("Flows", actor="alice@example.com")
    with pytest.raises(tokens.Unauthorized, match="revoked"):
        tokens.authenticate(f"Bearer {made.secret}")
    actions = list(AuditEntry.objects.filter(section="api").order_by("pk").values_list("actor", "action"))
    assert actions == [("alice@example.com", "Create an API token"), ("alice@example.com", "Revoke an API token")]
