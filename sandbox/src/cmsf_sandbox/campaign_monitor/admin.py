"""Admin routes (no Campaign Monitor auth, under /admin): advance the world's clock, read the manifest,
expire or revoke OAuth tokens, register a redirect URI of the OAuth app, count API calls, switch the fault profile,
switch transactional email on the plan and list the transactional messages sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cmsf_sandbox.campaign_monitor.common import Reply, as_text, bad_request, fmt, ok
from cmsf_sandbox.campaign_monitor.faults import PROFILES
from cmsf_sandbox.campaign_monitor.oauth import OAuthError
from cmsf_sandbox.campaign_monitor.state import Emulator
from cmsf_sandbox.campaign_monitor.webhooks import deactivate_event, subscribe_event, update_event
from cmsf_sandbox.campaign_monitor.world import MessageRecord

SIMULATED_SIGNUP_IP = "TypeManual"

Snapshot = dict[str, dict[str, tuple[str, str, tuple[tuple[str, str], ...]]]]


def _snapshot(em: Emulator) -> Snapshot:
    """Subscribers of the lists with an active webhook, to report what an advance changed."""
    return {
        lst.list_id: {key: (s.state, s.name, tuple(s.custom_fields)) for key, s in lst.subscribers.items()}
        for lst in em.world.lists.values()
        if any(w.status == "Active" for w in lst.webhooks.values())
    }


def _emit_changes(em: Emulator, before: Snapshot) -> None:
    for list_id, old in before.items():
        lst = em.world.lists.get(list_id)
        if lst is None:
            continue
        for key, s in lst.subscribers.items():
            was = old.get(key)
            active, was_active = s.state == "Active", was is not None and was[0] in ("Active", "Unconfirmed")
            if active and (was is None or was[0] != "Active"):
                em.webhooks.emit(lst, subscribe_event(s, fmt(s.date), SIMULATED_SIGNUP_IP))
            elif was_active and s.state in ("Unsubscribed", "Bounced", "Deleted"):
                em.webhooks.emit(lst, deactivate_event(s, fmt(s.date)))
            elif was is not None and was[0] == s.state and (was[1], was[2]) != (s.name, tuple(s.custom_fields)):
                em.webhooks.emit(lst, update_event(s, fmt(s.date), s.email))


def _moment(value: Any, default: datetime) -> datetime:
    if value in (None, ""):
        return default
    try:
        moment = datetime.fromisoformat(as_text(value).strip())
    except ValueError:
        raise bad_request(400, "until must be an ISO-8601 date and time") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def advance(em: Emulator, body: dict[str, Any]) -> Reply:
    """Let the simulated account live on until `until` (default now; never past now). `forward_seconds` first moves
    the emulator's clock forward that much (for good: every later answer is as of the new time), so that a test can
    see what an hour brings (transactional messages delivered, opened, clicked) without waiting for it."""
    from cmsf_sandbox import dataset  # the generator is only needed here

    forward = body.get("forward_seconds")
    if forward not in (None, ""):
        try:
            seconds = float(as_text(forward))
        except ValueError:
            seconds = -1.0
        if not 0 <= seconds <= 366 * 86400:
            raise bad_request(400, "forward_seconds must be a number of seconds from 0 to a year")
        em.offset += timedelta(seconds=seconds)
    now = em.now_utc()
    until = min(_moment(body.get("until"), now), now)
    with em.world.lock:
        before = _snapshot(em)
        counts = dataset.advance_world(em.world, until, now=now)
        em.invalidate()
        _emit_changes(em, before)
        generated_until = em.world.generated_until
    return ok({**counts, "generated_until": generated_until.isoformat()})


def manifest(em: Emulator, body: dict[str, Any]) -> Reply:
    from cmsf_sandbox import dataset

    with em.world.lock:
        return ok(dataset.manifest(em.world))


def oauth_expire(em: Emulator, body: dict[str, Any]) -> Reply:
    return ok({"expired": em.oauth.expire_all(em.now_utc())})


def oauth_redirect_uris(em: Emulator, body: dict[str, Any]) -> Reply:
    """Register a redirect URI of the OAuth app {"url": ...} (the console's Campaign Monitor callback)."""
    try:
        return ok({"redirect_uris": em.oauth.add_redirect_uri(as_text(body.get("url", "")).strip())})
    except OAuthError as error:
        raise bad_request(400, error.description) from None


def oauth_revoke(em: Emulator, body: dict[str, Any]) -> Reply:
    return ok({"revoked": em.oauth.revoke_all()})


def calls(em: Emulator, body: dict[str, Any]) -> Reply:
    counts = dict(sorted(em.calls.items()))
    return ok({"calls": counts, "total": sum(counts.values()), "since": em.calls_since.isoformat()})


def calls_reset(em: Emulator, body: dict[str, Any]) -> Reply:
    reply = calls(em, body)
    em.calls.clear()
    em.calls_since = em.now_utc()
    return reply


def get_faults(em: Emulator, body: dict[str, Any]) -> Reply:
    return ok({"profile": em.faults.profile, "profiles": list(PROFILES)})


def set_faults(em: Emulator, body: dict[str, Any]) -> Reply:
    profile = as_text(body.get("profile")).strip().lower()
    if profile not in PROFILES:
        raise bad_request(400, f"profile must be one of {', '.join(PROFILES)}")
    em.faults.set_profile(profile)
    return get_faults(em, body)


def _message_item(em: Emulator, message: MessageRecord) -> dict[str, Any]:
    return {
        "message_id": message.message_id,
        "client_id": message.client_id,
        "smart_email_id": message.smart_email_id,
        "group": message.group,
        "recipient": message.recipient,
        "subject": message.subject,
        "data": message.data,
        "consent_to_track": message.consent_to_track,
        "sent_at": message.sent_at.isoformat(),
        "status": message.status,
        "opens": len(message.opens),
        "clicks": len(message.clicks),
        "resent_from": message.resent_from,
    }


def transactional_messages(em: Emulator, body: dict[str, Any]) -> Reply:
    """Every transactional message sent (oldest first), as the emulator recorded it."""
    with em.world.lock:
        return ok({"messages": [_message_item(em, m) for m in em.world.messages.values()]})


def get_transactional(em: Emulator, body: dict[str, Any]) -> Reply:
    world = em.world
    return ok({"enabled": world.transactional, "disabled_clients": sorted(world.transactional_off)})


def set_transactional(em: Emulator, body: dict[str, Any]) -> Reply:
    """Whether the plan includes transactional email (code 980 when not): {"enabled": bool} for the account, with
    "client_id" for one client."""
    enabled = body.get("enabled")
    if not isinstance(enabled, bool):
        raise bad_request(400, "enabled must be true or false")
    client_id = as_text(body.get("client_id")).strip()
    with em.world.lock:
        if not client_id:
            em.world.transactional = enabled
        elif client_id not in em.world.clients:
            raise bad_request(400, f"no client {client_id}")
        elif enabled:
            em.world.transactional_off.discard(client_id)
        else:
            em.world.transactional_off.add(client_id)
    return get_transactional(em, body)


ROUTES = [
    ("POST", "/admin/advance", advance),
    ("GET", "/admin/manifest", manifest),
    ("POST", "/admin/oauth/expire", oauth_expire),
    ("POST", "/admin/oauth/revoke", oauth_revoke),
    ("POST", "/admin/oauth/redirect-uris", oauth_redirect_uris),
    ("GET", "/admin/calls", calls),
    ("POST", "/admin/calls/reset", calls_reset),
    ("GET", "/admin/faults", get_faults),
    ("POST", "/admin/faults", set_faults),
    ("GET", "/admin/transactional", get_transactional),
    ("POST", "/admin/transactional", set_transactional),
    ("GET", "/admin/transactional/messages", transactional_messages),
]
