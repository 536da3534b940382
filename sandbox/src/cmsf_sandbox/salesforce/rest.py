"""REST resources under /services/data/vXX.X/: resources, describe, single-record CRUD and upsert, deleted
and updated records, query/queryAll/queryMore, sObject Collections and limits.

`route(method, parts)` returns the kind of call (for /admin/calls) and its handler, or raises ApiError 404/405.
Bulk API 2.0 (`jobs/...`) lives in `bulk`; Metadata API deploys (`metadata/deployRequest`) in `metadata`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from cmsf_sandbox.salesforce import bulk, listviews, reports
from cmsf_sandbox.salesforce import metadata as metadata_api
from cmsf_sandbox.salesforce.errors import (
    ApiError,
    DmlError,
    JsonTypeError,
    MultipleMatches,
    RecordError,
    SoqlError,
    not_found,
)
from cmsf_sandbox.salesforce.http import Reply, Request, parse_json
from cmsf_sandbox.salesforce.ids import make_id, to_18
from cmsf_sandbox.salesforce.schema import Field, SObject, describe_global_entry, describe_object
from cmsf_sandbox.salesforce.soql import compile_query
from cmsf_sandbox.salesforce.state import Emulator
from cmsf_sandbox.salesforce.store_tables import RecordNotFound
from cmsf_sandbox.salesforce.values import format_datetime, json_value, parse_datetime

Handler = Callable[[Emulator, Request], Reply]

MAX_COLLECTION = 200
MAX_RETRIEVE = 2000
DEFAULT_BATCH = 2000
MIN_BATCH = 200
ROLLED_BACK = RecordError(
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "Record rolled back because not all records were valid and the request was using AllOrNone header",
)


# --------------------------------------------------------------------------------------------- helpers


def sobject(em: Emulator, name: str) -> SObject:
    obj = em.schema.get(name)
    if obj is None:
        raise not_found()
    return obj


def coerce(em: Emulator, obj: SObject, data: dict[str, Any], raw: str) -> dict[str, Any]:
    """A JSON record's values in stored types, under canonical names (unknown names kept for INVALID_FIELD);
    `attributes` dropped; a relationship set through a parent's external id (`"Account": {"Ext__c": "A1"}`)
    becomes the parent's id. JsonTypeError for a value Salesforce's deserializer refuses (the whole request
    fails); DmlError when a parent is not found (that record fails)."""
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key == "attributes":
            continue
        f = obj.field(key)
        if f is None:
            reference = obj.relationship(key) if isinstance(value, dict) else None
            if reference is not None and isinstance(value, dict):
                values[reference.name] = parent_id(em, reference, value, raw)
            else:
                values[key] = value
            continue
        values[f.name] = json_value(f, value, raw, key)
    return values


def parent_id(em: Emulator, reference: Field, value: dict[str, Any], raw: str) -> str:
    """The id of the parent a nested `{"attributes"?, "IndexedField": value}` names."""
    attributes = value.get("attributes") if isinstance(value.get("attributes"), dict) else {}
    named = attributes.get("type") if attributes else None
    candidates = [str(named)] if named else list(reference.reference_to)
    parent = next((em.schema.get(name) for name in candidates if em.schema.get(name)), None)
    keys = [(k, v) for k, v in value.items() if k != "attributes"]
    if parent is None or parent.name not in reference.reference_to or len(keys) != 1:
        raise DmlError(
            RecordError(
                "INVALID_FIELD",
                f"A relationship ({reference.relationship_name}) must name one indexed field of its parent",
            )
        )
    name, given = keys[0]
    key = parent.field(name)
    if key is None or not (key.external_id or key.id_lookup):
        raise DmlError(RecordError("INVALID_FIELD", f"{name} is not an External ID or indexed field for {parent.name}"))
    ids = em.store.find_ids(parent, key, json_value(key, given, raw, name))
    if not ids:
        raise DmlError(
            RecordError(
                "INVALID_FIELD",
                f"Foreign key external ID: {given} not found for field {key.name} in entity {parent.name}",
            )
        )
    if len(ids) > 1:
        raise DmlError(MultipleMatches(parent.name, key.name, ids).record_error())
    return ids[0]


def record_json(
    em: Emulator, obj: SObject, record: dict[str, Any], version: str, fields: list[Field] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "attributes": {"type": obj.name, "url": f"/services/data/v{version}/sobjects/{obj.name}/{record['Id']}"}
    }
    lookup = em.store.lookup
    for f in fields if fields is not None else obj.fields.values():
        out[f.name] = f.derive(record, lookup) if f.derive is not None else record.get(f.name)
    return out


def selected_fields(obj: SObject, text: str | None) -> list[Field] | None:
    if not text:
        return None
    found: list[Field] = []
    for name in (n.strip() for n in text.split(",")):
        if not name:
            continue
        f = obj.field(name)
        if f is None:
            raise ApiError(
                400,
                "INVALID_FIELD",
                f"No such column '{name}' on entity '{obj.name}'. If you are attempting to use a custom field, be "
                "sure to append the '__c' after the custom field name. Please reference your WSDL or the describe "
                "call for the appropriate names.",
            )
        found.append(f)
    return found


def external_field(obj: SObject, name: str) -> Field:
    f = obj.field(name)
    if f is None or not (f.external_id or f.id_lookup):
        raise ApiError(404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {name}")
    return f


def lock_error(record_id: str) -> RecordError:
    return RecordError(
        "UNABLE_TO_LOCK_ROW", f"unable to obtain exclusive access to this record or 1 records: {record_id}"
    )


def lock_target(em: Emulator, obj: SObject, values: dict[str, Any], existing: str | None = None) -> str:
    """The id a lock failure names: the record's own, else a parent's, else an id it would have had."""
    if existing:
        return existing
    for f in obj.fields.values():
        if f.type == "reference" and f.createable and isinstance(values.get(f.name), str) and values[f.name]:
            try:
                return to_18(values[f.name])
            except ValueError:
                continue
    return make_id(obj.key_prefix, len(em.store.tables[obj.name].rows) + 1)


def _bool_param(value: Any, default: bool = False) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() == "true"


# ---------------------------------------------------------------------------------------- resources


def resources(em: Emulator, rq: Request) -> Reply:
    base = f"/services/data/v{rq.version}"
    names = ["sobjects", "query", "queryAll", "composite", "limits", "jobs", "identity"]
    data = {name: f"{base}/{name}" for name in names}
    data["identity"] = f"{em.login_url(rq.base_url)}/id/{em.org.org_id}/{rq.session.user_id}"
    return Reply(200, data)


def describe_global(em: Emulator, rq: Request) -> Reply:
    return Reply(
        200,
        {
            "encoding": "UTF-8",
            "maxBatchSize": MAX_COLLECTION,
            "sobjects": [describe_global_entry(o, rq.version) for o in em.schema.objects.values()],
        },
    )


def list_views(em: Emulator, rq: Request) -> Reply:
    return listviews.list_views(em, rq, sobject(em, rq.parts[1]))


def list_view_describe(em: Emulator, rq: Request) -> Reply:
    return listviews.describe(em, rq, sobject(em, rq.parts[1]), rq.parts[3])


def list_view_results(em: Emulator, rq: Request) -> Reply:
    return listviews.results(em, rq, sobject(em, rq.parts[1]), rq.parts[3])


def describe(em: Emulator, rq: Request) -> Reply:
    obj = sobject(em, rq.parts[1])
    return Reply(200, describe_object(em.schema, obj, rq.version))


def metadata(em: Emulator, rq: Request) -> Reply:
    obj = sobject(em, rq.parts[1])
    table = em.store.tables[obj.name]
    recent = []
    for record in list(table.rows.values())[-3:]:
        recent.append(record_json(em, obj, record, rq.version, [f for f in (obj.field("Id"), obj.name_field) if f]))
    return Reply(200, {"objectDescribe": describe_global_entry(obj, rq.version), "recentItems": recent})


# ----------------------------------------------------------------------------------- single records


def create(em: Emulator, rq: Request) -> Reply:
    obj = sobject(em, rq.parts[1])
    data = parse_json(rq.body)
    if not isinstance(data, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of the sObject from START_ARRAY value")
    try:
        values = coerce(em, obj, data, rq.body.decode("utf-8", "replace"))
    except JsonTypeError as error:
        raise error.api_error() from None
    except DmlError as error:
        raise ApiError.from_dml(error) from None
    ctx = em.context(rq.session.user_id)
    try:
        rid = em.store.create(obj, values, ctx)
    except DmlError as error:
        raise ApiError.from_dml(error) from None
    return Reply(201, {"id": rid, "success": True, "errors": []})


def _get_record(em: Emulator, obj: SObject, value: str) -> dict[str, Any]:
    try:
        record, deleted = em.store.get(obj, value)
    except RecordNotFound:
        raise not_found() from None
    except DmlError:
        try:
            to_18(value)
        except ValueError:
            raise ApiError(
                404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {value}"
            ) from None
        raise ApiError(400, "MALFORMED_ID", f"{obj.label} ID: id value of incorrect type: {value}", ["Id"]) from None
    if deleted:
        raise ApiError(404, "ENTITY_IS_DELETED", "entity is deleted", [])
    return record


def get_record(em: Emulator, rq: Request) -> Reply:
    obj = sobject(em, rq.parts[1])
    fields = selected_fields(obj, rq.params.get("fields"))
    record = _get_record(em, obj, rq.parts[2])
    return Reply(200, record_json(em, obj, record, rq.version, fields))


def _dml(em: Emulator, action: Callable[[], Any]) -> Any:
    try:
        return action()
    except RecordNotFound:
        raise not_found() from None
    except DmlError as error:
        if error.status == 404:
            first = error.errors[0]
            raise ApiError(404, first.code, first.message, []) from None
        raise ApiError.from_dml(error) from None


def update_record(em: Emulator, rq: Request) -> Reply:
    obj = sobject(em, rq.parts[1])
    data = parse_json(rq.body)
    if not isinstance(data, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of the sObject from START_ARRAY value")
    try:
        values = coerce(em, obj, data, rq.body.decode("utf-8", "replace"))
    except JsonTypeError as error:
        raise error.api_error() from None
    except DmlError as error:
        raise ApiError.from_dml(error) from None
    values.pop("Id", None)
    ctx = em.context(rq.session.user_id)
    _dml(em, lambda: em.store.update(obj, rq.parts[2], values, ctx))
    return Reply(204)


def delete_record(em: Emulator, rq: Request) -> Reply:
    obj = sobject(em, rq.parts[1])
    ctx = em.context(rq.session.user_id)
    _dml(em, lambda: em.store.delete(rq.parts[2], ctx, expected=obj))
    return Reply(204)


def _matches(em: Emulator, obj: SObject, f: Field, value: str) -> list[str]:
    try:
        key = json_value(f, value) if not f.is_text and f.type not in ("id", "reference") else value
    except JsonTypeError:
        return []
    return em.store.find_ids(obj, f, key)


def _multiple(obj: SObject, ids: list[str], version: str) -> Reply:
    return Reply(300, [f"/services/data/v{version}/sobjects/{obj.name}/{rid}" for rid in ids])


def get_by_external_id(em: Emulator, rq: Request) -> Reply:
    obj = sobject(em, rq.parts[1])
    f = external_field(obj, rq.parts[2])
    if f.name == "Id":
        return get_record(em, Request(**{**rq.__dict__, "parts": rq.parts[:2] + rq.parts[3:]}))
    fields = selected_fields(obj, rq.params.get("fields"))
    ids = _matches(em, obj, f, rq.parts[3])
    if not ids:
        raise not_found()
    if len(ids) > 1:
        return _multiple(obj, ids, rq.version)
    record = em.store.tables[obj.name].rows[ids[0]]
    return Reply(200, record_json(em, obj, record, rq.version, fields))


def upsert_record(em: Emulator, rq: Request) -> Reply:
    obj = sobject(em, rq.parts[1])
    f = external_field(obj, rq.parts[2])
    data = parse_json(rq.body)
    if not isinstance(data, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of the sObject from START_ARRAY value")
    try:
        values = coerce(em, obj, data, rq.body.decode("utf-8", "replace"))
        key: Any = rq.parts[3]
        if not f.is_text and f.type not in ("id", "reference"):
            key = json_value(f, key)
    except JsonTypeError as error:
        raise error.api_error() from None
    except DmlError as error:
        raise ApiError.from_dml(error) from None
    if "Id" in values and f.name != "Id":
        raise ApiError(
            400, "INVALID_FIELD", "Id not allowed in an upsert by external id: remove it from the body", ["Id"]
        )
    ctx = em.context(rq.session.user_id)
    try:
        rid, created = _dml(em, lambda: em.store.upsert(obj, f, key, values, ctx))
    except MultipleMatches as error:
        return _multiple(obj, error.ids, rq.version)
    if created:
        return Reply(201, {"id": rid, "success": True, "errors": [], "created": True})
    if rq.api_version < 46.0:
        return Reply(204)
    return Reply(200, {"id": rid, "success": True, "errors": [], "created": False})


def delete_by_external_id(em: Emulator, rq: Request) -> Reply:
    obj = sobject(em, rq.parts[1])
    f = external_field(obj, rq.parts[2])
    ids = [rq.parts[3]] if f.name == "Id" else _matches(em, obj, f, rq.parts[3])
    if not ids:
        raise not_found()
    if len(ids) > 1:
        return _multiple(obj, ids, rq.version)
    ctx = em.context(rq.session.user_id)
    _dml(em, lambda: em.store.delete(ids[0], ctx, expected=obj))
    return Reply(204)


def _window(rq: Request) -> tuple[str, str]:
    moments = []
    for name in ("start", "end"):
        text = rq.params.get(name)
        if not text:
            raise ApiError(400, "MISSING_ARGUMENT", f"{name} was not specified")
        parsed = parse_datetime(text.replace(" ", "+"))
        if parsed is None:
            raise ApiError(400, "INVALID_REPLICATION_DATE", f"{name} is not a valid date and time: {text}")
        moments.append(parsed)
    if moments[0] > moments[1]:
        raise ApiError(400, "INVALID_REPLICATION_DATE", "start date must be before end date")
    return moments[0], moments[1]


def deleted_records(em: Emulator, rq: Request) -> Reply:
    obj = sobject(em, rq.parts[1])
    start, end = _window(rq)
    table = em.store.tables[obj.name]
    deleted = {**table.purged_at, **table.deleted_at}  # in the recycle bin, or gone from it since
    found = [{"id": rid, "deletedDate": moment} for rid, moment in deleted.items() if start <= moment <= end]
    earliest = min(deleted.values(), default=format_datetime(em.now() - timedelta(days=15)))
    latest = min(end, format_datetime(em.now()))
    latest = latest[:17] + "00.000+0000"
    return Reply(200, {"deletedRecords": found, "earliestDateAvailable": earliest, "latestDateCovered": latest})


def updated_records(em: Emulator, rq: Request) -> Reply:
    obj = sobject(em, rq.parts[1])
    start, end = _window(rq)
    ids = [
        rid
        for rid, record in em.store.tables[obj.name].rows.items()
        if start <= str(record.get("SystemModstamp") or "") <= end
    ]
    latest = min(end, format_datetime(em.now()))
    return Reply(200, {"ids": ids, "latestDateCovered": latest[:17] + "00.000+0000"})


# ---------------------------------------------------------------------------------------------- query


def _batch_size(rq: Request, default: int = DEFAULT_BATCH) -> int:
    options = rq.headers.get("sforce-query-options", "")
    found = re.search(r"batchSize\s*=\s*(\d+)", options, re.IGNORECASE)
    if not found:
        return default
    return max(MIN_BATCH, min(DEFAULT_BATCH, int(found.group(1))))


def _page(
    em: Emulator, rq: Request, locator: str | None, rows: list[dict[str, Any]], start: int, batch: int, query: Any
) -> Reply:
    end = start + batch
    page = rows[start:end]
    records = [query.record(row, rq.version) for row in page]
    body: dict[str, Any] = {"totalSize": len(rows), "done": end >= len(rows)}
    if end < len(rows):
        if locator is None:
            locator = em.open_cursor(query, rows, batch)
        body["nextRecordsUrl"] = f"/services/data/v{rq.version}/query/{locator}-{end}"
    body["records"] = records
    return Reply(200, body)


def run_query(em: Emulator, rq: Request, include_deleted: bool) -> Reply:
    text = rq.params.get("q")
    if not text:
        raise ApiError(400, "MALFORMED_QUERY", "A query string has to be specified")
    try:
        query = compile_query(text, em.schema, em.store.lookup, em.now())
    except SoqlError as error:
        raise error.api_error() from None
    rows = query.select(em.store.rows(query.obj, include_deleted))
    if query.count_only:
        return Reply(200, {"totalSize": len(rows), "done": True, "records": []})
    return _page(em, rq, None, rows, 0, _batch_size(rq), query)


def query(em: Emulator, rq: Request) -> Reply:
    return run_query(em, rq, False)


def query_all(em: Emulator, rq: Request) -> Reply:
    return run_query(em, rq, True)


def query_more(em: Emulator, rq: Request) -> Reply:
    locator, _, offset = rq.parts[1].rpartition("-")
    cursor = em.cursors.get(locator)
    if cursor is None or not offset.isdigit():
        raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
    em.cursors.move_to_end(locator)
    batch = _batch_size(rq, cursor.batch)
    return _page(em, rq, locator, cursor.rows, int(offset), batch, cursor.query)


# --------------------------------------------------------------------------------------- collections


def _collection_body(rq: Request) -> tuple[bool, list[Any], str]:
    data = parse_json(rq.body)
    if not isinstance(data, dict) or not isinstance(data.get("records"), list):
        raise ApiError(400, "JSON_PARSER_ERROR", "The request body must be an object with a records array")
    records = data["records"]
    if len(records) > MAX_COLLECTION:
        raise exceeded_id_limit()
    return _bool_param(data.get("allOrNone")), records, rq.body.decode("utf-8", "replace")


def exceeded_id_limit(limit: int = MAX_COLLECTION) -> ApiError:
    return ApiError(
        400, "EXCEEDED_ID_LIMIT", f"record limit reached. cannot submit more than {limit} records into this call"
    )


def _typed(
    em: Emulator, item: Any, raw: str, fixed: SObject | None = None
) -> tuple[SObject, dict[str, Any]] | RecordError:
    """The object and coerced values of a collections record, or its per-record error."""
    if not isinstance(item, dict):
        return RecordError("INVALID_INPUT", "Each record must be a JSON object")
    attributes = item.get("attributes") if isinstance(item.get("attributes"), dict) else {}
    type_name = attributes.get("type") if attributes else None
    if fixed is not None and not type_name:
        type_name = fixed.name
    if not type_name:
        return RecordError("INVALID_TYPE", "Must specify the sObject type of each record in attributes.type")
    obj = em.schema.get(str(type_name))
    if obj is None:
        return RecordError("INVALID_TYPE", f"sObject type '{type_name}' is not supported.")
    if fixed is not None and obj is not fixed:
        return RecordError("INVALID_TYPE", f"Record type {obj.name} does not match {fixed.name} of the request URI")
    try:
        return obj, coerce(em, obj, item, raw)
    except DmlError as error:
        return error.errors[0]


def _finish(em: Emulator, results: list[dict[str, Any]], all_or_none: bool, keep_ids: bool) -> Reply:
    failed = any(not r["success"] for r in results)
    if all_or_none:
        if failed:
            em.store.rollback()
            rolled: list[dict[str, Any]] = []
            for result in results:
                if result["success"]:
                    item: dict[str, Any] = {"success": False, "errors": [ROLLED_BACK.collection()]}
                    if keep_ids and result.get("id"):
                        item = {"id": result["id"], **item}
                    rolled.append(item)
                else:
                    rolled.append(result)
            results = rolled
        else:
            em.store.commit()
    return Reply(200, results)


def _failure(*errors: RecordError, record_id: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"success": False, "errors": [e.collection() for e in errors]}
    if record_id:
        result = {"id": record_id, **result}
    return result


def _prepare(
    em: Emulator, records: list[Any], raw: str, fixed: SObject | None = None
) -> list[tuple[SObject, dict[str, Any]] | RecordError]:
    try:
        return [_typed(em, item, raw, fixed) for item in records]
    except JsonTypeError as error:
        raise error.api_error() from None


def collection_create(em: Emulator, rq: Request) -> Reply:
    all_or_none, records, raw = _collection_body(rq)
    prepared = _prepare(em, records, raw)
    ctx = em.context(rq.session.user_id)
    locks = em.faults.write_call("insert")
    if all_or_none:
        em.store.begin()
    results: list[dict[str, Any]] = []
    for entry in prepared:
        if isinstance(entry, RecordError):
            results.append(_failure(entry))
            continue
        obj, values = entry
        if "Id" in values:
            results.append(_failure(RecordError("INVALID_FIELD", "cannot specify Id in an insert call", ("Id",))))
            continue
        if locks.hit(obj.name) or em.faults.lock_record():
            results.append(_failure(lock_error(lock_target(em, obj, values))))
            continue
        try:
            rid = em.store.create(obj, values, ctx)
        except DmlError as error:
            results.append(_failure(*error.errors))
            continue
        results.append({"id": rid, "success": True, "errors": []})
    return _finish(em, results, all_or_none, keep_ids=False)


def collection_update(em: Emulator, rq: Request) -> Reply:
    all_or_none, records, raw = _collection_body(rq)
    prepared = _prepare(em, records, raw)
    ctx = em.context(rq.session.user_id)
    locks = em.faults.write_call("update")
    if all_or_none:
        em.store.begin()
    results: list[dict[str, Any]] = []
    for item, entry in zip(records, prepared, strict=True):
        given = item.get("id") or item.get("Id") if isinstance(item, dict) else None
        if isinstance(entry, RecordError):
            results.append(_failure(entry, record_id=given))
            continue
        obj, values = entry
        values.pop("Id", None)
        values.pop("id", None)
        if not given:
            results.append(_failure(RecordError("MISSING_ARGUMENT", "Id not specified in an update call")))
            continue
        if locks.hit(obj.name) or em.faults.lock_record():
            results.append(_failure(lock_error(str(given)), record_id=str(given)))
            continue
        try:
            rid = em.store.update(obj, str(given), values, ctx)
        except DmlError as error:
            results.append(_failure(*error.errors, record_id=str(given)))
            continue
        results.append({"id": rid, "success": True, "errors": []})
    return _finish(em, results, all_or_none, keep_ids=True)


def collection_upsert(em: Emulator, rq: Request) -> Reply:
    obj = sobject(em, rq.parts[2])
    key = external_field(obj, rq.parts[3])
    all_or_none, records, raw = _collection_body(rq)
    prepared = _prepare(em, records, raw, obj)
    ctx = em.context(rq.session.user_id)
    locks = em.faults.write_call("upsert")
    counts: dict[Any, int] = {}
    for entry in prepared:
        if not isinstance(entry, RecordError):
            normal = _normal(entry[1].get(key.name), key)
            if normal is not None:
                counts[normal] = counts.get(normal, 0) + 1
    if all_or_none:
        em.store.begin()
    results: list[dict[str, Any]] = []
    for entry in prepared:
        if isinstance(entry, RecordError):
            results.append(_failure(entry))
            continue
        _, values = entry
        value = values.get(key.name)
        if "Id" in values and key.name != "Id":
            results.append(
                _failure(RecordError("INVALID_FIELD", "Id not allowed in an upsert by external id", ("Id",)))
            )
            continue
        if value is None or value == "":
            results.append(_failure(RecordError("MISSING_ARGUMENT", f"{key.name} not specified", (key.name,))))
            continue
        if counts.get(_normal(value, key), 0) > 1:
            results.append(
                _failure(RecordError("DUPLICATE_VALUE", f"Duplicate external id specified: {value}", (key.name,)))
            )
            continue
        if locks.hit(obj.name) or em.faults.lock_record():
            existing = em.store.find_ids(obj, key, value)
            results.append(_failure(lock_error(lock_target(em, obj, values, existing[0] if existing else None))))
            continue
        try:
            rid, created = em.store.upsert(obj, key, value, values, ctx)
        except MultipleMatches as error:
            results.append(_failure(error.record_error()))
            continue
        except DmlError as error:
            results.append(_failure(*error.errors))
            continue
        results.append({"id": rid, "success": True, "errors": [], "created": created})
    return _finish(em, results, all_or_none, keep_ids=True)


def _normal(value: Any, key: Field) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, str) and not key.case_sensitive:
        return value.lower()
    return value


def collection_delete(em: Emulator, rq: Request) -> Reply:
    ids = [i.strip() for i in (rq.params.get("ids") or "").split(",") if i.strip()]
    if not ids:
        raise ApiError(400, "MISSING_ARGUMENT", "ids was not specified")
    if len(ids) > MAX_COLLECTION:
        raise exceeded_id_limit()
    all_or_none = _bool_param(rq.params.get("allOrNone"))
    ctx = em.context(rq.session.user_id)
    if all_or_none:
        em.store.begin()
    results: list[dict[str, Any]] = []
    locks = em.faults.write_call("delete")
    with em.store.deferred_cascades(ctx.now):
        for given in ids:
            if locks.hit(_object_name(em, given)) or em.faults.lock_record():
                results.append(_failure(lock_error(given), record_id=given))
                continue
            try:
                em.store.delete(given, ctx)
            except DmlError as error:
                first = error.errors[0]
                if first.code == "MALFORMED_ID":
                    results.append(_failure(RecordError("MALFORMED_ID", f"malformed id {given}")))
                else:
                    results.append(_failure(*error.errors, record_id=to_18(given)))
                continue
            results.append({"id": to_18(given), "success": True, "errors": []})
    return _finish(em, results, all_or_none, keep_ids=True)


def _object_name(em: Emulator, given: str) -> str:
    """The object an Id belongs to ("" for one that is malformed or of no object)."""
    try:
        return em.store.resolve_id(given)[0].name
    except DmlError:
        return ""


def collection_retrieve(em: Emulator, rq: Request) -> Reply:
    obj = sobject(em, rq.parts[2])
    if rq.method == "POST":
        data = parse_json(rq.body)
        if not isinstance(data, dict):
            raise ApiError(400, "JSON_PARSER_ERROR", "The request body must be an object with ids and fields")
        ids = [str(i) for i in data.get("ids") or []]
        field_names = ",".join(str(f) for f in data.get("fields") or [])
    else:
        ids = [i.strip() for i in (rq.params.get("ids") or "").split(",") if i.strip()]
        field_names = rq.params.get("fields") or ""
    if not ids:
        raise ApiError(400, "MISSING_ARGUMENT", "ids was not specified")
    if not field_names:
        raise ApiError(400, "MISSING_ARGUMENT", "fields was not specified")
    if len(ids) > MAX_RETRIEVE:
        raise exceeded_id_limit(MAX_RETRIEVE)
    fields = selected_fields(obj, field_names)
    out: list[Any] = []
    for given in ids:
        try:
            record, deleted = em.store.get(obj, given)
        except DmlError:
            out.append(None)
            continue
        out.append(None if deleted else record_json(em, obj, record, rq.version, fields))
    return Reply(200, out)


# -------------------------------------------------------------------------------------------- limits


def limits(em: Emulator, rq: Request) -> Reply:
    return Reply(200, em.limits())


def record_count(em: Emulator, rq: Request) -> Reply:
    wanted = [n.strip() for n in (rq.params.get("sObjects") or "").split(",") if n.strip()]
    objects = [em.schema.get(n) for n in wanted] if wanted else list(em.schema.objects.values())
    counts = [
        {"count": em.store.count(o), "name": o.name} for o in objects if o is not None and (wanted or em.store.count(o))
    ]
    return Reply(200, {"sObjects": counts})


# ---------------------------------------------------------------------------------------------- routing


def route(method: str, parts: list[str]) -> tuple[str, Handler]:
    """(kind of call, handler) for a path under /services/data/vXX.X/; ApiError 404 or 405."""
    table = _routes(parts)
    if table is None:
        raise not_found()
    found = table.get(method)
    if found is None:
        allowed = ",".join(sorted(table))
        raise ApiError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are {allowed}")
    return found


def _routes(parts: list[str]) -> dict[str, tuple[str, Handler]] | None:
    n = len(parts)
    head = parts[0].lower() if parts else ""
    if n == 0:
        return {"GET": ("resources", resources)}
    if head == "sobjects":
        if n == 1:
            return {"GET": ("describeGlobal", describe_global)}
        if n == 2:
            return {"GET": ("sobject metadata", metadata), "POST": ("sobject create", create)}
        third = parts[2].lower()
        if third == "listviews":
            if n == 3:
                return {"GET": ("listviews", list_views)}
            if n == 5 and parts[4].lower() in ("describe", "results"):
                return {"GET": (f"listview {parts[4].lower()}", list_view_describe if parts[4].lower() == "describe"
                                else list_view_results)}  # fmt: skip
            return None
        if n == 3 and third == "describe":
            return {"GET": ("sobject describe", describe)}
        if n == 3 and third == "deleted":
            return {"GET": ("sobject deleted", deleted_records)}
        if n == 3 and third == "updated":
            return {"GET": ("sobject updated", updated_records)}
        if n == 3:
            return {
                "GET": ("sobject get", get_record),
                "PATCH": ("sobject update", update_record),
                "DELETE": ("sobject delete", delete_record),
            }
        if n == 4 and third != "describe":
            return {
                "GET": ("sobject get by external id", get_by_external_id),
                "PATCH": ("sobject upsert", upsert_record),
                "DELETE": ("sobject delete by external id", delete_by_external_id),
            }
        return None
    if head in ("query", "queryall"):
        if n == 1:
            return {"GET": ("query", query) if head == "query" else ("queryAll", query_all)}
        if n == 2:
            return {"GET": ("queryMore", query_more)}
        return None
    if head == "composite" and n >= 2 and parts[1].lower() == "sobjects":
        kind = "composite/sobjects"
        if n == 2:
            return {
                "POST": (kind, collection_create),
                "PATCH": (kind, collection_update),
                "DELETE": (kind, collection_delete),
            }
        if n == 3:
            return {"GET": (kind, collection_retrieve), "POST": (kind, collection_retrieve)}
        if n == 4:
            return {"PATCH": (kind, collection_upsert)}
        return None
    if head == "limits":
        if n == 1:
            return {"GET": ("limits", limits)}
        if n == 2 and parts[1].lower() == "recordcount":
            return {"GET": ("limits recordCount", record_count)}
        return None
    if head == "jobs":
        return bulk.routes(parts)
    if head == "analytics" and n >= 2 and parts[1].lower() == "reports":
        if n == 2:
            return {"GET": ("analytics reports", reports.listing)}
        if n == 4 and parts[3].lower() == "describe":
            return {"GET": ("analytics report describe", lambda em, rq: reports.describe(em, rq, rq.parts[2]))}
        if n == 3:
            run: Handler = lambda em, rq: reports.run(em, rq, rq.parts[2])  # noqa: E731
            return {"GET": ("analytics report run", run), "POST": ("analytics report run", run)}
        return None
    if head == "metadata":
        return metadata_api.routes(parts)
    return None
