"""The confirmation page of a one-click action that changes or removes something: a GET shows what will happen and
a form that POSTs to the same action (no script needed, so it works with the keyboard and a screen reader alike);
Cancel goes back without a change."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


@dataclass(frozen=True)
class Confirmation:
    title: str  # the page's heading and title: "Unlink Spring Sale?"
    warning: str  # the one sentence that matters most, shown as a warning
    consequences: Sequence[str]  # what will happen, one sentence each
    action: str  # the URL the form posts to
    cancel: str  # the URL Cancel goes to
    button: str  # the label of the button that does it
    fields: Sequence[tuple[str, str]] = ()  # hidden fields posted with it
    destructive: bool = True
    changes: Sequence[tuple[str, str]] = field(default=())  # (what, how it changes): a table when given
    changes_heading: str = ""


def confirm_page(request: HttpRequest, confirmation: Confirmation, *, section: str) -> HttpResponse:
    return render(request, "console/confirm.html", {"active_section": section, "confirm": confirmation})
