"""`config export` and `config import`: every setting as one document, all or nothing, audited."""

import copy
import json

import pytest
import yaml

from cmsf.audience.models import ImportWizard
from cmsf.configuration import ConfigError, dump, export_document, import_document, parse
from cmsf.connections.models import CampaignMonitorClient
from cmsf.maintenance.models import AuditEntry, GovernorLimit
from cmsf.options.models import CampaignStatusMapping, TrackingHistorySettings
from cmsf.sync.models import CampaignLink, RecordMap, SyncSettings

pytestmark = pytest.mark.django_db


def test_export_holds_every_setting_with_its_default():
    doc = export_document()
    assert doc["sync"] == {"import_frequency": "hourly", "sync_enabled": True, "public_url": ""}
    assert doc["tracking_history"]["days_to_keep"] == 180
    assert doc["general_options"]["trigger_journeys"] is True
    assert doc["salesforce_campaigns"]["member_status_refresh"] == "always"
    assert doc["salesforce_campaigns"]["status_map"]["opened"] == {"label": "Opened", "responded": True}
    assert doc["salesforce_campaigns"]["links"] == {}
    assert doc["sms"]["enabled"] is False
    assert doc["maintenance"]["notification_email"] == ""
    assert doc["maintenance"]["governor_limits"]["CMSF_EMAIL_OPT_OUT"] == 200
    assert doc["salesforce"] == {
        "login_domain": "production",
        "my_domain": "",
        "custom_login_url": "",
        "api_budget_percent": 50,
    }
    assert doc["billing"] == {"plan": None}
    assert doc["campaign_monitor_clients"] == {}
    assert doc["import_wizards"] == {}


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_a_round_trip_changes_exactly_the_edited_values_and_is_audited(fmt):
    doc = export_document()
    edited = copy.deepcopy(doc)
    edited["tracking_history"]["days_to_keep"] = 90
    edited["tracking_history"]["email_types"] = ["sent", "opened", "clicked"]
    edited["sync"]["import_frequency"] = "4h"
    edited["salesforce_campaigns"]["status_map"]["clicked"]["label"] = "Clicked a link"
    edited["salesforce_campaigns"]["filter_start_date"] = "2026-01-31"
    edited["maintenance"]["governor_limits"]["CMSF_EMAIL_OPT_OUT"] = 50

    changes = import_document(parse(dump(edited, fmt)), actor="cli:alice")

    assert {key for key, _, _ in changes} == {
        "tracking_history.days_to_keep",
        "tracking_history.email_types",
        "sync.import_frequency",
        "salesforce_campaigns.status_map.clicked",
        "salesforce_campaigns.filter_start_date",
        "maintenance.governor_limits.CMSF_EMAIL_OPT_OUT",
    }
    assert export_document() == edited
    entry = AuditEntry.objects.get()
    assert entry.actor == "cli:alice"
    assert entry.before["tracking_history.days_to_keep"] == 180
    assert entry.after["tracking_history.days_to_keep"] == 90
    assert entry.after["salesforce_campaigns.status_map.clicked"] == {"label": "Clicked a link", "responded": True}
    assert GovernorLimit.batch_size_for("CMSF_EMAIL_OPT_OUT") == 50
    assert SyncSettings.load().next_run is not None  # a new frequency reschedules the next run


def test_importing_the_same_document_again_changes_nothing_and_writes_no_audit():
    doc = export_document()
    assert import_document(parse(dump(doc, "yaml")), actor="cli") == []
    assert not AuditEntry.objects.exists()


def test_a_partial_document_changes_only_what_it_names():
    before = export_document()
    import_document(parse("general_options:\n  sync_suppression_list: true\n"), actor="cli")
    after = export_document()
    assert after["general_options"]["sync_suppression_list"] is True
    after["general_options"]["sync_suppression_list"] = False
    assert after == before


def test_a_governor_limit_set_back_to_its_default_follows_the_default():
    import_document({"maintenance": {"governor_limits": {"CMSF_TRACKING_SYNC": 500}}}, actor="cli")
    import_document({"maintenance": {"governor_limits": {"CMSF_TRACKING_SYNC": 10000}}}, actor="cli")
    assert GovernorLimit.objects.get(job="CMSF_TRACKING_SYNC").batch_size is None


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"tracking_history": {"days_to_keep": -1}}, "tracking_history.days_to_keep: Ensure this value is greater"),
        ({"tracking_history": {"days_to_keep": "90"}}, "tracking_history.days_to_keep: expected a whole number"),
        ({"tracking_history": {"days_to_keep": True}}, "tracking_history.days_to_keep: expected a whole number"),
        ({"tracking_history": {"email_types": ["sent", "read"]}}, "tracking_history.email_types: Unknown email type"),
        ({"sync": {"import_frequency": "sometimes"}}, "sync.import_frequency: Value 'sometimes' is not a valid choice"),
        ({"sync": {"sync_enabled": "yes"}}, "sync.sync_enabled: expected true or false"),
        ({"sync": {"colour": "red"}}, "sync.colour: unknown setting"),
        ({"weather": {}}, "weather: unknown section"),
        ({"sync": ["hourly"]}, "sync: expected a mapping"),
        ({"sms": {"enabled": True}}, "sms.default_country: Choose the default country"),
        ({"sms": {"default_country": "XX"}}, "sms.default_country: 'XX' is not a country code"),
        ({"maintenance": {"notification_email": "not-an-email"}}, "maintenance.notification_email: Enter a valid"),
        ({"maintenance": {"governor_limits": {"CMSF_NOPE": 5}}}, "maintenance.governor_limits.CMSF_NOPE: unknown job"),
        (
            {"maintenance": {"governor_limits": {"CMSF_IMPORT_WIZARD": 5000}}},
            "maintenance.governor_limits.CMSF_IMPORT_WIZARD: expected a whole number from 1 to 1000",
        ),
        (
            {"salesforce_campaigns": {"status_map": {"opened": {"label": ""}}}},
            "salesforce_campaigns.status_map.opened.label: This field cannot be blank",
        ),
        (
            {"salesforce_campaigns": {"filter_start_date": "last tuesday"}},
            "salesforce_campaigns.filter_start_date: expected a date",
        ),
        ({"salesforce": {"login_domain": "my_domain"}}, "salesforce.my_domain: Enter the My Domain host"),
        ({"salesforce": {"api_budget_percent": 0}}, "salesforce.api_budget_percent: Ensure this value is greater"),
        (
            {"salesforce": {"login_domain": "custom", "custom_login_url": "http://169.254.169.254/"}},
            "salesforce.custom_login_url: Enter an https URL",
        ),
        (
            {"salesforce": {"login_domain": "custom", "custom_login_url": "http://login.example.org"}},
            "salesforce.custom_login_url: Enter an https URL",
        ),
        ({"billing": {"plan": "platinum"}}, "billing.plan: Value 'platinum' is not a valid choice"),
        ({"campaign_monitor_clients": {"abc": {"selected": False}}}, "campaign_monitor_clients.abc: no connected"),
        ({"version": 2}, "version: this cmsf reads documents of version 1"),
    ],
)
def test_bad_input_is_refused_with_the_key_named_and_nothing_changes(document, message):
    good = {"tracking_history": {"campaign_member_aggregates": True}}  # a valid edit in the same document
    before = export_document()
    with pytest.raises(ConfigError) as error:
        import_document({**good, **document}, actor="cli")
    assert any(line.startswith(message) for line in error.value.errors), error.value.errors
    assert export_document() == before
    assert not AuditEntry.objects.exists()


def test_every_error_of_a_document_is_reported_at_once():
    with pytest.raises(ConfigError) as error:
        import_document(
            {"tracking_history": {"days_to_keep": -1, "colour": "red"}, "sync": {"import_frequency": "x"}},
            actor="cli",
        )
    keys = sorted(line.split(":")[0] for line in error.value.errors)
    assert keys == ["sync.import_frequency", "tracking_history.colour", "tracking_history.days_to_keep"]


def test_a_document_that_is_not_yaml_is_refused():
    with pytest.raises(ConfigError, match="not valid YAML or JSON"):
        parse("sync: [unclosed")
    with pytest.raises(ConfigError, match="must be a mapping"):
        parse("- just\n- a list\n")


def test_json_documents_are_read_too():
    import_document(parse(json.dumps({"tracking_history": {"days_to_keep": 30}})), actor="cli")
    assert TrackingHistorySettings.load().days_to_keep == 30


def test_client_selection_and_security_owner_round_trip():
    CampaignMonitorClient.objects.create(cm_client_id="c1", name="Acme", time_zone="(GMT) London")
    doc = export_document()
    assert doc["campaign_monitor_clients"] == {"c1": {"name": "Acme", "selected": True, "security_owner_id": ""}}
    doc["campaign_monitor_clients"]["c1"].update(selected=False, security_owner_id="005000000000001AAA")
    import_document(yaml.safe_load(dump(doc, "yaml")), actor="cli")
    client = CampaignMonitorClient.objects.get()
    assert (client.selected, client.security_owner_id) == (False, "005000000000001AAA")
    with pytest.raises(ConfigError, match="security_owner_id"):
        import_document({"campaign_monitor_clients": {"c1": {"security_owner_id": "not an id"}}}, actor="cli")


def test_status_map_rows_are_updated_in_place():
    import_document({"salesforce_campaigns": {"status_map": {"sent": {"responded": True}}}}, actor="cli")
    assert CampaignStatusMapping.objects.get(activity="sent").responded is True
    assert CampaignStatusMapping.objects.count() == 6


def test_import_wizards_round_trip_are_made_by_name_and_scheduled():
    CampaignMonitorClient.objects.create(cm_client_id="c1", name="Acme", time_zone="(GMT) London")
    wizards = {
        "Webinar": {
            "client": "c1",
            "list_id": "L1",
            "campaign_id": "701000000000001AAA",
            "member_status": "Attended",
            "mode": "resubscribe",
            "mappings": [{"salesforce": "Title", "campaign_monitor": "[Title]"}],
            "run_hours": [6, 18],
        }
    }
    changes = import_document({"import_wizards": wizards}, actor="cli")
    assert [key for key, _, _ in changes] == ["import_wizards.Webinar"]
    wizard = ImportWizard.objects.get(name="Webinar")
    assert (wizard.source, wizard.mode, wizard.email_field, wizard.clear_blank_values) == (
        "campaign", "resubscribe", "Email", False
    )  # fmt: skip
    assert wizard.next_run is not None and wizard.next_run.hour in (6, 18) and wizard.next_run.minute == 0

    doc = export_document()
    assert doc["import_wizards"]["Webinar"]["run_hours"] == [6, 18]
    assert import_document(yaml.safe_load(dump(doc, "yaml")), actor="cli") == []  # nothing changed
    doc["import_wizards"]["Webinar"]["active"] = False
    import_document(doc, actor="cli")
    wizard.refresh_from_db()
    assert not wizard.active and wizard.next_run is None  # an inactive wizard is not scheduled
    assert AuditEntry.objects.filter(action__startswith="config import").count() == 2


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"client": "nobody", "list_id": "L1", "campaign_id": "701000000000001AAA"}, "no connected Campaign Monitor"),
        ({"list_id": "L1", "campaign_id": "701000000000001AAA"}, "give the Campaign Monitor client id"),
        ({"client": "c1", "list_id": "L1"}, "Choose the Salesforce campaign"),
        ({"client": "c1", "list_id": "L1", "source": "soql", "soql": "DELETE Contact"}, "starts with SELECT"),
        ({"client": "c1", "list_id": "L1", "campaign_id": "701000000000001AAA", "run_hours": [25]}, "from 0 to 23"),
        ({"client": "c1", "list_id": "L1", "campaign_id": "701000000000001AAA", "mode": "replace"}, "mode"),
        (
            {
                "client": "c1",
                "list_id": "L1",
                "campaign_id": "701000000000001AAA",
                "mappings": [{"salesforce": "Title", "campaign_monitor": "Title"}],
            },
            "custom field key",
        ),
        ({"client": "c1", "list_id": "L1", "campaign_id": "701000000000001AAA", "colour": "red"}, "unknown setting"),
    ],
)
def test_a_bad_wizard_is_refused_with_its_key_and_nothing_is_written(entry, message):
    CampaignMonitorClient.objects.create(cm_client_id="c1", name="Acme")
    with pytest.raises(ConfigError, match=message) as error:
        import_document({"import_wizards": {"Bad": entry}, "sync": {"sync_enabled": False}}, actor="cli")
    assert any(line.startswith("import_wizards.Bad") for line in error.value.errors)
    assert not ImportWizard.objects.exists() and SyncSettings.load().sync_enabled is True


# -- manual campaign links as settings (issue 17), against both emulators ---------------------------------------


@pytest.fixture
def campaigns_synced(start_emulators):
    from cmsf.connections import services as connections
    from cmsf.sync import services as sync

    running = start_emulators(33)
    for client in sync.clients_to_sync():
        sync.sync_client(client=client)
    running.sf = connections.salesforce()
    running.cm_ids = sorted(RecordMap.objects.filter(sobject="CMSF_Campaign__c").values_list("key", flat=True))
    names = [{"Name": "Gala invite list", "IsActive": True}, {"Name": "From a report", "IsActive": True}]
    running.sf_ids = [result.id for result in running.sf.insert("Campaign", names)]
    return running


def _live_links() -> dict[str, str]:
    return dict(CampaignLink.objects.filter(unlinked_at=None).values_list("cm_campaign_id", "salesforce_campaign_id"))


@pytest.mark.django_db(transaction=True)
def test_campaign_links_are_exported_and_made_and_removed_by_import(campaigns_synced):
    cm, sf = campaigns_synced.cm_ids, campaigns_synced.sf_ids
    assert len(cm) >= 2 and export_document()["salesforce_campaigns"]["links"] == {}
    # A 15-character Id is taken as well as an 18-character one.
    changes = import_document({"salesforce_campaigns": {"links": {cm[0]: sf[0], cm[1]: sf[1][:15]}}}, actor="ops")
    assert {key for key, _, _ in changes} == {
        f"salesforce_campaigns.links.{cm[0]}",
        f"salesforce_campaigns.links.{cm[1]}",
    }
    assert _live_links() == {cm[0]: sf[0], cm[1]: sf[1]}
    assert export_document()["salesforce_campaigns"]["links"] == {cm[0]: sf[0], cm[1]: sf[1]}
    links = AuditEntry.objects.filter(section="campaigns", action__startswith="Link")
    assert links.count() == 2 and {e.actor for e in links} == {"ops"}
    assert AuditEntry.objects.filter(section="configuration").count() == 1
    # The export imported again changes nothing.
    assert import_document(export_document(), actor="ops") == []
    # A link left out is removed (audited, kept as a mark); moving a link to another campaign relinks it.
    changes = import_document({"salesforce_campaigns": {"links": {cm[1]: sf[0]}}}, actor="ops")
    assert _live_links() == {cm[1]: sf[0]}
    assert CampaignLink.objects.get(cm_campaign_id=cm[0]).unlinked_at is not None
    assert AuditEntry.objects.filter(section="campaigns", action__startswith="Unlink").count() == 2
    # An empty mapping removes them all.
    import_document({"salesforce_campaigns": {"links": {}}}, actor="ops")
    assert _live_links() == {}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "links,says",
    [
        (lambda cm, sf: {"no-such-campaign": sf[0]}, "links.no-such-campaign: no Campaign Monitor campaign"),
        (lambda cm, sf: {cm[0]: "not-an-id"}, "'not-an-id' is not a Salesforce Campaign Id"),
        (lambda cm, sf: {cm[0]: "003" + sf[0][3:]}, "is not a Campaign Id (a Campaign Id starts with 701)"),
        (lambda cm, sf: {cm[0]: sf[0][:-3].replace(sf[0][5:8], "zzz")}, "Salesforce has no campaign with the Id"),
        (lambda cm, sf: {cm[0]: sf[0], cm[1]: sf[0]}, "is given to"),
    ],
)
def test_a_bad_link_refuses_the_whole_document_naming_it(campaigns_synced, links, says):
    cm, sf = campaigns_synced.cm_ids, campaigns_synced.sf_ids
    document = {"sync": {"sync_enabled": False}, "salesforce_campaigns": {"links": links(cm, sf)}}
    with pytest.raises(ConfigError) as refused:
        import_document(document, actor="ops")
    assert any(e.startswith("salesforce_campaigns.links.") and says in e for e in refused.value.errors), refused.value
    assert _live_links() == {} and SyncSettings.load().sync_enabled is True
    assert not AuditEntry.objects.filter(section__in=("campaigns", "configuration")).exists()
