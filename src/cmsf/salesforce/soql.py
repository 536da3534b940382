"""SOQL literals: text quoted and escaped as SOQL reads it, the one place cmsf builds them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime


def quote(value: str) -> str:
    """A string literal: 'it\\'s'."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def quote_list(values: Iterable[str]) -> str:
    """Literals for IN (...): 'a', 'b'."""
    return ", ".join(quote(v) for v in values)


def contains(term: str) -> str:
    """A LIKE literal matching text that contains `term`, its quotes and wildcards escaped."""
    escaped = term.replace("\\", "\\\\").replace("'", "\\'").replace("%", "\\%").replace("_", "\\_")
    return f"'%{escaped}%'"


def datetime_literal(moment: datetime) -> str:
    """A dateTime literal, in UTC to the second: 2026-11-27T10:00:00Z (also what the REST API takes as a time)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
