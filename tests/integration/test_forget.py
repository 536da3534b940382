"""The right to be forgotten against both emulators over TLS: nothing with the email is left in Salesforce's cmsf
records or in cmsf's database, the subscriber is Deleted in Campaign Monitor when asked, the audit log keeps only a
hash, and the next syncs never write the email again."""

from __future__ import annotations

from collections import Counter

import pytest
from django.apps import apps
from django.urls import reverse
from django.utils import timezone

from cmsf.connections import services as connections
from cmsf.maintenance.models import AuditEntry
from cmsf.options.models import CampaignSettings, GeneralOptions, TrackingHistorySettings
from cmsf.sync import services as sync
from cmsf.sync.forget import email_hash, forget
from cmsf.sync.models import DirectoryEntry, ForgottenEmail, RecordMap, SyncRun
from cmsf.sync.watcher import watch_once

pytestmark = pytest.mark.django_db(transaction=True)
ZONE = "(GMT) Coordinated Universal Time"


def sync_all(*, full: bool = False) -> None:
    for client in sync.clients_to_sync():
        assert sync.sync_client(client=client, full=full).status == SyncRun.Status.SUCCEEDED


@pytest.fixture
def world(start_emulators):
    running = start_emulators(41)
    settings = CampaignSettings.load()
    settings.auto_create_campaigns, settings.auto_create_since = True, timezone.now().replace(year=2000)
    settings.auto_create_missing_statuses = True  # no member held back: every sync succeeds cleanly
    settings.save()
    tracking = TrackingHistorySettings.load()
    tracking.campaign_member_aggregates = True
    tracking.save()
    GeneralOptions.objects.filter(pk=GeneralOptions.load().pk).update(sync_suppression_list=True)
    sync_all()
    running.sf, running.cm = connections.salesforce(), connections.campaign_monitor()
    return running


def everything_with(running, email: str) -> dict[str, int]:
    """cmsf's records in Salesforce that hold the email, by object."""
    found = {}
    for sobject in ("CMSF_Subscriber__c", "CMSF_Email_Activity__c", "CMSF_Suppression__c"):
        found[sobject] = len(list(running.sf.query(f"SELECT Id FROM {sobject} WHERE Email__c = '{email}'")))
    return found


def busiest_contact(running) -> tuple[str, str]:
    """A contact whose email has memberships, tracking history and campaign members."""
    people = Counter(RecordMap.objects.filter(sobject="CMSF_Email_Activity__c").exclude(person_id="")
                     .values_list("person_id", flat=True))  # fmt: skip
    for person, _ in people.most_common():
        entry = DirectoryEntry.objects.filter(record_id=person, sobject="Contact").exclude(email_lower="").first()
        if entry and RecordMap.objects.filter(sobject="CampaignMember", key__endswith=f":{person}").exists():
            counts = everything_with(running, entry.email_lower)
            if counts["CMSF_Subscriber__c"] and counts["CMSF_Email_Activity__c"]:
                return person, entry.email_lower
    raise AssertionError("the dataset has a contact with memberships, history and campaign members")


def test_forgetting_leaves_nothing_of_the_email_and_the_syncs_never_write_it_again(world):
    person, email = busiest_contact(world)
    lists = [r["List__r.List_Id__c"] for r in world.sf.query(
        f"SELECT List__r.List_Id__c FROM CMSF_Subscriber__c WHERE Email__c = '{email}'")]  # fmt: skip
    members = RecordMap.objects.filter(sobject="CampaignMember", key__endswith=f":{person}").count()

    done = forget(email.upper(), in_campaign_monitor=True, actor="alice@example.com")
    assert done.problems == [] and done.salesforce["CMSF_Subscriber__c"] == len(lists)
    assert done.salesforce["CampaignMember"] == members
    assert everything_with(world, email) == {"CMSF_Subscriber__c": 0, "CMSF_Email_Activity__c": 0,
                                             "CMSF_Suppression__c": 0}  # fmt: skip
    assert not list(world.sf.query(f"SELECT Id FROM CampaignMember WHERE ContactId = '{person}'"))
    assert set(done.campaign_monitor_lists) >= set(lists)
    assert all(world.cm.subscriber(list_id, email, zone=ZONE).state == "Deleted" for list_id in lists)

    # Nowhere in cmsf's database, but as a hash in the audit log.
    for model in apps.get_models():
        if model._meta.managed and not model._meta.proxy:
            for row in model.objects.all().values():
                assert email not in str(row).lower(), f"{model._meta.label} still holds the email: {row}"
    entry = AuditEntry.objects.get(action="Forget a person")
    assert entry.actor == "alice@example.com" and entry.after["email_sha256_hmac"] == email_hash(email)
    assert ForgottenEmail.objects.filter(email_hash=email_hash(email)).exists()

    # The syncs (a full one too: it reads every subscriber and all history again) never write it back.
    sync_all()
    sync_all(full=True)
    assert everything_with(world, email) == {"CMSF_Subscriber__c": 0, "CMSF_Email_Activity__c": 0,
                                             "CMSF_Suppression__c": 0}  # fmt: skip
    assert not list(world.sf.query(f"SELECT Id FROM CampaignMember WHERE ContactId = '{person}'"))


def test_forgetting_quotes_the_email_nowhere_in_what_cmsf_logged_of_it(world):
    GeneralOptions.objects.filter(pk=1).update(unsubscribe_on_opt_out=True)
    watch_once()  # starts watching
    person, email = busiest_contact(world)
    world.sf.update("Contact", [{"Id": person, "HasOptedOutOfEmail": True}])
    assert watch_once().done.get("unsubscribed")
    assert any(email in str(e.after).lower() for e in AuditEntry.objects.filter(actor="cmsf"))
    forget(email, in_campaign_monitor=False, actor="test")
    assert not any(email in str(e.after).lower() for e in AuditEntry.objects.all())
    assert AuditEntry.objects.filter(actor="cmsf", after__email__startswith="forgotten:").exists()


def test_disable_triggers_keeps_campaign_monitor_unchanged_and_says_so(world):
    GeneralOptions.objects.filter(pk=1).update(disable_triggers=True)
    _, email = busiest_contact(world)
    done = forget(email, in_campaign_monitor=True, actor="test")
    assert done.campaign_monitor_lists == [] and "Disable triggers is on" in done.problems[0]
    assert everything_with(world, email)["CMSF_Subscriber__c"] == 0


def test_the_console_asks_first_then_forgets(client, alice, world):
    _, email = busiest_contact(world)
    client.force_login(alice)
    asked = client.post(reverse("console:options_forget"), {"email": email, "in_campaign_monitor": "on"})
    assert asked.status_code == 200 and 'data-testid="forget-confirm"' in asked.content.decode()
    assert everything_with(world, email)["CMSF_Subscriber__c"] > 0  # nothing happened yet
    done = client.post(reverse("console:options_forget"), {"email": email, "in_campaign_monitor": "on",
                                                           "confirmed": "True"}, follow=True)  # fmt: skip
    assert "Forgotten:" in done.content.decode() and everything_with(world, email)["CMSF_Subscriber__c"] == 0
    bad = client.post(reverse("console:options_forget"), {"email": "not an email"})
    assert bad.status_code == 400 and 'data-error-for="email"' in bad.content.decode()


def test_the_hash_does_not_depend_on_the_signing_key_and_hashes_made_with_it_still_count(settings):
    import hashlib
    import hmac

    from cmsf.sync.forget import is_forgotten

    before = email_hash("A.Person@Example.org")
    settings.SECRET_KEY = "a signing key rotated to end every session"
    assert email_hash("a.person@example.org") == before  # the same on every machine, whatever its signing key
    earlier = hmac.new(settings.SECRET_KEY.encode(), b"a.person@example.org", hashlib.sha256).hexdigest()
    assert is_forgotten("A.Person@example.org", frozenset({earlier}))  # forgotten by an earlier version
    assert not is_forgotten("someone.else@example.org", frozenset({earlier, before}))


def test_forgetting_deletes_the_tasks_of_smart_emails_sent_to_the_email(world):
    from cmsf.sync import transactional

    person, email = busiest_contact(world)
    sent = timezone.now()
    send = transactional.Send(
        smart_email_id="bb4a6ebb-663d-42a0-bdbe-60512cf30a01",
        smart_email_name="Survey",
        message_id="0cfe150d-d507-11e4-84a7-c31e5b59881d",
        recipient=f"Someone <{email}>",
        status="Received",
        related_id=None,
        sent_at=sent,
        client_id="",
    )
    [message] = transactional.record_sends([send], world.sf)
    assert message.task_id and message.who_id == person
    assert list(world.sf.query(f"SELECT Id FROM Task WHERE Id = '{message.task_id}'"))

    done = forget(email, in_campaign_monitor=False, actor="alice@example.com")
    assert done.problems == [] and done.salesforce["Task"] == 1
    assert not list(world.sf.query(f"SELECT Id FROM Task WHERE Id = '{message.task_id}'"))
    assert done.local["smart email messages"] == 1
