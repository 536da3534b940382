"""The console's formats: moments with their zone (daylight saving too), days, relative times both ways, counts
with separators, percentages, object labels, and "—" for nothing; and the filters in a template without a load."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.template import Context, Template
from django.utils import timezone

from cmsf.console import formats

WINTER = dt.datetime(2026, 12, 4, 13, 5, tzinfo=dt.UTC)
SUMMER = dt.datetime(2026, 7, 4, 13, 5, tzinfo=dt.UTC)


@pytest.fixture
def paris():
    with timezone.override(ZoneInfo("Europe/Paris")):
        yield


def test_when_shows_the_active_zone_and_its_abbreviation(paris):
    assert formats.when(WINTER) == "4 Dec 2026, 14:05 CET"
    assert formats.when(SUMMER) == "4 Jul 2026, 15:05 CEST"  # daylight saving: another offset, another name


def test_when_in_utc_and_in_zones_without_an_abbreviation():
    with timezone.override(dt.UTC):
        assert formats.when(WINTER) == "4 Dec 2026, 13:05 UTC"
    with timezone.override(ZoneInfo("America/Sao_Paulo")):
        assert formats.when(WINTER) == "4 Dec 2026, 10:05 UTC-03"
    with timezone.override(ZoneInfo("Asia/Kolkata")):
        assert formats.when(WINTER) == "4 Dec 2026, 18:35 IST"
    with timezone.override(ZoneInfo("Asia/Kathmandu")):
        assert formats.when(WINTER) == "4 Dec 2026, 18:50 UTC+05:45"


def test_when_takes_a_naive_moment_as_utc(paris):
    assert formats.when(WINTER.replace(tzinfo=None)) == "4 Dec 2026, 14:05 CET"


def test_the_day_of_a_moment_is_the_day_in_the_active_zone():
    late = dt.datetime(2026, 12, 4, 23, 30, tzinfo=dt.UTC)
    with timezone.override(ZoneInfo("Australia/Sydney")):
        assert formats.day(late) == "5 Dec 2026"
    with timezone.override(ZoneInfo("America/Los_Angeles")):
        assert formats.day(late) == "4 Dec 2026"
    assert formats.day(dt.date(2026, 3, 1)) == "1 Mar 2026"
    assert formats.when(dt.date(2026, 3, 1)) == "1 Mar 2026"  # a date has no time to show
    assert formats.month(dt.date(2026, 3, 1)) == "March 2026"


@pytest.mark.parametrize(
    ("offset", "text"),
    [
        (dt.timedelta(minutes=12, seconds=30), "in 12 minutes"),
        (dt.timedelta(minutes=1), "in 1 minute"),
        (dt.timedelta(seconds=20), "in less than a minute"),
        (-dt.timedelta(seconds=20), "less than a minute ago"),
        (-dt.timedelta(hours=3, minutes=59), "3 hours ago"),
        (-dt.timedelta(hours=1), "1 hour ago"),
        (dt.timedelta(days=2, hours=5), "in 2 days"),
        (-dt.timedelta(days=6, hours=23), "6 days ago"),
    ],
)
def test_relative_text_both_ways(offset, text):
    assert formats.relative_text(WINTER + offset, WINTER) == text


def test_relative_beyond_a_week_is_the_date_and_time(paris):
    assert formats.relative_text(WINTER - dt.timedelta(days=8), WINTER) == "26 Nov 2026, 14:05 CET"
    assert formats.relative_text(WINTER + dt.timedelta(days=30), WINTER) == "3 Jan 2027, 14:05 CET"


def test_relative_holds_the_moment_and_its_date_and_time(paris):
    html = formats.relative(WINTER, now=WINTER - dt.timedelta(minutes=12))
    assert html == '<time datetime="2026-12-04T13:05:00Z" title="4 Dec 2026, 14:05 CET">in 12 minutes</time>'


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (100000, "100,000"),
        (0, "0"),
        (-1234567, "-1,234,567"),
        (Decimal("1234567"), "1,234,567"),
        (Decimal("1234.50"), "1,234.50"),
        (Decimal("12E3"), "12,000"),
        (1234.5, "1,234.5"),
        ("2500", "2,500"),
        (None, "—"),
        ("", "—"),
    ],
)
def test_count_has_thousands_separators(value, text):
    assert formats.count(value) == text


def test_count_refuses_what_is_not_a_number():
    with pytest.raises(ValueError, match="count expects a number, not 'many'"):
        formats.count("many")
    with pytest.raises(TypeError, match="count expects a number"):
        formats.count(True)


def test_percentages_read_plainly():
    assert formats.percent(12.345) == "12.3%"
    assert formats.percent(40.0) == "40%"
    assert formats.percent(Decimal("0.25"), 2) == "0.25%"
    assert formats.percent(1234.56) == "1,234.6%"
    assert formats.percent(None) == "—"
    assert formats.percent(0.023) == "<0.1%" and formats.percent(0.004, 2) == "<0.01%"
    assert formats.percent(0) == "0%"


def test_nothing_reads_as_a_dash():
    assert formats.when(None) == formats.day(None) == formats.relative(None) == formats.month(None) == "—"
    assert formats.object_label("") == "—"


def test_object_labels_come_from_the_sfdx_source():
    assert formats.object_label("CMSF_Subscriber__c") == "Subscriber List Member"
    assert formats.object_label("CMSF_Subscriber__c", plural=True) == "Subscriber List Members"
    assert formats.object_label("CampaignMember") == "Campaign Member"
    assert formats.object_label("Unknown__c") == "Unknown__c"  # no label known: the API name, not a guess


def test_the_filters_need_no_load_in_a_template(paris):
    template = Template(
        "{{ at|when }}|{{ at|day }}|{{ n|count }}|{{ share|percent }}|{{ share|percent:2 }}|{{ name|object_label }}"
        '|{{ name|object_label:"plural" }}|{{ missing|when }}'
    )
    context = Context({"at": WINTER, "n": 100000, "share": 12.345, "name": "CMSF_List__c", "missing": None})
    assert template.render(context) == (
        "4 Dec 2026, 14:05 CET|4 Dec 2026|100,000|12.3%|12.35%|Subscriber List|Subscriber Lists|—"
    )


def test_the_relative_filter_renders_a_time_element(paris):
    text = Template("{{ at|relative }}").render(Context({"at": timezone.now() + dt.timedelta(hours=3, minutes=30)}))
    assert text.startswith("<time datetime=") and ">in 3 hours</time>" in text


def test_no_console_template_formats_a_date_its_own_way():
    """Every date goes through `when`, `day`, `month` or `relative`, so that each page shows one format with its zone."""
    import re
    from pathlib import Path

    import cmsf.console

    templates = Path(cmsf.console.__file__).parent / "templates"
    own = [
        f"{path.relative_to(templates)}:{number}"
        for path in templates.rglob("*.html")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"\|\s*(date|time|naturaltime|timesince|timeuntil)\b", line)
    ]
    assert own == []
