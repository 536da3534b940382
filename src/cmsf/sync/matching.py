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

from cmsf.sync.transforms import Link

SALESFORCE_ID_FIELD = "Salesforce ID"  # the Campaign Monitor custom field the import wizard fills
CONTACT_PREFIX = "003"

ContactRow = tuple[str, str, str]  # (Id, Email or "", LastModifiedDate)
LeadRow = tuple[str, str, str, bool, str]  # (Id, Email or "", LastModifiedDate, IsConverted, ConvertedContactId or "")


@dataclass
class Directory:
    """Contacts and leads by lower-case email, and converted leads to their contacts. Built once per run, from the
    persistent mirror (`sync.directory`)."""

    contacts: dict[str, tuple[str, str]] = field(default_factory=dict)  # email -> (LastModifiedDate, Id)
    leads: dict[str, tuple[str, str]] = field(default_factory=dict)
    converted: dict[str, str] = field(default_factory=dict)  # lead Id (15 characters) -> contact Id
    known_ids: dict[str, str] = field(default_factory=dict)  # the 15-character form -> the 18-character Id

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
                    _true(row.get("IsConverted")),
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
        for record_id, email, modified in contacts:
            directory._add(directory.contacts, record_id, email, modified)
        for record_id, email, modified, is_converted, converted_contact_id in leads:
            if is_converted:
                if converted_contact_id:
                    directory.converted[record_id[:15]] = converted_contact_id
                continue
            directory._add(directory.leads, record_id, email, modified)
        return directory

    def _add(self, index: dict[str, tuple[str, str]], record_id: str, email: str, modified: str) -> None:
        self.known_ids[record_id[:15]] = record_id
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
        contact = self.contacts.get(key)
        lead = self.leads.get(key)
        return Link(contact_id=contact[1] if contact else "", lead_id=lead[1] if lead else "")

    def _by_id(self, record_id: str) -> Link | None:
        """A contact or lead by its Id (15 or 18 characters); a converted lead gives its contact."""
        if record_id[:15] in self.converted:
            return Link(contact_id=self.converted[record_id[:15]])
        known = self.known_ids.get(record_id[:15])
        if known is None:
            return None
        return Link(contact_id=known) if known.startswith(CONTACT_PREFIX) else Link(lead_id=known)


def _true(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


CONTACT_QUERY = "SELECT Id, Email, LastModifiedDate FROM Contact WHERE Email != null"
LEAD_QUERY = "SELECT Id, Email, LastModifiedDate, IsConverted, ConvertedContactId FROM Lead"
