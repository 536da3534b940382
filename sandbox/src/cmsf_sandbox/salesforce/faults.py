"""Fault profiles and the daily API allowance of the Salesforce emulator.

Profiles, chosen at start and switchable through POST /admin/faults:

- ``none``: every request is served normally.
- ``flaky``: deterministic from a seed. Of the counted API requests, 4% get 503 SERVER_UNAVAILABLE and 2%
  are served but the connection drops half-way through the body; of the records written through sObject
  Collections and Bulk API 2.0 ingest jobs, 5% fail with UNABLE_TO_LOCK_ROW ("unable to obtain exclusive
  access to this record or 1 records: <id>").
- ``limits``: after N more counted calls (default 50) every call gets 403 REQUEST_LIMIT_EXCEEDED
  ("TotalRequests Limit exceeded."), as when the org's daily allowance is used up; the allowance the
  responses report (Sforce-Limit-Info, /limits) is lowered accordingly.

Whatever the profile, every counted call is taken from a rolling 24-hour allowance (DailyApiRequests,
default 100,000), and once it is used up calls get REQUEST_LIMIT_EXCEEDED too.

Besides the profile, a test can plan lock errors on one object (POST /admin/faults/locks): the next N write calls
(an sObject Collections call, a Bulk 2.0 ingest job) that touch the object fail some of its rows with
UNABLE_TO_LOCK_ROW, every k-th row of the object in the call from an offset, whatever the profile; an operation
(insert, update, upsert, delete) may be named, and only those calls count.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from dataclasses import dataclass, replace

PROFILES = ("none", "flaky", "limits")
UNAVAILABLE = "503"
DROP = "drop"
DAY = 86400.0


@dataclass(frozen=True)
class FaultRates:
    lock: float = 0.05  # share of records failing with UNABLE_TO_LOCK_ROW (flaky)
    unavailable: float = 0.04  # share of requests answered 503 SERVER_UNAVAILABLE (flaky)
    dropped: float = 0.02  # share of requests whose connection drops mid-body (flaky)
    limits_after: int = 50  # counted calls allowed once the limits profile is on


class RollingCounter:
    """Events in the last 24 hours, in one-minute buckets."""

    def __init__(self) -> None:
        self._buckets: deque[list[float]] = deque()
        self._total = 0
        self._lock = threading.Lock()

    def _prune(self, now: float) -> None:
        while self._buckets and self._buckets[0][0] <= now - DAY:
            self._total -= int(self._buckets.popleft()[1])

    def add(self, count: int = 1) -> None:
        now = time.time()
        minute = now - now % 60
        with self._lock:
            self._prune(now)
            if self._buckets and self._buckets[-1][0] == minute:
                self._buckets[-1][1] += count
            else:
                self._buckets.append([minute, float(count)])
            self._total += count

    def value(self) -> int:
        with self._lock:
            self._prune(time.time())
            return self._total

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()
            self._total = 0


class ApiAllowance:
    """DailyApiRequests: `maximum` calls in a rolling 24 hours, optionally capped lower (limits profile)."""

    def __init__(self, maximum: int = 100_000) -> None:
        self.maximum = maximum
        self.cap: int | None = None
        self.counter = RollingCounter()

    @property
    def effective_max(self) -> int:
        return self.maximum if self.cap is None else min(self.maximum, self.cap)

    @property
    def used(self) -> int:
        return self.counter.value()

    def exhausted(self) -> bool:
        return self.used >= self.effective_max

    def take(self) -> None:
        self.counter.add()

    def header(self) -> tuple[bytes, bytes]:
        return b"sforce-limit-info", f"api-usage={self.used}/{self.effective_max}".encode()


@dataclass
class LockPlan:
    """Lock errors planned on one object: `calls` write calls left, in each of them the object's rows at positions
    offset, offset + every, ... fail with UNABLE_TO_LOCK_ROW."""

    sobject: str
    calls: int
    every: int = 2
    offset: int = 0
    operation: str = ""  # "" for any write
    failed: int = 0  # rows failed so far

    def describe(self) -> dict[str, object]:
        return {"sobject": self.sobject, "calls": self.calls, "every": self.every, "offset": self.offset,
                "operation": self.operation, "failed": self.failed}  # fmt: skip


class WriteCall:
    """One write call's view of the planned lock errors: `hit(sobject)` for each of its records, in order."""

    def __init__(self, injector: FaultInjector, operation: str) -> None:
        self.injector, self.operation = injector, operation
        self.positions: dict[str, int] = {}  # object -> its rows met so far in this call

    def hit(self, sobject: str) -> bool:
        plan = self.injector.locks.get(sobject)
        if plan is None or (plan.operation and plan.operation != self.operation):
            return False
        with self.injector._lock:
            position = self.positions.get(sobject)
            if position is None:  # the call's first row of the object: the call counts
                if plan.calls <= 0:
                    return False
                plan.calls -= 1
                position = 0
            self.positions[sobject] = position + 1
            failing = position >= plan.offset and (position - plan.offset) % plan.every == 0
            plan.failed += failing
            return failing


class FaultInjector:
    """Decides, deterministically from the seed, what happens to each request and each written record."""

    def __init__(
        self, allowance: ApiAllowance, profile: str = "none", seed: int = 1, rates: FaultRates | None = None
    ) -> None:
        self.allowance = allowance
        self.rates = rates or FaultRates()
        self.seed = seed
        self.profile = "none"
        self._lock = threading.Lock()
        self._requests = random.Random(seed)
        self._records = random.Random(seed + 1)
        self.locks: dict[str, LockPlan] = {}  # object -> lock errors planned by a test
        self.set_profile(profile)

    def plan_locks(self, plan: LockPlan) -> None:
        """Plan lock errors on an object (a plan of 0 calls removes it)."""
        with self._lock:
            if plan.calls > 0:
                self.locks[plan.sobject] = plan
            else:
                self.locks.pop(plan.sobject, None)

    def write_call(self, operation: str) -> WriteCall:
        """The planned lock errors as one write call meets them."""
        return WriteCall(self, operation)

    def set_profile(
        self,
        profile: str,
        *,
        after: int | None = None,
        seed: int | None = None,
        rates: dict[str, float] | None = None,
    ) -> None:
        if profile not in PROFILES:
            raise ValueError(f"unknown fault profile {profile!r}: use one of {', '.join(PROFILES)}")
        with self._lock:
            if seed is not None:
                self.seed = seed
            if rates:
                self.rates = replace(
                    self.rates,
                    lock=float(rates.get("lock", self.rates.lock)),
                    unavailable=float(rates.get("unavailable", self.rates.unavailable)),
                    dropped=float(rates.get("dropped", self.rates.dropped)),
                )
            if after is not None:
                self.rates = replace(self.rates, limits_after=int(after))
            self.profile = profile
            self._requests = random.Random(self.seed)
            self._records = random.Random(self.seed + 1)
            self.allowance.cap = self.allowance.used + self.rates.limits_after if profile == "limits" else None

    def decide_request(self) -> str | None:
        if self.profile != "flaky":
            return None
        with self._lock:
            draw = self._requests.random()
        if draw < self.rates.unavailable:
            return UNAVAILABLE
        if draw < self.rates.unavailable + self.rates.dropped:
            return DROP
        return None

    def lock_record(self) -> bool:
        """Whether the next written record fails with UNABLE_TO_LOCK_ROW."""
        if self.profile != "flaky":
            return False
        with self._lock:
            return self._records.random() < self.rates.lock

    def describe(self) -> dict[str, object]:
        return {
            "profile": self.profile,
            "profiles": list(PROFILES),
            "seed": self.seed,
            "rates": {
                "lock": self.rates.lock,
                "unavailable": self.rates.unavailable,
                "dropped": self.rates.dropped,
            },
            "after": self.rates.limits_after if self.profile == "limits" else None,
            "api_requests_cap": self.allowance.cap,
            "locks": [plan.describe() for plan in self.locks.values()],
        }
