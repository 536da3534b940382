"""The Salesforce emulator as a Starlette app: `create_app(org, faults)`.

Served paths:

- `/services/data/` (versions, no auth, not counted) and `/services/data/vXX.X/...` (REST and Bulk API 2.0,
  any version from 31.0 to 67.0, trailing slashes accepted): see `rest` and `bulk`. Bearer tokens;
  401 `[{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]` otherwise. Every call
  counts against the daily allowance and answers `Sforce-Limit-Info: api-usage=USED/MAX`.
- `/services/oauth2/token`, `/services/oauth2/authorize` (a login page), `/services/oauth2/userinfo`,
  `/services/oauth2/revoke` and the identity URL `/id/{orgId}/{userId}`: see `oauth`. Not counted.
- `/services/Soap/m/{version}`: the SOAP Metadata API's `readMetadata` of layouts, the session in the
  `SessionHeader`; counted like the REST calls: see `metadata`.
- `/admin/...`: test controls, no auth: see `admin`.

The `Emulator` is `app.state.emulator`; `app.state.emulator.issue_token()` gives a token for the sync user.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from cmsf_sandbox.campaign_monitor.faults import DroppedConnection, hide_deliberate_drops
from cmsf_sandbox.salesforce import admin, metadata, rest
from cmsf_sandbox.salesforce.errors import ApiError, invalid_session, request_limit_exceeded, server_unavailable
from cmsf_sandbox.salesforce.faults import DROP, PROFILES, UNAVAILABLE, FaultRates
from cmsf_sandbox.salesforce.http import Reply, Request
from cmsf_sandbox.salesforce.oauth import DEFAULT_TTL, OAuthError, Session, redirect_with
from cmsf_sandbox.salesforce.state import (
    DEFAULT_VERSION,
    MAX_VERSION,
    MIN_VERSION,
    Emulator,
    versions,
)

log = logging.getLogger(__name__)

API_PREFIX = "/services/data"
_VERSION = re.compile(r"^v(\d+)\.(\d)$")
HTML = "text/html; charset=utf-8"

__all__ = ["API_PREFIX", "DEFAULT_VERSION", "PROFILES", "SalesforceASGI", "create_app"]


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


def encode_json(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _form(body: bytes) -> dict[str, str]:
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


class SalesforceASGI:
    """One ASGI callable for /services, /id and /admin."""

    def __init__(self, em: Emulator) -> None:
        self.em = em

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = str(scope["method"]).upper()
        raw_path = scope.get("raw_path") or scope["path"].encode("utf-8")
        if isinstance(raw_path, bytes):
            raw_path = raw_path.decode("latin-1")
        raw_path = raw_path.split("?", 1)[0]
        segments = [unquote(s) for s in raw_path.split("/") if s != ""]
        body = await read_body(receive)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        params: dict[str, str] = {}
        for name, value in parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True):
            params.setdefault(name, value)
        base_url = self.em.base_url(self._base(scope, headers))
        lowered = [s.lower() for s in segments]
        if lowered[:2] == ["services", "data"]:
            if len(segments) == 2:
                if method != "GET":
                    await self.send(send, Reply(405, [{"errorCode": "METHOD_NOT_ALLOWED", "message": "GET only"}]))
                    return
                self.em.calls["versions"] += 1
                await self.send(send, Reply(200, versions()))
                return
            await self.api(send, method, segments[2], segments[3:], params, headers, body, base_url)
        elif lowered[:3] == ["services", "soap", "m"] and len(segments) == 4:
            await self.soap(send, method, segments[3], body)
        elif lowered[:2] == ["services", "oauth2"] and len(segments) == 3:
            await self.oauth(send, method, lowered[2], params, headers, body, base_url)
        elif lowered[:1] == ["id"] and len(segments) == 3:
            await self.identity(send, segments[1], segments[2], headers, base_url)
        elif lowered[:1] == ["admin"]:
            await self.admin(send, method, "/" + "/".join(lowered), body)
        else:
            await self.send(send, Reply.error(ApiError(404, "NOT_FOUND", "The requested resource does not exist")))

    @staticmethod
    def _base(scope: Scope, headers: dict[str, str]) -> str:
        scheme = scope.get("scheme", "https")
        host = headers.get("host")
        if not host:
            server = scope.get("server") or ("127.0.0.1", 443)
            host = f"{server[0]}:{server[1]}"
        return f"{scheme}://{host}"

    # -------------------------------------------------------------------------------------- replies

    async def send(self, send: Send, reply: Reply, *, drop: bool = False) -> None:
        if reply.raw is not None:
            body = reply.raw
        elif reply.data is None:
            body = b""
        else:
            body = encode_json(reply.data)
        headers = list(reply.headers)
        if body or reply.status not in (204, 304):
            headers.append((b"content-type", reply.content_type.encode()))
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

    async def api(
        self,
        send: Send,
        method: str,
        version_segment: str,
        parts: list[str],
        params: dict[str, str],
        headers: dict[str, str],
        body: bytes,
        base_url: str,
    ) -> None:
        em = self.em
        found = _VERSION.match(version_segment)
        if found is None:
            await self.send(send, Reply.error(ApiError(404, "NOT_FOUND", "The requested resource does not exist")))
            return
        version = f"{int(found.group(1))}.{found.group(2)}"
        number = float(version)
        if number < MIN_VERSION:
            error = ApiError(
                410, "API_VERSION_RETIRED", f"API version {version} is retired: use {MIN_VERSION} or later"
            )
            await self.send(send, Reply.error(error))
            return
        if number > MAX_VERSION:
            await self.send(send, Reply.error(ApiError(404, "NOT_FOUND", "The requested resource does not exist")))
            return
        session = self._session(headers)
        if session is None:
            await self.send(send, Reply.error(invalid_session()))
            return
        limit_header = em.allowance.header
        if em.allowance.exhausted():
            reply = Reply.error(request_limit_exceeded())
            reply.headers.append(limit_header())
            await self.send(send, reply)
            return
        em.allowance.take()
        try:
            kind, handler = rest.route(method, parts)
        except ApiError as error:
            em.calls["not found" if error.status == 404 else "method not allowed"] += 1
            reply = Reply.error(error)
            reply.headers.append(limit_header())
            await self.send(send, reply)
            return
        em.calls[kind] += 1
        fault = em.faults.decide_request()
        if fault == UNAVAILABLE:
            reply = Reply.error(server_unavailable())
            reply.headers.append(limit_header())
            await self.send(send, reply)
            return
        rq = Request(method, version, parts, params, headers, body, session, base_url)
        with em.lock:
            try:
                reply = handler(em, rq)
            except ApiError as error:
                reply = Reply.error(error)
            except Exception:
                log.exception("the Salesforce emulator failed on %s %s", method, "/".join(parts))
                reply = Reply.error(
                    ApiError(500, "UNKNOWN_EXCEPTION", "An unexpected error occurred. Please try again.")
                )
            finally:
                em.store.settle()
        reply.headers.append(limit_header())
        await self.send(send, reply, drop=fault == DROP)

    async def soap(self, send: Send, method: str, version: str, body: bytes) -> None:
        """The SOAP Metadata API (readMetadata): faults instead of error arrays."""
        em = self.em
        if method != "POST":
            await self.send(send, metadata.soap_fault("INVALID_OPERATION", "The SOAP endpoint takes POST only"))
            return
        found = re.match(r"^(\d+)\.(\d)$", version)
        if found is None or not MIN_VERSION <= float(version) <= MAX_VERSION:
            await self.send(send, metadata.soap_fault("UNSUPPORTED_API_VERSION", f"Invalid Api version: {version}"))
            return
        session_id = metadata.soap_session_id(body)
        session = em.oauth.authenticate(session_id) if session_id else None
        if session is None:
            fault = metadata.soap_fault(
                "INVALID_SESSION_ID", "Invalid Session ID found in SessionHeader: Illegal Session"
            )
            await self.send(send, fault)
            return
        limit_header = em.allowance.header
        if em.allowance.exhausted():
            reply = metadata.soap_fault("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            reply.headers.append(limit_header())
            await self.send(send, reply)
            return
        em.allowance.take()
        em.calls["metadata readMetadata"] += 1
        if em.faults.decide_request() == UNAVAILABLE:
            reply = metadata.soap_fault("SERVER_UNAVAILABLE", "Server temporarily unavailable, please try again later.")
        else:
            with em.lock:
                try:
                    reply = metadata.read_metadata(em, body)
                except metadata.SoapFault as error:
                    reply = metadata.soap_fault(error.code, error.message)
        reply.headers.append(limit_header())
        await self.send(send, reply)

    # ---------------------------------------------------------------------------------------- OAuth

    async def oauth(
        self,
        send: Send,
        method: str,
        name: str,
        params: dict[str, str],
        headers: dict[str, str],
        body: bytes,
        base_url: str,
    ) -> None:
        em = self.em
        em.calls[f"oauth {name}"] += 1
        oauth = em.oauth
        if name == "token":
            if method != "POST":
                await self.send(
                    send, Reply(405, {"error": "invalid_request", "error_description": "must use HTTP POST"})
                )
                return
            form = {**params, **_form(body)}
            try:
                with em.lock:
                    issued = oauth.token(form, headers.get("authorization", ""), base_url)
            except OAuthError as error:
                await self.send(send, Reply(error.status, error.body()))
                return
            await self.send(send, Reply(200, issued))
            return
        if name == "authorize":
            form = {**params, **(_form(body) if method == "POST" else {})}
            try:
                oauth.check_authorize(form)
            except OAuthError as error:
                if error.error == "unsupported_response_type" and form.get("redirect_uri") in oauth.callback_urls:
                    location = _redirect_error(form["redirect_uri"], error, form.get("state"))
                    await self.send(send, Reply(302, headers=[(b"location", location.encode())]))
                    return
                page = f"<!doctype html><title>Error</title><p>{error.error}: {error.description}</p>"
                await self.send(send, Reply(400, raw=page.encode(), content_type=HTML))
                return
            if method == "GET":
                page = oauth.login_page(form, em.org.org_name)
                await self.send(send, Reply(200, raw=page.encode(), content_type=HTML))
                return
            if method != "POST":
                await self.send(send, Reply(405, raw=b"GET or POST", content_type=HTML))
                return
            try:
                with em.lock:
                    location = oauth.authorize(form)
            except OAuthError as error:
                page = oauth.login_page(form, em.org.org_name, error.description)
                await self.send(send, Reply(400, raw=page.encode(), content_type=HTML))
                return
            await self.send(send, Reply(302, headers=[(b"location", location.encode())]))
            return
        if name == "userinfo":
            session = self._session(headers)
            if session is None:
                await self.send(send, Reply(403, raw=b"Bad_OAuth_Token", content_type="text/plain"))
                return
            await self.send(send, Reply(200, self._user_info(session.user_id, base_url)))
            return
        if name == "revoke":
            form = {**params, **_form(body)}
            oauth.revoke(form.get("token", ""))
            await self.send(send, Reply(200))
            return
        await self.send(send, Reply.error(ApiError(404, "NOT_FOUND", "The requested resource does not exist")))

    def _session(self, headers: dict[str, str]) -> Session | None:
        """The session of `Authorization: Bearer <token>` (or the older `OAuth <token>`), if it is live."""
        scheme, _, token = headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() not in ("bearer", "oauth") or not token.strip():
            return None
        return self.em.oauth.authenticate(token.strip())

    def _user_info(self, user_id: str, base_url: str) -> dict[str, Any]:
        em = self.em
        user = em.store.lookup("User", user_id) or {}
        login = em.login_url(base_url)
        name = " ".join(p for p in (user.get("FirstName"), user.get("LastName")) if p)
        return {
            "sub": f"{login}/id/{em.org.org_id}/{user_id}",
            "user_id": user_id,
            "organization_id": em.org.org_id,
            "preferred_username": user.get("Username"),
            "nickname": user.get("Alias"),
            "name": name,
            "email": user.get("Email"),
            "email_verified": True,
            "given_name": user.get("FirstName"),
            "family_name": user.get("LastName"),
            "zoneinfo": user.get("TimeZoneSidKey"),
            "locale": user.get("LocaleSidKey"),
            "active": bool(user.get("IsActive", True)),
            "user_type": "STANDARD",
            "language": user.get("LanguageLocaleKey"),
            "utcOffset": 0,
            "updated_at": user.get("LastModifiedDate"),
            "is_app_installed": True,
            "urls": {
                "rest": f"{em.base_url(base_url)}/services/data/v{{version}}/",
                "sobjects": f"{em.base_url(base_url)}/services/data/v{{version}}/sobjects/",
                "query": f"{em.base_url(base_url)}/services/data/v{{version}}/query/",
            },
        }

    async def identity(self, send: Send, org_id: str, user_id: str, headers: dict[str, str], base_url: str) -> None:
        em = self.em
        em.calls["oauth identity"] += 1
        session = self._session(headers)
        if session is None:
            await self.send(send, Reply(403, raw=b"Bad_OAuth_Token", content_type="text/plain"))
            return
        if org_id != em.org.org_id or em.store.lookup("User", user_id) is None:
            await self.send(send, Reply(404, raw=b"Bad_Id", content_type="text/plain"))
            return
        info = self._user_info(user_id, base_url)
        info.update({"id": info["sub"], "username": info["preferred_username"], "display_name": info["name"]})
        await self.send(send, Reply(200, info))

    # ---------------------------------------------------------------------------------------- admin

    async def admin(self, send: Send, method: str, path: str, body: bytes) -> None:
        try:
            data = json.loads(body) if body.strip() else {}
        except (ValueError, UnicodeDecodeError):
            await self.send(send, Reply(400, {"error": "the body must be JSON"}))
            return
        if not isinstance(data, dict):
            await self.send(send, Reply(400, {"error": "the body must be a JSON object"}))
            return
        try:
            reply = admin.handle(self.em, method, path, data)
        except Exception as error:
            log.exception("the Salesforce emulator's admin route %s failed", path)
            reply = Reply(500, {"error": f"Internal Server Error: {error}"})
        await self.send(send, reply)


def _redirect_error(redirect_uri: str, error: OAuthError, state: str | None) -> str:
    params = {"error": error.error, "error_description": error.description}
    if state:
        params["state"] = state
    return redirect_with(redirect_uri, params)


def create_app(
    org: Any,
    faults: str = "none",
    *,
    login_base_url: str | None = None,
    instance_url: str | None = None,
    source: Path | None = None,
    seed: int | None = None,
    fault_rates: FaultRates | None = None,
    daily_api_requests: int = 100_000,
    data_storage_mb: int = 1024,
    token_ttl: float = DEFAULT_TTL,
) -> Starlette:
    """The emulator over `org` (an `OrgData`). `faults`: none, flaky or limits (see `faults`); `login_base_url`
    and `instance_url`: what token responses name (default: the URL the request came to); `source`: the SFDX
    folder (default: the cmsf package's sfdx/); `seed` drives the flaky profile (default: the org's
    seed); `daily_api_requests` and `data_storage_mb` are the org's allowances."""
    hide_deliberate_drops()
    em = Emulator(
        org,
        faults=faults,
        source=source,
        login_base_url=login_base_url,
        instance_url=instance_url,
        seed=seed if seed is not None else int(getattr(org, "seed", 0) or 1),
        fault_rates=fault_rates,
        daily_api_requests=daily_api_requests,
        data_storage_mb=data_storage_mb,
        token_ttl=token_ttl,
    )
    app = Starlette(routes=[Route("/{path:path}", endpoint=SalesforceASGI(em))])
    app.state.emulator = em
    return app
