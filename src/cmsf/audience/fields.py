"""The fields a wizard maps, checked against Salesforce's describe and the list's custom fields when it is saved,
and a Campaign Monitor custom field made to match a Salesforce field (same name, same kind of data)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from cmsf.audience import sources
from cmsf.audience.models import ImportWizard, canonical_object
from cmsf.campaign_monitor.api import CampaignMonitor
from cmsf.options.models import FieldMapping, RecordCreation, SubscriberRule
from cmsf.salesforce import soql
from cmsf.salesforce.adapter import SalesforceAdapter
from cmsf.salesforce.errors import SalesforceError

NUMBER = frozenset({"double", "int", "long", "currency", "percent"})
DATE = frozenset({"date", "datetime"})
# Salesforce field type -> the Campaign Monitor data type a new field gets
CM_TYPE = {**dict.fromkeys(NUMBER, "Number"), **dict.fromkeys(DATE, "Date"),
           "picklist": "MultiSelectOne", "multipicklist": "MultiSelectMany"}  # fmt: skip
# Campaign Monitor data type -> the Salesforce types whose values it takes (None: any)
TAKES: dict[str, frozenset[str] | None] = {
    "Text": None,
    "Number": NUMBER,
    "Date": DATE,
    "MultiSelectOne": frozenset({"picklist", "string", "boolean"}),
    "MultiSelectMany": frozenset({"multipicklist", "picklist", "string"}),
    "Country": frozenset({"picklist", "string"}),
    "USState": frozenset({"picklist", "string"}),
}
CONSENT_TYPES = frozenset({"boolean", "picklist", "string"})
MOBILE_TYPES = frozenset({"phone", "string"})  # a mobile number mapped from Salesforce (field mappings)


def _describe(sf: SalesforceAdapter, sobject: str) -> dict[str, dict[str, Any]]:
    return sf.fields(sobject)


def check(wizard: ImportWizard, cm: CampaignMonitor, sf: SalesforceAdapter, *, sms: bool) -> dict[str, list[str]]:
    """Problems by wizard field: a Salesforce field the object lacks, a custom field the list lacks, or a value the
    custom field cannot take. One describe per object read, and one Campaign Monitor call."""
    problems: dict[str, list[str]] = {}
    described = {sobject: _describe(sf, sobject) for sobject in wizard.read_objects}
    custom = {f.key.lower(): f for f in cm.custom_fields(wizard.list_id)}

    def sf_field(setting: str, name: str, types: Collection[str] | None = None) -> dict[str, Any] | None:
        found = None
        for sobject, fields in described.items():
            found = fields.get(name.lower())
            if found is None:
                problems.setdefault(setting, []).append(f"{sobject} has no field {name}.")
            elif types is not None and found.get("type") not in types:
                problems.setdefault(setting, []).append(
                    f"{sobject}.{name} is a {found.get('type')} field; use a {' or '.join(sorted(types))} field."
                )
        return found

    for setting, lines in check_source(wizard, sf).items():
        problems.setdefault(setting, []).extend(lines)
    sf_field("email_field", wizard.email_field, {"email", "string"})
    sf_field("name_field", wizard.name_field)
    if wizard.consent_field:
        sf_field("consent_field", wizard.consent_field, CONSENT_TYPES)
    if wizard.mobile_field:
        if not sms:
            problems.setdefault("mobile_field", []).append(
                "SMS is off, or the plan is not Enterprise: turn SMS on in SMS Settings first."
            )
        else:
            sf_field("mobile_field", wizard.mobile_field, {"phone", "string"})
    if wizard.sms_consent_field:
        sf_field("sms_consent_field", wizard.sms_consent_field, CONSENT_TYPES)
    for mapping in wizard.mappings:
        key = mapping["campaign_monitor"]
        target = custom.get(key.lower())
        if target is None:
            problems.setdefault("mappings", []).append(f"The list has no custom field {key}.")
            continue
        takes = TAKES.get(target.data_type)
        found = sf_field("mappings", mapping["salesforce"])
        if found is not None and takes is not None and found.get("type") not in takes:
            problems.setdefault("mappings", []).append(
                f"{mapping['salesforce']} is a {found.get('type')} field: the {target.data_type} field {key} cannot "
                "take its values."
            )
    return problems


def _refused(plain: str, error: SalesforceError) -> list[str]:
    """A source Salesforce would not read: what it means in plain words, then Salesforce's own message."""
    said = f"{error.message} ({error.code})" if error.code else error.message
    return [plain, f"Salesforce said: {said}"]


def check_source(wizard: ImportWizard, sf: SalesforceAdapter) -> dict[str, list[str]]:
    """The wizard's source looked up in Salesforce when it is saved, so that it does not fail at its first run: the
    SOQL query run with LIMIT 1, the campaign, list view or report looked up (one call). Problems by field."""
    try:
        if wizard.source == ImportWizard.Source.SOQL:
            try:
                query = soql.first_record_query(wizard.soql)
            except soql.QueryShapeError as error:
                return {"soql": [f"This query gives no records to import: {error}."]}
            try:
                list(sf.query(query))
            except SalesforceError as error:
                return {"soql": _refused("Salesforce could not run this query: check the object, the field names "
                                         "and the conditions.", error)}  # fmt: skip
        elif wizard.source == ImportWizard.Source.CAMPAIGN:
            try:
                found = list(sf.query(f"SELECT Id FROM Campaign WHERE Id = {soql.quote(wizard.campaign_id)}"))
            except SalesforceError as error:
                return {"campaign_id": _refused("This is not the Id of a Salesforce campaign.", error)}
            if not found:
                return {"campaign_id": ["No Salesforce campaign has this Id, or the Salesforce Sync User cannot see "
                                        "it."]}  # fmt: skip
        elif wizard.source == ImportWizard.Source.LIST_VIEW:
            try:
                query = sf.list_view_query(wizard.sobject, wizard.list_view_id)
            except SalesforceError as error:
                return {"list_view_id": _refused(f"No {wizard.sobject} list view has this Id, or the Salesforce Sync "
                                                 "User cannot see it.", error)}  # fmt: skip
            if not query:
                return {"list_view_id": ["This list view gives no query to read its records."]}
        elif wizard.source == ImportWizard.Source.REPORT:
            try:
                described = sf.report_describe(wizard.report_id)
            except SalesforceError as error:
                return {"report_id": _refused("No report has this Id, or the Salesforce Sync User cannot run it.",
                                              error)}  # fmt: skip
            sources.id_column(described, canonical_object(wizard.sobject))
    except sources.SourceError as error:
        if wizard.source == ImportWizard.Source.REPORT:
            return {"report_id": [f"The report cannot be read: {error}."]}
        return {"source": [f"The source cannot be read: {error}."]}
    return {}


def create_matching_field(cm: CampaignMonitor, sf: SalesforceAdapter, list_id: str, sobject: str, name: str) -> str:
    """A custom field in the list named and typed as the Salesforce field (its label; Text when no closer type
    fits; a picklist's active values as the options); returns its key. Raises LookupError for an unknown field."""
    found = _describe(sf, sobject).get(name.lower())
    if found is None:
        raise LookupError(f"{sobject} has no field {name}")
    data_type = CM_TYPE.get(str(found.get("type")), "Text")
    options = [str(v["value"]) for v in found.get("picklistValues") or () if v.get("active", True)]
    if data_type.startswith("MultiSelect") and not options:
        data_type = "Text"
    label = str(found.get("label") or name).replace("[", "(").replace("]", ")")
    return cm.create_custom_field(list_id, label, data_type, options=options if data_type.startswith("Multi") else ())


# Campaign Monitor data type -> the Salesforce types that take its values (field mappings toward Salesforce)
GIVES: dict[str, frozenset[str]] = {
    "Text": frozenset({"string", "textarea", "picklist", "multipicklist", "email", "phone", "url"}),
    "Number": NUMBER | {"string", "textarea"},
    "Date": DATE | {"string"},
    "MultiSelectOne": frozenset({"picklist", "string", "textarea", "boolean"}),
    "MultiSelectMany": frozenset({"multipicklist", "string", "textarea"}),
    "Country": frozenset({"picklist", "string"}),
    "USState": frozenset({"picklist", "string"}),
}


def check_mapping(mapping: FieldMapping, cm: CampaignMonitor, sf: SalesforceAdapter) -> dict[str, list[str]]:
    """Problems by mapping field: a Salesforce field the object lacks (or cannot update, toward Salesforce), a
    custom field the list lacks, or types that do not go together. Sets the mapping's two types when they do.
    One describe and one Campaign Monitor call."""
    found = _describe(sf, mapping.sobject).get(mapping.salesforce_field.lower())
    if found is None:
        return {"salesforce_field": [f"{mapping.sobject} has no field {mapping.salesforce_field}."]}
    mapping.salesforce_field = str(found["name"])  # as Salesforce spells it
    sf_type = str(found.get("type"))
    mapping.salesforce_type = sf_type
    if mapping.is_standard:
        mapping.campaign_monitor_type = ""
        accepted = MOBILE_TYPES if mapping.campaign_monitor == FieldMapping.MOBILE else CONSENT_TYPES
        if sf_type not in accepted:
            return {"salesforce_field": [f"{mapping.sobject}.{found['name']} is a {sf_type} field; "
                                         f"{mapping.target_label.lower()} takes a {' or '.join(sorted(accepted))} "
                                         "field."]}  # fmt: skip
        return {}
    custom = {f.key.lower(): f for f in cm.custom_fields(mapping.list_id)}
    target = custom.get(mapping.campaign_monitor.lower())
    if target is None:
        return {"campaign_monitor": [f"The list has no custom field {mapping.campaign_monitor}."]}
    mapping.campaign_monitor = target.key
    mapping.campaign_monitor_type = target.data_type
    if mapping.direction == FieldMapping.Direction.TO_CM:
        takes = TAKES.get(target.data_type)
        if takes is not None and sf_type not in takes:
            return {"salesforce_field": [f"{found['name']} is a {sf_type} field: the {target.data_type} field "
                                         f"{target.key} cannot take its values."]}  # fmt: skip
        return {}
    if not found.get("updateable", True):
        return {"salesforce_field": [f"{mapping.sobject}.{found['name']} cannot be updated: it cannot be mapped "
                                     "from Campaign Monitor."]}  # fmt: skip
    gives = GIVES.get(target.data_type, frozenset({"string", "textarea"}))
    if sf_type not in gives:
        return {"salesforce_field": [f"{found['name']} is a {sf_type} field: it cannot take the values of the "
                                     f"{target.data_type} field {target.key}; use a {' or '.join(sorted(gives))} "
                                     "field."]}  # fmt: skip
    return {}


def check_rule(rule: SubscriberRule, sf: SalesforceAdapter) -> dict[str, list[str]]:
    """Problems with a rule's criteria: a field its object (or a contact's account) lacks. One describe per object."""
    described: dict[str, dict[str, dict[str, Any]]] = {}
    problems: list[str] = []
    for position, criterion in enumerate(rule.criteria, start=1):
        name = str(criterion["field"])
        sobject, field_name = (
            ("Account", name.split(".", 1)[1]) if name.startswith("Account.") else (rule.sobject, name)
        )
        if sobject not in described:
            described[sobject] = _describe(sf, sobject)
        if field_name.lower() not in described[sobject]:
            problems.append(f"Criterion {position}: {sobject} has no field {field_name}.")
    return {"criteria": problems} if problems else {}


GIVEN_BY_CREATION = frozenset({"email", "lastname", "firstname"})


def check_creation(setting: RecordCreation, sf: SalesforceAdapter) -> dict[str, list[str]]:
    """Problems with a list's record creation: a default for a field the object lacks or cannot set on create,
    and a field Salesforce requires that neither a default nor a mapping of the list toward Salesforce fills. One
    describe."""
    described = _describe(sf, setting.sobject)
    problems: list[str] = []
    for name in setting.defaults:
        found = described.get(name.lower())
        if found is None:
            problems.append(f"{setting.sobject} has no field {name}.")
        elif not found.get("createable", True):
            problems.append(f"{setting.sobject}.{found['name']} cannot be set on a new record.")
    toward_salesforce = FieldMapping.objects.filter(
        list_id=setting.list_id, sobject=setting.sobject, direction=FieldMapping.Direction.TO_SF
    ).values_list("salesforce_field", flat=True)
    filled = GIVEN_BY_CREATION | {name.lower() for name in setting.defaults} | {f.lower() for f in toward_salesforce}
    for name, found in described.items():
        required = found.get("createable") and not found.get("nillable", True) and not found.get("defaultedOnCreate")
        if required and found.get("type") not in ("boolean", "id") and name not in filled:
            problems.append(f"{setting.sobject} requires {found['name']}: give it a default.")
    return {"defaults": problems} if problems else {}
