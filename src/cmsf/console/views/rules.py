"""Subscriber Rules: per list, at most four (add contact, remove contact, add lead, remove lead), each with criteria
on fields (AND, or custom logic), when it is evaluated and an active flag; applied by the watcher to what changes
in Salesforce, and to the records that exist already by a retrospective run started here."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cmsf.audience import fields as rule_fields
from cmsf.audience import services
from cmsf.connections import services as connections
from cmsf.console import forms as console_forms
from cmsf.console import pickers
from cmsf.console.access import changer, viewer
from cmsf.console.confirm import Confirmation, confirm_page
from cmsf.console.forms import add_problems
from cmsf.console.views.imports import chosen_list, lists_or_message
from cmsf.options.models import RULE_OPERATORS, PersonObject, SubscriberRule
from cmsf.salesforce.errors import SalesforceError
from cmsf.sync import tasks

SECTION = "rules"
NO_VALUE = ("is_blank", "is_not_blank")


def parse_criteria(text: str) -> list[dict[str, str]]:
    """Lines of "Field operator value" (the value may hold spaces; none for is_blank and is_not_blank)."""
    criteria = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split(None, 2)
        if len(parts) < 2 or parts[1] not in RULE_OPERATORS:
            raise ValidationError(f"Line {number}: write Field operator value, the operator one of "
                                  f"{', '.join(RULE_OPERATORS)}.")  # fmt: skip
        value = parts[2].strip() if len(parts) == 3 else ""
        if parts[1] not in NO_VALUE and len(parts) < 3:
            raise ValidationError(f"Line {number}: {parts[1]} needs a value.")
        criteria.append({"field": parts[0], "operator": parts[1], "value": value})
    if not criteria:
        raise ValidationError("Write one criterion at least.")
    return criteria


def criteria_text(criteria: list[dict[str, str]]) -> str:
    return "\n".join(f"{c['field']} {c['operator']} {c.get('value', '')}".rstrip() for c in criteria)


class RuleForm(console_forms.Form):
    target = forms.ChoiceField(label="Campaign Monitor list")
    kind = forms.ChoiceField(choices=SubscriberRule.Kind.choices, widget=forms.RadioSelect, label="Rule")
    criteria = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), label="Criteria (one a line)")
    logic = forms.CharField(required=False, max_length=255, label="Custom logic (blank: all of them)")
    evaluate = forms.ChoiceField(choices=SubscriberRule.When.choices, widget=forms.RadioSelect,
                                 initial=SubscriberRule.When.EDITED, label="Evaluate",
                                 error_messages={"required": "Choose when the rule is evaluated.",
                                                 "invalid_choice": "Choose when the rule is evaluated."})  # fmt: skip
    active = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args: Any, lists: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["target"].choices = lists  # type: ignore[attr-defined]

    def clean_criteria(self) -> list[dict[str, str]]:
        return parse_criteria(self.cleaned_data["criteria"])


def _page(request: HttpRequest, form: RuleForm | None, *, status: int = 200) -> HttpResponse:
    rules = list(SubscriberRule.objects.select_related("client"))
    for rule in rules:
        rule.criteria_text = criteria_text(rule.criteria)  # type: ignore[attr-defined]
    context: dict[str, Any] = {"active_section": SECTION, "form": form, "rules": rules, "operators": RULE_OPERATORS}
    if form is not None:
        objects = [value for value, _ in PersonObject.choices] + ["Account"]
        context["fields"] = pickers.picker(
            request, "rule-fields", objects, pickers.MAPPABLE, prefix={"Account": "Account."}
        )
    return render(request, "console/rules/home.html", context, status=status)


@viewer
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    lists = lists_or_message(request)
    return _page(request, RuleForm(lists=lists) if lists is not None else None)


@require_POST
@changer
def save(request: HttpRequest) -> HttpResponse:
    """A new rule, or the list's rule of that kind changed (one of each kind a list)."""
    lists = lists_or_message(request)
    if lists is None:
        return redirect("console:rules")
    form = RuleForm(request.POST, lists=lists)
    if not form.is_valid():
        return _page(request, form, status=400)
    data = form.cleaned_data
    client_id, list_id, list_name = chosen_list(data["target"], lists)
    rule = SubscriberRule.objects.filter(list_id=list_id, kind=data["kind"]).first() or SubscriberRule(
        list_id=list_id, kind=data["kind"]
    )
    rule.client_id, rule.list_name = client_id, list_name
    rule.criteria, rule.logic = data["criteria"], data["logic"].strip()
    rule.evaluate, rule.active = data["evaluate"], data["active"]
    try:
        rule.full_clean()
        problems = rule_fields.check_rule(rule, pickers.salesforce(request))
        if not problems:
            services.save_rule(rule, actor=request.user.get_username())
    except ValidationError as error:
        problems = error.message_dict
    except (SalesforceError, connections.NotConnected) as error:
        form.add_error(None, f"The rule could not be checked: {error}")
        return _page(request, form, status=400)
    if problems:
        add_problems(form, problems)
        return _page(request, form, status=400)
    if rule.matches_token:
        messages.success(request, f"The rule {rule} is saved. The records that meet its criteria now are read first; "
                                  "it applies to what changes once that read ends.")  # fmt: skip
    else:
        messages.success(request, f"The rule {rule} is saved; it applies to what changes from now on.")
    return redirect("console:rules")


@require_POST
@changer
def delete(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(SubscriberRule, pk=pk)
    services.delete_rule(rule, actor=request.user.get_username())
    messages.success(request, f"The rule {rule} is deleted.")
    return redirect("console:rules")


@require_http_methods(["GET", "POST"])
@changer
def retrospective(request: HttpRequest, pk: int) -> HttpResponse:
    """A retrospective run: a GET asks first, saying what it does to the records that exist; the POST queues it."""
    rule = get_object_or_404(SubscriberRule, pk=pk)
    if request.method == "GET":
        return confirm_page(request, _retrospective_confirmation(rule), section="rules")
    transaction.on_commit(lambda: tasks.retrospective_rule(rule.pk))
    messages.success(request, f"A retrospective run of {rule} is queued: its outcome shows here when it ends.")
    return redirect("console:rules")


def _retrospective_confirmation(rule: SubscriberRule) -> Confirmation:
    record = rule.sobject.lower()
    where = rule.list_name or rule.list_id
    if rule.adds:
        warning = f"Every existing {record} that meets the criteria is added to the list {where} now."
        consequences: tuple[str, ...] = (
            "No one who left the list is resubscribed, and the opt-out and suppression rules apply.",
            "When journeys are triggered (General Options), the list's journeys start for everyone added.",
        )
    else:
        warning = (
            f"Every existing {record} that meets the criteria has its subscribers of the list {where} "
            "deleted in Campaign Monitor now."
        )
        consequences = ("cmsf cannot undo this: a deleted subscriber must be added to the list again.",)
    return Confirmation(
        title=f"Run the {rule.get_kind_display().lower()} rule of {where} retrospectively?",
        warning=warning,
        consequences=(
            *consequences,
            f"It reads every {record} in Salesforce and runs in the background; its outcome shows on Subscriber "
            "Rules when it ends.",
        ),
        action=reverse("console:rules_retrospective", args=[rule.pk]),
        cancel=reverse("console:rules"),
        button="Run retrospectively",
        destructive=not rule.adds,
    )


@require_POST
@changer
def read_matches(request: HttpRequest, pk: int) -> HttpResponse:
    """The records that meet a rule's criteria as it starts, read again (after a read that stopped)."""
    rule = get_object_or_404(SubscriberRule, pk=pk)
    services.read_rule_matches([rule])
    messages.success(request, f"The records that meet the criteria of {rule} are read again; the rule applies once "
                              "that read ends.")  # fmt: skip
    return redirect("console:rules")


urlpatterns = [
    path("rules", home, name="rules"),
    path("rules/save", save, name="rules_save"),
    path("rules/<int:pk>/delete", delete, name="rules_delete"),
    path("rules/<int:pk>/retrospective", retrospective, name="rules_retrospective"),
    path("rules/<int:pk>/matches", read_matches, name="rules_matches"),
]
