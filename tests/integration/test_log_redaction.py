"""Issue 18, item 1: `cmsf serve` writes no webhook secret and no email history link token in its access log, nor
in Django's log."""

from __future__ import annotations

import logging

import requests
from django.urls import reverse

from cmsf.lib.redact import EMAIL, REDACTED, RedactSecrets, redact
from cmsf.sync.webhooks import HOOK_PATH
from tests.integration.test_cli import data_dir
from tests.integration.test_edge import served

SECRET = "Zq3-webhook-secret-9xP"
TOKEN = "eyJkYXlzIjozMH0:1tAbCd:link-token-7Yh"
__all__ = ["data_dir"]  # the fixture of the CLI tests


def test_the_filter_redacts_the_routes_cmsf_serves():
    hook = f"/{HOOK_PATH}{SECRET}"
    embed = f"{reverse('console:storage_embed')}?link={TOKEN}&email=a%40example.org"
    assert redact(hook) == f"/{HOOK_PATH}{REDACTED}"
    assert redact(embed) == f"{reverse('console:storage_embed')}?link={REDACTED}&email=a%40example.org"
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5000", "POST", hook, "1.1", 404), None)  # fmt: skip
    assert RedactSecrets().filter(record) and SECRET not in record.getMessage()


def test_serve_access_log_shows_the_requests_without_their_secrets(data_dir):
    with served(data_dir) as running:
        hook = requests.post(f"{running.base}/{HOOK_PATH}{SECRET}", json={"ListID": "x", "Events": []}, timeout=10)
        assert hook.status_code == 404
        embed = requests.get(f"{running.base}/storage/embed/", params={"link": TOKEN, "email": "a@example.org"},
                             timeout=10)  # fmt: skip
        assert embed.status_code == 403
    output = running.output
    assert f'"POST /{HOOK_PATH}{REDACTED} HTTP/1.1" 404' in output
    assert f'"GET /storage/embed/?link={REDACTED}&email={EMAIL} HTTP/1.1" 403' in output  # no address above DEBUG
    assert f"WARNING django.request: Not Found: /{HOOK_PATH}{REDACTED}" in output  # Django's own log too
    assert SECRET not in output and TOKEN not in output
