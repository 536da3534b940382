"""List views: each object's views (a few standard ones for Contact and Lead, more through the admin API), and the
REST resources that read them:

- `GET sobjects/{object}/listviews`: the views (id, label, developerName, describeUrl, resultsUrl, soqlCompatible).
- `GET sobjects/{object}/listviews/{id}/describe`: its columns, its ORDER BY and the SOQL `query` it runs.
- `GET sobjects/{object}/listviews/{id}/results?limit=&offset=`: its rows, the view's columns only (limit 25 by
  default and 2,000 at most; offset 2,000 at most), as Salesforce gives them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cmsf_sandbox.salesforce.errors import ApiError, SoqlError, not_found
from cmsf_sandbox.salesforce.http import Reply, Request
from cmsf_sandbox.salesforce.ids import make_id
from cmsf_sandbox.salesforce.soql import compile_query

if TYPE_CHECKING:
    from cmsf_sandbox.salesforce.schema import SObject
    from cmsf_sandbox.salesforce.state import Emulator

PREFIX = "00B"
ORDER_BY = "Name ASC NULLS FIRST, Id ASC NULLS FIRST"
COLUMNS = {
    "Contact": ("Name", "Email", "Phone", "Id"),
    "Lead": ("Name", "Company", "Email", "Status", "Id"),
}
STANDARD = {
    "Contact": (("AllContacts", "All Contacts", ""), ("NewThisWeek", "New This Week", "CreatedDate = LAST_N_DAYS:7")),
    "Lead": (("AllOpenLeads", "All Open Leads", "IsConverted = false"),
             ("TodaysLeads", "Today's Leads", "CreatedDate = TODAY")),
}  # fmt: skip
MAX_LIMIT = 2000
MAX_OFFSET = 2000


@dataclass(frozen=True)
class ListView:
    view_id: str
    sobject: str
    developer_name: str
    label: str
    where: str

    @property
    def columns(self) -> tuple[str, ...]:
        return COLUMNS.get(self.sobject, ("Name", "Id"))

    @property
    def query(self) -> str:
        where = f" WHERE {self.where}" if self.where else ""
        return f"SELECT {', '.join(self.columns)} FROM {self.sobject}{where} ORDER BY {ORDER_BY}"


class ListViews:
    def __init__(self) -> None:
        self.views: dict[str, ListView] = {}
        for sobject, views in STANDARD.items():
            for developer_name, label, where in views:
                self.add(sobject, developer_name, label, where)

    def add(self, sobject: str, developer_name: str, label: str, where: str) -> ListView:
        view = ListView(make_id(PREFIX, len(self.views) + 1), sobject, developer_name, label, where)
        self.views[view.view_id] = view
        return view

    def find(self, sobject: str, view_id: str) -> ListView:
        for view in self.views.values():
            if view.sobject.lower() == sobject.lower() and view_id in (view.view_id, view.view_id[:15]):
                return view
        raise not_found()


def _base(rq: Request, sobject: str) -> str:
    return f"/services/data/v{rq.version}/sobjects/{sobject}/listviews"


def _column(name: str) -> dict[str, Any]:
    return {"ascendingLabel": "A-Z", "descendingLabel": "Z-A", "fieldNameOrPath": name, "hidden": name == "Id",
            "label": name, "selectListItem": name, "sortDirection": None, "sortIndex": None, "sortable": True,
            "type": "id" if name == "Id" else "string"}  # fmt: skip


def list_views(em: Emulator, rq: Request, obj: SObject) -> Reply:
    views = [v for v in em.list_views.views.values() if v.sobject == obj.name]
    base = _base(rq, obj.name)
    entries = [{"describeUrl": f"{base}/{v.view_id}/describe", "developerName": v.developer_name, "id": v.view_id,
                "label": v.label, "resultsUrl": f"{base}/{v.view_id}/results", "soqlCompatible": True,
                "url": f"{base}/{v.view_id}"} for v in views]  # fmt: skip
    return Reply(200, {"done": True, "listviews": entries, "nextRecordsUrl": None, "size": len(entries),
                       "sobjectType": obj.name})  # fmt: skip


def describe(em: Emulator, rq: Request, obj: SObject, view_id: str) -> Reply:
    view = em.list_views.find(obj.name, view_id)
    return Reply(200, {"columns": [_column(c) for c in view.columns], "id": view.view_id,
                       "orderBy": [{"fieldNameOrPath": "Name", "nullsPosition": "first", "sortDirection": "ascending"},
                                   {"fieldNameOrPath": "Id", "nullsPosition": "first", "sortDirection": "ascending"}],
                       "query": view.query, "relatedEntityId": None, "scope": "everything", "scopeEntityId": None,
                       "sobjectType": view.sobject, "whereCondition": {"conditions": [], "conjunction": "and"}})  # fmt: skip


def _bounded(rq: Request, name: str, default: int, top: int) -> int:
    raw = rq.params.get(name, str(default))
    if not raw.isdigit() or int(raw) > top:
        raise ApiError(400, "INVALID_QUERY_PARAMETER_VALUE", f"{name} must be a whole number from 0 to {top}")
    return int(raw)


def results(em: Emulator, rq: Request, obj: SObject, view_id: str) -> Reply:
    view = em.list_views.find(obj.name, view_id)
    limit, offset = _bounded(rq, "limit", 25, MAX_LIMIT), _bounded(rq, "offset", 0, MAX_OFFSET)
    try:
        compiled = compile_query(view.query, em.schema, em.store.lookup, em.now())
    except SoqlError as error:
        raise error.api_error() from None
    rows = compiled.select(em.store.rows(compiled.obj, False))
    page = [compiled.record(row, rq.version) for row in rows[offset : offset + limit]]
    records = [{"columns": [{"fieldNameOrPath": c, "value": None if row.get(c) is None else str(row.get(c))}
                            for c in view.columns]} for row in page]  # fmt: skip
    return Reply(200, {"columns": [_column(c) for c in view.columns], "developerName": view.developer_name,
                       "done": offset + limit >= len(rows), "id": view.view_id, "label": view.label,
                       "records": records, "size": len(rows)})  # fmt: skip
