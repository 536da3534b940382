"""Getting an access token from Salesforce: OAuth 2.0 JWT bearer, client credentials, and the web-server
flow (authorization code, then refresh tokens), against production, sandbox or a My Domain login host.

simple-salesforce builds its login URLs as `https://{domain}.salesforce.com` and has no refresh-token
flow, so cmsf asks for tokens itself and hands simple-salesforce the access token and instance URL.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import jwt
import requests

from cmsf.salesforce.errors import AuthenticationError, TransientError

PRODUCTION = "https://login.salesforce.com"
SANDBOX = "https://test.salesforce.com"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@dataclass(frozen=True)
class Credentials:
    """What one auth flow needs. `login_url` is the host tokens are asked from."""

    flow: str  # jwt_bearer | client_credentials | web_server
    login_url: str = PRODUCTION
    client_id: str = ""
    client_secret: str = ""
    username: str = ""  # JWT bearer: the user to act as
    private_key: str = ""  # JWT bearer: PEM
    refresh_token: str = ""  # web server flow


@dataclass(frozen=True)
class Token:
    access_token: str
    instance_url: str
    identity_url: str = ""
    refresh_token: str = ""
    issued_at: str = ""

    @property
    def user_id(self) -> str:
        return self.identity_url.rstrip("/").rsplit("/", 1)[-1] if self.identity_url else ""

    @property
    def org_id(self) -> str:
        parts = self.identity_url.rstrip("/").rsplit("/", 2)
        return parts[-2] if len(parts) == 3 else ""


def jwt_audience(login_url: str) -> str:
    """The `aud` claim: the login host itself, except My Domain hosts, which use the generic one."""
    host = urlsplit(login_url).hostname or ""
    if host.endswith(".sandbox.my.salesforce.com"):
        return SANDBOX
    if host.endswith(".my.salesforce.com"):
        return PRODUCTION
    return login_url.rstrip("/")


def _token_request(
    session: requests.Session, login_url: str, form: dict[str, str], *, verify: Any, auth: tuple[str, str] | None = None
) -> Token:
    url = login_url.rstrip("/") + "/services/oauth2/token"
    try:
        response = session.post(url, data=form, auth=auth, verify=verify, timeout=60)
    except requests.RequestException as error:
        raise TransientError(f"{type(error).__name__}: {error}", operation="POST /services/oauth2/token") from error
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code >= 500:
        raise TransientError("the token endpoint failed", operation="POST /services/oauth2/token",
                             status=response.status_code)  # fmt: skip
    if response.status_code != 200 or not isinstance(body, dict) or "access_token" not in body:
        code = body.get("error", "") if isinstance(body, dict) else ""
        description = body.get("error_description", "") if isinstance(body, dict) else ""
        raise AuthenticationError(
            f"Salesforce refused the sign-in: {description or code or response.reason}; reconnect Salesforce",
            operation="POST /services/oauth2/token",
            status=response.status_code,
            code=code,
        )
    return Token(
        access_token=str(body["access_token"]),
        instance_url=str(body.get("instance_url", "")),
        identity_url=str(body.get("id", "")),
        refresh_token=str(body.get("refresh_token", "")),
        issued_at=str(body.get("issued_at", "")),
    )


def get_token(credentials: Credentials, *, session: requests.Session, verify: Any = True) -> Token:
    """A fresh access token by the credentials' flow."""
    if credentials.flow == "jwt_bearer":
        try:
            assertion = jwt.encode(
                {
                    "iss": credentials.client_id,
                    "sub": credentials.username,
                    "aud": jwt_audience(credentials.login_url),
                    "exp": int(time.time()) + 180,
                },
                credentials.private_key,
                algorithm="RS256",
            )
        except (jwt.PyJWTError, ValueError, TypeError) as error:
            raise AuthenticationError(
                f"the stored private key cannot sign the JWT bearer assertion ({error}): reconnect Salesforce"
            ) from None
        return _token_request(
            session, credentials.login_url, {"grant_type": JWT_GRANT, "assertion": assertion}, verify=verify
        )
    if credentials.flow == "client_credentials":
        return _token_request(
            session,
            credentials.login_url,
            {"grant_type": "client_credentials"},
            verify=verify,
            auth=(credentials.client_id, credentials.client_secret),
        )
    if credentials.flow == "web_server":
        if not credentials.refresh_token:
            raise AuthenticationError("no refresh token is stored; sign in with Salesforce again")
        form = {"grant_type": "refresh_token", "refresh_token": credentials.refresh_token}
        form["client_id"] = credentials.client_id
        if credentials.client_secret:
            form["client_secret"] = credentials.client_secret
        return _token_request(session, credentials.login_url, form, verify=verify)
    raise AuthenticationError(f"unknown Salesforce auth flow {credentials.flow!r}")


def authorize_url(*, login_url: str, client_id: str, redirect_uri: str, state: str) -> str:
    """Where to send the admin's browser for the web-server flow ("Log in with Salesforce")."""
    query = urlencode({"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "state": state})
    return f"{login_url.rstrip('/')}/services/oauth2/authorize?{query}"


def exchange_code(
    *, login_url: str, client_id: str, client_secret: str, redirect_uri: str, code: str, verify: Any = True
) -> Token:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": client_id,
        "client_secret": client_secret,
        "redirect_uri": redirect_uri,
    }
    with requests.Session() as session:
        session.trust_env = False
        return _token_request(session, login_url, form, verify=verify)


@dataclass(frozen=True)
class Identity:
    """Who a token belongs to, from the OpenID Connect userinfo endpoint."""

    user_id: str
    org_id: str
    email: str
    name: str
    username: str


def user_info(token: Token, *, verify: Any = True) -> Identity:
    """GET {instance}/services/oauth2/userinfo: the user behind the token (not counted against API limits)."""
    url = token.instance_url.rstrip("/") + "/services/oauth2/userinfo"
    operation = "GET /services/oauth2/userinfo"
    with requests.Session() as session:
        session.trust_env = False
        try:
            response = session.get(
                url, headers={"Authorization": f"Bearer {token.access_token}"}, verify=verify, timeout=60
            )
        except requests.RequestException as error:
            raise TransientError(f"{type(error).__name__}: {error}", operation=operation) from error
    if response.status_code >= 500:
        raise TransientError("the userinfo endpoint failed", operation=operation, status=response.status_code)
    if response.status_code != 200:
        raise AuthenticationError(f"Salesforce refused the token when asked who it belongs to ({response.status_code})")
    try:
        body = response.json()
    except ValueError:
        raise AuthenticationError("Salesforce's userinfo answer was not JSON") from None
    return Identity(
        user_id=str(body.get("user_id") or token.user_id),
        org_id=str(body.get("organization_id") or token.org_id),
        email=str(body.get("email") or ""),
        name=str(body.get("name") or body.get("preferred_username") or ""),
        username=str(body.get("preferred_username") or ""),
    )
