"""Smart email sends recorded in Salesforce: one Task per message, then its delivery, opens and clicks followed.

- `record_sends` takes what a send answered (`Send`, one per message) and writes a Task for each message on the record
  it was for: a contact's or lead's Id becomes the Task's WhoId; another record's Id (a case, an account...) its WhatId,
  with the person found by email as WhoId; without an Id, the contact (or else the lead) found by email. The Task is
  "Email: <smart email name>", subtype Email, Completed, dated the day of the send, with the message id, smart email
  id, recipient and status in cmsf's activity fields. A message nobody in Salesforce has the address of gets no Task: a
  maintenance message says so, and the message is kept (`SmartEmailMessage.problem`), to be written when the update
  job finds the person.
- Idempotent by message id: Salesforce is asked for the Tasks of the batch's message ids first, and only the missing
  ones are inserted (a Task's subtype cannot be updated, so an upsert of an existing Task would be refused); a rerun
  never doubles a Task.
- Batched: 200 messages at a time, with one query for their Tasks (none for a send's own new messages), one for the contacts of their addresses and one for
  the leads of the addresses no contact has, and one sObject Collections call for the Tasks.
- `refresh_statuses` is the update job: every message of a selected client sent in the last `RECENT_DAYS` days is read
  from Campaign Monitor when it is `due` (first at once, then after a quarter of its age: 25 reads in a week rather
  than one a run), in its client's zone (`MessageDetails`: status, opens, clicks, the first of each),
  and its Task is updated only when something changed, 200 a call; a run in which nothing changed writes nothing.
  `refresh_recent` is that run as the queue starts it: no call at all while no message is recent.

`task_fields` and `tracked_fields` are the pure transforms; the rest reads and writes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from typing import Any, Protocol

from django.db import transaction
from django.db.models import QuerySet

from cmsf.campaign_monitor.errors import CampaignMonitorError
from cmsf.maintenance.services import record_message
from cmsf.salesforce import soql
from cmsf.salesforce.adapter import SalesforceAdapter
from cmsf.salesforce.errors import RecordResult, SalesforceError
from cmsf.sync.models import SmartEmailMessage

log = logging.getLogger(__name__)

JOB = "CMSF_SMART_EMAIL_TASKS"
STATUS_JOB = "CMSF_SMART_EMAIL_STATUS"
UNMATCHED_CODE = "CMSF-SEND-UNMATCHED"
TASKS_CODE = "CMSF-SEND-TASKS"
STATUS_CODE = "CMSF-SEND-STATUS"
BATCH = 200  # messages a batch: one sObject Collections call, and at most three queries
# Most opens and clicks of a transactional email come within days of the send; after a week a message is read no
# more, which bounds the update job's Campaign Monitor calls to a week of sends.
RECENT_DAYS = 7
# How often the update job runs: often enough that a Task shows an open within minutes, rarely enough that a week of
# sends is not read from Campaign Monitor more than a few hundred times a day.
STATUS_INTERVAL_MINUTES = 5
CONTACT_PREFIX, LEAD_PREFIX = "003", "00Q"
SUBJECT_PREFIX = "Email: "
SUBJECT_LENGTH = 255
OPENED, CLICKED = "Opened", "Clicked"


@dataclass(frozen=True)
class Send:
    """One message of a smart email send, as Campaign Monitor answered it."""

    smart_email_id: str
    smart_email_name: str
    message_id: str
    recipient: str  # "Name <email>" or a bare address
    status: str  # Campaign Monitor's: Received, Accepted, Delivered, Bounced, Spam...
    related_id: str | None  # the Salesforce record the send was for
    sent_at: datetime
    client_id: str  # the Campaign Monitor client of the smart email


class MessageDetails(Protocol):
    """What the update job needs of Campaign Monitor's message details (with statistics)."""

    @property
    def status(self) -> str: ...
    @property
    def total_opens(self) -> int: ...
    @property
    def total_clicks(self) -> int: ...
    @property
    def first_opened_at(self) -> datetime | None: ...
    @property
    def first_clicked_at(self) -> datetime | None: ...


# (message id, the client's Campaign Monitor zone label) -> the message's details, its dates read in that zone
DetailsReader = Callable[[str, str], MessageDetails]


def recipient_email(recipient: str) -> str:
    """The address of "Name <email>" (or of a bare address), in lower case; ValueError when there is none."""
    _, address = parseaddr(recipient)
    if "@" not in address:
        raise ValueError(f"the recipient {recipient!r} has no email address")
    return address.strip().lower()


def is_person(record_id: str) -> bool:
    return record_id[:3] in (CONTACT_PREFIX, LEAD_PREFIX)


def _check_related_id(record_id: str | None) -> str:
    if not record_id:
        return ""
    if len(record_id) not in (15, 18) or not record_id.isalnum():
        raise ValueError(f"{record_id!r} is not a Salesforce record Id (15 or 18 letters and digits)")
    return record_id


# ------------------------------------------------------------------------------------------- transforms


def task_fields(message: SmartEmailMessage, *, what_id: str) -> dict[str, Any]:
    """The Task of a message (pure): on `message.who_id` and `what_id`, either of which may be empty."""
    subject = f"{SUBJECT_PREFIX}{message.smart_email_name or message.smart_email_id}"[:SUBJECT_LENGTH]
    row: dict[str, Any] = {
        "Subject": subject,
        "TaskSubtype": "Email",
        "Status": "Completed",
        "ActivityDate": message.sent_at.astimezone(UTC).date().isoformat(),
        "Description": f"Smart email {message.smart_email_name or message.smart_email_id} sent to "
        f"{message.recipient} through Campaign Monitor.",
        "CMSF_Smart_Email_Id__c": message.smart_email_id,
        "CMSF_Message_Id__c": message.message_id,
        "CMSF_Recipient__c": message.recipient[:255],
        **tracked_fields(message),
    }
    if message.who_id:
        row["WhoId"] = message.who_id
    if what_id:
        row["WhatId"] = what_id
    return row


def tracked_fields(message: SmartEmailMessage) -> dict[str, Any]:
    """The Task fields the update job keeps (pure)."""
    return {
        "CMSF_Status__c": message.status,
        "CMSF_Opens__c": message.opens,
        "CMSF_Clicks__c": message.clicks,
        "CMSF_First_Opened__c": soql.datetime_literal(message.first_opened_at) if message.first_opened_at else None,
        "CMSF_First_Clicked__c": soql.datetime_literal(message.first_clicked_at) if message.first_clicked_at else None,
    }


def status_of(details: MessageDetails) -> str:
    """The status a Task shows (pure): Clicked once clicked, Opened once opened, else Campaign Monitor's."""
    if details.total_clicks:
        return CLICKED
    if details.total_opens:
        return OPENED
    return details.status


# --------------------------------------------------------------------------------------------- writing


def record_sends(sends: Sequence[Send], adapter: SalesforceAdapter, *, fresh: bool = False) -> list[SmartEmailMessage]:
    """Keep each message of a send and write its Task (see the module's notes); the messages, as stored.
    ValueError for a recipient without an address or a related Id that is not one (nothing is kept then).
    `fresh`: Campaign Monitor has just given these message ids, so no Task can have them yet and Salesforce is not
    asked (one query a send saved); otherwise a message cmsf does not know is looked for, so a replay never doubles
    a Task."""
    checked = [(send, recipient_email(send.recipient), _check_related_id(send.related_id)) for send in sends]
    stored: list[SmartEmailMessage] = []
    new: set[str] = set()
    with transaction.atomic():
        for send, email, related_id in checked:
            message, created = SmartEmailMessage.objects.get_or_create(
                message_id=send.message_id,
                defaults={
                    "cm_client_id": send.client_id,
                    "smart_email_id": send.smart_email_id,
                    "smart_email_name": send.smart_email_name[:255],
                    "recipient": send.recipient[:255],
                    "email": email,
                    "related_id": related_id,
                    "status": send.status,
                    "sent_at": send.sent_at,
                },
            )
            stored.append(message)
            if created and fresh:
                new.add(message.message_id)
    write_tasks([m for m in stored if not m.task_id], adapter, new=new)
    return stored


def write_tasks(
    messages: Sequence[SmartEmailMessage], adapter: SalesforceAdapter, *, new: Collection[str] = ()
) -> None:
    """Write the Tasks of messages that have none yet, 200 at a time. Salesforce failing is a maintenance message
    and the messages stay without a Task (the update job tries again); raises nothing. `new`: the ids of messages
    kept for the first time just now (Campaign Monitor has just given them: no Task can have them yet, so they are
    not looked for in Salesforce)."""
    for start in range(0, len(messages), BATCH):
        batch = list(messages[start : start + BATCH])
        try:
            _write_batch(batch, adapter, new)
        except SalesforceError as error:
            record_message(
                support_code=TASKS_CODE,
                job=JOB,
                message=f"Salesforce did not take the Tasks of {len(batch)} smart email messages.",
                details=f"{error}; the first messages: {', '.join(m.message_id for m in batch[:5])}",
                guidance="The messages are kept, and the next run of the update job writes their Tasks.",
            )


def _write_batch(batch: list[SmartEmailMessage], adapter: SalesforceAdapter, new: Collection[str]) -> None:
    ids = [m.message_id for m in batch if m.message_id not in new]
    existing = (
        {
            str(row["CMSF_Message_Id__c"]).lower(): str(row["Id"])
            for row in adapter.query(
                f"SELECT Id, CMSF_Message_Id__c FROM Task WHERE CMSF_Message_Id__c IN ({soql.quote_list(ids)})"
            )
        }
        if ids
        else {}
    )
    for message in batch:
        if message.message_id.lower() in existing:
            message.task_id = existing[message.message_id.lower()]
            message.problem = ""
            message.save(update_fields=["task_id", "problem"])
    pending = [m for m in batch if not m.task_id]
    wanted = sorted({m.email for m in pending if not is_person(m.related_id)})
    people = _people_by_email(adapter, wanted)
    rows: list[dict[str, Any]] = []
    written: list[SmartEmailMessage] = []
    unmatched: list[SmartEmailMessage] = []
    for message in pending:
        if is_person(message.related_id):
            message.who_id, what_id = message.related_id, ""
        else:
            message.who_id, what_id = people.get(message.email, ""), message.related_id
        if not message.who_id and not what_id:
            unmatched.append(message)
            continue
        rows.append(task_fields(message, what_id=what_id))
        written.append(message)
    results = adapter.insert("Task", rows) if rows else []
    refused: list[tuple[SmartEmailMessage, RecordResult]] = []
    for message, result in zip(written, results, strict=True):
        if result.success and result.id:
            message.task_id, message.problem = result.id, ""
        else:
            message.problem = "; ".join(str(e) for e in result.errors)[:255]
            refused.append((message, result))
        message.save(update_fields=["who_id", "task_id", "problem"])
    for message in unmatched:
        message.problem = f"No contact or lead has the address {message.email}."
        message.save(update_fields=["who_id", "problem"])
    if unmatched:
        record_message(
            support_code=UNMATCHED_CODE,
            job=JOB,
            severity="warning",
            message=f"{len(unmatched)} smart email messages went to addresses no contact or lead has: no Task written.",
            details="Messages: " + ", ".join(f"{m.message_id} ({m.email})" for m in unmatched[:20]),
            guidance="The messages are kept: once a contact or lead has the address, the update job writes the Task. "
            "To relate a send to a record, give the record's Id with the send.",
        )
    if refused:
        record_message(
            support_code=TASKS_CODE,
            job=JOB,
            message=f"Salesforce refused the Tasks of {len(refused)} smart email messages.",
            details="; ".join(f"{m.message_id}: {m.problem}" for m, _ in refused[:20]),
            guidance="The messages are kept, and the update job writes their Tasks again. Run the schema check under "
            "Maintenance: the Task fields cmsf writes must be installed and editable by the Salesforce Sync User.",
        )


def _people_by_email(adapter: SalesforceAdapter, emails: list[str]) -> dict[str, str]:
    """The contact of each address, or else its (unconverted) lead: one query each, the lead one only for the
    addresses no contact has."""
    if not emails:
        return {}
    found: dict[str, str] = {}
    contacts = f"SELECT Id, Email FROM Contact WHERE Email IN ({soql.quote_list(emails)}) ORDER BY CreatedDate"
    for row in adapter.query(contacts):
        found.setdefault(str(row["Email"]).lower(), str(row["Id"]))
    rest = [e for e in emails if e not in found]
    if rest:
        leads = (
            f"SELECT Id, Email FROM Lead WHERE Email IN ({soql.quote_list(rest)}) AND IsConverted = false "
            "ORDER BY CreatedDate"
        )
        for row in adapter.query(leads):
            found.setdefault(str(row["Email"]).lower(), str(row["Id"]))
    return found


# ------------------------------------------------------------------------------------------ update job


@dataclass
class RefreshOutcome:
    checked: int = 0
    changed: int = 0
    tasks_updated: int = 0
    tasks_written: int = 0
    failed: int = 0


def recent(now: datetime, client_ids: Iterable[str]) -> QuerySet[SmartEmailMessage]:
    """The messages of these Campaign Monitor clients sent in the last `RECENT_DAYS` days, oldest first."""
    since = now - timedelta(days=RECENT_DAYS)
    return SmartEmailMessage.objects.filter(sent_at__gte=since, cm_client_id__in=list(client_ids)).order_by(
        "sent_at", "id"
    )


def due(message: SmartEmailMessage, now: datetime) -> bool:
    """Whether the update job reads the message now: never read yet, or last read at least a quarter of its age ago
    (and at least `STATUS_INTERVAL_MINUTES`). A message is read 25 times in its `RECENT_DAYS` days rather than
    once a run (2,016 times): often while opens and clicks come in, seldom once they have stopped."""
    if message.last_checked_at is None:
        return True
    wait = max(timedelta(minutes=STATUS_INTERVAL_MINUTES), (now - message.sent_at) / 4)
    return now - message.last_checked_at >= wait


def has_work(now: datetime, client_ids: Iterable[str]) -> bool:
    """Whether a run of the update job has a message to read or a Task to write."""
    return any(not m.task_id or due(m, now) for m in recent(now, client_ids).iterator())


def refresh_statuses(
    read_details: DetailsReader, adapter: SalesforceAdapter, *, now: datetime, zones: Mapping[str, str]
) -> RefreshOutcome:
    """One run of the update job over the recent messages of the clients of `zones` (Campaign Monitor client id ->
    its zone label: the clients selected for sync; a message of another client is neither read nor written): each
    one `due` read once from Campaign Monitor in its client's zone, its Task updated when its status, opens, clicks or first
    dates changed (kept locally once Salesforce took them, so a refused update is sent again next run); recent
    messages still without a Task written. The messages Campaign Monitor did not answer for are one maintenance
    message for the run."""
    outcome = RefreshOutcome()
    changed: list[SmartEmailMessage] = []
    failures: list[str] = []
    messages = list(recent(now, zones))
    for message in (m for m in messages if due(m, now)):
        try:
            details = read_details(message.message_id, zones[message.cm_client_id])
        except CampaignMonitorError as error:
            failures.append(f"{message.message_id}: {error}")
            continue
        outcome.checked += 1
        before = tracked_fields(message)
        message.status = status_of(details)[:40]
        message.opens, message.clicks = details.total_opens, details.total_clicks
        message.first_opened_at = details.first_opened_at or message.first_opened_at
        message.first_clicked_at = details.first_clicked_at or message.first_clicked_at
        message.last_checked_at = now
        if tracked_fields(message) == before:
            message.save(update_fields=["last_checked_at"])
            continue
        outcome.changed += 1
        if message.task_id:
            changed.append(message)
        else:
            message.save(update_fields=[*TRACKED, "last_checked_at"])
    outcome.failed = len(failures)
    if failures:
        record_message(
            support_code=STATUS_CODE,
            job=STATUS_JOB,
            message=f"Campaign Monitor did not give the details of {len(failures)} smart email messages.",
            details="; ".join(failures[:20]),
            guidance="The next run reads them again. If it keeps failing, check the Campaign Monitor connection under "
            "Sync Settings.",
        )
    taken = _update_tasks(changed, adapter)
    for message in changed:
        message.save(update_fields=[*TRACKED, "last_checked_at"] if message.pk in taken else ["last_checked_at"])
    outcome.tasks_updated = len(taken)
    pending = [m for m in messages if not m.task_id]
    write_tasks(pending, adapter)
    outcome.tasks_written = sum(1 for m in pending if m.task_id)
    return outcome


TRACKED = ("status", "opens", "clicks", "first_opened_at", "first_clicked_at")


def _update_tasks(messages: list[SmartEmailMessage], adapter: SalesforceAdapter) -> set[int]:
    """The Tasks' tracked fields sent, 200 a call; the ids of the messages whose Task Salesforce took."""
    if not messages:
        return set()
    rows = [{"Id": m.task_id, **tracked_fields(m)} for m in messages]
    try:
        results = adapter.update("Task", rows)
    except SalesforceError as error:
        record_message(
            support_code=TASKS_CODE,
            job=STATUS_JOB,
            message=f"Salesforce did not take the status of {len(rows)} smart email Tasks.",
            details=str(error),
            guidance="The next run of the update job sends it again.",
        )
        return set()
    refused = [(m, r) for m, r in zip(messages, results, strict=True) if not r.success]
    if refused:
        record_message(
            support_code=TASKS_CODE,
            job=STATUS_JOB,
            message=f"Salesforce refused the status of {len(refused)} smart email Tasks.",
            details="; ".join(
                f"{m.message_id} ({m.task_id}): {'; '.join(map(str, r.errors))}" for m, r in refused[:20]
            ),
            guidance="The next run of the update job sends it again. Run the schema check under Maintenance if the "
            "failure names a field.",
        )
    return {m.pk for m, r in zip(messages, results, strict=True) if r.success}


def recent_sends(email: str, *, limit: int = 50) -> list[SmartEmailMessage]:
    """The smart email messages sent to an address, newest first (the email history)."""
    return list(SmartEmailMessage.objects.filter(email=email.strip().lower())[:limit])


def latest_sends(*, limit: int = 50) -> list[SmartEmailMessage]:
    """The latest smart email messages cmsf sent, newest first (the console's recent sends)."""
    return list(SmartEmailMessage.objects.all()[:limit])
