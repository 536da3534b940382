"""`cmsf sandbox`: generate a dataset, serve its emulators over TLS on loopback until SIGINT/SIGTERM,
and describe them in an info JSON file (written once every server accepts connections).

Each emulator is a `Service`: an app plus the block of the info file that tells a client how to reach it:
Campaign Monitor ("campaign_monitor") and Salesforce ("salesforce"), both over the same TLS files. The
manifest file holds the Campaign Monitor world's counts, and the Salesforce org's under its "salesforce" key.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from cmsf_sandbox.campaign_monitor.world import World
from cmsf_sandbox.server import BackgroundServer, ServerError
from cmsf_sandbox.tls import TlsFiles, generate_tls_files

HOST = "127.0.0.1"


class SandboxError(Exception):
    """A problem the user can fix (an unknown dataset, a port in use), reported as one line."""


@dataclass
class Service:
    key: str  # the info file's key for it: "campaign_monitor", later "salesforce"
    title: str
    app: Any
    port: int  # 0: a free port
    describe: Callable[[str], dict[str, Any]]  # base URL ("https://127.0.0.1:PORT") -> its info block
    entry_path: str = ""  # appended to the base URL in the startup line
    # the console's address -> the OAuth callback this emulator now accepts (as an admin registers it)
    allow_console: Callable[[str], str] | None = None


CM_CALLBACK = "/oauth/campaign-monitor/callback"
SF_CALLBACK = "/oauth/salesforce/callback"


def campaign_monitor_service(world: World, *, faults: str, port: int, tls: TlsFiles, manifest: Path) -> Service:
    from cmsf_sandbox.campaign_monitor.app import API_PREFIX, create_app

    app = create_app(world, faults, webhook_ca=str(tls.ca_file))  # a cmsf served with the sandbox's certificate

    def describe(base: str) -> dict[str, Any]:
        oauth = world.oauth_app
        return {
            "base_url": base + API_PREFIX,
            "api_key": world.account_api_key,
            "ca_file": str(tls.ca_file),
            "oauth_url": base + "/oauth",
            "oauth_token_url": base + "/oauth/token",
            "oauth_client_id": oauth.client_id if oauth else None,
            "oauth_client_secret": oauth.client_secret if oauth else None,
            "oauth_redirect_uri": oauth.redirect_uri if oauth else None,
            "admin_url": base + "/admin",
            "faults": faults,
            "clients": [
                {"client_id": c.client_id, "name": c.company_name, "api_key": c.api_key, "time_zone": c.time_zone}
                for c in world.clients.values()
            ],
            "manifest": str(manifest),
        }

    def allow_console(console_url: str) -> str:
        app.state.emulator.oauth.add_redirect_uri(console_url + CM_CALLBACK)
        return console_url + CM_CALLBACK

    return Service("campaign_monitor", "Campaign Monitor", app, port, describe, API_PREFIX, allow_console)


JWT_KEY_FILE = "salesforce-jwt-key.pem"


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


def salesforce_service(org: Any, *, faults: str, port: int, tls: TlsFiles, manifest: Path) -> Service:
    """The Salesforce emulator over `org` (an OrgData); its JWT private key is written beside the CA file."""
    from cmsf_sandbox.salesforce.app import API_PREFIX, DEFAULT_VERSION, create_app

    app = create_app(org, faults)
    emulator = app.state.emulator
    key_file = tls.ca_file.parent / JWT_KEY_FILE
    _write_private(key_file, org.oauth.jwt_private_key_pem)

    def describe(base: str) -> dict[str, Any]:
        oauth = org.oauth
        return {
            "instance_url": base,
            "login_url": base,
            "api_version": DEFAULT_VERSION,
            "access_token": emulator.issue_token(org.sync_user_id),
            "ca_file": str(tls.ca_file),
            "client_id": oauth.client_id,
            "client_secret": oauth.client_secret,
            "redirect_uri": oauth.redirect_uri,
            "jwt_username": oauth.jwt_username,
            "jwt_private_key_file": str(key_file),
            "sync_user_id": org.sync_user_id,
            "org_id": org.org_id,
            "admin_url": base + "/admin",
            "faults": faults,
            "manifest": str(manifest),
        }

    def allow_console(console_url: str) -> str:
        emulator.oauth.add_callback_url(console_url + SF_CALLBACK)
        return console_url + SF_CALLBACK

    return Service("salesforce", "Salesforce", app, port, describe, API_PREFIX + "/", allow_console)


def default_cert_dir() -> Path:
    from cmsf.lib.env import data_dir

    return data_dir() / "sandbox" / "tls"


def manifest_path(info_json: Path) -> Path:
    """Where the dataset's manifest goes: beside the info file, "<info stem>.manifest.json"."""
    return info_json.with_name(info_json.stem + ".manifest.json")


def _write_atomically(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def _wait_for_signal(servers: list[BackgroundServer]) -> None:
    """Block until SIGINT or SIGTERM (or a server dies), then restore the previous handlers."""
    stop = threading.Event()

    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(0.25):
            if not all(server.running for server in servers):
                raise SandboxError("an emulator stopped unexpectedly")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def running_sandbox(
    *,
    dataset: str,
    info_json: Path,
    seed: int = 1,
    faults: str = "none",
    cm_port: int = 0,
    sf_port: int = 0,
    cert_dir: Path | None = None,
    console_url: str = "",
    announce: Callable[[str], None] = print,
) -> Iterator[tuple[dict[str, Any], list[BackgroundServer]]]:
    """Generate the dataset, serve both emulators in threads, write the info file; yield (info, servers) and stop
    them (removing the info file) on exit. `cmsf sandbox` waits for a signal inside it; `cmsf demo` serves the
    console inside it. With `console_url`, both OAuth apps accept that console's callbacks (its Setup page)."""
    from cmsf_sandbox import dataset as datasets
    from cmsf_sandbox.campaign_monitor.faults import PROFILES as CM_PROFILES
    from cmsf_sandbox.salesforce.data import generate_org, org_manifest
    from cmsf_sandbox.salesforce.faults import PROFILES as SF_PROFILES

    profiles = list(dict.fromkeys((*CM_PROFILES, *SF_PROFILES)))
    if dataset not in datasets.SIZES:
        raise SandboxError(f"--dataset: {dataset!r} is not one of {', '.join(datasets.SIZES)}")
    if faults not in profiles:
        raise SandboxError(f"--faults: {faults!r} is not one of {', '.join(profiles)}")
    info_json = info_json.resolve()
    info_json.unlink(missing_ok=True)  # never leave a stale file for a waiting client
    world = datasets.generate_world(dataset, seed)
    org = generate_org(dataset, seed)
    manifest = manifest_path(info_json)
    _write_atomically(manifest, {**datasets.manifest(world), "salesforce": org_manifest(org)})
    tls = generate_tls_files((cert_dir or default_cert_dir()).resolve())

    # A profile one emulator does not have (slow, limits) leaves the other one without faults.
    services = [
        campaign_monitor_service(
            world, faults=faults if faults in CM_PROFILES else "none", port=cm_port, tls=tls, manifest=manifest
        ),
        salesforce_service(
            org, faults=faults if faults in SF_PROFILES else "none", port=sf_port, tls=tls, manifest=manifest
        ),
    ]
    with contextlib.ExitStack() as stack:
        servers: list[BackgroundServer] = []
        info: dict[str, Any] = {"dataset": dataset, "seed": seed}
        for service in services:
            try:
                server = BackgroundServer(service.app, HOST, service.port, tls)
            except OSError as error:
                raise SandboxError(
                    f"{service.title}: cannot listen on {HOST}:{service.port}: {error.strerror}"
                ) from None
            try:
                server.start()
            except ServerError as error:
                raise SandboxError(str(error)) from None
            stack.callback(server.stop)
            servers.append(server)
            info[service.key] = service.describe(server.base_url)
            if console_url and service.allow_console is not None:
                info[service.key]["console_callback_url"] = service.allow_console(console_url)
            announce(
                f"{service.title} emulator on {server.base_url}{service.entry_path} (dataset {dataset}, seed {seed})"
            )
        if console_url:
            announce(f"Both emulators accept the OAuth callbacks of the console at {console_url} (its Setup page)")
        _write_atomically(info_json, info)
        stack.callback(info_json.unlink, missing_ok=True)
        yield info, servers


def run_sandbox(
    *,
    dataset: str,
    info_json: Path,
    seed: int = 1,
    faults: str = "none",
    cm_port: int = 0,
    sf_port: int = 0,
    cert_dir: Path | None = None,
    console_url: str = "",
    announce: Callable[[str], None] = print,
) -> int:
    with running_sandbox(
        dataset=dataset, info_json=info_json, seed=seed, faults=faults, cm_port=cm_port, sf_port=sf_port,
        cert_dir=cert_dir, console_url=console_url, announce=announce,
    ) as (info, servers):  # fmt: skip
        announce(f"Connection details in {info_json}; CA file {info['campaign_monitor']['ca_file']}. Stop with Ctrl+C.")
        _wait_for_signal(servers)
    announce("sandbox stopped")
    return 0
