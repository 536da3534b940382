"""How the console writes dates, times and numbers, one way on every page.

A moment is shown in the time zone active for the request (the console user's choice, by default the Salesforce
org's, UTC without an org: `console.middleware.TimeZoneMiddleware`), always with the zone's abbreviation:
"4 Dec 2026, 14:05 CET". A day alone reads "4 Dec 2026". Near moments read relative to now ("in 12 minutes",
"3 hours ago"), with the absolute time beside them. Counts carry thousands separators ("100,000"). Nothing known
reads "—". The CLI and the JSON and CSV exports keep their own formats (local times, ISO 8601).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import cache

from django.utils import dateformat, timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from cmsf.salesforce.sfdx import object_labels

NOTHING = "—"
RELATIVE_LIMIT = dt.timedelta(days=7)  # beyond it a relative time is harder to read than the date


def _local(value: dt.datetime) -> dt.datetime:
    """An aware moment in the active zone; a naive one is taken as the default zone's (UTC)."""
    if timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.get_default_timezone())
    return timezone.localtime(value)


Moment = dt.datetime | dt.date | str | None


def _moment(value: dt.datetime | dt.date | str) -> dt.datetime | dt.date:
    """A datetime or a date; an ISO 8601 string (a state kept as JSON) is read as one."""
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"not a date and time in ISO 8601: {value!r}") from None
    return value


def zone_abbreviation(moment: dt.datetime) -> str:
    """The zone's abbreviation at that moment ("CET", "CEST", "PST", "UTC"); zones with none ("-03") read as an
    offset from UTC ("UTC-03")."""
    name = moment.tzname() or ""
    if not name or name[0] in "+-":
        offset = moment.utcoffset() or dt.timedelta(0)
        minutes = int(offset.total_seconds() // 60)
        sign = "-" if minutes < 0 else "+"
        hours, rest = divmod(abs(minutes), 60)
        return f"UTC{sign}{hours:02d}" + (f":{rest:02d}" if rest else "")
    return name


def when(value: Moment) -> str:
    """A date and time with its zone: "4 Dec 2026, 14:05 CET". A date alone is a day."""
    if value is None or value == "":
        return NOTHING
    value = _moment(value)
    if not isinstance(value, dt.datetime):
        return day(value)
    local = _local(value)
    return f"{dateformat.format(local, 'j M Y, H:i')} {zone_abbreviation(local)}"


def day(value: Moment) -> str:
    """A date alone, "4 Dec 2026" (a moment's date in the active zone)."""
    if value is None or value == "":
        return NOTHING
    value = _moment(value)
    if isinstance(value, dt.datetime):
        value = _local(value)
    return dateformat.format(value, "j M Y")


def month(value: Moment) -> str:
    """A month, "December 2026" (an invoice's period)."""
    if value is None or value == "":
        return NOTHING
    value = _moment(value)
    if isinstance(value, dt.datetime):
        value = _local(value)
    return dateformat.format(value, "F Y")


def _amount(n: int, unit: str) -> str:
    return f"{n} {unit}{'' if n == 1 else 's'}"


def relative_text(value: dt.datetime, now: dt.datetime) -> str:
    """ "in 12 minutes", "3 hours ago", "less than a minute ago"; beyond a week, the date and time (`when`)."""
    if timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.get_default_timezone())
    delta = value - now
    future = delta > dt.timedelta(0)
    span = abs(delta)
    if span >= RELATIVE_LIMIT:
        return when(value)
    seconds = int(span.total_seconds())
    if seconds < 60:
        text = "less than a minute"
    elif seconds < 3600:
        text = _amount(seconds // 60, "minute")
    elif seconds < 86400:
        text = _amount(seconds // 3600, "hour")
    else:
        text = _amount(seconds // 86400, "day")
    return f"in {text}" if future else f"{text} ago"


def relative(value: Moment, now: dt.datetime | None = None) -> SafeString | str:
    """A moment relative to now, in a <time> element that holds the moment itself (datetime, in UTC) and its date
    and time as the title, so a reader has both."""
    if value is None or value == "":
        return NOTHING
    value = _moment(value)
    if not isinstance(value, dt.datetime):
        return day(value)
    if timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.get_default_timezone())
    stamp = value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return format_html(
        '<time datetime="{}" title="{}">{}</time>', stamp, when(value), relative_text(value, now or timezone.now())
    )


def count(value: int | Decimal | float | str | None) -> str:
    """A count with thousands separators: "100,000"; a Decimal or a float keeps its decimals ("1,234.5")."""
    if value is None or value == "":
        return NOTHING
    if isinstance(value, bool):
        raise TypeError(f"count expects a number, not {value!r}")
    if isinstance(value, str):
        try:
            value = Decimal(value)
        except ArithmeticError:
            raise ValueError(f"count expects a number, not {value!r}") from None
    if isinstance(value, Decimal) and value == value.to_integral_value():
        value = int(value)
    return f"{value:,}"


def percent(value: float | Decimal | int | None, places: int = 1) -> str:
    """A share in percent, with `places` decimals, the zeros after the point left out: "12.5%", "40%", "0.3%";
    "<0.1%" for a share above nothing too small to show."""
    if value is None or value == "":
        return NOTHING
    smallest = 10.0**-places
    if 0 < abs(float(value)) < smallest:  # not "0%" for a share that is not nothing
        return f"<{smallest:.{places}f}%"
    text = f"{float(value):,.{places}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text}%"


@cache
def _labels() -> dict[str, tuple[str, str]]:
    return object_labels()


def object_label(api_name: str, plural: bool = False) -> str:
    """An object's label as Salesforce shows it ("Subscriber" for CMSF_Subscriber__c); its API name when the
    source has no label for it."""
    if not api_name:
        return NOTHING
    labels = _labels().get(api_name)
    if labels is None:
        return api_name
    return labels[1 if plural else 0]
