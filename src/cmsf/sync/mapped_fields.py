"""Field mappings from Campaign Monitor to Salesforce, applied by the primary sync: the custom field values of the
subscribers it reads (the preference centre's edits among them) go to the mapped fields of their linked contact
or lead. Campaign Monitor is then those fields' source of truth.

Only the subscribers a run reads are applied (an incremental run: those changed since the last one), and a row
equal to the last one written for the person is not sent again (the ledger, as for every row cmsf writes), so a
sync that finds nothing new writes nothing. A subscriber with no value in a mapped custom field leaves the
Salesforce field as it is (a subscriber added by a form that does not ask for it does not blank the record).
Values a field cannot take (text in a number field) are reported
with the person's Id and the list, and the person's other fields go on.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from cmsf.campaign_monitor.records import Subscriber
from cmsf.connections.models import CampaignMonitorClient
from cmsf.options.models import FieldMapping
from cmsf.salesforce.adapter import SalesforceAdapter
from cmsf.salesforce.errors import RecordError
from cmsf.sync import field_values
from cmsf.sync.matching import Link
from cmsf.sync.transforms import Target
from cmsf.sync.writer import Failure, Writer, WriteTally

BAD_VALUE = "MAPPED_VALUE"  # the code a value a Salesforce field cannot take is reported under
JOB = "CMSF_FIELD_MAPPINGS"  # its governor limit is the batch of contacts or leads updated at once


@dataclass
class Inbound:
    """The client's mappings toward Salesforce, by list, and the rows a run gathers for its contacts and leads."""

    by_list: dict[str, list[FieldMapping]]
    rows: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (object, Id) -> field -> value
    problems: list[tuple[str, str, str]] = field(default_factory=list)  # (object, Id, reason)

    @classmethod
    def load(cls, client: CampaignMonitorClient | int) -> Inbound | None:
        """None when no list of the client (or its pk) maps a field toward Salesforce: nothing more to do."""
        by_list: dict[str, list[FieldMapping]] = defaultdict(list)
        for mapping in FieldMapping.objects.filter(client=client, direction=FieldMapping.Direction.TO_SF):
            by_list[mapping.list_id].append(mapping)
        return cls(dict(by_list)) if by_list else None

    def gather(self, list_id: str, subscriber: Subscriber, link: Link) -> None:
        """The subscriber's mapped values, for its linked contact and lead (a later list's value wins)."""
        people: dict[str, str] = {"Contact": link.contact_id, "Lead": link.lead_id}
        linked = [m for m in self.by_list.get(list_id, ()) if people[m.sobject]]
        for mapping, value, problem in salesforce_values(subscriber, linked):
            person = people[mapping.sobject]
            if problem:
                reason = (
                    f"{mapping.salesforce_field} not set from {mapping.campaign_monitor} of list {list_id}: {problem}"
                )
                self.problems.append((str(mapping.sobject), person, reason))
            elif value is not None:  # a subscriber without a value leaves the field as it is in Salesforce
                self.rows.setdefault((str(mapping.sobject), person), {"Id": person})[mapping.salesforce_field] = value

    def write(
        self,
        writer: Writer,
        sf: SalesforceAdapter | None,
        tally: WriteTally,
        *,
        batch_size: int,
        heartbeat: Callable[[], None] | None = None,
    ) -> None:
        """Update the contacts and leads whose mapped values differ from what was last written for them."""
        for sobject, person, reason in self.problems:
            tally.fail(Failure(sobject, person, RecordError(BAD_VALUE, reason), JOB))
            tally.failed[sobject] += 1
        for sobject in ("Contact", "Lead"):
            rows = [row for (obj, _), row in self.rows.items() if obj == sobject]
            if not rows:
                continue
            for batch in writer.prepare(Target(sobject, "Id"), rows, batch_size=batch_size):
                batch.job = JOB
                if heartbeat is not None:
                    heartbeat()
                assert sf is not None  # prepare leaves nothing to send without Salesforce
                writer.record(batch, sf.update(sobject, batch.rows))
        self.rows.clear()


def salesforce_values(
    subscriber: Subscriber, mappings: Iterable[FieldMapping]
) -> Iterator[tuple[FieldMapping, Any, str]]:
    """Each mapping's value from the subscriber's custom fields, as its Salesforce field takes it: (mapping, value,
    "") with None for no value, or (mapping, None, why) when the field cannot take it."""
    mappings = list(mappings)
    if not mappings:
        return
    entries: dict[str, list[str]] = defaultdict(list)
    for name, value in subscriber.custom_fields:
        entries[field_values.field_name(name)].append(value)
    for mapping in mappings:
        found = entries.get(field_values.field_name(mapping.campaign_monitor), [])
        try:
            yield mapping, field_values.to_salesforce(found, mapping.salesforce_type), ""
        except ValueError as error:
            yield mapping, None, str(error)
