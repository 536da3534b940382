"""The console's edge as a client on the internet meets it: a real `cmsf serve` process, real HTTP."""

from __future__ import annotations

import os
import re
import select
import signal
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.integration.test_cli import ADMIN, cmsf, free_port, init
from tests.processes import CMSF


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "data"


@dataclass
class Served:
    base: str  # the console's address
    output: str = ""  # what the server printed, once it has stopped


@contextmanager
def served(data_dir: Path, *args: str, **extra_env: str) -> Iterator[Served]:
    """`cmsf serve --no-worker` (and `args`) on a free loopback port of a new installation, with extra environment;
    yields its address, and what it printed once it stopped (its exit checked)."""
    init(data_dir)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CMSF_", "DATABASE_URL", "DJANGO_"))}
    env.update({"CMSF_DATA_DIR": str(data_dir), **extra_env})
    server = subprocess.Popen(
        [CMSF, "serve", "--no-worker", "--port", str(port), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    running = Served(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{running.base}/healthz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "the console did not come up"
            time.sleep(0.2)
        yield running
    finally:
        server.send_signal(signal.SIGINT)
        running.output, _ = server.communicate(timeout=30)
    assert server.returncode == 0, running.output


def _failed_sign_ins(base: str, forwarded_for: list[str]) -> list[int]:
    """A wrong password for the admin once per X-Forwarded-For given; the status of each answer."""
    session = requests.Session()
    page = session.get(f"{base}/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    statuses = []
    for address in forwarded_for:
        answer = session.post(
            f"{base}/login/",
            data={"csrfmiddlewaretoken": token, "username": ADMIN[0], "password": "not-the-password"},
            headers={"Referer": f"{base}/login/", "X-Forwarded-For": address},
        )
        statuses.append(answer.status_code)
    return statuses


def _attempt_addresses(data_dir: Path) -> set[str]:
    db = sqlite3.connect(data_dir / "cmsf.sqlite3")
    return {address for (address,) in db.execute("select ip_address from axes_accessattempt")}


def test_a_fresh_x_forwarded_for_each_try_does_not_escape_the_lockout(data_dir):
    fresh = [f"203.0.113.{n}" for n in range(1, 7)]
    with served(data_dir, CMSF_LOGIN_FAILURES="3") as running:
        base = running.base
        statuses = _failed_sign_ins(base, fresh)
    assert statuses[:2] == [200, 200] and set(statuses[2:]) == {429}, statuses
    assert _attempt_addresses(data_dir) == {"127.0.0.1"}  # the peer, not what the header claimed


def test_a_trusted_proxy_names_the_client_which_the_lockout_counts(data_dir):
    proxied = ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.9", "203.0.113.9", "203.0.113.9"]
    with served(data_dir, CMSF_LOGIN_FAILURES="3", CMSF_TRUSTED_PROXIES="127.0.0.0/8, ::1") as running:
        base = running.base
        statuses = _failed_sign_ins(base, proxied)
    assert statuses == [200, 200, 200, 200, 200, 429], statuses
    assert _attempt_addresses(data_dir) == {"203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.9"}


def test_a_trusted_proxy_that_is_not_an_address_is_refused_plainly(data_dir):
    init(data_dir)
    result = cmsf(data_dir, "status", extra_env={"CMSF_TRUSTED_PROXIES": "10.0.0.1, proxy.example.org"})
    assert result.returncode == 2, result.stderr
    assert "CMSF_TRUSTED_PROXIES must list addresses or networks, not 'proxy.example.org'" in result.stderr
    assert "Traceback" not in result.stderr


def _answer(sock: socket.socket, timeout: float = 10) -> bytes:
    sock.settimeout(timeout)
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = sock.recv(65536)
        if not chunk:
            break
        answer += chunk
    return answer


def _post_declared(base: str, path: str, length: int) -> bytes:
    """Headers declaring `length` bytes and not one byte of the body: the answer must come without it."""
    port = int(base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {length}\r\n\r\n".encode()
        )
        return _answer(sock)


def _post_chunked(base: str, path: str, total: int) -> tuple[bytes, int]:
    """Up to `total` bytes in 64 KB chunks, stopping at the first answer; the answer and the bytes sent."""
    port = int(base.rsplit(":", 1)[1])
    piece = b"x" * 65536
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    sent = 0
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        try:
            while sent < total:
                if select.select([sock], [], [], 0)[0]:
                    break  # answered
                sock.sendall(chunk)
                sent += len(piece)
            else:
                sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed while the rest was still being sent
        return _answer(sock), sent


def test_bodies_past_the_bounds_are_answered_413_before_they_are_read(data_dir):
    mb = 1024 * 1024
    with served(data_dir) as running:
        base = running.base
        assert _post_declared(base, "/login/", 2 * mb).startswith(b"HTTP/1.1 413 ")
        hook = "/hooks/campaign-monitor/some-secret"
        answer, sent = _post_chunked(base, hook, 20 * mb)
        assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
        assert sent < 20 * mb  # answered once past the bound (what sockets buffer aside), not after the 20 MB
        answer, sent = _post_chunked(base, "/login/", 20 * mb)
        assert answer.startswith(b"HTTP/1.1 413 ") and sent < 10 * mb, (answer[:200], sent)
        # Under the bound, a body is read and answered by the app as before.
        assert requests.post(f"{base}{hook}", data=b"{}", timeout=10).status_code == 404  # no such secret
    with served(data_dir, CMSF_MAX_BODY_BYTES=str(3 * mb)) as running:
        base = running.base
        answer = requests.post(f"{base}/login/", data=b"x" * (2 * mb), timeout=10)
        assert answer.status_code == 403  # read, and refused by the CSRF check instead


def test_every_page_has_a_content_security_policy_and_https_brings_hsts_and_the_redirect(data_dir):
    with served(data_dir) as running:
        base = running.base
        page = requests.get(f"{base}/login/", timeout=10)
        policy = dict(part.strip().split(" ", 1) for part in page.headers["Content-Security-Policy"].split(";"))
        assert policy["default-src"] == policy["script-src"] == policy["style-src"] == "'self'"
        assert policy["frame-ancestors"] == "'none'" and policy["object-src"] == "'none'"
        assert "Strict-Transport-Security" not in page.headers  # plain HTTP is what is served here

    https = {"CMSF_HTTPS": "true", "CMSF_TRUSTED_PROXIES": "127.0.0.1"}
    with served(data_dir, **https) as running:
        base = running.base
        plain = requests.get(f"{base}/login/", allow_redirects=False, timeout=10)
        assert plain.status_code == 301 and plain.headers["Location"] == f"https{base[4:]}/login/"
        assert requests.get(f"{base}/healthz", allow_redirects=False, timeout=10).status_code == 200
        proxied = requests.get(f"{base}/login/", headers={"X-Forwarded-Proto": "https"}, timeout=10)
        assert proxied.status_code == 200
        assert proxied.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
        assert "Content-Security-Policy" in proxied.headers
        assert all("Secure" in cookie for cookie in proxied.raw.headers.getlist("Set-Cookie"))

    with served(
        data_dir, CMSF_HTTPS="true"
    ) as running:  # no trusted proxy: a client's X-Forwarded-Proto is not believed
        base = running.base
        claimed = requests.get(f"{base}/login/", headers={"X-Forwarded-Proto": "https"}, allow_redirects=False)
        assert claimed.status_code == 301


PRODUCTION = {  # the production environment of the README's "Running in production"
    "CMSF_HTTPS": "true",
    "CMSF_BEHIND_PROXY": "true",
    "CMSF_TRUSTED_PROXIES": "127.0.0.1",
    "CMSF_ALLOWED_HOSTS": "cmsf.example.org",
    "CMSF_CSRF_TRUSTED_ORIGINS": "https://cmsf.example.org",
}


def _owner_only(data_dir: Path) -> None:
    for path in [data_dir, *data_dir.rglob("*")]:
        path.chmod(0o700 if path.is_dir() else 0o600)


def test_check_deploy_passes_the_documented_production_environment_and_names_each_gap(data_dir):
    init(data_dir)
    plain = cmsf(data_dir, "check", "--deploy")
    assert plain.returncode == 1, plain.stdout + plain.stderr
    assert "warning: cmsf.https: CMSF_HTTPS is off" in plain.stdout
    assert "security.W004" not in plain.stdout and "security.W008" not in plain.stdout  # said once, as CMSF_HTTPS

    assert cmsf(data_dir, "init", "--no-input", "--public-url", "https://cmsf.example.org").returncode == 0
    _owner_only(data_dir)
    ready = cmsf(data_dir, "check", "--deploy", extra_env=PRODUCTION)
    assert ready.returncode == 0 and ready.stdout == "no warnings: ready to deploy\n", ready.stdout + ready.stderr

    (data_dir / "cmsf.sqlite3").chmod(0o644)
    data_dir.chmod(0o755)
    gaps = {**PRODUCTION, "CMSF_TRUSTED_PROXIES": "", "CMSF_DEBUG": "true"}
    warned = cmsf(data_dir, "check", "--deploy", extra_env=gaps)
    assert warned.returncode == 1
    lines = warned.stdout.splitlines()
    assert f"warning: cmsf.modes: {data_dir.resolve()} is 0755: make it 0700 (readable by cmsf's user only)" in lines
    assert f"warning: cmsf.modes: {data_dir.resolve() / 'cmsf.sqlite3'} is 0644: make it 0600" in warned.stdout
    assert "warning: cmsf.debug: CMSF_DEBUG is on" in warned.stdout
    assert "warning: cmsf.proxies: CMSF_TRUSTED_PROXIES is empty" in warned.stdout
    assert lines[-1] == f"{len(lines) - 1} warnings"

    (data_dir / "encryption.key").unlink()
    assert "warning: cmsf.keys: No encryption key" in cmsf(data_dir, "check", "--deploy").stdout
