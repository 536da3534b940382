"""What the console's forms share: the validation messages say what the field is and what to do.

Every console form derives from `Form` or `ModelForm` here (the settings forms too: `Declared.form` builds them on
`ModelForm`). Their fields' default messages, Django's generic ones ("This field is required.", "Enter a whole
number.", "Ensure this value is less than or equal to 5000."), are worded from the field's label and bounds: "Enter
the days valid as a whole number between 1 and 365.". A message a field or a model words itself stays as it is;
errors the model's validation adds later (ModelForm, `add_problems`) are worded the same way when they are Django's
generic ones."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from functools import cache
from typing import Any

from django import forms
from django.core import validators
from django.core.exceptions import ValidationError
from django.db import models
from django.forms.utils import pretty_name

_NUMBER = 9876543210  # what every parameter of a message is rendered with, to find it again as a pattern
_DECIMAL_CODES = ("max_digits", "max_decimal_places", "max_whole_digits")


def _subclasses(cls: type) -> Iterator[type]:
    sub: type
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _django_messages() -> Iterator[tuple[str, Any]]:
    """Every message Django words by default, with its code: its form fields', its model fields' and its
    validators'."""
    for base in (forms.Field, models.Field):
        for cls in (base, *_subclasses(base)):
            if cls.__module__.startswith("django."):
                yield from getattr(cls, "default_error_messages", {}).items()
    for validator in (
        validators.MinValueValidator,
        validators.MaxValueValidator,
        validators.StepValueValidator,
        validators.MinLengthValidator,
        validators.MaxLengthValidator,
        validators.EmailValidator,
        validators.URLValidator,
        validators.RegexValidator,
        validators.ProhibitNullCharactersValidator,
        validators.FileExtensionValidator,
    ):
        yield validator.code, validator.message
    yield from validators.DecimalValidator.messages.items()
    yield from (("invalid", validators.validate_slug.message), ("invalid", validators.validate_unicode_slug.message))
    yield "invalid", "Enter a valid %(protocol)s address."  # validate_ipv4_address and its kin word it in a function


class _Numbers(dict[str, int]):
    """Any message parameter, as one number."""

    def __init__(self, number: int) -> None:
        super().__init__()
        self.number = number

    def __missing__(self, key: str) -> int:
        return self.number


@cache
def _default_patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    """Each of Django's messages as a pattern of the text shown (its parameters any text), with its code."""
    patterns: dict[str, str] = {}
    for code, message in _django_messages():
        for number in (_NUMBER, 1):  # a message with a plural picks its form by a number: both forms
            text = str(message % _Numbers(number))
            if number == 1 and "1" not in text:
                continue
            pattern = "^" + ".+?".join(re.escape(part) for part in text.split(str(number))) + "$"
            patterns.setdefault(pattern, code)
    return tuple((re.compile(pattern, re.DOTALL), code) for pattern, code in sorted(patterns.items()))


def django_default_code(text: str) -> str | None:
    """The code of the Django message a text shows ("required" for "This field is required."); None when the text
    is not one of Django's generic messages."""
    return next((code for pattern, code in _default_patterns() if pattern.match(text)), None)


@cache
def _default_messages() -> tuple[tuple[Any, ...], frozenset[str]]:
    """Django's messages as objects (a field or validator gives its message object itself), and the texts of those
    without parameters."""
    objects = tuple(message for _, message in _django_messages())
    texts = frozenset(text for text in (str(message) for message in objects) if text and "%(" not in text)
    return objects, texts


def _generic(message: Any, params: dict[str, Any] | None) -> bool:
    """Whether an error's message is Django's own: its message object, or the same text typed again. A message a
    field, a model or a service words itself ("A console user with this email already exists.") is not, even when it
    reads like one of Django's."""
    objects, texts = _default_messages()
    return any(message is default for default in objects) or _shown(message, params) in texts


def is_django_default(text: str) -> bool:
    """Whether a message, as shown, is one of Django's generic ones."""
    return django_default_code(text) is not None


def _shown(message: Any, params: dict[str, Any] | None = None) -> str:
    return str(message % params) if params else str(message)


# Words a label starts with that keep their capital within a sentence: the names of things.
_NAMES = {"Salesforce", "SMS", "SOQL", "OAuth", "My", "E.164"}


def _the(label: str) -> str:
    """A label within a sentence: "Days valid" as "the days valid"; "API key", "Salesforce field" and "Campaign
    Monitor list" keep their capitals; what the label says in brackets is left out ("Average open rate (%)" as "the
    average open rate"), and no % is left for Django to read as a parameter."""
    label = re.sub(r"\s*\([^)]*\)", "", label).replace("%", " percent").strip().rstrip(":")
    words = label.split()
    first = words[0] if words else ""
    named = first in _NAMES or sum(c.isupper() for c in first) > 1
    if first[:1].isupper() and not named and not (len(words) > 1 and words[1][:1].isupper()):
        label = label[0].lower() + label[1:]
    return label if re.match(r"(the|a|an) ", label) else f"the {label}"


def _number(value: Any) -> str:
    return format(value.normalize(), "f") if isinstance(value, Decimal) else str(value)


def _bounds(field: forms.Field) -> str:
    low, high = getattr(field, "min_value", None), getattr(field, "max_value", None)
    if low is not None and high is not None:
        return f" between {_number(low)} and {_number(high)}"
    if low is not None:
        return f" of {_number(low)} or more"
    if high is not None:
        return f" of {_number(high)} or less"
    return ""


def worded(field: forms.Field, label: str) -> dict[str, str]:
    """The messages of `field` by code, worded from its label and its bounds."""
    the = _the(label)
    if isinstance(field, forms.BooleanField):
        box = re.sub(r"\s*\([^)]*\)", "", label).replace("%", " percent").strip().rstrip(":")
        return {"required": f"Tick “{box}” to go on."}
    choose = isinstance(field, forms.ChoiceField | forms.ModelChoiceField)
    words = {"required": f"Choose {the}." if choose else f"Enter {the}."}
    if isinstance(field, forms.DecimalField | forms.FloatField):  # before IntegerField: Django derives them from it
        words["invalid"] = f"Enter {the} as a number{_bounds(field)}."
    elif isinstance(field, forms.IntegerField):
        words["invalid"] = f"Enter {the} as a whole number{_bounds(field)}."
    elif isinstance(field, forms.EmailField):
        words["invalid"] = f"Enter {the} as an email address, such as jane@example.com."
    elif isinstance(field, forms.URLField):
        words["invalid"] = f"Enter {the} as a web address, such as https://example.com."
    elif isinstance(field, forms.DateTimeField):
        words["invalid"] = f"Enter {the} as a date and time, such as 2025-01-31 14:30."
    elif isinstance(field, forms.DateField):
        words["invalid"] = f"Enter {the} as a date, such as 2025-01-31."
    elif isinstance(field, forms.TimeField):
        words["invalid"] = f"Enter {the} as a time, such as 14:30."
    elif isinstance(field, forms.FileField):
        words["invalid"] = words["missing"] = f"Choose a file for {the}."
        words["empty"] = f"The file chosen for {the} is empty: choose another."
        words["contradiction"] = f"Choose a file for {the} or tick Clear, not both."
    else:
        words["invalid"] = f"Correct {the}: it does not take this value."
    if isinstance(field, forms.IntegerField | forms.DecimalField | forms.FloatField):
        words["min_value"] = words["max_value"] = words["required"] = words["invalid"]
        step = getattr(field, "step_size", None)
        if step is not None:
            words["step_size"] = f"Enter {the} as a multiple of {_number(step)}."
    if isinstance(field, forms.DecimalField):
        digits, places = field.max_digits, field.decimal_places
        if digits is not None:
            words["max_digits"] = f"Enter {the} with at most {digits} digits."
        if places is not None:
            words["max_decimal_places"] = f"Enter {the} with at most {places} decimal places."
        if digits is not None and places is not None:
            words["max_whole_digits"] = f"Enter {the} with at most {digits - places} digits before the point."
    if choose or isinstance(field, forms.MultipleChoiceField):
        words["invalid_choice"] = words["invalid_list"] = words["invalid_pk_value"] = (
            f"Choose {the} from the choices shown."
        )
    max_length, min_length = getattr(field, "max_length", None), getattr(field, "min_length", None)
    if max_length is not None:
        words["max_length"] = f"Shorten {the} to {max_length} characters or fewer."
    if min_length is not None:
        words["min_length"] = f"Enter {min_length} characters or more for {the}."
    words["blank"] = words["null"] = words["required"]  # the model's words for a required value
    words["unique"] = f"Enter another {the.removeprefix('the ')}: this one is taken."
    return words


# Codes a field gives for its bounds (its validators') or the model gives for a required value: worded on every field.
# Any other code is worded only on a field whose class has it, so that a model validator's own message for it (a
# RegexValidator's "invalid") is not replaced by the form field's.
_BOUND_CODES = {"blank", "null", "max_length", "min_length", "min_value", "max_value", "step_size", *_DECIMAL_CODES}


def _class_codes(field: forms.Field) -> set[str]:
    return {code for cls in type(field).__mro__ for code in getattr(cls, "default_error_messages", {})}


def _word_fields(form: forms.BaseForm) -> None:
    """Replace each field's default messages (Django's, or ours from before its bounds changed) with worded ones."""
    for name, field in form.fields.items():
        before: dict[str, str] = getattr(field, "_worded", {})
        words = worded(field, str(field.label or pretty_name(name)))
        codes = _class_codes(field) | _BOUND_CODES
        for code, message in words.items():
            if code not in codes:
                continue
            current = field.error_messages.get(code)
            if current is None or str(current) == before.get(code) or _generic(current, None):
                field.error_messages[code] = message
        field._worded = words  # type: ignore[attr-defined]


def _reworded(form: forms.BaseForm, name: str | None, error: ValidationError) -> list[ValidationError]:
    """`error`'s messages, Django's generic ones worded for the field they are about."""
    field = form.fields.get(name) if name else None
    result = []
    for item in error.error_list:
        if field is not None and _generic(item.message, item.params):
            words = worded(field, str(field.label or pretty_name(str(name))))
            code = item.code or django_default_code(_shown(item.message, item.params)) or "invalid"
            item = ValidationError(words.get(code, words["invalid"]), code=code)
        result.append(item)
    return result


class _Worded:
    """The wording both bases share (a mixin on Django's Form and ModelForm)."""

    fields: dict[str, forms.Field]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _word_fields(self)  # type: ignore[arg-type]

    def full_clean(self) -> None:
        _word_fields(self)  # type: ignore[arg-type]  # fields a form added or bounded after __init__
        super().full_clean()  # type: ignore[misc]

    def add_error(self, field: str | None, error: Any) -> None:
        if not isinstance(error, ValidationError):
            error = ValidationError(error)
        if hasattr(error, "error_dict"):
            error = ValidationError(
                {name: _reworded(self, name, ValidationError(errors)) for name, errors in error.error_dict.items()}  # type: ignore[arg-type]
            )
            field = None
        else:
            error = ValidationError(_reworded(self, field, error))  # type: ignore[arg-type]
        super().add_error(field, error)  # type: ignore[misc]


class Form(_Worded, forms.Form):
    """A console form: its fields' messages say what the field is and what to do."""


class ModelForm(_Worded, forms.ModelForm):
    """A console model form: its fields' messages, and the model's generic ones, say what the field is and what to
    do; the messages the model words itself stay."""


def add_problems(form: forms.BaseForm, problems: dict[str, list[str]]) -> None:
    """Validation messages by field on the form: under their field when the form has it, above the form otherwise."""
    for name, errors in problems.items():
        form.add_error(name if name in form.fields else None, errors)
