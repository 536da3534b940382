"""Secrets kept out of the access log: the webhook secret in `/hooks/campaign-monitor/<secret>` and the token of
an email history link (`?link=<token>`) are written `[redacted]`, so that reading a log does not let anyone post
webhook events or read a person's history. `cmsf serve` gives uvicorn its usual logging with this filter on
`uvicorn.access`, and the settings' LOGGING puts it on the handler of every other log (`django.request` names the
path of a refused webhook POST); the paths are spelled here because `lib` imports nothing of cmsf's (a test ties them to the
routes)."""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

REDACTED = "[redacted]"
_SECRETS = (
    re.compile(r"(/hooks/campaign-monitor/)[^/?#\s\"]+"),  # sync.webhooks.HOOK_PATH
    re.compile(r"([?&]link=)[^&#\s\"]+"),  # the email history link (console:storage_embed)
)


def redact(text: str) -> str:
    for pattern in _SECRETS:
        text = pattern.sub(rf"\g<1>{REDACTED}", text)
    return text


class RedactSecrets(logging.Filter):
    """Redacts the message and its string arguments (uvicorn's access formatter reads the path from the
    arguments)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        return True


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's own logging configuration, with `RedactSecrets` on its access log."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact"] = {"()": RedactSecrets}
    config["loggers"]["uvicorn.access"]["filters"] = ["redact"]
    return config
