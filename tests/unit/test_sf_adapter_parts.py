"""The Salesforce adapter's pure parts: the meter, CSV for Bulk 2.0, result parsing and matching, JWT audiences;
and the HTTP sessions of both adapters, which take nothing from the environment on each call."""

import csv
import io
import json
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
import requests
from requests.adapters import BaseAdapter

from cmsf.salesforce.adapter import SalesforceAdapter, bulk_error, call_kind, csv_text, plain_record, records_csv
from cmsf.salesforce.auth import Credentials, Token, jwt_audience
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
    assert call_kind(method, path) == kind


def test_bulk_csv_uses_crlf_quotes_what_needs_it_and_writes_null_as_na():
    text = records_csv(
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
    assert bulk_error({"sf__Error": raw}) == expected


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
    assert plain_record(record) == {"Id": "003", "Account.Name": "Acme", "Lead__r": None}


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


@pytest.mark.parametrize(
    "rows",
    [
        [["a", "b", "c"], ["", "", ""], ["1,5", "x", "y"], ['say "hi"', "", "z"], ["two\nlines", "cr\r", "\0"]],
        [[""], ["x"], [","], ['"']],
    ],
)
def test_bulk_csv_is_what_csv_writer_writes(rows):
    expected = io.StringIO()
    csv.writer(expected, lineterminator="\r\n").writerows([[f"c{i}" for i in range(len(rows[0]))], *rows])
    assert csv_text([f"c{i}" for i in range(len(rows[0]))], rows) == expected.getvalue()


def test_bulk_csv_flattens_relationships_and_leaves_missing_columns_empty():
    records = [{"Key__c": "k1", "List__r": {"List_Id__c": "x"}, "N__c": 1.5}, {"List__r": {"List_Id__c": None}}]
    text = records_csv(records, ["Key__c", "List__r.List_Id__c", "N__c"])
    assert text == "Key__c,List__r.List_Id__c,N__c\r\nk1,x,1.5\r\n,#N/A,\r\n"


class BulkServed(BaseAdapter):
    """Answers one Bulk 2.0 ingest job. The result rows echo the uploaded rows, last uploaded first; `outcome` says
    of each uploaded row (by column) its sf__Id, or "!" and the sf__Error of a failure."""

    def __init__(self, outcome: Callable[[dict[str, str]], tuple[str, str]]) -> None:
        super().__init__()
        self.outcome = outcome
        self.header: list[str] = []
        self.results: dict[str, list[list[str]]] = {"successfulResults": [], "failedResults": []}

    def send(self, request, **kwargs):
        path = urlsplit(request.url).path.split("/jobs/ingest", 1)[1]
        status, body = 200, b"{}"
        if request.method == "POST":
            body = json.dumps({"id": "750x"}).encode()
        elif request.method == "PUT":
            status = 201
            self.header, *rows = list(csv.reader(io.StringIO(request.body.decode(), newline="")))
            for cells in reversed(rows):
                first, second = self.outcome(dict(zip(self.header, cells, strict=True)))
                kind = "failedResults" if first == "!" else "successfulResults"
                self.results[kind].append(["" if first == "!" else first, second, *cells])
        elif path == "/750x":
            ok, bad = (len(self.results[k]) for k in ("successfulResults", "failedResults"))
            info = {"state": "JobComplete", "numberRecordsProcessed": ok + bad, "numberRecordsFailed": bad}
            body = json.dumps(info).encode()
        else:
            kind = path.strip("/").split("/")[1]
            second = "sf__Error" if kind == "failedResults" else "sf__Created"
            out = io.StringIO()
            csv.writer(out, lineterminator="\n").writerows([["sf__Id", second, *self.header], *self.results[kind]])
            body = out.getvalue().encode()
        response = requests.Response()
        response.status_code, response._content, response.url, response.request = status, body, request.url, request
        return response

    def close(self):
        pass


def bulk_write(records, outcome, *, operation="upsert", external_id="Key__c"):
    """Write `records` through a Bulk 2.0 job (whatever their number) answered by `BulkServed(outcome)`."""
    adapter = SalesforceAdapter(
        Credentials("jwt_bearer"), token=Token("t", "https://sf.test"), collections_threshold=0, sleep=lambda s: None
    )
    adapter.session.mount("https://", BulkServed(outcome))
    if operation == "upsert":
        return adapter.upsert("Thing__c", external_id, records)
    return getattr(adapter, operation)("Thing__c", records)


def long_names_fail(row: dict[str, str]) -> tuple[str, str]:
    if len(row["Name"]) > 255:
        return "!", "STRING_TOO_LONG:Name: data value too large:Name --"
    return "a0" + row["Key__c"], "false"


def test_bulk_results_in_another_order_than_the_upload_find_their_records():
    records = [{"Key__c": f"k{i}", "List__r": {"List_Id__c": "x"}, "Flag__c": i % 2 == 0} for i in range(5)]
    results = bulk_write(records, lambda row: ("a0" + row["Key__c"], "true"))
    assert [(r.index, r.key, r.id, r.created) for r in results] == [(i, f"k{i}", f"a0k{i}", True) for i in range(5)]


def test_a_failed_bulk_row_is_reported_on_its_record_and_the_others_succeed():
    records = [{"Key__c": f"k{i}", "Name": "x" * (300 if i == 1 else 3)} for i in range(3)]
    results = bulk_write(records, long_names_fail)
    assert [r.success for r in results] == [True, False, True] and results[0].id == "a0k0" and results[2].id == "a0k2"
    assert (results[1].key, results[1].id) == ("k1", None)
    assert results[1].errors == [RecordError("STRING_TOO_LONG", "Name: data value too large", ("Name",))]


def test_records_that_share_an_external_id_each_get_their_own_result():
    records = [
        {"Key__c": "same", "Name": "ok"},
        {"Key__c": "other", "Name": "ok"},
        {"Key__c": "same", "Name": "x" * 300},
        {"Key__c": "same", "Name": "ok"},
    ]
    results = bulk_write(records, long_names_fail)
    assert [r.index for r in results] == [0, 1, 2, 3]
    assert [(r.success, r.id) for r in results] == [
        (True, "a0same"),
        (True, "a0other"),
        (False, None),
        (True, "a0same"),
    ]
    assert results[2].errors[0].code == "STRING_TOO_LONG"


def test_bulk_results_are_matched_by_every_cell_without_an_external_id_column():
    records = [{"Name": f"n{i}", "Flag__c": None} for i in range(3)] + [{"Name": "n0", "Flag__c": None}]
    results = bulk_write(records, lambda row: ("a0" + row["Name"], "true"))
    assert [(r.index, r.id) for r in results] == [(0, "a0n0"), (1, "a0n1"), (2, "a0n2"), (3, "a0n0")]
    inserted = bulk_write(records[:3], lambda row: ("a1" + row["Name"], "true"), operation="insert")
    assert [(r.index, r.id, r.created) for r in inserted] == [(i, f"a1n{i}", True) for i in range(3)]


class FailsFirstUpload(BulkServed):
    """The first upload of the job answers 503; every upload's Content-Type is kept."""

    def __init__(self) -> None:
        super().__init__(lambda row: ("a00000000000001", "true"))
        self.upload_types: list[str] = []

    def send(self, request, **kwargs):
        if request.method == "PUT":
            self.upload_types.append(request.headers.get("Content-Type", ""))
            if len(self.upload_types) == 1:
                response = requests.Response()
                response.status_code, response._content, response.url = 503, b"[]", request.url
                response.request = request
                return response
        return super().send(request, **kwargs)


def test_a_retried_bulk_upload_sends_its_headers_again():
    adapter = SalesforceAdapter(
        Credentials("jwt_bearer"), token=Token("t", "https://sf.test"), collections_threshold=0, sleep=lambda s: None
    )
    served = FailsFirstUpload()
    adapter.session.mount("https://", served)
    results = adapter.upsert("Thing__c", "Key__c", [{"Key__c": "k1", "Name": "n"}])
    assert [r.success for r in results] == [True]
    assert served.upload_types == ["text/csv", "text/csv"]
