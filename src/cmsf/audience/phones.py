"""Mobile numbers as Campaign Monitor takes them: E.164 (`+15555551234`), made with the phonenumbers package.

A number is accepted when it is *possible* for its country (the right length), not only when it is assigned today:
with the United States as the default country, `(555) 555-1234` becomes `+15555551234`. A number written with its
own country code (`+44 20 7946 0958`, or `0044 ...` where 00 is the default country's international prefix) keeps
it; any other is read as a number of the default country. A number that cannot be made E.164 raises `BadNumber`
with a reason for people to read; the caller leaves the number out and reports it with the record's key.
"""

from __future__ import annotations

import phonenumbers
from phonenumbers import NumberParseException, ValidationResult

_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "its country code is not one of any country",
    NumberParseException.NOT_A_NUMBER: "it is not a phone number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "it is too short after the international prefix",
    NumberParseException.TOO_SHORT_NSN: "it is too short",
    NumberParseException.TOO_LONG: "it is too long",
}


class BadNumber(ValueError):
    """A number that cannot be made E.164; the message says why."""


def _country_name(region: str) -> str:
    from phonenumbers.geocoder import description_for_number

    example = phonenumbers.example_number(region)
    name = description_for_number(example, "en", region="ZZ") if example else ""
    return name or region


def to_e164(raw: str, default_country: str) -> str | None:
    """The number in E.164, or None when `raw` is blank. `default_country` is an ISO 3166 region code ("US")."""
    text = (raw or "").strip()
    if not text:
        return None
    region = (default_country or "").upper() or None
    if region is None and not text.startswith("+"):
        raise BadNumber(f"{text!r} has no country code and no default country is set")
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as error:
        raise BadNumber(f"{text!r}: {_PARSE_REASONS.get(error.error_type, str(error))}") from None
    result = phonenumbers.is_possible_number_with_reason(number)
    if result == ValidationResult.IS_POSSIBLE:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if result == ValidationResult.IS_POSSIBLE_LOCAL_ONLY:
        raise BadNumber(f"{text!r} is a local number: it needs its area code")
    country = phonenumbers.region_code_for_country_code(number.country_code or 0)
    where = _country_name(country) if country and country != "ZZ" else f"country code +{number.country_code}"
    reasons = {
        ValidationResult.INVALID_COUNTRY_CODE: "its country code is not one of any country",
        ValidationResult.TOO_SHORT: f"it is too short for a number of {where}",
        ValidationResult.TOO_LONG: f"it is too long for a number of {where}",
        ValidationResult.INVALID_LENGTH: f"its length is not that of a number of {where}",
    }
    raise BadNumber(f"{text!r}: {reasons.get(result, 'it is not a possible number')}")
