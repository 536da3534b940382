"""HTTP to Campaign Monitor: one connection pool, authentication, retries with backoff, rate limits,
and a count of calls per endpoint.

The pool is urllib3's, used directly: `requests` on top of it cost twice the client CPU of a call, and the
sync's reading threads share one interpreter lock (docs/architecture.md says why).

Retries: 429 waits for `X-RateLimit-Reset` seconds; 5xx, timeouts and dropped connections back off
exponentially with full jitter. A request that is not idempotent is retried only when it is certain
that Campaign Monitor did not act on it (429, or a connection that never opened). Each retry and each
rate-limit wait is one WARNING on this module's logger with its support code, and counted (`retries`,
`rate_limit_waits`) for the run's metrics.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import unquote, urlencode, urlsplit

import certifi
import requests
import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    DecodeError,
    ProtocolError,
    ProxyError,
    ProxySchemeUnknown,
    ReadTimeoutError,
    SSLError,
)

from cmsf.campaign_monitor import decoding
from cmsf.campaign_monitor.errors import (
    CONFIGURATION_CODES,
    TRANSACTIONAL_NOT_ENABLED,
    CampaignMonitorError,
    ConfigurationError,
    FatalError,
    RateLimited,
    TransactionalNotEnabled,
    TransientError,
)
from cmsf.lib.proxies import env_proxies

DEFAULT_BASE_URL = "https://api.createsend.com/api/v3.3"
DEFAULT_OAUTH_URL = "https://api.createsend.com/oauth"
EXPIRED_TOKEN = 121
# Support codes of the log lines (registered in cmsf.maintenance.support_codes, which this package may not import).
RETRY_CODE = "CMSF-CM-RETRY"
RATE_LIMIT_CODE = "CMSF-CM-RATE-LIMIT"
log = logging.getLogger(__name__)


class Auth(Protocol):
    def header(self) -> str: ...

    def refresh(self, *, verify: Any, timeout: Any, proxies: Mapping[str, str]) -> bool:
        """Get new credentials after an expired token; False when this kind of auth cannot."""
        ...


@dataclass
class ApiKeyAuth:
    api_key: str

    def header(self) -> str:
        return "Basic " + base64.b64encode(f"{self.api_key}:x".encode()).decode()

    def refresh(self, *, verify: Any, timeout: Any, proxies: Mapping[str, str]) -> bool:
        return False


@dataclass
class OAuthTokens:
    access_token: str
    refresh_token: str
    expires_in: int = 0


@dataclass
class OAuthAuth:
    """Bearer tokens; an expired access token is refreshed once and `on_refresh` is told the new tokens."""

    tokens: OAuthTokens
    token_url: str = DEFAULT_OAUTH_URL + "/token"
    on_refresh: Callable[[OAuthTokens], None] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def header(self) -> str:
        return f"Bearer {self.tokens.access_token}"

    def refresh(self, *, verify: Any, timeout: Any, proxies: Mapping[str, str]) -> bool:
        from cmsf.campaign_monitor.oauth import refresh_tokens

        stale = self.tokens.access_token
        with self._lock:
            if self.tokens.access_token != stale:
                return True  # another thread refreshed while this one waited
            self.tokens = refresh_tokens(
                self.token_url, self.tokens.refresh_token, verify=verify, timeout=timeout, proxies=proxies
            )
        if self.on_refresh is not None:
            self.on_refresh(self.tokens)
        return True


@dataclass
class RetryPolicy:
    max_attempts: int = 6
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    max_rate_limit_wait: float = 300.0


def _error_body(response: urllib3.BaseHTTPResponse) -> tuple[int | None, str, Any]:
    try:
        body = json.loads(response.data or b"")
    except ValueError:
        return None, response.reason or f"HTTP {response.status}", None
    if isinstance(body, dict):
        code = body.get("Code")
        return (code if isinstance(code, int) else None), str(body.get("Message", "")), body.get("ResultData")
    return None, str(body), None


def classify(response: urllib3.BaseHTTPResponse, endpoint: str) -> CampaignMonitorError:
    """The error a failed response stands for."""
    status = response.status
    code, message, result_data = _error_body(response)
    kwargs: dict[str, Any] = {"endpoint": endpoint, "status": status, "code": code, "result_data": result_data}
    if status == 429:
        reset = response.headers.get("X-RateLimit-Reset", "")
        try:
            seconds = max(float(reset), 0.0)
        except ValueError:
            seconds = 1.0
        return RateLimited(message or "Rate limit exceeded", reset_seconds=seconds, **kwargs)
    if status >= 500:
        return TransientError(message or "Campaign Monitor server error", **kwargs)
    if status == 401 and (code is None or code in CONFIGURATION_CODES):
        return ConfigurationError(
            (message or "Unauthorized") + "; reconnect to Campaign Monitor with a full-access user", **kwargs
        )
    if status == 403 and code == 60:
        return ConfigurationError(message, **kwargs)
    if code == TRANSACTIONAL_NOT_ENABLED:
        return TransactionalNotEnabled(endpoint=endpoint, status=status, message=message, result_data=result_data)
    return FatalError(message or f"HTTP {status}", **kwargs)


# What a call can fail with before a response is read whole: the call may be retried (see `request`).
DROPPED = (ConnectTimeoutError, ReadTimeoutError, ProtocolError, SSLError, ProxyError, DecodeError)


def connection_pool(base_url: str, *, ca_bundle: str | bool, pool_size: int, proxy: str | None) -> urllib3.PoolManager:
    """A pool verifying with `ca_bundle` (True: certifi's bundle, as `requests` does; False: no check), through
    `proxy` when one is given (its user and password, if any, sent as Proxy-Authorization)."""
    tls: dict[str, Any] = {"cert_reqs": "CERT_NONE"} if ca_bundle is False else {"cert_reqs": "CERT_REQUIRED"}
    if ca_bundle is True:
        tls["ca_certs"] = certifi.where()
    elif isinstance(ca_bundle, str):
        tls["ca_cert_dir" if os.path.isdir(ca_bundle) else "ca_certs"] = ca_bundle
    if not proxy:
        return urllib3.PoolManager(num_pools=4, maxsize=pool_size, **tls)
    if "://" not in proxy:
        proxy = "http://" + proxy  # HTTPS_PROXY=proxy.corp:3128 names an http proxy, as requests reads it
    parts = urlsplit(proxy)
    headers = None
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        headers = urllib3.make_headers(proxy_basic_auth=credentials)
    try:
        return urllib3.ProxyManager(proxy, num_pools=4, maxsize=pool_size, proxy_headers=headers, **tls)
    except ProxySchemeUnknown as error:
        raise ConfigurationError(
            f"the proxy {parts.scheme}://{parts.hostname} is not an http or https proxy",
            endpoint=f"{urlsplit(base_url).scheme.upper()}_PROXY",
        ) from error


class Transport:
    """One connection pool to one Campaign Monitor base URL. Thread-safe for parallel page fetches.

    The CA bundle is the one given, never the environment's (REQUESTS_CA_BUNDLE); the environment's proxies
    (HTTPS_PROXY, NO_PROXY, ...) are read once, here."""

    def __init__(
        self,
        auth: Auth,
        *,
        base_url: str = DEFAULT_BASE_URL,
        ca_bundle: str | bool = True,
        timeout: tuple[float, float] = (10.0, 120.0),
        retry: RetryPolicy | None = None,
        pool_size: int = 8,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        user_agent: str = "cmsf",
    ) -> None:
        self.auth = auth
        self.base_url = base_url.rstrip("/")
        self.verify = ca_bundle
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.proxies = env_proxies(self.base_url)
        self.proxy = self.proxies.get(urlsplit(self.base_url).scheme)
        self.pool = connection_pool(self.base_url, ca_bundle=ca_bundle, pool_size=pool_size, proxy=self.proxy)
        self.headers = {"User-Agent": user_agent, "Accept": "application/json", "Accept-Encoding": "gzip"}
        self._timeout = urllib3.Timeout(connect=timeout[0], read=timeout[1])
        self.calls: Counter[str] = Counter()
        self.wait_seconds = 0.0  # time spent waiting on the server, for the benchmark's overhead figure
        self.retries = 0  # calls sent again after a server error, a timeout or a dropped connection
        self.rate_limit_waits = 0  # waits after a 429
        self._lock = threading.Lock()

    def close(self) -> None:
        self.pool.clear()

    def calls_snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.calls)

    def _count(self, endpoint: str, waited: float) -> None:
        with self._lock:
            self.calls[endpoint] += 1
            self.wait_seconds += waited

    def _backoff(self, attempt: int) -> float:
        cap = min(self.retry.backoff_max, self.retry.backoff_base * (2**attempt))
        return self.rng.uniform(0, cap)

    def _again(self, endpoint: str, attempt: int, reason: str) -> None:
        """Wait before sending a call again after `reason` (a server error, a timeout, a dropped connection)."""
        delay = self._backoff(attempt)
        with self._lock:
            self.retries += 1
        log.warning("[%s] Campaign Monitor %s: %s; sent again in %.1f s (attempt %d of %d)", RETRY_CODE, endpoint,
                    reason, delay, attempt + 1, self.retry.max_attempts)  # fmt: skip
        self.sleep(delay)

    def _rate_limited(self, endpoint: str, failure: RateLimited, attempt: int) -> None:
        delay = min(failure.reset_seconds, self.retry.max_rate_limit_wait) + self.rng.uniform(0, 0.25)
        with self._lock:
            self.rate_limit_waits += 1
        log.warning("[%s] Campaign Monitor %s: rate limit reached; waiting %.1f s (attempt %d of %d)",
                    RATE_LIMIT_CODE, endpoint, delay, attempt + 1, self.retry.max_attempts)  # fmt: skip
        self.sleep(delay)

    def url(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        """The call's URL; parameters whose value is None are left out, a list repeats its parameter."""
        url = f"{self.base_url}/{path.lstrip('/')}"
        if params:
            query = urlencode([(k, v) for k, v in params.items() if v is not None], doseq=True)
            if query:
                url += ("&" if "?" in url else "?") + query
        return url

    def request(
        self,
        method: str,
        path: str,
        *,
        endpoint: str,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        idempotent: bool = True,
        accept: tuple[int, ...] = (200, 201),
        decode: Callable[[bytes], Any] | None = None,
    ) -> Any:
        """Send one call (retrying as the policy allows) and return its JSON body, or None when empty.

        `endpoint` names the call for counts and errors, such as "GET /lists/{listid}/active.json".
        A status in `accept` is success; a 400 with ResultData can be accepted by the caller too. `decode` reads
        the body's bytes instead of plain JSON (a page into typed records); its ValueError means "not JSON".
        """
        url = self.url(path, params)
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        headers = dict(self.headers)
        if data is not None:
            headers["Content-Type"] = "application/json; charset=utf-8"
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            headers["Authorization"] = self.auth.header()
            started = time.perf_counter()
            try:
                # The whole body is read (and gunzipped) inside urlopen, where a dropped connection is caught.
                response = self.pool.urlopen(
                    method, url, body=data, headers=headers, timeout=self._timeout,
                    retries=False, redirect=False, preload_content=True, decode_content=True,
                )  # fmt: skip
            except DROPPED as error:
                self._count(endpoint, time.perf_counter() - started)
                opened = not isinstance(error, ConnectTimeoutError)  # refused, unresolved or timed out: never opened
                if attempt >= self.retry.max_attempts or (opened and not idempotent):
                    raise TransientError(f"{type(error).__name__}: {error}", endpoint=endpoint) from error
                self._again(endpoint, attempt, type(error).__name__)
                continue
            self._count(endpoint, time.perf_counter() - started)

            if response.status in accept:
                content = response.data or b""
                if not content.strip():
                    return None
                try:
                    return (decode or decoding.plain)(content)
                except ValueError as error:
                    if attempt >= self.retry.max_attempts or not idempotent:  # a write is not sent twice
                        raise TransientError("the response is not valid JSON", endpoint=endpoint, status=200) from error
                    self._again(endpoint, attempt, "the response is not valid JSON")
                    continue

            failure = classify(response, endpoint)
            if (
                isinstance(failure, ConfigurationError)
                and failure.code == EXPIRED_TOKEN
                and not refreshed
                and self._refresh(endpoint)
            ):
                refreshed = True
                continue
            if isinstance(failure, RateLimited):
                if attempt >= self.retry.max_attempts:
                    raise failure
                self._rate_limited(endpoint, failure, attempt)
                continue
            if isinstance(failure, TransientError) and idempotent and attempt < self.retry.max_attempts:
                self._again(endpoint, attempt, f"HTTP {response.status}")
                continue
            raise failure

    def _refresh(self, endpoint: str) -> bool:
        try:
            return self.auth.refresh(verify=self.verify, timeout=self.timeout, proxies=self.proxies)
        except CampaignMonitorError:
            raise
        except requests.RequestException as error:
            raise TransientError(f"refreshing the OAuth token failed: {error}", endpoint=endpoint) from error
