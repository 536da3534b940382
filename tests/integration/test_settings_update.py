"""The settings' one home: each settings model's declaration names real fields, and update_settings saves only the
fields that changed and audits their difference once (nothing when nothing changed, nothing when a value is bad)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cmsf.configuration import SECTIONS, export_document
from cmsf.lib.declared import Declared
from cmsf.maintenance.models import AuditEntry
from cmsf.maintenance.services import update_settings
from cmsf.options.models import GENERAL_OPTIONS, SALESFORCE_CAMPAIGNS, GeneralOptions

pytestmark = pytest.mark.django_db


def _updates(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if q["sql"].upper().startswith("UPDATE")]


def test_only_the_changed_fields_are_saved_and_one_audit_entry_holds_their_difference():
    GeneralOptions.load()
    with CaptureQueriesContext(connection) as queries:
        general = update_settings(
            GENERAL_OPTIONS,
            {"sync_suppression_list": True, "trigger_journeys": True, "watch_interval_minutes": 15},
            actor="alice@example.com",
            action="Change the General Options",
        )
    (update,) = _updates(queries)
    assert "sync_suppression_list" in update and "watch_interval_minutes" in update
    assert "trigger_journeys" not in update and "disable_triggers" not in update  # unchanged: not written
    assert general.sync_suppression_list and general.watch_interval_minutes == 15
    stored = GeneralOptions.load()
    assert stored.sync_suppression_list and stored.watch_interval_minutes == 15 and stored.trigger_journeys
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.section, entry.action) == ("alice@example.com", "general_options",
                                                          "Change the General Options")  # fmt: skip
    assert entry.before == {"watch_interval_minutes": 5, "sync_suppression_list": False}
    assert entry.after == {"watch_interval_minutes": 15, "sync_suppression_list": True}


def test_nothing_changed_saves_and_audits_nothing():
    GeneralOptions.load()
    with CaptureQueriesContext(connection) as queries:
        update_settings(GENERAL_OPTIONS, {"trigger_journeys": True, "disable_triggers": False}, actor="a", action="x")
    assert _updates(queries) == [] and not AuditEntry.objects.exists()


def test_a_bad_value_raises_by_field_and_saves_nothing():
    with pytest.raises(ValidationError) as raised:
        update_settings(
            GENERAL_OPTIONS, {"disable_triggers": True, "watch_interval_minutes": 61}, actor="a", action="x"
        )
    assert "1 to 60" in " ".join(raised.value.message_dict["watch_interval_minutes"])
    assert not GeneralOptions.load().disable_triggers and not AuditEntry.objects.exists()


def test_a_field_outside_the_ones_given_is_refused():
    with pytest.raises(ValidationError, match="account_trigger"):
        update_settings(GENERAL_OPTIONS, {"account_trigger": False}, actor="a", action="x",
                        fields=GENERAL_OPTIONS.group("opt_out"))  # fmt: skip
    assert GeneralOptions.load().account_trigger and not AuditEntry.objects.exists()


def test_dates_are_audited_as_plain_values():
    import datetime as dt

    update_settings(SALESFORCE_CAMPAIGNS, {"filter_start_date": dt.date(2026, 1, 31)}, actor="a", action="x")
    entry = AuditEntry.objects.get()
    assert entry.before == {"filter_start_date": None} and entry.after == {"filter_start_date": "2026-01-31"}


def test_a_declaration_names_fields_of_its_model_once():
    with pytest.raises(TypeError, match="no_such_field"):
        Declared("general_options", GeneralOptions, {"a": ("no_such_field",)})
    with pytest.raises(TypeError):
        Declared("general_options", GeneralOptions, {"a": ("trigger_journeys",), "b": ("trigger_journeys",)})


def test_the_document_sections_are_the_declarations_with_labels_and_hints_on_the_model():
    document = export_document()
    for section in SECTIONS:
        assert list(document[section.key])[: len(section.fields)] == list(section.fields), section.key
    hints = GENERAL_OPTIONS.hints()
    assert set(hints) == set(GENERAL_OPTIONS.fields) and all(hints.values())
    form = GENERAL_OPTIONS.form("sync_options")()
    assert form["sync_suppression_list"].label == "Sync the suppression list to Salesforce"
