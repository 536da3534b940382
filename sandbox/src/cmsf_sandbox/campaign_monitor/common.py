"""What every emulator route shares: replies and errors, request parameters, dates, emails and paging."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

T = TypeVar("T")

JSON_TYPE = b"application/json; charset=utf-8"

EMAIL_RE = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
E164_RE = re.compile(r"^\+[1-9]\d{6,14}$")


class ApiError(Exception):
    """An error answer: HTTP status plus Campaign Monitor's {"Code", "Message"} (and ResultData when given)."""

    def __init__(self, status: int, code: int, message: str, result_data: Any = None) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.result_data = result_data

    def body(self) -> dict[str, Any]:
        if self.result_data is not None:  # key order of import_subscribers_partial_success.json
            return {"ResultData": self.result_data, "Code": self.code, "Message": self.message}
        return {"Code": self.code, "Message": self.message}


def bad_request(code: int, message: str, result_data: Any = None) -> ApiError:
    return ApiError(400, code, message, result_data)


@dataclass
class Reply:
    """A handler's answer: `data` is serialized as JSON, unless `empty` (no body at all)."""

    status: int = 200
    data: Any = None
    empty: bool = False
    content_type: bytes = JSON_TYPE
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


def ok(data: Any) -> Reply:
    return Reply(200, data)


def created(value: str) -> Reply:
    return Reply(201, value)


def empty_ok() -> Reply:
    return Reply(200, empty=True)


def encode_json(data: Any, *, pretty: bool = False) -> bytes:
    if pretty:
        return json.dumps(data, ensure_ascii=False, indent=2, default=str).encode("utf-8")
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8")


# ---------------------------------------------------------------------------------------- parameters


def lower_keys(value: Any) -> Any:
    """JSON body keys are case-insensitive: every dict key is lower-cased (values are left alone)."""
    if isinstance(value, dict):
        return {str(key).lower(): lower_keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [lower_keys(item) for item in value]
    return value


def as_bool(value: Any, default: bool = False) -> bool:
    """true/True/false/False (and JSON booleans); anything else is the default."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "true":
            return True
        if text == "false":
            return False
    return default


def as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def valid_email(value: str) -> bool:
    return len(value) <= 254 and EMAIL_RE.match(value) is not None


def valid_mobile(value: str) -> bool:
    return E164_RE.match(value) is not None


# --------------------------------------------------------------------------------------------- dates


def fmt(moment: datetime) -> str:
    """Campaign Monitor's response date: "YYYY-MM-DD HH:MM:SS", no zone."""
    return moment.isoformat(" ", "seconds")


_SINCE_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S")


def parse_since(value: str | None) -> datetime | None:
    """The `date` filter ("on or after"): YYYY-MM-DD, YYYY-MM-DD HH:MM or YYYY-MM-DD HH:MM:SS, else code 5."""
    if value is None:
        return None
    for pattern in _SINCE_FORMATS:
        try:
            return datetime.strptime(value.strip(), pattern)
        except ValueError:
            continue
    raise bad_request(5, "Invalid Date")


def parse_day(value: str | None, code: int) -> datetime | None:
    """A YYYY-MM-DD parameter (sentfromdate/senttodate): anything else is `code`."""
    if value is None:
        return None
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        try:
            return datetime.strptime(value.strip(), "%Y-%m-%d")
        except ValueError:
            pass
    raise bad_request(code, "The date must be provided in the format YYYY-MM-DD")


# -------------------------------------------------------------------------------------------- paging


@dataclass(frozen=True)
class Paging:
    page: int
    size: int
    order_field: str  # lower case: email, name or date
    descending: bool


def paging(
    params: dict[str, str],
    *,
    default_order: str = "email",
    orders: Sequence[str] = ("email", "name", "date"),
    default_direction: str = "asc",
    default_size: int = 1000,
) -> Paging:
    """page >= 1 (800), pagesize 10..1000 (801), orderfield (802), orderdirection (803)."""
    try:
        page = int(params.get("page", "1"))
    except ValueError:
        raise bad_request(800, "Invalid page number") from None
    if page < 1:
        raise bad_request(800, "Invalid page number")
    try:
        size = int(params.get("pagesize", str(default_size)))
    except ValueError:
        raise bad_request(801, "Invalid page size") from None
    if not 10 <= size <= 1000:
        raise bad_request(801, "Invalid page size")
    order = params.get("orderfield", default_order).lower()
    if order not in orders:
        raise bad_request(802, "The order field must be either email, name or date")
    direction = params.get("orderdirection", default_direction).lower()
    if direction not in ("asc", "desc"):
        raise bad_request(803, "The order direction must be either asc or desc")
    return Paging(page, size, order, direction == "desc")


def page_of(seq: Sequence[T], lo: int, hi: int, p: Paging) -> list[T]:
    """Page p of seq[lo:hi] (ascending), read backwards when p.descending; never copies more than a page."""
    total = max(0, hi - lo)
    skip = (p.page - 1) * p.size
    if skip >= total:
        return []
    if not p.descending:
        return list(seq[lo + skip : min(hi, lo + skip + p.size)])
    end = hi - skip
    start = max(lo, end - p.size)
    items = list(seq[start:end])
    items.reverse()
    return items


def envelope(results: list[Any], ordered_by: str, direction: str, p: Paging, total: int) -> dict[str, Any]:
    """The paged envelope, keys in fixture order; NumberOfPages 0 when there is nothing."""
    return {
        "Results": results,
        "ResultsOrderedBy": ordered_by,
        "OrderDirection": direction,
        "PageNumber": p.page,
        "PageSize": p.size,
        "RecordsOnThisPage": len(results),
        "TotalNumberOfRecords": total,
        "NumberOfPages": math.ceil(total / p.size) if total else 0,
    }


def paged(
    seq: Sequence[T],
    lo: int,
    hi: int,
    p: Paging,
    build: Callable[[T], dict[str, Any]],
    ordered_by: str,
    direction: str | None = None,
) -> dict[str, Any]:
    items = page_of(seq, lo, hi, p)
    if direction is None:
        direction = "desc" if p.descending else "asc"
    return envelope([build(item) for item in items], ordered_by, direction, p, max(0, hi - lo))
