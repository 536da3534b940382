"""Every console form says what its field is and what to do: each derives from `console.forms.Form` or
`console.forms.ModelForm` (the settings forms built from a declaration too), and no message any of them gives,
submitted empty or with bad values, is one of Django's generic ones ("This field is required.")."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Any

import pytest
from django import forms

import cmsf.console
from cmsf.console import forms as console_forms

pytestmark = pytest.mark.django_db

LISTS = [("list-1", "Newsletter")]


def _console_form_classes() -> dict[str, type[forms.BaseForm]]:
    """Every form class a module under cmsf.console defines or builds (such as a declaration's form)."""
    found: dict[str, type[forms.BaseForm]] = {}
    for module_info in pkgutil.walk_packages(cmsf.console.__path__, "cmsf.console."):
        module = importlib.import_module(module_info.name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, forms.BaseForm)
                and value.__module__.startswith("cmsf.")
                and value not in (console_forms.Form, console_forms.ModelForm)
            ):
                found[f"{module.__name__}.{name}"] = value
    return found


def _made(cls: type[forms.BaseForm], data: dict[str, Any]) -> forms.BaseForm:
    """The form bound to `data`, with the keyword arguments its constructor asks for."""
    wanted = {
        name
        for name, parameter in inspect.signature(cls.__init__).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY and parameter.default is inspect.Parameter.empty
    }
    given = {"lists": LISTS, "tags": [], "industry": "", "choices": [("smart-email-id", "Welcome (Client)")]}
    unknown = wanted - set(given)
    assert not unknown, f"{cls.__name__} needs {unknown}: teach this test what to give it"
    return cls(data, **{name: given[name] for name in wanted})


def _bad(field: forms.Field) -> list[str]:
    """Values the field refuses, each for another reason."""
    if isinstance(field, forms.BooleanField):
        return []
    values = ["not a value of any list", "x" * 5000]
    if isinstance(field, forms.IntegerField):  # DecimalField and FloatField too
        values += ["twelve", "1.5", "-99999999", "99999999999", "1.23456789"]
    return values


def _messages(form: forms.BaseForm) -> list[str]:
    form.is_valid()
    return [str(message) for errors in form.errors.values() for message in errors]


def test_every_console_form_derives_from_the_console_bases():
    classes = _console_form_classes()
    assert len(classes) >= 20, sorted(classes)  # the walk finds them (a broken walk would pass every check)
    assert "cmsf.console.views.options.GeneralOptionsForm" in classes  # built from a declaration
    plain = [name for name, cls in classes.items() if not issubclass(cls, console_forms.Form | console_forms.ModelForm)]
    assert plain == []


def test_the_check_knows_djangos_generic_messages():
    for text in (
        "This field cannot be blank.",
        "This field is required.",
        "Enter a whole number.",
        "Ensure this value is less than or equal to 5000.",
        "Ensure this value has at most 80 characters (it has 81).",
        "Select a valid choice. x is not one of the available choices.",
        "Enter a valid email address.",
    ):
        assert console_forms.is_django_default(text), text
    assert not console_forms.is_django_default("Enter the list's name.")


def test_no_console_form_gives_a_generic_message_empty_or_with_bad_values():
    generic: list[str] = []
    seen = 0
    for name, cls in sorted(_console_form_classes().items()):
        attempts: list[dict[str, Any]] = [{}]
        fields = _made(cls, {}).fields
        for bad in range(max((len(_bad(field)) for field in fields.values()), default=0)):
            attempts.append({key: _bad(field)[bad % len(_bad(field))] for key, field in fields.items() if _bad(field)})
        for data in attempts:
            for message in _messages(_made(cls, data)):
                seen += 1
                if console_forms.is_django_default(message):
                    generic.append(f"{name}: {message}")
    assert seen > 100  # the forms were really refused
    assert generic == []


def test_a_console_field_says_what_it_is_and_what_to_do():
    class Interval(console_forms.Form):
        minutes = forms.IntegerField(label="Interval in minutes", min_value=5, max_value=1440)
        name = forms.CharField(label="List name", max_length=10)
        rate = forms.DecimalField(label="Average open rate (%)", max_digits=5, decimal_places=2)
        target = forms.ChoiceField(label="Campaign Monitor list", choices=LISTS)
        confirmed = forms.BooleanField(label="I checked the preview")

    empty = Interval({})
    assert empty.errors == {
        "minutes": ["Enter the interval in minutes as a whole number between 5 and 1440."],
        "name": ["Enter the list name."],
        "rate": ["Enter the average open rate as a number."],
        "target": ["Choose the Campaign Monitor list."],
        "confirmed": ["Tick “I checked the preview” to go on."],
    }
    bad = Interval({"minutes": "9000", "name": "x" * 11, "rate": "1.234", "target": "nope", "confirmed": "on"})
    assert bad.errors == {
        "minutes": ["Enter the interval in minutes as a whole number between 5 and 1440."],
        "name": ["Shorten the list name to 10 characters or fewer."],
        "rate": ["Enter the average open rate with at most 2 decimal places."],
        "target": ["Choose the Campaign Monitor list from the choices shown."],
    }
    # a message the field words itself stays; a generic one added later (a model's validation) is worded too
    own = Interval({}, auto_id=False)
    own.fields["name"].error_messages["required"] = "Name the list."
    own.add_error("minutes", "This field cannot be blank.")
    assert own.errors["name"] == ["Name the list."]
    assert own.errors["minutes"][0] == "Enter the interval in minutes as a whole number between 5 and 1440."
