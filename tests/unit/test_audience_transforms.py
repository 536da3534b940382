"""Mobile numbers to E.164 (the seed's example among them) and Salesforce records to subscribers: pure functions,
each bad value reported with its reason while the rest of the record goes on."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cmsf.audience.transforms import Shape, subscriber
from cmsf.lib.phones import BadNumber, to_e164


@pytest.mark.parametrize(
    ("raw", "country", "e164"),
    [
        ("(555) 555-1234", "US", "+15555551234"),  # the seed's example: possible, though not assigned today
        ("555.555.1234", "US", "+15555551234"),
        ("1-555-555-1234", "US", "+15555551234"),
        ("+1 (555) 555-1234", "GB", "+15555551234"),  # its own country code wins over the default
        ("+44 20 7946 0958", "US", "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("0044 20 7946 0958", "GB", "+442079460958"),  # 00: the UK's international prefix
        ("07700 900123", "GB", "+447700900123"),
        ("0412 345 678", "AU", "+61412345678"),
        ("+61 412 345 678", "", "+61412345678"),  # no default country is needed with a country code
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("030 123456", "DE", "+4930123456"),
        ("090-1234-5678", "JP", "+819012345678"),
        ("98765 43210", "IN", "+919876543210"),
        ("  ", "US", None),
        ("", "US", None),
    ],
)
def test_numbers_become_e164(raw, country, e164):
    assert to_e164(raw, country) == e164


@pytest.mark.parametrize(
    ("raw", "country", "reason"),
    [
        ("555-1234", "US", "local number: it needs its area code"),
        ("12", "US", "too short for a number of United States"),
        ("1234567890123456", "US", "too long for a number of United States"),
        ("call me", "US", "not a phone number"),
        ("+999 123", "US", "country code is not one of any country"),
        ("5555551234", "", "no country code and no default country"),
    ],
)
def test_numbers_that_cannot_be_made_e164_say_why(raw, country, reason):
    with pytest.raises(BadNumber, match=reason):
        to_e164(raw, country)


SHAPE = Shape(
    email_field="Email",
    name_field="Name",
    consent_field="Consent__c",
    mappings=(
        ("Title", "[Title]", "Text"),
        ("City__c", "[City]", "Text"),
        ("Interests__c", "[Interests]", "MultiSelectMany"),
        ("Birthdate", "[Birthday]", "Date"),
        ("Last_Seen__c", "[LastSeen]", "Date"),
    ),
    id_key="[SalesforceID]",
    mobile_field="MobilePhone",
    sms_consent_field="SMS_Consent__c",
    country="US",
)


def test_a_record_becomes_a_subscriber_with_its_mapped_fields_id_and_e164_number():
    values = {"Email": " Ann@Example.org ", "Name": "Ann Lee", "Consent__c": "true", "Title": "CFO", "City__c": "",
              "MobilePhone": "(555) 555-1234", "SMS_Consent__c": "false"}  # fmt: skip
    made = subscriber("003000000000001AAA", values, SHAPE)
    assert made.problems == []
    body = made.subscriber.to_api()
    assert body == {
        "EmailAddress": "Ann@Example.org",
        "Name": "Ann Lee",
        "CustomFields": [{"Key": "[Title]", "Value": "CFO"}, {"Key": "[SalesforceID]", "Value": "003000000000001AAA"}],
        "ConsentToTrack": "Yes",
        "MobileNumber": "+15555551234",
        "ConsentToSendSms": "No",
    }


def test_blank_values_are_left_alone_unless_the_wizard_clears_them():
    values = {"Email": "a@example.org", "Name": "A", "Title": "", "City__c": "", "MobilePhone": ""}
    kept = subscriber("003000000000001AAA", values, SHAPE).subscriber
    assert kept.clear_fields == () and kept.mobile_number is None and kept.consent_to_track == "Unchanged"
    cleared = subscriber("003000000000001AAA", values, replace(SHAPE, clear_blank_values=True)).subscriber
    assert cleared.clear_fields == ("[Title]", "[City]", "[Interests]", "[Birthday]", "[LastSeen]")
    assert cleared.mobile_number == ""
    assert {"Key": "[Title]", "Value": "", "Clear": True} in cleared.to_api()["CustomFields"]


def test_a_bad_number_is_left_out_and_reported_while_the_subscriber_is_sent():
    values = {"Email": "b@example.org", "Name": "B", "MobilePhone": "555-1234", "SMS_Consent__c": "true"}
    made = subscriber("003000000000002AAA", values, SHAPE)
    assert made.subscriber is not None and made.subscriber.mobile_number is None
    assert "MobilePhone" not in str(made.subscriber.to_api())
    assert made.problems == ["the mobile number in MobilePhone is not sent: '555-1234' is a local number: it needs its "
                             "area code"]  # fmt: skip


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"Email": "", "Name": "No Email"}, "no email address in Email"),
        ({"Email": "not-an-address", "Name": "X"}, "'not-an-address' in Email is not an email address"),
    ],
)
def test_a_record_without_a_usable_email_is_not_sent(values, problem):
    made = subscriber("00Q000000000001AAA", values, SHAPE)
    assert made.subscriber is None and made.problems == [problem]


def test_an_unknown_consent_value_is_sent_as_unchanged_and_reported():
    made = subscriber("003000000000003AAA", {"Email": "c@example.org", "Consent__c": "Maybe"}, SHAPE)
    assert made.subscriber.consent_to_track == "Unchanged"
    assert made.problems == ["consent to track 'Maybe' is not Yes, No or Unchanged: sent as Unchanged"]


def test_a_value_longer_than_campaign_monitor_takes_is_cut_and_reported():
    made = subscriber("003000000000004AAA", {"Email": "d@example.org", "Title": "x" * 300}, SHAPE)
    assert dict(made.subscriber.custom_fields)["[Title]"] == "x" * 250
    assert made.problems == ["Title is longer than 250 characters: its first 250 are sent"]


def test_values_are_shaped_for_their_custom_field():
    values = {"Email": "e@example.org", "Interests__c": "Golf;Sailing; Chess", "Birthdate": "1980-04-01",
              "Last_Seen__c": "2026-11-27T10:00:00.000Z"}  # fmt: skip
    made = subscriber("003000000000005AAA", values, SHAPE)
    fields = [field for field in made.subscriber.custom_fields if field[0] != "[SalesforceID]"]
    assert fields == [("[Interests]", "Golf"), ("[Interests]", "Sailing"), ("[Interests]", "Chess"),
                      ("[Birthday]", "1980-04-01"), ("[LastSeen]", "2026-11-27")]  # fmt: skip
