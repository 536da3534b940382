"""HTTP to Campaign Monitor: one pooled session, authentication, retries with backoff, rate limits,
and a count of calls per endpoint.

Retries: 429 waits for `X-RateLimit-Reset` seconds; 5xx, timeouts and dropped connections back off
exponentially with full jitter. A request that is not idempotent is retried only when it is certain
that Campaign Monitor did not act on it (429, or a connection that never opened).
"""

from __future__ import annotations

import base64
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import requests
from requests.adapters import HTTPAdapter

from cmsf.campaign_monitor.errors import (
    CONFIGURATION_CODES,
    CampaignMonitorError,
    ConfigurationError,
    FatalError,
    RateLimited,
    TransientError,
)
from cmsf.lib.proxies import env_proxies

DEFAULT_BASE_URL = "https://api.createsend.com/api/v3.3"
DEFAULT_OAUTH_URL = "https://api.createsend.com/oauth"
EXPIRED_TOKEN = 121


class Auth(Protocol):
    def header(self) -> str: ...

    def refresh(self, session: requests.Session, *, verify: Any, timeout: Any) -> bool:
        """Get new credentials after an expired token; False when this kind of auth cannot."""
        ...


@dataclass
class ApiKeyAuth:
    api_key: str

    def header(self) -> str:
        return "Basic " + base64.b64encode(f"{self.api_key}:x".encode()).decode()

    def refresh(self, session: requests.Session, *, verify: Any, timeout: Any) -> bool:
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

    def refresh(self, session: requests.Session, *, verify: Any, timeout: Any) -> bool:
        from cmsf.campaign_monitor.oauth import refresh_tokens

        stale = self.tokens.access_token
        with self._lock:
            if self.tokens.access_token != stale:
                return True  # another thread refreshed while this one waited
            self.tokens = refresh_tokens(
                session, self.token_url, self.tokens.refresh_token, verify=verify, timeout=timeout
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


def _error_body(response: requests.Response) -> tuple[int | None, str, Any]:
    try:
        body = response.json()
    except ValueError:
        return None, response.reason or f"HTTP {response.status_code}", None
    if isinstance(body, dict):
        code = body.get("Code")
        return (code if isinstance(code, int) else None), str(body.get("Message", "")), body.get("ResultData")
    return None, str(body), None


def classify(response: requests.Response, endpoint: str) -> CampaignMonitorError:
    """The error a failed response stands for."""
    status = response.status_code
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
    return FatalError(message or f"HTTP {status}", **kwargs)


class Transport:
    """One pooled session to one Campaign Monitor base URL. Thread-safe for parallel page fetches."""

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
        self.session = requests.Session()
        # Every call is verified against the given CA bundle; the environment must not swap it for another
        # (REQUESTS_CA_BUNDLE), nor be scanned for proxies on each call: its proxies are read once here.
        self.session.trust_env = False
        self.session.verify = ca_bundle
        self.session.proxies.update(env_proxies(self.base_url))
        adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.session.headers.update({"User-Agent": user_agent, "Accept": "application/json", "Accept-Encoding": "gzip"})
        self.calls: Counter[str] = Counter()
        self.wait_seconds = 0.0  # time spent waiting on the server, for the benchmark's overhead figure
        self._lock = threading.Lock()

    def close(self) -> None:
        self.session.close()

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
    ) -> Any:
        """Send one call (retrying as the policy allows) and return its JSON body, or None when empty.

        `endpoint` names the call for counts and errors, such as "GET /lists/{listid}/active.json".
        A status in `accept` is success; a 400 with ResultData can be accepted by the caller too.
        """
        url = f"{self.base_url}/{path.lstrip('/')}"
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json; charset=utf-8"} if data is not None else {}
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            headers["Authorization"] = self.auth.header()
            started = time.perf_counter()
            try:
                response = self.session.request(
                    method, url, params=params, data=data, headers=headers, verify=self.verify, timeout=self.timeout
                )
                content = response.content  # read the whole body here, where a dropped connection is caught
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as error:
                self._count(endpoint, time.perf_counter() - started)
                opened = not isinstance(error, requests.ConnectTimeout) and "Connection refused" not in str(error)
                if attempt >= self.retry.max_attempts or (opened and not idempotent):
                    raise TransientError(f"{type(error).__name__}: {error}", endpoint=endpoint) from error
                self.sleep(self._backoff(attempt))
                continue
            self._count(endpoint, time.perf_counter() - started)

            if response.status_code in accept:
                if not content.strip():
                    return None
                try:
                    return json.loads(content)
                except ValueError as error:
                    if attempt >= self.retry.max_attempts:
                        raise TransientError("the response is not valid JSON", endpoint=endpoint, status=200) from error
                    self.sleep(self._backoff(attempt))
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
                self.sleep(min(failure.reset_seconds, self.retry.max_rate_limit_wait) + self.rng.uniform(0, 0.25))
                continue
            if isinstance(failure, TransientError) and idempotent and attempt < self.retry.max_attempts:
                self.sleep(self._backoff(attempt))
                continue
            raise failure

    def _refresh(self, endpoint: str) -> bool:
        try:
            return self.auth.refresh(self.session, verify=self.verify, timeout=self.timeout)
        except CampaignMonitorError:
            raise
        except requests.RequestException as error:
            raise TransientError(f"refreshing the OAuth token failed: {error}", endpoint=endpoint) from error
