"""The Salesforce Campaigns section: settings, status map, industry benchmarks and the chart, manual links."""

from __future__ import annotations

import datetime as dt
import importlib
import re
from decimal import Decimal
from importlib import resources

import pytest
import yaml
from django.apps import apps as django_apps
from django.core.exceptions import ValidationError
from django.urls import reverse

from cmsf.campaign_monitor.api import CampaignMonitor
from cmsf.campaign_monitor.errors import CampaignMonitorError
from cmsf.connections import services as connections
from cmsf.connections.models import CampaignMonitorClient
from cmsf.maintenance.models import AuditEntry, MaintenanceMessage
from cmsf.options import services as options
from cmsf.options.models import CampaignSettings, CampaignStatusMapping, IndustryBenchmark
from cmsf.sync import campaign_links
from cmsf.sync import services as sync
from cmsf.sync.models import CampaignLink, RecordMap

pytestmark = pytest.mark.django_db

CAMPAIGN_MONITOR = "https://www.campaignmonitor.com/resources/guides/email-marketing-benchmarks/"
T1 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
T2 = dt.datetime(2026, 3, 5, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def connected(start_emulators):
    return start_emulators(33)


@pytest.fixture
def synced(connected):
    """Both emulators, and a sync of every selected client: CMSF_Campaign__c records in the org and the ledger."""
    for client in CampaignMonitorClient.objects.filter(selected=True):
        sync.sync_client(client=client)
    assert RecordMap.objects.filter(sobject="CMSF_Campaign__c").exists()
    return connected


def _settings_post(**overrides):
    data = {"member_status_refresh": "always"}
    data.update(overrides)
    return data


# -- settings ------------------------------------------------------------------------------------------------


def test_auto_create_since_is_set_once_when_turned_on_and_cleared_when_off(alice):
    settings = options.save_campaign_settings({"auto_create_campaigns": True}, actor="alice", now=T1)
    assert settings.auto_create_since == T1
    options.save_campaign_settings({"auto_create_campaigns": True, "filter_tags": ["News"]}, actor="alice", now=T2)
    assert CampaignSettings.load().auto_create_since == T1  # still on: not moved
    options.save_campaign_settings({"auto_create_campaigns": False}, actor="alice", now=T2)
    assert CampaignSettings.load().auto_create_since is None
    entries = list(AuditEntry.objects.filter(section="campaigns").order_by("id"))
    assert len(entries) == 3
    assert entries[0].after == {"auto_create_campaigns": True, "auto_create_since": T1.isoformat()}
    assert entries[1].after == {"filter_tags": ["News"]}
    assert entries[2].before == {"auto_create_campaigns": True, "auto_create_since": T1.isoformat()}


def test_the_settings_form_saves_audits_and_says_from_when(client, alice):
    client.force_login(alice)
    response = client.post(
        reverse("console:campaigns_settings"),
        _settings_post(
            update_linked_campaign_statistics="on",
            auto_create_campaigns="on",
            filter_start_date="2026-01-31",
            industry_benchmarks="on",
            industry="Professional Services",
            member_status_refresh="once_only",
            auto_create_missing_statuses="on",
        ),
        follow=True,
    )
    settings = CampaignSettings.load()
    assert settings.update_linked_campaign_statistics and settings.auto_create_campaigns
    assert settings.auto_create_since is not None
    assert settings.filter_start_date == dt.date(2026, 1, 31)
    assert (settings.industry_benchmarks, settings.industry) == (True, "Professional Services")
    assert settings.member_status_refresh == "once_only" and settings.auto_create_missing_statuses
    html = response.content.decode()
    assert "get a Salesforce campaign; earlier ones" in html and "not retrospective" in html
    entry = AuditEntry.objects.get(section="campaigns")
    assert entry.actor == "alice@example.com" and entry.after["industry"] == "Professional Services"


def test_benchmarks_on_without_an_industry_is_shown_next_to_the_field_and_nothing_saves(client, alice):
    client.force_login(alice)
    response = client.post(
        reverse("console:campaigns_settings"),
        _settings_post(
            industry_benchmarks="on", industry="", filter_start_date="2025-12-24", auto_create_campaigns="on"
        ),
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert 'data-error-for="industry"' in html and "Choose the industry to compare with" in html
    assert 'value="2025-12-24"' in html  # what was typed is kept
    settings = CampaignSettings.load()
    assert (
        not settings.industry_benchmarks and not settings.auto_create_campaigns and settings.filter_start_date is None
    )
    assert not AuditEntry.objects.filter(section="campaigns").exists()


def test_an_industry_not_in_the_table_is_refused_by_the_service(alice):
    with pytest.raises(ValidationError) as refused:
        options.save_campaign_settings({"industry_benchmarks": True, "industry": "Knitting"}, actor="a", now=T1)
    assert "industry" in refused.value.message_dict
    assert not CampaignSettings.load().industry_benchmarks


def test_tags_are_offered_from_campaign_monitor_and_a_vanished_tag_is_kept_and_marked(client, alice, connected):
    cm = connections.campaign_monitor()
    expected = set()
    for c in CampaignMonitorClient.objects.filter(selected=True):
        expected.update(cm.tags(c.cm_client_id))
    assert expected, "the tiny world has tagged campaigns"
    settings = CampaignSettings.load()
    settings.filter_tags = ["Retired tag"]
    settings.save()
    client.force_login(alice)
    html = client.get(reverse("console:campaigns")).content.decode()
    for tag in expected:
        assert f'value="{tag}"' in html
    assert 'value="Retired tag" checked' in html and 'data-testid="tag-gone"' in html
    chosen = sorted(expected)[0]
    client.post(reverse("console:campaigns_settings"), _settings_post(filter_tags=[chosen, "Retired tag"]))
    assert CampaignSettings.load().filter_tags == [chosen, "Retired tag"]
    # a tag Campaign Monitor does not offer and that was not saved before cannot be slipped in
    response = client.post(reverse("console:campaigns_settings"), _settings_post(filter_tags=["Invented"]))
    assert response.status_code == 400 and 'data-error-for="filter_tags"' in response.content.decode()


def test_a_campaign_monitor_failure_shows_the_page_without_tags_and_says_why(client, alice, connected, monkeypatch):
    def fail(self, client_id):
        raise CampaignMonitorError(
            "Campaign Monitor answered 500", endpoint="GET /clients/{clientid}/tags.json", status=500
        )

    monkeypatch.setattr(CampaignMonitor, "tags", fail)
    settings = CampaignSettings.load()
    settings.filter_tags = ["Kept"]
    settings.save()
    client.force_login(alice)
    response = client.get(reverse("console:campaigns"))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="tags-unavailable"' in html and "Campaign Monitor answered 500" in html
    assert MaintenanceMessage.objects.filter(support_code="CMSF-CAMPAIGN-TAGS").exists()
    client.post(reverse("console:campaigns_settings"), _settings_post(auto_create_missing_statuses="on"))
    saved = CampaignSettings.load()
    assert saved.auto_create_missing_statuses and saved.filter_tags == ["Kept"]  # the tags stay as saved


# -- status map ----------------------------------------------------------------------------------------------


def _status_post(**overrides):
    data = {}
    for row in CampaignStatusMapping.objects.all():
        data[f"label_{row.activity}"] = row.status_label
        if row.responded:
            data[f"responded_{row.activity}"] = "on"
    data.update(overrides)
    return data


def test_the_status_map_saves_stripped_labels_and_is_audited(client, alice):
    client.force_login(alice)
    response = client.post(reverse("console:campaigns_status_map"), _status_post(label_clicked="  Clicked a link "))
    assert response.status_code == 302
    assert CampaignStatusMapping.objects.get(activity="clicked").status_label == "Clicked a link"
    entry = AuditEntry.objects.get(section="campaigns", action="Change the status map")
    assert entry.after == {"clicked": {"label": "Clicked a link", "responded": True}}


def test_a_label_of_41_characters_is_refused_next_to_its_row(client, alice):
    client.force_login(alice)
    long_label = "x" * 41
    response = client.post(
        reverse("console:campaigns_status_map"), _status_post(label_opened=long_label, label_sent="Emailed")
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert 'data-error-for="label_opened"' in html and "at most 40 characters" in html
    assert f'value="{long_label}"' in html and 'value="Emailed"' in html
    assert CampaignStatusMapping.objects.get(activity="sent").status_label == "Sent"  # nothing half-saved
    assert not AuditEntry.objects.filter(section="campaigns").exists()


def test_a_shared_label_needs_the_same_responded_flag(client, alice):
    client.force_login(alice)
    response = client.post(
        reverse("console:campaigns_status_map"), _status_post(label_clicked="Opened")
    )  # Opened responded, Clicked responded: fine
    assert response.status_code == 302
    response = client.post(
        reverse("console:campaigns_status_map"), _status_post(label_bounced="Opened", label_clicked="Clicked")
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert 'data-error-for="label_bounced"' in html and "must share Responded" in html
    assert CampaignStatusMapping.objects.get(activity="bounced").status_label == "Bounced"
    assert CampaignStatusMapping.objects.get(activity="clicked").status_label == "Opened"
    response = client.post(reverse("console:campaigns_status_map"), _status_post(label_sent=""))
    assert response.status_code == 400 and "Enter the Salesforce member status label" in response.content.decode()


# -- industry benchmarks ----------------------------------------------------------------------------------------


def test_the_shipped_industries_are_every_industry_of_campaign_monitors_report_with_its_source():
    data = yaml.safe_load(resources.files("cmsf.options.data").joinpath("industry_benchmarks.yaml").read_text())
    assert data["source"]["url"] == CAMPAIGN_MONITOR and "Campaign Monitor" in data["source"]["title"]
    assert data["source"]["year"] == 2022
    rows = {row.name: row for row in IndustryBenchmark.objects.all()}
    assert set(rows) == {entry["name"] for entry in data["industries"]}
    assert len(rows) == 18 and {"Advertising & Marketing", "Wellness & Fitness", "Other"} <= set(rows)
    assert all(CAMPAIGN_MONITOR in row.source for row in rows.values())
    assert (rows["Education"].open_rate, rows["Education"].click_rate) == (Decimal("28.50"), Decimal("4.40"))
    assert all(0 <= row.open_rate <= 100 and 0 <= row.click_rate <= 100 for row in rows.values())


def test_the_benchmarks_page_names_the_report_and_its_year(client, alice):
    client.force_login(alice)
    html = client.get(reverse("console:campaigns_benchmarks")).content.decode()
    assert f'href="{CAMPAIGN_MONITOR}"' in html and "published in 2022" in html and "(18 industries)" in html


def test_the_migration_replaces_the_old_unedited_rows_and_keeps_the_ones_in_use_or_edited():
    migration = importlib.import_module("cmsf.options.migrations.0011_campaign_monitor_benchmarks")
    IndustryBenchmark.objects.all().delete()
    old = migration.MAILCHIMP_2019 + ", https://mailchimp.com/resources/email-marketing-benchmarks/"
    for name, (open_rate, click_rate) in migration.SHIPPED_BEFORE.items():
        IndustryBenchmark.objects.create(name=name, open_rate=open_rate, click_rate=click_rate, source=old)
    IndustryBenchmark.objects.filter(name="Construction").update(open_rate=Decimal("30"))  # edited by an admin
    IndustryBenchmark.objects.create(name="Our sector", open_rate=Decimal("25"), click_rate=Decimal("3"), source="us")
    options.save_campaign_settings({"industry_benchmarks": True, "industry": "Consulting"}, actor="a", now=T1)

    migration.replace(django_apps, None)
    migration.replace(django_apps, None)  # a second run changes nothing

    names = set(IndustryBenchmark.objects.values_list("name", flat=True))
    assert {"Consulting", "Construction", "Our sector"} <= names  # in use, edited, an admin's own
    assert not names & (set(migration.SHIPPED_BEFORE) - {"Consulting", "Construction"})
    assert len(names) == 3 + 18
    assert CampaignSettings.load().industry == "Consulting"


def test_an_admin_adds_edits_and_deletes_industries_with_the_rules(client, alice):
    client.force_login(alice)
    url = reverse("console:campaigns_benchmark_save")
    response = client.post(url, {"name": "Veterinary Services", "open_rate": "101", "click_rate": "2.5", "source": ""})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'data-error-for="open_rate"' in html and 'value="101"' in html and 'value="Veterinary Services"' in html
    assert not IndustryBenchmark.objects.filter(name="Veterinary Services").exists()
    response = client.post(url, {"name": "Professional Services", "open_rate": "20", "click_rate": "2", "source": ""})
    assert response.status_code == 400 and 'data-error-for="name"' in response.content.decode()  # unique

    client.post(
        url, {"name": "Veterinary Services", "open_rate": "25.5", "click_rate": "2.75", "source": "Our own survey"}
    )
    row = IndustryBenchmark.objects.get(name="Veterinary Services")
    assert (row.open_rate, row.click_rate) == (Decimal("25.50"), Decimal("2.75"))
    client.post(
        url, {"id": row.pk, "name": "Veterinary services", "open_rate": "26", "click_rate": "2.75", "source": "x"}
    )
    row.refresh_from_db()
    assert (row.name, row.open_rate) == ("Veterinary services", Decimal("26.00"))

    options.save_campaign_settings(
        {"industry_benchmarks": True, "industry": "Veterinary services"}, actor="alice", now=T1
    )
    response = client.post(reverse("console:campaigns_benchmark_delete", args=[row.pk]), follow=True)
    assert "is the industry the Salesforce Campaigns settings compare with" in response.content.decode()
    assert IndustryBenchmark.objects.filter(pk=row.pk).exists()
    professional = IndustryBenchmark.objects.get(name="Professional Services")
    client.post(reverse("console:campaigns_benchmark_delete", args=[professional.pk]))
    assert not IndustryBenchmark.objects.filter(name="Professional Services").exists()
    actions = list(AuditEntry.objects.filter(section="campaigns").values_list("action", flat=True))
    assert "Add the industry benchmark Veterinary Services" in actions
    assert "Edit the industry benchmark Veterinary services" in actions
    assert "Delete the industry benchmark Professional Services" in actions


def test_renaming_the_industry_in_use_keeps_the_settings_pointing_at_it(alice):
    row = IndustryBenchmark.objects.get(name="Professional Services")
    options.save_campaign_settings(
        {"industry_benchmarks": True, "industry": "Professional Services"}, actor="a", now=T1
    )
    options.save_industry_benchmark(
        row.pk,
        name="Professional services (ours)",
        open_rate=row.open_rate,
        click_rate=row.click_rate,
        source="",
        actor="a",
    )
    assert CampaignSettings.load().industry == "Professional services (ours)"


def test_the_chart_shows_the_recent_campaigns_rates_from_the_org_beside_the_industry(client, alice, synced):
    options.save_campaign_settings(
        {"industry_benchmarks": True, "industry": "Professional Services"}, actor="a", now=T1
    )
    newest = list(
        connections.salesforce().query(
            "SELECT Name, Open_Rate__c, Click_Rate__c FROM CMSF_Campaign__c ORDER BY Sent_Date__c DESC LIMIT 12"
        )
    )
    assert newest
    client.force_login(alice)
    response = client.get(reverse("console:campaigns_benchmarks"))
    html = response.content.decode()
    assert response.status_code == 200 and 'data-testid="chart"' in html
    assert html.count('class="cmsf-chart__group"') == len(newest)
    shown = re.findall(r'class="cmsf-chart__group" data-campaign="([^"]*)"', html)
    assert shown == [record["Name"] for record in newest]  # the newest campaign first
    for record in newest:
        assert f'data-campaign="{record["Name"]}"' in html
        assert f'data-kind="open" data-value="{float(record["Open_Rate__c"]):.2f}"' in html
        assert f'data-kind="click" data-value="{float(record["Click_Rate__c"]):.2f}"' in html
    assert 'data-kind="industry-open" data-value="19.30"' in html
    assert 'data-kind="industry-click" data-value="2.10"' in html


def test_the_chart_says_when_salesforce_is_not_connected(client, alice):
    client.force_login(alice)
    response = client.get(reverse("console:campaigns_benchmarks"))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="chart-unavailable"' in html and "Salesforce is not connected" in html
    assert 'data-testid="benchmarks"' in html


# -- manual links ---------------------------------------------------------------------------------------------


def test_the_search_term_is_escaped_for_like():
    assert campaign_links.like_pattern("50%_off's \\") == "'%50\\%\\_off\\'s \\\\%'"


def test_link_and_unlink_against_the_emulators(client, alice, synced):
    ledger = RecordMap.objects.filter(sobject="CMSF_Campaign__c").order_by("key").first()
    sf_campaigns = synced.org.records["Campaign"]
    target, other = sf_campaigns[0], sf_campaigns[1]
    client.force_login(alice)

    html = client.get(reverse("console:campaigns_links")).content.decode()
    assert f'value="{ledger.key}"' in html and f'value="{target["Id"]}"' in html
    word = target["Name"].split()[0]
    html = client.get(reverse("console:campaigns_links"), {"q": word}).content.decode()
    assert f'value="{target["Id"]}"' in html
    options = html.split('id="id_salesforce_campaign_id"', 1)[1].split("</select>", 1)[0]
    assert options.count("<option ") == sum(word in c["Name"] for c in sf_campaigns)

    response = client.post(
        reverse("console:campaigns_link"),
        {"cm_campaign_id": ledger.key, "salesforce_campaign_id": "701000000000999AAA"},
    )
    assert response.status_code == 400 and "Salesforce has no campaign with the Id" in response.content.decode()
    assert not CampaignLink.objects.exists()
    response = client.post(
        reverse("console:campaigns_link"), {"cm_campaign_id": "not-synced", "salesforce_campaign_id": target["Id"]}
    )
    assert response.status_code == 400 and "not one cmsf synced" in response.content.decode()

    response = client.post(
        reverse("console:campaigns_link"),
        {"cm_campaign_id": ledger.key, "salesforce_campaign_id": target["Id"]},
        follow=True,
    )
    entry = CampaignLink.objects.get()
    assert (entry.cm_campaign_id, entry.salesforce_campaign_id) == (ledger.key, target["Id"])
    assert entry.origin == CampaignLink.Origin.MANUAL and entry.linked_by == "alice@example.com"
    assert entry.salesforce_campaign_name == target["Name"] and entry.cm_campaign_name
    assert entry.client_id == ledger.client_id
    html = response.content.decode()
    assert f'data-link="{ledger.key}"' in html and "The next sync writes its campaign members" in html
    assert AuditEntry.objects.filter(section="campaigns", action__startswith="Link ").exists()

    response = client.post(
        reverse("console:campaigns_link"), {"cm_campaign_id": ledger.key, "salesforce_campaign_id": other["Id"]}
    )
    assert response.status_code == 400 and "already linked" in response.content.decode()
    second = RecordMap.objects.filter(sobject="CMSF_Campaign__c").exclude(key=ledger.key).first()
    response = client.post(
        reverse("console:campaigns_link"), {"cm_campaign_id": second.key, "salesforce_campaign_id": target["Id"]}
    )
    assert response.status_code == 400 and "already linked" in response.content.decode()
    assert CampaignLink.objects.count() == 1

    links = client.get(reverse("console:campaigns_links")).content.decode()
    assert f'href="{reverse("console:campaigns_unlink")}?cm_campaign_id={ledger.key}"' in links  # asks first
    asked = client.get(reverse("console:campaigns_unlink"), {"cm_campaign_id": ledger.key})
    said = asked.content.decode()
    assert asked.status_code == 200 and "Unlink " in said and target["Name"] in said
    assert "already written stay on the Salesforce campaign" in said and f'value="{ledger.key}"' in said
    assert CampaignLink.objects.filter(unlinked_at=None).count() == 1  # asking changed nothing
    assert client.get(reverse("console:campaigns_unlink"), {"cm_campaign_id": "nope"}).status_code == 404
    response = client.post(reverse("console:campaigns_unlink"), {"cm_campaign_id": ledger.key}, follow=True)
    assert not CampaignLink.objects.filter(unlinked_at=None).exists()  # kept as a mark: auto-create skips it
    assert "stay in Salesforce" in response.content.decode() and 'data-testid="unlinked"' in response.content.decode()
    # Linked again (to the same campaign here), the mark is replaced by a live link.
    client.post(
        reverse("console:campaigns_link"), {"cm_campaign_id": ledger.key, "salesforce_campaign_id": target["Id"]}
    )
    assert CampaignLink.objects.get().unlinked_at is None
    assert AuditEntry.objects.filter(section="campaigns", action__startswith="Unlink ").exists()


def test_the_links_page_says_when_salesforce_is_not_connected(client, alice):
    client.force_login(alice)
    response = client.get(reverse("console:campaigns_links"))
    assert response.status_code == 200 and 'data-testid="links-unavailable"' in response.content.decode()


# -- CM User Access ------------------------------------------------------------------------------------------


def test_user_access_sees_the_pages_and_every_change_is_refused(client, bob):
    client.force_login(bob)
    for name in ("console:campaigns", "console:campaigns_benchmarks", "console:campaigns_links"):
        response = client.get(reverse(name))
        assert response.status_code == 200, name
        assert "Salesforce Campaigns" in response.content.decode()
    row = IndustryBenchmark.objects.get(name="Professional Services")
    posts = {
        reverse("console:campaigns_settings"): _settings_post(auto_create_campaigns="on"),
        reverse("console:campaigns_status_map"): _status_post(label_sent="Emailed"),
        reverse("console:campaigns_benchmark_save"): {"name": "X", "open_rate": "1", "click_rate": "1"},
        reverse("console:campaigns_benchmark_delete", args=[row.pk]): {},
        reverse("console:campaigns_link"): {"cm_campaign_id": "a", "salesforce_campaign_id": "701000000000001AAA"},
        reverse("console:campaigns_unlink"): {"cm_campaign_id": "a"},
    }
    for url, data in posts.items():
        assert client.post(url, data).status_code == 403, url
    assert not CampaignSettings.load().auto_create_campaigns
    assert IndustryBenchmark.objects.filter(pk=row.pk).exists()
    assert CampaignStatusMapping.objects.get(activity="sent").status_label == "Sent"
    assert not AuditEntry.objects.filter(section="campaigns").exists()


def test_the_settings_document_round_trips_auto_create_since(alice):
    from cmsf.configuration import export_document, import_document

    options.save_campaign_settings({"auto_create_campaigns": True}, actor="alice", now=T1)
    document = export_document()
    assert document["salesforce_campaigns"]["auto_create_since"] == T1.isoformat()
    options.save_campaign_settings({"auto_create_campaigns": False}, actor="alice", now=T2)
    import_document(document, actor="cli")
    settings = CampaignSettings.load()
    assert settings.auto_create_campaigns and settings.auto_create_since == T1


# -- the campaign filter's preview (issue 17, case 9) -----------------------------------------------------------


def _activity_rows(campaign_ids) -> int:
    return sum(RecordMap.objects.filter(sobject="CMSF_Email_Activity__c", key__startswith=f"{c}:").count()
               for c in campaign_ids)  # fmt: skip


def test_the_campaign_filter_is_previewed_before_saving_and_the_preview_tells_the_truth(client, alice, synced):
    client.force_login(alice)
    page = client.get(reverse("console:campaigns")).content.decode()
    assert f'hx-get="{reverse("console:campaigns_filter_preview")}"' in page and 'id="filter-preview"' in page
    stored = set(RecordMap.objects.filter(sobject="CMSF_Campaign__c").values_list("key", flat=True))
    dates = sorted({synced.world.campaigns[c].sent_date.date() for c in stored})
    start = dates[-1]  # only the newest campaigns pass it
    left_out = {c for c in stored if synced.world.campaigns[c].sent_date.date() < start}
    rows = _activity_rows(left_out)
    assert left_out and rows > 0

    response = client.get(reverse("console:campaigns_filter_preview"), {"filter_start_date": start.isoformat()})
    shown = response.content.decode()
    assert response.status_code == 200
    assert f'data-campaigns="{len(left_out)}"' in shown and f'data-rows="{rows}"' in shown
    assert "next full sync removes them" in shown
    assert CampaignSettings.load().filter_start_date is None  # a preview saves nothing

    # A tag no stored campaign has leaves them all out; no filter leaves none out.
    everything = client.get(reverse("console:campaigns_filter_preview"), {"filter_tags": ["No such tag"]})
    assert f'data-campaigns="{len(stored)}"' in everything.content.decode()
    nothing = client.get(reverse("console:campaigns_filter_preview"), {"filter_start_date": ""}).content.decode()
    assert 'data-campaigns="0"' in nothing and "removes no campaign" in nothing
    bad = client.get(reverse("console:campaigns_filter_preview"), {"filter_start_date": "last tuesday"})
    assert "YYYY-MM-DD" in bad.content.decode()

    # What the preview said is what happens: saved, then a full sync, the counted rows are gone and the rest stay.
    before = RecordMap.objects.filter(sobject="CMSF_Email_Activity__c").count()
    options.save_campaign_settings({"filter_start_date": start}, actor="alice", now=T1)
    for synced_client in CampaignMonitorClient.objects.filter(selected=True):
        sync.sync_client(client=synced_client, full=True)
    assert set(RecordMap.objects.filter(sobject="CMSF_Campaign__c").values_list("key", flat=True)) == stored - left_out
    assert RecordMap.objects.filter(sobject="CMSF_Email_Activity__c").count() == before - rows


def test_the_preview_says_when_campaign_monitor_cannot_be_asked(client, alice):
    client.force_login(alice)
    response = client.get(reverse("console:campaigns_filter_preview"), {"filter_start_date": "2026-01-01"})
    assert response.status_code == 200 and "cannot be previewed now" in response.content.decode()
