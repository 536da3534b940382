"""Every URL the console has, enumerated from the URL conf (so a new page cannot skip the tests that use this). The
HTTP API's URLs (namespace `api`) are not the console's: they answer JSON to a bearer token, tested in test_api*."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.converters import IntConverter

SAMPLE = {IntConverter: 1}


@dataclass(frozen=True)
class ConsoleUrl:
    name: str
    path: str
    view: Callable[..., Any]

    @property
    def access(self) -> str | None:
        """The decorator of the view: "view" (a page), "change" (an action or a form), or None (a public page)."""
        return getattr(self.view, "cmsf_access", None)


def console_urls(resolver: URLResolver | None = None, namespace: str = "") -> Iterator[ConsoleUrl]:
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace == "api":
                continue
            yield from console_urls(entry, f"{namespace}{entry.namespace}:" if entry.namespace else namespace)
        elif isinstance(entry, URLPattern) and entry.name:
            converters = getattr(entry.pattern, "converters", {})
            kwargs = {key: SAMPLE.get(type(conv), "x") for key, conv in converters.items()}
            name = f"{namespace}{entry.name}"
            yield ConsoleUrl(name, reverse(name, kwargs=kwargs), entry.callback)
