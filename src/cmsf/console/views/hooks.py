"""The address Campaign Monitor POSTs list webhooks to (public: the secret in the path is the credential). The
events are checked one by one and stored (a bad one quarantined alone), and their job queued; the answer comes at
once, so that Campaign Monitor does not time out."""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from cmsf.campaign_monitor.api import WEBHOOK_MAX_BYTES, WebhookBatchTooLarge
from cmsf.sync import tasks as sync_tasks
from cmsf.sync import webhooks


@csrf_exempt
@require_POST
def campaign_monitor(request: HttpRequest, secret: str) -> HttpResponse:
    body = request.read(WEBHOOK_MAX_BYTES + 1)  # bounded here, whatever Content-Length says
    try:
        received = webhooks.receive(secret, body)
    except webhooks.UnknownHook:
        return JsonResponse({"error": "not found"}, status=404)
    except WebhookBatchTooLarge as error:
        return JsonResponse({"error": str(error)}, status=413)
    except ValueError as error:
        return JsonResponse({"error": str(error)}, status=400)
    if received.added:
        transaction.on_commit(sync_tasks.apply_webhooks)
    return JsonResponse({"received": received.added, "refused": received.refused, "unwatched": received.unwatched})


urlpatterns = [
    path(f"{webhooks.HOOK_PATH}<str:secret>", campaign_monitor, name="campaign_monitor_webhook"),
]
