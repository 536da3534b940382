"""The request and reply values the Salesforce emulator's route modules work with, and the reading of a JSON
request body: the lowest layer of the route modules (rest, bulk, metadata, listviews, reports), which the
emulator's state and its ASGI app sit above."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from cmsf_sandbox.salesforce.errors import ApiError
from cmsf_sandbox.salesforce.oauth import Session

JSON = "application/json;charset=UTF-8"


@dataclass
class Reply:
    status: int
    data: Any = None
    raw: bytes | None = None  # a body that is not JSON (CSV, HTML)
    content_type: str = JSON
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)

    @classmethod
    def error(cls, error: ApiError) -> Reply:
        return cls(error.status, error.body())


@dataclass
class Request:
    method: str
    version: str  # "62.0"
    parts: list[str]  # the path after /services/data/vXX.X/, decoded segments
    params: dict[str, str]  # query parameters: the first value of each name
    headers: dict[str, str]  # lower-case names
    body: bytes
    session: Session
    base_url: str  # "https://127.0.0.1:PORT"

    @property
    def api_version(self) -> float:
        return float(self.version)


def parse_json(body: bytes) -> Any:
    if not body.strip():
        raise ApiError(400, "JSON_PARSER_ERROR", "The request body is empty.")
    try:
        return json.loads(body)
    except json.JSONDecodeError as error:
        shown = error.doc[error.pos : error.pos + 1] or "<EOF>"
        raise ApiError(
            400,
            "JSON_PARSER_ERROR",
            f"Unexpected character ('{shown}'): {error.msg} at [line:{error.lineno}, column:{error.colno}]",
        ) from None
    except UnicodeDecodeError:
        raise ApiError(400, "JSON_PARSER_ERROR", "Invalid UTF-8 in the request body") from None
