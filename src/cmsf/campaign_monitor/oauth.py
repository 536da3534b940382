"""OAuth 2 with Campaign Monitor: the authorize URL, the code exchange and the refresh."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import requests

from cmsf.campaign_monitor.errors import ConfigurationError, TransientError
from cmsf.campaign_monitor.transport import DEFAULT_OAUTH_URL, OAuthTokens

SCOPES = ("ViewReports", "ManageLists", "ImportSubscribers", "ViewSubscribersInReports", "AdministerAccount")


def authorize_url(
    *,
    client_id: str,
    redirect_uri: str,
    scope: tuple[str, ...] = SCOPES,
    state: str = "",
    oauth_url: str = DEFAULT_OAUTH_URL,
) -> str:
    params = {"type": "web_server", "client_id": client_id, "redirect_uri": redirect_uri, "scope": ",".join(scope)}
    if state:
        params["state"] = state
    return f"{oauth_url}?{urlencode(params)}"


def _token_call(
    session: requests.Session, token_url: str, form: dict[str, str], *, verify: Any, timeout: Any
) -> OAuthTokens:
    endpoint = "POST /oauth/token"
    try:
        response = session.post(token_url, data=form, verify=verify, timeout=timeout)
    except requests.RequestException as error:
        raise TransientError(f"{type(error).__name__}: {error}", endpoint=endpoint) from error
    if response.status_code >= 500 or response.status_code == 429:
        raise TransientError("the token endpoint failed", endpoint=endpoint, status=response.status_code)
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict) or "error" in body or "access_token" not in body:
        description = body.get("error_description") or body.get("error") if isinstance(body, dict) else None
        raise ConfigurationError(
            f"{description or 'the token request was refused'}; reconnect to Campaign Monitor",
            endpoint=endpoint,
            status=response.status_code,
        )
    return OAuthTokens(
        access_token=str(body["access_token"]),
        refresh_token=str(body.get("refresh_token", form.get("refresh_token", ""))),
        expires_in=int(body.get("expires_in", 0)),
    )


def exchange_code(
    *,
    code: str,
    client_id: str,
    client_secret: str,
    redirect_uri: str,
    token_url: str = DEFAULT_OAUTH_URL + "/token",
    ca_bundle: str | bool = True,
    timeout: float = 30.0,
) -> OAuthTokens:
    form = {
        "grant_type": "authorization_code",
        "client_id": client_id,
        "client_secret": client_secret,
        "redirect_uri": redirect_uri,
        "code": code,
    }
    with requests.Session() as session:
        return _token_call(session, token_url, form, verify=ca_bundle, timeout=timeout)


def refresh_tokens(
    token_url: str, refresh_token: str, *, verify: Any, timeout: Any, proxies: Mapping[str, str]
) -> OAuthTokens:
    """New tokens for a refresh token, verified with the transport's CA bundle through its proxies (neither
    read from the environment here)."""
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    with requests.Session() as session:
        session.trust_env = False
        session.proxies.update(proxies)
        return _token_call(session, token_url, form, verify=verify, timeout=timeout)
