"""The address Campaign Monitor POSTs list webhooks to (public: the secret in the path is the credential). The
events are checked one by one and stored (a bad one quarantined alone), and their job queued; the answer comes at
once, so that Campaign Monitor does not time out."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from cmsf.campaign_monitor.api import WebhookBatchTooLarge
from cmsf.sync import tasks as sync_tasks
from cmsf.sync import webhooks


@csrf_exempt
@require_POST
def campaign_monitor(request: HttpRequest, secret: str) -> HttpResponse:
    limit = settings.CMSF_MAX_WEBHOOK_BODY_BYTES  # the server refuses a larger body first (project/limits.py)
    body = request.read(limit + 1)  # bounded here too, whatever Content-Length says
    if len(body) > limit:
        return JsonResponse({"error": f"the webhook payload is larger than {limit} bytes"}, status=413)
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
