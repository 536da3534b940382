"""Every failure of a Campaign Monitor call is one of three kinds, with the endpoint and the code.

- configuration: the credentials or permissions are wrong; the admin must reconnect.
- transient: rate limits, server errors, timeouts, dropped connections; retried, and worth retrying later.
- fatal: the request itself is wrong (other 4xx); retrying will not help.
"""

from __future__ import annotations

from typing import Any, ClassVar

# 401 codes that mean the connection itself is broken: missing or bad key, client not reachable
# with these credentials, OAuth token invalid, expired (after a refresh failed) or revoked, or a missing scope.
CONFIGURATION_CODES = frozenset({50, 100, 102, 120, 121, 122, 60})


class CampaignMonitorError(Exception):
    kind: ClassVar[str] = "error"

    def __init__(
        self,
        message: str,
        *,
        endpoint: str,
        status: int | None = None,
        code: int | None = None,
        result_data: Any = None,
    ) -> None:
        self.message = message
        self.endpoint = endpoint
        self.status = status
        self.code = code
        self.result_data = result_data
        super().__init__(str(self))

    def __str__(self) -> str:
        details = ", ".join(
            part
            for part in (
                f"Campaign Monitor code {self.code}" if self.code is not None else "",
                f"HTTP {self.status}" if self.status is not None else "",
            )
            if part
        )
        return f"{self.endpoint}: {self.message}" + (f" ({details})" if details else "")


class ConfigurationError(CampaignMonitorError):
    """Reconnect to Campaign Monitor: the credentials or permissions no longer work."""

    kind = "configuration"


class TransientError(CampaignMonitorError):
    """Worth retrying later: rate limited, a server error, a timeout or a dropped connection."""

    kind = "transient"


class RateLimited(TransientError):
    def __init__(self, message: str, *, reset_seconds: float, **kwargs: Any) -> None:
        self.reset_seconds = reset_seconds
        super().__init__(message, **kwargs)


class FatalError(CampaignMonitorError):
    """The request is wrong (a bad id, a bad value): retrying cannot help."""

    kind = "fatal"


class PagingError(FatalError):
    """The API returned pages that do not advance (the same page twice)."""


# Code 980: "Transactional email is not available in your account" (the plan has no transactional email).
TRANSACTIONAL_NOT_ENABLED = 980


class TransactionalNotEnabled(FatalError):
    """The Campaign Monitor account's plan does not include transactional email (code 980)."""

    def __init__(self, *, endpoint: str, status: int | None = None, message: str = "", **kwargs: Any) -> None:
        self.campaign_monitor_message = message
        super().__init__(
            "transactional email is not enabled on this Campaign Monitor account",
            endpoint=endpoint,
            status=status,
            code=TRANSACTIONAL_NOT_ENABLED,
            **kwargs,
        )
