"""Each console user's own preferences: the time zone the console shows times in (blank: the Salesforce org's;
UTC while no org is connected)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from cmsf.connections.models import SalesforceOrg
from cmsf.console.models import ConsolePreference, available_time_zones

UTC_NAME = "UTC"


def org_time_zone() -> str:
    """The connected org's time zone (an IANA name), blank without a connected org or one it could not read.
    Read, not created: a page shown stores nothing."""
    return (
        SalesforceOrg.objects.filter(pk=1, connected_at__isnull=False).values_list("time_zone", flat=True).first() or ""
    )


def chosen_time_zone(user: AbstractBaseUser | AnonymousUser) -> str:
    """The zone the user chose, blank for the org's."""
    if not user.is_authenticated:
        return ""
    return ConsolePreference.objects.filter(user_id=user.pk).values_list("time_zone", flat=True).first() or ""


def time_zone_name(user: AbstractBaseUser | AnonymousUser) -> str:
    """The zone the console shows this user times in: their choice, else the org's, else UTC."""
    return chosen_time_zone(user) or org_time_zone() or UTC_NAME


def zone(name: str) -> dt.tzinfo:
    """The time zone of this name; UTC for one this Python does not know (a zone dropped from tzdata)."""
    if name == UTC_NAME or name not in available_time_zones():
        return dt.UTC
    return ZoneInfo(name)


def time_zone_choices() -> list[tuple[str, str]]:
    """The choices of the preference: the org's (blank), then every zone by its IANA name."""
    org = org_time_zone()
    first = f"The Salesforce org's ({org})" if org else "The Salesforce org's (UTC while no org is connected)"
    return [("", first), *((name, name.replace("_", " ")) for name in sorted(available_time_zones()))]


def set_time_zone(user: AbstractBaseUser, time_zone: str) -> ConsolePreference:
    """Keep the user's choice of time zone (blank: the org's). django.core.exceptions.ValidationError (by field) for a name that is no time zone."""
    preference = ConsolePreference.objects.filter(user_id=user.pk).first() or ConsolePreference(user_id=user.pk)
    preference.time_zone = time_zone.strip()
    preference.full_clean()
    preference.save()
    return preference
