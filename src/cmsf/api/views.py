"""The API's views: each one checks nothing itself (`http.respond` does, from the operation's declaration) and calls
one service of a domain app; the URL conf is built from `operations.OPERATIONS`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import URLPattern, path, re_path
from django.views.decorators.csrf import csrf_exempt

from cmsf.api.http import Answer, ApiError, Call, Handler, error, respond
from cmsf.api.operations import OPERATIONS, PREFIX, Operation, document
from cmsf.audience import tasks as audience_tasks
from cmsf.audience.models import ImportRun, ImportWizard
from cmsf.campaign_monitor.errors import CampaignMonitorError, FatalError
from cmsf.connections.services import NotConnected
from cmsf.salesforce.errors import SalesforceError
from cmsf.sync import smart_emails, subscribers
from cmsf.sync.outbound import Refused, TriggersDisabled

HANDLERS: dict[str, Handler] = {}


def handles(operation_id: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        HANDLERS[operation_id] = handler
        return handler

    return register


def _pushing(call: Callable[[], Any]) -> Any:
    """A change in Campaign Monitor through the outbound gate: its refusals as the API says them."""
    try:
        return call()
    except ValueError as wrong:
        raise ApiError(400, "invalid_request", str(wrong)) from None
    except Refused as refused:
        raise ApiError(422, "refused", str(refused)) from None
    except subscribers.UnknownList as unknown:
        raise ApiError(422, "unknown_list", str(unknown)) from None
    except TriggersDisabled as disabled:
        raise ApiError(409, "triggers_disabled", f"{disabled} (General Options)") from None
    except NotConnected as missing:
        raise ApiError(503, "not_connected", str(missing)) from None
    except FatalError as refused:
        raise ApiError(422, "campaign_monitor_refused", f"Campaign Monitor refused: {refused}") from None
    except CampaignMonitorError as failed:
        raise ApiError(503, "campaign_monitor_unavailable", f"Campaign Monitor: {failed}") from None
    except SalesforceError as failed:
        raise ApiError(503, "salesforce_unavailable", f"Salesforce: {failed}") from None


_SEND_CODES = {403: "not_allowed", 404: "not_found", 503: "unavailable"}


def _sending(call: Callable[[], Any]) -> Any:
    """A smart email listed or sent: the service's refusals, with Campaign Monitor's code when it has one."""
    try:
        return call()
    except smart_emails.SendRefused as refused:
        code = str(refused.code) if refused.code is not None else _SEND_CODES.get(refused.http_status, "refused")
        raise ApiError(refused.http_status, code, refused.message) from None
    except CampaignMonitorError as failed:
        raise ApiError(503, "campaign_monitor_unavailable", f"Campaign Monitor: {failed}") from None


@handles("listSmartEmails")
def list_smart_emails(call: Call) -> Answer:
    found = _sending(smart_emails.smart_emails)
    body = [{"id": e.id, "name": e.name, "status": e.status, "client": e.client_name} for e in found]
    return Answer(200, body, {"smart_emails": len(body)})


@handles("sendSmartEmail")
def send_smart_email(call: Call) -> Answer:
    body = call.body
    sent = _sending(
        lambda: smart_emails.send_smart_email(
            call.arguments["id"],
            to=body["to"],
            data=body.get("data"),
            consent_to_track=body.get("consent_to_track", "Unchanged"),
            add_recipients_to_list=body.get("add_recipients_to_list", False),
            related_record_id=body.get("related_record_id") or None,
            actor=call.token.actor,
        )
    )
    messages = [{"message_id": m.message_id, "recipient": m.recipient, "status": m.status} for m in sent]
    audited = {"smart_email_id": call.arguments["id"], "messages": [m["message_id"] for m in messages]}
    return Answer(202, {"messages": messages}, audited)


@handles("addSubscriber")
def add_subscriber(call: Call) -> Answer:
    body = call.body
    outcome = _pushing(
        lambda: subscribers.subscribe(
            list_id=body["list_id"],
            email=body["email"],
            name=body.get("name", ""),
            custom_fields=body.get("custom_fields", {}),
            consent_to_track=body.get("consent_to_track", "Unchanged"),
            resubscribe=body.get("resubscribe", False),
            because=f"asked through the {call.token.actor}",
        )
    )
    answer = {"list_id": body["list_id"], "email": body["email"].strip(), "outcome": outcome}
    return Answer(201 if outcome == "added" else 200, answer, {"list": body["list_id"], "outcome": outcome})


@handles("unsubscribe")
def unsubscribe(call: Call) -> Answer:
    body = call.body
    done = _pushing(
        lambda: subscribers.unsubscribe(
            email=body["email"], list_id=body.get("list_id"), because=f"asked through the {call.token.actor}"
        )
    )
    return Answer(200, {"email": body["email"].strip(), "lists": done.lists}, {"lists": done.lists})


@handles("runImportWizard")
def run_import_wizard(call: Call) -> Answer:
    name = call.arguments["name"]
    wizard = ImportWizard.objects.filter(name=name).first()
    if wizard is None:
        raise ApiError(404, "not_found", f"no import wizard is named {name!r}")
    try:
        run = audience_tasks.queue_run(wizard, trigger=ImportRun.Trigger.API)
    except audience_tasks.RemovesSubscribers as refused:
        raise ApiError(409, "removes_subscribers", str(refused)) from None
    return Answer(202, {"id": run.pk, "wizard": wizard.name, "status": run.status}, {"wizard": wizard.name,
                  "run": run.pk})  # fmt: skip


@handles("getImportRun")
def get_import_run(call: Call) -> Answer:
    run = ImportRun.objects.select_related("wizard").filter(pk=call.arguments["id"]).first()
    if run is None:
        raise ApiError(404, "not_found", f"no import run has the id {call.arguments['id']}")
    return Answer(200, run_body(run), {"run": run.pk})


def run_body(run: ImportRun) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": run.pk,
        "wizard": run.wizard.name,
        "status": run.status,
        "trigger": run.trigger,
        "dry_run": run.dry_run,
        "started_at": run.started_at.isoformat(),
        "message": run.message,
        "counts": {
            "read": run.read,
            "duplicates": run.duplicates,
            "imported": run.imported,
            "new": run.new,
            "resubscribed": run.resubscribed,
            "removed": run.removed,
            "failed": run.failed,
        },
        "refused": [{"reason": reason, "count": count} for reason, count in sorted(run.refused.items())],
        "problems": [{"key": str(p.get("key", "")), "reason": str(p.get("reason", ""))} for p in run.problems],
    }
    if run.finished_at is not None:
        body["finished_at"] = run.finished_at.isoformat()
    return body


def openapi(request: HttpRequest) -> HttpResponse:
    """The OpenAPI document (public: it holds nothing secret, and External Services reads it to register cmsf)."""
    if request.method != "GET":
        return error(405, "method_not_allowed", "GET the OpenAPI document", {"Allow": "GET"})
    return JsonResponse(document(request.build_absolute_uri("/").rstrip("/")))


def not_found(request: HttpRequest, rest: str = "") -> HttpResponse:
    return error(404, "not_found", f"the API has no {request.path} (its operations: {PREFIX}/openapi.json)")


def _view(operations: list[Operation]) -> Callable[..., HttpResponse]:
    """One view for a path: the operation of the request's method, or 405."""
    by_method = {o.method: o for o in operations}

    @csrf_exempt
    def view(request: HttpRequest, **arguments: Any) -> HttpResponse:
        operation = by_method.get(request.method or "")
        if operation is None:
            allowed = ", ".join(sorted(by_method))
            return error(405, "method_not_allowed", f"{request.path} takes {allowed}", {"Allow": allowed})
        return respond(request, operation, HANDLERS[operation.operation_id], arguments)

    return view


def _urlpatterns() -> list[URLPattern]:
    missing = {o.operation_id for o in OPERATIONS} - set(HANDLERS)
    if missing:
        raise RuntimeError(f"operations without a handler: {', '.join(sorted(missing))}")
    routes: dict[str, list[Operation]] = {}
    for operation in OPERATIONS:
        routes.setdefault(operation.django_route, []).append(operation)
    patterns = [path(route, _view(ops), name=ops[0].operation_id) for route, ops in routes.items()]
    return [
        path("openapi.json", csrf_exempt(openapi), name="openapi"),
        *patterns,
        re_path(r"^(?P<rest>.*)$", csrf_exempt(not_found), name="not_found"),
    ]


app_name = "api"
urlpatterns = _urlpatterns()
