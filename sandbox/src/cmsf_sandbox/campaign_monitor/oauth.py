"""OAuth 2 as Campaign Monitor runs it: an auto-approving authorize redirect, the token endpoint
(authorization_code and refresh_token grants) and the access tokens the API accepts as Bearer."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode, urlsplit

from cmsf_sandbox.campaign_monitor.world import OAuthApp

EXPIRES_IN = 1_209_600  # seconds: 14 days, as in oauth_exchange_token.json
CODE_LIFETIME = timedelta(minutes=10)
SCOPES = frozenset(
    s.lower()
    for s in (
        "ViewReports",
        "ManageLists",
        "CreateCampaigns",
        "ImportSubscribers",
        "SendCampaigns",
        "ViewSubscribersInReports",
        "ManageTemplates",
        "AdministerPersons",
        "AdministerAccount",
        "ViewTransactional",
        "SendTransactional",
        "Automation",
    )
)

INVALID_TOKEN, EXPIRED_TOKEN, REVOKED_TOKEN = 120, 121, 122
TOKEN_MESSAGES = {
    INVALID_TOKEN: "Invalid OAuth Token",
    EXPIRED_TOKEN: "Expired OAuth Token",
    REVOKED_TOKEN: "Revoked OAuth Token",
}


class OAuthError(Exception):
    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    scope: str
    expires_at: datetime


@dataclass
class _Token:
    access_token: str
    refresh_token: str
    expires_at: datetime
    revoked: bool = False


def _with_query(url: str, params: dict[str, str]) -> str:
    return url + ("&" if urlsplit(url).query else "?") + urlencode(params)


class OAuthStore:
    def __init__(self, app: OAuthApp | None) -> None:
        self.app = app
        # the app's redirect URIs: its own, and those registered since (as an admin edits the app in Campaign Monitor)
        self.redirect_uris: list[str] = [app.redirect_uri] if app is not None else []
        self._lock = threading.Lock()
        self._codes: dict[str, _Code] = {}
        self._access: dict[str, _Token] = {}
        self._refresh: dict[str, _Token] = {}

    # ------------------------------------------------------------------------------------- authorize

    def authorize(self, params: dict[str, str], now: datetime) -> tuple[int, str | dict[str, str]]:
        """(302, Location) for an approval or an error redirect, or (400, error body) when there is no
        redirect URI to send the browser back to."""
        redirect_uri = params.get("redirect_uri", "")
        parts = urlsplit(redirect_uri)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return 400, {"error": "invalid_request", "error_description": "redirect_uri is missing or invalid"}
        state = {"state": params["state"]} if "state" in params else {}

        def error(code: str, description: str) -> tuple[int, str | dict[str, str]]:
            return 302, _with_query(redirect_uri, {"error": code, "error_description": description, **state})

        app = self.app
        client_id = params.get("client_id", "")
        if not client_id:
            return error("invalid_request", "client_id is required")
        if app is None or client_id != app.client_id:
            return error("unknown_client", "The client_id is not a known OAuth application")
        if redirect_uri not in self.redirect_uris:
            return error("invalid_redirect_uri", "The redirect_uri does not match the application's")
        scope = params.get("scope", "")
        if not scope:
            return error("invalid_request", "scope is required")
        if any(s.strip().lower() not in SCOPES for s in scope.split(",")):
            return error("unknown_scope", "The scope contains an unknown permission")
        code = secrets.token_urlsafe(18)
        with self._lock:
            self._codes[code] = _Code(client_id, redirect_uri, scope, now + CODE_LIFETIME)
        return 302, _with_query(redirect_uri, {"code": code, **state})

    def add_redirect_uri(self, url: str) -> list[str]:
        """Register another redirect URI of the app; idempotent. OAuthError for a URL that is no absolute http(s)
        URL, or when the account has no OAuth app."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
            raise OAuthError("invalid_request", "a redirect URI is an absolute http(s) URL without a fragment")
        if self.app is None:
            raise OAuthError("unknown_client", "the account has no OAuth application")
        with self._lock:
            if url not in self.redirect_uris:
                self.redirect_uris.append(url)
            return list(self.redirect_uris)

    # ----------------------------------------------------------------------------------------- token

    def _issue(self, refresh_token: str | None, now: datetime) -> dict[str, str | int]:
        token = _Token(
            access_token=secrets.token_urlsafe(24),
            refresh_token=refresh_token or secrets.token_urlsafe(24),
            expires_at=now + timedelta(seconds=EXPIRES_IN),
        )
        self._access[token.access_token] = token
        self._refresh[token.refresh_token] = token
        return {"access_token": token.access_token, "expires_in": EXPIRES_IN, "refresh_token": token.refresh_token}

    def token(self, form: dict[str, str], now: datetime) -> dict[str, str | int]:
        grant = form.get("grant_type", "")
        with self._lock:
            if grant == "authorization_code":
                app = self.app
                for name in ("client_id", "client_secret", "redirect_uri", "code"):
                    if not form.get(name):
                        raise OAuthError("invalid_request", f"{name} is required")
                if app is None or form["client_id"] != app.client_id or form["client_secret"] != app.client_secret:
                    raise OAuthError("invalid_client", "The client_id or client_secret is not valid")
                code = self._codes.pop(form["code"], None)
                if (
                    code is None
                    or code.expires_at < now
                    or code.client_id != form["client_id"]
                    or code.redirect_uri != form["redirect_uri"]
                ):
                    raise OAuthError("invalid_grant", "Specified code was invalid or expired")
                return self._issue(None, now)
            if grant == "refresh_token":
                previous = self._refresh.get(form.get("refresh_token", ""))
                if previous is None or previous.revoked:
                    raise OAuthError("invalid_grant", "Specified refresh_token was invalid or expired")
                return self._issue(previous.refresh_token, now)
        raise OAuthError("unsupported_grant_type", "grant_type must be authorization_code or refresh_token")

    # ---------------------------------------------------------------------------------------- checks

    def check(self, access_token: str, now: datetime) -> int | None:
        """None when the token is good, else the API error code (120, 121 or 122)."""
        token = self._access.get(access_token)
        if token is None:
            return INVALID_TOKEN
        if token.revoked:
            return REVOKED_TOKEN
        if token.expires_at <= now:
            return EXPIRED_TOKEN
        return None

    def expire_all(self, now: datetime) -> int:
        with self._lock:
            live = [t for t in self._access.values() if t.expires_at > now and not t.revoked]
            for token in live:
                token.expires_at = now
            return len(live)

    def revoke_all(self) -> int:
        with self._lock:
            live = [t for t in self._access.values() if not t.revoked]
            for token in self._access.values():
                token.revoked = True
            self._refresh.clear()
            return len(live)
