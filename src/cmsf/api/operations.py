"""Every endpoint of the API, declared once: its method and path, the scope its token needs, its request and response
schemas. The views check requests against these schemas, the URL conf is built from the paths, and
`/api/v1/openapi.json` is this declaration as an OpenAPI 3.0 document, kept to what Salesforce External Services
reads: JSON bodies only, no oneOf, anyOf or allOf, an operationId on every operation, and named schemas under
components/schemas."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from cmsf.api.models import ApiToken

PREFIX = "/api/v1"
VERSION = "1.0.0"

Schema = dict[str, Any]


def _text(description: str, *, max_length: int, min_length: int = 0, **more: Any) -> Schema:
    schema: Schema = {"type": "string", "description": description, "maxLength": max_length, **more}
    if min_length:
        schema["minLength"] = min_length
    return schema


def _count(description: str) -> Schema:
    return {"type": "integer", "format": "int32", "minimum": 0, "description": description}


CONSENT = ["Yes", "No", "Unchanged"]
RUN_STATUSES = ["queued", "running", "succeeded", "partial", "failed"]

SCHEMAS: dict[str, Schema] = {
    "Error": {
        "type": "object",
        "description": "What went wrong: a stable code and a sentence for people.",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "description": "invalid_request, unauthorized, missing_scope, ..."},
                    "message": {"type": "string"},
                },
            }
        },
    },
    "SubscriberRequest": {
        "type": "object",
        "description": "A subscriber to add to a list, or to update when the list has it.",
        "required": ["list_id", "email"],
        "additionalProperties": False,
        "properties": {
            "list_id": _text(
                "The Campaign Monitor list id (a list of a client cmsf syncs).", max_length=64, min_length=1
            ),
            "email": _text("The subscriber's email address.", max_length=254, min_length=3),
            "name": _text("The subscriber's name.", max_length=255),
            "custom_fields": {
                "type": "object",
                "description": 'Custom field values by key, such as {"[Title]": "Dr"}.',
                "maxProperties": 100,
                "additionalProperties": {"type": "string", "maxLength": 1000},
            },
            "resubscribe": {
                "type": "boolean",
                "default": False,
                "description": "Bring back a subscriber who unsubscribed or was deleted (never a bounced one).",
            },
            "consent_to_track": {"type": "string", "enum": CONSENT, "default": "Unchanged"},
        },
    },
    "SubscriberResult": {
        "type": "object",
        "required": ["list_id", "email", "outcome"],
        "properties": {
            "list_id": {"type": "string"},
            "email": {"type": "string"},
            "outcome": {"type": "string", "enum": ["added", "updated", "resubscribed"]},
        },
    },
    "UnsubscribeRequest": {
        "type": "object",
        "description": "An address to unsubscribe from one list, or from every list of the clients cmsf syncs.",
        "required": ["email"],
        "additionalProperties": False,
        "properties": {
            "email": _text("The subscriber's email address.", max_length=254, min_length=3),
            "list_id": _text(
                "One list; without it, every list where the address is active.", max_length=64, min_length=1
            ),
        },
    },
    "UnsubscribeResult": {
        "type": "object",
        "required": ["email", "lists"],
        "properties": {
            "email": {"type": "string"},
            "lists": {"type": "array", "items": {"type": "string"}, "description": "The lists unsubscribed from."},
        },
    },
    "SmartEmail": {
        "type": "object",
        "description": "A smart (transactional) email of a Campaign Monitor client cmsf syncs.",
        "required": ["id", "name", "status", "client"],
        "properties": {
            "id": {"type": "string", "description": "Its id: the one sendSmartEmail takes."},
            "name": {"type": "string"},
            "status": {"type": "string", "description": "active or draft: a draft cannot be sent."},
            "client": {"type": "string", "description": "The Campaign Monitor client's name."},
        },
    },
    "SmartEmailList": {
        "type": "array",
        "description": "The smart emails of the clients cmsf syncs, by client then name.",
        "items": {"$ref": "#/components/schemas/SmartEmail"},
    },
    "SendRequest": {
        "type": "object",
        "description": "A send of a smart email: to whom, with what data, and the Salesforce record it is for.",
        "required": ["to"],
        "additionalProperties": False,
        "properties": {
            "to": {
                "type": "array",
                "description": 'Recipients as "Name <email>" or an address: 1 to 25 (Campaign Monitor\'s limit).',
                "minItems": 1,
                "maxItems": 100,  # Campaign Monitor's limit (25) is the service's, said with its code 954
                "items": {"type": "string", "maxLength": 512},
            },
            "data": {
                "type": "object",
                "description": 'The smart email\'s variables by name, such as {"firstname": "Ada"} (100 KB at most).',
                "additionalProperties": {"type": "string"},
            },
            "consent_to_track": {"type": "string", "enum": CONSENT, "default": "Unchanged"},
            "add_recipients_to_list": {
                "type": "boolean",
                "default": False,
                "description": "Add the recipients to the list the smart email names.",
            },
            "related_record_id": _text(
                "The Salesforce record the send is for (a contact, a lead, a case...): its Task goes there; "
                "without it, on the contact or lead with the address.",
                max_length=18,
            ),
        },
    },
    "SentMessage": {
        "type": "object",
        "required": ["message_id", "recipient", "status"],
        "properties": {
            "message_id": {"type": "string", "description": "Campaign Monitor's message id (on the Task too)."},
            "recipient": {"type": "string"},
            "status": {"type": "string", "description": "Campaign Monitor's: Received, Accepted..."},
        },
    },
    "SendResult": {
        "type": "object",
        "required": ["messages"],
        "properties": {
            "messages": {"type": "array", "items": {"$ref": "#/components/schemas/SentMessage"}},
        },
    },
    "RunQueued": {
        "type": "object",
        "required": ["id", "wizard", "status"],
        "properties": {
            "id": {"type": "integer", "format": "int64", "description": "Read it with getImportRun."},
            "wizard": {"type": "string"},
            "status": {"type": "string", "enum": RUN_STATUSES},
        },
    },
    "ImportRun": {
        "type": "object",
        "required": ["id", "wizard", "status", "trigger", "dry_run", "started_at", "counts", "refused", "problems"],
        "properties": {
            "id": {"type": "integer", "format": "int64"},
            "wizard": {"type": "string"},
            "status": {"type": "string", "enum": RUN_STATUSES},
            "trigger": {"type": "string"},
            "dry_run": {"type": "boolean"},
            "started_at": {"type": "string", "format": "date-time"},
            "finished_at": {"type": "string", "format": "date-time", "description": "Absent while it runs."},
            "message": {"type": "string"},
            "counts": {
                "type": "object",
                "required": ["read", "duplicates", "imported", "new", "resubscribed", "removed", "failed"],
                "properties": {
                    "read": _count("Records read from Salesforce."),
                    "duplicates": _count("Records whose address an earlier record had."),
                    "imported": _count("Subscribers Campaign Monitor accepted (new and existing)."),
                    "new": _count("New subscribers."),
                    "resubscribed": _count("Subscribers brought back."),
                    "removed": _count("Subscribers deleted (a Remove wizard)."),
                    "failed": _count("Records Campaign Monitor or the transform refused."),
                },
            },
            "refused": {
                "type": "array",
                "description": "The records the rules kept out, by reason.",
                "items": {
                    "type": "object",
                    "required": ["reason", "count"],
                    "properties": {"reason": {"type": "string"}, "count": _count("Records.")},
                },
            },
            "problems": {
                "type": "array",
                "description": "Each record refused, with its key and the reason (the first 500).",
                "items": {
                    "type": "object",
                    "required": ["key", "reason"],
                    "properties": {"key": {"type": "string"}, "reason": {"type": "string"}},
                },
            },
        },
    },
}


def validator_schema(name: str) -> Schema:
    """The named schema as a document of its own, in which `#/components/schemas/...` references resolve."""
    return {"$ref": f"#/components/schemas/{name}", "components": {"schemas": SCHEMAS}}


@dataclass(frozen=True)
class Parameter:
    name: str
    kind: str  # "string" or "integer"
    description: str

    @property
    def converter(self) -> str:
        return "int" if self.kind == "integer" else "str"


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str  # GET or POST
    path: str  # under PREFIX, OpenAPI's template: /runs/{id}
    summary: str  # also the audit log's action
    scope: str
    responses: dict[int, tuple[str, str]]  # status -> (description, schema)
    request: str | None = None  # the schema of the JSON body
    parameters: tuple[Parameter, ...] = ()

    @property
    def django_route(self) -> str:
        """The path as a Django route under the API's prefix: /runs/{id} -> runs/<int:id>."""
        by_name = {p.name: p for p in self.parameters}
        return re.sub(r"\{(\w+)\}", lambda m: f"<{by_name[m.group(1)].converter}:{m.group(1)}>", self.path[1:])


# Every operation may answer these too.
ERRORS: dict[int, str] = {
    400: "The request is not JSON of the declared shape, or Campaign Monitor's rules refuse it (their code).",
    401: "No token, or a wrong or revoked one.",
    403: "The token lacks the scope, or the plan lacks Flow actions.",
    413: "The body is larger than the API takes.",
    429: "The token's rate limit is reached: wait for Retry-After seconds.",
    503: "Campaign Monitor or Salesforce is not connected or not answering.",
}

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        operation_id="listSmartEmails",
        method="GET",
        path="/smart-emails",
        summary="List the smart emails",
        scope=ApiToken.Scope.SEND,
        responses={200: ("The smart emails of the clients cmsf syncs.", "SmartEmailList")},
    ),
    Operation(
        operation_id="sendSmartEmail",
        method="POST",
        path="/smart-emails/{id}/send",
        summary="Send a smart email",
        scope=ApiToken.Scope.SEND,
        request="SendRequest",
        parameters=(Parameter("id", "string", "The smart email's id, as listSmartEmails gives it."),),
        responses={
            202: ("Campaign Monitor took the messages; each is recorded as a Task in Salesforce.", "SendResult"),
            404: ("No client cmsf syncs has this smart email (Campaign Monitor's code 926).", "Error"),
        },
    ),
    Operation(
        operation_id="addSubscriber",
        method="POST",
        path="/subscribers",
        summary="Add or update a subscriber",
        scope=ApiToken.Scope.SUBSCRIBERS,
        request="SubscriberRequest",
        responses={
            200: ("The subscriber was updated or resubscribed.", "SubscriberResult"),
            201: ("The subscriber was added.", "SubscriberResult"),
            409: ("Disable triggers is on: cmsf sends nothing to Campaign Monitor.", "Error"),
            422: ("The rules refused (opted out, suppressed, forgotten, bounced) or the list is unknown.", "Error"),
        },
    ),
    Operation(
        operation_id="unsubscribe",
        method="POST",
        path="/subscribers/unsubscribe",
        summary="Unsubscribe an address",
        scope=ApiToken.Scope.SUBSCRIBERS,
        request="UnsubscribeRequest",
        responses={
            200: ("The address is unsubscribed from these lists.", "UnsubscribeResult"),
            409: ("Disable triggers is on: cmsf sends nothing to Campaign Monitor.", "Error"),
            422: ("The list is unknown.", "Error"),
        },
    ),
    Operation(
        operation_id="runImportWizard",
        method="POST",
        path="/import-wizards/{name}/run",
        summary="Run an import wizard",
        scope=ApiToken.Scope.IMPORTS,
        parameters=(Parameter("name", "string", "The import wizard's name."),),
        responses={
            202: ("The run is queued: read it with getImportRun.", "RunQueued"),
            404: ("No import wizard has this name.", "Error"),
            409: ("The wizard removes subscribers: it runs after its preview is checked.", "Error"),
        },
    ),
    Operation(
        operation_id="getImportRun",
        method="GET",
        path="/runs/{id}",
        summary="Read an import run",
        scope=ApiToken.Scope.IMPORTS,
        parameters=(Parameter("id", "integer", "The run's id, as runImportWizard answered."),),
        responses={
            200: ("The run: its status, counts and problems.", "ImportRun"),
            404: ("No import run has this id.", "Error"),
        },
    ),
)


def by_id(operation_id: str) -> Operation:
    return next(o for o in OPERATIONS if o.operation_id == operation_id)


def document(server: str) -> dict[str, Any]:
    """The OpenAPI 3.0 document of the API, served at `server` (the scheme and host cmsf is reached at)."""
    paths: dict[str, dict[str, Any]] = {}
    for operation in OPERATIONS:
        responses = {
            str(status): {
                "description": description,
                "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
            }
            for status, (description, schema) in sorted({**_errors(), **operation.responses}.items())
        }
        entry: dict[str, Any] = {
            "operationId": operation.operation_id,
            "summary": operation.summary,
            "description": f"Needs a token with the scope {operation.scope}.",
            "responses": responses,
        }
        if operation.parameters:
            entry["parameters"] = [
                {
                    "name": p.name,
                    "in": "path",
                    "required": True,
                    "description": p.description,
                    "schema": {"type": "integer", "format": "int64"} if p.kind == "integer" else {"type": "string"},
                }
                for p in operation.parameters
            ]
        if operation.request:
            entry["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{operation.request}"}}},
            }
        paths.setdefault(PREFIX + operation.path, {})[operation.method.lower()] = entry
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "cmsf",
            "version": VERSION,
            "description": "Actions for Salesforce Flows: send Campaign Monitor smart emails (each recorded as a Task), "
            "add, update and unsubscribe subscribers through cmsf's rules, and run import wizards. Every call needs a bearer token (cmsf api-token create) "
            "and is audited.",
        },
        "servers": [{"url": server}],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearerAuth": []}],
    }


def _errors() -> dict[int, tuple[str, str]]:
    return {status: (description, "Error") for status, description in ERRORS.items()}
