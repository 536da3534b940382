"""Error values of the Salesforce emulator, in the three shapes Salesforce uses for them.

- Single-record REST calls and every other REST error: a JSON array `[{"message", "errorCode", "fields"}]`.
- sObject Collections results: `{"statusCode", "message", "fields"}` inside each result's `errors`.
- Bulk API 2.0 result files: `"STATUS_CODE:message:field,field --"` in the `sf__Error` column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RecordError:
    """One DML error on one record."""

    code: str
    message: str
    fields: tuple[str, ...] = ()

    def single(self) -> dict[str, Any]:
        return {"message": self.message, "errorCode": self.code, "fields": list(self.fields)}

    def collection(self) -> dict[str, Any]:
        return {"statusCode": self.code, "message": self.message, "fields": list(self.fields)}

    def bulk(self) -> str:
        if not self.fields:
            return f"{self.code}:{self.message}:--"
        return f"{self.code}:{self.message}:{','.join(self.fields)} --"


class DmlError(Exception):
    """A write refused for one record: one or more `RecordError`s."""

    def __init__(self, *errors: RecordError, status: int = 400) -> None:
        super().__init__("; ".join(f"{e.code}: {e.message}" for e in errors))
        self.errors = errors
        self.status = status


class MultipleMatches(Exception):
    """An upsert or a lookup by external id matched more than one record."""

    def __init__(self, object_name: str, field_name: str, ids: list[str]) -> None:
        super().__init__(f"{field_name}: more than one record found for external id field: {ids}")
        self.object_name = object_name
        self.field_name = field_name
        self.ids = ids

    def record_error(self) -> RecordError:
        listed = ", ".join(self.ids)
        return RecordError(
            "DUPLICATE_EXTERNAL_ID", f"{self.field_name}: more than one record found for external id field: [{listed}]"
        )


@dataclass
class ApiError(Exception):
    """A whole request refused: HTTP `status` with the error-array body."""

    status: int
    code: str
    message: str
    fields: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(f"{self.status} {self.code}: {self.message}")

    def body(self) -> list[dict[str, Any]]:
        item: dict[str, Any] = {"message": self.message, "errorCode": self.code}
        if self.fields is not None:
            item["fields"] = self.fields
        item.update(self.extra)
        return [item]

    @classmethod
    def from_dml(cls, error: DmlError) -> ApiError:
        first = error.errors[0]
        return cls(error.status, first.code, first.message, list(first.fields))


def not_found() -> ApiError:
    return ApiError(404, "NOT_FOUND", "The requested resource does not exist")


def invalid_session() -> ApiError:
    return ApiError(401, "INVALID_SESSION_ID", "Session expired or invalid")


def request_limit_exceeded() -> ApiError:
    return ApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")


def server_unavailable() -> ApiError:
    return ApiError(503, "SERVER_UNAVAILABLE", "Server temporarily unavailable, please try again later.")


class JsonTypeError(Exception):
    """A REST body value of the wrong JSON type: Salesforce fails the whole request with JSON_PARSER_ERROR."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def api_error(self) -> ApiError:
        return ApiError(400, "JSON_PARSER_ERROR", self.message)


class SoqlError(Exception):
    """A query refused: MALFORMED_QUERY, INVALID_FIELD, INVALID_TYPE, INVALID_QUERY_FILTER_OPERATOR..."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def api_error(self) -> ApiError:
        return ApiError(400, self.code, self.message)
