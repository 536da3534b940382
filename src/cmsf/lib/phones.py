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


# Regions phonenumbers formats numbers for but names in no language it carries.
UNNAMED_REGIONS = {"AC": "Ascension Island", "TA": "Tristan da Cunha", "XK": "Kosovo"}


def country_name(region: str) -> str:
    """The English name of an ISO 3166 region ("MF": "Saint Martin"), from phonenumbers' own names (a name given
    as "*xx" is the one of language xx), or the region code when it has none."""
    from phonenumbers.geodata.locale import LOCALE_DATA

    names = LOCALE_DATA.get(region.upper(), {})
    name = names.get("en", "")
    for _ in range(3):  # a reference is at most a chain of two
        if not name.startswith("*"):
            break
        name = names.get(name[1:], "")
    return name or UNNAMED_REGIONS.get(region.upper(), region.upper())


def country_choices() -> list[tuple[str, str]]:
    """Every region phone numbers can be formatted for, once each, by name: ("US", "United States (+1)")."""
    named = [
        (region, f"{country_name(region)} (+{phonenumbers.country_code_for_region(region)})")
        for region in phonenumbers.SUPPORTED_REGIONS
    ]
    return sorted(named, key=lambda pair: pair[1])


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
    where = country_name(country) if country and country != "ZZ" else f"country code +{number.country_code}"
    reasons = {
        ValidationResult.INVALID_COUNTRY_CODE: "its country code is not one of any country",
        ValidationResult.TOO_SHORT: f"it is too short for a number of {where}",
        ValidationResult.TOO_LONG: f"it is too long for a number of {where}",
        ValidationResult.INVALID_LENGTH: f"its length is not that of a number of {where}",
    }
    raise BadNumber(f"{text!r}: {reasons.get(result, 'it is not a possible number')}")
