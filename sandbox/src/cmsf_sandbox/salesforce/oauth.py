"""OAuth 2.0 of the emulated org: JWT bearer, client credentials, authorization code (with a login page) and
refresh token; the access tokens they issue, which expire (sliding, like a Salesforce session) and can all be
expired at once by the admin API.

Token responses have Salesforce's shape: access_token, signature, scope, instance_url, id (the identity URL
with the org and user ids), token_type, issued_at (epoch milliseconds); refresh_token for the code flow
only. Errors are `{"error", "error_description"}` with HTTP 400.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import jwt
from cryptography import x509

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
PUBLIC_LOGIN_URLS = ("https://login.salesforce.com", "https://test.salesforce.com")
DEFAULT_TTL = 7200.0  # seconds: Salesforce's default session timeout (2 hours)
CODE_TTL = 900.0
JWT_LEEWAY = 180  # seconds of clock skew tolerated on exp


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


@dataclass
class Session:
    token: str
    user_id: str
    client_id: str
    flow: str
    issued_at: float
    expires_at: float


@dataclass
class Grant:
    user_id: str
    client_id: str
    redirect_uri: str
    expires_at: float


class OAuthServer:
    """Issues and checks tokens. `users` maps a user id to its User record (read for Username and IsActive)."""

    def __init__(
        self,
        *,
        org_id: str,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        certificate_pem: str,
        users: Any,
        run_as: str,
        ttl: float = DEFAULT_TTL,
        login_base_url: str | None = None,
    ) -> None:
        self.run_as = run_as  # the client credentials flow's run-as user
        self.org_id = org_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri  # the connected app's first callback URL
        # A connected app lists several callback URLs; an admin adds one per place that signs in with it.
        self.callback_urls: list[str] = [redirect_uri]
        self.public_key = x509.load_pem_x509_certificate(certificate_pem.encode("ascii")).public_key()
        self.users = users  # a mapping: user id -> record
        self.ttl = ttl
        self.login_base_url = login_base_url
        self.sessions: dict[str, Session] = {}
        self.refresh_tokens: dict[str, tuple[str, str]] = {}  # token -> (user id, client id)
        self.codes: dict[str, Grant] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------------------------------ tokens

    def issue(self, user_id: str, *, client_id: str | None = None, flow: str = "direct") -> str:
        token = f"{self.org_id[:15]}!AQ{secrets.token_urlsafe(72)}"
        now = time.time()
        with self._lock:
            self.sessions[token] = Session(token, user_id, client_id or self.client_id, flow, now, now + self.ttl)
        return token

    def authenticate(self, token: str) -> Session | None:
        """The live session of a bearer token; using it extends it (sliding expiry)."""
        now = time.time()
        with self._lock:
            session = self.sessions.get(token)
            if session is None or session.expires_at <= now:
                return None
            session.expires_at = max(session.expires_at, now + self.ttl)
            return session

    def expire_all(self) -> int:
        with self._lock:
            count = sum(1 for s in self.sessions.values() if s.expires_at > time.time())
            for session in self.sessions.values():
                session.expires_at = 0.0
        return count

    def revoke(self, token: str) -> bool:
        with self._lock:
            found = self.sessions.pop(token, None) is not None
            refresh = self.refresh_tokens.pop(token, None)
            if refresh is not None:
                for key in [k for k, s in self.sessions.items() if s.user_id == refresh[0] and s.flow == "refresh"]:
                    del self.sessions[key]
        return found or refresh is not None

    def token_response(
        self, token: str, user_id: str, base_url: str, login_url: str, *, refresh: str | None
    ) -> dict[str, Any]:
        issued_at = str(int(time.time() * 1000))
        identity = f"{login_url}/id/{self.org_id}/{user_id}"
        signature = base64.b64encode(
            hmac.new(self.client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256).digest()
        ).decode("ascii")
        body: dict[str, Any] = {
            "access_token": token,
            "signature": signature,
            "scope": "refresh_token api id" if refresh else "api id",
            "instance_url": base_url,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
        }
        if refresh:
            body["refresh_token"] = refresh
        return body

    # ----------------------------------------------------------------------------------------- grants

    def _user_by_username(self, username: str) -> dict[str, Any] | None:
        lowered = username.strip().lower()
        for record in self.users.values():
            if str(record.get("Username", "")).lower() == lowered:
                return dict(record)
        return None

    def _client(self, form: dict[str, str], authorization: str, *, secret_required: bool) -> None:
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret")
        if authorization.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(authorization[6:].strip()).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                raise OAuthError("invalid_client", "invalid client credentials") from None
            client_id, _, client_secret = decoded.partition(":")
        if not client_id:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        if not hmac.compare_digest(client_id, self.client_id):
            raise OAuthError("invalid_client_id", "client identifier invalid")
        if client_secret is None:
            if secret_required:
                raise OAuthError("invalid_client", "invalid client credentials")
            return
        if not hmac.compare_digest(client_secret, self.client_secret):
            raise OAuthError("invalid_client", "invalid client credentials")

    def token(self, form: dict[str, str], authorization: str, base_url: str) -> dict[str, Any]:
        """POST /services/oauth2/token: the token response, or OAuthError."""
        grant = form.get("grant_type", "")
        login_url = self.login_base_url or base_url
        if not grant:
            raise OAuthError("invalid_request", "grant type is missing")
        if grant == JWT_GRANT:
            user_id = self._jwt(form.get("assertion", ""), base_url)
            return self.token_response(self.issue(user_id, flow="jwt"), user_id, base_url, login_url, refresh=None)
        if grant == "client_credentials":
            self._client(form, authorization, secret_required=True)
            user_id = self.run_as
            return self.token_response(
                self.issue(user_id, flow="client_credentials"), user_id, base_url, login_url, refresh=None
            )
        if grant == "authorization_code":
            self._client(form, authorization, secret_required=True)
            with self._lock:
                found = self.codes.pop(form.get("code", ""), None)
            if found is None or found.expires_at < time.time():
                raise OAuthError("invalid_grant", "expired authorization code")
            if form.get("redirect_uri", "") != found.redirect_uri:
                raise OAuthError("redirect_uri_mismatch", "redirect_uri must match configuration")
            self._active(found.user_id)
            refresh = secrets.token_urlsafe(64)
            with self._lock:
                self.refresh_tokens[refresh] = (found.user_id, found.client_id)
            token = self.issue(found.user_id, flow="authorization_code")
            return self.token_response(token, found.user_id, base_url, login_url, refresh=refresh)
        if grant == "refresh_token":
            self._client(form, authorization, secret_required=False)
            with self._lock:
                known = self.refresh_tokens.get(form.get("refresh_token", ""))
            if known is None:
                raise OAuthError("invalid_grant", "expired access/refresh token")
            self._active(known[0])
            token = self.issue(known[0], flow="refresh")
            return self.token_response(token, known[0], base_url, login_url, refresh=None)
        if grant == "password":
            # Blocked by default in orgs created since Summer '23, and so in the emulated org.
            raise OAuthError("invalid_grant", "authentication failure")
        raise OAuthError("unsupported_grant_type", "grant type not supported")

    def _active(self, user_id: str) -> dict[str, Any]:
        record = self.users.get(user_id)
        if record is None:
            raise OAuthError("invalid_grant", "authentication failure")
        if not record.get("IsActive", True):
            raise OAuthError("inactive_user", "user is inactive")
        return dict(record)

    def audiences(self, base_url: str) -> list[str]:
        found = [*PUBLIC_LOGIN_URLS, base_url]
        if self.login_base_url:
            found.append(self.login_base_url)
        return [a.rstrip("/") for a in found] + [a.rstrip("/") + "/" for a in found]

    def _jwt(self, assertion: str, base_url: str) -> str:
        if not assertion:
            raise OAuthError("invalid_request", "assertion is missing")
        try:
            claims = jwt.decode(
                assertion,
                self.public_key,  # type: ignore[arg-type]
                algorithms=["RS256"],
                audience=self.audiences(base_url),
                options={"require": ["exp", "iss", "aud"]},
                leeway=JWT_LEEWAY,
            )
        except jwt.ExpiredSignatureError:
            raise OAuthError("invalid_grant", "expired authorization code") from None
        except jwt.InvalidAudienceError:
            raise OAuthError("invalid_grant", "audience is invalid") from None
        except jwt.PyJWTError:
            raise OAuthError("invalid_grant", "invalid assertion") from None
        if claims.get("iss") != self.client_id:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        subject = claims.get("prn") or claims.get("sub") or ""
        record = self._user_by_username(str(subject))
        if record is None:
            raise OAuthError("invalid_grant", "user hasn't approved this consumer")
        if not record.get("IsActive", True):
            raise OAuthError("inactive_user", "user is inactive")
        return str(record["Id"])

    # ------------------------------------------------------------------------------- authorization code

    def check_authorize(self, params: dict[str, str]) -> None:
        if params.get("client_id", "") != self.client_id:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        if params.get("redirect_uri", "") not in self.callback_urls:
            raise OAuthError("redirect_uri_mismatch", "redirect_uri must match configuration")
        if params.get("response_type", "") != "code":
            raise OAuthError("unsupported_response_type", "response type not supported")

    def login_page(self, params: dict[str, str], org_name: str, error: str | None = None) -> str:
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(params.get(name, ""))}">'
            for name in ("response_type", "client_id", "redirect_uri", "state", "scope")
        )
        message = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
        return (
            '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Log In | Salesforce emulator'
            "</title></head><body>"
            f"<h1>Log in to {html.escape(org_name)}</h1>"
            "<p>This is the cmsf Salesforce emulator. Enter the username of an active user of the org: there is no "
            "password check beyond the user existing and being active.</p>"
            f'{message}<form method="post" action="/services/oauth2/authorize">{hidden}'
            '<label for="username">Username</label> <input id="username" name="username" type="text" autofocus> '
            '<button type="submit">Log In</button></form></body></html>\n'
        )

    def authorize(self, form: dict[str, str]) -> str:
        """The POSTed login form: the redirect URL with ?code=...&state=..., or OAuthError (user unknown or
        inactive: `access_denied`)."""
        self.check_authorize(form)
        record = self._user_by_username(form.get("username", ""))
        if record is None:
            raise OAuthError("access_denied", "Please check your username: no user of this org has it.")
        if not record.get("IsActive", True):
            raise OAuthError("access_denied", "This user is inactive.")
        code = secrets.token_urlsafe(48)
        with self._lock:
            self.codes[code] = Grant(str(record["Id"]), self.client_id, form["redirect_uri"], time.time() + CODE_TTL)
        params = {"code": code}
        if form.get("state"):
            params["state"] = form["state"]
        return redirect_with(form["redirect_uri"], params)

    def add_callback_url(self, url: str) -> list[str]:
        """Add a callback URL to the connected app (as an admin edits it in Setup); idempotent."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
            raise OAuthError("invalid_request", "a callback URL is an absolute http(s) URL without a fragment")
        with self._lock:
            if url not in self.callback_urls:
                self.callback_urls.append(url)
            return list(self.callback_urls)


def redirect_with(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = parts.query + ("&" if parts.query else "") + urlencode(params)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
