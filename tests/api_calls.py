"""Calls of the HTTP API in the tests: a token made the way `cmsf api-token create` makes it, and each answer checked
against the schema its operation declares for that status (`cmsf.api.operations`), so that the document Salesforce
reads and what cmsf answers cannot drift apart."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft4Validator

from cmsf.api import tokens
from cmsf.api.operations import ERRORS, OPERATIONS, PREFIX, validator_schema


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]


def make_token(name: str = "flows", scopes: tuple[str, ...] = ("subscribers", "imports"), rate: int = 60) -> str:
    return tokens.create(name, scopes=list(scopes), rate_per_minute=rate, actor="test").secret


def _operation(method: str, path: str) -> Any:
    import re

    for operation in OPERATIONS:
        pattern = re.sub(r"\\\{\w+\\\}", r"[^/]+", re.escape(PREFIX + operation.path)) + "$"
        if operation.method == method and re.match(pattern, path):
            return operation
    return None


def call(client: Any, method: str, path: str, *, token: str | None, body: Any = None, raw: bytes | None = None,
         content_type: str = "application/json") -> Answer:  # fmt: skip
    """One call through Django's test client; the answer must follow the declared schema of its status."""
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token is not None else {}
    if method == "GET":
        response = client.get(path, **headers)
    else:
        data = raw if raw is not None else json.dumps(body if body is not None else {})
        response = client.post(path, data=data, content_type=content_type, **headers)
    assert response["Content-Type"] == "application/json", response.content[:200]
    parsed = response.json()
    operation = _operation(method, path)
    if operation is not None:
        declared = {**{s: ("", "Error") for s in ERRORS}, **operation.responses}
        assert response.status_code in declared, (response.status_code, parsed)
        schema = validator_schema(declared[response.status_code][1])
    else:
        schema = validator_schema("Error")
    problems = [e.message for e in Draft4Validator(schema).iter_errors(parsed)]
    assert problems == [], (response.status_code, parsed, problems)
    return Answer(response.status_code, parsed, {k: v for k, v in response.items()})
