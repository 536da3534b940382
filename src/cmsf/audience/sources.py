"""The records an import wizard reads from Salesforce: one Bulk 2.0 query, whatever the source.

- A Salesforce campaign: its members (one status or all), with their contact's fields, or their lead's when the
  member is a lead that was not converted (a converted lead's member row carries the contact).
- A list view: the query its describe gives (so edits to the view apply to the next run), read as a SOQL query.
- A SOQL query: its FROM and WHERE as written; cmsf selects the fields it maps.

Each record comes back as a `SourceRecord` with the wizard's fields by name, as text ("" for a blank value), as
Bulk 2.0 gives them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from cmsf.audience.models import ImportWizard, canonical_object
from cmsf.salesforce import soql
from cmsf.salesforce.adapter import SalesforceAdapter

OPTED_OUT = "HasOptedOutOfEmail"  # Contact and Lead: Email Opt Out


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
    wizard: ImportWizard, sf: SalesforceAdapter, *, sms: bool, sms_consent: dict[str, str] | None = None
) -> Iterator[SourceRecord]:
    """The source's records. `sms_consent`: SMS Settings' consent to send SMS field of each object, read when the
    wizard sends mobile numbers and maps no consent field of its own."""
    fields = wanted_fields(wizard, sms=sms)
    consent = (sms_consent or {}) if sms and wizard.mobile_field and not wizard.sms_consent_field else {}
    if wizard.source == ImportWizard.Source.CAMPAIGN:
        yield from _campaign(wizard, sf, fields, consent)
    elif wizard.source == ImportWizard.Source.SOQL:
        yield from _query(wizard.soql, sf, fields, consent)
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
