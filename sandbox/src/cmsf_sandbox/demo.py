"""`cmsf demo`'s set-up beside the sandbox it serves: a data folder with an admin, the sandbox started, cmsf
connected to it, a first sync, a sample import wizard and field mapping, then the console.

The steps that are cmsf's own (init, connect, storing the public URL, the sync, serving the console) are handed in
by the command as `DemoSteps`; what is set up here goes through cmsf's services, as an admin would in the console.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cmsf_sandbox.command import running_sandbox

DEMO_ADMIN_EMAIL = "admin@example.com"


@dataclass(frozen=True)
class DemoSteps:
    """cmsf's own steps: `initialize(admin_email=, admin_password=, no_input=)` yields lines to print;
    `connect(info, source)` connects cmsf to the sandbox's info; `public_url(address)` stores the console's address
    and says what it did; `sync()` runs a first sync; `serve()` serves the console until stopped."""

    initialize: Callable[..., Any]
    connect: Callable[[dict[str, Any], str], None]
    public_url: Callable[[str], str]
    sync: Callable[[], Any]
    serve: Callable[[], None]


def run_demo(steps: DemoSteps, *, dataset: str, host: str, port: int) -> int:
    """Everything on a fresh machine: init, the sandbox, connect, a first sync, then the console."""
    from django.conf import settings

    password = _demo_password()
    for line in steps.initialize(admin_email=DEMO_ADMIN_EMAIL, admin_password=password, no_input=True):
        print(line)
    info_file = settings.DATA_DIR / "sandbox" / "demo-info.json"
    with running_sandbox(dataset=dataset, info_json=info_file, seed=1) as (info, _):
        steps.connect(info, str(info_file))
        allow_console_sign_in(info, f"http://{host}:{port}")
        salesforce_user = _console_user_for_the_sync_user()
        from cmsf.sync.services import forget_written_records

        forget_written_records()  # the sandbox is generated anew on each run: its org holds nothing yet
        print(_demo_public_url(steps, host, port))
        print("First sync:")
        steps.sync()
        _demo_import_wizard()
        _demo_field_mapping()
        print(f"Sign in at http://{host}:{port}/ as {DEMO_ADMIN_EMAIL} with the password {password}")
        print(f'or with "Log in with Salesforce" as the sandbox org\'s Salesforce Sync User, {salesforce_user}')
        steps.serve()
    return 0


def _demo_public_url(steps: DemoSteps, host: str, port: int) -> str:
    """Real time in the demo: the console's own address is stored as the public URL, and the emulator posts its
    webhooks there; unless an admin stored an address that is not this machine's."""
    from urllib.parse import urlsplit

    from cmsf.lib.urls import is_loopback
    from cmsf.sync.webhooks import public_url

    stored = public_url()
    if stored and not is_loopback(urlsplit(stored).hostname or ""):
        return f"public URL {stored}, as stored"
    return steps.public_url(f"http://{'127.0.0.1' if host in ('0.0.0.0', '::', '') else host}:{port}")


def _demo_password() -> str:
    from django.conf import settings

    path = settings.DATA_DIR / "demo-admin-password.txt"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(12) + "\n")
    return path.read_text().strip()


DEMO_WIZARD = "Web leads"


def _demo_import_wizard() -> None:
    """A sample import wizard, run when asked: the sandbox's open leads from the web into the first list."""
    from cmsf.audience import services as audience
    from cmsf.audience.models import ImportWizard
    from cmsf.connections import services as connections
    from cmsf.connections.models import CampaignMonitorClient

    client = CampaignMonitorClient.objects.filter(selected=True, active=True).order_by("name").first()
    lists = connections.campaign_monitor().lists(client.cm_client_id) if client else []
    if client is None or not lists:
        return
    wizard = ImportWizard.objects.filter(name=DEMO_WIZARD).first() or ImportWizard(name=DEMO_WIZARD)
    before = audience.snapshot(wizard) if wizard.pk else None
    wizard.client, wizard.list_id, wizard.list_name = client, lists[0].list_id, lists[0].name
    wizard.source, wizard.sobject = ImportWizard.Source.SOQL, "Lead"
    wizard.soql = "SELECT Id FROM Lead WHERE LeadSource = 'Web' AND IsConverted = false"
    audience.save_wizard(wizard, actor="demo", before=before)
    print(
        f'Import wizard "{DEMO_WIZARD}": the web leads into {client.name}: {lists[0].name}, when you run it (the '
        f"console's Import Wizard section, or `cmsf import run '{DEMO_WIZARD}'`)"
    )


def _demo_field_mapping() -> None:
    """A sample field mapping: a contact's Department goes to the first list's "Department" custom field (made when
    missing) whenever it changes in Salesforce."""
    from cmsf.audience import fields, services
    from cmsf.connections import services as connections
    from cmsf.connections.models import CampaignMonitorClient
    from cmsf.options.models import FieldMapping

    client = CampaignMonitorClient.objects.filter(selected=True, active=True).order_by("name").first()
    cm, sf = connections.campaign_monitor(), connections.salesforce()
    lists = cm.lists(client.cm_client_id) if client else []
    if client is None or not lists or FieldMapping.objects.filter(list_id=lists[0].list_id).exists():
        return
    existing = {f.name.lower(): f.key for f in cm.custom_fields(lists[0].list_id)}
    key = existing.get("department") or fields.create_matching_field(cm, sf, lists[0].list_id, "Contact", "Department")
    mapping = FieldMapping(client=client, list_id=lists[0].list_id, list_name=lists[0].name, sobject="Contact",
                           salesforce_field="Department", campaign_monitor=key)  # fmt: skip
    if not fields.check_mapping(mapping, cm, sf):
        services.save_mapping(mapping, actor="demo")
        print(
            f"Field mapping: Contact.Department -> {key} of {lists[0].name}, sent when a contact's Department changes"
        )


def allow_console_sign_in(info: dict[str, Any], console_url: str) -> None:
    """Add the console's callback URLs to the sandbox org's connected app and the Campaign Monitor OAuth app (what an
    admin does in Salesforce Setup and in Campaign Monitor), so "Log in with Salesforce", "Change Salesforce Sync
    User" and the Setup page's OAuth connections work in the demo."""
    import requests

    for service, route, callback in (
        ("salesforce", "/oauth/callback-urls", "/oauth/salesforce/callback"),
        ("campaign_monitor", "/oauth/redirect-uris", "/oauth/campaign-monitor/callback"),
    ):
        emulator = info[service]
        response = requests.post(
            emulator["admin_url"] + route, json={"url": console_url + callback}, verify=emulator["ca_file"], timeout=30
        )
        response.raise_for_status()


def _console_user_for_the_sync_user() -> str:
    """Make the sandbox org's Salesforce Sync User a CM Full Access console user (what an admin does under User
    Security), so that "Log in with Salesforce" works in the demo; their username, for the emulator's login page."""
    import secrets as token

    from django.contrib.auth import get_user_model

    from cmsf.connections.models import SalesforceOrg
    from cmsf.connections.services import salesforce
    from cmsf.console.permission_sets import FULL_ACCESS
    from cmsf.console.users import add_user
    from cmsf.salesforce.soql import quote

    adapter = salesforce()
    try:
        found = next(
            adapter.query(f"SELECT Username, Email FROM User WHERE Id = {quote(SalesforceOrg.load().sync_user_id)}")
        )
    finally:
        adapter.session.close()
    if not get_user_model().objects.filter(email__iexact=found["Email"]).exists():
        add_user(email=found["Email"], permission_set=FULL_ACCESS, password=token.token_urlsafe(24), actor="cmsf demo")
    return str(found["Username"])
