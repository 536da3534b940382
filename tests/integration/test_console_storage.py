"""Storage: cmsf's records and the org's storage from Salesforce, the tracking-history forecast and settings,
campaign member aggregates, and the email history read live from Campaign Monitor (also behind a signed link)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.apps import apps
from django.core import signing
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from cmsf.billing.models import BillingAccount
from cmsf.connections import services as connections
from cmsf.connections.models import CampaignMonitorClient, SalesforceOrg
from cmsf.console import embed
from cmsf.console.models import EmbedLink
from cmsf.maintenance.models import AuditEntry, MaintenanceMessage
from cmsf.options.models import TrackingHistorySettings
from cmsf.sync.engine import run_primary_sync
from cmsf.sync.models import RecordMap, SmartEmailMessage, SyncRun
from tests.emulators import connect

pytestmark = pytest.mark.django_db(transaction=True)

ACTIVITY = "CMSF_Email_Activity__c"


@pytest.fixture
def served(start_emulators):
    """Both emulators over TLS, not connected yet."""
    return start_emulators(33, connect=False)


@pytest.fixture
def world(served):
    return served.world


@pytest.fixture
def emulators(served):
    """Both emulators over TLS; a function that connects them as an admin would."""

    def connect_them(*, campaign_monitor: bool = True, salesforce: bool = True) -> None:
        connect(served, campaign_monitor=campaign_monitor, salesforce=salesforce)

    return connect_them


def _rows() -> dict[str, int]:
    return {m._meta.label: m.objects.count() for m in apps.get_models() if m._meta.managed and not m._meta.proxy}


def _activity(client: CampaignMonitorClient, kind: str, days_ago: float, n: int, start: int = 0) -> None:
    now = timezone.now()
    RecordMap.objects.bulk_create(
        RecordMap(
            client=client,
            sobject=ACTIVITY,
            key=f"{kind}-{days_ago}-{start + i}",
            salesforce_id=f"a00{start + i:015d}",
            content_hash="x",
            activity_date=now - timedelta(days=days_ago),
            activity_kind=kind,
            synced_at=now,
        )
        for i in range(n)
    )


@pytest.fixture
def ledger(db):
    """A known ledger: over the last 30 days 60 opens, 30 sends and 15 clicks; 20 opens 40 days ago."""
    client = CampaignMonitorClient.objects.create(cm_client_id="c1", name="One")
    _activity(client, "opens", 3, 60)
    _activity(client, "sent", 10, 30)
    _activity(client, "clicks", 29, 15)
    _activity(client, "opens", 40, 20, start=100)
    return client


def _forecast(html: str) -> dict[str, int]:
    found = re.search(r'data-testid="forecast" data-rows="(\d+)" data-kb="(\d+)" data-stored-rows="(\d+)"', html)
    assert found, html
    return {"rows": int(found[1]), "kb": int(found[2]), "stored": int(found[3])}


# -- records and storage ---------------------------------------------------------------------------------


def test_records_per_object_and_the_org_storage_from_two_salesforce_calls(client, alice, emulators):
    emulators()
    for cm_client in CampaignMonitorClient.objects.filter(selected=True):
        run = run_primary_sync(cm_client)
        assert run.status == SyncRun.Status.SUCCEEDED, run.message
    cm_client = CampaignMonitorClient.objects.first()
    now = timezone.now()
    for sobject, n in (("Campaign", 3), ("CampaignMember", 5)):
        RecordMap.objects.bulk_create(
            RecordMap(
                client=cm_client,
                sobject=sobject,
                key=f"{sobject}{i}",
                salesforce_id=f"x{i}",
                content_hash="h",
                synced_at=now,
            )
            for i in range(n)
        )
    calls: list[str] = []
    original = connections.salesforce

    def counted(*args, **kwargs):
        adapter = original(*args, **kwargs)
        adapter.session.hooks["response"].append(lambda response, *a, **k: calls.append(response.request.url))
        return adapter

    client.force_login(alice)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(connections, "salesforce", counted)
        html = client.get(reverse("console:storage")).content.decode()
    assert len(calls) == 2 and any("/limits/recordCount?sObjects=" in url for url in calls), calls

    expected = {}
    for sobject in ("CMSF_Client__c", "CMSF_List__c", "CMSF_Subscriber__c", "CMSF_Campaign__c", ACTIVITY):
        expected[sobject] = RecordMap.objects.filter(sobject=sobject).count()
        assert expected[sobject] > 0, sobject
        row = re.search(rf'data-object="{sobject}">.*?data-records="(\d+)".*?data-kb="(\d+)"', html, re.S)
        assert row and (int(row[1]), int(row[2])) == (expected[sobject], 2 * expected[sobject]), sobject
    for sobject, n, kb in (("Campaign", 3, 24), ("CampaignMember", 5, 5)):
        row = re.search(rf'data-object="{sobject}">.*?data-records="(\d+)".*?data-kb="(\d+)"', html, re.S)
        assert row and (int(row[1]), int(row[2])) == (n, kb), sobject
    total_records = sum(expected.values()) + 8  # CMSF_Suppression__c is empty: the option is off
    total_kb = 2 * sum(expected.values()) + 24 + 5
    total = re.search(r'data-object="total">.*?data-records="(\d+)".*?data-kb="(\d+)"', html, re.S)
    assert total and (int(total[1]), int(total[2])) == (total_records, total_kb)

    adapter = original()
    storage = adapter.limits()["DataStorageMB"]
    used = storage["Max"] - storage["Remaining"]
    assert f'data-used-mb="{used}" data-max-mb="{storage["Max"]}"' in html
    assert f'data-cmsf-mb="{total_kb / 1024:.2f}"' in html
    assert f"{100 * used / storage['Max']:.1f}%" in html


def test_without_salesforce_the_page_renders_with_a_note(client, bob, ledger):
    client.force_login(bob)
    response = client.get(reverse("console:storage"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="not-connected"' in html and 'data-testid="forecast"' in html
    assert not MaintenanceMessage.objects.exists()


def test_a_salesforce_failure_is_a_maintenance_message_and_the_page_still_renders(client, alice, emulators):
    emulators(campaign_monitor=False)
    SalesforceOrg.objects.filter(pk=1).update(instance_url="https://127.0.0.1:9", access_token="expired")
    client.force_login(alice)
    response = client.get(reverse("console:storage"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="storage-failed"' in html and "Salesforce did not give the storage figures" in html
    message = MaintenanceMessage.objects.get()
    assert message.support_code == "CMSF-STORAGE-READ" and message.guidance
    client.get(reverse("console:storage"))
    assert MaintenanceMessage.objects.count() == 1  # not once per page view while it is not acknowledged


# -- the tracking-history forecast and settings ------------------------------------------------------------


def test_the_forecast_of_the_saved_settings_from_the_ledger(client, bob, ledger):
    client.force_login(bob)
    html = client.get(reverse("console:storage")).content.decode()
    # 180 days: (60 opens + 30 sends + 15 clicks) / 30 days * 180 = 630 rows; 125 rows are stored now
    assert _forecast(html) == {"rows": 630, "kb": 1260, "stored": 125}
    assert 'data-type="opened" data-rows="360"' in html and 'data-type="clicked" data-rows="90"' in html


def test_preview_shows_the_forecast_of_what_was_typed_and_saves_nothing(client, alice, ledger):
    client.force_login(alice)
    url = f"{reverse('console:storage')}?preview=1&days_to_keep=90&email_types=opened&email_types=sent"
    html = client.get(url).content.decode()
    assert _forecast(html) == {"rows": 270, "kb": 540, "stored": 125}  # 2 opens + 1 send a day, 90 days
    assert "not saved" in html and 'value="90"' in html and 'value="clicked" checked' not in html
    fragment = client.get(url.replace(reverse("console:storage"), reverse("console:storage_forecast")))
    assert _forecast(fragment.content.decode())["rows"] == 270 and b"<html" not in fragment.content
    settings = TrackingHistorySettings.load()
    assert settings.days_to_keep == 180 and not AuditEntry.objects.exists()


def test_types_not_stored_now_have_no_known_volume(client, alice, ledger):
    TrackingHistorySettings.objects.update_or_create(pk=1, defaults={"days_to_keep": 10, "email_types": ["opened"]})
    client.force_login(alice)
    url = f"{reverse('console:storage')}?preview=1&days_to_keep=20&email_types=opened&email_types=clicked"
    html = client.get(url).content.decode()
    # measured over the 10 days kept: 60 opens -> 6 a day, 120 rows in 20 days; clicks are not stored, not known
    assert _forecast(html)["rows"] == 120
    assert 'data-testid="forecast-unknown"' in html and "Clicked is not stored now" in html


def test_the_free_plan_stores_no_tracking_history(client, alice, ledger):
    BillingAccount.objects.update_or_create(pk=1, defaults={"plan": "free"})
    client.force_login(alice)
    html = client.get(reverse("console:storage")).content.decode()
    assert 'data-testid="free-plan"' in html and _forecast(html)["rows"] == 0


def test_saving_the_settings_is_audited_and_says_what_happens(client, alice, ledger):
    client.force_login(alice)
    response = client.post(
        reverse("console:storage_tracking_history"), {"days_to_keep": "90", "email_types": ["sent", "opened"]},
        follow=True,
    )  # fmt: skip
    settings = TrackingHistorySettings.load()
    assert (settings.days_to_keep, settings.email_types) == (90, ["sent", "opened"])
    entry = AuditEntry.objects.get()
    assert entry.actor == "alice@example.com" and entry.section == "storage"
    assert entry.before == {"days_to_keep": 180, "email_types": ["sent", "opened", "clicked", "bounced",
                                                                 "unsubscribed", "spam_complaint"]}  # fmt: skip
    assert entry.after == {"days_to_keep": 90, "email_types": ["sent", "opened"]}
    assert b"The next sync removes the tracking history older than the days to keep" in response.content

    response = client.post(reverse("console:storage_tracking_history"), {"days_to_keep": "365",
                                                                         "email_types": ["sent", "opened"]}, follow=True)  # fmt: skip
    assert b"reads the longer window" in response.content and AuditEntry.objects.count() == 2


@pytest.mark.parametrize(
    ("data", "field", "error"),
    [
        ({"days_to_keep": "5000", "email_types": ["opened"]}, "days-error", "from 0 to 3650"),
        ({"days_to_keep": "-1", "email_types": ["opened"]}, "days-error", "from 0 to 3650"),
        ({"days_to_keep": "ninety", "email_types": ["opened"]}, "days-error", "whole number"),
        (
            {"days_to_keep": "30", "email_types": ["opened", "forwarded"]},
            "types-error",
            "forwarded is not an email type",
        ),
    ],
)
def test_bad_input_is_shown_next_to_its_field_and_nothing_saves(client, alice, ledger, data, field, error):
    client.force_login(alice)
    response = client.post(reverse("console:storage_tracking_history"), data)
    assert response.status_code == 200
    html = response.content.decode()
    help_text = re.search(rf'<div class="slds-form-element__help" id="{field}">([^<]*)</div>', html)
    assert help_text and error in help_text[1], html
    assert "slds-has-error" in html
    assert f'value="{data["days_to_keep"]}"' in html  # what was typed is kept
    settings = TrackingHistorySettings.load()
    assert settings.days_to_keep == 180 and len(settings.email_types) == 6 and not AuditEntry.objects.exists()


def test_campaign_member_aggregates_on_and_off_audited(client, alice, ledger):
    client.force_login(alice)
    client.post(reverse("console:storage_aggregates"), {"enabled": "on"})
    assert TrackingHistorySettings.load().campaign_member_aggregates
    html = client.get(reverse("console:storage")).content.decode()
    assert '<dd data-testid="aggregates">On</dd>' in html
    client.post(reverse("console:storage_aggregates"), {"enabled": "off"})
    assert not TrackingHistorySettings.load().campaign_member_aggregates
    assert [(e.action, e.after) for e in AuditEntry.objects.order_by("id")] == [
        ("Turn campaign member aggregates on", {"campaign_member_aggregates": True}),
        ("Turn campaign member aggregates off", {"campaign_member_aggregates": False}),
    ]


def test_user_access_is_refused_every_change_with_403(client, bob, ledger):
    client.force_login(bob)
    for name, data in (
        ("console:storage_tracking_history", {"days_to_keep": "30", "email_types": ["opened"]}),
        ("console:storage_aggregates", {"enabled": "on"}),
        ("console:storage_email_history_link", {"days": "30"}),
    ):
        assert client.post(reverse(name), data).status_code == 403, name
    settings = TrackingHistorySettings.load()
    assert settings.days_to_keep == 180 and not settings.campaign_member_aggregates
    assert not AuditEntry.objects.exists()
    page = client.get(reverse("console:storage")).content.decode()
    assert "storage/tracking-history" not in page and "storage/aggregates" not in page


# -- email history ---------------------------------------------------------------------------------------


def _person(world):
    """An address with opens in a campaign of the world, and that campaign."""
    campaign = next(c for c in world.campaigns.values() if len({e.email for e in c.opens}) and c.clicks)
    email = campaign.clicks[0].email
    return email, campaign


def _history_of(html: str, campaign_id: str) -> str:
    found = re.search(rf'data-campaign="{campaign_id}">(.*?)</div>', html, re.S)
    assert found, html
    return found[1]


def test_the_email_history_is_read_live_and_nothing_is_stored(client, bob, emulators, world):
    emulators(salesforce=False)
    email, campaign = _person(world)
    client.force_login(bob)  # CM User Access may see it
    before = _rows()
    response = client.get(reverse("console:storage_email_history"), {"email": email})
    assert response.status_code == 200
    assert _rows() == before
    html = response.content.decode()
    assert campaign.name in html
    box = _history_of(html, campaign.campaign_id)
    opens = [e for e in campaign.opens if e.email.lower() == email.lower()]
    clicks = [e for e in campaign.clicks if e.email.lower() == email.lower()]
    assert box.count('data-event="Open"') == len(opens) and box.count('data-event="Click"') == len(clicks) >= 1
    assert escape(clicks[0].url) in box
    dates = re.findall(r'data-event="[^"]+"><td>[^<]+</td><td>([^<]+)</td>', box)
    # "4 Dec 2026, 13:05 UTC": the date and time with its zone (UTC: no Salesforce org is connected here)
    parsed = [timezone.datetime.strptime(d, "%d %b %Y, %H:%M UTC") for d in dates]
    assert parsed == sorted(parsed, reverse=True)  # newest first
    assert "no-store" in response["Cache-Control"]
    assert "storage/email-history/link" not in html  # the link is an admin's


def test_the_email_history_shows_the_smart_emails_cmsf_recorded(client, bob, emulators, world):
    emulators(salesforce=False)
    email, _ = _person(world)
    sent = timezone.now() - timedelta(hours=2)
    common = {"smart_email_id": "1e654df2-f484-11e4-970c-6c4008bc7468", "recipient": f"Pat <{email}>",
              "email": email.lower(), "sent_at": sent}  # fmt: skip
    SmartEmailMessage.objects.create(message_id="m-opened", smart_email_name="Case survey", status="Opened",
                                     opens=2, task_id="00TRM0000000001AAA", **common)  # fmt: skip
    SmartEmailMessage.objects.create(message_id="m-other", status="Delivered", **{**common, "email": "x@example.com"})
    client.force_login(bob)
    html = client.get(reverse("console:storage_email_history"), {"email": email.upper()}).content.decode()
    table = re.search(r'data-testid="smart-emails">(.*?)</table>', html, re.S)
    assert table, html
    rows = re.findall(
        r'<tr data-message="([^"]+)"><td>([^<]+)</td><td>[^<]+</td><td>([^<]+)</td><td>(\d+)</td>', table[1]
    )
    assert rows == [("m-opened", "Case survey", "Opened", "2")]
    assert "00TRM0000000001AAA" in table[1] and "1 smart email" in html


def test_a_bad_email_is_shown_next_to_the_field(client, bob, emulators):
    emulators(salesforce=False)
    client.force_login(bob)
    html = client.get(reverse("console:storage_email_history"), {"email": "not-an-address"}).content.decode()
    assert 'id="email-error">Enter an email address such as jane@example.com.</div>' in html
    assert 'value="not-an-address"' in html and 'data-testid="history-summary"' not in html


def test_without_campaign_monitor_the_history_page_says_so(client, bob):
    client.force_login(bob)
    html = client.get(reverse("console:storage_email_history"), {"email": "jane@example.com"}).content.decode()
    assert 'data-testid="cm-not-connected"' in html


# -- the embedded history behind a signed link ---------------------------------------------------------------


def _created_link(client, days: str = "30") -> str:
    response = client.post(reverse("console:storage_email_history_link"), {"days": days})
    assert response.status_code == 200
    found = re.search(r'id="embed-url" readonly value="([^"]+)"', response.content.decode())
    assert found, response.content.decode()
    return found[1].replace("&amp;", "&")


def test_an_admin_creates_a_link_that_works_without_signing_in_and_may_be_framed(client, alice, emulators, world):
    emulators()
    email, campaign = _person(world)
    client.force_login(alice)
    url = _created_link(client)
    assert url.startswith("http://testserver/storage/embed/?link=")
    entry = AuditEntry.objects.get(action="Create an email history link")
    assert entry.actor == "alice@example.com" and entry.after["days_valid"] == 30
    assert url.split("link=")[1] not in str(entry.after)  # the token itself is not kept
    client.logout()

    before = _rows()
    response = client.get(reverse("console:storage_embed"), {"link": url.split("link=")[1], "email": email})
    assert response.status_code == 200 and _rows() == before
    html = response.content.decode()
    assert campaign.name in html and 'name="link"' in html  # the search box keeps the link
    assert "X-Frame-Options" not in response
    policy = response["Content-Security-Policy"]
    instance = SalesforceOrg.load().instance_url.rstrip("/")
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert directives["frame-ancestors"] == f"'self' {instance} https://*.force.com https://*.salesforce.com"
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"  # the console's policy too
    assert client.get(reverse("console:storage")).status_code == 302  # the rest still needs signing in


def test_a_missing_tampered_or_expired_link_is_refused(client, alice):
    client.force_login(alice)
    url = _created_link(client, "1").removeprefix("http://testserver")
    client.logout()
    embed_url = reverse("console:storage_embed")
    assert client.get(embed_url).status_code == 403
    token = url.split("link=")[1]
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert client.get(embed_url, {"link": tampered}).status_code == 403
    forged = signing.dumps({"days": 365}, salt="another-salt")
    assert client.get(embed_url, {"link": forged}).status_code == 403
    assert client.get(embed_url, {"link": signing.dumps({"days": 365}, salt=embed.SALT)}).status_code == 403  # old
    assert client.get(embed_url, {"link": signing.dumps({"link": 999}, salt=embed.SALT)}).status_code == 403
    assert client.get(url).status_code == 200
    EmbedLink.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.get(url)
    assert response.status_code == 403 and b"expired" in response.content
    assert "frame-ancestors" in response["Content-Security-Policy"]


def test_a_link_is_a_record_listed_in_the_console_and_revoked_there_with_an_audit(client, alice, bob):
    SalesforceOrg.objects.update_or_create(pk=1, defaults={"instance_url": "https://acme-dev.my.salesforce.com"})
    client.force_login(alice)
    form = client.get(reverse("console:storage_email_history")).content.decode()
    assert 'name="days"' in form and 'value="30"' in form  # 30 days unless the admin says otherwise
    first = _created_link(client)
    second = _created_link(client, "365")
    client.post(
        reverse("console:storage_email_history_link"), {"days": "30", "salesforce_domain": "Acme.my.salesforce.com"}
    )
    made = list(EmbedLink.objects.order_by("id"))
    alice_made = [(r.created_by, (r.expires_at - r.created_at).days) for r in made]
    assert alice_made == [("alice@example.com", 30), ("alice@example.com", 365), ("alice@example.com", 30)]
    assert (
        made[0].salesforce_domain == "acme-dev.my.salesforce.com"
        and made[2].salesforce_domain == "acme.my.salesforce.com"
    )
    page = client.get(reverse("console:storage_email_history")).content.decode()
    assert 'data-testid="embed-links"' in page and "acme.my.salesforce.com" in page
    assert page.count("Revoke</button>") == 3
    assert first.split("link=")[1] not in page  # the token is shown once, when made, and never listed

    client.force_login(bob)  # CM User Access sees the list, cannot revoke
    revoke = reverse("console:storage_email_history_link_revoke", kwargs={"pk": made[0].pk})
    assert client.post(revoke).status_code == 403
    assert "Revoke</button>" not in client.get(reverse("console:storage_email_history")).content.decode()

    client.force_login(alice)
    assert client.post(revoke).status_code == 302
    client.logout()
    response = client.get(first.removeprefix("http://testserver"))
    assert response.status_code == 403 and b"revoked" in response.content
    assert client.get(second.removeprefix("http://testserver")).status_code == 200  # the others still work
    entry = AuditEntry.objects.get(action="Revoke an email history link")
    assert entry.actor == "alice@example.com" and entry.after == {"link": made[0].pk, "revoked": True,
                                                                  "salesforce_domain": made[0].salesforce_domain}  # fmt: skip
    made[0].refresh_from_db()
    assert made[0].revoked_by == "alice@example.com" and made[0].revoked_at is not None


def test_a_link_is_valid_for_1_to_365_days(client, alice):
    client.force_login(alice)
    for days in ("0", "366", "many"):
        response = client.post(reverse("console:storage_email_history_link"), {"days": days})
        html = response.content.decode()
        assert 'id="days-error"' in html and 'id="embed-url"' not in html, days
    assert not AuditEntry.objects.exists()


def test_a_campaign_monitor_failure_is_shown_and_is_a_maintenance_message(client, bob, emulators, world):
    from cmsf.connections.models import CampaignMonitorAccount

    emulators(salesforce=False)
    account = CampaignMonitorAccount.load()
    account.api_key = "not-the-key"
    account.save()
    client.force_login(bob)
    response = client.get(reverse("console:storage_email_history"), {"email": _person(world)[0]})
    assert response.status_code == 200
    assert b"Campaign Monitor did not give the email history" in response.content
    message = MaintenanceMessage.objects.get()
    assert message.support_code == "CMSF-EMAIL-HISTORY" and "Reconnect Campaign Monitor" in message.guidance
    assert _person(world)[0] not in message.details  # the address is not kept
