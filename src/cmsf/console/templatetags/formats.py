"""The console's format filters, loaded for every template (TEMPLATES' "builtins"): `when`, `day`, `month`,
`relative`, `count`, `percent` and `object_label` (see `console.formats`)."""

from __future__ import annotations

from django import template

from cmsf.console import formats

register = template.Library()

register.filter("when", formats.when)
register.filter("day", formats.day)
register.filter("month", formats.month)
register.filter("count", formats.count)
register.filter("percent", formats.percent)


@register.filter("relative", is_safe=True)
def relative(value: object) -> object:
    """`{{ moment|relative }}`: "in 12 minutes" in a <time> element titled with the date and time."""
    return formats.relative(value)  # type: ignore[arg-type]


@register.filter("object_label")
def object_label(api_name: str, plural: str = "") -> str:
    """`{{ name|object_label }}`, or `{{ name|object_label:"plural" }}` for the plural label."""
    return formats.object_label(api_name, plural=plural == "plural")
