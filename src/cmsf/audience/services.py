"""Import wizards: saving and deleting them (audited), and their schedule: each active wizard with run times runs
at the first minute of each of its hours (the server's time zone), once, on one worker however many there are."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from cmsf.audience.models import ImportWizard
from cmsf.billing.models import BillingAccount, Plan
from cmsf.connections.models import CampaignMonitorClient
from cmsf.maintenance.services import audit, update_settings
from cmsf.options.models import SMS, FieldMapping, RecordCreation, SmsSettings, SubscriberRule
from cmsf.salesforce.adapter import SalesforceAdapter
from cmsf.sync import tasks
from cmsf.sync.models import RuleMatch


def next_run_after(hours: list[int], moment: datetime) -> datetime | None:
    """The first start of one of `hours` (the server's time zone, TIME_ZONE, whoever asks: a console page may have
    activated its user's zone) after `moment`; None without run times."""
    if not hours:
        return None
    server = timezone.get_default_timezone()
    local = timezone.localtime(moment, server).replace(minute=0, second=0, microsecond=0)
    wanted = set(hours)
    for step in range(1, 24 * 2 + 2):  # a day ahead, and a little over for a daylight-saving change
        candidate = timezone.localtime(local + timedelta(hours=step), server)
        if candidate.hour in wanted and candidate > moment:
            return candidate.replace(minute=0, second=0, microsecond=0)
    return None


def reschedule(wizard: ImportWizard, now: datetime | None = None) -> None:
    """Set the wizard's next run from its run times (none when it is inactive or has none)."""
    wizard.next_run = next_run_after(wizard.run_hours, now or timezone.now()) if wizard.active else None
    ImportWizard.objects.filter(pk=wizard.pk).update(next_run=wizard.next_run)


def claim_due(now: datetime) -> list[int]:
    """The wizards due to run, each claimed by moving its next run on: a wizard is claimed by one worker only."""
    claimed = []
    for wizard in ImportWizard.objects.filter(active=True, next_run__lte=now):
        following = next_run_after(wizard.run_hours, now)
        if ImportWizard.objects.filter(pk=wizard.pk, next_run=wizard.next_run).update(next_run=following):
            claimed.append(wizard.pk)
    return claimed


SECTION = "imports"  # the audit log's section of the import wizards


def snapshot(wizard: ImportWizard) -> dict[str, Any]:
    """A wizard's settings as the audit log keeps them (and as `save_wizard` takes them from before a change)."""
    return {"name": wizard.name, "client": wizard.client.cm_client_id if wizard.client_id else "",
            **{name: getattr(wizard, name) for name in ImportWizard.SETTINGS}}  # fmt: skip


def save_wizard(wizard: ImportWizard, *, actor: str, before: dict[str, Any] | None = None) -> ImportWizard:
    """Validate (raises ValidationError by field, saving nothing), save, schedule and audit a wizard."""
    wizard.full_clean()
    after = snapshot(wizard)
    with transaction.atomic():
        wizard.save()
        reschedule(wizard)
        changed = [name for name in after if before is None or before.get(name) != after[name]]
        if changed:
            audit(
                actor=actor,
                section=SECTION,
                action="Create an import wizard" if before is None else "Change an import wizard",
                before={name: before[name] for name in changed} if before else {},
                after={name: after[name] for name in changed},
            )
    return wizard


def wizards_of_client(*, client: CampaignMonitorClient, **kwargs: Any) -> list[str]:
    """What leaving a client out removes of the import wizards (`connections.signals.client_configuration`)."""
    names = list(ImportWizard.objects.filter(client=client).order_by("name").values_list("name", flat=True))
    if not names:
        return []
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return [f"{len(names)} import wizard{'s' if len(names) != 1 else ''} ({shown}), with their runs"]


def remove_wizards_of_client(*, client: CampaignMonitorClient, actor: str, **kwargs: Any) -> None:
    """A client left out loses its import wizards (`connections.signals.client_left_out`); each removal audited."""
    for wizard in ImportWizard.objects.filter(client=client):
        delete_wizard(wizard, actor=actor)


def delete_wizard(wizard: ImportWizard, *, actor: str) -> None:
    with transaction.atomic():
        audit(actor=actor, section=SECTION, action="Delete an import wizard", before=snapshot(wizard), after={})
        wizard.delete()


SMS_FIELDS = SMS.fields


SMS_CONSENT_FIELDS = {"contact_consent_field": "Contact", "lead_consent_field": "Lead"}


def sms_consent_problems(values: dict[str, Any], sf: SalesforceAdapter) -> dict[str, str]:
    """The consent to send SMS fields the org lacks, or that are not checkboxes, by setting (one describe per
    object named)."""
    problems = {}
    for setting, sobject in SMS_CONSENT_FIELDS.items():
        name = str(values.get(setting) or "").strip()
        if not name:
            continue
        found = sf.fields(sobject).get(name.lower())
        if found is None:
            problems[setting] = f"{sobject} has no field {name}: pick one of its checkbox fields."
        elif found.get("type") != "boolean":
            problems[setting] = (f"{sobject}.{found['name']} is a {found.get('type')} field; consent to send SMS "
                                 "takes a checkbox field.")  # fmt: skip
        else:
            values[setting] = str(found["name"])  # as Salesforce spells it
    return problems


def save_sms_settings(
    values: dict[str, Any], *, actor: str, now: datetime | None = None, sf: SalesforceAdapter | None = None
) -> SmsSettings:
    """SMS settings, validated by the model and refused on a plan without SMS (Enterprise only); audited. With `sf`
    (the console's save), a consent field the org lacks, or that is not a checkbox, is refused; `cmsf config import`
    gives none and does not read the org, like the other field names it imports."""

    def prepare(settings: SmsSettings, values: dict[str, Any]) -> dict[str, Any]:
        if values.get("enabled") and not settings.enabled:
            plan = BillingAccount.load().effective_plan(now or timezone.now())
            if plan != Plan.ENTERPRISE:
                raise ValidationError({"enabled": f"SMS is part of the Enterprise plan; this account is on the "
                                                  f"{plan.label} plan (Billing)."})  # fmt: skip
        if sf is not None:
            problems = sms_consent_problems(values, sf)
            if problems:
                raise ValidationError(problems)
        return values

    return update_settings(
        SMS, values, actor=actor, section="options", action="Change the SMS settings", prepare=prepare
    )


MAPPING_SECTION = "field_mappings"  # the audit log's sections of the per-list settings
RULE_SECTION = "subscriber_rules"
CREATION_SECTION = "record_creation"
ListSetting = TypeVar("ListSetting", FieldMapping, SubscriberRule, RecordCreation)


def list_snapshot(setting: FieldMapping | SubscriberRule | RecordCreation) -> dict[str, Any]:
    """A per-list setting as the audit log keeps it: its client, its list and its model's SETTINGS."""
    return {"client": setting.client.cm_client_id if setting.client_id else "", "list_id": setting.list_id,
            "list_name": setting.list_name, **{name: getattr(setting, name) for name in setting.SETTINGS}}  # fmt: skip


def _save_audited(
    setting: ListSetting, before: dict[str, Any] | None, *, actor: str, section: str, made: str, changed: str
) -> ListSetting:
    """Validate (raises ValidationError by field, saving nothing), save and audit what changed: `before` is the
    stored setting's snapshot, read from the database when not given."""
    setting.full_clean()
    after = list_snapshot(setting)
    with transaction.atomic():
        if before is None and setting.pk:
            stored = type(setting)._default_manager.select_for_update().filter(pk=setting.pk).first()
            before = list_snapshot(stored) if stored is not None else None
        setting.save()
        names = [name for name in after if before is None or before.get(name) != after[name]]
        if names:
            audit(actor=actor, section=section, action=made if before is None else changed,
                  before={n: before[n] for n in names} if before else {}, after={n: after[n] for n in names})  # fmt: skip
    return setting


def _delete_audited(setting: FieldMapping | SubscriberRule | RecordCreation, *, actor: str, section: str,
                    action: str) -> None:  # fmt: skip
    with transaction.atomic():
        audit(actor=actor, section=section, action=action, before=list_snapshot(setting), after={})
        setting.delete()


def field_mapping(
    *,
    client_id: int,
    list_id: str,
    list_name: str,
    sobject: str,
    salesforce_field: str,
    campaign_monitor: str,
    direction: str,
) -> FieldMapping:
    """A new mapping of the list, not saved: it is checked against both sides before `save_mapping`."""
    return FieldMapping(client_id=client_id, list_id=list_id, list_name=list_name, sobject=sobject,
                        salesforce_field=salesforce_field.strip(), campaign_monitor=campaign_monitor.strip(),
                        direction=direction)  # fmt: skip


def save_mapping(mapping: FieldMapping, *, actor: str) -> FieldMapping:
    """One direction a field, one field a custom field (ValidationError by field otherwise)."""
    return _save_audited(mapping, None, actor=actor, section=MAPPING_SECTION, made="Create a field mapping",
                         changed="Change a field mapping")  # fmt: skip


def delete_mapping(mapping: FieldMapping, *, actor: str) -> None:
    _delete_audited(mapping, actor=actor, section=MAPPING_SECTION, action="Delete a field mapping")


def save_rule(rule: SubscriberRule, *, actor: str, before: dict[str, Any] | None = None) -> SubscriberRule:
    """One rule of each kind a list (ValidationError by field otherwise). An active rule evaluated "when edited to
    subsequently meet the criteria" starts from the records that meet them once saved (read on the queue)."""
    rule.matches_token, rule.matches_from, rule.matches_note = "", None, ""
    saved = _save_audited(rule, before, actor=actor, section=RULE_SECTION, made="Create a subscriber rule",
                          changed="Change a subscriber rule")  # fmt: skip
    RuleMatch.objects.filter(rule=saved).delete()
    read_rule_matches([saved])
    return saved


def read_rule_matches(rules: Iterable[SubscriberRule]) -> None:
    """The active rules evaluated "when edited to subsequently meet the criteria" among these: their records that
    meet the criteria are read again on the queue (the watcher leaves a rule alone until then)."""
    for rule in rules:
        if rule.evaluate != SubscriberRule.When.MET or not rule.active:
            continue
        token = uuid.uuid4().hex
        rule.matches_token, rule.matches_from = token, None
        rule.matches_note = "reading the records that meet the criteria now"
        SubscriberRule.objects.filter(pk=rule.pk).update(
            matches_token=token, matches_from=None, matches_note=rule.matches_note
        )
        transaction.on_commit(partial(tasks.read_rule_matches, rule.pk, token))


def delete_rule(rule: SubscriberRule, *, actor: str) -> None:
    _delete_audited(rule, actor=actor, section=RULE_SECTION, action="Delete a subscriber rule")


def record_creation(
    *, client_id: int, list_id: str, list_name: str, sobject: str, defaults: dict[str, str], active: bool
) -> RecordCreation:
    """The list's record creation setting with these values (the stored one, one a list, or a new one), not saved:
    it is checked against Salesforce before `save_creation`."""
    setting = RecordCreation.objects.filter(list_id=list_id).first() or RecordCreation(list_id=list_id)
    setting.client_id, setting.list_name = client_id, list_name
    setting.sobject, setting.defaults, setting.active = sobject, defaults, active
    return setting


def save_creation(setting: RecordCreation, *, actor: str, before: dict[str, Any] | None = None) -> RecordCreation:
    """One setting a list."""
    return _save_audited(setting, before, actor=actor, section=CREATION_SECTION, made="Turn on record creation",
                         changed="Change record creation")  # fmt: skip


def delete_creation(setting: RecordCreation, *, actor: str) -> None:
    _delete_audited(setting, actor=actor, section=CREATION_SECTION, action="Turn off record creation")
