"""What the console's forms share."""

from __future__ import annotations

from django import forms


def add_problems(form: forms.BaseForm, problems: dict[str, list[str]]) -> None:
    """Validation messages by field on the form: under their field when the form has it, above the form otherwise."""
    for name, errors in problems.items():
        form.add_error(name if name in form.fields else None, errors)
