"""Reports and the Reports and Dashboards REST API: tabular reports on one object (Contacts, Leads, ...), as a
custom report type names them: each column is `Object.Field`, and a filter may name any field of the object.

- `GET analytics/reports`: the reports (Salesforce lists the recently viewed ones; here, all of them, 200 at most):
  id, name, url, describeUrl, instancesUrl.
- `GET analytics/reports/{id}/describe`: `reportMetadata` (detailColumns, reportFilters, reportBooleanFilter,
  sortBy, reportFormat, reportType), `reportExtendedMetadata.detailColumnInfo`, and `reportTypeMetadata` (every
  column of the report type, with its data type and whether it can be filtered).
- `GET analytics/reports/{id}` or `POST` with `{"reportMetadata": {...}}` (filter reports on demand): a
  synchronous run. The metadata posted replaces the report's detail columns, filters, boolean filter and sort
  for this run only. The detail rows are in `factMap["T!T"].rows`, each `{"dataCells": [{"label", "value"}]}`
  (none with `includeDetails=false`). A run gives 2,000 detail rows at most, with `allData` false when the
  report has more: a reader pages by sorting on the record Id and filtering past the last one it has, as
  Salesforce advises for the Reports API.

Filter operators: equals, notEqual, lessThan, greaterThan, lessOrEqual, greaterOrEqual, contains, notContain,
startsWith. One sort column at most. Only the TABULAR format is run here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cmsf_sandbox.salesforce.errors import ApiError, SoqlError, not_found
from cmsf_sandbox.salesforce.http import Reply, Request, parse_json
from cmsf_sandbox.salesforce.ids import make_id
from cmsf_sandbox.salesforce.soql import compile_query

if TYPE_CHECKING:
    from cmsf_sandbox.salesforce.schema import Field, SObject
    from cmsf_sandbox.salesforce.state import Emulator

PREFIX = "00O"
ROW_LIMIT = 2000
LISTED = 200
OPERATORS = {
    "equals": "=",
    "notEqual": "!=",
    "lessThan": "<",
    "greaterThan": ">",
    "lessOrEqual": "<=",
    "greaterOrEqual": ">=",
}
TEXT_OPERATORS = ("contains", "notContain", "startsWith")
UNQUOTED = ("boolean", "int", "double", "currency", "percent", "date", "datetime")


@dataclass
class Report:
    report_id: str
    name: str
    developer_name: str
    sobject: str
    columns: list[str]  # `Object.Field`
    filters: list[dict[str, str]] = field(default_factory=list)  # {"column", "operator", "value"}
    boolean_filter: str = ""

    def metadata(self, em: Emulator) -> dict[str, Any]:
        obj = em.schema.get(self.sobject)
        label = obj.label_plural if obj else self.sobject
        return {
            "id": self.report_id, "name": self.name, "developerName": self.developer_name,
            "reportFormat": "TABULAR", "detailColumns": list(self.columns),
            "reportFilters": [dict(f) for f in self.filters], "reportBooleanFilter": self.boolean_filter or None,
            "sortBy": [], "groupingsDown": [], "groupingsAcross": [], "aggregates": ["RowCount"],
            "reportType": {"type": f"{self.sobject}s", "label": label}, "scope": "organization",
            "hasDetailRows": True, "showGrandTotal": True, "showSubtotals": True,
        }  # fmt: skip


class Reports:
    def __init__(self) -> None:
        self.reports: dict[str, Report] = {}

    def add(self, em: Emulator, body: dict[str, Any]) -> Report:
        """A report as a user saves one; ApiError 400 when it could not run."""
        obj = em.schema.get(str(body.get("sobject") or ""))
        name = str(body.get("name") or "")
        if obj is None or not name:
            raise ApiError(400, "BAD_REQUEST", "give an object (sobject) and a name")
        columns = [str(c) for c in body.get("columns") or [f"{obj.name}.Id", f"{obj.name}.Email"]]
        report = Report(
            make_id(PREFIX, len(self.reports) + 1), name, str(body.get("developer_name") or re.sub(r"\W", "_", name)),
            obj.name, columns, [dict(f) for f in body.get("filters") or []], str(body.get("boolean_filter") or ""),
        )  # fmt: skip
        run_query(em, report, report.metadata(em))  # the report must run as saved
        self.reports[report.report_id] = report
        return report

    def find(self, report_id: str) -> Report:
        for report in self.reports.values():
            if report_id in (report.report_id, report.report_id[:15]):
                return report
        raise ApiError(404, "NOT_FOUND", "The report ID is invalid or the report is not available")


def _bad(message: str) -> ApiError:
    return ApiError(400, "BAD_REQUEST", message)


def _field(obj: SObject, column: str) -> Field:
    prefix, _, name = column.partition(".")
    found = obj.field(name) if prefix.lower() == obj.name.lower() else None
    if found is None:
        raise _bad(f"The column {column} is not valid for this report type")
    return found


def _literal(f: Field, value: str) -> str:
    if f.type in UNQUOTED:
        if f.type == "boolean":
            return "true" if value.strip().lower() in ("true", "1") else "false"
        if not re.fullmatch(r"[\w:.+-]+", value.strip()):
            raise _bad(f"The filter value {value!r} is not valid for {f.name}")
        return value.strip()
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'").replace("%", "\\%").replace("_", "\\_")


def _condition(obj: SObject, spec: Any) -> str:
    if not isinstance(spec, dict):
        raise _bad("each report filter is an object with column, operator and value")
    column, operator, value = str(spec.get("column") or ""), str(spec.get("operator") or ""), spec.get("value")
    f = _field(obj, column)
    text = "" if value is None else str(value)
    if operator in OPERATORS:
        if text == "":
            if operator not in ("equals", "notEqual"):
                raise _bad(f"The filter on {column} needs a value")
            return f"{f.name} {OPERATORS[operator]} null"
        return f"{f.name} {OPERATORS[operator]} {_literal(f, text)}"
    if operator in TEXT_OPERATORS:
        if f.type in UNQUOTED:
            raise _bad(f"The operator {operator} cannot be used with {column}")
        pattern = f"'{_like(text)}%'" if operator == "startsWith" else f"'%{_like(text)}%'"
        return f"(NOT {f.name} LIKE {pattern})" if operator == "notContain" else f"{f.name} LIKE {pattern}"
    raise _bad(f"The filter operator {operator!r} is not valid")


def _where(obj: SObject, filters: list[Any], boolean_filter: str) -> str:
    conditions = [_condition(obj, spec) for spec in filters]
    if not conditions:
        return ""
    if not boolean_filter:
        return " AND ".join(f"({c})" for c in conditions)
    if not re.fullmatch(r"[\d\s()]*(?:(?:AND|OR|NOT)[\d\s()]*)*", boolean_filter.upper()):
        raise _bad(f"The boolean filter {boolean_filter!r} is not valid")
    numbers = {int(n) for n in re.findall(r"\d+", boolean_filter)}
    if numbers != set(range(1, len(conditions) + 1)):
        raise _bad("The boolean filter must name every filter, from 1 to the number of filters, once or more")
    return re.sub(r"\d+", lambda m: f"({conditions[int(m.group()) - 1]})", boolean_filter)


def run_query(em: Emulator, report: Report, metadata: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """(the detail columns, the records of the run in order, one more than the row limit at most)."""
    obj = em.schema.get(report.sobject)
    if obj is None:
        raise not_found()
    if str(metadata.get("reportFormat") or "TABULAR") != "TABULAR":
        raise _bad("Only tabular reports can be run here")
    columns = [str(c) for c in metadata.get("detailColumns") or []]
    if not columns:
        raise _bad("A report needs at least one detail column")
    fields = [_field(obj, c).name for c in columns]
    filters = metadata.get("reportFilters") or []
    if not isinstance(filters, list):
        raise _bad("reportFilters must be a list")
    where = _where(obj, filters, str(metadata.get("reportBooleanFilter") or ""))
    sort = metadata.get("sortBy") or []
    if not isinstance(sort, list) or len(sort) > 1:
        raise _bad("A report can be sorted by one column at most")
    order = ""
    if sort:
        column = str(sort[0].get("sortColumn") or "")
        if column not in columns:
            raise _bad(f"The sort column {column} must be a detail column")
        direction = "DESC" if str(sort[0].get("sortOrder") or "Asc").lower().startswith("desc") else "ASC"
        order = f" ORDER BY {_field(obj, column).name} {direction}"
    text = f"SELECT {', '.join(dict.fromkeys(fields))} FROM {obj.name}"
    text += f" WHERE {where}" if where else ""
    text += f"{order} LIMIT {ROW_LIMIT + 1}"
    try:
        compiled = compile_query(text, em.schema, em.store.lookup, em.now())
    except SoqlError as error:
        raise _bad(f"The report could not run: {error.message}") from None
    return columns, [compiled.record(row, "") for row in compiled.select(em.store.rows(compiled.obj, False))]


def _type(f: Field) -> str:
    return "id" if f.type in ("id", "reference") else f.type


def _column_info(obj: SObject, columns: list[str]) -> dict[str, Any]:
    info = {}
    for column in columns:
        f = _field(obj, column)
        info[column] = {"dataType": _type(f), "label": f.label, "entityColumnName": column, "isLookup": False}
    return info


def _urls(rq: Request, report: Report) -> dict[str, str]:
    base = f"/services/data/v{rq.version}/analytics/reports/{report.report_id}"
    return {"url": base, "describeUrl": f"{base}/describe", "instancesUrl": f"{base}/instances"}


def listing(em: Emulator, rq: Request) -> Reply:
    return Reply(200, [{"id": r.report_id, "name": r.name, **_urls(rq, r)}
                       for r in list(em.reports.reports.values())[:LISTED]])  # fmt: skip


def describe(em: Emulator, rq: Request, report_id: str) -> Reply:
    report = em.reports.find(report_id)
    obj = em.schema.get(report.sobject)
    assert obj is not None
    every = [f"{obj.name}.{name}" for name in obj.fields]
    return Reply(200, {
        "reportMetadata": report.metadata(em),
        "reportExtendedMetadata": {"detailColumnInfo": _column_info(obj, report.columns), "aggregateColumnInfo": {},
                                   "groupingColumnInfo": {}},
        "reportTypeMetadata": {"categories": [{"label": obj.label, "columns": {
            column: {**info, "filterable": True} for column, info in _column_info(obj, every).items()}}]},
    })  # fmt: skip


def _cell(value: Any) -> dict[str, Any]:
    if value is None:
        return {"label": "-", "value": None}
    if isinstance(value, bool):
        return {"label": str(value).lower(), "value": value}
    return {"label": str(value), "value": value}


def run(em: Emulator, rq: Request, report_id: str) -> Reply:
    report = em.reports.find(report_id)
    metadata = report.metadata(em)
    if rq.method == "POST" and rq.body:
        body = parse_json(rq.body)
        given = body.get("reportMetadata") if isinstance(body, dict) else None
        if not isinstance(given, dict):
            raise ApiError(400, "JSON_PARSER_ERROR", "The request body must be an object with reportMetadata")
        for name in ("detailColumns", "reportFilters", "reportBooleanFilter", "sortBy", "reportFormat"):
            if name in given:
                metadata[name] = given[name]
    details = rq.params.get("includeDetails", "true").lower() != "false"
    columns, records = run_query(em, report, metadata)
    obj = em.schema.get(report.sobject)
    assert obj is not None
    names = [_field(obj, c).name for c in columns]
    shown = records[:ROW_LIMIT]
    rows = [{"dataCells": [_cell(record.get(name)) for name in names]} for record in shown] if details else []
    return Reply(200, {
        "attributes": {"reportId": report.report_id, "reportName": report.name, "type": "Report",
                       **_urls(rq, report)},
        "allData": len(records) <= ROW_LIMIT,
        "hasDetailRows": details,
        "factMap": {"T!T": {"rows": rows, "aggregates": [{"label": f"{len(shown):,}", "value": len(shown)}]}},
        "groupingsDown": {"groupings": []}, "groupingsAcross": {"groupings": []},
        "reportMetadata": metadata,
        "reportExtendedMetadata": {"detailColumnInfo": _column_info(obj, columns), "aggregateColumnInfo": {},
                                   "groupingColumnInfo": {}},
    })  # fmt: skip
