"""The client's transactional MessageDetails record is what the smart email update job reads
(`sync.transactional.MessageDetails`): its first open and first click are the earliest event dates, in UTC."""

from __future__ import annotations

from datetime import UTC, datetime

from cmsf.campaign_monitor.records import MessageDetails
from cmsf.sync import transactional

SYDNEY = "(GMT+10:00) Canberra, Melbourne, Sydney"


def _details(opens: list[str], clicks: list[str]) -> MessageDetails:
    body = {
        "MessageID": "ddc697c7-0788-4df3-a71a-a7cb935f00bd",
        "Status": "Delivered",
        "SentAt": "2026-03-02T10:00:00+10:00",
        "Recipient": "Joe <joe@example.com>",
        "TotalOpens": len(opens),
        "TotalClicks": len(clicks),
        "Opens": [{"EmailAddress": "joe@example.com", "Date": d} for d in opens],
        "Clicks": [{"EmailAddress": "joe@example.com", "Date": d, "URL": "https://x.test"} for d in clicks],
    }
    return MessageDetails.from_api(body, SYDNEY)


def test_first_opened_and_clicked_are_the_earliest_events_in_utc() -> None:
    details = _details(["2026-03-02 12:30:00", "2026-03-02 11:05:00", "2026-03-03 09:00:00"], ["2026-03-02 12:40:00"])
    assert details.first_opened_at == datetime(2026, 3, 2, 0, 5, tzinfo=UTC)  # 11:05 in Sydney, summer time (UTC+11)
    assert details.first_clicked_at == datetime(2026, 3, 2, 1, 40, tzinfo=UTC)
    assert transactional.status_of(details) == transactional.CLICKED


def test_no_events_means_no_first_dates() -> None:
    details = _details([], [])
    assert (details.first_opened_at, details.first_clicked_at) == (None, None)
    assert transactional.status_of(details) == "Delivered"


def test_the_record_satisfies_the_update_jobs_interface() -> None:
    details: transactional.MessageDetails = _details(["2026-03-02 11:05:00"], [])
    assert (details.status, details.total_opens, details.total_clicks) == ("Delivered", 1, 0)
    assert details.first_opened_at is not None and details.first_clicked_at is None
