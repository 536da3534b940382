"""The argparse of `cmsf`: a parser whose errors are one line, and the types that check each argument."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any


class Parser(argparse.ArgumentParser):
    """argparse with its errors on one line, like every other error of cmsf (subcommands inherit it)."""

    def error(self, message: str) -> Any:  # argparse's own: usage, then the message, exit 2
        command = self.prog.removeprefix("cmsf").strip()
        self.exit(2, f"cmsf: error: {command + ': ' if command else ''}{' '.join(message.split())} "
                     f"(see {self.prog} --help)\n")  # fmt: skip


def number(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number from low to high (argparse names the option in its message)."""

    def number(value: str) -> int:
        try:
            n = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
        if n < low or (high is not None and n > high):
            raise argparse.ArgumentTypeError(f"{n} is not from {low} to {high}" if high else f"{n} is below {low}")
        return n

    return number


PORT, ANY_PORT, WORKERS, SEED = number(1, 65535), number(0, 65535), number(1, 64), number(0)
API_RATE = number(1, 10_000)  # an API token's calls a minute (cmsf.api.tokens.MAX_RATE)


def text(value: str) -> str:
    """An argparse type: text that is not empty (`--client ""` would otherwise mean every client)."""
    if not value.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return value


def console_url(value: str) -> str:
    """An argparse type: the console's http(s) address, such as http://127.0.0.1:8000 (no path, query or fragment)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(text(value))
        parts.port  # noqa: B018  (a bad port raises here)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an http(s) address") from None
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path.strip("/")
        or parts.query
        or parts.fragment
    ):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not the console's http(s) address, such as http://127.0.0.1:8000"
        )
    return value.rstrip("/")


def host(value: str) -> str:
    """An argparse type: an address or name this machine can listen on."""
    import socket

    try:
        socket.getaddrinfo(text(value), None)
    except (socket.gaierror, UnicodeError):
        raise argparse.ArgumentTypeError(f"{value!r} is not an address or host name of this machine") from None
    return value


def readable_file(value: str) -> str:
    """An argparse type: a file that exists and can be read."""
    try:
        with open(text(value), "rb"):
            pass
    except OSError as error:
        raise argparse.ArgumentTypeError(f"cannot read {value}: {error.strerror}") from None
    return value


def new_file(value: str) -> str:
    """An argparse type: a file to write, in a folder that exists."""
    folder = Path(text(value)).expanduser().parent
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"cannot write {value}: the folder {folder} does not exist")
    return value


def folder(value: str) -> str:
    """An argparse type: a folder, or a path where one can be made (what exists of it is a folder)."""
    path = Path(text(value)).expanduser().absolute()
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        raise argparse.ArgumentTypeError(f"cannot make the folder {value}: {existing} is not a folder")
    return value
