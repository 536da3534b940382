"""The SMS default country list: every region phone numbers can be formatted for, each once and by its own name."""

from __future__ import annotations

from collections import Counter

import phonenumbers

from cmsf.lib.phones import country_choices, country_name


def test_every_region_is_listed_once_with_a_name_of_its_own():
    choices = country_choices()
    assert sorted(region for region, _ in choices) == sorted(phonenumbers.SUPPORTED_REGIONS)
    names = Counter(country_name(region) for region, _ in choices)
    assert [name for name, n in names.items() if n > 1] == []
    labels = Counter(label for _, label in choices)
    assert [label for label, n in labels.items() if n > 1] == []
    assert not [region for region, _ in choices if country_name(region) == region]  # never a bare code
    assert [label for _, label in choices] == sorted(label for _, label in choices)


def test_regions_that_share_a_calling_code_keep_their_own_names():
    # formerly the example number's place: Saint Martin read "Saint Barthélemy" and Western Sahara "Morocco"
    assert (country_name("MF"), country_name("BL")) == ("Saint Martin", "Saint Barthélemy")
    assert (country_name("EH"), country_name("MA")) == ("Western Sahara", "Morocco")
    assert ("XK", "Kosovo (+383)") in country_choices() and ("US", "United States (+1)") in country_choices()
