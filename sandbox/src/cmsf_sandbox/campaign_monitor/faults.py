"""Fault profiles (rate limiting, server errors, dropped connections, latency) and the rate-limit window.

Profiles, chosen at start and switchable through POST /admin/faults:

- ``none``: every request is served normally.
- ``flaky``: a seeded share of API requests fails: 6% get 429 "Rate limit exceeded" (X-RateLimit-Remaining 0,
  X-RateLimit-Reset 1), 4% get 500 "Internal Server Error", 3% are served but the connection drops half-way
  through the body (the client sees a Content-Length it never receives in full).
- ``slow``: every API request is answered 150 ms later than it would be.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass

PROFILES = ("none", "flaky", "slow")

RATE_LIMITED = "429"
SERVER_ERROR = "500"
DROP = "drop"


class DroppedConnection(Exception):
    """Raised after half a body was sent, so that uvicorn closes the connection mid-response."""


class _HideDeliberateDrops(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DroppedConnection)


_filter_installed = False


def hide_deliberate_drops() -> None:
    """uvicorn logs an application error when a response is cut short; our own cuts are not errors."""
    global _filter_installed
    if not _filter_installed:
        logging.getLogger("uvicorn.error").addFilter(_HideDeliberateDrops())
        _filter_installed = True


@dataclass(frozen=True)
class FaultRates:
    rate_limited: float = 0.06
    server_error: float = 0.04
    dropped: float = 0.03
    latency: float = 0.150  # seconds, for the slow profile


class FaultInjector:
    """Decides, deterministically from the seed, what happens to each API request."""

    def __init__(self, profile: str = "none", seed: int = 1, rates: FaultRates | None = None) -> None:
        self.rates = rates or FaultRates()
        self._lock = threading.Lock()
        self.seed = seed
        self.profile = "none"
        self._random = random.Random(seed)
        self.set_profile(profile)

    def set_profile(self, profile: str) -> None:
        if profile not in PROFILES:
            raise ValueError(f"unknown fault profile {profile!r}: use one of {', '.join(PROFILES)}")
        with self._lock:
            self.profile = profile
            self._random = random.Random(self.seed)

    @property
    def latency(self) -> float:
        return self.rates.latency if self.profile == "slow" else 0.0

    def decide(self) -> str | None:
        if self.profile != "flaky":
            return None
        with self._lock:
            draw = self._random.random()
        r = self.rates
        if draw < r.rate_limited:
            return RATE_LIMITED
        if draw < r.rate_limited + r.server_error:
            return SERVER_ERROR
        if draw < r.rate_limited + r.server_error + r.dropped:
            return DROP
        return None


class RateWindow:
    """A fixed window of `limit` requests per `seconds`; it feeds the X-RateLimit-* headers of every response."""

    def __init__(self, limit: int = 100_000, seconds: int = 60) -> None:
        self.limit = limit
        self.seconds = seconds
        self._lock = threading.Lock()
        self._window_start = time.monotonic()
        self._used = 0

    def _roll(self, now: float) -> None:
        if now - self._window_start >= self.seconds:
            self._window_start = now
            self._used = 0

    def take(self) -> bool:
        """Count one request; False when the window is used up."""
        with self._lock:
            self._roll(time.monotonic())
            if self._used >= self.limit:
                return False
            self._used += 1
            return True

    def headers(self, *, exhausted: bool = False) -> list[tuple[bytes, bytes]]:
        with self._lock:
            now = time.monotonic()
            self._roll(now)
            remaining = 0 if exhausted else max(0, self.limit - self._used)
            reset = 1 if exhausted else max(1, int(self._window_start + self.seconds - now + 0.999))
        return [
            (b"x-ratelimit-limit", str(self.limit).encode()),
            (b"x-ratelimit-remaining", str(remaining).encode()),
            (b"x-ratelimit-reset", str(reset).encode()),
        ]
