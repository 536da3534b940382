"""The public URL as a stored setting (issue 17, case 2) and the webhook receiver's guards (case 1), without the
emulators: validation, the one-time seed from CMSF_PUBLIC_URL, `cmsf config export/import`, the General Options
form (CM Full Access, audited), the quarantine download (CM User Access may view), and the bounds of a POSTed body."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from cmsf.configuration import ConfigError, export_document, import_document
from cmsf.connections.models import CampaignMonitorAccount, CampaignMonitorClient
from cmsf.maintenance.models import AuditEntry, MaintenanceMessage
from cmsf.sync import clients, webhooks
from cmsf.sync.models import ListWebhook, SyncSettings, UnwatchedWebhookList, WebhookEvent, validate_public_url

pytestmark = pytest.mark.django_db(transaction=True)
SECRET = "s" * 43


@pytest.mark.parametrize(
    "url", ["https://cmsf.example.org", "https://cmsf.example.org:8443", "http://127.0.0.1:8000", "http://localhost:9"]
)
def test_a_public_url_is_https_or_http_to_this_machine(url):
    validate_public_url(url)


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("http://cmsf.example.org", "https is required"),
        ("https://cmsf.example.org/cmsf", "no path"),
        ("https://cmsf.example.org?x=1", "no path, query"),
        ("https://cmsf.example.org#top", "fragment"),
        ("https://user:pw@cmsf.example.org", "user name or password"),
        ("ftp://cmsf.example.org", "Enter the address"),
        ("cmsf.example.org", "Enter the address"),
    ],
)
def test_a_public_url_with_junk_is_refused_plainly(url, said):
    with pytest.raises(ValidationError, match=said):
        validate_public_url(url)


def test_cmsf_public_url_seeds_the_setting_once_and_never_again(settings):
    settings.CMSF_PUBLIC_URL = "https://seed.example.org"
    stored = SyncSettings.load()
    assert stored.public_url == "https://seed.example.org" and stored.public_url_set_at is not None
    settings.CMSF_PUBLIC_URL = "https://other.example.org"
    assert SyncSettings.load().public_url == "https://seed.example.org"  # the stored one wins
    assert clients.set_public_url("", actor="alice@example.com")
    assert SyncSettings.load().public_url == ""  # cleared by an admin: not seeded again


def test_an_unusable_cmsf_public_url_seeds_nothing(settings):
    settings.CMSF_PUBLIC_URL = "http://cmsf.example.org"
    assert SyncSettings.load().public_url == "" and SyncSettings.load().public_url_set_at is None


def test_config_export_shows_the_public_url_and_import_sets_it_audited(immediate_queue):
    assert export_document()["sync"]["public_url"] == ""
    changes = import_document({"sync": {"public_url": "https://cmsf.example.org/"}}, actor="cli:alice")
    assert changes == [("sync.public_url", "", "https://cmsf.example.org")]
    assert export_document()["sync"]["public_url"] == "https://cmsf.example.org"
    assert SyncSettings.load().public_url_set_at is not None
    entry = AuditEntry.objects.filter(section="configuration").latest("id")
    assert entry.after == {"sync.public_url": "https://cmsf.example.org"}
    with pytest.raises(ConfigError, match=r"sync\.public_url: .*https is required"):
        import_document({"sync": {"public_url": "http://cmsf.example.org"}}, actor="cli:alice")
    assert SyncSettings.load().public_url == "https://cmsf.example.org"


def test_the_console_saves_the_public_url_for_cm_full_access_only(client, alice, bob, immediate_queue):
    client.force_login(bob)
    assert client.post("/options/public-url", {"public_url": "https://cmsf.example.org"}).status_code == 403
    client.force_login(alice)
    bad = client.post("/options/public-url", {"public_url": "https://cmsf.example.org/path"})
    assert bad.status_code == 400 and "no path" in bad.content.decode()
    assert client.post("/options/public-url", {"public_url": "https://cmsf.example.org"}).status_code == 302
    assert SyncSettings.load().public_url == "https://cmsf.example.org"
    entry = AuditEntry.objects.latest("id")
    assert (entry.actor, entry.after) == ("alice@example.com", {"public_url": "https://cmsf.example.org"})
    assert 'value="https://cmsf.example.org"' in client.get("/options").content.decode()


def hooked() -> CampaignMonitorClient:
    account = CampaignMonitorAccount.load()
    account.webhook_secret = SECRET
    account.save()
    client = CampaignMonitorClient.objects.create(cm_client_id="c1", name="Client One", active=True, selected=True)
    ListWebhook.objects.create(
        client=client, list_id="L1", webhook_id="w1", url="https://x", registered_at=timezone.now()
    )
    return client


def test_the_quarantine_download_is_guarded_and_cm_user_access_may_view(client, alice, bob, charlie):
    hooked()
    bad = {"Type": "Subscribe", "EmailAddress": "p@example.org", "CustomFields": "text"}
    assert webhooks.receive(SECRET, json.dumps({"ListID": "L1", "Events": [bad]}).encode()).refused == 1
    url = "/options/webhooks/quarantined.json"
    assert client.get(url).status_code == 302  # signed out: to the sign-in page
    client.force_login(charlie)
    assert client.get(url).status_code == 403  # no permission set
    client.force_login(bob)
    answer = client.get(url)
    assert answer.status_code == 200 and "attachment" in answer["Content-Disposition"]
    [kept] = answer.json()["events"]
    assert kept["event"] == bad and "CustomFields must be a list" in kept["problem"]
    assert kept["support_code"] == "CMSF-WEBHOOK-EVENT"
    assert client.post(url).status_code == 405
    assert "1 quarantined" in client.get("/options").content.decode()


def test_a_body_too_large_or_too_deep_is_refused_and_a_bad_event_alone(client, settings):
    hooked()
    url = f"/{webhooks.HOOK_PATH}{SECRET}"
    settings.CMSF_MAX_WEBHOOK_BODY_BYTES = 1000
    big = {"ListID": "L1", "Events": [{"Type": "Subscribe", "EmailAddress": "a@example.org", "Name": "x" * 2000}]}
    assert client.post(url, json.dumps(big), content_type="application/json").status_code == 413
    deep = b'{"ListID": "L1", "Events": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    settings.CMSF_MAX_WEBHOOK_BODY_BYTES = 1_000_000
    answer = client.post(url, deep, content_type="application/json")
    assert answer.status_code == 400 and "nested" in answer.json()["error"]
    events = [{"Type": "Subscribe", "EmailAddress": "a@example.org"}, {"Type": "Subscribe", "Extra": [[[[[[[1]]]]]]]},
              None, {"Type": "Update", "EmailAddress": "b@example.org", "Name": "nul\x00"}]  # fmt: skip
    answer = client.post(url, json.dumps({"ListID": "L1", "Events": events}), content_type="application/json")
    assert answer.json() == {"received": 1, "refused": 3, "unwatched": 0}
    assert WebhookEvent.objects.filter(quarantined_at=None).count() == 1
    assert MaintenanceMessage.objects.get(support_code="CMSF-WEBHOOK-EVENT").occurrences == 3  # one, counted


def test_events_for_a_list_not_watched_are_counted(client):
    hooked()
    url = f"/{webhooks.HOOK_PATH}{SECRET}"
    body = {"ListID": "L-gone", "Events": [{"Type": "Subscribe", "EmailAddress": "a@example.org"}]}
    answer = client.post(url, json.dumps(body), content_type="application/json")
    assert answer.json() == {"received": 0, "refused": 0, "unwatched": 1}
    assert UnwatchedWebhookList.objects.get(list_id="L-gone").events == 1
    assert not WebhookEvent.objects.exists()
