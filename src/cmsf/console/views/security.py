"""User Security: console users and their permission set, the Salesforce users who hold cmsf's Salesforce
permission sets (assign and remove through the API), and the HTTP API's tokens (CM Full Access only: made, shown
once, revoked after a confirmation)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import password_validators_help_text_html, validate_password
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_http_methods, require_POST

from cmsf.api import tokens
from cmsf.api.models import DEFAULT_RATE_PER_MINUTE, ApiToken
from cmsf.connections import permissions
from cmsf.console import forms as console_forms
from cmsf.console import users
from cmsf.console.access import can_change, changer, viewer
from cmsf.console.confirm import Confirmation, confirm_page
from cmsf.console.permission_sets import FULL_ACCESS, USER_ACCESS

PERMISSION_SET_CHOICES = [(FULL_ACCESS, FULL_ACCESS), (USER_ACCESS, USER_ACCESS)]


class AddUserForm(console_forms.Form):
    email = forms.EmailField(label="Email", max_length=150, help_text="The user signs in with this email.")
    permission_set = forms.ChoiceField(label="Permission set", choices=PERMISSION_SET_CHOICES, initial=USER_ACCESS)
    password1 = forms.CharField(label="Password", strip=False, widget=forms.PasswordInput)
    password2 = forms.CharField(label="Password again", strip=False, widget=forms.PasswordInput)

    def clean_email(self) -> str:
        email = str(self.cleaned_data["email"]).strip()
        if get_user_model().objects.filter(username__iexact=email).exists():
            raise ValidationError("A console user with this email already exists.")
        return email

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        first, second = data.get("password1"), data.get("password2")
        if first and second and first != second:
            self.add_error("password2", "The two passwords differ: type the same password twice.")
        elif first:
            user_model = get_user_model()
            email = data.get("email") or ""
            try:
                validate_password(first, user_model(username=email, email=email))
            except ValidationError as error:
                self.add_error("password1", error)
        return data


class ApiTokenForm(console_forms.Form):
    name = forms.CharField(label="Token name", max_length=80, help_text="Such as salesforce-flows: it names the "
                           "token in the audit log.")  # fmt: skip
    scopes = forms.MultipleChoiceField(
        label="Scopes", choices=ApiToken.Scope.choices, widget=forms.CheckboxSelectMultiple,
        help_text="What the token may do.",
    )  # fmt: skip
    rate_per_minute = forms.IntegerField(label="Calls a minute at most", min_value=1, max_value=tokens.MAX_RATE,
                                         initial=DEFAULT_RATE_PER_MINUTE)  # fmt: skip


def _page(
    request: HttpRequest,
    *,
    add_form: AddUserForm | None = None,
    token_form: ApiTokenForm | None = None,
    new_token: tokens.Made | None = None,
    status: int = 200,
) -> HttpResponse:
    salesforce: permissions.SecurityOverview | None = None
    salesforce_error = ""
    try:
        salesforce = permissions.overview()
    except permissions.PermissionSetError as error:
        salesforce_error = str(error)
    context = {
        "active_section": "security",
        "console_users": users.console_users(),
        "permission_set_choices": PERMISSION_SET_CHOICES,
        "add_form": add_form or AddUserForm(),
        "password_help": password_validators_help_text_html(),
        "salesforce": salesforce,
        "salesforce_error": salesforce_error,
        "sf_permission_sets": permissions.cmsf_permission_sets(),
        "api_tokens": tokens.tokens() if can_change(request) else [],
        "token_form": token_form or ApiTokenForm(),
        "new_token": new_token,
    }
    return render(request, "console/security/home.html", context, status=status)


@viewer
def home(request: HttpRequest) -> HttpResponse:
    return _page(request)


@require_POST
@changer
def add_user(request: HttpRequest) -> HttpResponse:
    form = AddUserForm(request.POST)
    if form.is_valid():
        try:
            user = users.add_user(
                email=form.cleaned_data["email"],
                permission_set=form.cleaned_data["permission_set"],
                password=form.cleaned_data["password1"],
                actor=request.user.get_username(),
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(
                request, f"{user.get_username()} can now sign in with {form.cleaned_data['permission_set']}."
            )
            return redirect("console:security")
    return _page(request, add_form=form, status=400)


@require_POST
@changer
def user_permission_set(request: HttpRequest, user_id: int) -> HttpResponse:
    user = get_object_or_404(get_user_model(), pk=user_id)
    chosen = request.POST.get("permission_set", "")
    try:
        users.change_permission_set(user.pk, chosen, actor=request.user.get_username(), actor_id=request.user.pk)
    except users.UserChangeRefused as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"{user.get_username()}: {chosen or 'no permission set'}.")
    return redirect("console:security")


@require_POST
@changer
def user_active(request: HttpRequest, user_id: int) -> HttpResponse:
    user = get_object_or_404(get_user_model(), pk=user_id)
    active = request.POST.get("active") == "on"
    try:
        users.set_active(user.pk, active, actor=request.user.get_username(), actor_id=request.user.pk)
    except users.UserChangeRefused as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"{user.get_username()} is {'active again' if active else 'deactivated'}.")
    return redirect("console:security")


@require_POST
@changer
def salesforce_assign(request: HttpRequest) -> HttpResponse:
    try:
        permissions.assign(
            request.POST.get("user_id", ""), request.POST.get("permission_set", ""), actor=request.user.get_username()
        )
    except permissions.PermissionSetError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"{request.POST.get('permission_set')} assigned in Salesforce.")
    return redirect("console:security")


@require_POST
@changer
def salesforce_remove(request: HttpRequest, assignment_id: str) -> HttpResponse:
    try:
        removed = permissions.remove(assignment_id, actor=request.user.get_username())
    except permissions.PermissionSetError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"{removed.permission_set} removed from {removed.assignee_name} in Salesforce.")
    return redirect("console:security")


@require_POST
@changer
def api_token_create(request: HttpRequest) -> HttpResponse:
    """Make a token and show it on the page this once (never through a redirect: it is kept nowhere)."""
    form = ApiTokenForm(request.POST)
    if form.is_valid():
        try:
            made = tokens.create(
                form.cleaned_data["name"],
                scopes=list(form.cleaned_data["scopes"]),
                rate_per_minute=form.cleaned_data["rate_per_minute"],
                actor=request.user.get_username(),
            )
        except tokens.TokenError as error:
            form.add_error("name", str(error))
        else:
            return _page(request, new_token=made)
    return _page(request, token_form=form, status=400)


@require_http_methods(["GET", "POST"])
@changer
def api_token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    """Revoke a token: a GET asks first, saying what happens; the POST does it."""
    token = get_object_or_404(ApiToken, pk=token_id, revoked_at=None)
    if request.method == "GET":
        confirmation = Confirmation(
            title=f"Revoke the API token {token.name}?",
            warning=f"Every call made with {token.name} ({token.prefix}...) is refused from now on.",
            consequences=(
                "Salesforce Flows and other callers that use it get 401 until they are given another token.",
                "The token stays listed as revoked, and its calls stay in the audit log.",
                "A revoked token cannot be used again: make a new one instead.",
            ),
            action=reverse("console:security_api_token_revoke", args=[token.pk]),
            cancel=reverse("console:security"),
            button="Revoke",
        )
        return confirm_page(request, confirmation, section="security")
    try:
        tokens.revoke(token.name, actor=request.user.get_username())
    except tokens.TokenError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"The API token {token.name} is revoked.")
    return redirect("console:security")


urlpatterns = [
    path("security/", home, name="security"),
    path("security/users/add", add_user, name="security_add_user"),
    path("security/users/<int:user_id>/permission-set", user_permission_set, name="security_user_permission_set"),
    path("security/users/<int:user_id>/active", user_active, name="security_user_active"),
    path("security/salesforce/assign", salesforce_assign, name="security_sf_assign"),
    path("security/salesforce/<str:assignment_id>/remove", salesforce_remove, name="security_sf_remove"),
    path("security/api-tokens/create", api_token_create, name="security_api_token_create"),
    path("security/api-tokens/<int:token_id>/revoke", api_token_revoke, name="security_api_token_revoke"),
]
