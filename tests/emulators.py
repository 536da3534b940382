"""Both emulators over TLS in this process, connected as an admin would connect them: what the console's tests
stand on. Also the two steps many of those tests take once connected: a sync of every client, a pass of the watcher."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from cmsf.connections import services as connections
from cmsf.sync import services as sync
from cmsf.sync.models import SyncRun, WatchRun
from cmsf.sync.watcher import watch_once
from cmsf_sandbox.campaign_monitor.app import create_app as create_cm
from cmsf_sandbox.salesforce.app import create_app as create_sf
from cmsf_sandbox.server import serve_in_thread
from cmsf_sandbox.tls import TlsFiles, generate_tls_files


@dataclass
class Connected:
    world: Any  # the Campaign Monitor dataset, or None
    org: Any  # the Salesforce org's data, or None
    cm_base: str
    sf_base: str
    ca: str
    tls: TlsFiles  # the sandbox's CA and certificate: a receiver of webhooks served with them is trusted

    def sf_admin(self, method: str, path: str, **kwargs: Any) -> Any:
        """The Salesforce emulator's admin API (test controls)."""
        response = requests.request(method, f"{self.sf_base}/admin{path}", verify=self.ca, timeout=30, **kwargs)
        response.raise_for_status()
        return response.json()


def connect_salesforce(org: Any, sf_base: str, ca: str, *, client_secret: bool = False) -> None:
    login = connections.SalesforceLogin(
        flow="jwt_bearer",
        login_domain="custom",
        custom_login_url=sf_base,
        client_id=org.oauth.client_id,
        client_secret=org.oauth.client_secret if client_secret else "",
        jwt_username=org.oauth.jwt_username,
        jwt_private_key=org.oauth.jwt_private_key_pem,
        ca_file=ca,
    )
    connections.connect_salesforce(login, actor="test")


@contextmanager
def serving(folder: Path, *, world: Any = None, org: Any = None) -> Iterator[Connected]:
    """The emulators of the datasets given, over TLS, not connected yet."""
    tls = generate_tls_files(folder)
    with ExitStack() as stack:
        cm_app = create_cm(world, "none", webhook_ca=str(tls.ca_file)) if world else None
        cm_base = stack.enter_context(serve_in_thread(cm_app, tls=tls)) if cm_app else ""
        sf_base = stack.enter_context(serve_in_thread(create_sf(org, "none"), tls=tls)) if org else ""
        yield Connected(world, org, cm_base, sf_base, str(tls.ca_file), tls)


def connect(
    running: Connected, *, campaign_monitor: bool = True, salesforce: bool = True, client_secret: bool = False
) -> None:
    """cmsf connected to the emulators served (those asked for), as an admin would connect it."""
    if campaign_monitor and running.world is not None:
        connections.connect_campaign_monitor(
            api_key=running.world.account_api_key,
            actor="test",
            base_url=f"{running.cm_base}/api/v3.3",
            ca_file=running.ca,
        )
    if salesforce and running.org is not None:
        connect_salesforce(running.org, running.sf_base, running.ca, client_secret=client_secret)


@contextmanager
def connected(folder: Path, *, world: Any = None, org: Any = None, client_secret: bool = False) -> Iterator[Connected]:
    """The emulators of the datasets given, over TLS, and cmsf connected to each."""
    with serving(folder, world=world, org=org) as running:
        connect(running, client_secret=client_secret)
        yield running


def sync_every_client() -> None:
    """A sync of every client selected for syncing; each one must succeed."""
    for client in sync.clients_to_sync():
        assert sync.sync_client(client=client).status == SyncRun.Status.SUCCEEDED


def watched() -> WatchRun:
    """One pass of the watcher; it must succeed."""
    run = watch_once()
    assert run.status == WatchRun.Status.SUCCEEDED, run.message
    return run
