"""The Salesforce adapter: few API calls, correct results per record, honest failures.

- Reads: REST query with `nextRecordsUrl` paging (2,000 a page), or a Bulk 2.0 query job for large reads.
- Writes: sObject Collections (200 records a call) up to `collections_threshold` records, Bulk 2.0
  ingest above it (CSV with CRLF line endings; one job, results read back per record). Records that
  failed with a retriable error (UNABLE_TO_LOCK_ROW) are sent again, and only those.
- A 401 INVALID_SESSION_ID gets a new token once and the call is retried; REQUEST_LIMIT_EXCEEDED stops
  the run; every call is counted by the meter, which also stops a run at cmsf's budget.

simple-salesforce does REST (query, describe, `restful` for Collections). Bulk 2.0 ingest is spoken
directly over the same session: simple-salesforce's bulk2 helpers read results with extra calls and
cannot report each record's Id, and the call budget (at most 6 calls for 10,000 rows) needs both.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import random
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import partial
from itertools import chain
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceError as SimpleSalesforceError,
)
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceRefusedRequest,
)

from cmsf.lib.proxies import env_proxies
from cmsf.salesforce import soql
from cmsf.salesforce.auth import Credentials, Token, get_token
from cmsf.salesforce.errors import (
    ApiLimitExceeded,
    AuthenticationError,
    FatalError,
    RecordError,
    RecordResult,
    TransientError,
)
from cmsf.salesforce.meter import ApiMeter

# Support codes of the log lines (registered in cmsf.maintenance.support_codes, which this package may not import).
RETRY_CODE = "CMSF-SALESFORCE-RETRY"
LOCK_CODE = "CMSF-SF-UNABLE_TO_LOCK_ROW"  # and any other code Salesforce says to try again (RETRIABLE_RECORD_CODES)
log = logging.getLogger(__name__)

API_VERSION = "62.0"
COLLECTION_SIZE = 200
T = TypeVar("T")


def call_kind(method: str, path: str) -> str:
    """A short name for a call, for the meter: "query", "composite/sobjects", "bulk2 ingest upload", ..."""
    if "/services/oauth2/" in path:
        return "oauth"
    if "/services/Soap/m/" in path:
        return "metadata soap"
    tail = path.split("/services/data/", 1)[-1].split("/", 1)[-1] if "/services/data/" in path else path
    parts = [p for p in tail.split("/") if p]
    if not parts:
        return f"{method} /"
    head = parts[0]
    if head in ("query", "queryAll"):
        return "queryMore" if len(parts) > 1 else head
    if head == "jobs" and len(parts) >= 2:
        job_type = parts[1]
        if len(parts) == 2:
            return f"bulk2 {job_type} create"
        if len(parts) == 3:
            return f"bulk2 {job_type} {'close' if method == 'PATCH' else 'delete' if method == 'DELETE' else 'status'}"
        return f"bulk2 {job_type} {'upload' if parts[3] == 'batches' else parts[3]}"
    if head == "composite":
        return "/".join(parts[:2]) if len(parts) > 1 else "composite"
    if head == "sobjects":
        if len(parts) == 1:
            return "describe global"
        if parts[-1] == "describe":
            return "describe"
        if parts[-1] in ("deleted", "updated"):
            return f"get{parts[-1].capitalize()}"
        return f"sobject {method}"
    return head


@dataclass(frozen=True)
class Deleted:
    """What `SalesforceAdapter.deleted` answers: the Ids deleted in the window, and how far it covers."""

    ids: list[str]
    latest_covered: datetime


def parse_bool(value: Any) -> bool:
    """A Salesforce checkbox as REST gives it (true) or a Bulk 2.0 CSV cell does ("true")."""
    return value is True or str(value).lower() == "true"


def parse_datetime(value: Any) -> datetime | None:
    """A Salesforce datetime ("2026-11-27T10:00:00.000+0000" or with "Z") as an aware UTC datetime; None when empty
    or not one."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


@dataclass
class Retry:
    attempts: int = 4
    backoff_base: float = 0.5
    backoff_max: float = 20.0
    bulk_poll_start: float = 0.2
    bulk_poll_max: float = 5.0
    bulk_timeout: float = 3600.0


class SalesforceAdapter:
    def __init__(
        self,
        credentials: Credentials,
        *,
        ca_bundle: str | bool = True,
        api_version: str = API_VERSION,
        meter: ApiMeter | None = None,
        token: Token | None = None,
        collections_threshold: int = 2000,
        retry: Retry | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_token: Callable[[Token], None] | None = None,
    ) -> None:
        self.credentials = credentials
        self.api_version = api_version
        self.meter = meter or ApiMeter()
        self.collections_threshold = collections_threshold
        self.retry = retry or Retry()
        self.sleep = sleep
        self.on_token = on_token
        self._rng = random.Random()
        self._lock = threading.Lock()
        self._fields: dict[str, dict[str, dict[str, Any]]] = {}
        self.session = requests.Session()
        # Every call is verified against the given CA bundle; the environment must not swap it for another.
        self.session.trust_env = False
        self.session.verify = ca_bundle
        self.session.proxies.update(env_proxies())
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=8, max_retries=0)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.session.hooks["response"].append(self._count)
        self.token = token or self._login()
        self.sf = self._client()

    # -- connection --------------------------------------------------------------------------------

    def _count(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        request = response.request
        path = urlsplit(request.url or "").path
        self.meter.record(call_kind(request.method or "GET", path), response.headers.get("Sforce-Limit-Info"))

    def _login(self) -> Token:
        token = get_token(self.credentials, session=self.session, verify=self.session.verify)
        if self.on_token is not None:
            self.on_token(token)
        return token

    def _client(self) -> Salesforce:
        return Salesforce(
            instance_url=self.token.instance_url,
            session_id=self.token.access_token,
            session=self.session,
            version=self.api_version,
        )

    def reauthenticate(self) -> None:
        with self._lock:
            self.token = self._login()
            self.sf = self._client()

    @property
    def base_url(self) -> str:
        return f"{self.token.instance_url.rstrip('/')}/services/data/v{self.api_version}/"

    def _headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token.access_token}", **extra}

    def _backoff(self, attempt: int) -> float:
        return self._rng.uniform(0, min(self.retry.backoff_max, self.retry.backoff_base * 2**attempt))

    def _again(self, operation: str, attempt: int, reason: str) -> None:
        """Wait before a call is sent again: one WARNING with its support code, counted on the meter."""
        delay = self._backoff(attempt)
        self.meter.retried("call")
        log.warning("[%s] Salesforce %s: %s; sent again in %.1f s (attempt %d of %d)", RETRY_CODE, operation, reason,
                    delay, attempt + 1, self.retry.attempts)  # fmt: skip
        self.sleep(delay)

    def _call(self, operation: str, fn: Callable[[], T], *, idempotent: bool = True) -> T:
        """Run one call with the house rules: a new token once on INVALID_SESSION_ID, stop at the limit and
        the budget, retry 5xx, timeouts and dropped connections when repeating is safe."""
        self.meter.check(operation)
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            try:
                return fn()
            except SalesforceExpiredSession as error:
                if refreshed:
                    raise AuthenticationError(
                        "the Salesforce session keeps expiring; reconnect Salesforce", operation=operation, status=401
                    ) from error
                refreshed = True
                self.reauthenticate()
            except SalesforceRefusedRequest as error:
                code = _error_code(error.content)
                if code == "REQUEST_LIMIT_EXCEEDED":
                    raise ApiLimitExceeded(
                        "Salesforce refused the call: the org's daily API requests are used up; the run stops",
                        operation=operation,
                        status=403,
                        code=code,
                    ) from error
                raise FatalError(_error_message(error.content), operation=operation, status=403, code=code) from error
            except SimpleSalesforceError as error:
                status = getattr(error, "status", None) or 0
                if status >= 500 and idempotent and attempt < self.retry.attempts:
                    self._again(operation, attempt, f"HTTP {status}")
                    continue
                kind = TransientError if status >= 500 else FatalError
                raise kind(
                    _error_message(error.content), operation=operation, status=status, code=_error_code(error.content)
                ) from error
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as error:
                if idempotent and attempt < self.retry.attempts:
                    self._again(operation, attempt, type(error).__name__)
                    continue
                raise TransientError(f"{type(error).__name__}: {error}", operation=operation) from error

    def _raw(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        expect: tuple[int, ...] = (200,),
        idempotent: bool = True,
        **kwargs: Any,
    ) -> requests.Response:
        """A call simple-salesforce has no helper for (Bulk 2.0), with the same house rules as `_call`."""

        extra_headers = kwargs.pop("headers", {})  # kept out of `send`, so a retry sends them again

        def send() -> requests.Response:
            headers = {**self._headers(), **extra_headers}
            response = self.session.request(method, self.base_url + path, headers=headers, timeout=300, **kwargs)
            if response.status_code in expect:
                return response
            content: Any
            try:
                content = response.json()
            except ValueError:
                content = response.text
            error_class: type[SimpleSalesforceError] = SimpleSalesforceError
            if response.status_code == 401:
                error_class = SalesforceExpiredSession
            elif response.status_code == 403:
                error_class = SalesforceRefusedRequest
            raise error_class(response.url, response.status_code, path, content)

        return self._call(operation, send, idempotent=idempotent)

    # -- reads -------------------------------------------------------------------------------------

    def describe(self, object_name: str) -> dict[str, Any]:
        sobject = getattr(self.sf, object_name)
        return dict(self._call(f"describe {object_name}", sobject.describe))

    def fields(self, object_name: str) -> dict[str, dict[str, Any]]:
        """An object's fields by lower-case API name, from its describe: one call per object for the adapter's life
        (a console page and its save), however many pickers and checks read them."""
        key = object_name.lower()
        if key not in self._fields:
            described = self.describe(object_name)
            self._fields[key] = {str(f["name"]).lower(): f for f in described.get("fields", ())}
        return self._fields[key]

    def describe_global(self) -> dict[str, Any]:
        return dict(self._call("describe global", self.sf.describe) or {})

    def limits(self) -> dict[str, Any]:
        return dict(self._call("limits", self.sf.limits) or {})

    def server_time(self) -> datetime | None:
        """Salesforce's clock: the Date header of a `GET /limits`, to the second; None when the answer has none."""
        response = self._raw("GET", "limits", operation="limits")
        try:
            return parsedate_to_datetime(response.headers["Date"])
        except (KeyError, TypeError, ValueError):
            return None

    def record_counts(self, object_names: Sequence[str]) -> dict[str, int]:
        """How many records each object holds, in one call (`GET /limits/recordCount`); Salesforce refreshes these
        counts now and then, so they may trail the newest writes a little. An object with no records is 0."""
        params = {"sObjects": ",".join(object_names)}
        body = self._call("limits recordCount", lambda: self.sf.restful("limits/recordCount", params=params))
        counts = {str(entry.get("name")): int(entry.get("count") or 0) for entry in (body or {}).get("sObjects", ())}
        return {name: counts.get(name, 0) for name in object_names}

    def query(self, soql: str, *, include_deleted: bool = False) -> Iterator[dict[str, Any]]:
        """Every record of a SOQL query through REST, page by page (2,000 a page)."""
        page = self._call("query", lambda: self.sf.query(soql, include_deleted=include_deleted))
        while True:
            for record in page.get("records", ()):
                yield plain_record(record)
            if page.get("done", True):
                return
            page = self._call("queryMore", partial(self.sf.query_more, page["nextRecordsUrl"], identifier_is_url=True))

    def deleted(self, object_name: str, start: datetime, end: datetime) -> Deleted:
        """The records of an object deleted between two times (`GET /sobjects/{object}/deleted/`, one call), with
        the latest time the answer covers: the next read starts there. Salesforce keeps 30 days (and refuses an
        older start), so an older start is moved to 29 days ago."""
        start = max(start, end - timedelta(days=29))
        params = {"start": soql.datetime_literal(start), "end": soql.datetime_literal(end)}
        body = (
            self._call("getDeleted", lambda: self.sf.restful(f"sobjects/{object_name}/deleted/", params=params)) or {}
        )
        return Deleted(
            ids=[str(entry["id"]) for entry in body.get("deletedRecords", ()) if entry.get("id")],
            latest_covered=parse_datetime(body.get("latestDateCovered")) or end,
        )

    def list_views(self, object_name: str) -> list[dict[str, Any]]:
        """The object's list views: {"id", "label", "developerName", "soqlCompatible", ...} each (one call)."""
        body = self._call("listviews", lambda: self.sf.restful(f"sobjects/{object_name}/listviews")) or {}
        return [dict(view) for view in body.get("listviews", ())]

    def list_view_query(self, object_name: str, list_view_id: str) -> str:
        """The SOQL a list view runs, from its describe (one call)."""
        path = f"sobjects/{object_name}/listviews/{list_view_id}/describe"
        body = self._call("listview describe", lambda: self.sf.restful(path)) or {}
        return str(body.get("query") or "")

    def reports(self) -> list[dict[str, Any]]:
        """The reports the user viewed lately (`GET analytics/reports`, one call): {"id", "name", ...} each."""
        body = self._call("analytics reports", lambda: self.sf.restful("analytics/reports")) or []
        return [dict(report) for report in body]

    def report_describe(self, report_id: str) -> dict[str, Any]:
        """A report's metadata, its detail columns' and its report type's columns (one call)."""
        path = f"analytics/reports/{report_id}/describe"
        return dict(self._call("analytics report describe", lambda: self.sf.restful(path)) or {})

    def run_report(self, report_id: str, metadata: Mapping[str, Any]) -> dict[str, Any]:
        """A synchronous run of a report with its metadata changed for this run (filters, sort, columns): at most
        2,000 detail rows (one call). A run changes nothing, so it is retried like a read."""
        path = f"analytics/reports/{report_id}"
        body = {"reportMetadata": dict(metadata)}
        call = partial(self.sf.restful, path, method="POST", params={"includeDetails": "true"}, json=body)
        return dict(self._call("analytics report run", call) or {})

    def retrieve(self, object_name: str, ids: Sequence[str], fields: Sequence[str]) -> list[dict[str, Any] | None]:
        """Records by Id, 2,000 a call (`POST composite/sobjects/{object}`), in the order asked; None for an Id
        that is deleted or unknown."""
        found: list[dict[str, Any] | None] = []
        for start in range(0, len(ids), 2000):
            body = {"ids": list(ids[start : start + 2000]), "fields": list(fields)}
            call = self._collections_call("POST", f"composite/sobjects/{object_name}", json=body)
            found += [None if record is None else plain_record(record) for record in call or ()]
        return found

    def count(self, soql: str) -> int:
        return int(self._call("query", lambda: self.sf.query(soql)).get("totalSize", 0))

    def bulk_query(
        self, soql: str, *, include_deleted: bool = False, page_size: int = 50_000
    ) -> Iterator[dict[str, str]]:
        """Every row of a Bulk 2.0 query job, as CSV strings by column ("" for null)."""
        body = {"operation": "queryAll" if include_deleted else "query", "query": soql, "lineEnding": "LF"}
        job = self._raw("POST", "jobs/query", operation="bulk query create", json=body, idempotent=False).json()
        self._wait_for_job("query", job["id"])
        locator = ""
        while True:
            params: dict[str, Any] = {"maxRecords": page_size}
            if locator:
                params["locator"] = locator
            response = self._raw(
                "GET", f"jobs/query/{job['id']}/results", operation="bulk query results", params=params,
                headers={"Accept": "text/csv"},
            )  # fmt: skip
            yield from csv.DictReader(io.StringIO(response.content.decode("utf-8")))
            locator = response.headers.get("Sforce-Locator", "null")
            if not locator or locator == "null":
                return

    # -- writes ------------------------------------------------------------------------------------

    def insert(self, object_name: str, records: Sequence[Mapping[str, Any]]) -> list[RecordResult]:
        return self._write("insert", object_name, records)

    def update(self, object_name: str, records: Sequence[Mapping[str, Any]]) -> list[RecordResult]:
        """Records carry their "Id"."""
        return self._write("update", object_name, records)

    def upsert(self, object_name: str, external_id: str, records: Sequence[Mapping[str, Any]]) -> list[RecordResult]:
        """Records carry their external id; the rerun of a crashed write creates nothing twice."""
        return self._write("upsert", object_name, records, external_id=external_id)

    def delete(self, object_name: str, ids: Iterable[str]) -> list[RecordResult]:
        return self._write("delete", object_name, [{"Id": record_id} for record_id in ids])

    def _write(
        self, operation: str, object_name: str, records: Sequence[Mapping[str, Any]], *, external_id: str = ""
    ) -> list[RecordResult]:
        key_field = external_id or "Id"
        results = [RecordResult(index=i, key=str(r.get(key_field) or "")) for i, r in enumerate(records)]
        pending = list(range(len(records)))
        for attempt in range(self.retry.attempts):
            batch = [records[i] for i in pending]
            if len(batch) > self.collections_threshold:
                outcome = self._bulk_write(operation, object_name, batch, external_id)
            else:
                outcome = self._collections_write(operation, object_name, batch, external_id)
            for position, result in zip(pending, outcome, strict=True):
                result.index, result.key = position, results[position].key
                results[position] = result
            pending = [i for i in pending if results[i].retriable]
            if not pending:
                break
            if attempt + 1 < self.retry.attempts:
                delay = self._backoff(attempt + 1)
                self.meter.retried("lock")
                codes = sorted({e.code for i in pending for e in results[i].errors})
                log.warning("[%s] Salesforce %s of %s: %d records refused for now (%s); sent again in %.1f s "
                            "(attempt %d of %d)", LOCK_CODE, operation, object_name, len(pending), ", ".join(codes),
                            delay, attempt + 2, self.retry.attempts)  # fmt: skip
                self.sleep(delay)
        return results

    def _collections_write(
        self, operation: str, object_name: str, records: Sequence[Mapping[str, Any]], external_id: str
    ) -> list[RecordResult]:
        results: list[RecordResult] = []
        for start in range(0, len(records), COLLECTION_SIZE):
            chunk = records[start : start + COLLECTION_SIZE]
            if operation == "delete":
                ids = ",".join(str(r["Id"]) for r in chunk)
                call = self._collections_call("DELETE", "composite/sobjects", params={"ids": ids, "allOrNone": "false"})
            else:
                attributes = {"type": object_name}
                body = {"allOrNone": False, "records": [_json_record(attributes, r) for r in chunk]}
                if operation == "insert":
                    call = self._collections_call("POST", "composite/sobjects", json=body, idempotent=False)
                elif operation == "update":
                    call = self._collections_call("PATCH", "composite/sobjects", json=body)
                else:
                    call = self._collections_call("PATCH", f"composite/sobjects/{object_name}/{external_id}", json=body)
            for offset, item in enumerate(call or ()):
                results.append(_collection_result(start + offset, item))
            if len(call or ()) != len(chunk):
                raise FatalError(
                    f"Salesforce answered {len(call or ())} results for {len(chunk)} records",
                    operation=f"{operation} {object_name}",
                )
        return results

    def _collections_call(self, method: str, path: str, *, idempotent: bool = True, **kwargs: Any) -> Any:
        return self._call(
            f"{method} {path}", lambda: self.sf.restful(path, method=method, **kwargs), idempotent=idempotent
        )

    def _bulk_write(
        self, operation: str, object_name: str, records: Sequence[Mapping[str, Any]], external_id: str
    ) -> list[RecordResult]:
        flats = [_flat(record) for record in records]
        columns = _columns(flats) if operation != "delete" else ["Id"]
        cells = _cells(flats, columns)
        job_spec: dict[str, Any] = {
            "object": object_name,
            "operation": operation,
            "contentType": "CSV",
            "lineEnding": "CRLF",
            "columnDelimiter": "COMMA",
        }
        if operation == "upsert":
            job_spec["externalIdFieldName"] = external_id
        job = self._raw("POST", "jobs/ingest", operation="bulk ingest create", json=job_spec, idempotent=False).json()
        job_id = job["id"]
        self._raw(
            "PUT",
            f"jobs/ingest/{job_id}/batches",
            operation="bulk ingest upload",
            expect=(201,),
            data=csv_text(columns, cells).encode("utf-8"),
            headers={"Content-Type": "text/csv"},
        )
        self._raw("PATCH", f"jobs/ingest/{job_id}", operation="bulk ingest close", json={"state": "UploadComplete"})
        info = self._wait_for_job("ingest", job_id)
        key_column = "" if operation == "insert" else external_id or "Id"
        return self._bulk_results(job_id, info, _ResultMatcher(columns, cells, key_column))

    def _wait_for_job(self, job_type: str, job_id: str) -> dict[str, Any]:
        delay = self.retry.bulk_poll_start
        deadline = time.monotonic() + self.retry.bulk_timeout
        while True:
            info: dict[str, Any] = self._raw(
                "GET", f"jobs/{job_type}/{job_id}", operation=f"bulk {job_type} status"
            ).json()
            state = info.get("state")
            if state in ("JobComplete", "Failed", "Aborted"):
                if state != "JobComplete" and job_type == "query":
                    raise FatalError(
                        f"the Bulk 2.0 query job {job_id} ended {state}: {info.get('errorMessage', '')}",
                        operation="bulk query",
                    )
                return info
            if time.monotonic() > deadline:
                raise TransientError(f"the Bulk 2.0 job {job_id} did not finish in time", operation=f"bulk {job_type}")
            self.sleep(delay)
            delay = min(delay * 2, self.retry.bulk_poll_max)

    def _bulk_results(self, job_id: str, info: dict[str, Any], match: _ResultMatcher) -> list[RecordResult]:
        """Map result rows back to the records (result order is not upload order) with `match`."""
        results: list[RecordResult | None] = [None] * match.size
        take = match.take

        processed = int(info.get("numberRecordsProcessed", 0))
        failed = int(info.get("numberRecordsFailed", 0))
        if processed - failed > 0:
            for row in self._result_rows(job_id, "successfulResults"):
                index = take(row)
                if index is not None:
                    created = row.get("sf__Created", "").lower() == "true"
                    results[index] = RecordResult(index, "", id=row.get("sf__Id") or None, created=created)
        if failed > 0:
            for row in self._result_rows(job_id, "failedResults"):
                index = take(row)
                if index is not None:
                    results[index] = RecordResult(index, "", id=row.get("sf__Id") or None, errors=[bulk_error(row)])
        if info.get("state") != "JobComplete" or processed < match.size:
            for row in self._result_rows(job_id, "unprocessedrecords"):
                index = take(row)
                if index is not None:
                    message = f"the job ended {info.get('state')} before this record: {info.get('errorMessage', '')}"
                    results[index] = RecordResult(index, "", errors=[RecordError("UNPROCESSED", message)])
        return [
            r
            if r is not None
            else RecordResult(
                i, "", errors=[RecordError("NO_RESULT", f"job {job_id} reported nothing for this record")]
            )
            for i, r in enumerate(results)
        ]

    def _result_rows(self, job_id: str, kind: str) -> Iterator[dict[str, str]]:
        response = self._raw(
            "GET", f"jobs/ingest/{job_id}/{kind}/", operation=f"bulk ingest {kind}", headers={"Accept": "text/csv"}
        )
        yield from csv.DictReader(io.StringIO(response.content.decode("utf-8"), newline=""))

    # -- Metadata API ------------------------------------------------------------------------------

    def metadata_deploy(self, archive: bytes, deploy_options: Mapping[str, Any]) -> dict[str, Any]:
        """Start a Metadata API deploy of `archive` (a zip with package.xml) through REST: `metadata/deployRequest`,
        multipart with a `json` part (`deployOptions`) and a `file` part (the zip). It runs asynchronously: poll
        `metadata_deploy_status` until `deployResult.done`."""
        files = {
            "json": (None, json.dumps({"deployOptions": dict(deploy_options)}), "application/json"),
            "file": ("deploy.zip", archive, "application/zip"),
        }
        response = self._raw(
            "POST", "metadata/deployRequest", operation="metadata deploy", expect=(200, 201), idempotent=False,
            files=files,
        )  # fmt: skip
        return dict(response.json())

    def metadata_deploy_status(self, deploy_id: str) -> dict[str, Any]:
        """A deploy's status with its details (`deployResult.details.componentFailures` / `componentSuccesses`)."""
        response = self._raw(
            "GET", f"metadata/deployRequest/{deploy_id}", operation="metadata deploy status",
            params={"includeDetails": "true"},
        )  # fmt: skip
        return dict(response.json())

    def metadata_soap(self, call_xml: str, *, operation: str) -> bytes:
        """One call of the SOAP Metadata API (`readMetadata`, ...): `call_xml` is the body's call element, in the
        metadata namespace; the session goes in the `SessionHeader`. Answers the response envelope; a SOAP fault
        is raised as the REST errors are (INVALID_SESSION_ID signs in again, REQUEST_LIMIT_EXCEEDED stops)."""
        url = f"{self.token.instance_url.rstrip('/')}/services/Soap/m/{self.api_version}"

        def send() -> bytes:
            envelope = (
                '<?xml version="1.0" encoding="UTF-8"?>'
                f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENVELOPE_NS}" xmlns="{METADATA_NS}">'
                f"<soapenv:Header><SessionHeader><sessionId>{xml_text(self.token.access_token)}</sessionId>"
                f"</SessionHeader></soapenv:Header><soapenv:Body>{call_xml}</soapenv:Body></soapenv:Envelope>"
            )
            headers = {"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": '""'}
            response = self.session.post(url, data=envelope.encode("utf-8"), headers=headers, timeout=300)
            if response.status_code == 200:
                return response.content
            code, message = soap_fault(response.content)
            content: Any = [{"errorCode": code, "message": message or f"HTTP {response.status_code}"}]
            if code == "INVALID_SESSION_ID":
                raise SalesforceExpiredSession(url, 401, operation, content)
            if code == "REQUEST_LIMIT_EXCEEDED":
                raise SalesforceRefusedRequest(url, 403, operation, content)
            # a fault comes as HTTP 500 whatever its cause: only the server's own trouble is worth repeating
            status = response.status_code
            if code and code not in SOAP_SERVER_FAULTS:
                status = 400
            raise SimpleSalesforceError(url, status, operation, content)

        return self._call(operation, send)


SOAP_ENVELOPE_NS = "http://schemas.xmlsoap.org/soap/envelope/"
METADATA_NS = "http://soap.sforce.com/2006/04/metadata"
SOAP_SERVER_FAULTS = frozenset({"SERVER_UNAVAILABLE", "UNKNOWN_EXCEPTION"})


def xml_text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def soap_fault(body: bytes) -> tuple[str, str]:
    """The code ("INVALID_SESSION_ID", without its "sf:" prefix) and message of a SOAP fault ("" and the start of the
    body when it is not one)."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return "", body[:300].decode("utf-8", "replace")
    fault = root.find(f"{{{SOAP_ENVELOPE_NS}}}Body/{{{SOAP_ENVELOPE_NS}}}Fault")
    if fault is None:
        return "", body[:300].decode("utf-8", "replace")
    code = (fault.findtext("faultcode") or "").strip().rpartition(":")[2]
    return code, (fault.findtext("faultstring") or "").strip()


# -- helpers -----------------------------------------------------------------------------------------


def plain_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """A query record without `attributes`, parent objects flattened to "Parent.Field" keys."""
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if key == "attributes":
            continue
        if isinstance(value, Mapping) and "attributes" in value:
            for child_key, child_value in plain_record(value).items():
                flat[f"{key}.{child_key}"] = child_value
        else:
            flat[key] = value
    return flat


def _error_code(content: Any) -> str:
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("errorCode", ""))
    return ""


def _error_message(content: Any) -> str:
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("message", ""))
    return str(content)[:500]


def _json_record(attributes: dict[str, str], record: Mapping[str, Any]) -> dict[str, Any]:
    """A record for sObject Collections: `attributes` first, then its fields (a record's own "attributes" is
    dropped)."""
    if "attributes" not in record:
        return {"attributes": attributes, **record}
    return {"attributes": attributes, **{k: v for k, v in record.items() if k != "attributes"}}


def _collection_result(index: int, item: Mapping[str, Any]) -> RecordResult:
    errors = [
        RecordError(str(e.get("statusCode", "")), str(e.get("message", "")), tuple(e.get("fields") or ()))
        for e in item.get("errors") or ()
    ]
    if not item.get("success") and not errors:
        errors = [RecordError("UNKNOWN_ERROR", "Salesforce reported a failure without an error")]
    return RecordResult(index, "", id=item.get("id"), created=item.get("created"), errors=errors)


_SCALARS = frozenset({str, int, float, bool, type(None)})  # types that are surely not a Mapping


def _flat(record: Mapping[str, Any]) -> dict[str, Any]:
    """A record as CSV columns: a parent referenced by external id, {"List__r": {"List_Id__c": "x"}}, becomes
    the column "List__r.List_Id__c" (Bulk 2.0's relationship column)."""
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if key == "attributes":
            continue
        kind = type(value)
        # a dict or a plain value is told without the (slow) Mapping ABC check; anything else takes it
        if kind is dict or (kind not in _SCALARS and isinstance(value, Mapping)):
            for child, child_value in value.items():
                if child != "attributes":
                    flat[f"{key}.{child}"] = child_value
        else:
            flat[key] = value
    return flat


def _columns(flats: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every column of the flattened records, in the order first seen."""
    return list(dict.fromkeys(chain.from_iterable(flats)))


def _cell(value: Any) -> str:
    if value is None:
        return "#N/A"  # Bulk 2.0 sets a field to null with #N/A; an empty cell would leave it unchanged
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


_ABSENT = object()


def _cells(flats: Sequence[Mapping[str, Any]], columns: list[str]) -> list[list[str]]:
    """The CSV cells of each flattened record by `columns` ("" for a column the record lacks), as `_cell` writes
    them; a record whose keys are the columns in order (the usual case) is read without a look-up per column."""
    rows: list[list[str]] = []
    width = len(columns)
    for flat in flats:
        if len(flat) == width and list(flat) == columns:
            values: Iterable[Any] = flat.values()
        else:
            values = [flat.get(c, _ABSENT) for c in columns]
        rows.append(
            [v if type(v) is str else "#N/A" if v is None else "" if v is _ABSENT else _cell(v) for v in values]
        )
    return rows


def csv_text(columns: list[str], rows: Iterable[list[str]]) -> str:
    """CSV with CRLF line endings, as `csv.writer` writes it; a row with nothing to quote is joined directly."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # a lone CR or LF would not match the job's CRLF
    writer.writerow(columns)
    write, write_row, commas = out.write, writer.writerow, len(columns) - 1
    for cells in rows:
        line = ",".join(cells)
        # csv.writer quotes a cell with a comma, a quote, CR or LF (NUL is left to it too), and writes a lone
        # empty cell as ""
        if line and line.count(",") == commas and not ('"' in line or "\n" in line or "\r" in line or "\0" in line):
            write(line + "\r\n")
        else:
            write_row(cells)
    return out.getvalue()


def records_csv(records: Sequence[Mapping[str, Any]], columns: list[str]) -> str:
    """The Bulk 2.0 upload of `records` by `columns`."""
    return csv_text(columns, _cells([_flat(record) for record in records], columns))


class _ResultMatcher:
    """Finds the record a Bulk 2.0 result row reports on; each record is taken once.

    Result rows echo the uploaded cells. With a key column (the external id of an upsert, the Id of an update or a
    delete) a row is matched by its key's cell, and, where records share a key, by all its cells first and then
    the first record with that key not yet taken. Without a key column (an insert) a row is matched by all its cells.
    """

    def __init__(self, columns: list[str], cells: list[list[str]], key_column: str = "") -> None:
        self.columns = columns
        self.size = len(cells)
        self.key_column = key_column if key_column in columns else ""
        self._taken = bytearray(self.size)
        # positions in descending order, so that pop() gives the first one
        self._by_key: dict[str, list[int]] = {}
        self._by_row: dict[tuple[str, ...], list[int]] = {}
        descending = range(self.size - 1, -1, -1)
        if self.key_column:
            key = columns.index(self.key_column)
            for position in descending:
                self._by_key.setdefault(cells[position][key], []).append(position)
            for positions in self._by_key.values():
                if len(positions) > 1:
                    for position in positions:
                        self._by_row.setdefault(tuple(cells[position]), []).append(position)
        else:
            for position in descending:
                self._by_row.setdefault(tuple(cells[position]), []).append(position)

    def _first(self, positions: list[int] | None) -> int | None:
        while positions:
            position = positions.pop()
            if not self._taken[position]:
                self._taken[position] = 1
                return position
        return None

    def take(self, row: Mapping[str, Any]) -> int | None:
        """The position of the record `row` reports on, or None when no record is left for it."""
        if not self.key_column:
            return self._first(self._by_row.get(tuple(row.get(c, "") for c in self.columns)))
        positions = self._by_key.get(row.get(self.key_column, ""))
        if positions is not None and len(positions) > 1:
            same = self._first(self._by_row.get(tuple(row.get(c, "") for c in self.columns)))
            if same is not None:
                return same
        return self._first(positions)


def bulk_error(row: Mapping[str, str]) -> RecordError:
    """`sf__Error` reads "CODE:message:field,field --"."""
    raw = (row.get("sf__Error") or "").strip()
    raw = raw[:-2].rstrip() if raw.endswith("--") else raw
    code, _, rest = raw.partition(":")
    message, _, fields = rest.rpartition(":") if rest.count(":") else (rest, "", "")
    return RecordError(code or "UNKNOWN_ERROR", (message or rest).strip(), tuple(f for f in fields.split(",") if f))


@dataclass(frozen=True)
class ExistingMember:
    """A CampaignMember as Salesforce holds it: cmsf's (its `CMSF_Member_Key__c` set) or an admin's (key empty)."""

    id: str
    campaign_id: str
    person_id: str  # the ContactId, or the LeadId of a member that has no contact
    lead_id: str
    status: str
    key: str


class CampaignMembers:
    """CampaignMember and CampaignMemberStatus have no external id: look up, then create or update."""

    LOOKUP_CHUNK = 200  # campaign ids (or people) per query, well inside SOQL's length limits
    FIELDS = "Id, CampaignId, ContactId, LeadId, Status, CMSF_Member_Key__c"

    def __init__(self, adapter: SalesforceAdapter) -> None:
        self.adapter = adapter

    def read(self, campaign_ids: Iterable[str], *, people: Iterable[str] | None = None) -> Iterator[ExistingMember]:
        """The members of these campaigns: one query (paged by 2,000) per 200 campaigns; with `people` (Contact and
        Lead Ids), only theirs, one query per 200 campaigns and 200 people."""
        ids = sorted(set(campaign_ids))
        who = sorted(set(people)) if people is not None else None
        for start in range(0, len(ids), self.LOOKUP_CHUNK):
            where = f"CampaignId IN ({soql.quote_list(ids[start : start + self.LOOKUP_CHUNK])})"
            filters = [""]
            if who is not None:
                filters = [
                    f" AND (ContactId IN ({quoted}) OR LeadId IN ({quoted}))"
                    for quoted in (
                        soql.quote_list(who[at : at + self.LOOKUP_CHUNK])
                        for at in range(0, len(who), self.LOOKUP_CHUNK)
                    )
                ]
            for extra in filters:
                for row in self.adapter.query(f"SELECT {self.FIELDS} FROM CampaignMember WHERE {where}{extra}"):
                    person = str(row.get("ContactId") or row.get("LeadId") or "")
                    if person:
                        yield ExistingMember(
                            id=str(row["Id"]),
                            campaign_id=str(row["CampaignId"]),
                            person_id=person,
                            lead_id=str(row.get("LeadId") or ""),
                            status=str(row.get("Status") or ""),
                            key=str(row.get("CMSF_Member_Key__c") or ""),
                        )

    def existing(self, campaign_ids: Iterable[str]) -> dict[tuple[str, str], str]:
        """(CampaignId, ContactId or LeadId) -> CampaignMember Id, for these campaigns."""
        found: dict[tuple[str, str], str] = {}
        for member in self.read(campaign_ids):
            found[(member.campaign_id, member.person_id)] = member.id
            if member.lead_id:
                found[(member.campaign_id, member.lead_id)] = member.id
        return found

    def save(self, members: Sequence[Mapping[str, Any]]) -> list[RecordResult]:
        """Create or update members (each with CampaignId and ContactId or LeadId), in the given order."""
        existing = self.existing(m["CampaignId"] for m in members)
        creates: list[int] = []
        updates: list[int] = []
        rows: list[dict[str, Any]] = []
        for index, member in enumerate(members):
            who = member.get("ContactId") or member.get("LeadId") or ""
            member_id = existing.get((member["CampaignId"], who))
            if member_id:
                row = {k: v for k, v in member.items() if k not in ("CampaignId", "ContactId", "LeadId")}
                rows.append({"Id": member_id, **row})
                updates.append(index)
            else:
                rows.append(dict(member))
                creates.append(index)
        results: list[RecordResult] = [RecordResult(i, "") for i in range(len(members))]
        for indices, write in ((creates, self.adapter.insert), (updates, self.adapter.update)):
            if indices:
                for index, result in zip(indices, write("CampaignMember", [rows[i] for i in indices]), strict=True):
                    member = members[index]
                    result.index = index
                    result.key = f"{member['CampaignId']}:{member.get('ContactId') or member.get('LeadId') or ''}"
                    results[index] = result
        return results

    def ensure_statuses(
        self, campaign_id: str, statuses: Sequence[tuple[str, bool]], *, have: Collection[str] | None = None
    ) -> list[RecordResult]:
        """Add the (label, responded) statuses the campaign lacks; the existing default stays the default. `have`:
        the lower-case labels it is known to have (read for many campaigns at once), saving this call's query."""
        if have is None:
            query = f"SELECT Id, Label FROM CampaignMemberStatus WHERE CampaignId = {soql.quote(campaign_id)}"
            have = {row["Label"].lower() for row in self.adapter.query(query)}
        missing = [
            {"CampaignId": campaign_id, "Label": label, "HasResponded": responded, "IsDefault": False}
            for label, responded in statuses
            if label.lower() not in have
        ]
        return self.adapter.insert("CampaignMemberStatus", missing) if missing else []
