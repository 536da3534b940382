"""Pure: values of mapped fields between Salesforce and Campaign Monitor custom fields, both ways. No I/O.

Salesforce to Campaign Monitor (the import wizard's mappings, and the field mappings of a list sent by the
watcher): a value as text (as Bulk 2.0 gives it, or a REST value through `as_text`) becomes the custom field's
entries; a multi-select picklist gives one entry per option, a date or date and time gives its date, and a value
is cut to Campaign Monitor's 250 characters.

Campaign Monitor to Salesforce (the field mappings a list applies in the primary sync): the custom field's
entries become the value the Salesforce field takes, by its type; a value it cannot take is a problem for the
caller to report with the record, and the record's other fields go on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

DATE = re.compile(r"^(\d{4})[-/](\d{2})[-/](\d{2})")
MAX_VALUE = 250  # Campaign Monitor's limit for a custom field value
NUMBER = frozenset({"double", "int", "long", "currency", "percent"})
TRUE = frozenset({"yes", "true", "1", "y"})
FALSE = frozenset({"no", "false", "0", "n"})
CONSENT = {"yes": "Yes", "true": "Yes", "no": "No", "false": "No", "unchanged": "Unchanged"}


def as_text(value: Any) -> str:
    """A REST value as Bulk 2.0 gives it in CSV ("" for null, true/false for a checkbox)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def field_name(key_or_name: str) -> str:
    """A custom field as subscribers name it, compared loosely: "[SubscriptionDate]", "subscription date" and
    "SubscriptionDate" are one field (Campaign Monitor's key drops the spaces of the name)."""
    return re.sub(r"[^0-9a-z]", "", key_or_name.lower())


@dataclass
class Entries:
    """What a subscriber is sent for its mapped custom fields."""

    values: list[tuple[str, str]] = field(default_factory=list)  # (key, value); a multi-select repeats the key
    clear: list[str] = field(default_factory=list)  # keys whose value is cleared
    problems: list[str] = field(default_factory=list)


def to_campaign_monitor(
    values: dict[str, str], mappings: Iterable[tuple[str, str, str]], *, clear_blank: bool
) -> Entries:
    """`mappings`: (Salesforce field, custom field key, its data type). A blank value is left alone, or cleared
    with `clear_blank`."""
    out = Entries()
    for sf_field, key, data_type in mappings:
        value = values.get(sf_field, "")
        if not value.strip():
            if clear_blank:
                out.clear.append(key)
            continue
        if data_type == "MultiSelectMany":  # a multi-select picklist's values, each its own entry of the key
            out.values.extend((key, option.strip()) for option in value.split(";") if option.strip())
            continue
        if data_type == "Date" and DATE.match(value):
            value = value[:10]  # a date or a date and time: Campaign Monitor takes the date
        if len(value) > MAX_VALUE:
            out.problems.append(f"{sf_field} is longer than {MAX_VALUE} characters: its first {MAX_VALUE} are sent")
            value = value[:MAX_VALUE]
        out.values.append((key, value))
    return out


def consent(raw: str) -> str | None:
    """Yes, No or Unchanged from a checkbox ("true"/"false") or a picklist; "" for blank (Unchanged); None when
    the value is none of these."""
    text = raw.strip()
    if not text:
        return "Unchanged"
    return CONSENT.get(text.lower())


def to_salesforce(entries: Sequence[str], sf_type: str) -> Any:
    """A custom field's entries (several for a multi-select) as a Salesforce field of `sf_type` takes them: None
    clears the field. Raises ValueError with the reason when the field cannot take the value."""
    cleaned = [entry.strip() for entry in entries if entry.strip()]
    if not cleaned:
        return None
    if sf_type == "multipicklist":
        return ";".join(dict.fromkeys(cleaned))
    value = cleaned[0]
    if sf_type in NUMBER:
        try:
            number = Decimal(value.replace(",", ""))
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a number") from None
        if not number.is_finite():
            raise ValueError(f"{value!r} is not a number")
        if sf_type in ("int", "long"):
            if number != number.to_integral_value():
                raise ValueError(f"{value!r} is not a whole number")
            return int(number)
        return float(number)
    if sf_type == "boolean":
        if value.lower() in TRUE:
            return True
        if value.lower() in FALSE:
            return False
        raise ValueError(f"{value!r} is not yes or no")
    if sf_type in ("date", "datetime"):
        found = DATE.match(value)
        if found is None:
            raise ValueError(f"{value!r} is not a date")
        day = "-".join(found.groups())
        return day if sf_type == "date" else f"{day}T00:00:00.000Z"
    return value
