"""Serving an ASGI app with uvicorn over TLS on loopback: in a background thread, as tests and the
`cmsf sandbox` command both do, with a clean start (the port accepts connections) and a clean stop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn

from cmsf_sandbox.tls import TlsFiles

START_TIMEOUT = 15.0  # seconds to wait for the server to accept connections
STOP_TIMEOUT = 10.0


class ServerError(RuntimeError):
    """The server did not start (or stop) as expected."""


def _tls_context(config: uvicorn.Config, default: Any) -> ssl.SSLContext:
    context: ssl.SSLContext = default()
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # as Campaign Monitor requires
    return context


def bind_socket(host: str, port: int = 0) -> socket.socket:
    """A listening-ready socket bound to (host, port); port 0 picks a free port, read it with getsockname()."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so, and without it every
    # response (headers and body are separate writes) waits ~40 ms for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(False)
    return sock


class BackgroundServer:
    """One uvicorn server in a daemon thread with its own event loop."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, tls: TlsFiles | None = None) -> None:
        self.app = app
        self.host = host
        self.tls = tls
        self._sock = bind_socket(host, port)
        self.port: int = self._sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            host=host,
            port=self.port,
            http="h11",
            loop="asyncio",
            lifespan="auto",  # the emulators use it; Django (a test receiving webhooks) has none
            log_config=None,
            log_level="warning",
            access_log=False,
            timeout_keep_alive=30,
            timeout_graceful_shutdown=3,
            ssl_certfile=str(tls.cert_file) if tls else None,
            ssl_keyfile=str(tls.key_file) if tls else None,
            ssl_context_factory=_tls_context if tls else None,
        )
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name=f"uvicorn-{host}:{self.port}", daemon=True)
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def base_url(self) -> str:
        scheme = "https" if self.tls else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    def _run(self) -> None:
        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            await self.server.serve(sockets=[self._sock])

        try:
            asyncio.run(serve())
        except BaseException as error:  # SystemExit from a failed startup included
            self._error = error

    def _abort_idle_connections(self) -> None:
        """Runs on the server's loop. A TLS connection whose client went away waits up to 30 s for a
        close_notify that never comes (asyncio's ssl_shutdown_timeout, which uvicorn does not expose), which
        would hold up shutdown: connections with no response in flight are cut at once."""
        for connection in list(self.server.server_state.connections):
            cycle = getattr(connection, "cycle", None)
            if cycle is None or getattr(cycle, "response_complete", True):
                transport = getattr(connection, "transport", None)
                if transport is not None:
                    transport.abort()

    def _accepts_connections(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def start(self) -> str:
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._error is not None or not self._thread.is_alive():
                raise ServerError(f"the server on {self.base_url} did not start: {self._error!r}")
            if self.server.started and self._accepts_connections():
                return self.base_url
            time.sleep(0.02)
        self.stop()
        raise ServerError(f"the server on {self.base_url} did not accept connections within {START_TIMEOUT:.0f} s")

    def stop(self) -> None:
        self.server.should_exit = True
        deadline = time.monotonic() + STOP_TIMEOUT
        while self._thread.is_alive() and time.monotonic() < deadline:
            loop = self._loop
            if loop is not None and not loop.is_closed():
                with contextlib.suppress(RuntimeError):  # the loop closed in between
                    loop.call_soon_threadsafe(self._abort_idle_connections)
            self._thread.join(0.05)
        if self._thread.is_alive():
            self.server.force_exit = True
            self._thread.join(STOP_TIMEOUT)
        with contextlib.suppress(OSError):
            self._sock.close()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()


@contextlib.contextmanager
def serve_in_thread(app: Any, host: str = "127.0.0.1", port: int = 0, tls: TlsFiles | None = None) -> Iterator[str]:
    """Serve `app` in a background thread; yield its base URL ("https://127.0.0.1:PORT") once it accepts
    connections; shut it down cleanly on exit."""
    server = BackgroundServer(app, host, port, tls)
    server.start()
    try:
        yield server.base_url
    finally:
        server.stop()
