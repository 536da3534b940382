"""Reading the environment: tiny typed helpers, one place for defaults."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any


class EnvError(ValueError):
    """An environment variable holds a value cmsf cannot use."""


def env_str(name: str, default: str = "") -> str:
    value = os.environ.get(name, "")
    return value if value != "" else default


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if value == "":
        return default
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise EnvError(f"{name} must be true or false, not {value!r}")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise EnvError(f"{name} must be a whole number, not {value!r}") from None


def env_choice(name: str, choices: Sequence[str], default: str) -> str:
    """One of a few words (case does not matter); anything else is one clear error naming the choices."""
    value = os.environ.get(name, "").strip().lower()
    if value == "":
        return default
    if value not in choices:
        raise EnvError(f"{name} must be {' or '.join(choices)}, not {value!r}")
    return value


def data_dir() -> Path:
    """The folder that holds the database, the queue, the keys and the outbox."""
    return Path(env_str("CMSF_DATA_DIR", "./var")).resolve()


def trusted_proxies(value: str) -> list[str]:
    """CMSF_TRUSTED_PROXIES: addresses and networks (CIDR), comma-separated, each checked."""
    proxies = [item.strip() for item in value.split(",") if item.strip()]
    for item in proxies:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise EnvError(f"CMSF_TRUSTED_PROXIES must list addresses or networks, not {item!r}") from None
    return proxies


def client_address(request: Any) -> str | None:
    """The client's address as the server resolved it: the peer, or the client named by a trusted proxy."""
    address = request.META.get("REMOTE_ADDR")
    return str(address) if address else None


def make_private(folder: Path) -> None:
    """The data folder and every folder under it 0700, every file 0600 (the database, its -wal and -shm, the
    queue, the keys, the outbox): what an installation made before private modes had is tightened too."""
    folder.chmod(0o700)
    for path in folder.rglob("*"):
        if not path.is_symlink():
            path.chmod(0o700 if path.is_dir() else 0o600)
