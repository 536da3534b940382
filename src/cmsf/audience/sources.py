"""The records an import wizard reads from Salesforce: one Bulk 2.0 query for every source but a report.

- A Salesforce campaign: its members (one status or all), with their contact's fields, or their lead's when the
  member is a lead that was not converted (a converted lead's member row carries the contact).
- A report (the Analytics API): its records by Id, 2,000 a run of the report sorted by the object's Id column and
  filtered past the last Id read (as Salesforce advises), then their fields 2,000 a call; 50,000 records at most,
  as Salesforce allows for a report.
- A list view: the query its describe gives (so edits to the view apply to the next run), read as a SOQL query.
- A SOQL query: its FROM and WHERE as written; cmsf selects the fields it maps.

Each record comes back as a `SourceRecord` with the wizard's fields by name, as text ("" for a blank value), as
Bulk 2.0 gives them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from cmsf.audience.models import ImportWizard, canonical_object
from cmsf.salesforce import soql
from cmsf.salesforce.adapter import SalesforceAdapter
from cmsf.sync.field_values import as_text

OPTED_OUT = "HasOptedOutOfEmail"  # Contact and Lead: Email Opt Out
REPORT_ROWS = 50_000  # the records of a report an import reads at most (Salesforce's limit for a report)


class SourceError(Exception):
    """The source cannot be read as configured; the message says what to fix."""


@dataclass(frozen=True)
class SourceRecord:
    sobject: str
    record_id: str
    values: dict[str, str]

    @property
    def key(self) -> str:
        """How a problem with this record is reported: its object and Id."""
        return f"{self.sobject} {self.record_id}"


def wanted_fields(wizard: ImportWizard, *, sms: bool) -> list[str]:
    """The fields of a record the wizard reads, without repeats, Id first."""
    fields = ["Id", wizard.email_field, wizard.name_field]
    if wizard.consent_field:
        fields.append(wizard.consent_field)
    if sms and wizard.mobile_field:
        fields.append(wizard.mobile_field)
        if wizard.sms_consent_field:
            fields.append(wizard.sms_consent_field)
    fields += [m["salesforce"] for m in wizard.mappings]
    return list(dict.fromkeys(fields))


def _person_fields(sobject: str, fields: Sequence[str], sms_consent: dict[str, str]) -> list[str]:
    extra = [OPTED_OUT] if sobject in ("Contact", "Lead") else []
    if sms_consent.get(sobject):
        extra.append(sms_consent[sobject])
    return list(dict.fromkeys([*fields, *extra]))


def read(
    wizard: ImportWizard,
    sf: SalesforceAdapter,
    *,
    sms: bool,
    sms_consent: dict[str, str] | None = None,
    cut: list[str] | None = None,
) -> Iterator[SourceRecord]:
    """The source's records. `sms_consent`: SMS Settings' consent to send SMS field of each object, read when the
    wizard sends mobile numbers and maps no consent field of its own. `cut` is told why, when the source had more
    records than could be read (a report past 50,000): what was read is then not the whole source."""
    fields = wanted_fields(wizard, sms=sms)
    consent = (sms_consent or {}) if sms and wizard.mobile_field and not wizard.sms_consent_field else {}
    if wizard.source == ImportWizard.Source.CAMPAIGN:
        yield from _campaign(wizard, sf, fields, consent)
    elif wizard.source == ImportWizard.Source.SOQL:
        yield from _query(wizard.soql, sf, fields, consent)
    elif wizard.source == ImportWizard.Source.REPORT:
        yield from _report(wizard, sf, fields, consent, cut if cut is not None else [])
    elif wizard.source == ImportWizard.Source.LIST_VIEW:
        query = sf.list_view_query(wizard.sobject, wizard.list_view_id)
        if not query:
            raise SourceError(f"the list view {wizard.list_view_id} of {wizard.sobject} gives no query to read")
        yield from _query(query, sf, fields, consent, keep_order=False)
    else:
        raise SourceError(f"the source {wizard.get_source_display()} cannot be read")


def _campaign(
    wizard: ImportWizard, sf: SalesforceAdapter, fields: list[str], consent: dict[str, str]
) -> Iterator[SourceRecord]:
    contact, lead = _person_fields("Contact", fields, consent), _person_fields("Lead", fields, consent)
    select = ["ContactId", "LeadId", *(f"Contact.{f}" for f in contact), *(f"Lead.{f}" for f in lead)]
    where = f"CampaignId = {soql.quote(wizard.campaign_id)}"
    if wizard.member_status:
        where += f" AND Status = {soql.quote(wizard.member_status)}"
    query = f"SELECT {', '.join(dict.fromkeys(select))} FROM CampaignMember WHERE {where}"
    for row in sf.bulk_query(query):
        if row.get("ContactId"):
            yield SourceRecord("Contact", row["ContactId"], {f: row.get(f"Contact.{f}", "") for f in contact})
        elif row.get("LeadId"):
            yield SourceRecord("Lead", row["LeadId"], {f: row.get(f"Lead.{f}", "") for f in lead})


def _query(
    text: str, sf: SalesforceAdapter, fields: list[str], consent: dict[str, str], *, keep_order: bool = True
) -> Iterator[SourceRecord]:
    try:
        sobject, _ = soql.select_fields(text, ["Id"])
        sobject_fields = _person_fields(canonical_object(sobject), fields, consent)
        sobject, query = soql.select_fields(text, sobject_fields, keep_order=keep_order)
    except soql.QueryShapeError as error:
        raise SourceError(f"the SOQL query cannot be read: {error}") from None
    for row in sf.bulk_query(query):
        yield SourceRecord(canonical_object(sobject), row.get("Id", ""), {f: row.get(f, "") for f in sobject_fields})


def id_column(described: dict[str, Any], sobject: str) -> str:
    """The report type's column that holds the record Id of `sobject` (`Contact.Id`, or CONTACT_ID in a standard
    report type); SourceError when it has none."""
    wanted = {f"{sobject}.Id".lower(), f"{sobject}_ID".lower()}
    for category in (described.get("reportTypeMetadata") or {}).get("categories") or ():
        for name, info in (category.get("columns") or {}).items():
            if name.lower() in wanted and str((info or {}).get("dataType", "id")).lower() == "id":
                return str(name)
    raise SourceError(f"the report's type has no {sobject} Id column: choose a report on {sobject} records")


def _report(
    wizard: ImportWizard, sf: SalesforceAdapter, fields: list[str], consent: dict[str, str], cut: list[str]
) -> Iterator[SourceRecord]:
    sobject = canonical_object(wizard.sobject)
    described = sf.report_describe(wizard.report_id)
    metadata = dict(described.get("reportMetadata") or {})
    column = id_column(described, sobject)
    filters = list(metadata.get("reportFilters") or [])
    logic = str(metadata.get("reportBooleanFilter") or "")
    wanted = _person_fields(sobject, fields, consent)
    # Only the Id column is read from the report: the fields come by Id, by their API names, whatever the report
    # shows. The report's own filters stay; the one past the last Id is added to them.
    metadata.update(reportFormat="TABULAR", detailColumns=[column], groupingsDown=[], groupingsAcross=[],
                    sortBy=[{"sortColumn": column, "sortOrder": "Asc"}])  # fmt: skip
    after, taken = "", 0
    while taken < REPORT_ROWS:
        if after:
            past = [*filters, {"column": column, "operator": "greaterThan", "value": after}]
            metadata.update(reportFilters=past, reportBooleanFilter=f"({logic}) AND {len(past)}" if logic else None)
        answer = sf.run_report(wizard.report_id, metadata)
        rows = ((answer.get("factMap") or {}).get("T!T") or {}).get("rows") or []
        ids = [str((row.get("dataCells") or [{}])[0].get("value") or "") for row in rows]
        ids = [record_id for record_id in ids if record_id][: REPORT_ROWS - taken]
        for record in sf.retrieve(sobject, ids, wanted) if ids else ():
            if record is not None:  # deleted since the report ran
                yield SourceRecord(sobject, str(record["Id"]), {f: as_text(record.get(f)) for f in wanted})
        taken += len(ids)
        if answer.get("allData", True) or not ids:
            return
        after = ids[-1]
    cut.append(f"the report has more than {REPORT_ROWS:,} records: the first {REPORT_ROWS:,} by Id were read")
