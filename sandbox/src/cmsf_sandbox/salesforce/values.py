"""Field values: parsing JSON and CSV input into stored values, and formatting stored values for CSV.

Stored values are plain Python: str for text, ids, dates ("2024-05-01") and datetimes (always UTC, as
"2024-05-01T10:20:30.000+0000", so that they compare as strings); bool; int for int fields; float for
double, currency and percent fields; None for null (or the key left out).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from cmsf_sandbox.salesforce.errors import DmlError, JsonTypeError, RecordError
from cmsf_sandbox.salesforce.schema import ID_TYPES, Field

NULL_MARKER = "#N/A"

_CANONICAL = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")
_DATETIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|z|[+-]\d{2}:?\d{2})?$"
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_TRUE = frozenset({"true", "1", "yes", "y"})
_FALSE = frozenset({"false", "0", "no", "n"})

_JAVA_TYPES = {
    "boolean": "boolean",
    "int": "int",
    "double": "double",
    "currency": "double",
    "percent": "double",
    "date": "date",
    "datetime": "datetime",
}


def format_datetime(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def parse_datetime(text: str) -> str | None:
    """Any ISO-8601 date or date and time -> the canonical UTC string; None when it is not one."""
    if _CANONICAL.match(text):
        return text
    found = _DATETIME.match(text.strip())
    if found is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = found.groups()
    try:
        tz: timezone = UTC
        if zone and zone not in ("Z", "z"):
            sign = -1 if zone[0] == "-" else 1
            digits = zone[1:].replace(":", "")
            tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
        micro = int((fraction or "0")[:6].ljust(6, "0"))
        moment = datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), micro, tzinfo=tz
        )
    except ValueError:
        return None
    return format_datetime(moment)


def to_datetime(value: str) -> datetime:
    """A stored datetime string -> an aware datetime."""
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")


def parse_date(text: str) -> str | None:
    text = text.strip()
    if not _DATE.match(text):
        return None
    try:
        date.fromisoformat(text)
    except ValueError:
        return None
    return text


def _json_token(value: Any) -> str:
    if isinstance(value, bool):
        return "VALUE_TRUE" if value else "VALUE_FALSE"
    if isinstance(value, int):
        return "VALUE_NUMBER_INT"
    if isinstance(value, float):
        return "VALUE_NUMBER_FLOAT"
    if isinstance(value, dict):
        return "START_OBJECT"
    if isinstance(value, list):
        return "START_ARRAY"
    return "VALUE_STRING"


def locate(raw: str, key: str) -> tuple[int, int]:
    """Line and column (1-based) of the value of `"key"` in a JSON text, for JSON_PARSER_ERROR messages."""
    at = raw.find(f'"{key}"')
    if at < 0:
        return 1, 1
    colon = raw.find(":", at)
    position = colon + 1 if colon >= 0 else at
    while position < len(raw) and raw[position] in " \t\r\n":
        position += 1
    line = raw.count("\n", 0, position) + 1
    column = position - (raw.rfind("\n", 0, position) + 1) + 1
    return line, column


def json_value(f: Field, value: Any, raw: str = "", key: str | None = None) -> Any:
    """A value of a REST JSON body for field `f`; JsonTypeError when Salesforce's deserializer refuses it."""
    if value is None:
        return None

    def refuse() -> JsonTypeError:
        line, column = locate(raw, key or f.name)
        shown = value if not isinstance(value, bool) else str(value).lower()
        java = _JAVA_TYPES.get(f.type, "String" if f.type not in ID_TYPES else "id")
        return JsonTypeError(
            f"Cannot deserialize instance of {java} from {_json_token(value)} value {shown} "
            f"or request may be missing a required field at [line:{line}, column:{column}]"
        )

    if isinstance(value, dict | list):
        raise refuse()
    kind = f.type
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if isinstance(value, int):
            return value != 0
        raise refuse()
    if kind == "int":
        if isinstance(value, bool):
            raise refuse()
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and _NUMBER.match(value.strip()):
            number = float(value)
            if number.is_integer():
                return int(number)
        raise refuse()
    if kind in ("double", "currency", "percent"):
        if isinstance(value, bool):
            raise refuse()
        if isinstance(value, int | float):
            if isinstance(value, float) and not math.isfinite(value):
                raise refuse()
            return float(value)
        if isinstance(value, str) and _NUMBER.match(value.strip()):
            return float(value)
        raise refuse()
    if kind == "date":
        parsed = parse_date(value) if isinstance(value, str) else None
        if parsed is None:
            raise refuse()
        return parsed
    if kind == "datetime":
        parsed = parse_datetime(value) if isinstance(value, str) else None
        if parsed is None:
            raise refuse()
        return parsed
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def _not_of_type(f: Field, text: str) -> DmlError:
    return DmlError(
        RecordError("INVALID_TYPE_ON_FIELD_IN_RECORD", f"{f.label}: value not of required type: {text}", (f.name,))
    )


def csv_value(f: Field, text: str) -> Any:
    """A CSV cell for field `f` (not empty, not #N/A); DmlError INVALID_TYPE_ON_FIELD_IN_RECORD if unparsable."""
    kind = f.type
    if kind == "boolean":
        lowered = text.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise _not_of_type(f, text)
    if kind == "int":
        stripped = text.strip()
        if _NUMBER.match(stripped):
            number = float(stripped)
            if number.is_integer():
                return int(number)
        raise _not_of_type(f, text)
    if kind in ("double", "currency", "percent"):
        stripped = text.strip()
        if _NUMBER.match(stripped):
            return float(stripped)
        raise _not_of_type(f, text)
    if kind == "date":
        parsed = parse_date(text)
        if parsed is None:
            raise _not_of_type(f, text)
        return parsed
    if kind == "datetime":
        parsed = parse_datetime(text)
        if parsed is None:
            raise _not_of_type(f, text)
        return parsed
    return text


def csv_text(f: Field | None, value: Any) -> str:
    """A stored value as Bulk API 2.0 query results write it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if f is not None and f.type == "int" and value.is_integer():
            return str(int(value))
        return repr(value)
    if f is not None and f.type == "datetime" and isinstance(value, str) and value.endswith("+0000"):
        return value[:-5] + "Z"
    return str(value)
