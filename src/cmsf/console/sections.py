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
    Section("transactional", "Transactional", "transactional"),
    Section("maintenance", "Maintenance", "maintenance"),
    Section("security", "User Security", "security"),
    Section("billing", "Billing", "billing"),
)


def by_slug(slug: str) -> Section:
    return next(section for section in SECTIONS if section.slug == slug)


# The audit log's sections by their labels: a console section's own title, and the keys of the settings
# declarations and of the changes made outside the console, by the page or command they belong to.
AUDIT_SECTION_LABELS: dict[str, str] = {
    **{section.slug: section.title for section in SECTIONS},
    "general_options": "General Options",
    "salesforce_campaigns": "Salesforce Campaigns",
    "tracking_history": "Storage",
    "field_mappings": "Field Mappings",
    "record_creation": "Field Mappings",
    "subscriber_rules": "Subscriber Rules",
    "salesforce": "Sync Settings",
    "connections": "Sync Settings",
    "configuration": "Configuration (cmsf config import)",
    "installation": "Installation (cmsf init and upgrade)",
}


def audit_section_label(key: str) -> str:
    """The label of an audit log section; a key it does not know is shown as stored."""
    return AUDIT_SECTION_LABELS.get(key, key)
