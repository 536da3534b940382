"""`cmsf check --deploy`: Django's deployment checks and cmsf's own, as lines an operator can act on. An empty list
means the installation is ready to face the internet as docs/security.md describes."""

from __future__ import annotations

import stat
from pathlib import Path

from django.conf import settings
from django.core import checks

# Django's warnings that cmsf answers with one setting of its own: said once, as CMSF_HTTPS, when it is off.
_HTTPS_ONES = {"security.W004", "security.W008", "security.W012", "security.W016"}
_SAID_BY_CMSF = {
    "security.W018",  # DEBUG: said as CMSF_DEBUG below
    # HSTS preload: asks the browsers' makers to list the domain, a choice for whoever owns the whole domain, not
    # for one service on it; cmsf sends HSTS with includeSubDomains under CMSF_HTTPS.
    "security.W021",
}
_NOT_SECRET = {"static"}  # the collected static files: public by nature


def problems(*, database_ready: bool) -> list[str]:
    """Every warning, one line each: Django's deployment checks, then cmsf's."""
    found = settings_problems() + key_problems() + mode_problems(settings.DATA_DIR)
    if database_ready:
        found += public_url_problems()
    else:
        found.append("cmsf.database: the database is not set up: run `cmsf init`")
    return found


def settings_problems() -> list[str]:
    """Django's deployment checks and cmsf's settings (HTTPS, debug, proxies)."""
    found = [
        f"{message.id}: {message.msg}" + (f" ({message.hint})" if message.hint else "")
        for message in checks.run_checks(include_deployment_checks=True)
        if message.level >= checks.WARNING and message.id not in _HTTPS_ONES | _SAID_BY_CMSF
    ]
    if not settings.CMSF_HTTPS:
        found.append(
            "cmsf.https: CMSF_HTTPS is off: set CMSF_HTTPS=true when the console is served over HTTPS (TLS at a reverse "
            "proxy), for secure cookies, the redirect to HTTPS and HSTS"
        )
    if settings.DEBUG:
        found.append("cmsf.debug: CMSF_DEBUG is on: it shows tracebacks and settings to anyone; turn it off")
    if (settings.CMSF_BEHIND_PROXY or settings.CMSF_HTTPS) and not settings.CMSF_TRUSTED_PROXIES:
        found.append(
            "cmsf.proxies: CMSF_TRUSTED_PROXIES is empty: behind a reverse proxy (and for CMSF_HTTPS, since `cmsf "
            "serve` speaks plain HTTP), name the proxy's address so that its X-Forwarded-For and X-Forwarded-Proto "
            "are believed"
        )
    found += _metrics_token(settings.CMSF_METRICS_TOKEN)
    return found


METRICS_TOKEN_MIN = 32  # characters of CMSF_METRICS_TOKEN: the one credential of /metrics, guessed online


def _metrics_token(token: str) -> list[str]:
    if token and len(token) < METRICS_TOKEN_MIN:
        return [
            f"cmsf.metrics: CMSF_METRICS_TOKEN is {len(token)} characters long: use at least {METRICS_TOKEN_MIN} "
            "random ones (python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
        ]
    return []


def key_problems() -> list[str]:
    from cmsf.lib.keys import EncryptionKeyError, load_encryption_key

    try:
        load_encryption_key(settings.CMSF_ENCRYPTION_KEY, settings.CMSF_ENCRYPTION_KEY_FILE)
    except EncryptionKeyError as error:
        return [f"cmsf.keys: {error}"]
    return []


def mode_problems(data_dir: Path) -> list[str]:
    """The data folder and what it holds (but the public static files) readable by their owner only."""
    found = []
    if not data_dir.is_dir():
        return [f"cmsf.modes: the data folder {data_dir} does not exist: run `cmsf init`"]
    paths = [data_dir, *(p for p in sorted(data_dir.rglob("*")) if p.relative_to(data_dir).parts[0] not in _NOT_SECRET)]
    for path in paths:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & 0o077:
            wanted = 0o700 if path.is_dir() else 0o600
            found.append(f"cmsf.modes: {path} is {mode:04o}: make it {wanted:04o} (readable by cmsf's user only)")
    return found


def public_url_problems() -> list[str]:
    from cmsf.sync.models import SyncSettings

    url = SyncSettings.load().public_url
    if url and not url.startswith("https://"):
        return [f"cmsf.public_url: the public URL {url} is not https: Campaign Monitor would post webhooks in clear"]
    return []
