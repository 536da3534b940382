"""Pages decoded straight into typed records (`campaign_monitor.decoding`): every record type gives, from the
fixtures in the official SDKs' shapes, the same records as building each one from its dict (the tolerant path); a
page the typed decode refuses is read by the tolerant path; a malformed page is the client's usual error."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cmsf.campaign_monitor import decoding, timezones
from cmsf.campaign_monitor.errors import FatalError
from cmsf.campaign_monitor.records import Activity, Recipient, Subscriber, Suppression

FIXTURES = Path(__file__).parent.parent / "fixtures" / "campaign_monitor"
SYDNEY = "(GMT+10:00) Canberra, Melbourne, Sydney"
NEW_YORK = "(GMT-05:00) Eastern Time (US & Canada)"


def raw(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def page(records: list[dict[str, Any]], pages: int = 1) -> bytes:
    return json.dumps({"Results": records, "NumberOfPages": pages, "PageNumber": 1}).encode()


ACTIVITY_FIXTURES = [
    ("campaign_opens", "opens"),
    ("campaign_clicks", "clicks"),
    ("campaign_bounces", "bounces"),
    ("campaign_unsubscribes", "unsubscribes"),
    ("campaign_spam", "spam"),
    ("journey_email_opens", "opens"),
]


@pytest.mark.parametrize(("name", "kind"), ACTIVITY_FIXTURES)
def test_activity_pages_decode_as_built_from_dicts(name, kind):
    content = raw(name)
    records, pages = decoding.activities(kind, SYDNEY, "GET x")(content)
    expected = [Activity.from_api(kind, d, SYDNEY) for d in json.loads(content)["Results"]]
    assert records == expected and records
    assert pages == json.loads(content)["NumberOfPages"]
    assert all(r.kind == kind and r.date is not None and r.date.tzinfo is UTC for r in records)


@pytest.mark.parametrize("name", ["campaign_recipients", "journey_email_recipients"])
def test_recipient_pages_decode_as_built_from_dicts(name):
    content = raw(name)
    records, _ = decoding.recipients(SYDNEY, "GET x")(content)
    assert records == [Recipient.from_api(d, SYDNEY) for d in json.loads(content)["Results"]] and records


def test_subscriber_pages_decode_as_built_from_dicts():
    content = raw("active_subscribers")
    records, _ = decoding.subscribers(SYDNEY, "GET x")(content)
    expected = [Subscriber.from_api(d, SYDNEY) for d in json.loads(content)["Results"]]
    assert records == expected and records
    first = records[0]
    assert first.field_values("multi select field") == ["option one", "option two"]
    assert first.date == datetime(2010, 10, 24, 23, 28, tzinfo=UTC)  # 10:28 in Sydney (+11 in October)


def test_suppression_pages_decode_as_built_from_dicts():
    content = raw("suppressionlist")
    records, _ = decoding.suppressions(SYDNEY, "GET x")(content)
    assert records == [Suppression.from_api(d, SYDNEY) for d in json.loads(content)["Results"]] and records


def test_a_value_of_another_type_goes_through_the_tolerant_path():
    odd = {"EmailAddress": "a@example.com", "Date": "2024-03-05 10:28:13", "Latitude": "-33.86", "City": None,
           "ListID": 17}  # fmt: skip
    records, _ = decoding.activities("opens", SYDNEY, "GET x")(page([odd]))
    assert records == [Activity.from_api("opens", odd, SYDNEY)]
    assert (records[0].city, records[0].list_id, records[0].latitude) == ("", "17", -33.86)
    named = {"EmailAddress": "b@example.com", "Name": None, "State": "Active", "Date": "2024-03-05 10:28",
             "CustomFields": [{"Key": "age", "Value": 24}]}  # fmt: skip
    subscriber = decoding.subscribers(SYDNEY, "GET x")(page([named]))[0][0]
    assert (subscriber.name, subscriber.custom_fields) == ("", (("age", "24"),))


def test_numbers_sent_as_text_are_read_by_the_typed_path():
    records, _ = decoding.activities("opens", SYDNEY, "GET x")(
        page([{"EmailAddress": "a@example.com", "Date": "2024-03-05 10:28:13", "Latitude": "-33.86"}])
    )
    assert records[0].latitude == -33.86


@pytest.mark.parametrize(
    "decode",
    [
        decoding.activities("opens", SYDNEY, "GET x"),
        decoding.recipients(SYDNEY, "GET x"),
        decoding.subscribers(SYDNEY, "GET x"),
        decoding.suppressions(SYDNEY, "GET x"),
    ],
)
def test_a_malformed_page_is_the_clients_usual_error(decode):
    with pytest.raises(ValueError):  # not JSON: the transport retries, then says TransientError
        decode(b'{"Results": [')
    for not_a_page in (b"[]", b'"text"', b'{"Results": {"EmailAddress": "a@example.com"}}', b'{"Results": [1, 2]}'):
        with pytest.raises(FatalError, match="expected a page of results"):
            decode(not_a_page)


@pytest.mark.parametrize("when", ["yesterday", "2024-13-01 10:00:00", "2024-03-05 10:28:13+01:00"])
def test_a_record_with_a_date_that_is_not_one_is_a_fatal_error(when):
    record = {"EmailAddress": "a@example.com", "Date": when, "SentDate": when}
    for decode in (decoding.activities("opens", SYDNEY, "GET x"), decoding.subscribers(SYDNEY, "GET x"),
                   decoding.suppressions(SYDNEY, "GET x"), decoding.recipients(SYDNEY, "GET x")):  # fmt: skip
        with pytest.raises(FatalError, match="not a Campaign Monitor date"):
            decode(page([record]))


def test_an_empty_page_has_no_records():
    assert decoding.activities("opens", SYDNEY, "GET x")(page([], 0)) == ([], 0)
    assert decoding.subscribers(SYDNEY, "GET x")(b"{}") == ([], 0)


@pytest.mark.parametrize("label", [SYDNEY, NEW_YORK, "(GMT) Coordinated Universal Time", "(GMT+05:30) Somewhere"])
def test_the_zone_converter_agrees_with_parse_through_a_year_of_times(label):
    convert = timezones.converter(label)
    moment = datetime(2024, 1, 1)
    while moment < datetime(2025, 1, 2):
        for text in (moment.strftime("%Y-%m-%d %H:%M:%S"), moment.strftime("%Y-%m-%d %H:%M")):
            assert convert(text) == timezones.parse(text, label)
            assert convert(text) == convert(text)  # the second time from the hour's cached offset
        moment += timedelta(minutes=37)
    assert convert("") is None and convert(None) is None
