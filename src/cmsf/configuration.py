"""Every setting of cmsf as one document: `cmsf config export` writes it, `cmsf config import` reads it.

The document is built from the models, which are the settings' one home: a section names a settings
model and the fields it exposes, and each value is checked by the model's own field and validators.
An import is all or nothing: every error is reported with the key it belongs to, and nothing is
written unless the whole document is valid. Credentials are never part of the document.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import yaml
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from cmsf.audience.models import ImportWizard
from cmsf.audience.services import read_rule_matches, reschedule
from cmsf.billing.models import BILLING
from cmsf.connections.models import SALESFORCE, CampaignMonitorClient
from cmsf.connections.services import NotConnected
from cmsf.lib.declared import Declared
from cmsf.maintenance.jobs import JOBS
from cmsf.maintenance.models import MAINTENANCE, GovernorLimit
from cmsf.maintenance.services import audit
from cmsf.options.models import (
    GENERAL_OPTIONS,
    SALESFORCE_CAMPAIGNS,
    SMS,
    TRACKING_HISTORY,
    CampaignStatusMapping,
    EmailActivity,
    FieldMapping,
    RecordCreation,
    SubscriberRule,
    check_logic,
)
from cmsf.salesforce.errors import SalesforceError
from cmsf.sync import campaign_links
from cmsf.sync.clients import public_url_changed
from cmsf.sync.models import SYNC

DOCUMENT_VERSION = 1


class ConfigError(Exception):
    """A document that cannot be imported; `errors` names each bad key and why."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("\n".join(errors))


# A section of the document is a settings model's declaration (next to the model): its key, its model, its fields.
Section = Declared
SECTIONS: tuple[Section, ...] = (
    SYNC,
    TRACKING_HISTORY,
    GENERAL_OPTIONS,
    SALESFORCE_CAMPAIGNS,
    SMS,
    MAINTENANCE,
    SALESFORCE,
    BILLING,
)

# Keys that are not plain model fields, with the section that holds them.
STATUS_MAP = "status_map"  # in salesforce_campaigns
LINKS = "links"  # in salesforce_campaigns: Campaign Monitor campaign id -> Salesforce Campaign Id (manual links)
GOVERNOR_LIMITS = "governor_limits"  # in maintenance
CLIENTS = "campaign_monitor_clients"  # top level
CLIENT_FIELDS = ("selected", "security_owner_id")
WIZARDS = "import_wizards"  # top level: wizard name -> its settings, the client given by its Campaign Monitor id
WIZARD_FIELDS = ImportWizard.SETTINGS
# Per-list settings, top level: list id -> its client, its name and its entries (the list's whole set) under a key
# of their own; each entry has its model's SETTINGS.
MAPPINGS = "field_mappings"  # "mappings"
RULES = "subscriber_rules"  # "rules"
CREATION = "record_creation"  # "create": [the one setting], or []


def _field(model: type[models.Model] | models.Model, name: str) -> models.Field:
    field = model._meta.get_field(name)
    assert isinstance(field, models.Field), f"{name} is not a concrete field"
    return field


def _is_nullable_choice(field: models.Field) -> bool:
    return bool(field.choices) and field.blank and isinstance(field, models.CharField)


def _to_document(field: models.Field, value: Any) -> Any:
    if isinstance(value, enum.Enum):  # a default given as a TextChoices member
        value = value.value
    if isinstance(value, dt.date):
        return value.isoformat()
    if value == "" and _is_nullable_choice(field):
        return None
    return value


def _from_document(field: models.Field, value: Any, key: str, errors: list[str]) -> Any:
    """The model value for a document value, or None after adding an error naming the key."""
    if isinstance(field, models.BooleanField):
        if isinstance(value, bool):
            return value
        errors.append(f"{key}: expected true or false, got {value!r}")
    elif isinstance(field, models.IntegerField):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        errors.append(f"{key}: expected a whole number, got {value!r}")
    elif isinstance(field, models.DateTimeField):
        if value is None and field.null:
            return None
        if isinstance(value, dt.datetime):
            return value if timezone.is_aware(value) else timezone.make_aware(value, dt.UTC)
        if isinstance(value, str):
            try:
                moment = dt.datetime.fromisoformat(value)
            except ValueError:
                pass
            else:
                return moment if timezone.is_aware(moment) else timezone.make_aware(moment, dt.UTC)
        errors.append(f"{key}: expected a date and time in ISO 8601{' or null' if field.null else ''}, got {value!r}")
    elif isinstance(field, models.DateField):
        if value is None and field.null:
            return None
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
        errors.append(f"{key}: expected a date as YYYY-MM-DD{' or null' if field.null else ''}, got {value!r}")
    elif isinstance(field, models.JSONField):
        if isinstance(value, list):
            return value
        errors.append(f"{key}: expected a list, got {value!r}")
    elif isinstance(field, (models.CharField, models.TextField)):
        if value is None and _is_nullable_choice(field):
            return ""
        if isinstance(value, str):
            return value
        errors.append(f"{key}: expected text, got {value!r}")
    else:  # a field type this document does not know how to read is a programming error
        raise TypeError(f"{key}: unsupported field type {type(field).__name__}")
    return None


def _validation_messages(prefix: str, error: ValidationError) -> list[str]:
    if hasattr(error, "error_dict"):
        return [
            f"{prefix}.{name}: {message}" if name != "__all__" else f"{prefix}: {message}"
            for name, errors in error.message_dict.items()
            for message in errors
        ]
    return [f"{prefix}: {message}" for message in error.messages]


def _section_values(section: Section, obj: models.Model) -> dict[str, Any]:
    return {name: _to_document(_field(obj, name), getattr(obj, name)) for name in section.fields}


def _status_map() -> dict[str, dict[str, Any]]:
    rows = {row.activity: row for row in CampaignStatusMapping.objects.all()}
    return {
        activity: {"label": rows[activity].status_label, "responded": rows[activity].responded}
        for activity in EmailActivity.values
        if activity in rows
    }


def _clients() -> dict[str, dict[str, Any]]:
    return {
        client.cm_client_id: {"name": client.name, **{name: getattr(client, name) for name in CLIENT_FIELDS}}
        for client in CampaignMonitorClient.objects.order_by("cm_client_id")
    }


def _wizard_values(wizard: ImportWizard) -> dict[str, Any]:
    return {
        "client": wizard.client.cm_client_id,
        **{name: _to_document(_field(wizard, name), getattr(wizard, name)) for name in WIZARD_FIELDS},
    }


def _wizards() -> dict[str, dict[str, Any]]:
    return {wizard.name: _wizard_values(wizard) for wizard in ImportWizard.objects.select_related("client")}


def _list_sets(model: type[FieldMapping | SubscriberRule | RecordCreation], child: str) -> dict[str, dict[str, Any]]:
    """A per-list setting's entries by list, as the document holds them."""
    lists: dict[str, dict[str, Any]] = {}
    within = [str(name) for name in model._meta.ordering or () if name not in ("list_name", "list_id")]
    for item in model.objects.select_related("client").order_by("list_id", *within):
        entry = lists.setdefault(item.list_id, {"client": item.client.cm_client_id, "list_name": item.list_name,
                                                child: []})  # fmt: skip
        entry[child].append({name: getattr(item, name) for name in model.SETTINGS})
    return lists


def export_document() -> dict[str, Any]:
    """Every setting, as a nested mapping of plain values."""
    document: dict[str, Any] = {"version": DOCUMENT_VERSION}
    for section in SECTIONS:
        document[section.key] = _section_values(section, section.model.load())
    document["salesforce_campaigns"][STATUS_MAP] = _status_map()
    document["salesforce_campaigns"][LINKS] = campaign_links.manual_links()
    document["maintenance"][GOVERNOR_LIMITS] = GovernorLimit.all_batch_sizes()
    document[CLIENTS] = _clients()
    document[WIZARDS] = _wizards()
    document[MAPPINGS] = _list_sets(FieldMapping, "mappings")
    document[RULES] = _list_sets(SubscriberRule, "rules")
    document[CREATION] = _list_sets(RecordCreation, "create")
    return document


def dump(document: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


MAX_DOCUMENT_BYTES = 5 * 1024 * 1024  # every setting of a large installation is well under 1 MB
MAX_DOCUMENT_DEPTH = 32  # the document nests sections, lists, entries and their values: a handful of levels


class _BoundedLoader(yaml.SafeLoader):
    """YAML's safe loader without aliases or anchors (an alias bomb expands a small document into gigabytes) and
    with a bounded nesting depth (composing is recursive: deep nesting would exhaust the stack)."""

    depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise yaml.composer.ComposerError(
                None, None, "aliases and anchors (& and *) are not allowed in a settings document", event.start_mark
            )
        self.depth += 1
        try:
            if self.depth > MAX_DOCUMENT_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"the document nests more than {MAX_DOCUMENT_DEPTH} levels deep", event.start_mark
                )
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def read_document(data: bytes) -> dict[str, Any]:
    """A document as read from a file or standard input: at most MAX_DOCUMENT_BYTES of UTF-8, then `parse`."""
    if len(data) > MAX_DOCUMENT_BYTES:
        raise ConfigError([f"the document is larger than {MAX_DOCUMENT_BYTES // (1024 * 1024)} MB"])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError([f"the document is not UTF-8 text (byte {error.start} is not)"]) from None
    return parse(text)


def parse(text: str) -> dict[str, Any]:
    """Read a YAML or JSON document (JSON is read as YAML's subset), refusing aliases and deep nesting."""
    if len(text) > MAX_DOCUMENT_BYTES:
        raise ConfigError([f"the document is larger than {MAX_DOCUMENT_BYTES // (1024 * 1024)} MB"])
    try:
        document = yaml.load(text, Loader=_BoundedLoader)  # a SafeLoader, bounded
    except yaml.YAMLError as error:
        said = " ".join(str(error).split())
        raise ConfigError([f"the document is not valid YAML or JSON: {said}"]) from None
    if not isinstance(document, dict):
        raise ConfigError(["the document must be a mapping of sections (sync, tracking_history, ...)"])
    return document


Change = tuple[str, Any, Any]  # dotted key, value before, value after
Apply = Callable[[], None]


def _choices_hint(field: models.Field) -> str:
    return f" Choose from: {', '.join(str(value) for value, _ in field.choices)}." if field.choices else ""


def _plan_section(section: Section, values: Any, errors: list[str]) -> tuple[list[Change], list[Apply]]:
    obj = section.model.load()
    before = _section_values(section, obj)
    if not isinstance(values, dict):
        errors.append(f"{section.key}: expected a mapping of settings, got {values!r}")
        return [], []
    n_errors = len(errors)
    unreadable: list[str] = []
    for name, value in values.items():
        key = f"{section.key}.{name}"
        if name not in section.fields:
            errors.append(f"{key}: unknown setting; {section.key} has {', '.join(section.fields)}")
            continue
        field = _field(obj, name)
        n_before = len(errors)
        converted = _from_document(field, value, key, errors)
        if len(errors) == n_before:
            setattr(obj, name, converted)
        else:
            unreadable.append(name)
    try:
        obj.full_clean(exclude=unreadable)
    except ValidationError as error:
        for name, messages in error.message_dict.items():
            hint = _choices_hint(_field(obj, name)) if name != "__all__" else ""
            errors.extend(
                f"{section.key}.{name}: {message}{hint}" if name != "__all__" else f"{section.key}: {message}"
                for message in messages
            )
    if len(errors) > n_errors:
        return [], []
    after = _section_values(section, obj)
    changes = [
        (f"{section.key}.{name}", before[name], after[name]) for name in section.fields if before[name] != after[name]
    ]
    if not changes:
        return [], []

    def apply() -> None:
        obj.save()
        settings_changed = getattr(obj, "settings_changed", None)
        if settings_changed is not None:
            settings_changed(timezone.now())

    return changes, [apply]


def _plan_status_map(values: Any, errors: list[str]) -> tuple[list[Change], list[Apply]]:
    prefix = f"salesforce_campaigns.{STATUS_MAP}"
    if not isinstance(values, dict):
        errors.append(f"{prefix}: expected a mapping of activity to {{label, responded}}, got {values!r}")
        return [], []
    rows = {row.activity: row for row in CampaignStatusMapping.objects.all()}
    changes: list[Change] = []
    dirty: list[CampaignStatusMapping] = []
    for activity, entry in values.items():
        key = f"{prefix}.{activity}"
        if activity not in rows:
            errors.append(f"{key}: unknown activity; choose from {', '.join(EmailActivity.values)}")
            continue
        if not isinstance(entry, dict):
            errors.append(f"{key}: expected {{label, responded}}, got {entry!r}")
            continue
        row = rows[activity]
        before = {"label": row.status_label, "responded": row.responded}
        for name, value in entry.items():
            if name == "label" and isinstance(value, str):
                row.status_label = value
            elif name == "responded" and isinstance(value, bool):
                row.responded = value
            elif name in ("label", "responded"):
                errors.append(f"{key}.{name}: expected {'text' if name == 'label' else 'true or false'}, got {value!r}")
            else:
                errors.append(f"{key}.{name}: unknown setting; a status has label and responded")
        try:
            row.full_clean()
        except ValidationError as error:
            errors.extend(m.replace(f"{key}.status_label:", f"{key}.label:") for m in _validation_messages(key, error))
            continue
        after = {"label": row.status_label, "responded": row.responded}
        if after != before:
            changes.append((key, before, after))
            dirty.append(row)
    return changes, [row.save for row in dirty]


def _plan_links(values: Any, errors: list[str], actor: str) -> tuple[list[Change], list[Apply]]:
    """Manual links between Campaign Monitor and Salesforce campaigns: the links become exactly those given (an
    empty mapping removes them all); auto-created links stay unless an entry links their campaign elsewhere."""
    prefix = f"salesforce_campaigns.{LINKS}"
    if not isinstance(values, dict):
        errors.append(f"{prefix}: expected a mapping of Campaign Monitor campaign id to Salesforce Campaign Id, "
                      f"got {values!r}")  # fmt: skip
        return [], []
    try:
        plan = campaign_links.plan_links(values)
    except (SalesforceError, NotConnected) as error:
        errors.append(f"{prefix}: Salesforce could not be asked whether the campaigns exist: {error}")
        return [], []
    if plan.problems:
        errors.extend(f"{prefix}.{cm_id}: {why}" for cm_id, why in plan.problems.items())
        return [], []
    before = campaign_links.manual_links()
    changes: list[Change] = [(f"{prefix}.{cm_id}", before.get(cm_id), None) for cm_id in plan.undo
                             if cm_id not in plan.make]  # fmt: skip
    changes += [(f"{prefix}.{cm_id}", before.get(cm_id), sf_id) for cm_id, sf_id in plan.make.items()]
    if not changes:
        return [], []
    return changes, [partial(_apply_links, plan, actor)]


def _apply_links(plan: campaign_links.LinksPlan, actor: str) -> None:
    try:
        campaign_links.apply_links(plan, actor=actor)
    except campaign_links.LinkRefused as refused:  # changed in Salesforce or the console since the plan: nothing saved
        raise ConfigError([f"salesforce_campaigns.{LINKS}: {refused}"]) from None


def _store_batch_size(code: str, size: int | None) -> None:
    GovernorLimit.objects.update_or_create(job=code, defaults={"batch_size": size})


def _plan_governor_limits(values: Any, errors: list[str]) -> tuple[list[Change], list[Apply]]:
    prefix = f"maintenance.{GOVERNOR_LIMITS}"
    if not isinstance(values, dict):
        errors.append(f"{prefix}: expected a mapping of job code to batch size, got {values!r}")
        return [], []
    current = GovernorLimit.all_batch_sizes()
    changes: list[Change] = []
    applies: list[Apply] = []
    for code, size in values.items():
        key = f"{prefix}.{code}"
        job = JOBS.get(code)
        if job is None:
            errors.append(f"{key}: unknown job; the jobs are {', '.join(JOBS)}")
        elif not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= job.max_batch_size:
            errors.append(f"{key}: expected a whole number from 1 to {job.max_batch_size}, got {size!r}")
        elif size != current[code]:
            changes.append((key, current[code], size))
            stored = None if size == job.default_batch_size else size
            applies.append(partial(_store_batch_size, code, stored))
    return changes, applies


def _plan_clients(values: Any, errors: list[str]) -> tuple[list[Change], list[Apply]]:
    if not isinstance(values, dict):
        errors.append(f"{CLIENTS}: expected a mapping of Campaign Monitor client id to its settings, got {values!r}")
        return [], []
    clients = {client.cm_client_id: client for client in CampaignMonitorClient.objects.all()}
    changes: list[Change] = []
    dirty: list[CampaignMonitorClient] = []
    for client_id, entry in values.items():
        key = f"{CLIENTS}.{client_id}"
        client = clients.get(str(client_id))
        if client is None:
            errors.append(f"{key}: no connected Campaign Monitor client has this id")
            continue
        if not isinstance(entry, dict):
            errors.append(f"{key}: expected a mapping of settings, got {entry!r}")
            continue
        n_errors = len(errors)
        before = {name: getattr(client, name) for name in CLIENT_FIELDS}
        for name, value in entry.items():
            if name == "name":
                if value != client.name:
                    errors.append(f"{key}.name: the name comes from Campaign Monitor and cannot be set here")
            elif name not in CLIENT_FIELDS:
                errors.append(f"{key}.{name}: unknown setting; a client has {', '.join(CLIENT_FIELDS)}")
            else:
                converted = _from_document(_field(client, name), value, f"{key}.{name}", errors)
                if len(errors) == n_errors:
                    setattr(client, name, converted)
        if len(errors) > n_errors:
            continue
        try:
            client.full_clean()
        except ValidationError as error:
            errors.extend(_validation_messages(key, error))
            continue
        after = {name: getattr(client, name) for name in CLIENT_FIELDS}
        if after != before:
            changes.append((key, before, after))
            dirty.append(client)
    return changes, [client.save for client in dirty]


def _plan_wizards(values: Any, errors: list[str]) -> tuple[list[Change], list[Apply]]:
    """Wizards by name: a name not yet known makes a wizard, a known one is updated; wizards the document does not
    name are left as they are."""
    if not isinstance(values, dict):
        errors.append(f"{WIZARDS}: expected a mapping of wizard name to its settings, got {values!r}")
        return [], []
    clients = {client.cm_client_id: client for client in CampaignMonitorClient.objects.all()}
    existing = {wizard.name: wizard for wizard in ImportWizard.objects.select_related("client")}
    changes: list[Change] = []
    applies: list[Apply] = []
    for name, entry in values.items():
        key = f"{WIZARDS}.{name}"
        if not isinstance(entry, dict):
            errors.append(f"{key}: expected a mapping of settings, got {entry!r}")
            continue
        wizard = existing.get(str(name)) or ImportWizard(name=str(name))
        before = _wizard_values(wizard) if wizard.pk else {}
        n_errors = len(errors)
        unreadable: list[str] = []
        for field_name, value in entry.items():
            if field_name == "client":
                client = clients.get(str(value))
                if client is None:
                    errors.append(f"{key}.client: no connected Campaign Monitor client has the id {value!r}")
                else:
                    wizard.client = client
            elif field_name not in WIZARD_FIELDS:
                errors.append(f"{key}.{field_name}: unknown setting; a wizard has client, {', '.join(WIZARD_FIELDS)}")
            else:
                n_before = len(errors)
                converted = _from_document(_field(wizard, field_name), value, f"{key}.{field_name}", errors)
                if len(errors) == n_before:
                    setattr(wizard, field_name, converted)
                else:
                    unreadable.append(field_name)
        if wizard.client_id is None and "client" not in entry:
            errors.append(f"{key}.client: give the Campaign Monitor client id of the wizard's list")
        if len(errors) > n_errors:
            continue
        try:
            wizard.full_clean(exclude=unreadable)
        except ValidationError as error:
            errors.extend(_validation_messages(key, error))
            continue
        after = _wizard_values(wizard)
        if after != before:
            changes.append((key, before or None, after))

            def apply(wizard: ImportWizard = wizard) -> None:
                wizard.save()
                reschedule(wizard)

            applies.append(apply)
    return changes, applies


ListEntry = TypeVar("ListEntry", FieldMapping, SubscriberRule, RecordCreation)


def _plan_list_sets(
    top: str,
    child: str,
    values: Any,
    errors: list[str],
    *,
    model: type[ListEntry],
    check: Callable[[ListEntry, str, list[str]], bool],
) -> tuple[list[Change], list[Apply]]:
    """A document's per-list settings (field mappings, subscriber rules): each list named gets exactly the entries
    given (an empty list removes them); lists the document does not name keep theirs. `check` validates one
    entry beyond its fields, saying what is wrong under its key; False leaves it out."""
    if not isinstance(values, dict):
        errors.append(f"{top}: expected a mapping of list id to its client, list_name and {child}, got {values!r}")
        return [], []
    clients = {client.cm_client_id: client for client in CampaignMonitorClient.objects.all()}
    existing, fields = _list_sets(model, child), model.SETTINGS
    changes: list[Change] = []
    applies: list[Apply] = []
    for list_id, entry in values.items():
        key = f"{top}.{list_id}"
        if not isinstance(entry, dict) or not isinstance(entry.get(child, []), list):
            errors.append(f"{key}: expected client, list_name and {child} (a list), got {entry!r}")
            continue
        unknown = set(entry) - {"client", "list_name", child}
        if unknown:
            errors.append(f"{key}.{sorted(unknown)[0]}: unknown setting; a list has client, list_name and {child}")
            continue
        client = clients.get(str(entry.get("client")))
        if client is None:
            errors.append(f"{key}.client: no connected Campaign Monitor client has the id {entry.get('client')!r}")
            continue
        list_name = str(entry.get("list_name") or "")
        made: list[ListEntry] = []
        for position, given in enumerate(entry.get(child) or [], start=1):
            where = f"{key}.{child}[{position}]"
            if not isinstance(given, dict) or set(given) - set(fields):
                errors.append(f"{where}: expected a mapping of {', '.join(fields)}, got {given!r}")
                continue
            item = model(client=client, list_id=str(list_id), list_name=list_name, **given)
            try:
                item.clean_fields(exclude=["client"])
            except ValidationError as error:
                errors.extend(_validation_messages(where, error))
                continue
            if check(item, where, errors):
                made.append(item)
        after = {"client": client.cm_client_id, "list_name": list_name,
                 child: [{name: getattr(item, name) for name in fields} for item in made]}  # fmt: skip
        before = existing.get(str(list_id))
        if after != before:
            changes.append((key, before, after))
            applies.append(partial(_replace_list, model, str(list_id), list(made)))
    return changes, applies


def _replace_list(model: type[models.Model], list_id: str, made: list[Any]) -> None:
    model._default_manager.filter(list_id=list_id).delete()
    model._default_manager.bulk_create(made)


def _plan_mappings(values: Any, errors: list[str]) -> tuple[list[Change], list[Apply]]:
    """Field mappings by list. Types are taken as given (the console checks them against Salesforce and Campaign
    Monitor; an export carries them)."""
    seen: dict[tuple[str, str, str], str] = {}

    def check(mapping: FieldMapping, where: str, errors: list[str]) -> bool:
        if mapping.is_standard and mapping.direction != FieldMapping.Direction.TO_CM:
            errors.append(f"{where}.direction: {mapping.target_label.lower()} is mapped from Salesforce only")
            return False
        ok = True
        for side in ("salesforce_field", "campaign_monitor"):
            value = str(getattr(mapping, side))
            earlier = seen.setdefault((mapping.list_id, mapping.sobject, f"{side}:{value.lower()}"), where)
            if earlier != where:
                errors.append(f"{where}.{side}: {value} is mapped by {earlier} already: one direction a field, one "
                              "field a custom field")  # fmt: skip
                ok = False
        return ok

    return _plan_list_sets(MAPPINGS, "mappings", values, errors, model=FieldMapping, check=check)


def _plan_rules(values: Any, errors: list[str]) -> tuple[list[Change], list[Apply]]:
    """Subscriber rules by list, one of each kind. The criteria's fields are checked against Salesforce in the
    console, not here."""
    kinds: set[tuple[str, str]] = set()

    def check(rule: SubscriberRule, where: str, errors: list[str]) -> bool:
        if rule.logic.strip():
            try:
                check_logic(rule.logic, len(rule.criteria))
            except ValueError as error:
                errors.append(f"{where}.logic: {error}")
                return False
        if (rule.list_id, rule.kind) in kinds:
            errors.append(f"{where}.kind: the list has a {rule.kind} rule already: one of each kind a list")
            return False
        kinds.add((rule.list_id, rule.kind))
        return True

    changes, applies = _plan_list_sets(RULES, "rules", values, errors, model=SubscriberRule, check=check)
    if applies:  # the rules made afresh that start from the records meeting their criteria: read those
        applies.append(lambda: read_rule_matches(SubscriberRule.objects.filter(matches_token="")))
    return changes, applies


def _plan_creations(values: Any, errors: list[str]) -> tuple[list[Change], list[Apply]]:
    """Record creation by list: one setting a list, or none (an empty list turns it off)."""
    seen: set[str] = set()

    def check(setting: RecordCreation, where: str, errors: list[str]) -> bool:
        if setting.list_id in seen:
            errors.append(f"{where}: a list has one record creation setting")
            return False
        seen.add(setting.list_id)
        return True

    return _plan_list_sets(CREATION, "create", values, errors, model=RecordCreation, check=check)


def import_document(document: dict[str, Any], *, actor: str) -> list[Change]:
    """Apply a document in one transaction and audit it; raise ConfigError naming every bad key."""
    errors: list[str] = []
    changes: list[Change] = []
    applies: list[Apply] = []
    sections = {section.key: section for section in SECTIONS}
    known = [*sections, CLIENTS, WIZARDS, MAPPINGS, RULES, CREATION, "version"]

    version = document.get("version", DOCUMENT_VERSION)
    if version != DOCUMENT_VERSION:
        errors.append(f"version: this cmsf reads documents of version {DOCUMENT_VERSION}, not {version!r}")

    with transaction.atomic():
        for key, values in document.items():
            if key == "version":
                continue
            if key == CLIENTS:
                planned = _plan_clients(values, errors)
            elif key == WIZARDS:
                planned = _plan_wizards(values, errors)
            elif key == MAPPINGS:
                planned = _plan_mappings(values, errors)
            elif key == RULES:
                planned = _plan_rules(values, errors)
            elif key == CREATION:
                planned = _plan_creations(values, errors)
            elif key in sections:
                values = dict(values) if isinstance(values, dict) else values
                extra: list[tuple[list[Change], list[Apply]]] = []
                if key == "salesforce_campaigns" and isinstance(values, dict) and STATUS_MAP in values:
                    extra.append(_plan_status_map(values.pop(STATUS_MAP), errors))
                if key == "salesforce_campaigns" and isinstance(values, dict) and LINKS in values:
                    extra.append(_plan_links(values.pop(LINKS), errors, actor))
                if key == "maintenance" and isinstance(values, dict) and GOVERNOR_LIMITS in values:
                    extra.append(_plan_governor_limits(values.pop(GOVERNOR_LIMITS), errors))
                planned = _plan_section(sections[key], values, errors)
                if any(change[0] == "sync.public_url" for change in planned[0]):
                    planned[1].append(public_url_changed)  # the webhooks follow the new address
                for more_changes, more_applies in extra:
                    planned = (planned[0] + more_changes, planned[1] + more_applies)
            else:
                errors.append(f"{key}: unknown section; the sections are {', '.join(known)}")
                continue
            changes.extend(planned[0])
            applies.extend(planned[1])
        if errors:
            raise ConfigError(errors)
        for apply in applies:
            apply()
        if changes:
            audit(
                actor=actor,
                section="configuration",
                action=f"config import changed {len(changes)} setting{'s' if len(changes) != 1 else ''}",
                before={key: old for key, old, _ in changes},
                after={key: new for key, _, new in changes},
            )
    return changes
