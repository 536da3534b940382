"""Bulk API 2.0 under /services/data/vXX.X/jobs/: ingest jobs (insert, update, upsert, delete, hardDelete)
with their CSV results, and query jobs (query, queryAll) with locator paging.

An ingest job is processed synchronously when it is closed (PATCH state UploadComplete): the PATCH answers
UploadComplete as Salesforce does, and the next GET sees JobComplete (or Failed). A query job runs when it is
created and is JobComplete from the first GET on. Every HTTP call counts as one API request.

CSV rules: the job's column delimiter and line ending (data whose line endings do not match the job's fails
the job: "ClientInputError : LineEnding is invalid on user data. Current LineEnding setting is LF"); an
unknown column fails the job ("InvalidBatch : Field name not found : X"); empty cells are ignored (an
update leaves the field as it is); `#N/A` sets null; relationship columns `Rel.IndexedField` look up the
parent by an external id or idLookup field; rows are written in chunks of 200, and an upsert key that
appears twice in one chunk fails both rows ("Duplicate external id specified: X").
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cmsf_sandbox.salesforce.errors import ApiError, DmlError, MultipleMatches, RecordError, SoqlError, not_found
from cmsf_sandbox.salesforce.http import Reply, Request
from cmsf_sandbox.salesforce.ids import make_id, to_18
from cmsf_sandbox.salesforce.schema import Field, SObject
from cmsf_sandbox.salesforce.soql import Query, compile_query
from cmsf_sandbox.salesforce.store_tables import SETTLE_AFTER, settle_heap
from cmsf_sandbox.salesforce.values import NULL_MARKER, csv_text, csv_value

if TYPE_CHECKING:
    from cmsf_sandbox.salesforce.state import Emulator

DELIMITERS = {"COMMA": ",", "BACKQUOTE": "`", "CARET": "^", "PIPE": "|", "SEMICOLON": ";", "TAB": "\t"}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")
QUERY_OPERATIONS = ("query", "queryAll")
TERMINAL = ("JobComplete", "Failed", "Aborted")
MAX_UPLOAD = 150 * 1024 * 1024
BATCH_RECORDS = 10_000  # records per internal batch (DailyBulkApiBatches)
CHUNK = 200  # records per transaction within a batch
CSV_TYPE = "text/csv; charset=UTF-8"
_QUOTED = re.compile(r'"(?:[^"]|"")*"')


@dataclass
class IngestJob:
    id: str
    operation: str
    object: str
    external_id_field: str | None
    line_ending: str
    column_delimiter: str
    created_by: str
    created_date: str
    version: str
    state: str = "Open"
    modstamp: str = ""
    data: bytes | None = None
    header: list[str] = field(default_factory=list)
    successes: list[tuple[str, bool, list[str]]] = field(default_factory=list)
    failures: list[tuple[str, str, list[str]]] = field(default_factory=list)
    unprocessed: list[list[str]] = field(default_factory=list)
    error_message: str | None = None
    processing_ms: int = 0

    def info(self, full: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": self.created_by,
            "createdDate": self.created_date,
            "systemModstamp": self.modstamp or self.created_date,
            "state": self.state,
        }
        if self.external_id_field:
            body["externalIdFieldName"] = self.external_id_field
        body.update(
            {
                "concurrencyMode": "Parallel",
                "contentType": "CSV",
                "apiVersion": float(self.version),
            }
        )
        if self.state == "Open":
            body["contentUrl"] = f"services/data/v{self.version}/jobs/ingest/{self.id}/batches"
        body.update({"lineEnding": self.line_ending, "columnDelimiter": self.column_delimiter})
        if full:
            body.update(
                {
                    "jobType": "V2Ingest",
                    "numberRecordsProcessed": len(self.successes) + len(self.failures),
                    "numberRecordsFailed": len(self.failures),
                    "retries": 0,
                    "totalProcessingTime": self.processing_ms,
                    "apiActiveProcessingTime": self.processing_ms,
                    "apexProcessingTime": 0,
                }
            )
            if self.error_message:
                body["errorMessage"] = self.error_message
        return body


@dataclass
class QueryJob:
    id: str
    operation: str
    object: str
    query: Query
    line_ending: str
    column_delimiter: str
    created_by: str
    created_date: str
    version: str
    rows: list[dict[str, Any]]
    state: str = "UploadComplete"
    modstamp: str = ""
    processing_ms: int = 0

    def info(self, full: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": self.created_by,
            "createdDate": self.created_date,
            "systemModstamp": self.modstamp or self.created_date,
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.version),
            "lineEnding": self.line_ending,
            "columnDelimiter": self.column_delimiter,
        }
        if full:
            body.update(
                {
                    "jobType": "V2Query",
                    "numberRecordsProcessed": len(self.rows) if self.state == "JobComplete" else 0,
                    "retries": 0,
                    "totalProcessingTime": self.processing_ms,
                    "isPkChunkingSupported": not self.query.order and self.query.limit is None,
                }
            )
        return body


class BulkJobs:
    def __init__(self, em: Emulator) -> None:
        self.em = em
        self.ingest: dict[str, IngestJob] = {}
        self.queries: dict[str, QueryJob] = {}
        self._seq = 0

    def new_id(self) -> str:
        self._seq += 1
        return make_id("750", self._seq)


# --------------------------------------------------------------------------------------------- helpers


def _reply(status: int, data: Any = None, **kw: Any) -> Reply:
    return Reply(status, data, **kw)


def _body(rq: Request) -> dict[str, Any]:
    try:
        data = json.loads(rq.body) if rq.body.strip() else None
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "JSON_PARSER_ERROR", "The request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
    return data


def _invalid_job(message: str) -> ApiError:
    return ApiError(400, "INVALIDJOB", f"InvalidJob : {message}")


def _state_error(state: str) -> ApiError:
    return ApiError(409, "INVALIDJOBSTATE", f"Found unexpected job state: {state}")


def _ingest_job(em: Emulator, job_id: str) -> IngestJob:
    job = em.bulk.ingest.get(job_id)
    if job is None:
        try:
            job = em.bulk.ingest.get(to_18(job_id))
        except ValueError:
            job = None
    if job is None:
        raise not_found()
    return job


def _query_job(em: Emulator, job_id: str) -> QueryJob:
    job = em.bulk.queries.get(job_id)
    if job is None:
        try:
            job = em.bulk.queries.get(to_18(job_id))
        except ValueError:
            job = None
    if job is None:
        raise not_found()
    return job


def _format(job_delimiter: str, job_line_ending: str) -> tuple[str, str]:
    return DELIMITERS[job_delimiter], LINE_ENDINGS[job_line_ending]


def _options(data: dict[str, Any]) -> tuple[str, str]:
    line_ending = str(data.get("lineEnding") or "LF").upper()
    delimiter = str(data.get("columnDelimiter") or "COMMA").upper()
    if line_ending not in LINE_ENDINGS:
        raise _invalid_job(f"Invalid lineEnding: {data.get('lineEnding')} (LF or CRLF)")
    if delimiter not in DELIMITERS:
        raise _invalid_job(f"Invalid columnDelimiter: {data.get('columnDelimiter')} ({', '.join(DELIMITERS)})")
    if str(data.get("contentType") or "CSV").upper() != "CSV":
        raise _invalid_job(f"Invalid contentType: {data.get('contentType')} (CSV only)")
    return line_ending, delimiter


# ---------------------------------------------------------------------------------------------- ingest


def ingest_create(em: Emulator, rq: Request) -> Reply:
    data = _body(rq)
    operation = str(data.get("operation") or "")
    if operation not in OPERATIONS:
        raise _invalid_job(f"Invalid operation: {operation or '(none)'} ({', '.join(OPERATIONS)})")
    name = str(data.get("object") or "")
    obj = em.schema.get(name)
    if obj is None:
        raise ApiError(400, "INVALIDENTITY", f"InvalidEntity : Entity '{name}' is not supported by the Bulk API.")
    line_ending, delimiter = _options(data)
    external = data.get("externalIdFieldName")
    key_name: str | None = None
    if operation == "upsert":
        if not external:
            raise _invalid_job(f"External ID was blank for {obj.name}. An External ID must be specified for upsert.")
        key = obj.field(str(external))
        if key is None or not (key.external_id or key.id_lookup):
            raise _invalid_job(f"Field name provided, {external} is not an External ID or indexed field for {obj.name}")
        key_name = key.name
    ctx = em.context(rq.session.user_id)
    job = IngestJob(
        em.bulk.new_id(),
        operation,
        obj.name,
        key_name,
        line_ending,
        delimiter,
        rq.session.user_id,
        ctx.now,
        rq.version,
    )
    em.bulk.ingest[job.id] = job
    return _reply(200, job.info(full=False))


def ingest_list(em: Emulator, rq: Request) -> Reply:
    jobs = [job.info(full=False) | {"jobType": "V2Ingest"} for job in em.bulk.ingest.values()]
    return _reply(200, {"done": True, "records": jobs, "nextRecordsUrl": None})


def ingest_get(em: Emulator, rq: Request) -> Reply:
    return _reply(200, _ingest_job(em, rq.parts[2]).info())


def ingest_upload(em: Emulator, rq: Request) -> Reply:
    job = _ingest_job(em, rq.parts[2])
    if job.state != "Open":
        raise _state_error(job.state)
    if job.data is not None:
        raise ApiError(409, "INVALIDJOBSTATE", "A job takes one upload of data: create another job for more")
    if len(rq.body) > MAX_UPLOAD:
        raise ApiError(400, "CLIENTINPUTERROR", "ClientInputError : the upload exceeds 150 MB")
    if not rq.body:
        raise ApiError(400, "CLIENTINPUTERROR", "ClientInputError : no data uploaded")
    job.data = rq.body
    return _reply(201)


def ingest_patch(em: Emulator, rq: Request) -> Reply:
    job = _ingest_job(em, rq.parts[2])
    state = str(_body(rq).get("state") or "")
    ctx = em.context(rq.session.user_id)
    if state == "UploadComplete":
        if job.state != "Open":
            raise _state_error(job.state)
        job.state = "UploadComplete"
        job.modstamp = ctx.now
        reply = _reply(200, job.info(full=False))
        process(em, job, rq.session.user_id)
        return reply
    if state == "Aborted":
        if job.state not in ("Open", "UploadComplete", "InProgress"):
            raise _state_error(job.state)
        job.state = "Aborted"
        job.modstamp = ctx.now
        job.error_message = "Aborted by the user"
        if job.data is not None and not job.successes and not job.failures:
            job.header, job.unprocessed = _safe_rows(job)
        return _reply(200, job.info(full=False))
    raise _invalid_job(f"Invalid state: {state or '(none)'} (UploadComplete or Aborted)")


def ingest_delete(em: Emulator, rq: Request) -> Reply:
    job = _ingest_job(em, rq.parts[2])
    if job.state == "Open":
        raise _state_error(job.state)
    del em.bulk.ingest[job.id]
    return _reply(204)


def _csv_bytes(header_line: str, rows: list[list[str]], delimiter: str, line_ending: str) -> bytes:
    out = io.StringIO()
    out.write(header_line + line_ending)
    writer = csv.writer(out, delimiter=delimiter, lineterminator=line_ending, quoting=csv.QUOTE_ALL)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def _header_text(names: list[str], delimiter: str) -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="", quoting=csv.QUOTE_MINIMAL).writerow(names)
    return out.getvalue()


def _results(em: Emulator, rq: Request, kind: str) -> Reply:
    job = _ingest_job(em, rq.parts[2])
    if job.state not in TERMINAL:
        raise ApiError(
            400,
            "INVALIDJOBSTATE",
            f"Found unexpected job state: {job.state}: results are available once the job is complete",
        )
    delimiter, line_ending = _format(job.column_delimiter, job.line_ending)
    width = len(job.header)
    original = _header_text(job.header, delimiter) if job.header else ""
    sep = delimiter if original else ""
    if kind == "successful":
        header = f'"sf__Id"{delimiter}"sf__Created"{sep}{original}'
        rows = [[rid, "true" if created else "false", *_fit(cells, width)] for rid, created, cells in job.successes]
    elif kind == "failed":
        header = f'"sf__Id"{delimiter}"sf__Error"{sep}{original}'
        rows = [[rid, error, *_fit(cells, width)] for rid, error, cells in job.failures]
    else:
        header = original
        rows = [_fit(cells, width) for cells in job.unprocessed]
    body = _csv_bytes(header, rows, delimiter, line_ending)
    return _reply(200, raw=body, content_type=CSV_TYPE)


def _fit(cells: list[str], width: int) -> list[str]:
    if len(cells) == width:
        return cells
    return (cells + [""] * width)[:width]


def successful_results(em: Emulator, rq: Request) -> Reply:
    return _results(em, rq, "successful")


def failed_results(em: Emulator, rq: Request) -> Reply:
    return _results(em, rq, "failed")


def unprocessed_records(em: Emulator, rq: Request) -> Reply:
    return _results(em, rq, "unprocessed")


# ------------------------------------------------------------------------------------------ processing


def _line_endings_match(text: str, line_ending: str) -> bool:
    outside = _QUOTED.sub("", text) if '"' in text else text
    if line_ending == "LF":
        return "\r" not in outside
    crlf = outside.count("\r\n")
    return outside.count("\n") == crlf and outside.count("\r") == crlf


def _read_rows(job: IngestJob) -> tuple[list[str], list[list[str]]]:
    text = (job.data or b"").decode("utf-8-sig", "replace")
    delimiter = DELIMITERS[job.column_delimiter]
    rows = [row for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) if row]
    if not rows:
        return [], []
    return rows[0], rows[1:]


def _safe_rows(job: IngestJob) -> tuple[list[str], list[list[str]]]:
    """The header and rows of a job that will not be processed (for unprocessedrecords), if they parse."""
    try:
        return _read_rows(job)
    except csv.Error:
        return [], []


@dataclass
class _Column:
    index: int
    name: str
    field: Field  # the field written: the column's own, or the lookup of a relationship column
    parent: SObject | None = None  # relationship column: the parent object
    parent_key: Field | None = None  # ... and the indexed parent field the cell holds


class _JobFailure(Exception):
    pass


def _plan(
    em: Emulator, obj: SObject, job: IngestJob, header: list[str]
) -> tuple[list[_Column], int | None, int | None]:
    """The writable columns, the Id column's index and the key column's index; _JobFailure for a bad header."""
    columns: list[_Column] = []
    id_index: int | None = None
    key_index: int | None = None
    seen: set[str] = set()
    for index, raw_name in enumerate(header):
        name = raw_name.strip()
        if name.lower() in seen:
            raise _JobFailure(f"InvalidBatch : Duplicate field name: {name}")
        seen.add(name.lower())
        if "." in name:
            relationship, _, parent_field = name.partition(".")
            reference = obj.relationship(relationship.split(":")[-1])
            parent = None
            if reference is not None:
                parent = next((em.schema.get(t) for t in reference.reference_to if em.schema.get(t)), None)
            key = parent.field(parent_field) if parent is not None else None
            if reference is None or parent is None or key is None or not (key.external_id or key.id_lookup):
                raise _JobFailure(f"InvalidBatch : Field name not found : {name}")
            columns.append(_Column(index, name, reference, parent, key))
            continue
        f = obj.field(name)
        if f is None:
            raise _JobFailure(f"InvalidBatch : Field name not found : {name}")
        if f.name == "Id":
            id_index = index
            if job.operation in ("update", "delete", "hardDelete"):
                continue
        if job.external_id_field and f.name == job.external_id_field:
            key_index = index
        columns.append(_Column(index, f.name, f))
    if job.operation in ("update", "delete", "hardDelete") and id_index is None:
        raise _JobFailure("InvalidBatch : Field name not found : Id")
    if job.operation == "upsert" and key_index is None:
        raise _JobFailure(f"InvalidBatch : The External ID field {job.external_id_field} was not found in the header")
    return columns, id_index, key_index


def _values(em: Emulator, columns: list[_Column], cells: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for column in columns:
        if column.index >= len(cells):
            continue
        cell = cells[column.index]
        if cell == "":
            continue  # empty cells are ignored
        if cell == NULL_MARKER:
            values[column.field.name] = None
            continue
        if column.parent is None:
            values[column.field.name] = csv_value(column.field, cell)
            continue
        assert column.parent_key is not None
        key = column.parent_key
        ids = em.store.find_ids(column.parent, key, cell if key.is_text or key.type == "id" else csv_value(key, cell))
        if not ids:
            raise DmlError(
                RecordError(
                    "INVALID_FIELD",
                    f"Foreign key external ID: {cell} not found for field {key.name} in entity {column.parent.name}",
                )
            )
        if len(ids) > 1:
            raise DmlError(MultipleMatches(column.parent.name, key.name, ids).record_error())
        values[column.field.name] = ids[0]
    return values


def process(em: Emulator, job: IngestJob, user_id: str) -> None:
    """Run a closed ingest job: every row written (or failed), or the whole job failed."""
    started = time.perf_counter()
    job.state = "InProgress"
    obj = em.schema.get(job.object)
    try:
        if obj is None:
            raise _JobFailure(f"InvalidEntity : Entity '{job.object}' is not supported by the Bulk API.")
        if job.data is None:
            raise _JobFailure("ClientInputError : No data was uploaded for this job")
        text = job.data.decode("utf-8-sig", "replace")
        if not _line_endings_match(text, job.line_ending):
            raise _JobFailure(
                f"ClientInputError : LineEnding is invalid on user data. Current LineEnding setting is {job.line_ending}"
            )
        try:
            job.header, rows = _read_rows(job)
        except csv.Error as error:
            raise _JobFailure(f"ClientInputError : {error}") from None
        if not job.header:
            raise _JobFailure("ClientInputError : No data was uploaded for this job")
        columns, id_index, key_index = _plan(em, obj, job, job.header)
    except _JobFailure as failure:
        job.header, job.unprocessed = _safe_rows(job)
        job.state = "Failed"
        job.error_message = str(failure)
        job.modstamp = em.context(user_id).now
        job.processing_ms = int((time.perf_counter() - started) * 1000)
        return
    em.bulk_batches.add(max(1, math.ceil(len(rows) / BATCH_RECORDS)))
    ctx = em.context(user_id)
    store = em.store
    faults = em.faults
    locks = faults.write_call("delete" if job.operation == "hardDelete" else job.operation)
    key_field = obj.field(job.external_id_field) if job.external_id_field else None
    operation = job.operation
    hard = operation == "hardDelete"
    width = len(job.header)
    duplicates = (
        _duplicate_keys(rows, key_index, key_field) if key_field is not None and key_index is not None else set()
    )
    with store.deferred_cascades(ctx.now):
        for position, cells in enumerate(rows):
            given = cells[id_index].strip() if id_index is not None and id_index < len(cells) else ""
            target = ""
            try:
                if position in duplicates:
                    assert key_index is not None and key_field is not None
                    raise DmlError(
                        RecordError(
                            "DUPLICATE_VALUE", f"Duplicate external id specified: {cells[key_index]}", (key_field.name,)
                        )
                    )
                if len(cells) != width:
                    raise DmlError(
                        RecordError("INVALID_INPUT", f"the row has {len(cells)} columns and the header {width}")
                    )
                if operation in ("delete", "hardDelete"):
                    if not given:
                        raise DmlError(RecordError("MISSING_ARGUMENT", "Id not specified in a delete call"))
                    target = given
                    if locks.hit(obj.name) or faults.lock_record():
                        raise DmlError(_lock(given))
                    store.delete(given, ctx, expected=obj, hard=hard)
                    job.successes.append((_id18(given), False, cells))
                    continue
                values = _values(em, columns, cells)
                if operation == "insert":
                    if locks.hit(obj.name) or faults.lock_record():
                        raise DmlError(_lock(_parent_or_new(em, obj, values)))
                    rid = store.create(obj, values, ctx)
                    job.successes.append((rid, True, cells))
                elif operation == "update":
                    if not given:
                        raise DmlError(RecordError("MISSING_ARGUMENT", "Id not specified in an update call"))
                    target = given
                    values.pop("Id", None)
                    if locks.hit(obj.name) or faults.lock_record():
                        raise DmlError(_lock(given))
                    rid = store.update(obj, given, values, ctx)
                    job.successes.append((rid, False, cells))
                else:
                    assert key_field is not None and key_index is not None
                    key_cell = cells[key_index]
                    key_value: Any = None if key_cell in ("", NULL_MARKER) else key_cell
                    if key_value is not None and not key_field.is_text and key_field.type != "id":
                        key_value = csv_value(key_field, key_cell)
                    values.pop(key_field.name, None)
                    if locks.hit(obj.name) or faults.lock_record():
                        existing = store.find_ids(obj, key_field, key_value) if key_value is not None else []
                        target = existing[0] if existing else ""
                        raise DmlError(_lock(target or _parent_or_new(em, obj, values)))
                    rid, created = store.upsert(obj, key_field, key_value, values, ctx)
                    job.successes.append((rid, created, cells))
            except MultipleMatches as error:
                job.failures.append((target, error.record_error().bulk(), cells))
            except DmlError as error:
                if operation == "upsert" and not target and key_field is not None and key_index is not None:
                    found = store.find_ids(obj, key_field, cells[key_index]) if key_index < len(cells) else []
                    target = found[0] if len(found) == 1 else ""
                job.failures.append((_id18(target), error.errors[0].bulk(), cells))
    job.state = "JobComplete"
    job.modstamp = em.context(user_id).now
    job.processing_ms = int((time.perf_counter() - started) * 1000)
    if len(rows) >= SETTLE_AFTER:
        settle_heap()


def _duplicate_keys(rows: list[list[str]], key_index: int, key: Field) -> set[int]:
    """Rows whose external id appears more than once in their chunk of 200 (Salesforce fails them all)."""
    found: set[int] = set()
    for start in range(0, len(rows), CHUNK):
        seen: dict[str, list[int]] = {}
        for position in range(start, min(start + CHUNK, len(rows))):
            cells = rows[position]
            value = cells[key_index] if key_index < len(cells) else ""
            if value in ("", NULL_MARKER):
                continue
            seen.setdefault(value if key.case_sensitive else value.lower(), []).append(position)
        for positions in seen.values():
            if len(positions) > 1:
                found.update(positions)
    return found


def _id18(value: str) -> str:
    try:
        return to_18(value) if value else ""
    except ValueError:
        return value


def _lock(record_id: str) -> RecordError:
    return RecordError(
        "UNABLE_TO_LOCK_ROW", f"unable to obtain exclusive access to this record or 1 records: {record_id}"
    )


def _parent_or_new(em: Emulator, obj: SObject, values: dict[str, Any]) -> str:
    for f in obj.fields.values():
        if f.type == "reference" and f.createable and isinstance(values.get(f.name), str) and values[f.name]:
            return str(values[f.name])
    return make_id(obj.key_prefix, len(em.store.tables[obj.name].rows) + 1)


# ----------------------------------------------------------------------------------------------- query


def query_create(em: Emulator, rq: Request) -> Reply:
    data = _body(rq)
    operation = str(data.get("operation") or "query")
    if operation not in QUERY_OPERATIONS:
        raise _invalid_job(f"Invalid operation: {operation} (query or queryAll)")
    text = data.get("query")
    if not isinstance(text, str) or not text.strip():
        raise _invalid_job("A query is required")
    line_ending, delimiter = _options(data)
    try:
        query = compile_query(text, em.schema, em.store.lookup, em.now())
    except SoqlError as error:
        raise error.api_error() from None
    if query.count_only:
        raise ApiError(
            400, "FEATURENOTENABLED", "FeatureNotEnabled : Aggregate queries are not supported by Bulk API 2.0"
        )
    if query.has_offset:
        raise ApiError(400, "FEATURENOTENABLED", "FeatureNotEnabled : OFFSET is not supported by Bulk API 2.0")
    started = time.perf_counter()
    rows = query.select(em.store.rows(query.obj, operation == "queryAll"))
    ctx = em.context(rq.session.user_id)
    job = QueryJob(
        em.bulk.new_id(),
        operation,
        query.obj.name,
        query,
        line_ending,
        delimiter,
        rq.session.user_id,
        ctx.now,
        rq.version,
        rows,
    )
    em.bulk.queries[job.id] = job
    em.bulk_query_jobs.add()
    reply = _reply(200, job.info(full=False))
    job.state = "JobComplete"
    job.modstamp = ctx.now
    job.processing_ms = int((time.perf_counter() - started) * 1000)
    return reply


def query_list(em: Emulator, rq: Request) -> Reply:
    jobs = [job.info(full=False) | {"jobType": "V2Query"} for job in em.bulk.queries.values()]
    return _reply(200, {"done": True, "records": jobs, "nextRecordsUrl": None})


def query_get(em: Emulator, rq: Request) -> Reply:
    return _reply(200, _query_job(em, rq.parts[2]).info())


def query_patch(em: Emulator, rq: Request) -> Reply:
    job = _query_job(em, rq.parts[2])
    state = str(_body(rq).get("state") or "")
    if state != "Aborted":
        raise _invalid_job(f"Invalid state: {state or '(none)'} (Aborted)")
    if job.state in TERMINAL:
        raise _state_error(job.state)
    job.state = "Aborted"
    return _reply(200, job.info(full=False))


def query_delete(em: Emulator, rq: Request) -> Reply:
    job = _query_job(em, rq.parts[2])
    del em.bulk.queries[job.id]
    return _reply(204)


def _locator(offset: int) -> str:
    return base64.b64encode(str(offset).encode()).decode("ascii").rstrip("=")


def _offset(locator: str) -> int:
    try:
        padded = locator + "=" * (-len(locator) % 4)
        return int(base64.b64decode(padded, validate=True).decode("ascii"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ApiError(400, "INVALID_QUERY_LOCATOR", f"invalid query locator: {locator}") from None


def query_results(em: Emulator, rq: Request) -> Reply:
    job = _query_job(em, rq.parts[2])
    if job.state != "JobComplete":
        raise ApiError(
            400,
            "JOB_NOT_COMPLETE",
            f"can only download query results of successfully completed bulk job, state {job.state}",
        )
    if rq.version != job.version:
        raise ApiError(409, "API_VERSION_MISMATCH", f"the job was created with API version {job.version}: use it")
    start = 0
    locator = rq.params.get("locator")
    if locator and locator != "null":
        start = _offset(locator)
    count = len(job.rows) - start
    given = rq.params.get("maxRecords")
    if given:
        if not given.isdigit() or int(given) <= 0:
            raise ApiError(400, "INVALID_MAX_RECORDS", f"maxRecords must be a positive integer: {given}")
        count = min(count, int(given))
    count = max(0, count)
    page = job.rows[start : start + count]
    delimiter, line_ending = _format(job.column_delimiter, job.line_ending)
    columns = job.query.columns
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator=line_ending, quoting=csv.QUOTE_ALL)
    writer.writerow([c.header for c in columns])
    getters: list[tuple[Callable[[dict[str, Any]], Any], Field]] = [(c.getter, c.field) for c in columns]
    writer.writerows([[csv_text(f, getter(row)) for getter, f in getters] for row in page])
    end = start + count
    next_locator = _locator(end) if end < len(job.rows) else "null"
    return _reply(
        200,
        raw=out.getvalue().encode("utf-8"),
        content_type=CSV_TYPE,
        headers=[
            (b"sforce-numberofrecords", str(len(page)).encode()),
            (b"sforce-locator", next_locator.encode()),
        ],
    )


# --------------------------------------------------------------------------------------------- routing


def routes(parts: list[str]) -> dict[str, tuple[str, Callable[[Emulator, Request], Reply]]] | None:
    n = len(parts)
    if n < 2:
        return None
    kind = parts[1].lower()
    if kind == "ingest":
        if n == 2:
            return {"POST": ("bulk2 ingest create", ingest_create), "GET": ("bulk2 ingest list", ingest_list)}
        if n == 3:
            return {
                "GET": ("bulk2 ingest status", ingest_get),
                "PATCH": ("bulk2 ingest close/abort", ingest_patch),
                "DELETE": ("bulk2 ingest delete", ingest_delete),
            }
        if n == 4:
            resource = parts[3].lower()
            if resource == "batches":
                return {"PUT": ("bulk2 ingest upload", ingest_upload)}
            if resource == "successfulresults":
                return {"GET": ("bulk2 ingest successfulResults", successful_results)}
            if resource == "failedresults":
                return {"GET": ("bulk2 ingest failedResults", failed_results)}
            if resource == "unprocessedrecords":
                return {"GET": ("bulk2 ingest unprocessedrecords", unprocessed_records)}
        return None
    if kind == "query":
        if n == 2:
            return {"POST": ("bulk2 query create", query_create), "GET": ("bulk2 query list", query_list)}
        if n == 3:
            return {
                "GET": ("bulk2 query status", query_get),
                "PATCH": ("bulk2 query abort", query_patch),
                "DELETE": ("bulk2 query delete", query_delete),
            }
        if n == 4 and parts[3].lower() == "results":
            return {"GET": ("bulk2 query results", query_results)}
        return None
    return None
