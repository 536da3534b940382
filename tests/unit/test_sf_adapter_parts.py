"""The Salesforce adapter's pure parts: the meter, CSV for Bulk 2.0, result parsing, JWT audiences."""

import csv
import io

import pytest

from cmsf.salesforce.adapter import _bulk_error, _csv, _kind, _plain
from cmsf.salesforce.auth import Token, jwt_audience
from cmsf.salesforce.errors import BudgetExhausted, RecordError, RecordResult
from cmsf.salesforce.meter import ApiMeter, parse_limit_info


def test_limit_info_is_read_without_mistaking_the_per_app_figure():
    assert parse_limit_info("api-usage=18/5000") == (18, 5000)
    assert parse_limit_info("per-app-api-usage=17/250(appName=x); api-usage=19/5000") == (19, 5000)
    assert parse_limit_info("per-app-api-usage=17/250(appName=x)") is None


def test_the_meter_counts_by_kind_and_stops_at_the_budget():
    meter = ApiMeter(budget_share=0.5)
    meter.record("query", "api-usage=10/100")
    meter.record("query", "api-usage=11/100")
    meter.record("oauth")
    assert meter.calls == {"query": 2, "oauth": 1} and meter.total == 2
    meter.check()
    meter.record("composite/sobjects", "api-usage=50/100")
    with pytest.raises(BudgetExhausted, match="used 50 of its 100 daily API requests; cmsf's budget is 50"):
        meter.check("upsert CMSF_Subscriber__c")


@pytest.mark.parametrize(
    ("method", "path", "kind"),
    [
        ("GET", "/services/data/v62.0/query/", "query"),
        ("GET", "/services/data/v62.0/query/01gXX-2000", "queryMore"),
        ("PATCH", "/services/data/v62.0/composite/sobjects/Contact/Ext__c", "composite/sobjects"),
        ("POST", "/services/data/v62.0/jobs/ingest", "bulk2 ingest create"),
        ("PUT", "/services/data/v62.0/jobs/ingest/750x/batches", "bulk2 ingest upload"),
        ("PATCH", "/services/data/v62.0/jobs/ingest/750x", "bulk2 ingest close"),
        ("GET", "/services/data/v62.0/jobs/ingest/750x", "bulk2 ingest status"),
        ("GET", "/services/data/v62.0/jobs/ingest/750x/successfulResults/", "bulk2 ingest successfulResults"),
        ("GET", "/services/data/v62.0/sobjects/Contact/describe", "describe"),
        ("POST", "/services/oauth2/token", "oauth"),
    ],
)
def test_calls_are_named_by_kind(method, path, kind):
    assert _kind(method, path) == kind


def test_bulk_csv_uses_crlf_quotes_what_needs_it_and_writes_null_as_na():
    text = _csv(
        [{"Name": 'Ann "A", Jr.', "Note": "two\nlines", "Empty": None, "Flag": True}], ["Name", "Note", "Empty", "Flag"]
    )
    assert text.startswith("Name,Note,Empty,Flag\r\n")
    assert text.endswith("\r\n") and "\r\n" in text
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[1] == ['Ann "A", Jr.', "two\nlines", "#N/A", "true"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName --",
         RecordError("REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName]", ("LastName",))),
        ("UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record or 1 records: 001xx:--",
         RecordError("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record or 1 records: 001xx")),
        ("INVALID_FIELD:No such column 'X' on entity 'Account'.",
         RecordError("INVALID_FIELD", "No such column 'X' on entity 'Account'.")),
    ],
)  # fmt: skip
def test_bulk_errors_are_parsed_from_sf_error(raw, expected):
    assert _bulk_error({"sf__Error": raw}) == expected


def test_a_locked_row_is_retriable_and_a_bad_value_is_not():
    assert RecordResult(0, "k", errors=[RecordError("UNABLE_TO_LOCK_ROW", "locked")]).retriable
    assert not RecordResult(0, "k", errors=[RecordError("STRING_TOO_LONG", "too long")]).retriable
    assert not RecordResult(0, "k", id="003").retriable and RecordResult(0, "k", id="003").success


def test_query_records_are_flattened():
    record = {
        "attributes": {"type": "Contact"},
        "Id": "003",
        "Account": {"attributes": {}, "Name": "Acme"},
        "Lead__r": None,
    }
    assert _plain(record) == {"Id": "003", "Account.Name": "Acme", "Lead__r": None}


def test_jwt_audience_follows_the_login_host():
    assert jwt_audience("https://login.salesforce.com") == "https://login.salesforce.com"
    assert jwt_audience("https://test.salesforce.com/") == "https://test.salesforce.com"
    assert jwt_audience("https://acme.my.salesforce.com") == "https://login.salesforce.com"
    assert jwt_audience("https://acme--uat.sandbox.my.salesforce.com") == "https://test.salesforce.com"
    assert jwt_audience("https://127.0.0.1:8443") == "https://127.0.0.1:8443"


def test_the_token_knows_its_org_and_user_from_the_identity_url():
    token = Token(
        "t", "https://x", identity_url="https://login.salesforce.com/id/00DB0000000TfcRMAS/005B0000005Bk90IAC"
    )
    assert (token.org_id, token.user_id) == ("00DB0000000TfcRMAS", "005B0000005Bk90IAC")
