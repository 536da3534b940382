"""Salesforce Campaigns linked by hand to sent Campaign Monitor campaigns, and the reads the console needs to offer
both sides and to chart the campaigns' rates.

Linking and unlinking only record the link (audited): the next sync writes the linked campaign's statistics (when
that option is on) and its campaign members. Unlinking leaves what was already written in Salesforce.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from cmsf.connections import services as connections
from cmsf.maintenance.services import audit
from cmsf.salesforce import soql
from cmsf.salesforce.adapter import SalesforceAdapter
from cmsf.salesforce.ids import CAMPAIGN_PREFIX
from cmsf.salesforce.soql import contains as like_pattern  # the name search's LIKE literal
from cmsf.sync.models import CampaignLink, RecordMap
from cmsf.sync.transforms import CAMPAIGN

SECTION = "campaigns"
SALESFORCE_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
SEARCH_LIMIT = 50
SYNCED_LIMIT = 200
CHART_LIMIT = 12


class LinkRefused(Exception):
    """The link or unlink cannot be made; the message says why and what to do."""


def _synced(cm_campaign_id: str) -> RecordMap | None:
    """The ledger row of a campaign cmsf wrote as a CMSF_Campaign__c for a selected client."""
    return (
        RecordMap.objects.filter(
            sobject=CAMPAIGN.sobject, key=cm_campaign_id, client__selected=True, client__active=True
        )
        .select_related("client")
        .first()
    )


def link(
    cm_campaign_id: str, salesforce_campaign_id: str, *, actor: str, adapter: SalesforceAdapter | None = None
) -> CampaignLink:
    """Link a sent Campaign Monitor campaign (one cmsf synced) to an existing Salesforce Campaign.

    Raises LinkRefused when the Campaign Monitor campaign was not synced for a selected client, the Salesforce
    campaign does not exist, or either side is already linked; SalesforceError or NotConnected when Salesforce
    cannot be asked."""
    cm_campaign_id = cm_campaign_id.strip()
    salesforce_campaign_id = salesforce_campaign_id.strip()
    ledger = _synced(cm_campaign_id) if cm_campaign_id else None
    if ledger is None:
        raise LinkRefused(
            "This Campaign Monitor campaign is not one cmsf synced for a selected client: choose one from the list "
            "(a campaign appears after the sync that writes it)."
        )
    if not SALESFORCE_ID.match(salesforce_campaign_id):
        raise LinkRefused(
            "Choose a Salesforce campaign from the search results (a Campaign Id has 15 or 18 characters)."
        )
    existing = CampaignLink.objects.filter(cm_campaign_id=cm_campaign_id).first()
    if existing is not None and existing.is_live:
        raise LinkRefused(
            f"This Campaign Monitor campaign is already linked to {existing.salesforce_campaign_name or existing.salesforce_campaign_id}: "
            "unlink it first."
        )
    sf = adapter or connections.salesforce()
    found = list(sf.query(f"SELECT Id, Name FROM Campaign WHERE Id = {soql.quote(salesforce_campaign_id)} LIMIT 1"))
    if not found:
        raise LinkRefused(
            f"Salesforce has no campaign with the Id {salesforce_campaign_id} (it may have been deleted): search again."
        )
    campaign = found[0]
    sf_id, sf_name = str(campaign["Id"]), str(campaign.get("Name") or "")
    taken = CampaignLink.objects.filter(salesforce_campaign_id=sf_id, unlinked_at=None).first()
    if taken is not None:
        raise LinkRefused(
            f"The Salesforce campaign {sf_name} is already linked to {taken.cm_campaign_name or taken.cm_campaign_id}: "
            "a Salesforce campaign takes one Campaign Monitor campaign. Unlink it first."
        )
    cm_name = ""
    rows = list(sf.query(f"SELECT Name FROM {CAMPAIGN.sobject} WHERE Id = {soql.quote(ledger.salesforce_id)} LIMIT 1"))
    if rows:
        cm_name = str(rows[0].get("Name") or "")
    try:
        with transaction.atomic():
            # A link that was undone (by an admin, or because its Salesforce campaign was deleted) is replaced;
            # what cmsf remembered of the old Salesforce campaign goes with it.
            CampaignLink.objects.filter(cm_campaign_id=cm_campaign_id, unlinked_at__isnull=False).delete()
            RecordMap.objects.filter(sobject="Campaign", key=cm_campaign_id).delete()
            created = CampaignLink.objects.create(
                client=ledger.client,
                cm_campaign_id=cm_campaign_id,
                cm_campaign_name=cm_name,
                salesforce_campaign_id=sf_id,
                salesforce_campaign_name=sf_name,
                origin=CampaignLink.Origin.MANUAL,
                linked_by=actor,
            )
            audit(
                actor=actor,
                section=SECTION,
                action=f"Link {cm_name or cm_campaign_id} to the Salesforce campaign {sf_name}",
                before={},
                after=_state(created),
            )
    except IntegrityError:  # linked by someone else in the meantime
        raise LinkRefused("One of these campaigns was linked a moment ago: reload the page.") from None
    return created


def _state(entry: CampaignLink) -> dict[str, Any]:
    return {
        "cm_campaign_id": entry.cm_campaign_id,
        "cm_campaign_name": entry.cm_campaign_name,
        "salesforce_campaign_id": entry.salesforce_campaign_id,
        "salesforce_campaign_name": entry.salesforce_campaign_name,
        "origin": entry.origin,
    }


def unlink(cm_campaign_id: str, *, actor: str, adapter: SalesforceAdapter | None = None) -> CampaignLink:
    """Undo a link (audited). The members and statistics already written to the Salesforce campaign stay there;
    the next syncs no longer update them. The Salesforce campaign loses the Campaign Monitor campaign's id (one
    call), so the campaign can be linked to another; the link is kept as a mark, so auto-create does not make the
    campaign again."""
    entry = CampaignLink.objects.filter(cm_campaign_id=cm_campaign_id, unlinked_at=None).first()
    if entry is None:
        raise LinkRefused("This Campaign Monitor campaign is not linked (it may have been unlinked already).")
    if RecordMap.objects.filter(sobject="Campaign", key=cm_campaign_id).exists():
        sf = adapter or connections.salesforce()
        result = sf.update("Campaign", [{"Id": entry.salesforce_campaign_id, "CMSF_Campaign_Id__c": None}])[0]
        gone = any(e.code in ("ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY") for e in result.errors)
        if not result.success and not gone:
            reason = "; ".join(f"{e.code}: {e.message}" for e in result.errors)
            raise LinkRefused(f"Salesforce refused to update the campaign ({reason}): try again, or check that the "
                              "Salesforce Sync User can edit Campaigns.")  # fmt: skip
    with transaction.atomic():
        entry = CampaignLink.objects.select_for_update().get(pk=entry.pk)
        before = _state(entry)
        entry.unlinked_at = timezone.now()
        entry.unlinked_reason = f"Unlinked by {actor}."
        entry.save(update_fields=["unlinked_at", "unlinked_reason"])
        RecordMap.objects.filter(sobject="Campaign", key=cm_campaign_id).delete()
        audit(
            actor=actor,
            section=SECTION,
            action=f"Unlink {entry.cm_campaign_name or cm_campaign_id} from the Salesforce campaign "
            f"{entry.salesforce_campaign_name or entry.salesforce_campaign_id}",
            before=before,
            after={},
        )
    return entry


# -- links as settings (cmsf config) --------------------------------------------------------------------------


def manual_links() -> dict[str, str]:
    """The live links an admin made: Campaign Monitor campaign id -> Salesforce Campaign Id. Auto-created links are
    auto-create's, not settings."""
    links = CampaignLink.objects.filter(unlinked_at=None, origin=CampaignLink.Origin.MANUAL)
    return dict(links.order_by("cm_campaign_id").values_list("cm_campaign_id", "salesforce_campaign_id"))


@dataclass
class LinksPlan:
    """What a wanted set of manual links changes: the links to undo (Campaign Monitor campaign ids) and to make
    (Campaign Monitor campaign id -> Salesforce Campaign Id), or why each entry cannot be (by Campaign Monitor
    campaign id; "" for the whole set)."""

    undo: list[str]
    make: dict[str, str]
    problems: dict[str, str]


def plan_links(wanted: dict[str, Any], *, adapter: SalesforceAdapter | None = None) -> LinksPlan:
    """The manual links become exactly `wanted`; auto-created links stay unless `wanted` links their Campaign
    Monitor campaign to another Salesforce campaign. Every entry is checked before anything changes: a Campaign
    Monitor campaign cmsf synced for a selected client, a well-formed Campaign Id of a campaign Salesforce has
    (one query for all), and one Campaign Monitor campaign per Salesforce campaign. Raises SalesforceError or
    NotConnected when Salesforce cannot be asked."""
    wanted = {str(cm_id): sf_id for cm_id, sf_id in wanted.items()}
    live = {link.cm_campaign_id: link for link in CampaignLink.objects.filter(unlinked_at=None)}
    problems: dict[str, str] = {}
    make: dict[str, str] = {}
    for cm_id, sf_id in wanted.items():
        cm_id = str(cm_id)
        if not isinstance(sf_id, str) or not SALESFORCE_ID.match(sf_id.strip()):
            problems[cm_id] = f"{sf_id!r} is not a Salesforce Campaign Id (15 or 18 letters and digits)"
        elif not sf_id.strip().startswith(CAMPAIGN_PREFIX):
            problems[cm_id] = f"{sf_id} is not a Campaign Id (a Campaign Id starts with {CAMPAIGN_PREFIX})"
        elif _synced(cm_id) is None:
            problems[cm_id] = "no Campaign Monitor campaign with this id was synced for a selected client"
        elif cm_id not in live or live[cm_id].salesforce_campaign_id[:15] != sf_id.strip()[:15]:
            make[cm_id] = sf_id.strip()
    undo = [cm_id for cm_id in manual_links() if cm_id not in wanted]
    undo += [cm_id for cm_id in make if cm_id in live]  # linked elsewhere: relinked
    freed = {live[cm_id].salesforce_campaign_id[:15] for cm_id in undo}
    taken = {link.salesforce_campaign_id[:15]: cm_id for cm_id, link in live.items()}
    claimed: dict[str, str] = {}
    for cm_id, sf_id in make.items():
        holder = claimed.setdefault(sf_id[:15], cm_id)
        if holder != cm_id:
            problems[cm_id] = f"the Salesforce campaign {sf_id} is given to {holder} too: one each"
        elif sf_id[:15] in taken and sf_id[:15] not in freed:
            problems[cm_id] = f"the Salesforce campaign {sf_id} stays linked to {taken[sf_id[:15]]}"
    pending = [sf_id for cm_id, sf_id in make.items() if cm_id not in problems]
    if pending:
        sf = adapter or connections.salesforce()
        found: set[str] = set()
        for start in range(0, len(pending), 200):
            chunk = soql.quote_list(pending[start : start + 200])
            found |= {str(r["Id"])[:15] for r in sf.query(f"SELECT Id FROM Campaign WHERE Id IN ({chunk})")}
        for cm_id, sf_id in make.items():
            if cm_id not in problems and sf_id[:15] not in found:
                problems[cm_id] = f"Salesforce has no campaign with the Id {sf_id}"
    return LinksPlan(undo=undo, make={k: v for k, v in make.items() if k not in problems}, problems=problems)


def apply_links(plan: LinksPlan, *, actor: str, adapter: SalesforceAdapter | None = None) -> None:
    """Undo, then make, the links of a plan with no problems (each audited as the console's link and unlink)."""
    assert not plan.problems
    for cm_id in plan.undo:
        unlink(cm_id, actor=actor, adapter=adapter)
    for cm_id, sf_id in plan.make.items():
        link(cm_id, sf_id, actor=actor, adapter=adapter)


# -- reads -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncedCampaign:
    cm_campaign_id: str
    name: str
    client: str
    sent: datetime | None
    linked_to: str  # the linked Salesforce campaign's name, "" when not linked


def synced_campaigns(adapter: SalesforceAdapter | None = None) -> list[SyncedCampaign]:
    """The Campaign Monitor campaigns cmsf wrote to Salesforce for the selected clients, newest first: one query."""
    sf = adapter or connections.salesforce()
    soql = (
        f"SELECT Campaign_Id__c, Name, Sent_Date__c, Client__r.Name FROM {CAMPAIGN.sobject} "
        f"ORDER BY Sent_Date__c DESC NULLS LAST LIMIT {SYNCED_LIMIT}"
    )
    records = list(sf.query(soql))
    keys = [str(r.get("Campaign_Id__c") or "") for r in records]
    ours = set(
        RecordMap.objects.filter(
            sobject=CAMPAIGN.sobject, key__in=keys, client__selected=True, client__active=True
        ).values_list("key", flat=True)
    )
    links = dict(
        CampaignLink.objects.filter(cm_campaign_id__in=ours, unlinked_at=None).values_list(
            "cm_campaign_id", "salesforce_campaign_name"
        )
    )
    return [
        SyncedCampaign(
            cm_campaign_id=key,
            name=str(record.get("Name") or key),
            client=str(record.get("Client__r.Name") or ""),
            sent=parse_datetime(str(record["Sent_Date__c"])) if record.get("Sent_Date__c") else None,
            linked_to=links.get(key, ""),
        )
        for key, record in zip(keys, records, strict=True)
        if key in ours
    ]


@dataclass(frozen=True)
class SalesforceCampaign:
    salesforce_id: str
    name: str
    status: str
    start_date: Any
    linked_to: str  # the linked Campaign Monitor campaign's name, "" when not linked


def search_campaigns(term: str, adapter: SalesforceAdapter | None = None) -> list[SalesforceCampaign]:
    """Salesforce Campaigns whose name contains `term` (all when empty), newest first, at most 50: one query."""
    sf = adapter or connections.salesforce()
    where = f" WHERE Name LIKE {like_pattern(term.strip())}" if term.strip() else ""
    soql = f"SELECT Id, Name, Status, StartDate FROM Campaign{where} ORDER BY CreatedDate DESC LIMIT {SEARCH_LIMIT}"
    records = list(sf.query(soql))
    links = dict(
        CampaignLink.objects.filter(
            salesforce_campaign_id__in=[r["Id"] for r in records], unlinked_at=None
        ).values_list("salesforce_campaign_id", "cm_campaign_name")
    )
    return [
        SalesforceCampaign(
            salesforce_id=str(r["Id"]),
            name=str(r.get("Name") or ""),
            status=str(r.get("Status") or ""),
            start_date=parse_date(str(r["StartDate"])) if r.get("StartDate") else None,
            linked_to=links.get(str(r["Id"]), "") or ("linked" if str(r["Id"]) in links else ""),
        )
        for r in records
    ]


@dataclass(frozen=True)
class CampaignRates:
    name: str
    sent: datetime | None
    open_rate: float | None
    click_rate: float | None
    industry_open_rate: float | None
    industry_click_rate: float | None


def _number(value: Any) -> float | None:
    return float(value) if value is not None and value != "" else None


def recent_campaign_rates(adapter: SalesforceAdapter | None = None) -> list[CampaignRates]:
    """The newest 12 CMSF_Campaign__c records' open and click rates beside the industry rates written with them,
    newest first: one query."""
    sf = adapter or connections.salesforce()
    soql = (
        "SELECT Name, Sent_Date__c, Open_Rate__c, Click_Rate__c, Industry_Open_Rate__c, Industry_Click_Rate__c "
        f"FROM {CAMPAIGN.sobject} ORDER BY Sent_Date__c DESC NULLS LAST LIMIT {CHART_LIMIT}"
    )
    return [
        CampaignRates(
            name=str(r.get("Name") or ""),
            sent=parse_datetime(str(r["Sent_Date__c"])) if r.get("Sent_Date__c") else None,
            open_rate=_number(r.get("Open_Rate__c")),
            click_rate=_number(r.get("Click_Rate__c")),
            industry_open_rate=_number(r.get("Industry_Open_Rate__c")),
            industry_click_rate=_number(r.get("Industry_Click_Rate__c")),
        )
        for r in sf.query(soql)
    ]
