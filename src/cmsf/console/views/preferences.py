"""Your preferences: what a console user chooses for themselves (the time zone of the console's dates)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone

from cmsf.console import formats, preferences
from cmsf.console import forms as console_forms
from cmsf.console.access import personal
from cmsf.console.models import ConsolePreference


class PreferencesForm(console_forms.Form):
    time_zone = forms.ChoiceField(
        label=ConsolePreference._meta.get_field("time_zone").verbose_name,
        required=False,
        help_text=ConsolePreference._meta.get_field("time_zone").help_text,
        error_messages={"invalid_choice": "%(value)s is not a time zone: choose one from the list."},
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = preferences.time_zone_choices()  # type: ignore[attr-defined]


@personal
def home(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = PreferencesForm(request.POST)
        if form.is_valid():
            try:
                preferences.set_time_zone(request.user, form.cleaned_data["time_zone"])  # type: ignore[arg-type]
            except ValidationError as error:
                form.add_error(None, error)
            else:
                name = preferences.time_zone_name(request.user)
                with timezone.override(preferences.zone(name)):
                    now = formats.when(timezone.now())
                messages.success(request, f"Your preferences are saved: the console shows times in {name} ({now}).")
                return redirect("console:preferences")
        status = 400
    else:
        form = PreferencesForm(initial={"time_zone": preferences.chosen_time_zone(request.user)})
        status = 200
    context = {
        "form": form,
        "time_zone": preferences.time_zone_name(request.user),
        "org_time_zone": preferences.org_time_zone(),
        "now": timezone.now(),
    }
    return render(request, "console/preferences.html", context, status=status)


urlpatterns = [path("preferences/", home, name="preferences")]
