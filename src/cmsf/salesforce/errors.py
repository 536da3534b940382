"""Failures of Salesforce calls, as data: what the sync should do about each."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

# Record-level errors worth sending again: another transaction held the row, or the server hiccuped.
RETRIABLE_RECORD_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE"})


@dataclass(frozen=True)
class RecordError:
    code: str
    message: str
    fields: tuple[str, ...] = ()

    def __str__(self) -> str:
        fields = f" ({', '.join(self.fields)})" if self.fields else ""
        return f"{self.code}: {self.message}{fields}"


@dataclass
class RecordResult:
    """What happened to one record of a write, in the order the records were given."""

    index: int
    key: str  # the external id, the Id, or "" when the record had neither
    id: str | None = None
    created: bool | None = None
    errors: list[RecordError] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return not self.errors

    @property
    def retriable(self) -> bool:
        return bool(self.errors) and all(e.code in RETRIABLE_RECORD_CODES for e in self.errors)


class SalesforceError(Exception):
    kind: ClassVar[str] = "error"

    def __init__(self, message: str, *, operation: str = "", status: int | None = None, code: str = "") -> None:
        self.message = message
        self.operation = operation
        self.status = status
        self.code = code
        super().__init__(str(self))

    def __str__(self) -> str:
        details = ", ".join(p for p in (self.code, f"HTTP {self.status}" if self.status else "") if p)
        prefix = f"{self.operation}: " if self.operation else ""
        return f"{prefix}{self.message}" + (f" ({details})" if details else "")


class AuthenticationError(SalesforceError):
    """The credentials no longer work: reconnect Salesforce (or change the Salesforce Sync User)."""

    kind = "configuration"


class ApiLimitExceeded(SalesforceError):
    """Salesforce refused the call: the org's daily API allowance is used up. The run must stop."""

    kind = "limit"


class BudgetExhausted(SalesforceError):
    """cmsf's own share of the org's daily API allowance is used up. The run stops cleanly."""

    kind = "limit"


class TransientError(SalesforceError):
    """Worth retrying later: a 5xx, a timeout or a dropped connection."""

    kind = "transient"


class FatalError(SalesforceError):
    """The request is wrong (a bad field, a bad query): retrying cannot help."""

    kind = "fatal"
