"""The request layer of the API: a JSON body read within its bounds (size and nesting) and checked against its
operation's schema, the token (401), its rate limit (429), its scope and the plan (403), errors as
`{"error": {"code", "message"}}`, and every call logged, and audited once its token is known."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from jsonschema import Draft4Validator
from jsonschema.exceptions import best_match

from cmsf.api import tokens
from cmsf.api.bounds import MAX_BODY_BYTES, MAX_DEPTH
from cmsf.api.models import ApiToken
from cmsf.api.operations import SCHEMAS, Operation, validator_schema
from cmsf.billing.services import features
from cmsf.maintenance.services import audit

log = logging.getLogger("cmsf.api")
_VALIDATORS = {name: Draft4Validator(validator_schema(name)) for name in SCHEMAS}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


@dataclass(frozen=True)
class Call:
    token: ApiToken
    body: dict[str, Any]
    arguments: dict[str, Any]


@dataclass
class Answer:
    status: int
    body: dict[str, Any] | list[Any]
    audited: dict[str, Any] = field(default_factory=dict)  # what the audit log keeps of the call (no addresses)


Handler = Callable[[Call], Answer]


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JsonResponse:
    response = JsonResponse({"error": {"code": code, "message": message}}, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _depth(value: Any, level: int = 1) -> int:
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level)
    return level


def read_body(request: HttpRequest, schema: str) -> dict[str, Any]:
    """The JSON object the request carries, checked against the schema; `ApiError` 400 or 413 otherwise."""
    if request.content_type != "application/json":
        raise ApiError(400, "invalid_request", "send the body as JSON, with Content-Type: application/json")
    raw = request.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, "body_too_large", f"a request body is at most {MAX_BODY_BYTES:,} bytes")
    try:
        body = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_json", "the body is not UTF-8") from None
    except RecursionError:
        raise ApiError(400, "invalid_json", f"the body nests deeper than {MAX_DEPTH} levels") from None
    except ValueError as problem:
        raise ApiError(400, "invalid_json", f"the body is not JSON: {problem}") from None
    if _depth(body) > MAX_DEPTH:
        raise ApiError(400, "invalid_json", f"the body nests deeper than {MAX_DEPTH} levels")
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", f"the body is a JSON object ({schema})")
    wrong = best_match(_VALIDATORS[schema].iter_errors(body))
    if wrong is not None:
        where = ".".join(str(p) for p in wrong.absolute_path)
        raise ApiError(400, "invalid_request", f"{where}: {wrong.message}" if where else wrong.message)
    return body


def _authorized(request: HttpRequest, operation: Operation) -> ApiToken:
    try:
        token = tokens.authenticate(request.headers.get("Authorization", ""))
    except tokens.Unauthorized as refused:
        raise ApiError(401, "unauthorized", str(refused), headers={"WWW-Authenticate": 'Bearer realm="cmsf"'}) from None
    now = timezone.now()
    wait = tokens.take_call(token, now)
    if wait is not None:
        raise ApiError(429, "rate_limited", f"this token makes at most {token.rate_per_minute} calls a minute: "
                       f"try again in {wait} seconds", headers={"Retry-After": str(wait)})  # fmt: skip
    return token


def _allowed(token: ApiToken, operation: Operation) -> None:
    if operation.scope not in token.scopes:
        raise ApiError(403, "missing_scope", f"this token lacks the scope {operation.scope} "
                       f"(it has: {', '.join(token.scopes)})")  # fmt: skip
    plan = features(timezone.now())
    if not plan.flow_actions:
        raise ApiError(403, "plan", f"Salesforce Flow actions are in the Enterprise plan; this installation is on "
                       f"{plan.plan.label}: choose Enterprise under Billing")  # fmt: skip


def respond(request: HttpRequest, operation: Operation, handler: Handler, arguments: dict[str, Any]) -> HttpResponse:
    """Run one call of the operation: checks, the handler, the answer; logged, and audited when a token was
    known (a call refused for the rate limit is logged only, so that a flood does not flood the audit log)."""
    token: ApiToken | None = None
    audited: dict[str, Any] = {}
    try:
        token = _authorized(request, operation)
        _allowed(token, operation)
        body = read_body(request, operation.request) if operation.request else {}
        answer = handler(Call(token, body, arguments))
        response: HttpResponse = JsonResponse(answer.body, status=answer.status, safe=False)
        audited = answer.audited
    except ApiError as refused:
        response = error(refused.status, refused.code, refused.message, refused.headers)
        audited = {"refused": refused.code, "reason": refused.message}
    except Exception as failure:  # logged with its traceback and audited; the caller gets JSON, not a page
        log.exception("%s %s failed", request.method, request.path)
        response = error(500, "internal_error", "cmsf failed to answer: the administrator finds why in its log")
        audited = {"refused": "internal_error", "reason": type(failure).__name__}
    name = token.name if token is not None else "-"
    log.info("%s %s %s token=%s", request.method, request.path, response.status_code, name)
    if token is not None and response.status_code != 429:
        audit(actor=token.actor, section=tokens.SECTION, action=f"API: {operation.summary}", before={},
              after={"operation": operation.operation_id, "status": response.status_code, **audited})  # fmt: skip
    return response
