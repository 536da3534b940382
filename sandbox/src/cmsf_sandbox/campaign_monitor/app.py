"""The Campaign Monitor API v3.3 emulator as a Starlette app: `create_app(world, faults)`.

Everything the API serves lives under /api/v3.3 with a .json suffix (the transactional routes without one), answers
JSON only, matches routes, query parameter names and JSON body keys case-insensitively, and authenticates with HTTP
Basic (an API key) or an OAuth Bearer token. OAuth lives at /oauth and /oauth/token; test controls at /admin (no auth).
See the route modules for what each endpoint does, and `faults` for the fault profiles.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from cmsf_sandbox.campaign_monitor import (
    admin,
    routes_clients,
    routes_lists,
    routes_reports,
    routes_subscribers,
    routes_transactional,
)
from cmsf_sandbox.campaign_monitor.common import (
    ApiError,
    Reply,
    as_bool,
    encode_json,
    lower_keys,
)
from cmsf_sandbox.campaign_monitor.faults import (
    DROP,
    RATE_LIMITED,
    SERVER_ERROR,
    DroppedConnection,
    FaultInjector,
    FaultRates,
    RateWindow,
    hide_deliberate_drops,
)
from cmsf_sandbox.campaign_monitor.oauth import OAuthError
from cmsf_sandbox.campaign_monitor.state import ApiRequest, Caller, Emulator
from cmsf_sandbox.campaign_monitor.webhooks import WebhookDispatcher
from cmsf_sandbox.campaign_monitor.world import World

log = logging.getLogger(__name__)

API_PREFIX = "/api/v3.3"
DESERIALIZE_MESSAGE = "Failed to deserialize your request. Please check the documentation and try again."


# ------------------------------------------------------------------------------------------- routing


@dataclass(frozen=True)
class CompiledRoute:
    method: str
    template: str
    pattern: re.Pattern[str]
    names: tuple[str, ...]
    handler: Any


def compile_template(template: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    names: list[str] = []
    regex = ""
    for literal, name in re.findall(r"([^{]*)(?:\{(\w+)\})?", template):
        regex += re.escape(literal)
        if name:
            names.append(name.lower())
            regex += r"([^/]+?)"
    return re.compile(f"^{regex}$", re.IGNORECASE), tuple(names)


class Router:
    """Case-insensitive matching of "METHOD /path/{param}.json" templates."""

    def __init__(self, routes: list[tuple[str, str, Any]]) -> None:
        self.routes: list[CompiledRoute] = []
        for method, template, handler in routes:
            pattern, names = compile_template(template)
            self.routes.append(CompiledRoute(method, template, pattern, names, handler))

    def match(self, method: str, path: str) -> tuple[CompiledRoute | None, dict[str, str], list[str]]:
        """(route, path parameters, methods the path allows); route is None for 404 (no methods) or 405."""
        allowed: list[str] = []
        for route in self.routes:
            found = route.pattern.match(path)
            if found is None:
                continue
            if route.method == method:
                return route, dict(zip(route.names, found.groups(), strict=True)), []
            allowed.append(route.method)
        return None, {}, allowed


API_ROUTES = Router(
    [
        *routes_clients.ROUTES,
        *routes_lists.ROUTES,
        *routes_subscribers.ROUTES,
        *routes_reports.ROUTES,
        *routes_transactional.ROUTES,
    ]
)
ADMIN_ROUTES = Router(admin.ROUTES)


def query_params(raw: bytes) -> dict[str, str]:
    """Names lower-cased; empty values are "not supplied"; the first value of a repeated name wins."""
    params: dict[str, str] = {}
    for name, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
        key = name.lower()
        if value != "" and key not in params:
            params[key] = value
    return params


async def read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


# ------------------------------------------------------------------------------------------ the app


class EmulatorASGI:
    """One ASGI callable for /api/v3.3, /oauth and /admin."""

    def __init__(self, em: Emulator) -> None:
        self.em = em

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = str(scope["method"]).upper()
        path: str = scope["path"]
        lowered = path.lower()
        body = await read_body(receive)
        params = query_params(scope.get("query_string", b""))
        if lowered.startswith(API_PREFIX + "/"):
            await self.api(scope, send, method, path[len(API_PREFIX) :], params, body)
        elif lowered.rstrip("/") in ("/oauth", "/oauth/token"):
            await self.oauth(send, method, lowered.rstrip("/"), params, body)
        elif lowered.startswith("/admin/"):
            await self.admin(send, method, path, body)
        else:
            await self.send_reply(send, self.not_found())

    # -------------------------------------------------------------------------------------- replies

    def not_found(self) -> Reply:
        return Reply(404, {"Code": 404, "Message": "Not Found"})

    def method_not_allowed(self, allowed: list[str]) -> Reply:
        reply = Reply(405, {"Code": 405, "Message": "Method Not Allowed"})
        reply.headers.append((b"allow", ", ".join(sorted(set(allowed))).encode()))
        return reply

    async def send_reply(
        self, send: Send, reply: Reply, *, pretty: bool = False, drop: bool = False, exhausted: bool = False
    ) -> None:
        if reply.empty:
            body = b""
        else:
            body = encode_json(reply.data, pretty=pretty)
        headers = [
            (b"content-type", reply.content_type),
            *self.em.rate.headers(exhausted=exhausted),
            *reply.headers,
        ]
        if not drop:
            headers.append((b"content-length", str(len(body)).encode()))
            await send({"type": "http.response.start", "status": reply.status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        # Announce the whole body, send half of it, then let the connection die.
        declared = len(body) if len(body) >= 2 else len(body) + 1
        headers.append((b"content-length", str(declared).encode()))
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
        raise DroppedConnection(f"dropped after {len(body) // 2} of {declared} bytes (fault profile flaky)")

    # ------------------------------------------------------------------------------------------ API

    async def api(self, scope: Scope, send: Send, method: str, path: str, params: dict[str, str], body: bytes) -> None:
        em = self.em
        route, path_params, allowed = API_ROUTES.match(method, path)
        if route is None:
            await self.send_reply(send, self.method_not_allowed(allowed) if allowed else self.not_found())
            return
        em.calls[f"{route.method} {route.template}"] += 1
        pretty = as_bool(params.get("pretty"))
        if em.faults.latency:
            await asyncio.sleep(em.faults.latency)
        fault = em.faults.decide()
        if fault == RATE_LIMITED:
            reply = Reply(429, {"Code": 429, "Message": "Rate limit exceeded"})
            await self.send_reply(send, reply, pretty=pretty, exhausted=True)
            return
        if fault == SERVER_ERROR:
            await self.send_reply(send, Reply(500, {"Code": 500, "Message": "Internal Server Error"}), pretty=pretty)
            return
        if not em.rate.take():
            await self.send_reply(send, Reply(429, {"Code": 429, "Message": "Rate limit exceeded"}), pretty=pretty)
            return
        reply = await self.run(scope, route, path_params, params, body, method)
        await self.send_reply(send, reply, pretty=pretty, drop=fault == DROP)

    async def run(
        self,
        scope: Scope,
        route: CompiledRoute,
        path_params: dict[str, str],
        params: dict[str, str],
        raw_body: bytes,
        method: str,
    ) -> Reply:
        em = self.em
        try:
            headers = dict(scope.get("headers", []))
            authorization = headers.get(b"authorization", b"").decode("latin-1")
            caller: Caller = em.authenticate(authorization)
            data: Any = None
            raw: Any = None
            if raw_body.strip() and method in ("POST", "PUT"):
                try:
                    raw = json.loads(raw_body)
                    data = lower_keys(raw)
                except (ValueError, UnicodeDecodeError):
                    return Reply(400, {"Code": 400, "Message": DESERIALIZE_MESSAGE})
            client = scope.get("client")
            rq = ApiRequest(method, path_params, params, data, caller, client[0] if client else "", raw)
            if inspect.iscoroutinefunction(route.handler):
                return await route.handler(em, rq)
            with em.world.lock:
                return route.handler(em, rq)
        except ApiError as error:
            return Reply(error.status, error.body())
        except Exception:
            log.exception("the Campaign Monitor emulator failed on %s %s", method, route.template)
            return Reply(500, {"Code": 500, "Message": "Internal Server Error"})

    # ---------------------------------------------------------------------------------------- OAuth

    async def oauth(self, send: Send, method: str, path: str, params: dict[str, str], body: bytes) -> None:
        em = self.em
        if path == "/oauth" and method == "GET":
            em.calls["GET /oauth"] += 1
            status, result = em.oauth.authorize(params, em.now_utc())
            if isinstance(result, str):
                await self.send_reply(send, Reply(status, empty=True, headers=[(b"location", result.encode())]))
            else:
                await self.send_reply(send, Reply(status, result))
            return
        if path == "/oauth/token" and method == "POST":
            em.calls["POST /oauth/token"] += 1
            form = {k: v for k, v in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)}
            try:
                issued = em.oauth.token(form, em.now_utc())
            except OAuthError as error:
                await self.send_reply(send, Reply(400, error.body()))
                return
            await self.send_reply(send, Reply(200, issued))
            return
        await self.send_reply(send, self.method_not_allowed(["GET"] if path == "/oauth" else ["POST"]))

    # ---------------------------------------------------------------------------------------- admin

    async def admin(self, send: Send, method: str, path: str, body: bytes) -> None:
        route, _, allowed = ADMIN_ROUTES.match(method, path.rstrip("/"))
        if route is None:
            await self.send_reply(send, self.method_not_allowed(allowed) if allowed else self.not_found())
            return
        try:
            data = lower_keys(json.loads(body)) if body.strip() else {}
            if not isinstance(data, dict):
                raise ApiError(400, 400, "The body must be a JSON object")
            reply: Reply = route.handler(self.em, data)
        except ValueError:
            reply = Reply(400, {"Code": 400, "Message": DESERIALIZE_MESSAGE})
        except ApiError as error:
            reply = Reply(error.status, error.body())
        except Exception as error:
            log.exception("the Campaign Monitor emulator's admin route %s failed", route.template)
            reply = Reply(500, {"Code": 500, "Message": f"Internal Server Error: {error}"})
        await self.send_reply(send, reply)


def create_app(
    world: World,
    faults: str = "none",
    *,
    seed: int | None = None,
    clock: Callable[[], datetime] | None = None,
    rate_limit: int = 100_000,
    fault_rates: FaultRates | None = None,
    webhook_window: float = 0.2,
    webhook_ca: str | None = None,
) -> Starlette:
    """The emulator over `world`. `faults` is the starting profile (none, flaky, slow); `seed` drives the
    flaky profile (default: the world's seed); `clock` returns the current aware UTC time (default: the
    wall clock); `rate_limit` is requests per minute before a real 429; `webhook_ca` is the PEM bundle that https
    webhook deliveries trust instead of the system's (the sandbox's own CA, for a receiver served with its
    certificate). The
    `Emulator` is `app.state.emulator`."""
    hide_deliberate_drops()
    em = Emulator(
        world,
        faults=FaultInjector(faults, world.seed if seed is None else seed, fault_rates),
        rate=RateWindow(rate_limit, 60),
        webhooks=WebhookDispatcher(webhook_window, ca_file=webhook_ca),
        clock=clock,
    )
    handler = EmulatorASGI(em)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await asyncio.to_thread(em.close)

    app = Starlette(routes=[Route("/{path:path}", endpoint=handler)], lifespan=lifespan)
    app.state.emulator = em
    return app


__all__ = ["API_PREFIX", "EmulatorASGI", "Router", "create_app"]
