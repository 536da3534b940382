"""The declaration of a settings model: which of its fields are settings, grouped as the console shows them.

A setting has one home, its model field: the default, the validators, the label (`verbose_name`) and the help
text (`help_text`). Next to the model, one `Declared` names the section it is under and the fields it exposes, in
groups. Everything else is built from the two: the console's forms and help hints, `cmsf config` export and
import, and the audit's before and after (`update_settings`)."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db import models

from cmsf.lib.singleton import SingletonModel


@dataclass(frozen=True)
class Declared:
    """A settings model's exposed fields. `key` names its section (in `cmsf config` and the audit log); `groups`
    maps a group name to its fields, in the order the console shows them. Fields the console shows nowhere sit in
    a group of their own (such as "config_only"): they are still settings, exported and imported."""

    key: str
    model: type[SingletonModel]
    groups: Mapping[str, tuple[str, ...]]

    def __post_init__(self) -> None:
        names = [name for fields in self.groups.values() for name in fields]
        concrete = {field.name for field in self.model._meta.concrete_fields}
        unknown = sorted(set(names) - concrete)
        if unknown or len(names) != len(set(names)):
            raise TypeError(f"{self.key}: {unknown or 'a field'} is not a field of {self.model.__name__} once")

    @property
    def fields(self) -> tuple[str, ...]:
        """Every exposed field, in the model's order."""
        names = {name for fields in self.groups.values() for name in fields}
        return tuple(field.name for field in self.model._meta.concrete_fields if field.name in names)

    def group(self, *names: str) -> tuple[str, ...]:
        return tuple(field for name in names for field in self.groups[name])

    def field(self, name: str) -> models.Field:
        field = self.model._meta.get_field(name)
        assert isinstance(field, models.Field), f"{name} is not a concrete field"
        return field

    def hints(self) -> dict[str, str]:
        """Each exposed field's help text: the console's help hint beside it."""
        return {name: str(self.field(name).help_text) for name in self.fields}

    def snapshot(self, obj: models.Model, names: tuple[str, ...] | None = None) -> dict[str, Any]:
        """The values of `names` (every exposed field by default) as plain JSON values, for the audit log."""
        return {name: plain(getattr(obj, name)) for name in (names or self.fields)}

    def form(self, *groups: str, base: type[forms.ModelForm] = forms.ModelForm) -> type[forms.ModelForm]:
        """A ModelForm of the fields of `groups`: labels, help texts, choices and bounds come from the model. The
        console passes its `base` (`console.forms.ModelForm`), which words the messages Django leaves generic from
        each field's label and bounds."""
        names = self.group(*groups)
        # the messages a model field words itself (its own, not Django's defaults) are the form field's too
        said = {name: dict(getattr(self.field(name), "_error_messages", None) or {}) for name in names}
        meta = type("Meta", (), {"model": self.model, "fields": list(names), "error_messages": said})
        return type(f"{self.model.__name__}Form", (base,), {"Meta": meta, "__module__": self.model.__module__})


def plain(value: Any) -> Any:
    """A model value as JSON holds it: dates in ISO 8601, choices by value, lists copied."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return list(value)
    return value


def model_update(obj: models.Model, values: Mapping[str, Any], *, fields: tuple[str, ...]) -> list[str]:
    """Set `values` (names among `fields`) on `obj`, validate `fields` and the model's `clean` (ValidationError by
    field, nothing saved) and save only the fields that changed; returns their names, [] when nothing changed."""
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValidationError(f"Unknown setting {', '.join(unknown)}.")
    before = {name: plain(getattr(obj, name)) for name in fields}
    for name, value in values.items():
        setattr(obj, name, value)
    obj.full_clean(exclude=[field.name for field in obj._meta.concrete_fields if field.name not in fields])
    changed = [name for name in fields if plain(getattr(obj, name)) != before[name]]
    if changed:
        obj.save(update_fields=changed)
    return changed
