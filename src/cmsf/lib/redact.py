"""Secrets kept out of the access log: the webhook secret in `/hooks/campaign-monitor/<secret>` and the token of
an email history link (`?link=<token>`) are written `[redacted]`, so that reading a log does not let anyone post
webhook events or read a person's history. `cmsf serve` gives uvicorn its usual logging with this filter on
`uvicorn.access`, and the settings' LOGGING puts it on the handler of every other log (`django.request` names the
path of a refused webhook POST); the paths are spelled here because `lib` imports nothing of cmsf's (a test ties them to the
routes).

At every level, credentials in the shapes a library may print are redacted as well: an Authorization header's Basic
or Bearer value, an HTTP API token (`cmsf_` and 43 characters) wherever it is written, and the values of
`access_token`, `refresh_token`, `client_secret`, `password` and `api_key`. Above
DEBUG, every email address (plain, or percent-encoded in a URL) is written `[email]`: the people cmsf syncs are not
an operator's to read about in a log. `CMSF_LOG_FORMAT=json` writes each record as one JSON object a line
(`json_formatter`)."""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

REDACTED = "[redacted]"
EMAIL = "[email]"
_SECRETS = (
    re.compile(r"(/hooks/campaign-monitor/)[^/?#\s\"]+"),  # sync.webhooks.HOOK_PATH
    re.compile(r"([?&]link=)[^&#\s\"]+"),  # the email history link (console:storage_embed)
    re.compile(r"(\b(?:Bearer|Basic)\s+)[^\s\"',;\[\]]+", re.IGNORECASE),  # an Authorization header's value
    re.compile(r"(\bcmsf_)[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])"),  # an HTTP API token (cmsf.api.tokens), anywhere
    re.compile(
        r"""(\b(?:access_token|refresh_token|client_secret|password|api_?key)["']?\s*[=:]\s*["']?)[^\s&"',;}]+""",
        re.IGNORECASE,
    ),
)
# An address, or one percent-encoded in a URL (the email history link's `email=` parameter).
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+(?:@|%40)[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+")


def redact(text: str) -> str:
    for pattern in _SECRETS:
        text = pattern.sub(rf"\g<1>{REDACTED}", text)
    return text


def mask_emails(text: str) -> str:
    return _EMAIL.sub(EMAIL, text)


def _clean(text: str, *, emails: bool) -> str:
    text = redact(text)
    return mask_emails(text) if emails else text


class RedactSecrets(logging.Filter):
    """Redacts the message, its arguments, the traceback and the string fields given as `extra`; above DEBUG it
    masks email addresses as well. uvicorn's access formatter reads the request from the arguments, so there each
    string argument is redacted in place; elsewhere the message is formatted here and the result redacted (an
    exception given as an argument may hold an address)."""

    def filter(self, record: logging.LogRecord) -> bool:
        emails = record.levelno > logging.DEBUG
        if record.name == "uvicorn.access" or not record.args:
            if isinstance(record.msg, str):
                record.msg = _clean(record.msg, emails=emails)
            if isinstance(record.args, tuple):
                record.args = tuple(_clean(a, emails=emails) if isinstance(a, str) else a for a in record.args)
        else:
            try:
                record.msg, record.args = _clean(record.getMessage(), emails=emails), ()
            except (TypeError, ValueError):  # arguments that do not fit the message: logged as given, redacted
                record.msg = _clean(str(record.msg), emails=emails)
                record.args = tuple(_clean(str(a), emails=emails) for a in record.args)
        if record.exc_info:
            record.exc_text = _clean(logging.Formatter().formatException(record.exc_info), emails=emails)
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = _clean(record.exc_text, emails=emails)
        if record.stack_info:
            record.stack_info = _clean(record.stack_info, emails=emails)
        for name, value in list(vars(record).items()):
            if name not in _RECORD_FIELDS and isinstance(value, str):
                setattr(record, name, _clean(value, emails=emails))
        return True


_RECORD_FIELDS = frozenset([*vars(logging.LogRecord("", 0, "", 0, "", None, None)), "message", "asctime", "taskName"])


def json_formatter() -> dict[str, Any]:
    """The logging configuration of a formatter writing one JSON object a line: `time` (ISO 8601, UTC), `level`,
    `logger`, `message`, and the fields a record carries as `extra` (a run's counts: docs/logging.md)."""
    return {
        "()": "pythonjsonlogger.json.JsonFormatter",
        "fmt": "%(levelname)s %(name)s %(message)s",
        "rename_fields": {"levelname": "level", "name": "logger"},
        "timestamp": "time",
    }


def uvicorn_log_config(log_format: str = "plain") -> dict[str, Any]:
    """uvicorn's own logging configuration, with `RedactSecrets` on its logs; `json`: one JSON object a line."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact"] = {"()": RedactSecrets}
    config["loggers"]["uvicorn.access"]["filters"] = ["redact"]
    for handler in config["handlers"].values():
        handler["filters"] = ["redact"]
    if log_format == "json":
        config["formatters"] = {"default": json_formatter(), "access": json_formatter()}
    return config
