"""What every console page shows around its section: the navigation, the bell's count, the user's rights."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from cmsf.console.access import can_change
from cmsf.console.sections import SECTIONS
from cmsf.maintenance.selectors import new_message_count
from cmsf.options.models import GeneralOptions


def console(request: HttpRequest) -> dict[str, Any]:
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {
        "sections": SECTIONS,
        "new_messages": new_message_count(),
        "can_change": can_change(request),
        # Read, not created: a page shown stores nothing.
        "triggers_disabled": bool(GeneralOptions.objects.filter(pk=1, disable_triggers=True).exists()),
    }
