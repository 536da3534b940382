"""Create records: per list (when on), a Contact or Lead made by the primary sync for each active subscriber no
contact or lead matches, so the subscriber is linked to it from the next sync on.

A record gets the subscriber's email and name (first and last; the address's local part when there is no name),
the values of the list's mappings toward Salesforce for that object, and the list's defaults for the fields the
object requires (a Lead's Company). Before making any, cmsf asks Salesforce for records with those emails (one query
per 200 a object), since a record made in the last minutes may not be in the directory mirror yet; and a record it
made is kept in its ledger under the address, so a rerun never makes a second one. Salesforce's validation rules,
duplicate rules and triggers apply: a record they refuse is a maintenance message with the list and address, and
the rest go on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cmsf.campaign_monitor.records import Subscriber
from cmsf.connections.models import CampaignMonitorClient
from cmsf.options.models import FieldMapping, RecordCreation
from cmsf.salesforce import soql
from cmsf.salesforce.adapter import SalesforceAdapter
from cmsf.sync.mapped_fields import salesforce_values
from cmsf.sync.matching import Link
from cmsf.sync.models import RecordMap
from cmsf.sync.transforms import Row, content_hash
from cmsf.sync.writer import Batch, Writer

JOB = "CMSF_RECORD_CREATION"
KEY = "new:"  # the ledger's key of a record cmsf made: "new:" + the address in lower case
CHUNK = 200


def name_parts(name: str, email: str) -> tuple[str, str]:
    """(first name, last name) of a subscriber's name; the address's local part as the last name without one."""
    words = name.split()
    if not words:
        return "", email.split("@", 1)[0][:80] or "Subscriber"
    return " ".join(words[:-1])[:40], words[-1][:80]


@dataclass
class Creation:
    """The client's lists that create records, and the subscribers a run found unmatched."""

    by_list: dict[str, RecordCreation]
    mappings: dict[str, list[FieldMapping]]  # list id -> its mappings toward Salesforce
    found: dict[str, tuple[RecordCreation, Subscriber]] = field(default_factory=dict)  # address -> first met

    @classmethod
    def load(cls, client: CampaignMonitorClient) -> Creation | None:
        settings = {s.list_id: s for s in RecordCreation.objects.filter(client=client, active=True)}
        if not settings:
            return None
        mappings: dict[str, list[FieldMapping]] = {}
        for mapping in FieldMapping.objects.filter(list_id__in=settings, direction=FieldMapping.Direction.TO_SF):
            mappings.setdefault(mapping.list_id, []).append(mapping)
        return cls(settings, mappings)

    def gather(self, list_id: str, subscriber: Subscriber, link: Link) -> None:
        setting = self.by_list.get(list_id)
        if setting is None or subscriber.state != "Active" or link.contact_id or link.lead_id:
            return
        if subscriber.email.strip():
            self.found.setdefault(subscriber.email.strip().lower(), (setting, subscriber))

    def _row(self, setting: RecordCreation, subscriber: Subscriber) -> Row:
        first, last = name_parts(subscriber.name, subscriber.email)
        row: Row = {"Email": subscriber.email.strip(), "LastName": last}
        if first:
            row["FirstName"] = first
        row.update(setting.defaults)
        mappings = (m for m in self.mappings.get(setting.list_id, ()) if m.sobject == setting.sobject)
        for mapping, value, _ in salesforce_values(subscriber, mappings):
            if value is not None:  # a value the field cannot take is reported by the mappings' own pass
                row[mapping.salesforce_field] = value
        return row

    def write(self, writer: Writer, sf: SalesforceAdapter | None, *, batch_size: int) -> None:
        """Make the records; nothing for addresses cmsf made a record for already, or that Salesforce has."""
        if not self.found:
            return
        made = set(
            RecordMap.objects.filter(key__in=[KEY + email for email in self.found]).values_list("key", flat=True)
        )
        wanted = {email: found for email, found in self.found.items() if KEY + email not in made}
        if sf is not None:
            for email in _in_salesforce(sf, list(wanted)):
                wanted.pop(email, None)
        for sobject in ("Contact", "Lead"):
            rows = [(email, self._row(s, sub)) for email, (s, sub) in wanted.items() if s.sobject == sobject]
            for start in range(0, len(rows), batch_size):
                chunk = rows[start : start + batch_size]
                batch = Batch(sobject=sobject, external_id="", keys=[KEY + email for email, _ in chunk],
                              rows=[row for _, row in chunk], hashes=[content_hash(row) for _, row in chunk],
                              activity_dates=None, activity_kinds=None, job=JOB)  # fmt: skip
                if writer.dry_run or sf is None:
                    writer.tally.written[sobject] += len(chunk)
                    continue
                writer.record(batch, sf.insert(sobject, batch.rows))
        self.found.clear()


def _in_salesforce(sf: SalesforceAdapter, emails: list[str]) -> set[str]:
    """The addresses a Contact or Lead in Salesforce has (in lower case)."""
    found: set[str] = set()
    for sobject in ("Contact", "Lead"):
        for start in range(0, len(emails), CHUNK):
            text = f"SELECT Email FROM {sobject} WHERE Email IN ({soql.quote_list(emails[start : start + CHUNK])})"
            found.update(str(r.get("Email") or "").lower() for r in sf.query(text))
    return found
