"""API tokens: made (the token shown once, its SHA-256 kept), listed, revoked, found from an Authorization header,
and their rate limit counted. Every change is audited in the same transaction.

A token is `cmsf_` and 43 URL-safe characters (32 random bytes): the prefix lets the logs' filter
(`lib.redact`) and a secret scanner find one."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from cmsf.api.models import DEFAULT_RATE_PER_MINUTE, ApiToken, RateWindow
from cmsf.maintenance.services import audit

SECTION = "api"  # the audit log's section of the HTTP API (its tokens and its calls)
TOKEN_PREFIX = "cmsf_"
SCOPES = tuple(ApiToken.Scope.values)
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,79}$")
MAX_RATE = 10_000
_TOKEN = re.compile(rf"^{TOKEN_PREFIX}[A-Za-z0-9_-]{{43}}$")
KEEP_WINDOWS = timedelta(hours=1)


class TokenError(Exception):
    """A token that cannot be made or revoked, with the reason for people to read."""


class Unauthorized(Exception):
    """No token, a token cmsf did not make, or a revoked one."""


@dataclass(frozen=True)
class Made:
    token: ApiToken
    secret: str  # shown once, kept nowhere


def hashed(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_name(name: str) -> str:
    name = name.strip()
    if not NAME.match(name):
        raise TokenError("a token's name is 1 to 80 letters, digits, spaces, dots, dashes or underscores")
    return name


def check_scopes(scopes: list[str]) -> list[str]:
    if not scopes:
        raise TokenError(f"give a token at least one scope: {', '.join(SCOPES)}")
    wrong = sorted(set(scopes) - set(SCOPES))
    if wrong:
        raise TokenError(f"{', '.join(wrong)}: not a scope (the scopes: {', '.join(SCOPES)})")
    return [s for s in SCOPES if s in scopes]


def check_rate(rate: int) -> int:
    if not 1 <= rate <= MAX_RATE:
        raise TokenError(f"a rate limit is from 1 to {MAX_RATE:,} calls a minute")
    return rate


def create(name: str, *, scopes: list[str], rate_per_minute: int = DEFAULT_RATE_PER_MINUTE, actor: str) -> Made:
    """Make a token; its secret is in the answer and nowhere else."""
    name, scopes, rate_per_minute = check_name(name), check_scopes(scopes), check_rate(rate_per_minute)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        if ApiToken.objects.filter(name__iexact=name).exists():
            raise TokenError(f"a token named {name!r} exists already: choose another name, or revoke it first")
        token = ApiToken.objects.create(
            name=name,
            secret_sha256=hashed(secret),
            prefix=secret[: len(TOKEN_PREFIX) + 4],
            scopes=scopes,
            rate_per_minute=rate_per_minute,
            created_at=timezone.now(),
            created_by=actor,
        )
        audit(actor=actor, section=SECTION, action="Create an API token", before={},
              after={"name": name, "scopes": scopes, "rate_per_minute": rate_per_minute})  # fmt: skip
    return Made(token, secret)


def tokens() -> list[ApiToken]:
    """Every token, the revoked ones too (newest revoked last)."""
    return list(ApiToken.objects.order_by(F("revoked_at").asc(nulls_first=True), "name"))


def revoke(name: str, *, actor: str) -> ApiToken:
    """Revoke the token of that name (its calls get 401 from now on)."""
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().filter(name__iexact=name.strip()).first()
        if token is None:
            names = ", ".join(ApiToken.objects.filter(revoked_at=None).values_list("name", flat=True)) or "none"
            raise TokenError(f"no token is named {name!r} (the tokens in use: {names})")
        if token.revoked_at is not None:
            raise TokenError(f"the token {token.name!r} was revoked already")
        token.revoked_at, token.revoked_by = timezone.now(), actor
        token.save(update_fields=["revoked_at", "revoked_by"])
        audit(actor=actor, section=SECTION, action="Revoke an API token", before={"name": token.name,
              "revoked": False}, after={"name": token.name, "revoked": True})  # fmt: skip
    return token


def authenticate(authorization: str) -> ApiToken:
    """The token an `Authorization: Bearer ...` header carries; `Unauthorized` with the reason otherwise."""
    scheme, _, secret = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthorized("send the token as Authorization: Bearer <token>")
    secret = secret.strip()
    if not _TOKEN.match(secret):
        raise Unauthorized("the token is not a cmsf API token")
    token = ApiToken.objects.filter(secret_sha256=hashed(secret)).first()
    if token is None:
        raise Unauthorized("the token is not a cmsf API token")
    if token.revoked_at is not None:
        raise Unauthorized("the token was revoked")
    return token


def take_call(token: ApiToken, now: datetime) -> int | None:
    """Count one call in the token's current minute; None when it is within the limit, or the seconds until the
    next minute when it is not. The count is one row per token and minute, bumped in the database, so that every
    process shares it."""
    minute = now.replace(second=0, microsecond=0)
    bumped = RateWindow.objects.filter(token=token, minute=minute).update(calls=F("calls") + 1)
    if not bumped:
        try:
            with transaction.atomic():
                RateWindow.objects.create(token=token, minute=minute, calls=1)
        except IntegrityError:  # another process made the minute's row first
            RateWindow.objects.filter(token=token, minute=minute).update(calls=F("calls") + 1)
        RateWindow.objects.filter(minute__lt=now - KEEP_WINDOWS).delete()
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    calls = RateWindow.objects.filter(token=token, minute=minute).values_list("calls", flat=True).get()
    if calls <= token.rate_per_minute:
        return None
    return max(1, 60 - now.second)
