"""The two permission sets of the product, as Django groups."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, Permission

FULL_ACCESS = "CM Full Access"
USER_ACCESS = "CM User Access"

GRANTS: dict[str, tuple[str, ...]] = {
    FULL_ACCESS: ("view_console", "change_settings"),
    USER_ACCESS: ("view_console",),
}


def ensure_permission_sets() -> None:
    """Create both groups with exactly their permissions (idempotent)."""
    for name, codenames in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(Permission.objects.filter(content_type__app_label="console", codename__in=codenames))


def ensure_permission_sets_after_migrate(**kwargs: Any) -> None:
    ensure_permission_sets()
