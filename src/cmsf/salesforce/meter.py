"""The API-usage meter: every call cmsf makes to Salesforce, counted by kind, and the org's own count.

Salesforce reports the org's usage on every REST response (`Sforce-Limit-Info: api-usage=USED/MAX`);
cmsf's budget is a share of MAX that a run may not pass.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from dataclasses import dataclass, field

from cmsf.salesforce.errors import BudgetExhausted

_USAGE = re.compile(r"(?<![-\w])api-usage=(\d+)/(\d+)")


def parse_limit_info(header: str) -> tuple[int, int] | None:
    match = _USAGE.search(header or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


@dataclass
class ApiMeter:
    """Thread-safe. `budget_share` is the share (0-1] of the org's daily allowance cmsf may use; None: no
    budget of cmsf's own (only the org's limit stops a run)."""

    budget_share: float | None = 0.5
    calls: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)  # "call": a call sent again; "lock": records sent again
    org_used: int | None = None
    org_max: int | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, kind: str, limit_info: str | None = None) -> None:
        usage = parse_limit_info(limit_info) if limit_info else None
        with self._lock:
            self.calls[kind] += 1
            if usage is not None:
                self.org_used, self.org_max = usage

    def retried(self, what: str) -> None:
        with self._lock:
            self.retries[what] += 1

    @property
    def total(self) -> int:
        with self._lock:
            return sum(n for kind, n in self.calls.items() if kind != "oauth")

    @property
    def budget(self) -> int | None:
        return int(self.org_max * self.budget_share) if self.org_max and self.budget_share is not None else None

    def check(self, operation: str = "") -> None:
        """Raise BudgetExhausted when the org's usage has reached cmsf's budget."""
        with self._lock:
            used, limit, share = self.org_used, self.org_max, self.budget_share
        if used is not None and limit and share is not None:
            budget = int(limit * share)
            if used >= budget:
                raise BudgetExhausted(
                    f"the org has used {used:,} of its {limit:,} daily API requests; cmsf's budget is "
                    f"{budget:,} ({share:.0%}). The run stops here and goes on when usage falls "
                    "or the budget is raised",
                    operation=operation,
                    code="CMSF_API_BUDGET",
                )

    def snapshot(self) -> dict[str, object]:
        with self._lock:
            return {"calls": dict(self.calls), "retries": dict(self.retries), "org_used": self.org_used,
                    "org_max": self.org_max}  # fmt: skip
