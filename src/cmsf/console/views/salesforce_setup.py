"""Salesforce setup, a card of the Maintenance page: Check schema, Apply page layouts, Remove page layouts.

The card (`maintenance/_salesforce_setup.html`) shows the signed-in user's last schema check and last layouts
deploy, kept in their session; its own page (`salesforce_setup/home.html`) shows the card alone.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from cmsf.connections import salesforce_setup as setup
from cmsf.console.access import changer, viewer
from cmsf.console.confirm import Confirmation, confirm_page

SESSION_KEY = "salesforce_setup"  # {"schema": SchemaCheck.as_dict(), "layouts": LayoutsResult.as_dict()}
ANCHOR = "#salesforce-setup"


def remember(request: HttpRequest, key: str, value: dict[str, Any]) -> None:
    stored = dict(request.session.get(SESSION_KEY) or {})
    stored[key] = value
    request.session[SESSION_KEY] = stored


def _back(request: HttpRequest) -> HttpResponse:
    """Back to the page the card was on (the Maintenance page or the card's own), never to another site."""
    target = request.POST.get("next", "")
    safe = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    if target and safe:
        return redirect(target.split("#", 1)[0] + ANCHOR)
    return redirect("console:salesforce_setup")


@viewer
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "console/salesforce_setup/home.html", {"active_section": "maintenance"})


@require_POST
@changer
def schema_check(request: HttpRequest) -> HttpResponse:
    """Check schema: what the connected org lacks of cmsf's objects, fields and permission sets."""
    try:
        report = setup.check_schema()
    except setup.SetupError as error:
        messages.error(request, str(error))
        return _back(request)
    remember(request, "schema", report.as_dict())
    if report.ok:
        messages.success(
            request, "Everything is in place: the org has every object, field and permission set cmsf needs."
        )
    else:
        missing = len(report.missing_objects) + len(report.missing_fields) + len(report.missing_permission_sets)
        messages.warning(
            request, f"The org lacks {missing} thing{'s' if missing != 1 else ''} cmsf needs: see the list below."
        )
    return _back(request)


def _layouts(request: HttpRequest, action: str) -> HttpResponse:
    run = setup.apply_page_layouts if action == "apply" else setup.remove_page_layouts
    try:
        result = run(actor=request.user.get_username())
    except setup.DeployFailed as error:
        remember(request, "layouts", error.result.as_dict())
        messages.error(request, str(error))
        return _back(request)
    except setup.SetupError as error:
        messages.error(request, str(error))
        return _back(request)
    remember(request, "layouts", result.as_dict())
    if action == "apply":
        kept = f" A copy of {', '.join(result.backed_up)} was kept; Remove puts it back." if result.backed_up else ""
        messages.success(request, f"Page layouts applied: {len(result.saved)} layouts deployed to Salesforce.{kept}")
    else:
        restored = (
            f"{', '.join(result.restored)} put back as they were before cmsf applied its layouts"
            if result.restored
            else "the Contact and Lead layouts deployed without cmsf's related lists"
        )
        messages.success(
            request, f"Page layouts removed: {len(result.deleted)} layouts of cmsf's objects deleted, and {restored}."
        )
    return _back(request)


def _layouts_confirmation(request: HttpRequest, action: str) -> HttpResponse:
    """Before a deploy: each layout of the org it changes, and how."""
    target = request.GET.get("next", "")
    safe = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    back = target.split("#", 1)[0] + ANCHOR if target and safe else reverse("console:salesforce_setup")
    consequences: tuple[str, ...]
    if action == "apply":
        warning = (
            "Applying replaces the org's Contact Layout and Lead Layout with cmsf's versions. A copy of your current "
            "layouts is kept; Remove puts them back."
        )
        consequences = (
            "The layouts of cmsf's own objects are created, or replaced by cmsf's versions.",
            "If cmsf already keeps a copy from an earlier Apply, that first copy is kept, not the current layouts.",
            "If Salesforce does not let cmsf read the current layouts, nothing is changed.",
            "A deploy is all or nothing: if Salesforce refuses one layout, none changes.",
        )
    else:
        warning = (
            "Removing deletes the layouts of cmsf's objects and puts the org's Contact Layout and Lead Layout back "
            "from the copy kept when cmsf applied its layouts: changes made to them in Salesforce since then are "
            "lost. A layout cmsf has no copy of is replaced by cmsf's version without its related lists."
        )
        consequences = (
            "Records of cmsf's objects then show on Salesforce's default layouts.",
            "A deploy is all or nothing: if Salesforce refuses one layout, none changes.",
        )
    title = "Apply page layouts?" if action == "apply" else "Remove page layouts?"
    confirmation = Confirmation(
        title=title,
        warning=warning,
        consequences=consequences,
        action=reverse(f"console:salesforce_layouts_{action}"),
        cancel=back,
        button="Apply page layouts" if action == "apply" else "Remove page layouts",
        fields=(("next", target if safe else ""),),
        changes=setup.layout_changes(action),
        changes_heading="What changes in the org",
    )
    return confirm_page(request, confirmation, section="maintenance")


@require_http_methods(["GET", "POST"])
@changer
def layouts_apply(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _layouts_confirmation(request, "apply")
    return _layouts(request, "apply")


@require_http_methods(["GET", "POST"])
@changer
def layouts_remove(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _layouts_confirmation(request, "remove")
    return _layouts(request, "remove")


urlpatterns = [
    path("maintenance/salesforce-setup", home, name="salesforce_setup"),
    path("maintenance/salesforce-setup/schema-check", schema_check, name="salesforce_schema_check"),
    path("maintenance/salesforce-setup/layouts/apply", layouts_apply, name="salesforce_layouts_apply"),
    path("maintenance/salesforce-setup/layouts/remove", layouts_remove, name="salesforce_layouts_remove"),
]
