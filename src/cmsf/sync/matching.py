"""Linking Campaign Monitor people to Salesforce contacts and leads.

The rules the product documents: a Salesforce Id that Campaign Monitor holds (the "Salesforce ID"
custom field) links first; otherwise the email, compared without regard to case; among several
contacts (or leads) with the email the most recently modified wins; a person who matches both a
contact and a lead links to both; a converted lead's people move to the contact it became.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cmsf.salesforce.adapter import parse_bool
from cmsf.salesforce.ids import CONTACT_PREFIX, to_18
from cmsf.sync.transforms import Link

SALESFORCE_ID_FIELD = "Salesforce ID"  # the Campaign Monitor custom field the import wizard fills

ContactRow = tuple[str, str, str]  # (Id, Email or "", LastModifiedDate)
LeadRow = tuple[str, str, str, bool, str]  # (Id, Email or "", LastModifiedDate, IsConverted, ConvertedContactId or "")


@dataclass
class Directory:
    """Contacts and leads by lower-case email, and converted leads to their contacts. Built once per run, from the
    persistent mirror (`sync.directory`). Held for a whole run and as large as the org, so it keeps no more than
    the links need: the winning Id of each email, and the set of known Ids (its 18-character forms)."""

    contacts: dict[str, str] = field(default_factory=dict)  # email -> the Id of the contact that wins it
    leads: dict[str, str] = field(default_factory=dict)
    converted: dict[str, str] = field(default_factory=dict)  # lead Id (15 characters) -> contact Id
    known_ids: set[str] = field(default_factory=set)  # every contact and lead that is not converted, 18 characters

    @classmethod
    def build(cls, contacts: Iterable[Mapping[str, Any]], leads: Iterable[Mapping[str, Any]]) -> Directory:
        """From query rows (REST records or Bulk 2.0 CSV rows: "" for null, "true"/"false" for booleans)."""
        return cls.from_rows(
            ((str(row["Id"]), str(row.get("Email") or ""), str(row.get("LastModifiedDate") or "")) for row in contacts),
            (
                (
                    str(row["Id"]),
                    str(row.get("Email") or ""),
                    str(row.get("LastModifiedDate") or ""),
                    parse_bool(row.get("IsConverted")),
                    str(row.get("ConvertedContactId") or ""),
                )
                for row in leads
            ),
        )

    @classmethod
    def from_rows(cls, contacts: Iterable[ContactRow], leads: Iterable[LeadRow]) -> Directory:
        """From plain tuples, as the persistent mirror (`sync.directory`) holds them, so that a directory read from
        Salesforce and one read from the mirror follow the same rules. The modification times must be strings of
        one format that sort as the times do."""
        directory = cls()
        best_contacts: dict[str, tuple[str, str]] = {}  # email -> (modified, Id) while building
        best_leads: dict[str, tuple[str, str]] = {}
        for record_id, email, modified in contacts:
            directory._add(best_contacts, record_id, email, modified)
        for record_id, email, modified, is_converted, converted_contact_id in leads:
            if is_converted:
                if converted_contact_id:
                    directory.converted[record_id[:15]] = converted_contact_id
                continue
            directory._add(best_leads, record_id, email, modified)
        directory.contacts = {email: record_id for email, (_, record_id) in best_contacts.items()}
        directory.leads = {email: record_id for email, (_, record_id) in best_leads.items()}
        return directory

    def _add(self, index: dict[str, tuple[str, str]], record_id: str, email: str, modified: str) -> None:
        self.known_ids.add(record_id)
        email = email.strip().lower()
        if not email:
            return
        candidate = (modified, record_id)
        current = index.get(email)
        if current is None or candidate > current:  # the most recently modified wins; ties by Id, stably
            index[email] = candidate

    def link(self, email: str, custom_fields: Iterable[tuple[str, str]] = ()) -> Link:
        for name, value in custom_fields:
            if name == SALESFORCE_ID_FIELD and value:
                linked = self._by_id(value.strip())
                if linked is not None:
                    return linked
        key = email.strip().lower()
        return Link(contact_id=self.contacts.get(key, ""), lead_id=self.leads.get(key, ""))

    def _by_id(self, record_id: str) -> Link | None:
        """A contact or lead by its Id (15 or 18 characters); a converted lead gives its contact."""
        if record_id[:15] in self.converted:
            return Link(contact_id=self.converted[record_id[:15]])
        # The Ids Salesforce gives are 18 characters; one held in Campaign Monitor may be 15, or 18 in another case.
        known = record_id[:15] + record_id[15:].upper() if len(record_id) == 18 else to_18(record_id)
        if not known or known not in self.known_ids:
            return None
        return Link(contact_id=known) if known.startswith(CONTACT_PREFIX) else Link(lead_id=known)


CONTACT_QUERY = "SELECT Id, Email, LastModifiedDate FROM Contact WHERE Email != null"
LEAD_QUERY = "SELECT Id, Email, LastModifiedDate, IsConverted, ConvertedContactId FROM Lead"
