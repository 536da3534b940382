"""What the Salesforce change watcher reads, and what its parts hand on to each other during a run.

The watcher (`sync.watcher`) is three parts: the orchestrator, which reads the changes and writes the run's
outcome; the identity rules (`sync.identity`: lead conversion, merge, delete, email change); and the evaluation of
subscriber rules with their match bookkeeping (`sync.rule_matches`). They share what is here: the records read
(`Person`, `Membership`), the reading itself (`Reader`), and the rows to write and records not handled
(`Pending`), which the orchestrator writes once every part has run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cmsf.billing.services import features
from cmsf.lib.phones import BadNumber, to_e164
from cmsf.maintenance.models import GovernorLimit
from cmsf.options.models import FieldMapping, SmsSettings
from cmsf.salesforce import soql
from cmsf.salesforce.adapter import SalesforceAdapter, parse_bool, parse_datetime
from cmsf.sync import field_values
from cmsf.sync.field_values import as_text
from cmsf.sync.models import DirectoryEntry

LAG = timedelta(minutes=2)  # changes are read from the cursor less this: a save committed late is still seen
CHUNK = 200  # Ids or emails in one IN (...)
JOB = "CMSF_SF_WATCHER"  # its governor limit is the batch of rows updated at once
OBJECTS = ("Contact", "Lead")
FIELDS = {
    "Contact": ("Id", "Email", "HasOptedOutOfEmail", "LastModifiedDate", "SystemModstamp", "IsDeleted",
                "MasterRecordId"),
    "Lead": ("Id", "Email", "HasOptedOutOfEmail", "LastModifiedDate", "SystemModstamp", "IsDeleted", "MasterRecordId",
             "IsConverted", "ConvertedContactId"),
}  # fmt: skip
MEMBER_FIELDS = (
    "Id, Member_Key__c, Email__c, Name__c, State__c, State_Changed__c, Contact__c, Lead__c, List__r.List_Id__c"
)
ACTIVE_STATES = ("Active", "Unconfirmed")


@dataclass
class Person:
    """A contact or lead as the watcher read it."""

    id: str
    sobject: str
    email: str
    opted_out: bool
    modified: datetime
    deleted: bool = False
    master_id: str = ""
    converted_contact_id: str = ""
    stamp: datetime | None = None  # SystemModstamp: the version read
    values: dict[str, str] = field(default_factory=dict)  # fields read for mappings and rules, as text
    created: datetime | None = None  # CreatedDate, when rules need it

    @property
    def email_lower(self) -> str:
        return self.email.strip().lower()

    @classmethod
    def of(cls, sobject: str, record: dict[str, Any], now: datetime) -> Person:
        return cls(
            id=str(record["Id"]),
            sobject=sobject,
            email=str(record.get("Email") or "").strip(),
            opted_out=parse_bool(record.get("HasOptedOutOfEmail")),
            modified=parse_datetime(record.get("LastModifiedDate")) or now,
            deleted=parse_bool(record.get("IsDeleted")),
            master_id=str(record.get("MasterRecordId") or ""),
            converted_contact_id=str(record.get("ConvertedContactId") or "")
            if parse_bool(record.get("IsConverted"))
            else "",
            stamp=parse_datetime(record.get("SystemModstamp")),
        )


@dataclass
class Membership:
    """A `CMSF_Subscriber__c` row: one email on one list, linked to a contact, a lead, or both."""

    id: str
    key: str
    list_id: str
    email: str
    name: str
    state: str
    state_changed: datetime | None
    contact_id: str
    lead_id: str

    @classmethod
    def of(cls, record: dict[str, Any]) -> Membership:
        return cls(
            id=str(record["Id"]),
            key=str(record.get("Member_Key__c") or ""),
            list_id=str(record.get("List__r.List_Id__c") or ""),
            email=str(record.get("Email__c") or ""),
            name=str(record.get("Name__c") or ""),
            state=str(record.get("State__c") or ""),
            state_changed=parse_datetime(record.get("State_Changed__c")),
            contact_id=str(record.get("Contact__c") or ""),
            lead_id=str(record.get("Lead__c") or ""),
        )


@dataclass
class Pending:
    """What a run's parts leave for its end: the membership rows to update in Salesforce, the ledger keys that
    follow them, the rows of the subscribers the rules added, and the records the run could not handle."""

    updates: dict[str, dict[str, Any]] = field(default_factory=dict)  # membership Id -> fields to write
    renamed: dict[str, tuple[str, str]] = field(default_factory=dict)  # ledger key -> (its new key, its row's Id)
    moved_rows: set[str] = field(default_factory=set)  # membership keys whose person lookup a merge moved
    added_rows: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # client -> rows of the rules' adds
    problems: list[dict[str, str]] = field(default_factory=list)

    def update(self, membership_id: str, **fields: Any) -> None:
        self.updates.setdefault(membership_id, {"Id": membership_id}).update(fields)

    def problem(self, key: str, reason: str, *, kept_out: bool = False) -> None:
        """A record this run could not handle, with its key and why; `kept_out`: the rules of every add kept it
        out on purpose (suppressed, opted out, forgotten): listed with the run, not a problem to tell."""
        self.problems.append({"key": key, "reason": reason, **({"kept_out": "yes"} if kept_out else {})})


class Reader:
    """The watcher's reads of Salesforce: changed contacts and leads with the fields the run needs (`extra`:
    object -> the fields read besides FIELDS), the purged ones from the directory mirror, and memberships."""

    def __init__(self, sf: SalesforceAdapter, now: datetime, extra: dict[str, list[str]]) -> None:
        self.sf, self.now, self.extra = sf, now, extra
        self.read: Counter[str] = Counter()

    def changes(self, sobject: str, since: datetime) -> tuple[list[Person], datetime]:
        soql_text = (
            f"SELECT {', '.join(self.fields(sobject))} FROM {sobject} "
            f"WHERE SystemModstamp >= {soql.datetime_literal(since)} ORDER BY SystemModstamp"
        )
        people, newest = [], since + LAG
        for record in self.sf.query(soql_text, include_deleted=True):
            people.append(self.person(sobject, record))
            stamp = parse_datetime(record.get("SystemModstamp"))
            if stamp is not None and stamp > newest:
                newest = stamp
        self.read[sobject] += len(people)
        return people, newest

    def fields(self, sobject: str) -> list[str]:
        return list(dict.fromkeys([*FIELDS[sobject], *self.extra[sobject]]))

    def person(self, sobject: str, record: dict[str, Any]) -> Person:
        person = Person.of(sobject, record, self.now)
        person.values = {name: as_text(record.get(name)) for name in self.extra[sobject]}
        person.created = parse_datetime(record.get("CreatedDate"))
        return person

    def purged(self, sobject: str, ids: list[str]) -> list[Person]:
        """Records deleted and gone from the recycle bin before the watcher read them: their email, from the
        directory mirror, is all that is known."""
        emails = dict(DirectoryEntry.objects.filter(record_id__in=ids).values_list("record_id", "email_lower"))
        self.read["deleted"] += len(ids)
        return [Person(rid, sobject, emails.get(rid, ""), False, self.now, deleted=True) for rid in ids]

    def memberships(self, where: str, values: Iterable[str]) -> Iterator[Membership]:
        values = sorted(set(v for v in values if v))
        for start in range(0, len(values), CHUNK):
            literals = soql.quote_list(values[start : start + CHUNK])
            text = f"SELECT {MEMBER_FIELDS} FROM CMSF_Subscriber__c WHERE {where.format(literals)}"
            for record in self.sf.query(text):
                yield Membership.of(record)


def send(sf: SalesforceAdapter, sobject: str, rows: list[dict[str, Any]], pending: Pending) -> set[str]:
    """Update rows in batches of the watcher's governor limit; a refused row is reported with its Id. Returns
    the Ids refused."""
    size = GovernorLimit.batch_size_for(JOB)
    results = [r for start in range(0, len(rows), size) for r in sf.update(sobject, rows[start : start + size])]
    refused: set[str] = set()
    for row, result in zip(rows, results, strict=True):
        if not result.success:
            reasons = "; ".join(f"{e.code}: {e.message}" for e in result.errors)
            pending.problem(f"{sobject} {row['Id']}", reasons)
            refused.add(str(row["Id"]))
    return refused


def sms_country(now: datetime) -> str | None:
    """SMS Settings' default country when mobile numbers are sent (SMS on, on a plan with SMS); None otherwise."""
    settings = SmsSettings.load()
    return settings.default_country if settings.enabled and features(now).sms else None


@dataclass
class Mapped:
    """A person's values for a list's mappings toward Campaign Monitor."""

    entries: field_values.Entries  # the custom fields (and the problems of every mapping)
    consent: str = "Unchanged"  # consent to track
    mobile: str | None = None  # the mobile number in E.164; None leaves Campaign Monitor's as it is, "" clears it
    sms_consent: str = "Unchanged"  # consent to send SMS, sent with the mobile number


def mapped(
    person: Person, mappings: Sequence[FieldMapping], *, clear_blank: bool, sms_country: str | None = None
) -> Mapped:
    """The person's values for a list's mappings toward Campaign Monitor: its custom fields, its consent to track
    (Unchanged unless mapped; a value that is not Yes, No or Unchanged is a problem, sent as Unchanged) and, when
    SMS is on (`sms_country`, the default country of SMS Settings, not None), its mobile number in E.164 and its
    consent to send SMS (sent only with a number: a number that cannot be made E.164 is a problem, left out)."""
    own = [m for m in mappings if m.sobject == person.sobject]
    custom = [(m.salesforce_field, m.campaign_monitor, m.campaign_monitor_type or "Text")
              for m in own if not m.is_standard]  # fmt: skip
    result = Mapped(field_values.to_campaign_monitor(person.values, custom, clear_blank=clear_blank))
    problems = result.entries.problems
    for mapping in (m for m in own if m.is_consent):
        found = field_values.consent(person.values.get(mapping.salesforce_field, ""))
        if found is None:
            problems.append(f"consent to track {person.values.get(mapping.salesforce_field)!r} in "
                            f"{mapping.salesforce_field} is not Yes, No or Unchanged: sent as Unchanged")  # fmt: skip
        else:
            result.consent = found
    if sms_country is None:
        return result
    for mapping in (m for m in own if m.campaign_monitor == FieldMapping.MOBILE):
        raw = person.values.get(mapping.salesforce_field, "")
        try:
            result.mobile = to_e164(raw, sms_country)
        except BadNumber as error:
            problems.append(f"the mobile number in {mapping.salesforce_field} is not sent: {error}")
        if result.mobile is None and not raw.strip() and clear_blank:
            result.mobile = ""  # a blank number clears Campaign Monitor's
    for mapping in (m for m in own if m.campaign_monitor == FieldMapping.SMS_CONSENT):
        if not result.mobile:
            break
        found = field_values.consent(person.values.get(mapping.salesforce_field, ""))
        if found is None:
            problems.append(f"consent to send SMS {person.values.get(mapping.salesforce_field)!r} in "
                            f"{mapping.salesforce_field} is not Yes, No or Unchanged: sent as Unchanged")  # fmt: skip
        else:
            result.sms_consent = found
    return result
