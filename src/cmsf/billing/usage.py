"""Counting the active subscribers that billing is based on: each email once, across lists and clients.

Where the count comes from, and why:

- cmsf's local data cannot give it exactly. The ledger (`cmsf.sync.models.RecordMap`) keeps a key per list
  membership of `CMSF_Subscriber__c` ("<list id>:<email>", hashed when longer than 255 characters), but it keeps
  memberships of every state (the sync reads active, unconfirmed, unsubscribed, bounced and deleted subscribers)
  and only a hash of the row it wrote, so it cannot tell an active subscriber from an unsubscribed one.
  `DirectoryEntry` mirrors Salesforce's contacts and leads, not Campaign Monitor's subscribers.
- One SOQL aggregate (`COUNT_DISTINCT(Email__c)`) would be the cheapest exact source, but the API contract cmsf
  is built against does not include it (and the Salesforce emulator does not answer it).
- Campaign Monitor's list statistics count a person once per list, not once overall.

So the count reads the emails of the active subscriber rows the sync wrote to Salesforce
(`SELECT Email__c FROM CMSF_Subscriber__c WHERE State__c = 'Active'`) and counts the distinct lower-cased
emails here: one `COUNT()` call to size the read, then REST pages of 2,000 rows, or one Bulk 2.0 query job (pages of
50,000 rows) when there are more than `BULK_ABOVE` rows. No call is made per record; the count is taken once a
day (`cmsf.billing.tasks`), so 100,000 active memberships cost 5 to 6 calls a day.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cmsf.salesforce.adapter import SalesforceAdapter

SUBSCRIBER_OBJECT = "CMSF_Subscriber__c"
ACTIVE_FILTER = "State__c = 'Active'"
BULK_ABOVE = 10_000


@dataclass(frozen=True)
class UsageCount:
    active_subscribers: int  # distinct emails
    memberships: int  # active list memberships read
    sf_calls: int


def distinct_emails(emails: Iterable[str | None]) -> int:
    """How many different people: emails compared without case and surrounding spaces, blanks left out."""
    return len({email.strip().lower() for email in emails if email and email.strip()})


def count_active_subscribers(adapter: SalesforceAdapter, *, bulk_above: int = BULK_ABOVE) -> UsageCount:
    before = adapter.meter.total
    memberships = adapter.count(f"SELECT COUNT() FROM {SUBSCRIBER_OBJECT} WHERE {ACTIVE_FILTER}")
    soql = f"SELECT Email__c FROM {SUBSCRIBER_OBJECT} WHERE {ACTIVE_FILTER}"
    if memberships == 0:
        active = 0
    elif memberships > bulk_above:
        active = distinct_emails(row.get("Email__c") for row in adapter.bulk_query(soql))
    else:
        active = distinct_emails(row.get("Email__c") for row in adapter.query(soql))
    return UsageCount(active, memberships, adapter.meter.total - before)
