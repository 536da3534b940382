"""The console's sections, in the order of its navigation.

A section is one view module in `cmsf.console.views` (with its `urlpatterns`), its templates under
`templates/console/<slug>/` and a line here; the frame (navigation, the bell, the user's rights) comes from
`base.html` and the `console` context processor.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Section:
    slug: str
    title: str
    url_name: str  # the section's landing page, in the "console" namespace


SECTIONS: tuple[Section, ...] = (
    Section("sync", "Sync Settings", "home"),
    Section("storage", "Storage", "storage"),
    Section("options", "General Options", "options"),
    Section("campaigns", "Salesforce Campaigns", "campaigns"),
    Section("imports", "Import Wizard", "imports"),
    Section("mappings", "Field Mappings", "mappings"),
    Section("rules", "Subscriber Rules", "rules"),
    Section("sms", "SMS Settings", "sms"),
    Section("maintenance", "Maintenance", "maintenance"),
    Section("security", "User Security", "security"),
    Section("billing", "Billing", "billing"),
)


def by_slug(slug: str) -> Section:
    return next(section for section in SECTIONS if section.slug == slug)
