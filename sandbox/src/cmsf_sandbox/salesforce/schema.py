"""The emulated org's schema: standard objects with their field metadata, and the custom objects and custom
fields of the SFDX source in the cmsf package's `sfdx/` folder, read here with our own reader.

`build_schema()` returns a `Schema`; `describe_global` / `describe_object` render the describe resources.
Field types are Salesforce's describe types: id, string, textarea, email, phone, url, picklist, multipicklist,
boolean, int, double, currency, percent, date, datetime, reference.
"""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cmsf.salesforce.sfdx import default_source_dir  # where the files are; the reading is our own
from cmsf_sandbox.salesforce.ids import KEY_PREFIXES, custom_prefix

NS = "{http://soap.sforce.com/2006/04/metadata}"
DEFAULT_SOURCE = default_source_dir()  # the cmsf package's sfdx/, data that ships in cmsf's wheel

Lookup = Callable[[str, Any], "dict[str, Any] | None"]  # (object name, id or None) -> live or deleted record
Derive = Callable[[dict[str, Any], Lookup], Any]

TEXT_TYPES = frozenset({"string", "textarea", "email", "phone", "url", "picklist", "multipicklist", "combobox"})
NUMBER_TYPES = frozenset({"int", "double", "currency", "percent"})
ID_TYPES = frozenset({"id", "reference"})

_SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "int": "xsd:int",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
}


@dataclass(frozen=True)
class PicklistValue:
    value: str
    label: str
    default: bool = False
    active: bool = True


@dataclass
class Field:
    name: str
    label: str
    type: str
    length: int = 0
    precision: int = 0
    scale: int = 0
    digits: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    defaulted_on_create: bool = False
    default_value: Any = None
    external_id: bool = False
    id_lookup: bool = False
    unique: bool = False
    case_sensitive: bool = False
    picklist: tuple[PicklistValue, ...] = ()
    restricted_picklist: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    child_relationship: str | None = None  # the name of this lookup seen from the parent ("Contacts")
    cascade_delete: bool = False  # deleting the parent deletes this record (else the lookup is cleared)
    custom: bool = False
    auto_number: bool = False
    display_format: str | None = None
    name_field: bool = False
    filterable: bool = True
    sortable: bool = True
    html_formatted: bool = False
    derive: Derive | None = field(default=None, repr=False, compare=False)  # read-only value computed on read
    help_text: str | None = None

    @property
    def required_on_create(self) -> bool:
        return not self.nillable and self.createable and not self.defaulted_on_create

    @property
    def soap_type(self) -> str:
        return _SOAP_TYPES.get(self.type, "xsd:string")

    @property
    def is_text(self) -> bool:
        return self.type in TEXT_TYPES

    @property
    def indexed(self) -> bool:
        """Kept in an index of the store: usable as an upsert key, or unique."""
        return self.name != "Id" and (self.external_id or self.unique or self.id_lookup)

    def picklist_values(self) -> frozenset[str]:
        return frozenset(v.value for v in self.picklist if v.active)


@dataclass
class SObject:
    name: str
    label: str
    label_plural: str
    key_prefix: str
    custom: bool = False
    createable: bool = True
    updateable: bool = True
    deletable: bool = True
    queryable: bool = True
    storage_kb: int = 2
    fields: dict[str, Field] = field(default_factory=dict)
    _lower: dict[str, Field] = field(default_factory=dict, repr=False)
    _relationships: dict[str, Field] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.reindex()

    def reindex(self) -> None:
        self._lower = {name.lower(): f for name, f in self.fields.items()}
        self._relationships = {
            f.relationship_name.lower(): f
            for f in self.fields.values()
            if f.type == "reference" and f.relationship_name
        }

    def add(self, *fields: Field) -> None:
        for f in fields:
            self.fields[f.name] = f
        self.reindex()

    def field(self, name: str) -> Field | None:
        return self._lower.get(name.lower())

    def relationship(self, name: str) -> Field | None:
        return self._relationships.get(name.lower())

    @property
    def name_field(self) -> Field | None:
        return next((f for f in self.fields.values() if f.name_field), None)


class Schema:
    """Every object of the org; `remove_field` changes it (admin), `copy` makes an independent one."""

    def __init__(self, objects: Iterable[SObject], permission_sets: list[dict[str, str]] | None = None) -> None:
        self.objects: dict[str, SObject] = {o.name: o for o in objects}
        self.permission_sets = permission_sets or []
        self.generation = 0
        self._reindex()

    def _reindex(self) -> None:
        self._lower = {name.lower(): o for name, o in self.objects.items()}
        self._prefixes = {o.key_prefix: o for o in self.objects.values()}
        self.generation += 1

    def get(self, name: str) -> SObject | None:
        return self._lower.get(name.lower())

    def by_prefix(self, prefix: str) -> SObject | None:
        return self._prefixes.get(prefix)

    def copy(self) -> Schema:
        return copy.deepcopy(self)

    def remove_field(self, object_name: str, field_name: str) -> str:
        """Remove a field (as if it had been deleted in the org); returns "Object.Field". KeyError if unknown."""
        obj = self.get(object_name)
        found = obj.field(field_name) if obj else None
        if obj is None or found is None:
            raise KeyError(f"{object_name}.{field_name}")
        if found.name in ("Id", "IsDeleted", "CreatedDate", "LastModifiedDate", "SystemModstamp"):
            raise ValueError(f"{obj.name}.{found.name} is a system field")
        del obj.fields[found.name]
        obj.reindex()
        self.generation += 1
        return f"{obj.name}.{found.name}"

    def child_relationships(self, parent: str) -> list[tuple[SObject, Field]]:
        found: list[tuple[SObject, Field]] = []
        for obj in self.objects.values():
            for f in obj.fields.values():
                if f.type == "reference" and parent in f.reference_to:
                    found.append((obj, f))
        return found


# ------------------------------------------------------------------------------------- field builders


def _string(name: str, label: str, length: int, **kw: Any) -> Field:
    return Field(name, label, "string", length=length, **kw)


def _textarea(name: str, label: str, length: int = 32000, **kw: Any) -> Field:
    kw.setdefault("filterable", length <= 255)
    kw.setdefault("sortable", length <= 255)
    return Field(name, label, "textarea", length=length, **kw)


def _email(name: str, label: str, length: int = 80, **kw: Any) -> Field:
    return Field(name, label, "email", length=length, **kw)


def _phone(name: str, label: str, **kw: Any) -> Field:
    return Field(name, label, "phone", length=40, **kw)


def _url(name: str, label: str, **kw: Any) -> Field:
    return Field(name, label, "url", length=255, **kw)


def _bool(name: str, label: str, default: bool = False, **kw: Any) -> Field:
    return Field(name, label, "boolean", nillable=False, defaulted_on_create=True, default_value=default, **kw)


def _number(name: str, label: str, kind: str = "double", precision: int = 18, scale: int = 0, **kw: Any) -> Field:
    if kind == "int":
        return Field(name, label, "int", digits=precision, **kw)
    return Field(name, label, kind, precision=precision, scale=scale, **kw)


def _date(name: str, label: str, **kw: Any) -> Field:
    return Field(name, label, "date", **kw)


def _datetime(name: str, label: str, **kw: Any) -> Field:
    return Field(name, label, "datetime", **kw)


def _values(values: Iterable[str], default: str | None = None) -> tuple[PicklistValue, ...]:
    return tuple(PicklistValue(v, v, v == default) for v in values)


def _picklist(name: str, label: str, values: Iterable[str], default: str | None = None, **kw: Any) -> Field:
    kw.setdefault("length", 40)
    if default is not None:
        kw.setdefault("defaulted_on_create", True)
        kw.setdefault("default_value", default)
    return Field(name, label, "picklist", picklist=_values(values, default), **kw)


def _ref(name: str, label: str, to: Iterable[str], relationship: str | None, **kw: Any) -> Field:
    return Field(name, label, "reference", length=18, reference_to=tuple(to), relationship_name=relationship, **kw)


def _readonly(f: Field) -> Field:
    return replace(f, createable=False, updateable=False)


def _createonly(f: Field) -> Field:
    return replace(f, updateable=False)


def _system_fields(object_label: str) -> list[Field]:
    ro: dict[str, Any] = {"createable": False, "updateable": False, "nillable": False, "defaulted_on_create": True}
    return [
        Field("Id", f"{object_label} ID", "id", length=18, id_lookup=True, **ro),
        _bool("IsDeleted", "Deleted", createable=False, updateable=False),
        _datetime("CreatedDate", "Created Date", **ro),
        _ref("CreatedById", "Created By ID", ["User"], "CreatedBy", **ro),
        _datetime("LastModifiedDate", "Last Modified Date", **ro),
        _ref("LastModifiedById", "Last Modified By ID", ["User"], "LastModifiedBy", **ro),
        _datetime("SystemModstamp", "System Modstamp", **ro),
    ]


def _owner(to: Iterable[str] = ("User",)) -> Field:
    return _ref("OwnerId", "Owner ID", to, "Owner", nillable=False, defaulted_on_create=True)


def _full_name(record: dict[str, Any], lookup: Lookup) -> Any:
    parts = [record.get("FirstName"), record.get("LastName")]
    joined = " ".join(p for p in parts if p)
    return joined or None


def _sobject(name: str, label: str, plural: str, fields: Iterable[Field], **kw: Any) -> SObject:
    ordered = [*_system_fields(label)]
    for f in fields:
        ordered.append(f)
    by_name: dict[str, Field] = {}
    for f in ordered:
        by_name[f.name] = f
    # The system fields go first and last, as describe lists Id first.
    return SObject(name, label, plural, KEY_PREFIXES[name], fields=by_name, **kw)


_SALUTATIONS = ("Mr.", "Ms.", "Mrs.", "Dr.", "Prof.", "Mx.")
_LEAD_SOURCES = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Trade Show", "Word of mouth", "Other")
_INDUSTRIES = (
    "Agriculture",
    "Apparel",
    "Banking",
    "Biotechnology",
    "Chemicals",
    "Communications",
    "Construction",
    "Consulting",
    "Education",
    "Electronics",
    "Energy",
    "Engineering",
    "Entertainment",
    "Environmental",
    "Finance",
    "Food & Beverage",
    "Government",
    "Healthcare",
    "Hospitality",
    "Insurance",
    "Machinery",
    "Manufacturing",
    "Media",
    "Not For Profit",
    "Recreation",
    "Retail",
    "Shipping",
    "Technology",
    "Telecommunications",
    "Transportation",
    "Utilities",
    "Other",
)
LEAD_STATUSES = ("Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted")
DEFAULT_LEAD_STATUS = LEAD_STATUSES[0]
_CAMPAIGN_TYPES = (
    "Advertisement",
    "Email",
    "Telemarketing",
    "Banner Ads",
    "Seminar / Conference",
    "Public Relations",
    "Partners",
    "Referral Program",
    "Webinar",
    "Trade Show",
    "Direct Mail",
    "Other",
)
_CAMPAIGN_STATUSES = ("Planned", "In Progress", "Completed", "Aborted")


def _address(prefix: str, label: str) -> list[Field]:
    return [
        _textarea(f"{prefix}Street", f"{label} Street".strip(), 255),
        _string(f"{prefix}City", f"{label} City".strip(), 40),
        _string(f"{prefix}State", f"{label} State/Province".strip(), 80),
        _string(f"{prefix}PostalCode", f"{label} Zip/Postal Code".strip(), 20),
        _string(f"{prefix}Country", f"{label} Country".strip(), 80),
    ]


def _organization() -> SObject:
    ro: dict[str, Any] = {"createable": False, "updateable": False}
    fields = [
        _string("Name", "Name", 80, name_field=True, **ro),
        _string("Division", "Division", 80, **ro),
        *(_readonly(f) for f in _address("", "")),
        _phone("Phone", "Phone", **ro),
        _string("PrimaryContact", "Primary Contact", 80, **ro),
        _picklist("DefaultLocaleSidKey", "Locale", ["en_US", "en_AU", "en_GB"], length=40, **ro),
        _picklist("LanguageLocaleKey", "Language", ["en_US"], length=40, **ro),
        _picklist("TimeZoneSidKey", "Time Zone", ["America/Los_Angeles", "Australia/Sydney", "GMT"], **ro),
        _bool("IsSandbox", "Is Sandbox", **ro),
        _string("InstanceName", "Instance Name", 5, **ro),
        _picklist("OrganizationType", "Edition", ["Enterprise Edition", "Developer Edition"], **ro),
        _string("NamespacePrefix", "Namespace Prefix", 15, **ro),
        _datetime("TrialExpirationDate", "Trial Expiration Date", **ro),
    ]
    return _sobject(
        "Organization",
        "Organization",
        "Organizations",
        fields,
        createable=False,
        updateable=False,
        deletable=False,
        storage_kb=0,
    )


def _user() -> SObject:
    fields = [
        _string("Username", "Username", 80, nillable=False, unique=True, id_lookup=True),
        _string("LastName", "Last Name", 80, nillable=False),
        _string("FirstName", "First Name", 40),
        _readonly(_string("Name", "Full Name", 121, name_field=True, derive=_full_name)),
        _string("CompanyName", "Company Name", 80),
        _string("Division", "Division", 80),
        _string("Department", "Department", 80),
        _string("Title", "Title", 80),
        *_address("", ""),
        _email("Email", "Email", 128, nillable=False, id_lookup=True),
        _phone("Phone", "Phone"),
        _phone("MobilePhone", "Mobile"),
        _string("Alias", "Alias", 8, nillable=False),
        _string("CommunityNickname", "Nickname", 40, defaulted_on_create=True),
        _bool("IsActive", "Active", default=True),
        _picklist("TimeZoneSidKey", "Time Zone", ["America/Los_Angeles", "Australia/Sydney", "GMT"], nillable=False),
        _picklist("LocaleSidKey", "Locale", ["en_US", "en_AU", "en_GB"], nillable=False),
        _picklist("EmailEncodingKey", "Email Encoding", ["UTF-8", "ISO-8859-1"], nillable=False),
        _picklist("LanguageLocaleKey", "Language", ["en_US"], nillable=False),
        _ref("ProfileId", "Profile ID", ["Profile"], "Profile", nillable=False),
        _ref("UserRoleId", "Role ID", ["UserRole"], "UserRole"),
        _ref("ManagerId", "Manager ID", ["User"], "Manager"),
        _readonly(_picklist("UserType", "User Type", ["Standard", "PowerPartner", "CsnOnly"], default="Standard")),
        _bool("UserPermissionsMarketingUser", "Marketing User"),
        _readonly(_datetime("LastLoginDate", "Last Login")),
    ]
    return _sobject("User", "User", "Users", fields, deletable=False, storage_kb=0)


def _account() -> SObject:
    fields = [
        _readonly(_ref("MasterRecordId", "Master Record ID", ["Account"], "MasterRecord")),
        _string("Name", "Account Name", 255, nillable=False, name_field=True),
        _picklist(
            "Type",
            "Account Type",
            ["Prospect", "Customer", "Customer - Direct", "Customer - Channel", "Partner", "Other"],
        ),
        _ref("ParentId", "Parent Account ID", ["Account"], "Parent", child_relationship="ChildAccounts"),
        *_address("Billing", "Billing"),
        *_address("Shipping", "Shipping"),
        _phone("Phone", "Account Phone"),
        _phone("Fax", "Account Fax"),
        _string("AccountNumber", "Account Number", 40),
        _url("Website", "Website"),
        _picklist("Industry", "Industry", _INDUSTRIES),
        _number("AnnualRevenue", "Annual Revenue", "currency", 18, 0),
        _number("NumberOfEmployees", "Employees", "int", 8),
        _textarea("Description", "Account Description"),
        _picklist("AccountSource", "Account Source", _LEAD_SOURCES),
        _owner(),
        _readonly(_date("LastActivityDate", "Last Activity")),
    ]
    return _sobject("Account", "Account", "Accounts", fields)


def _contact() -> SObject:
    fields = [
        _readonly(_ref("MasterRecordId", "Master Record ID", ["Contact"], "MasterRecord")),
        _ref("AccountId", "Account ID", ["Account"], "Account", child_relationship="Contacts", cascade_delete=True),
        _string("LastName", "Last Name", 80, nillable=False),
        _string("FirstName", "First Name", 40),
        _picklist("Salutation", "Salutation", _SALUTATIONS),
        _readonly(_string("Name", "Full Name", 121, name_field=True, derive=_full_name)),
        *_address("Other", "Other"),
        *_address("Mailing", "Mailing"),
        _phone("Phone", "Business Phone"),
        _phone("Fax", "Business Fax"),
        _phone("MobilePhone", "Mobile Phone"),
        _phone("HomePhone", "Home Phone"),
        _phone("OtherPhone", "Other Phone"),
        _ref("ReportsToId", "Reports To ID", ["Contact"], "ReportsTo"),
        _email("Email", "Email", id_lookup=True),
        _string("Title", "Title", 128),
        _string("Department", "Department", 80),
        _picklist("LeadSource", "Lead Source", _LEAD_SOURCES),
        _date("Birthdate", "Birthdate"),
        _textarea("Description", "Contact Description"),
        _owner(),
        _bool("HasOptedOutOfEmail", "Email Opt Out"),
        _bool("HasOptedOutOfFax", "Fax Opt Out"),
        _bool("DoNotCall", "Do Not Call"),
        _readonly(_date("LastActivityDate", "Last Activity")),
        _string("EmailBouncedReason", "Email Bounced Reason", 255),
        _datetime("EmailBouncedDate", "Email Bounced Date"),
        _readonly(_bool("IsEmailBounced", "Is Email Bounced")),
    ]
    return _sobject("Contact", "Contact", "Contacts", fields)


def _lead() -> SObject:
    ro: dict[str, Any] = {"createable": False, "updateable": False}
    fields = [
        _readonly(_ref("MasterRecordId", "Master Record ID", ["Lead"], "MasterRecord")),
        _string("LastName", "Last Name", 80, nillable=False),
        _string("FirstName", "First Name", 40),
        _picklist("Salutation", "Salutation", _SALUTATIONS),
        _readonly(_string("Name", "Full Name", 121, name_field=True, derive=_full_name)),
        _string("Title", "Title", 128),
        _string("Company", "Company", 255, nillable=False),
        *_address("", ""),
        _phone("Phone", "Phone"),
        _phone("MobilePhone", "Mobile Phone"),
        _phone("Fax", "Fax"),
        _email("Email", "Email", id_lookup=True),
        _url("Website", "Website"),
        _textarea("Description", "Description"),
        _picklist("LeadSource", "Lead Source", _LEAD_SOURCES),
        _picklist("Status", "Status", LEAD_STATUSES, default=DEFAULT_LEAD_STATUS, nillable=False),
        _picklist("Industry", "Industry", _INDUSTRIES),
        _picklist("Rating", "Rating", ["Hot", "Warm", "Cold"]),
        _number("AnnualRevenue", "Annual Revenue", "currency", 18, 0),
        _number("NumberOfEmployees", "Employees", "int", 8),
        _owner(("Group", "User")),
        _bool("HasOptedOutOfEmail", "Email Opt Out"),
        _bool("HasOptedOutOfFax", "Fax Opt Out"),
        _bool("DoNotCall", "Do Not Call"),
        _bool("IsConverted", "Converted", **ro),
        _date("ConvertedDate", "Converted Date", **ro),
        _ref("ConvertedAccountId", "Converted Account ID", ["Account"], "ConvertedAccount", **ro),
        _ref("ConvertedContactId", "Converted Contact ID", ["Contact"], "ConvertedContact", **ro),
        _ref("ConvertedOpportunityId", "Converted Opportunity ID", ["Opportunity"], "ConvertedOpportunity", **ro),
        _bool("IsUnreadByOwner", "Unread By Owner"),
        _readonly(_date("LastActivityDate", "Last Activity")),
        _string("EmailBouncedReason", "Email Bounced Reason", 255),
        _datetime("EmailBouncedDate", "Email Bounced Date"),
    ]
    return _sobject("Lead", "Lead", "Leads", fields)


def _campaign() -> SObject:
    ro: dict[str, Any] = {"createable": False, "updateable": False, "defaulted_on_create": True}
    fields = [
        _string("Name", "Name", 80, nillable=False, name_field=True, id_lookup=True),
        _ref("ParentId", "Parent Campaign ID", ["Campaign"], "Parent", child_relationship="ChildCampaigns"),
        _picklist("Type", "Type", _CAMPAIGN_TYPES),
        _picklist("Status", "Status", _CAMPAIGN_STATUSES, default="Planned"),
        _date("StartDate", "Start Date"),
        _date("EndDate", "End Date"),
        _number("ExpectedRevenue", "Expected Revenue in Campaign", "currency", 18, 0),
        _number("BudgetedCost", "Budgeted Cost in Campaign", "currency", 18, 0),
        _number("ActualCost", "Actual Cost in Campaign", "currency", 18, 0),
        _number("ExpectedResponse", "Expected Response (%)", "percent", 10, 2),
        _number("NumberSent", "Num Sent in Campaign", "double", 18, 0),
        _bool("IsActive", "Active"),
        _textarea("Description", "Description"),
        _number("NumberOfLeads", "Leads in Campaign", "int", 9, **ro),
        _number("NumberOfConvertedLeads", "Converted Leads in Campaign", "int", 9, **ro),
        _number("NumberOfContacts", "Contacts in Campaign", "int", 9, **ro),
        _number("NumberOfResponses", "Responses in Campaign", "int", 9, **ro),
        _number("NumberOfOpportunities", "Opportunities in Campaign", "int", 9, **ro),
        _number("NumberOfWonOpportunities", "Won Opportunities in Campaign", "int", 9, **ro),
        _number("AmountAllOpportunities", "Value Opportunities in Campaign", "currency", 18, 0, **ro),
        _number("AmountWonOpportunities", "Value Won Opportunities in Campaign", "currency", 18, 0, **ro),
        _owner(),
        _ref("CampaignMemberRecordTypeId", "Campaign Member Type", ["RecordType"], "CampaignMemberRecordType"),
        _readonly(_date("LastActivityDate", "Last Activity")),
    ]
    return _sobject("Campaign", "Campaign", "Campaigns", fields, storage_kb=8)


def _person(member: dict[str, Any], lookup: Lookup) -> tuple[dict[str, Any] | None, bool]:
    """The contact of a campaign member if it has one, else its lead; and whether it is a lead."""
    contact_id = member.get("ContactId")
    if contact_id:
        return lookup("Contact", contact_id), False
    return lookup("Lead", member.get("LeadId")), True


def _mirror(contact_field: str, lead_field: str | None = None) -> Derive:
    lead_name = lead_field or contact_field

    def derive(member: dict[str, Any], lookup: Lookup) -> Any:
        person, is_lead = _person(member, lookup)
        if person is None:
            return None
        return person.get(lead_name if is_lead else contact_field)

    return derive


def _member_type(member: dict[str, Any], lookup: Lookup) -> Any:
    return "Contact" if member.get("ContactId") else "Lead"


def _member_person_id(member: dict[str, Any], lookup: Lookup) -> Any:
    return member.get("ContactId") or member.get("LeadId")


def _member_owner(member: dict[str, Any], lookup: Lookup) -> Any:
    person, _ = _person(member, lookup)
    return person.get("OwnerId") if person else None


def _member_name(member: dict[str, Any], lookup: Lookup) -> Any:
    person, _ = _person(member, lookup)
    return _full_name(person, lookup) if person else None


def _member_company(member: dict[str, Any], lookup: Lookup) -> Any:
    person, is_lead = _person(member, lookup)
    if person is None:
        return None
    if is_lead:
        return person.get("Company")
    account = lookup("Account", person.get("AccountId"))
    return account.get("Name") if account else None


def _campaign_member() -> SObject:
    def mirror(f: Field, contact_field: str, lead_field: str | None = None) -> Field:
        return replace(f, createable=False, updateable=False, derive=_mirror(contact_field, lead_field))

    fields = [
        _createonly(_ref("CampaignId", "Campaign ID", ["Campaign"], "Campaign", nillable=False)),
        _createonly(_ref("LeadId", "Lead ID", ["Lead"], "Lead", child_relationship="CampaignMembers")),
        _createonly(_ref("ContactId", "Contact ID", ["Contact"], "Contact", child_relationship="CampaignMembers")),
        _picklist("Status", "Status", ["Sent", "Responded"], defaulted_on_create=True),
        _readonly(_bool("HasResponded", "Responded")),
        _readonly(_date("FirstRespondedDate", "Member First Responded")),
        _readonly(_string("Type", "Type", 40, derive=_member_type)),
        _readonly(_ref("LeadOrContactId", "Contact or Lead ID", ["Contact", "Lead"], None, derive=_member_person_id)),
        _readonly(_ref("LeadOrContactOwnerId", "Owner ID", ["Group", "User"], None, derive=_member_owner)),
        mirror(_picklist("Salutation", "Salutation", _SALUTATIONS), "Salutation"),
        _readonly(_string("Name", "Name", 121, derive=_member_name)),
        mirror(_string("FirstName", "First Name", 40), "FirstName"),
        mirror(_string("LastName", "Last Name", 80), "LastName"),
        mirror(_string("Title", "Title", 128), "Title"),
        mirror(_textarea("Street", "Street", 255), "MailingStreet", "Street"),
        mirror(_string("City", "City", 40), "MailingCity", "City"),
        mirror(_string("State", "State/Province", 80), "MailingState", "State"),
        mirror(_string("PostalCode", "Zip/Postal Code", 20), "MailingPostalCode", "PostalCode"),
        mirror(_string("Country", "Country", 80), "MailingCountry", "Country"),
        mirror(_email("Email", "Email"), "Email"),
        mirror(_phone("Phone", "Phone"), "Phone"),
        mirror(_phone("Fax", "Fax"), "Fax"),
        mirror(_phone("MobilePhone", "Mobile"), "MobilePhone"),
        mirror(_bool("DoNotCall", "Do Not Call"), "DoNotCall"),
        mirror(_bool("HasOptedOutOfEmail", "Email Opt Out"), "HasOptedOutOfEmail"),
        mirror(_bool("HasOptedOutOfFax", "Fax Opt Out"), "HasOptedOutOfFax"),
        mirror(_picklist("LeadSource", "Lead Source", _LEAD_SOURCES), "LeadSource"),
        _readonly(_string("CompanyOrAccount", "Company (Account)", 255, derive=_member_company)),
    ]
    obj = _sobject("CampaignMember", "Campaign Member", "Campaign Members", fields, storage_kb=1)
    obj.fields["CampaignId"].child_relationship = "CampaignMembers"
    obj.fields["CampaignId"].cascade_delete = True
    obj.fields["ContactId"].cascade_delete = True
    obj.fields["LeadId"].cascade_delete = True
    return obj


def _campaign_member_status() -> SObject:
    fields = [
        _createonly(_ref("CampaignId", "Campaign ID", ["Campaign"], None, nillable=False, cascade_delete=True)),
        _createonly(_string("Label", "Member Status", 765, nillable=False)),
        _number("SortOrder", "Sort Order", "int", 9),
        _bool("IsDefault", "Default"),
        _bool("HasResponded", "Responded"),
    ]
    return _sobject("CampaignMemberStatus", "Campaign Member Status", "Campaign Member Statuses", fields, storage_kb=0)


CASE_STATUSES = ("New", "Working", "Escalated", "Closed")
TASK_STATUSES = ("Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred")
TASK_SUBTYPES = ("Task", "Email", "ListEmail", "Cadence", "Call", "LinkedIn")
_PRIORITIES = ("High", "Normal", "Low")
# The objects a Task's WhatId may name: those the emulator keeps, and Opportunity and Contract, which it does not
# (an id of theirs is taken as it is, as for the owners' Group).
TASK_WHAT = ("Account", "Campaign", "Case", "Contract", "Opportunity")
# Salesforce keeps the custom fields of activities on Activity (SFDX: objects/Activity/fields/) and shows them on
# Task and Event; the emulator has Task.
ACTIVITY_OBJECTS = ("Task",)


def _case_closed(case: dict[str, Any], lookup: Lookup) -> Any:
    return case.get("Status") == "Closed"


def _case() -> SObject:
    """A minimal Case: enough for "a survey when a Case closes" (a Task's WhatId, a Flow's record)."""
    fields = [
        _readonly(
            _string(
                "CaseNumber",
                "Case Number",
                30,
                name_field=True,
                auto_number=True,
                display_format="{00000000}",
                id_lookup=True,
                nillable=False,
                defaulted_on_create=True,
            )
        ),
        _ref("ContactId", "Contact ID", ["Contact"], "Contact", child_relationship="Cases"),
        _ref("AccountId", "Account ID", ["Account"], "Account", child_relationship="Cases"),
        _string("Subject", "Subject", 255),
        _textarea("Description", "Description"),
        _picklist("Status", "Status", CASE_STATUSES, default="New", nillable=False),
        _picklist("Priority", "Priority", _PRIORITIES, default="Normal"),
        _picklist("Origin", "Case Origin", ["Phone", "Email", "Web"]),
        _email("SuppliedEmail", "Web Email"),
        _string("SuppliedName", "Web Name", 80),
        _readonly(_bool("IsClosed", "Closed", derive=_case_closed)),
        _owner(("Group", "User")),
    ]
    return _sobject("Case", "Case", "Cases", fields)


def _task_closed(task: dict[str, Any], lookup: Lookup) -> Any:
    return task.get("Status") == "Completed"


def _task_high_priority(task: dict[str, Any], lookup: Lookup) -> Any:
    return task.get("Priority") == "High"


def _task_account(task: dict[str, Any], lookup: Lookup) -> Any:
    """As Salesforce sets it: the WhatId's account (an account, or a case's account), else the contact's."""
    what = task.get("WhatId") or ""
    if what.startswith(KEY_PREFIXES["Account"]):
        return what
    if what.startswith(KEY_PREFIXES["Case"]):
        case = lookup("Case", what)
        if case is not None and case.get("AccountId"):
            return case["AccountId"]
    who = task.get("WhoId") or ""
    if who.startswith(KEY_PREFIXES["Contact"]):
        contact = lookup("Contact", who)
        return contact.get("AccountId") if contact is not None else None
    return None


def _task() -> SObject:
    """Task with the standard fields an integration writes; WhoId (a contact or a lead) and WhatId (an account, a
    campaign, a case...) are polymorphic, and deleting the record they name deletes the task, as Salesforce does."""
    fields = [
        _ref("WhoId", "Name ID", ["Contact", "Lead"], "Who", child_relationship="Tasks", cascade_delete=True),
        _ref("WhatId", "Related To ID", TASK_WHAT, "What", child_relationship="Tasks", cascade_delete=True),
        Field("Subject", "Subject", "combobox", length=255, name_field=True),
        _date("ActivityDate", "Due Date Only"),
        _picklist("Status", "Status", TASK_STATUSES, default="Not Started", nillable=False),
        _picklist("Priority", "Priority", _PRIORITIES, default="Normal", nillable=False),
        _readonly(_bool("IsHighPriority", "High Priority", derive=_task_high_priority)),
        _owner(("Group", "User")),
        _textarea("Description", "Description"),
        _picklist("Type", "Type", ["Call", "Email", "Meeting", "Other"]),
        _createonly(_picklist("TaskSubtype", "Task Subtype", TASK_SUBTYPES, length=40)),
        _readonly(_bool("IsClosed", "Closed", derive=_task_closed)),
        _readonly(_ref("AccountId", "Account ID", ["Account"], "Account", derive=_task_account)),
    ]
    return _sobject("Task", "Task", "Tasks", fields, storage_kb=2)


def _permission_set() -> SObject:
    fields = [
        _string("Name", "Name", 80, nillable=False, unique=True, id_lookup=True),
        _string("Label", "Label", 80, nillable=False, name_field=True),
        _string("Description", "Description", 255),
        _readonly(_bool("IsOwnedByProfile", "Is Owned By Profile")),
        _readonly(_bool("IsCustom", "Custom", default=True)),
        _bool("HasActivationRequired", "Session Activation Required"),
        _readonly(_string("NamespacePrefix", "Namespace Prefix", 15)),
    ]
    return _sobject("PermissionSet", "Permission Set", "Permission Sets", fields, storage_kb=0)


def _permission_set_assignment() -> SObject:
    fields = [
        _createonly(_ref("AssigneeId", "Assignee ID", ["User"], "Assignee", nillable=False, cascade_delete=True)),
        _createonly(
            _ref(
                "PermissionSetId",
                "Permission Set ID",
                ["PermissionSet"],
                "PermissionSet",
                nillable=False,
                child_relationship="Assignments",
                cascade_delete=True,
            )
        ),
        _readonly(_bool("IsActive", "Is Active", default=True)),
    ]
    return _sobject(
        "PermissionSetAssignment",
        "Permission Set Assignment",
        "Permission Set Assignments",
        fields,
        updateable=False,
        storage_kb=0,
    )


def standard_objects() -> list[SObject]:
    return [
        _organization(),
        _user(),
        _account(),
        _contact(),
        _lead(),
        _campaign(),
        _campaign_member(),
        _campaign_member_status(),
        _case(),
        _task(),
        _permission_set(),
        _permission_set_assignment(),
    ]


# ------------------------------------------------------------------------------------------ SFDX reader


def _text(element: ET.Element, tag: str, default: str | None = None) -> str | None:
    found = element.find(NS + tag)
    if found is None or found.text is None:
        return default
    return found.text.strip()


def _flag(element: ET.Element, tag: str, default: bool = False) -> bool:
    value = _text(element, tag)
    return default if value is None else value.lower() == "true"


def _int(element: ET.Element, tag: str, default: int) -> int:
    value = _text(element, tag)
    return default if value is None else int(value)


def _custom_field(path: Path) -> Field:
    root = ET.parse(path).getroot()
    name = _text(root, "fullName") or path.name.split(".")[0]
    label = _text(root, "label") or name
    kind = _text(root, "type") or "Text"
    required = _flag(root, "required")
    common: dict[str, Any] = {
        "custom": True,
        "nillable": not required,
        "external_id": _flag(root, "externalId"),
        "unique": _flag(root, "unique"),
        "case_sensitive": _flag(root, "caseSensitive"),
        "help_text": _text(root, "inlineHelpText"),
    }
    if common["external_id"]:
        common["id_lookup"] = True
    if kind == "Text":
        return _string(name, label, _int(root, "length", 255), **common)
    if kind in ("TextArea", "LongTextArea", "Html"):
        length = _int(root, "length", 255 if kind == "TextArea" else 32768)
        return _textarea(name, label, length, html_formatted=kind == "Html", **common)
    if kind == "Email":
        return _email(name, label, **common)
    if kind == "Phone":
        return _phone(name, label, **common)
    if kind == "Url":
        return _url(name, label, **common)
    if kind in ("Number", "Currency", "Percent"):
        describe_type = {"Number": "double", "Currency": "currency", "Percent": "percent"}[kind]
        return _number(name, label, describe_type, _int(root, "precision", 18), _int(root, "scale", 0), **common)
    if kind == "Checkbox":
        common.pop("nillable")
        return _bool(name, label, default=(_text(root, "defaultValue") or "false").lower() == "true", **common)
    if kind == "Date":
        return _date(name, label, **common)
    if kind == "DateTime":
        return _datetime(name, label, **common)
    if kind in ("Picklist", "MultiselectPicklist"):
        value_set = root.find(NS + "valueSet")
        values: list[PicklistValue] = []
        restricted = False
        if value_set is not None:
            restricted = _flag(value_set, "restricted")
            definition = value_set.find(NS + "valueSetDefinition")
            for value in definition.findall(NS + "value") if definition is not None else []:
                full = _text(value, "fullName") or ""
                values.append(PicklistValue(full, _text(value, "label") or full, _flag(value, "default")))
        default = next((v.value for v in values if v.default), None)
        return Field(
            name,
            label,
            "picklist" if kind == "Picklist" else "multipicklist",
            length=255 if kind == "Picklist" else 4099,
            picklist=tuple(values),
            restricted_picklist=restricted,
            defaulted_on_create=default is not None,
            default_value=default,
            **common,
        )
    if kind in ("Lookup", "MasterDetail"):
        target = _text(root, "referenceTo") or ""
        child = _text(root, "relationshipName")
        constraint = _text(root, "deleteConstraint") or "SetNull"
        if kind == "MasterDetail":
            common["nillable"] = False
        return _ref(
            name,
            label,
            [target],
            name[:-3] + "__r" if name.endswith("__c") else name,
            child_relationship=(child + "__r") if child else None,
            cascade_delete=kind == "MasterDetail" or constraint == "Cascade",
            **common,
        )
    if kind == "AutoNumber":
        return _readonly(_string(name, label, 30, auto_number=True, display_format=_text(root, "displayFormat")))
    # Anything else (formulas, roll-ups, geolocation...) is read-only text here.
    return _readonly(_string(name, label, 255, custom=True))


def _custom_object(path: Path, name: str, prefix: str) -> SObject:
    root = ET.parse(path).getroot()
    label = _text(root, "label") or name
    plural = _text(root, "pluralLabel") or label
    name_element = root.find(NS + "nameField")
    name_label = "Name"
    auto_format: str | None = None
    if name_element is not None:
        name_label = _text(name_element, "label") or "Name"
        if (_text(name_element, "type") or "Text") == "AutoNumber":
            auto_format = _text(name_element, "displayFormat") or "{0}"
    if auto_format is not None:
        name_field = _readonly(
            _string(
                "Name",
                name_label,
                30,
                name_field=True,
                auto_number=True,
                display_format=auto_format,
                id_lookup=True,
                nillable=False,
                defaulted_on_create=True,
            )
        )
    else:
        # Without a Name the API names the record after its id.
        name_field = _string("Name", name_label, 80, name_field=True, id_lookup=True, defaulted_on_create=True)
    fields = [*_system_fields(label), _owner(("Group", "User")), name_field]
    obj = SObject(name, label, plural, prefix, custom=True, fields={f.name: f for f in fields})
    return obj


def read_permission_sets(source: Path) -> list[dict[str, str]]:
    folder = source / "force-app" / "main" / "default" / "permissionsets"
    found: list[dict[str, str]] = []
    for path in sorted(folder.glob("*.permissionset-meta.xml")):
        root = ET.parse(path).getroot()
        name = path.name.split(".")[0]
        found.append(
            {
                "Name": name,
                "Label": _text(root, "label") or name,
                "Description": _text(root, "description") or "",
            }
        )
    return found


def build_schema(source: Path | None = None) -> Schema:
    """Standard objects, then the SFDX source's custom objects and the custom fields of every object."""
    source = source or DEFAULT_SOURCE
    objects = {o.name: o for o in standard_objects()}
    folder = source / "force-app" / "main" / "default" / "objects"
    if not folder.is_dir():
        raise FileNotFoundError(f"no SFDX objects folder at {folder}")
    folders = sorted(p for p in folder.iterdir() if p.is_dir())
    custom = [p for p in folders if p.name.endswith("__c")]
    for index, path in enumerate(custom):
        meta = path / f"{path.name}.object-meta.xml"
        objects[path.name] = _custom_object(meta, path.name, custom_prefix(index))
    for path in folders:
        targets = ACTIVITY_OBJECTS if path.name == "Activity" else (path.name,)
        for target in targets:
            obj = objects.get(target)
            if obj is None:
                continue  # a standard object the emulator does not have
            for field_path in sorted((path / "fields").glob("*.field-meta.xml")):
                obj.add(_custom_field(field_path))
    return Schema(objects.values(), read_permission_sets(source))


# ------------------------------------------------------------------------------------------- describe


def sobject_urls(obj: SObject, version: str) -> dict[str, str]:
    base = f"/services/data/v{version}/sobjects/{obj.name}"
    return {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"}


def describe_global_entry(obj: SObject, version: str) -> dict[str, Any]:
    return {
        "activateable": False,
        "associateEntityType": None,
        "associateParentEntity": None,
        "createable": obj.createable,
        "custom": obj.custom,
        "customSetting": False,
        "deepCloneable": False,
        "deletable": obj.deletable,
        "deprecatedAndHidden": False,
        "feedEnabled": not obj.custom and obj.name in ("Account", "Contact", "Lead", "Campaign"),
        "hasSubtypes": False,
        "isInterface": False,
        "isSubtype": False,
        "keyPrefix": obj.key_prefix,
        "label": obj.label,
        "labelPlural": obj.label_plural,
        "layoutable": obj.createable,
        "mergeable": obj.name in ("Account", "Contact", "Lead"),
        "mruEnabled": obj.createable,
        "name": obj.name,
        "queryable": obj.queryable,
        "replicateable": True,
        "retrieveable": True,
        "searchable": obj.createable,
        "triggerable": True,
        "undeletable": obj.deletable,
        "updateable": obj.updateable,
        "urls": sobject_urls(obj, version),
    }


def describe_field(f: Field) -> dict[str, Any]:
    byte_length = f.length * 3 if f.is_text else 18 if f.type in ID_TYPES else 0
    default = f.default_value if f.type == "boolean" or f.type == "picklist" else None
    return {
        "aggregatable": f.type not in ("textarea", "multipicklist"),
        "aiPredictionField": False,
        "autoNumber": f.auto_number,
        "byteLength": byte_length,
        "calculated": f.derive is not None,
        "calculatedFormula": None,
        "cascadeDelete": f.cascade_delete,
        "caseSensitive": f.case_sensitive,
        "compoundFieldName": None,
        "controllerName": None,
        "createable": f.createable,
        "custom": f.custom,
        "defaultValue": default,
        "defaultValueFormula": None,
        "defaultedOnCreate": f.defaulted_on_create,
        "dependentPicklist": False,
        "deprecatedAndHidden": False,
        "digits": f.digits,
        "displayLocationInDecimal": False,
        "encrypted": False,
        "externalId": f.external_id,
        "extraTypeInfo": "plaintextarea" if f.type == "textarea" and not f.html_formatted else None,
        "filterable": f.filterable,
        "filteredLookupInfo": None,
        "formulaTreatNullNumberAsZero": False,
        "groupable": f.type not in ("textarea", "double", "currency", "percent", "datetime", "multipicklist"),
        "highScaleNumber": False,
        "htmlFormatted": f.html_formatted,
        "idLookup": f.id_lookup,
        "inlineHelpText": f.help_text,
        "label": f.label,
        "length": f.length if f.is_text or f.type in ID_TYPES else 0,
        "mask": None,
        "maskType": None,
        "name": f.name,
        "nameField": f.name_field,
        "namePointing": len(f.reference_to) > 1,
        "nillable": f.nillable,
        "permissionable": f.nillable and f.createable and f.custom,
        "picklistValues": [
            {"active": v.active, "defaultValue": v.default, "label": v.label, "validFor": None, "value": v.value}
            for v in f.picklist
        ],
        "polymorphicForeignKey": len(f.reference_to) > 1,
        "precision": f.precision,
        "queryByDistance": False,
        "referenceTargetField": None,
        "referenceTo": list(f.reference_to),
        "relationshipName": f.relationship_name,
        "relationshipOrder": None,
        "restrictedDelete": False,
        "restrictedPicklist": f.restricted_picklist,
        "scale": f.scale,
        "searchPrefilterable": False,
        "soapType": f.soap_type,
        "sortable": f.sortable,
        "type": f.type,
        "unique": f.unique,
        "updateable": f.updateable,
        "writeRequiresMasterRead": False,
    }


def describe_object(schema: Schema, obj: SObject, version: str) -> dict[str, Any]:
    document = describe_global_entry(obj, version)
    children = []
    for child, f in schema.child_relationships(obj.name):
        children.append(
            {
                "cascadeDelete": f.cascade_delete,
                "childSObject": child.name,
                "deprecatedAndHidden": False,
                "field": f.name,
                "junctionIdListNames": [],
                "junctionReferenceTo": [],
                "relationshipName": f.child_relationship,
                "restrictedDelete": False,
            }
        )
    urls = sobject_urls(obj, version)
    document.update(
        {
            "actionOverrides": [],
            "childRelationships": children,
            "compactLayoutable": obj.createable,
            "defaultImplementation": None,
            "extendedBy": None,
            "extendsInterfaces": None,
            "fields": [describe_field(f) for f in obj.fields.values()],
            "implementedBy": None,
            "implementsInterfaces": None,
            "listviewable": None,
            "lookupLayoutable": None,
            "namedLayoutInfos": [],
            "networkScopeFieldName": None,
            "recordTypeInfos": [
                {
                    "active": True,
                    "available": True,
                    "defaultRecordTypeMapping": True,
                    "developerName": "Master",
                    "master": True,
                    "name": "Master",
                    "recordTypeId": "012000000000000AAA",
                    "urls": {"layout": f"{urls['sobject']}/describe/layouts/012000000000000AAA"},
                }
            ],
            "searchLayoutable": obj.createable,
            "sobjectDescribeOption": "FULL",
            "supportedScopes": [{"label": "All records", "name": "everything"}],
            "urls": {**urls, "compactLayouts": f"{urls['describe']}/compactLayouts"},
        }
    )
    return document
