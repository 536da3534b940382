"""A source query with cmsf's own SELECT list: FROM and WHERE kept as written, ORDER BY dropped when asked."""

from __future__ import annotations

import pytest

from cmsf.salesforce.soql import QueryShapeError, select_fields


@pytest.mark.parametrize(
    ("query", "keep_order", "expected"),
    [
        ("SELECT Id FROM Contact", True, ("Contact", "SELECT Id, Email FROM Contact")),
        ("select id, (select id from Cases) from Contact where Name like 'a(b' order by Name limit 5;", True,
         ("Contact", "SELECT Id, Email from Contact where Name like 'a(b' order by Name limit 5")),
        ("SELECT Name, Id FROM Lead WHERE CreatedDate = TODAY ORDER BY Name ASC NULLS FIRST, Id ASC NULLS FIRST",
         False, ("Lead", "SELECT Id, Email FROM Lead WHERE CreatedDate = TODAY")),
        ("SELECT Name FROM Lead ORDER BY Name LIMIT 5", False, ("Lead", "SELECT Id, Email FROM Lead LIMIT 5")),
        ("SELECT Name FROM Lead WHERE Name = 'order by x'", False,
         ("Lead", "SELECT Id, Email FROM Lead WHERE Name = 'order by x'")),
        ("SELECT Id, Country, Count_Of_Visits__c FROM Lead", True, ("Lead", "SELECT Id, Email FROM Lead")),
    ],
)  # fmt: skip
def test_the_select_list_is_replaced(query, keep_order, expected):
    assert select_fields(query, ["Id", "Email", "Id"], keep_order=keep_order) == expected


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("SELECT COUNT() FROM Contact", "aggregate"),
        ("SELECT COUNT_DISTINCT(Email) FROM Contact", "aggregate"),
        ("SELECT LeadSource, COUNT(Id) FROM Lead GROUP BY LeadSource", "aggregate"),
        ("SELECT Id", "no FROM"),
        ("DELETE Contact", "starts with SELECT"),
        ("SELECT Id FROM Contact WHERE (Name = 'x'", "parentheses"),
    ],
)
def test_a_query_that_gives_no_records_is_refused_with_the_reason(query, reason):
    with pytest.raises(QueryShapeError, match=reason):
        select_fields(query, ["Id"])
