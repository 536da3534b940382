"""`cmsf sandbox`: generate a dataset, serve its emulators over TLS on loopback until SIGINT/SIGTERM,
and describe them in an info JSON file (written once every server accepts connections).

Each emulator is a `Service`: an app plus the block of the info file that tells a client how to reach it.
Campaign Monitor is the first; a Salesforce emulator joins it by adding a second `Service` to `services()`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from cmsf.sandbox.campaign_monitor.world import World
from cmsf.sandbox.server import BackgroundServer, ServerError
from cmsf.sandbox.tls import TlsFiles, generate_tls_files

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


def campaign_monitor_service(world: World, *, faults: str, port: int, tls: TlsFiles, manifest: Path) -> Service:
    from cmsf.sandbox.campaign_monitor.app import API_PREFIX, create_app

    app = create_app(world, faults)

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

    return Service("campaign_monitor", "Campaign Monitor", app, port, describe, API_PREFIX)


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


def run_sandbox(
    *,
    dataset: str,
    info_json: Path,
    seed: int = 1,
    faults: str = "none",
    cm_port: int = 0,
    cert_dir: Path | None = None,
    announce: Callable[[str], None] = print,
) -> int:
    from cmsf.sandbox import dataset as datasets
    from cmsf.sandbox.campaign_monitor.faults import PROFILES

    if dataset not in datasets.SIZES:
        raise SandboxError(f"--dataset: {dataset!r} is not one of {', '.join(datasets.SIZES)}")
    if faults not in PROFILES:
        raise SandboxError(f"--faults: {faults!r} is not one of {', '.join(PROFILES)}")
    info_json = info_json.resolve()
    info_json.unlink(missing_ok=True)  # never leave a stale file for a waiting client
    world = datasets.generate_world(dataset, seed)
    manifest = manifest_path(info_json)
    datasets.write_manifest(world, manifest)
    tls = generate_tls_files((cert_dir or default_cert_dir()).resolve())

    services = [campaign_monitor_service(world, faults=faults, port=cm_port, tls=tls, manifest=manifest)]
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
            announce(
                f"{service.title} emulator on {server.base_url}{service.entry_path} (dataset {dataset}, seed {seed})"
            )
        _write_atomically(info_json, info)
        stack.callback(info_json.unlink, missing_ok=True)
        announce(f"Connection details in {info_json}; CA file {tls.ca_file}. Stop with Ctrl+C.")
        _wait_for_signal(servers)
    announce("sandbox stopped")
    return 0
