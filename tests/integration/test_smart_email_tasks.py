"""Smart email sends recorded as Tasks in the Salesforce emulator (`sync.transactional`): the record a Task is on, the
person found by email, nobody found, a rerun that writes nothing twice, and the update job that follows opens and
clicks and writes nothing when nothing changed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from cmsf.campaign_monitor.errors import CampaignMonitorError
from cmsf.connections import services as connections
from cmsf.maintenance.models import MaintenanceMessage
from cmsf.salesforce.adapter import SalesforceAdapter
from cmsf.sync import transactional
from cmsf.sync.models import SmartEmailMessage
from cmsf.sync.transactional import Send

pytestmark = pytest.mark.django_db(transaction=True)
SMART_EMAIL = "1e654df2-f484-11e4-970c-6c4008bc7468"
SENT = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)
CLIENT = "4a397ccaaa55eb4e6aa1221e1e2d7122"
ZONE = "(GMT+10:00) Canberra, Melbourne, Sydney"
ZONES = {CLIENT: ZONE}
TASK_FIELDS = (
    "Id, WhoId, WhatId, Subject, TaskSubtype, Status, ActivityDate, CMSF_Smart_Email_Id__c, CMSF_Message_Id__c, "
    "CMSF_Recipient__c, CMSF_Status__c, CMSF_Opens__c, CMSF_Clicks__c, CMSF_First_Opened__c, CMSF_First_Clicked__c"
)


@dataclass(frozen=True)
class Details:
    """Campaign Monitor's message details as the update job reads them (`transactional.MessageDetails`)."""

    status: str
    total_opens: int = 0
    total_clicks: int = 0
    first_opened_at: datetime | None = None
    first_clicked_at: datetime | None = None


@pytest.fixture
def sf(start_emulators) -> SalesforceAdapter:
    start_emulators(22, world=False)
    return connections.salesforce()


def _send(message: str, recipient: str, related: str | None = None, *, sent_at: datetime = SENT) -> Send:
    return Send(SMART_EMAIL, "Case survey", message, recipient, "Accepted", related, sent_at, CLIENT)


def _tasks(sf: SalesforceAdapter, *message_ids: str) -> dict[str, dict]:
    quoted = ", ".join(f"'{m}'" for m in message_ids)
    rows = sf.query(f"SELECT {TASK_FIELDS} FROM Task WHERE CMSF_Message_Id__c IN ({quoted})")
    return {row["CMSF_Message_Id__c"]: row for row in rows}


def _people(sf: SalesforceAdapter) -> dict[str, str]:
    contact = sf.insert("Contact", [{"LastName": "Cole", "Email": "cole@example.com"}])[0].id
    lead = sf.insert("Lead", [{"LastName": "Lane", "Company": "Co", "Email": "lane@example.com"}])[0].id
    both_contact = sf.insert("Contact", [{"LastName": "Both", "Email": "both@example.com"}])[0].id
    sf.insert("Lead", [{"LastName": "Both", "Company": "Co", "Email": "both@example.com"}])
    case = sf.insert("Case", [{"Subject": "Broken", "ContactId": contact}])[0].id
    assert contact and lead and both_contact and case
    return {"contact": contact, "lead": lead, "both": both_contact, "case": case}


def _calls(sf: SalesforceAdapter) -> int:
    return sum(sf.meter.calls.values())


def test_a_task_on_the_related_record_or_on_the_person_found_by_email(sf):
    people = _people(sf)
    sends = [
        _send("m-contact", "Someone Else <other@example.com>", people["contact"]),
        _send("m-lead", "Lane <lane@example.com>", people["lead"]),
        _send("m-case", '"Cole" <COLE@example.com>', people["case"]),
        _send("m-by-email", "lane@example.com"),
        _send("m-contact-first", "Both <both@example.com>"),
        _send("m-nobody", "Nobody <nobody@example.com>"),
    ]
    stored = transactional.record_sends(sends, sf)

    tasks = _tasks(sf, *(s.message_id for s in sends))
    assert set(tasks) == {"m-contact", "m-lead", "m-case", "m-by-email", "m-contact-first"}
    assert (tasks["m-contact"]["WhoId"], tasks["m-contact"]["WhatId"]) == (people["contact"], None)
    assert (tasks["m-lead"]["WhoId"], tasks["m-lead"]["WhatId"]) == (people["lead"], None)
    assert (tasks["m-case"]["WhoId"], tasks["m-case"]["WhatId"]) == (people["contact"], people["case"])
    assert tasks["m-by-email"]["WhoId"] == people["lead"]
    assert tasks["m-contact-first"]["WhoId"] == people["both"]
    task = tasks["m-case"]
    assert (task["Subject"], task["TaskSubtype"], task["Status"], task["ActivityDate"]) == (
        "Email: Case survey", "Email", "Completed", "2026-03-02",
    )  # fmt: skip
    assert (task["CMSF_Smart_Email_Id__c"], task["CMSF_Recipient__c"], task["CMSF_Status__c"]) == (
        SMART_EMAIL, '"Cole" <COLE@example.com>', "Accepted",
    )  # fmt: skip

    by_id = {m.message_id: m for m in stored}
    assert by_id["m-case"].task_id == task["Id"] and by_id["m-case"].email == "cole@example.com"
    nobody = SmartEmailMessage.objects.get(message_id="m-nobody")
    assert nobody.task_id == "" and "nobody@example.com" in nobody.problem
    message = MaintenanceMessage.objects.get(support_code=transactional.UNMATCHED_CODE)
    assert "m-nobody" in message.details and message.occurrences == 1


def test_a_rerun_writes_no_task_twice(sf):
    people = _people(sf)
    sends = [_send("m-1", "cole@example.com"), _send("m-2", "Lane <lane@example.com>", people["lead"])]
    transactional.record_sends(sends, sf)
    before = _calls(sf)
    transactional.record_sends(sends, sf)
    assert _calls(sf) == before  # both messages have their Task: not even a query

    SmartEmailMessage.objects.all().delete()  # cmsf lost its rows after Salesforce took the Tasks
    again = transactional.record_sends(sends, sf)
    tasks = _tasks(sf, "m-1", "m-2")
    assert len(tasks) == 2 and {m.task_id for m in again} == {t["Id"] for t in tasks.values()}
    assert sf.count("SELECT COUNT() FROM Task WHERE CMSF_Message_Id__c IN ('m-1', 'm-2')") == 2


def test_bad_input_is_refused_with_a_clear_message(sf):
    with pytest.raises(ValueError, match="no email address"):
        transactional.record_sends([_send("m-x", "Just A Name")], sf)
    with pytest.raises(ValueError, match="not a Salesforce record Id"):
        transactional.record_sends([_send("m-x", "a@example.com", "003-not-an-id")], sf)
    assert not SmartEmailMessage.objects.exists()


def test_the_update_job_writes_after_an_open_and_not_in_a_run_where_nothing_changed(sf):
    _people(sf)
    now = datetime.now(UTC)
    transactional.record_sends(
        [
            _send("m-open", "cole@example.com", sent_at=now),
            _send("m-old", "cole@example.com", sent_at=now - timedelta(days=8)),
        ],
        sf,
    )
    details = {"m-open": Details("Accepted"), "m-old": Details("Delivered", 3, 1)}
    read: list[str] = []

    def reader(message_id: str, zone: str) -> Details:
        assert zone == ZONE
        read.append(message_id)
        return details[message_id]

    before = _calls(sf)
    outcome = transactional.refresh_statuses(reader, sf, now=now, zones=ZONES)
    assert read == ["m-open"]  # a message older than a week is read no more
    assert (outcome.checked, outcome.changed, outcome.tasks_updated) == (1, 0, 0)
    assert _calls(sf) == before  # nothing changed: no Salesforce call at all

    opened = now + timedelta(minutes=2)
    details["m-open"] = Details("Delivered", total_opens=2, first_opened_at=opened)
    outcome = transactional.refresh_statuses(reader, sf, now=now + timedelta(minutes=1), zones=ZONES)
    assert outcome.checked == 0 and read == ["m-open"]  # read a minute ago: not due before the interval
    now += timedelta(minutes=transactional.STATUS_INTERVAL_MINUTES)
    outcome = transactional.refresh_statuses(reader, sf, now=now, zones=ZONES)
    assert (outcome.changed, outcome.tasks_updated) == (1, 1)
    task = _tasks(sf, "m-open")["m-open"]
    assert (task["CMSF_Status__c"], task["CMSF_Opens__c"], task["CMSF_Clicks__c"]) == ("Opened", 2, 0)
    assert task["CMSF_First_Opened__c"].startswith(opened.strftime("%Y-%m-%dT%H:%M:%S"))
    assert task["CMSF_First_Clicked__c"] is None
    message = SmartEmailMessage.objects.get(message_id="m-open")
    assert (message.status, message.opens, message.last_checked_at) == ("Opened", 2, now)

    before = _calls(sf)
    now += timedelta(minutes=transactional.STATUS_INTERVAL_MINUTES)
    outcome = transactional.refresh_statuses(reader, sf, now=now, zones=ZONES)
    assert outcome.checked == 1 and (outcome.changed, outcome.tasks_updated) == (0, 0) and _calls(sf) == before

    details["m-open"] = Details("Delivered", 3, 1, opened, now - timedelta(minutes=1))
    now += timedelta(minutes=transactional.STATUS_INTERVAL_MINUTES)
    transactional.refresh_statuses(reader, sf, now=now, zones=ZONES)
    assert _tasks(sf, "m-open")["m-open"]["CMSF_Status__c"] == "Clicked"


def test_the_update_job_counts_campaign_monitor_failures_and_writes_late_tasks(sf):
    now = datetime.now(UTC)
    transactional.record_sends([_send("m-late", "Late <late@example.com>", sent_at=now)], sf)
    assert not _tasks(sf, "m-late")

    def failing(message_id: str, zone: str) -> Details:
        raise CampaignMonitorError(
            "Campaign Monitor answered 500", endpoint="transactional message details", status=500
        )

    for _ in range(2):
        outcome = transactional.refresh_statuses(failing, sf, now=now, zones=ZONES)
        assert outcome.failed == 1
    message = MaintenanceMessage.objects.get(support_code=transactional.STATUS_CODE)
    assert message.occurrences == 2 and "m-late" in message.details

    contact = sf.insert("Contact", [{"LastName": "Late", "Email": "late@example.com"}])[0].id
    outcome = transactional.refresh_statuses(lambda m, z: Details("Delivered"), sf, now=now, zones=ZONES)
    assert outcome.tasks_written == 1
    task = _tasks(sf, "m-late")["m-late"]
    assert task["WhoId"] == contact and task["CMSF_Status__c"] == "Delivered"
    assert SmartEmailMessage.objects.get(message_id="m-late").problem == ""


def test_the_update_job_reads_each_message_in_its_clients_zone_and_skips_clients_not_selected(sf):
    _people(sf)
    now = datetime.now(UTC)
    other = "9e3e1c5bd1f7a6f4b6c7d8e9f0a1b2c3"
    transactional.record_sends([_send("m-mine", "cole@example.com", sent_at=now)], sf)
    transactional.record_sends(
        [Send(SMART_EMAIL, "Case survey", "m-other", "cole@example.com", "Accepted", None, now, other)], sf
    )
    zones_read: dict[str, str] = {}

    def reader(message_id: str, zone: str) -> Details:
        zones_read[message_id] = zone
        return Details("Delivered", total_opens=1, first_opened_at=now)

    outcome = transactional.refresh_statuses(reader, sf, now=now, zones={other: "(GMT) Dublin, Edinburgh"})
    assert zones_read == {"m-other": "(GMT) Dublin, Edinburgh"} and outcome.checked == 1
    assert SmartEmailMessage.objects.get(message_id="m-mine").status == "Accepted"  # its client is not selected
    assert _tasks(sf, "m-other")["m-other"]["CMSF_Status__c"] == "Opened"


def test_the_update_job_reads_a_message_less_often_as_it_ages():
    sent = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    message = SmartEmailMessage(message_id="m", sent_at=sent, last_checked_at=None)
    assert transactional.due(message, sent)  # never read
    message.last_checked_at = sent + timedelta(minutes=1)
    assert not transactional.due(message, sent + timedelta(minutes=5))
    assert transactional.due(message, sent + timedelta(minutes=6))  # the interval at least
    message.last_checked_at = sent + timedelta(days=2)
    # Read when two days old: due again once a quarter of its age has passed since, 16 hours later (64 / 4).
    assert not transactional.due(message, sent + timedelta(days=2, hours=15))
    assert transactional.due(message, sent + timedelta(days=2, hours=16))
    reads, at, now = 0, None, sent
    while now < sent + timedelta(days=transactional.RECENT_DAYS):
        message.last_checked_at = at
        if transactional.due(message, now):
            reads, at = reads + 1, now
        now += timedelta(minutes=transactional.STATUS_INTERVAL_MINUTES)
    assert 20 <= reads <= 40  # instead of one a run: 2,016 in a week
