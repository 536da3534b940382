"""The HTTP API against both emulators over TLS: a subscriber added, updated and resubscribed through the outbound
gate (an opted-out contact, a suppressed address, a bounced one and Disable triggers refused, with the reason),
unsubscribed from one list or every list, an import wizard run through the API, `cmsf api-token`, and the audit log:
the API's row per call, and cmsf's own row for each change in Campaign Monitor."""

from __future__ import annotations

import pytest

from cmsf.audience.models import ImportWizard
from cmsf.cli import main as cli_main
from cmsf.connections import services as connections
from cmsf.connections.models import CampaignMonitorClient
from cmsf.maintenance.models import AuditEntry
from cmsf.options.models import GeneralOptions
from cmsf.sync.outbound import ANY_ZONE
from tests.api_calls import call, make_token

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(start_emulators):
    running = start_emulators(47)
    running.cm = connections.campaign_monitor()
    running.sf = connections.salesforce()
    running.client = CampaignMonitorClient.objects.order_by("pk").first()
    running.lists = [lst.list_id for lst in running.cm.lists(running.client.cm_client_id)]
    return running


def state(world, list_id: str, email: str) -> str | None:
    found = world.cm.subscriber(list_id, email, zone=ANY_ZONE)
    return found.state if found else None


def test_subscribers_go_through_the_outbound_gate(client, world):
    secret = make_token()
    list_id = world.lists[0]
    add = {"list_id": list_id, "email": "new.person@example.org", "name": "New Person", "consent_to_track": "Yes"}

    answer = call(client, "POST", "/api/v1/subscribers", token=secret, body=add)
    assert answer.status == 201 and answer.body["outcome"] == "added"
    assert state(world, list_id, "new.person@example.org") == "Active"
    answer = call(client, "POST", "/api/v1/subscribers", token=secret, body={**add, "name": "Renamed"})
    assert answer.status == 200 and answer.body["outcome"] == "updated"
    assert world.cm.subscriber(list_id, "new.person@example.org", zone=ANY_ZONE).name == "Renamed"

    # Unsubscribed: left alone without resubscribe, brought back with it (once out of the suppression list, where
    # the list's setting put the unsubscribe).
    world.cm.unsubscribe(list_id, "new.person@example.org")
    answer = call(client, "POST", "/api/v1/subscribers", token=secret, body={**add, "resubscribe": True})
    assert answer.status == 422 and "suppression list" in answer.body["error"]["message"]
    world.cm.unsuppress(world.client.cm_client_id, "new.person@example.org")
    answer = call(client, "POST", "/api/v1/subscribers", token=secret, body=add)
    assert answer.status == 422 and "Unsubscribed" in answer.body["error"]["message"]
    answer = call(client, "POST", "/api/v1/subscribers", token=secret, body={**add, "resubscribe": True})
    assert answer.status == 200 and answer.body["outcome"] == "resubscribed"
    assert state(world, list_id, "new.person@example.org") == "Active"

    # An opted-out contact, when General Options prevent adding them.
    world.sf.insert("Contact", [{"LastName": "Out", "Email": "opted.out@example.org", "HasOptedOutOfEmail": True}])
    GeneralOptions.objects.filter(pk=GeneralOptions.load().pk).update(prevent_adding_opted_out=True)
    answer = call(client, "POST", "/api/v1/subscribers", token=secret,
                  body={"list_id": list_id, "email": "opted.out@example.org"})  # fmt: skip
    assert answer.status == 422 and "Email Opt Out" in answer.body["error"]["message"]
    assert state(world, list_id, "opted.out@example.org") is None

    # An address in the client's suppression list.
    world.cm.suppress(world.client.cm_client_id, ["suppressed@example.org"])
    answer = call(client, "POST", "/api/v1/subscribers", token=secret,
                  body={"list_id": list_id, "email": "suppressed@example.org"})  # fmt: skip
    assert answer.status == 422 and "suppression list" in answer.body["error"]["message"]
    assert state(world, list_id, "suppressed@example.org") is None

    # A list of no client cmsf syncs.
    answer = call(client, "POST", "/api/v1/subscribers", token=secret, body={**add, "list_id": "no-such-list"})
    assert answer.status == 422 and answer.body["error"]["code"] == "unknown_list"

    # Disable triggers stops every push.
    GeneralOptions.objects.filter(pk=GeneralOptions.load().pk).update(disable_triggers=True)
    answer = call(client, "POST", "/api/v1/subscribers", token=secret, body={**add, "email": "later@example.org"})
    assert answer.status == 409 and answer.body["error"]["code"] == "triggers_disabled"
    assert state(world, list_id, "later@example.org") is None

    # The audit log: cmsf's row for each change (with the reason), the API's row for each call (no address).
    changes = list(AuditEntry.objects.filter(actor="cmsf").order_by("pk").values_list("action", flat=True))
    assert changes == ["Add to Campaign Monitor", "Update in Campaign Monitor", "Resubscribe in Campaign Monitor"]
    assert AuditEntry.objects.filter(actor="cmsf").first().after["because"] == "asked through the API token flows"
    calls = AuditEntry.objects.filter(actor="API token flows").order_by("pk")
    assert [e.after["status"] for e in calls] == [201, 200, 422, 422, 200, 422, 422, 422, 409]
    assert not any("@" in str(e.after) for e in calls)


def test_unsubscribe_from_one_list_or_every_list(client, world):
    secret = make_token()
    one, two = world.lists[:2]
    for email in ("one.list@example.org", "every.list@example.org"):
        for list_id in (one, two):
            assert call(client, "POST", "/api/v1/subscribers", token=secret,
                        body={"list_id": list_id, "email": email}).status == 201  # fmt: skip
    answer = call(client, "POST", "/api/v1/subscribers/unsubscribe", token=secret,
                  body={"email": "one.list@example.org", "list_id": one})  # fmt: skip
    assert answer.status == 200 and answer.body == {"email": "one.list@example.org", "lists": [one]}
    assert state(world, one, "one.list@example.org") == "Unsubscribed"
    everywhere = call(client, "POST", "/api/v1/subscribers/unsubscribe", token=secret,
                      body={"email": "every.list@example.org"})  # fmt: skip
    # Every list where it was active (a list set to unsubscribe from all the client's lists does the rest itself).
    assert everywhere.status == 200 and everywhere.body["lists"] and set(everywhere.body["lists"]) <= {one, two}
    assert {state(world, one, "every.list@example.org"), state(world, two, "every.list@example.org")} == {
        "Unsubscribed"
    }
    answer = call(client, "POST", "/api/v1/subscribers/unsubscribe", token=secret, body={"email": "not-an-address"})
    assert answer.status == 400
    answer = call(client, "POST", "/api/v1/subscribers/unsubscribe", token=secret,
                  body={"email": "every.list@example.org", "list_id": "no-such-list"})  # fmt: skip
    assert answer.status == 422 and answer.body["error"]["code"] == "unknown_list"
    unsubscribed = AuditEntry.objects.filter(actor="cmsf", action="Unsubscribe in Campaign Monitor").count()
    assert unsubscribed == 1 + len(everywhere.body["lists"])


def test_an_import_wizard_runs_through_the_api_and_its_run_is_read(client, world, immediate_queue):
    secret = make_token()
    campaign = world.sf.insert("Campaign", [{"Name": "Flow import"}])[0].id
    contact = world.sf.insert("Contact", [{"LastName": "Flow", "Email": "flow.import@example.org"}])[0].id
    world.sf.insert("CampaignMember", [{"CampaignId": campaign, "ContactId": contact, "Status": "Sent"}])
    wizard = ImportWizard(name="Flow import", client=world.client, list_id=world.lists[0], campaign_id=campaign)
    wizard.full_clean()
    wizard.save()
    answer = call(client, "POST", "/api/v1/import-wizards/Flow%20import/run", token=secret)
    assert answer.status == 202
    read = call(client, "GET", f"/api/v1/runs/{answer.body['id']}", token=secret)
    assert read.body["status"] == "succeeded" and read.body["counts"]["imported"] == 1, read.body
    assert state(world, world.lists[0], "flow.import@example.org") == "Active"


def test_the_cli_makes_lists_and_revokes_tokens(client, world, capsys):
    assert cli_main(["api-token", "create", "flows", "--scope", "subscribers", "imports", "--rate", "120"]) == 0
    printed = capsys.readouterr().out.splitlines()
    secret = printed[-1]
    assert secret.startswith("cmsf_") and "shown this once" in printed[0]
    assert call(client, "GET", "/api/v1/runs/1", token=secret).status == 404  # accepted, then not found
    assert cli_main(["api-token", "list"]) == 0
    listed = capsys.readouterr().out
    assert "flows" in listed and "subscribers,imports" in listed and "120/min" in listed and secret not in listed
    assert cli_main(["api-token", "revoke", "flows"]) == 0
    capsys.readouterr()
    assert call(client, "GET", "/api/v1/runs/1", token=secret).status == 401
    assert cli_main(["api-token", "create", "flows", "--scope", "send"]) == 2
    assert "exists already" in capsys.readouterr().err
    assert cli_main(["api-token", "revoke", "flows"]) == 2
    assert "revoked already" in capsys.readouterr().err
