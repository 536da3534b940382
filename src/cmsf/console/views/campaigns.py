"""Salesforce Campaigns: the campaign settings and filter, the status map, the industry benchmarks with a chart of
the recent campaigns' rates beside the industry's, and Salesforce campaigns linked by hand to sent Campaign Monitor
campaigns."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cmsf.campaign_monitor.errors import CampaignMonitorError
from cmsf.connections import services as connections
from cmsf.console import formats
from cmsf.console import forms as console_forms
from cmsf.console.access import changer, viewer
from cmsf.console.confirm import Confirmation, confirm_page
from cmsf.console.forms import add_problems
from cmsf.maintenance.services import record_message
from cmsf.options import services as options
from cmsf.options.models import (
    SALESFORCE_CAMPAIGNS,
    CampaignSettings,
    CampaignStatusMapping,
    EmailActivity,
    IndustryBenchmark,
)
from cmsf.options.published import benchmark_source
from cmsf.salesforce.errors import SalesforceError
from cmsf.sync import campaign_links, storage
from cmsf.sync.models import CampaignLink

SECTION = "campaigns"
TAGS_CODE = "CMSF-CAMPAIGN-TAGS"
SALESFORCE_CODE = "CMSF-CAMPAIGN-SALESFORCE"
PREVIEW_CODE = "CMSF-CAMPAIGN-PREVIEW"
SF_ERRORS = (SalesforceError, connections.NotConnected)
CM_ERRORS = (CampaignMonitorError, connections.NotConnected)

REFRESH_HELP: dict[str, str] = {
    CampaignSettings.StatusRefresh.NEVER: "A member's status is set when the member is added and never changed.",
    CampaignSettings.StatusRefresh.ALWAYS: "Every sync sets the status of the member's newest activity.",
    CampaignSettings.StatusRefresh.ONCE_ONLY: "The first interaction is kept: once a member has one, the status "
    "no longer changes.",
}


def _problem(what: str, error: Exception, guidance: str, *, code: str) -> str:
    """An outside failure: kept as a maintenance message (not for a missing connection), said on the page."""
    if not isinstance(error, connections.NotConnected):
        record_message(support_code=code, job="CMSF_CONSOLE", message=what, details=str(error), guidance=guidance)
        return f"{what}: {error}. {guidance}"
    return f"{what}: {error}."


# -- settings --------------------------------------------------------------------------------------------------


class CampaignSettingsForm(SALESFORCE_CAMPAIGNS.form("settings", base=console_forms.ModelForm)):  # type: ignore[misc]
    """The settings as the model words and checks them; the tags and industries are the choices of the moment."""

    filter_tags = forms.MultipleChoiceField(
        required=False, label=SALESFORCE_CAMPAIGNS.field("filter_tags").verbose_name,
        widget=forms.CheckboxSelectMultiple,
    )  # fmt: skip
    industry = forms.ChoiceField(required=False, label=SALESFORCE_CAMPAIGNS.field("industry").verbose_name)

    def __init__(self, *args: Any, tags: list[tuple[str, bool]] | None, industry: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if tags is None:  # Campaign Monitor did not give its tags: the saved choice stays as it is
            del self.fields["filter_tags"]
        else:
            self._choice("filter_tags").choices = [(tag, tag) for tag, _ in tags]
        names = list(IndustryBenchmark.objects.values_list("name", flat=True))
        if industry and industry not in names:
            names.append(industry)
        self._choice("industry").choices = [("", "Choose an industry")] + [(name, name) for name in names]

    def _choice(self, name: str) -> forms.ChoiceField:
        field = self.fields[name]
        assert isinstance(field, forms.ChoiceField)
        return field


def _tags(settings: CampaignSettings) -> tuple[list[tuple[str, bool]] | None, str]:
    """The tag choices: Campaign Monitor's tags and the saved ones it no longer offers (None when Campaign Monitor
    did not give them), and why not."""
    try:
        available = options.campaign_monitor_tags()
    except CM_ERRORS as error:
        return None, _problem(
            "Campaign Monitor did not give its tags, so the tag filter cannot be changed now",
            error,
            "Try again in a few minutes; if it keeps failing, reconnect Campaign Monitor under Sync Settings.",
            code=TAGS_CODE,
        )
    return options.offered_tags(settings.filter_tags, available), ""


class FilterPreviewForm(console_forms.Form):
    """The campaign filter as typed, for its preview."""

    filter_start_date = forms.DateField(required=False)
    filter_tags = forms.CharField(required=False)  # read with getlist: several values


@viewer
@require_GET
def filter_preview(request: HttpRequest) -> HttpResponse:
    """The campaign filter's preview, swapped in by htmx as the start date or tags change (nothing saved): the
    campaigns stored in Salesforce that the filter leaves out, and their tracking-history rows."""
    form = FilterPreviewForm(request.GET)
    context: dict[str, Any] = {"preview": None, "problem": ""}
    if not form.is_valid():
        context["problem"] = "Enter the start date as YYYY-MM-DD to see what this filter would leave out."
    else:
        tags = [tag for tag in request.GET.getlist("filter_tags") if tag.strip()]
        try:
            context["preview"] = storage.campaign_filter_preview(form.cleaned_data["filter_start_date"], tags)
        except CM_ERRORS as error:
            context["problem"] = _problem(
                "Campaign Monitor did not give its campaigns, so the filter cannot be previewed now",
                error,
                "Try again in a few minutes; if it keeps failing, reconnect Campaign Monitor under Sync Settings.",
                code=PREVIEW_CODE,
            )
    return render(request, "console/campaigns/_filter_preview.html", context)


class StatusMapForm(console_forms.Form):
    """One row per activity: `label_<activity>` and `responded_<activity>`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for activity in EmailActivity.values:
            self.fields[f"label_{activity}"] = forms.CharField(
                max_length=200, required=False, strip=False, label="Salesforce member status"
            )
            self.fields[f"responded_{activity}"] = forms.BooleanField(required=False, label="Responded")

    def rows(self) -> dict[str, tuple[str, bool]]:
        return {a: (self.cleaned_data[f"label_{a}"], self.cleaned_data[f"responded_{a}"]) for a in EmailActivity.values}

    def table(self) -> list[dict[str, Any]]:
        return [
            {
                "activity": activity,
                "title": label,
                "label": self[f"label_{activity}"],
                "responded": self[f"responded_{activity}"],
                "errors": self.errors.get(f"label_{activity}", []),
            }
            for activity, label in EmailActivity.choices
        ]


def _status_initial() -> dict[str, Any]:
    initial: dict[str, Any] = {}
    for row in CampaignStatusMapping.objects.all():
        initial[f"label_{row.activity}"] = row.status_label
        initial[f"responded_{row.activity}"] = row.responded
    return initial


def _date_value(value: Any) -> str:
    if isinstance(value, date):
        return value.isoformat()
    return "" if value is None else str(value)


def _home(
    request: HttpRequest,
    *,
    form: CampaignSettingsForm | None = None,
    status_form: StatusMapForm | None = None,
    tags: list[tuple[str, bool]] | None = None,
    tags_problem: str = "",
    status: int = 200,
) -> HttpResponse:
    settings = CampaignSettings.load()
    if form is None:
        tags, tags_problem = _tags(settings)
        form = CampaignSettingsForm(instance=settings, tags=tags, industry=settings.industry)
    if tags_problem:
        messages.error(request, tags_problem)
    context = {
        "active_section": SECTION,
        "tab": "settings",
        "settings": settings,
        "form": form,
        "tags": tags,
        "chosen_tags": [str(v) for v in (form["filter_tags"].value() or [])] if "filter_tags" in form.fields else [],
        "tags_problem": tags_problem,
        "start_date_value": _date_value(form["filter_start_date"].value()),
        "refresh_choices": [(v, label, REFRESH_HELP[v]) for v, label in CampaignSettings.StatusRefresh.choices],
        "status_form": status_form or StatusMapForm(initial=_status_initial()),
        "links": CampaignLink.objects.filter(unlinked_at=None).count(),
    }
    return render(request, "console/campaigns/home.html", context, status=status)


@viewer
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return _home(request)


@require_POST
@changer
def save_settings(request: HttpRequest) -> HttpResponse:
    """Save the campaign settings (audited); bad input is shown next to its field and nothing is saved."""
    settings = CampaignSettings.load()
    tags, tags_problem = _tags(settings)
    form = CampaignSettingsForm(request.POST, tags=tags, industry=settings.industry)
    if form.is_valid():
        values = {name: form.cleaned_data[name] for name in options.CAMPAIGN_FIELDS if name in form.fields}
        try:
            saved = options.save_campaign_settings(values, actor=request.user.get_username(), now=timezone.now())
        except ValidationError as error:
            add_problems(form, error.message_dict)
        else:
            messages.success(request, _settings_said(settings, saved))
            return redirect("console:campaigns")
    return _home(request, form=form, tags=tags, tags_problem=tags_problem, status=400)


def _settings_said(before: CampaignSettings, after: CampaignSettings) -> str:
    said = ["The Salesforce Campaigns settings are saved."]
    if after.auto_create_campaigns and not before.auto_create_campaigns and after.auto_create_since:
        when = formats.when(after.auto_create_since)
        said.append(f"Campaigns sent from {when} get a Salesforce campaign; earlier ones do not.")
    if not after.auto_create_campaigns and before.auto_create_campaigns:
        said.append("No more Salesforce campaigns are created; those already created stay linked.")
    return " ".join(said)


@require_POST
@changer
def save_status_map(request: HttpRequest) -> HttpResponse:
    """Save the status map (audited, all rows or none)."""
    status_form = StatusMapForm(request.POST)
    if status_form.is_valid():
        try:
            options.save_status_map(status_form.rows(), actor=request.user.get_username())
        except ValidationError as error:
            for activity, errors in error.message_dict.items():
                status_form.add_error(f"label_{activity}" if activity in EmailActivity.values else None, errors)
        else:
            messages.success(
                request,
                "The status map is saved: the next sync sets campaign members' statuses with it"
                + (
                    " and adds the missing statuses to linked campaigns."
                    if CampaignSettings.load().auto_create_missing_statuses
                    else "."
                ),
            )
            return redirect(f"{reverse('console:campaigns')}#status-map")
    return _home(request, status_form=status_form, status=400)


# -- industry benchmarks and the chart --------------------------------------------------------------------------


class BenchmarkForm(console_forms.Form):
    name = forms.CharField(max_length=100, label="Industry", error_messages={"required": "Enter the industry's name."})
    open_rate = forms.DecimalField(
        label="Average open rate (%)",
        min_value=Decimal("0"),
        max_value=Decimal("100"),
        max_digits=5,
        decimal_places=2,
        error_messages={"required": "Enter the open rate, a percentage from 0 to 100."},
    )
    click_rate = forms.DecimalField(
        label="Average click rate (%)",
        min_value=Decimal("0"),
        max_value=Decimal("100"),
        max_digits=5,
        decimal_places=2,
        error_messages={"required": "Enter the click rate, a percentage from 0 to 100."},
    )
    source = forms.CharField(
        required=False,
        max_length=1000,
        label="Source",
        help_text="Where the figures are published: title and address.",
    )


def _chart(settings: CampaignSettings) -> dict[str, Any]:
    """The recent campaigns' rates beside the industry's, read from Salesforce (one query)."""
    try:
        rows = campaign_links.recent_campaign_rates()
    except SF_ERRORS as error:
        problem = _problem(
            "Salesforce did not give the campaigns' rates",
            error,
            "Check the Salesforce connection under Sync Settings and try again.",
            code=SALESFORCE_CODE,
        )
        return {"problem": problem, "bars": []}
    chosen = IndustryBenchmark.objects.filter(name=settings.industry).first() if settings.industry else None
    groups: list[tuple[campaign_links.CampaignRates, bool, list[tuple[str, float | None, str]]]] = []
    for row in rows:  # newest first: the chart and its table open on the latest campaigns
        industry_open, industry_click = row.industry_open_rate, row.industry_click_rate
        from_settings = industry_open is None and chosen is not None
        if chosen is not None and from_settings:
            industry_open, industry_click = chosen.rates()
        values = [
            ("Open rate", row.open_rate, "open"),
            ("Industry open rate", industry_open, "industry-open"),
            ("Click rate", row.click_rate, "click"),
            ("Industry click rate", industry_click, "industry-click"),
        ]
        groups.append((row, from_settings, values))
    scale = max([10.0] + [v for _, _, values in groups for _, v, _ in values if v is not None])
    bars = [
        {
            "name": row.name,
            "sent": row.sent,
            "from_settings": from_settings,
            "values": [
                {"label": label, "value": value, "kind": kind, "height": round(100 * (value or 0) / scale, 1)}
                for label, value, kind in values
            ],
        }
        for row, from_settings, values in groups
    ]
    return {"problem": "", "bars": bars, "scale": scale, "chosen": chosen}


def _benchmarks(
    request: HttpRequest,
    *,
    form: BenchmarkForm | None = None,
    editing: IndustryBenchmark | None = None,
    status: int = 200,
) -> HttpResponse:
    settings = CampaignSettings.load()
    chart = _chart(settings)
    if chart["problem"]:
        messages.error(request, chart["problem"])
    if form is None:
        initial = (
            {
                "name": editing.name,
                "open_rate": editing.open_rate,
                "click_rate": editing.click_rate,
                "source": editing.source,
            }
            if editing
            else {}
        )
        form = BenchmarkForm(initial=initial)
    context = {
        "active_section": SECTION,
        "tab": "benchmarks",
        "settings": settings,
        "benchmarks": IndustryBenchmark.objects.all(),
        "form": form,
        "editing": editing,
        "chart": chart,
        "published": benchmark_source(),
    }
    return render(request, "console/campaigns/benchmarks.html", context, status=status)


@viewer
@require_GET
def benchmarks(request: HttpRequest) -> HttpResponse:
    """The industry benchmarks (?edit=<id> opens one in the form) and the chart."""
    edit = request.GET.get("edit", "")
    editing = IndustryBenchmark.objects.filter(pk=int(edit)).first() if edit.isdigit() else None
    return _benchmarks(request, editing=editing)


@require_POST
@changer
def save_benchmark(request: HttpRequest) -> HttpResponse:
    """Add an industry benchmark, or edit the one named by `id` (audited)."""
    raw_id = request.POST.get("id", "")
    editing = get_object_or_404(IndustryBenchmark, pk=int(raw_id)) if raw_id.isdigit() else None
    form = BenchmarkForm(request.POST)
    if form.is_valid():
        try:
            row = options.save_industry_benchmark(
                editing.pk if editing else None, **form.cleaned_data, actor=request.user.get_username()
            )
        except ValidationError as error:
            add_problems(form, error.message_dict)
        else:
            messages.success(request, f"The industry benchmark {row.name} is saved.")
            return redirect("console:campaigns_benchmarks")
    return _benchmarks(request, form=form, editing=editing, status=400)


@require_POST
@changer
def delete_benchmark(request: HttpRequest, benchmark_id: int) -> HttpResponse:
    """Delete an industry benchmark (audited); refused while the settings compare with it."""
    get_object_or_404(IndustryBenchmark, pk=benchmark_id)
    try:
        name = options.delete_industry_benchmark(benchmark_id, actor=request.user.get_username())
    except options.BenchmarkInUse as refused:
        messages.error(request, str(refused))
    else:
        messages.success(request, f"The industry benchmark {name} is deleted.")
    return redirect("console:campaigns_benchmarks")


# -- manual links -----------------------------------------------------------------------------------------------


def _links(request: HttpRequest, *, chosen_cm: str = "", chosen_sf: str = "", status: int = 200) -> HttpResponse:
    term = request.GET.get("q", "")[:80]
    context: dict[str, Any] = {
        "active_section": SECTION,
        "tab": "links",
        "links": CampaignLink.objects.all(),
        "term": term,
        "chosen_cm": chosen_cm or request.GET.get("cm", ""),
        "chosen_sf": chosen_sf,
        "problem": "",
        "settings": CampaignSettings.load(),
    }
    try:
        context["cm_campaigns"] = campaign_links.synced_campaigns()
        context["sf_campaigns"] = campaign_links.search_campaigns(term)
    except SF_ERRORS as error:
        context["problem"] = _problem(
            "Salesforce did not give the campaigns to link",
            error,
            "Check the Salesforce connection under Sync Settings and try again.",
            code=SALESFORCE_CODE,
        )
        messages.error(request, context["problem"])
    return render(request, "console/campaigns/links.html", context, status=status)


@viewer
@require_GET
def links(request: HttpRequest) -> HttpResponse:
    """The links, and both sides to pick from: ?q= searches the Salesforce campaigns by name."""
    return _links(request)


@require_POST
@changer
def link(request: HttpRequest) -> HttpResponse:
    cm_id = request.POST.get("cm_campaign_id", "")
    sf_id = request.POST.get("salesforce_campaign_id", "")
    if not cm_id or not sf_id:
        messages.error(request, "Choose a Campaign Monitor campaign and a Salesforce campaign to link.")
        return _links(request, chosen_cm=cm_id, chosen_sf=sf_id, status=400)
    try:
        created = campaign_links.link(cm_id, sf_id, actor=request.user.get_username())
    except campaign_links.LinkRefused as refused:
        messages.error(request, str(refused))
        return _links(request, chosen_cm=cm_id, chosen_sf=sf_id, status=400)
    except SF_ERRORS as error:
        messages.error(
            request,
            _problem(
                "Linking failed: Salesforce did not answer",
                error,
                "Check the Salesforce connection under Sync Settings and try again.",
                code=SALESFORCE_CODE,
            ),
        )
        return redirect("console:campaigns_links")
    messages.success(
        request,
        f"{created.cm_campaign_name or created.cm_campaign_id} is linked to {created.salesforce_campaign_name}. "
        "The next sync writes its campaign members"
        + (
            " and Campaign Monitor's statistics."
            if CampaignSettings.load().update_linked_campaign_statistics
            else " (turn on the statistics option to write Campaign Monitor's statistics too)."
        ),
    )
    return redirect("console:campaigns_links")


@require_http_methods(["GET", "POST"])
@changer
def unlink(request: HttpRequest) -> HttpResponse:
    """Unlink a campaign: a GET asks first, saying what happens; the POST does it."""
    if request.method == "GET":
        entry = get_object_or_404(CampaignLink, cm_campaign_id=request.GET.get("cm_campaign_id", ""), unlinked_at=None)
        name = entry.cm_campaign_name or entry.cm_campaign_id
        sf_name = entry.salesforce_campaign_name or entry.salesforce_campaign_id
        confirmation = Confirmation(
            title=f"Unlink {name}?",
            warning=f"{name} will no longer update the Salesforce campaign {sf_name}.",
            consequences=(
                "The members and statistics already written stay on the Salesforce campaign; the next syncs no "
                "longer update them.",
                "The Salesforce campaign loses the Campaign Monitor campaign's id, so it can be linked to another.",
                "Auto-create does not make the campaign again: link it again here to go on.",
            ),
            action=reverse("console:campaigns_unlink"),
            cancel=reverse("console:campaigns_links"),
            button="Unlink",
            fields=(("cm_campaign_id", entry.cm_campaign_id),),
        )
        return confirm_page(request, confirmation, section=SECTION)
    try:
        removed = campaign_links.unlink(request.POST.get("cm_campaign_id", ""), actor=request.user.get_username())
    except campaign_links.LinkRefused as refused:
        messages.error(request, str(refused))
    else:
        messages.success(
            request,
            f"{removed.cm_campaign_name or removed.cm_campaign_id} is no longer linked to "
            f"{removed.salesforce_campaign_name}. The members and statistics already written stay in Salesforce; "
            "the next syncs no longer update them.",
        )
    return redirect("console:campaigns_links")


urlpatterns = [
    path("campaigns", home, name="campaigns"),
    path("campaigns/settings", save_settings, name="campaigns_settings"),
    path("campaigns/filter-preview", filter_preview, name="campaigns_filter_preview"),
    path("campaigns/status-map", save_status_map, name="campaigns_status_map"),
    path("campaigns/benchmarks", benchmarks, name="campaigns_benchmarks"),
    path("campaigns/benchmarks/save", save_benchmark, name="campaigns_benchmark_save"),
    path("campaigns/benchmarks/<int:benchmark_id>/delete", delete_benchmark, name="campaigns_benchmark_delete"),
    path("campaigns/links", links, name="campaigns_links"),
    path("campaigns/links/link", link, name="campaigns_link"),
    path("campaigns/links/unlink", unlink, name="campaigns_unlink"),
]
