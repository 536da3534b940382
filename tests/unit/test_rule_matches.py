"""The watcher's match bookkeeping for rules evaluated "when edited to subsequently meet the criteria"
(`sync.rule_matches`), and what counts as a record's creation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cmsf.sync.rule_matches import Matches, is_creation
from cmsf.sync.watched import Person

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def test_meeting_the_criteria_counts_once_and_stopping_is_remembered_for_the_next_time():
    matches = Matches({7: "token"})
    matches.known = {(7, "003B")}  # 003B met them when last seen
    assert matches.met_before(7, "003A", True) is False  # comes to meet them: a change, the rule applies
    assert matches.met_before(7, "003A", True) is True  # met them already: no change
    assert matches.met_before(7, "003B", False) is True
    assert matches.met_before(7, "003B", True) is False  # meets them again after it stopped: a change again
    assert matches.met_before(7, "003C", False) is False
    assert matches.changes == {(7, "003A"): True, (7, "003B"): True}
    assert matches.known == {(7, "003A"), (7, "003B")}


def test_a_creation_is_a_version_never_edited_and_not_an_accounts_change():
    person = Person("003A", "Contact", "a@example.org", False, NOW, created=NOW)
    assert is_creation(person, via_account=False) is True
    assert is_creation(person, via_account=True) is False
    person.modified = NOW + timedelta(seconds=1)
    assert is_creation(person, via_account=False) is False
    person.created = None
    assert is_creation(person, via_account=False) is False
