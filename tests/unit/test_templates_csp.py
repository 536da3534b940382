"""The console's templates need nothing that its Content-Security-Policy refuses: no inline script, no event-handler
attribute, no javascript: URL and no style element (style attributes are allowed: bars and meters are sized by them)."""

from __future__ import annotations

import re
from pathlib import Path

import cmsf.console

TEMPLATES = Path(cmsf.console.__file__).parent / "templates"
REFUSED = {
    "an inline script": re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I),
    "an event-handler attribute": re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I),
    "a javascript: URL": re.compile(r"javascript:", re.I),
    "a style element": re.compile(r"<style[\s>]", re.I),
    "htmx's inline code": re.compile(r"\shx-on[:-]|\bjs:", re.I),
}


def test_no_template_holds_what_the_content_security_policy_refuses():
    found = [
        f"{path.relative_to(TEMPLATES)}: {what}"
        for path in sorted(TEMPLATES.rglob("*.html"))
        for what, pattern in REFUSED.items()
        if pattern.search(path.read_text())
    ]
    assert found == []
    assert len(list(TEMPLATES.rglob("*.html"))) > 40  # the templates were found
