"""Admin routes (no Campaign Monitor auth, under /admin): advance the world's clock, read the manifest,
expire or revoke OAuth tokens, register a redirect URI of the OAuth app, count API calls, switch the fault profile."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cmsf_sandbox.campaign_monitor.common import Reply, as_text, bad_request, fmt, ok
from cmsf_sandbox.campaign_monitor.faults import PROFILES
from cmsf_sandbox.campaign_monitor.oauth import OAuthError
from cmsf_sandbox.campaign_monitor.state import Emulator
from cmsf_sandbox.campaign_monitor.webhooks import deactivate_event, subscribe_event, update_event

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
    """Let the simulated account live on until `until` (default now; never past now)."""
    from cmsf_sandbox import dataset  # the generator is only needed here

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
]
