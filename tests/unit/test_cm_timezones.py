"""Every Campaign Monitor time zone maps to an IANA zone whose offset matches its label."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from cmsf.campaign_monitor import timezones

# The 97 labels of GET /timezones.json, in the order the API lists them.
LABELS = [
    "(GMT) Casablanca", "(GMT) Coordinated Universal Time",
    "(GMT) Greenwich Mean Time : Dublin, Edinburgh, Lisbon, London", "(GMT) Monrovia, Reykjavik",
    "(GMT+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna",
    "(GMT+01:00) Belgrade, Bratislava, Budapest, Ljubljana, Prague", "(GMT+01:00) Brussels, Copenhagen, Madrid, Paris",
    "(GMT+01:00) Sarajevo, Skopje, Warsaw, Zagreb", "(GMT+01:00) West Central Africa", "(GMT+02:00) Amman",
    "(GMT+02:00) Athens, Bucharest, Istanbul", "(GMT+02:00) Beirut", "(GMT+02:00) Cairo", "(GMT+02:00) Damascus",
    "(GMT+02:00) Harare, Pretoria", "(GMT+02:00) Helsinki, Kyiv, Riga, Sofia, Tallinn, Vilnius",
    "(GMT+02:00) Jerusalem", "(GMT+02:00) Minsk", "(GMT+02:00) Windhoek", "(GMT+03:00) Baghdad",
    "(GMT+03:00) Kuwait, Riyadh", "(GMT+03:00) Moscow, St. Petersburg, Volgograd", "(GMT+03:00) Nairobi",
    "(GMT+03:30) Tehran", "(GMT+04:00) Abu Dhabi, Muscat", "(GMT+04:00) Baku", "(GMT+04:00) Port Louis",
    "(GMT+04:00) Tbilisi", "(GMT+04:00) Yerevan", "(GMT+04:30) Kabul", "(GMT+05:00) Ekaterinburg",
    "(GMT+05:00) Islamabad, Karachi", "(GMT+05:00) Tashkent", "(GMT+05:30) Chennai, Kolkata, Mumbai, New Delhi",
    "(GMT+05:30) Sri Jayawardenepura", "(GMT+05:45) Kathmandu", "(GMT+06:00) Astana", "(GMT+06:00) Dhaka",
    "(GMT+06:00) Novosibirsk", "(GMT+06:30) Yangon (Rangoon)", "(GMT+07:00) Bangkok, Hanoi, Jakarta",
    "(GMT+07:00) Krasnoyarsk", "(GMT+08:00) Beijing, Chongqing, Hong Kong, Urumqi", "(GMT+08:00) Irkutsk",
    "(GMT+08:00) Kuala Lumpur, Singapore", "(GMT+08:00) Perth", "(GMT+08:00) Taipei", "(GMT+08:00) Ulaanbaatar",
    "(GMT+09:00) Osaka, Sapporo, Tokyo", "(GMT+09:00) Seoul", "(GMT+09:00) Yakutsk", "(GMT+09:30) Adelaide",
    "(GMT+09:30) Darwin", "(GMT+10:00) Brisbane", "(GMT+10:00) Canberra, Melbourne, Sydney",
    "(GMT+10:00) Guam, Port Moresby", "(GMT+10:00) Hobart", "(GMT+10:00) Vladivostok",
    "(GMT+11:00) Magadan, Solomon Is., New Caledonia", "(GMT+12:00) Auckland, Wellington",
    "(GMT+12:00) Coordinated Universal Time+12", "(GMT+12:00) Fiji", "(GMT+12:00) Petropavlovsk-Kamchatsky - Old",
    "(GMT+13:00) Nuku'alofa", "(GMT-01:00) Azores", "(GMT-01:00) Cape Verde Is.",
    "(GMT-02:00) Coordinated Universal Time-02", "(GMT-02:00) Mid-Atlantic", "(GMT-03:00) Brasilia",
    "(GMT-03:00) Buenos Aires", "(GMT-03:00) Cayenne, Fortaleza", "(GMT-03:00) Greenland", "(GMT-03:00) Montevideo",
    "(GMT-03:30) Newfoundland", "(GMT-04:00) Asuncion", "(GMT-04:00) Atlantic Time (Canada)", "(GMT-04:00) Cuiaba",
    "(GMT-04:00) Georgetown, La Paz, Manaus, San Juan", "(GMT-04:00) Santiago", "(GMT-04:30) Caracas",
    "(GMT-05:00) Bogota, Lima, Quito", "(GMT-05:00) Eastern Time (US & Canada)", "(GMT-05:00) Indiana (East)",
    "(GMT-06:00) Central America", "(GMT-06:00) Central Time (US & Canada)",
    "(GMT-06:00) Guadalajara, Mexico City, Monterrey", "(GMT-06:00) Saskatchewan", "(GMT-07:00) Arizona",
    "(GMT-07:00) Chihuahua, La Paz, Mazatlan", "(GMT-07:00) Mountain Time (US & Canada)",
    "(GMT-08:00) Baja California", "(GMT-08:00) Pacific Time (US & Canada)", "(GMT-09:00) Alaska",
    "(GMT-10:00) Hawaii", "(GMT-11:00) Coordinated Universal Time-11", "(GMT-11:00) Samoa",
    "(GMT-12:00) International Date Line West",
]  # fmt: skip


def test_the_table_holds_exactly_the_97_labels_of_the_api():
    assert len(LABELS) == 97 == len(set(LABELS))
    assert set(timezones.ZONES) == set(LABELS)


@pytest.mark.parametrize("label", LABELS)
def test_each_label_maps_to_a_zone_with_the_offset_it_names(label):
    zone = timezones.zone(label)
    named = timezones.label_offset(label)
    # The labels date from when the list was made (about 2010): the zone had the named offset then,
    # in winter or in summer (standard time is the label's offset where the zone keeps summer time).
    offsets = {datetime(2010, month, 15, 12, tzinfo=UTC).astimezone(zone).utcoffset() for month in (1, 7)}
    assert named in offsets, f"{label} -> {timezones.ZONES[label]} had {offsets} in 2010"


@pytest.mark.parametrize("label", LABELS)
def test_each_label_converts_a_local_time_to_utc_and_back(label):
    local = datetime(2024, 3, 3, 9, 30)
    moment = timezones.to_utc(local, label)
    assert moment.tzinfo is UTC
    assert timezones.to_local(moment, label) == local


def test_sydney_summer_and_winter():
    sydney = "(GMT+10:00) Canberra, Melbourne, Sydney"
    assert timezones.parse("2024-01-15 10:00:00", sydney) == datetime(2024, 1, 14, 23, 0, tzinfo=UTC)
    assert timezones.parse("2024-07-15 10:00:00", sydney) == datetime(2024, 7, 15, 0, 0, tzinfo=UTC)


def test_new_york_across_the_spring_change():
    eastern = "(GMT-05:00) Eastern Time (US & Canada)"
    assert timezones.parse("2024-03-09 12:00", eastern) == datetime(2024, 3, 9, 17, 0, tzinfo=UTC)
    assert timezones.parse("2024-03-11 12:00", eastern) == datetime(2024, 3, 11, 16, 0, tzinfo=UTC)


def test_an_unknown_label_falls_back_to_the_offset_it_names():
    assert timezones.zone("(GMT+03:00) Somewhere New") == timezone(timedelta(hours=3))
    with pytest.raises(ValueError, match="unknown Campaign Monitor time zone"):
        timezones.zone("Mars/Olympus")


def test_dates_parse_in_every_format_the_api_uses():
    utc = "(GMT) Coordinated Universal Time"
    assert timezones.parse("2010-10-25 10:28:00", utc) == datetime(2010, 10, 25, 10, 28, tzinfo=UTC)
    assert timezones.parse("2010-10-25 10:28", utc) == datetime(2010, 10, 25, 10, 28, tzinfo=UTC)
    assert timezones.parse("2010-10-25", utc) == datetime(2010, 10, 25, tzinfo=UTC)
    assert timezones.parse("", utc) is None
    with pytest.raises(ValueError, match="not a Campaign Monitor date"):
        timezones.parse("25/10/2010", utc)


@pytest.mark.parametrize(
    ("label", "day"),
    [
        ("(GMT-05:00) Eastern Time (US & Canada)", datetime(2024, 3, 10)),
        ("(GMT-05:00) Eastern Time (US & Canada)", datetime(2024, 11, 3)),
        ("(GMT+10:00) Canberra, Melbourne, Sydney", datetime(2024, 4, 7)),
        ("(GMT+10:00) Canberra, Melbourne, Sydney", datetime(2024, 10, 6)),
        ("(GMT+05:45) Kathmandu", datetime(2024, 6, 1)),
    ],
)
def test_the_hourly_offset_cache_agrees_with_the_zone_across_clock_changes(label, day):
    for minutes in range(0, 24 * 60, 7):
        local = day + timedelta(minutes=minutes)
        assert timezones.parse(local.strftime("%Y-%m-%d %H:%M:%S"), label) == timezones.to_utc(local, label)
    # The hour that repeats when clocks go back reads as its first occurrence (summer time in New York).
    eastern = "(GMT-05:00) Eastern Time (US & Canada)"
    assert timezones.parse("2024-11-03 01:30:00", eastern) == datetime(2024, 11, 3, 5, 30, tzinfo=UTC)
