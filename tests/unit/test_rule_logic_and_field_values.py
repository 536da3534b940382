"""Pure parts of subscriber rules and field mappings: criteria and custom logic; values between Salesforce field
types and Campaign Monitor custom fields, both ways."""

from __future__ import annotations

import pytest

from cmsf.options.models import check_logic
from cmsf.sync import field_values, rule_logic

RECORD = {"LeadSource": "Web", "Email": "a@example.org", "NumberOfEmployees": "250", "Title": "",
          "CreatedDate": "2026-11-01T10:00:00.000Z", "Account.Industry": "Banking"}  # fmt: skip


@pytest.mark.parametrize(
    "field,operator,value,expected",
    [
        ("LeadSource", "equals", "web", True),
        ("LeadSource", "equals", "Partner, Web", True),
        ("LeadSource", "equals", "Partner", False),
        ("LeadSource", "not_equals", "Partner", True),
        ("Title", "not_equals", "CEO", True),
        ("Title", "equals", "", True),
        ("Email", "contains", "@EXAMPLE", True),
        ("Title", "contains", "", False),
        ("Title", "not_contains", "CEO", True),
        ("Email", "starts_with", "a@", True),
        ("NumberOfEmployees", "greater", "99", True),  # numbers, not text ("250" < "99" as text)
        ("NumberOfEmployees", "less", "1000", True),
        ("NumberOfEmployees", "greater_or_equal", "250", True),
        ("NumberOfEmployees", "equals", "250.0", True),
        ("CreatedDate", "greater", "2026-10-31", True),
        ("CreatedDate", "less_or_equal", "2026-10-31", False),
        ("Title", "greater", "A", False),  # blank meets no comparison
        ("Title", "is_blank", "", True),
        ("Email", "is_not_blank", "", True),
        ("Missing__c", "is_blank", "", True),
        ("Account.Industry", "equals", "banking", True),
    ],
)
def test_each_operator(field, operator, value, expected):
    assert rule_logic.criterion_met({"field": field, "operator": operator, "value": value}, RECORD) is expected


CRITERIA = [
    {"field": "LeadSource", "operator": "equals", "value": "Web"},  # true
    {"field": "Title", "operator": "is_not_blank", "value": ""},  # false
    {"field": "NumberOfEmployees", "operator": "greater", "value": "100"},  # true
]


@pytest.mark.parametrize(
    "logic,expected",
    [("", False), ("1 AND 3", True), ("1 AND 2", False), ("2 OR 3", True), ("1 AND (2 OR 3)", True),
     ("NOT 2 AND 1", True), ("NOT (1 AND 3)", False), ("2 OR 1 AND 3", True), ("(2 OR 1) and NOT 3", False)],
)  # fmt: skip
def test_custom_logic(logic, expected):
    assert rule_logic.met(CRITERIA, logic, RECORD) is expected


@pytest.mark.parametrize(
    "logic,message",
    [("1 AND 4", "1 to 3"), ("1 AND", "ends before"), ("1 2", "where AND, OR"), ("(1 OR 2", "ends before"),
     ("1 OR 2)", "closed that was not opened"), ("1 XOR 2", "is not a number"), ("AND 1", "where a criterion")],
)  # fmt: skip
def test_bad_logic_says_what_is_wrong(logic, message):
    with pytest.raises(ValueError, match=message):
        check_logic(logic, 3)


@pytest.mark.parametrize(
    "entries,sf_type,expected",
    [
        (["Chief Buyer"], "string", "Chief Buyer"),
        ([], "string", None),
        (["  "], "string", None),
        (["Red", "Blue", "Red"], "multipicklist", "Red;Blue"),
        (["1,250"], "int", 1250),
        (["12.5"], "double", 12.5),
        (["Yes"], "boolean", True),
        (["no"], "boolean", False),
        (["2026/03/04"], "date", "2026-03-04"),
        (["2026-03-04"], "datetime", "2026-03-04T00:00:00.000Z"),
    ],
)
def test_campaign_monitor_values_as_salesforce_takes_them(entries, sf_type, expected):
    assert field_values.to_salesforce(entries, sf_type) == expected


@pytest.mark.parametrize(
    "entries,sf_type,reason",
    [(["twelve"], "double", "'twelve' is not a number"), (["1.5"], "int", "is not a whole number"),
     (["Maybe"], "boolean", "'Maybe' is not yes or no"), (["soon"], "date", "'soon' is not a date"),
     (["NaN"], "currency", "is not a number")],
)  # fmt: skip
def test_a_value_the_field_cannot_take_says_why(entries, sf_type, reason):
    with pytest.raises(ValueError, match=reason):
        field_values.to_salesforce(entries, sf_type)


def test_salesforce_values_to_custom_fields():
    values = {"Interests__c": "Golf;Tennis", "Birthdate": "1980-02-03T00:00:00.000Z", "Title": "", "Bio": "x" * 300}
    mappings = [("Interests__c", "[Interests]", "MultiSelectMany"), ("Birthdate", "[Born]", "Date"),
                ("Title", "[Title]", "Text"), ("Bio", "[Bio]", "Text")]  # fmt: skip
    kept = field_values.to_campaign_monitor(values, mappings, clear_blank=False)
    assert kept.values == [("[Interests]", "Golf"), ("[Interests]", "Tennis"), ("[Born]", "1980-02-03"),
                           ("[Bio]", "x" * 250)]  # fmt: skip
    assert kept.clear == [] and kept.problems == ["Bio is longer than 250 characters: its first 250 are sent"]
    assert field_values.to_campaign_monitor(values, mappings, clear_blank=True).clear == ["[Title]"]
    assert field_values.as_text(True) == "true" and field_values.as_text(None) == "" and field_values.as_text(3) == "3"
    assert field_values.consent("true") == "Yes" and field_values.consent("") == "Unchanged"
    assert field_values.consent("perhaps") is None
    assert field_values.field_name("[SubscriptionDate]") == field_values.field_name("subscription date")
