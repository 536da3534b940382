"""SOQL literals: text quoted and escaped as SOQL reads it, the one place cmsf builds them."""

from __future__ import annotations

import re
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


class QueryShapeError(ValueError):
    """A query cmsf cannot take as a source of records; the message says why."""


def _top_level(query: str) -> list[tuple[int, str]]:
    """(position, word) of each word outside quotes and parentheses, upper-cased."""
    words: list[tuple[int, str]] = []
    depth, i, n = 0, 0, len(query)
    while i < n:
        char = query[i]
        if char == "'":
            i += 1
            while i < n and query[i] != "'":
                i += 2 if query[i] == "\\" else 1
            i += 1
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif depth == 0 and (char.isalpha() or char == "_"):
            start = i
            while i < n and (query[i].isalnum() or query[i] in "_."):
                i += 1
            words.append((start, query[start:i].upper()))
            continue
        i += 1
    if depth != 0:
        raise QueryShapeError("its parentheses do not match")
    return words


def select_fields(query: str, fields: Iterable[str], *, keep_order: bool = True) -> tuple[str, str]:
    """(object, query): `query` with its SELECT list replaced by `fields`, keeping FROM and everything after it
    (WHERE, ORDER BY unless `keep_order` is off, LIMIT). Raises `QueryShapeError` for a query that does not read
    records of one object."""
    text = query.strip().rstrip(";").strip()
    words = _top_level(text)
    if not words or words[0][1] != "SELECT":
        raise QueryShapeError("a query starts with SELECT")
    froms = [position for position, word in words if word == "FROM"]
    if not froms:
        raise QueryShapeError("the query has no FROM")
    after = [word for position, word in words if position > froms[0]]
    if not after:
        raise QueryShapeError("FROM names no object")
    aggregate = re.compile(r"\bCOUNT(_DISTINCT)?\s*\(", re.IGNORECASE)
    if "GROUP" in after or aggregate.search(text[: froms[0]]):
        raise QueryShapeError("an aggregate query (COUNT, GROUP BY) gives no records to import")
    sobject = text[froms[0] :].split(None, 2)[1]
    rest = text[froms[0] :]
    if not keep_order:
        after_from = [(position - froms[0], word) for position, word in words if position > froms[0]]
        orders = [i for i, (_, word) in enumerate(after_from[:-1]) if word == "ORDER" and after_from[i + 1][1] == "BY"]
        if orders:
            start = after_from[orders[0]][0]
            ends = [position for position, word in after_from[orders[0] :] if word in ("LIMIT", "OFFSET")]
            rest = (rest[:start].rstrip() + " " + rest[ends[0] :] if ends else rest[:start]).rstrip()
    return sobject, f"SELECT {', '.join(dict.fromkeys(fields))} {rest}"


def first_record_query(query: str) -> str:
    """The query as a check that it runs: its Id only, at most one record (its own LIMIT and OFFSET replaced).
    Raises `QueryShapeError` as `select_fields` does."""
    _, text = select_fields(query, ["Id"], keep_order=False)
    limits = [position for position, word in _top_level(text) if word in ("LIMIT", "OFFSET")]
    return (text[: limits[0]].rstrip() if limits else text) + " LIMIT 1"
