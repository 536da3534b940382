"""Pure: does a Salesforce record meet a subscriber rule's criteria? No I/O.

A record's values are text, as Bulk 2.0 gives them (REST values through `field_values.as_text`). Comparisons
ignore case. `equals` and `does not equal` take several values separated by commas (any of them). `greater`,
`less` and their "or equal" forms compare numbers when both sides are numbers, dates when both are dates
(YYYY-MM-DD, with a time or not), and text otherwise. A criterion on a blank value is met only by `is blank`,
`does not equal` and `does not contain`. Custom logic combines the criteria by number with AND, OR, NOT and
parentheses (NOT first, then AND, then OR); without it every criterion must be met.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from cmsf.options.models import check_logic


def _number(text: str) -> Decimal | None:
    try:
        found = Decimal(text.replace(",", ""))
    except InvalidOperation:
        return None
    return found if found.is_finite() else None


def _ordered(left: str, right: str) -> tuple[Any, Any]:
    """The two sides as numbers, dates (ISO text compares as dates) or text."""
    a, b = _number(left), _number(right)
    if a is not None and b is not None:
        return a, b
    return left.lower(), right.lower()


def criterion_met(criterion: Mapping[str, str], values: Mapping[str, str]) -> bool:
    actual = values.get(criterion["field"], "").strip()
    wanted = str(criterion.get("value", "")).strip()
    operator = criterion["operator"]
    if operator == "is_blank":
        return not actual
    if operator == "is_not_blank":
        return bool(actual)
    if operator in ("equals", "not_equals"):
        options = [option.strip().lower() for option in wanted.split(",")] if wanted else [""]
        number = _number(actual)
        same = actual.lower() in options or (number is not None and any(_number(o) == number for o in options))
        return same if operator == "equals" else not same
    if operator == "contains":
        return bool(actual) and wanted.lower() in actual.lower()
    if operator == "not_contains":
        return wanted.lower() not in actual.lower() if actual else True
    if operator == "starts_with":
        return bool(actual) and actual.lower().startswith(wanted.lower())
    if not actual:
        return False
    a, b = _ordered(actual, wanted)
    if operator == "greater":
        return bool(a > b)
    if operator == "less":
        return bool(a < b)
    if operator == "greater_or_equal":
        return bool(a >= b)
    if operator == "less_or_equal":
        return bool(a <= b)
    raise ValueError(f"unknown operator {operator!r}")


@lru_cache(maxsize=64)
def _tokens(logic: str, count: int) -> tuple[str, ...]:
    """A rule's custom logic, read once for all the records it is evaluated on."""
    return tuple(check_logic(logic, count))


def met(criteria: Sequence[Mapping[str, str]], logic: str, values: Mapping[str, str]) -> bool:
    """True when the record's values meet the criteria under the logic (AND of all when blank)."""
    results = [criterion_met(criterion, values) for criterion in criteria]
    if not logic.strip():
        return all(results)
    tokens = _tokens(logic, len(results))
    position = 0

    def expression() -> bool:
        nonlocal position
        value = term()
        while position < len(tokens) and tokens[position] == "OR":
            position += 1
            right = term()
            value = value or right
        return value

    def term() -> bool:
        nonlocal position
        value = factor()
        while position < len(tokens) and tokens[position] == "AND":
            position += 1
            right = factor()
            value = value and right
        return value

    def factor() -> bool:
        nonlocal position
        token = tokens[position]
        position += 1
        if token == "NOT":
            return not factor()
        if token == "(":
            value = expression()
            position += 1  # the closing parenthesis (check_logic saw it is there)
            return value
        return results[int(token) - 1]

    return expression()


def fields_of(criteria: Sequence[Mapping[str, str]]) -> list[str]:
    """The fields the criteria read, in order, once each."""
    return list(dict.fromkeys(str(criterion["field"]) for criterion in criteria))
