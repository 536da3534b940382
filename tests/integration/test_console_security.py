"""User Security: console users and their permission set, and cmsf's Salesforce permission sets assigned and
removed through the API of the Salesforce emulator over TLS."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from cmsf.connections import permissions
from cmsf.connections import services as connections
from cmsf.console.permission_sets import FULL_ACCESS, USER_ACCESS
from cmsf.maintenance.models import AuditEntry, MaintenanceMessage

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Lantern-Quarry-472"


def _groups(email: str) -> set[str]:
    return set(get_user_model().objects.get(username=email).groups.values_list("name", flat=True))


def _signs_in(client, username: str, password: str) -> bool:
    """Sign in through the console's login page; True when the session now has a user."""
    client.post(reverse("console:login"), {"username": username, "password": password})
    return "_auth_user_id" in client.session


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


@pytest.fixture
def org(start_emulators):
    """The Salesforce emulator over TLS, connected as an admin would."""
    return start_emulators(33, world=False).org


def _query(soql: str) -> list[dict]:
    adapter = connections.salesforce()
    try:
        return list(adapter.query(soql))
    finally:
        adapter.session.close()


# -- console users --------------------------------------------------------------------------------------------


def test_both_permission_sets_see_the_users_and_only_full_access_gets_the_forms(client, alice, bob):
    client.force_login(bob)
    html = client.get(reverse("console:security")).content.decode()
    assert 'data-user="alice@example.com"' in html and 'data-user="bob@example.com"' in html
    assert FULL_ACCESS in html and USER_ACCESS in html
    assert 'data-testid="add-user"' not in html and "Deactivate" not in html
    assert "Salesforce is not connected: connect it in Sync Settings first." in html
    client.force_login(alice)
    html = client.get(reverse("console:security")).content.decode()
    assert 'data-testid="add-user"' in html and "Deactivate" in html
    assert 'aria-current="page"' in html and "User Security" in html


def test_each_card_says_which_permission_sets_it_is_about_and_how_they_relate(client, bob):
    client.force_login(bob)
    html = client.get(reverse("console:security")).content.decode().replace("&#x27;", "'")
    console = html.split('data-testid="console-sets-explained">', 1)[1].split("</p>", 1)[0]
    salesforce = html.split('data-testid="salesforce-sets-explained">', 1)[1].split("</p>", 1)[0]
    assert "console's permission sets" in console and "gives nothing in Salesforce" in console
    assert "Salesforce permission sets" in salesforce and "lets no one into this console" in salesforce
    # the Salesforce card says it even when the org cannot be read
    assert html.index("salesforce-sets-explained") < html.index("Salesforce is not connected")


def test_full_access_adds_a_user_who_can_sign_in_and_the_addition_is_audited(client, alice):
    client.force_login(alice)
    response = client.post(
        reverse("console:security_add_user"),
        {"email": "dana@example.com", "permission_set": USER_ACCESS, "password1": NEW_PASSWORD,
         "password2": NEW_PASSWORD},
    )  # fmt: skip
    assert response.status_code == 302
    assert _groups("dana@example.com") == {USER_ACCESS}
    entry = AuditEntry.objects.get(section="security")
    assert entry.actor == "alice@example.com" and entry.after["permission_set"] == USER_ACCESS
    assert NEW_PASSWORD not in str(entry.after)
    client.logout()
    assert _signs_in(client, "dana@example.com", NEW_PASSWORD)


@pytest.mark.parametrize(
    ("values", "field", "text"),
    [
        ({"email": "dana@example.com", "password1": "short", "password2": "short"}, "password1", "too short"),
        ({"email": "dana@example.com", "password1": "12345678901", "password2": "12345678901"}, "password1",
         "entirely numeric"),
        ({"email": "dana@example.com", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD + "x"}, "password2",
         "differ"),
        ({"email": "not-an-email", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}, "email", "as an email address"),
        ({"email": "bob@example.com", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}, "email", "already exists"),
    ],
)  # fmt: skip
def test_bad_input_is_shown_next_to_the_field_with_what_was_typed_and_nothing_is_saved(client, alice, bob, values,
                                                                                       field, text):  # fmt: skip
    client.force_login(alice)
    before = get_user_model().objects.count()
    response = client.post(reverse("console:security_add_user"), {**values, "permission_set": FULL_ACCESS})
    assert response.status_code == 400
    html = response.content.decode()
    error = html.split(f'data-error-for="{field}"', 1)[1].split("</div>", 1)[0]
    assert text in error
    assert "slds-has-error" in html
    assert f'value="{values["email"]}"' in html  # the email typed is kept
    assert f'<option value="{FULL_ACCESS}" selected' in html  # and the permission set chosen
    assert NEW_PASSWORD not in html  # a password is never sent back
    assert get_user_model().objects.count() == before
    assert not AuditEntry.objects.filter(section="security").exists()


def test_full_access_changes_a_users_permission_set_and_it_is_audited(client, alice, bob):
    client.force_login(alice)
    url = reverse("console:security_user_permission_set", args=[bob.pk])
    assert client.post(url, {"permission_set": FULL_ACCESS}).status_code == 302
    assert _groups("bob@example.com") == {FULL_ACCESS}
    entry = AuditEntry.objects.get(section="security")
    assert entry.before == {"permission_set": USER_ACCESS} and entry.after == {"permission_set": FULL_ACCESS}
    client.post(url, {"permission_set": ""})
    assert _groups("bob@example.com") == set()


def test_the_last_full_access_user_cannot_remove_their_own_full_access_or_deactivate(client, alice, bob):
    client.force_login(alice)
    response = client.post(reverse("console:security_user_permission_set", args=[alice.pk]),
                           {"permission_set": USER_ACCESS}, follow=True)  # fmt: skip
    assert any("You are the last active CM Full Access user" in m for m in _messages(response))
    assert _groups("alice@example.com") == {FULL_ACCESS}
    client.post(reverse("console:security_user_active", args=[alice.pk]), {"active": "off"})
    alice.refresh_from_db()
    assert alice.is_active
    assert not AuditEntry.objects.filter(section="security").exists()
    # With a second Full Access user, alice may step down.
    client.post(reverse("console:security_user_permission_set", args=[bob.pk]), {"permission_set": FULL_ACCESS})
    client.post(reverse("console:security_user_permission_set", args=[alice.pk]), {"permission_set": USER_ACCESS})
    assert _groups("alice@example.com") == {USER_ACCESS}


def test_full_access_deactivates_a_user_who_can_no_longer_sign_in(client, alice, bob):
    client.force_login(alice)
    assert client.post(reverse("console:security_user_active", args=[bob.pk]), {"active": "off"}).status_code == 302
    bob.refresh_from_db()
    assert not bob.is_active
    assert AuditEntry.objects.get(section="security").after == {"active": False}
    client.logout()
    assert not _signs_in(client, "bob@example.com", "bob-password-1")


def test_user_access_gets_403_on_every_change(client, alice, bob):
    client.force_login(bob)
    posts = [
        (reverse("console:security_add_user"),
         {"email": "eve@example.com", "permission_set": FULL_ACCESS, "password1": NEW_PASSWORD,
          "password2": NEW_PASSWORD}),
        (reverse("console:security_user_permission_set", args=[bob.pk]), {"permission_set": FULL_ACCESS}),
        (reverse("console:security_user_active", args=[alice.pk]), {"active": "off"}),
        (reverse("console:security_sf_assign"), {"user_id": "005000000000001AAA", "permission_set": "CMSF_User_Access"}),
        (reverse("console:security_sf_remove", args=["0Pa000000000001AAA"]), {}),
    ]  # fmt: skip
    for url, data in posts:
        assert client.post(url, data).status_code == 403, url
    assert _groups("bob@example.com") == {USER_ACCESS}
    assert not get_user_model().objects.filter(username="eve@example.com").exists()
    alice.refresh_from_db()
    assert alice.is_active
    assert not AuditEntry.objects.exists()


# -- Salesforce permission sets ----------------------------------------------------------------------------


def test_salesforce_permission_sets_listed_assigned_and_removed_through_the_api(client, alice, org):
    client.force_login(alice)
    html = client.get(reverse("console:security")).content.decode()
    sync_user = _query(f"SELECT Name FROM User WHERE Id = '{org.sync_user_id}'")[0]["Name"]
    assert 'data-testid="sf-assignments"' in html and sync_user in html and "CMSF_Full_Access" in html

    other = _query(
        f"SELECT Id, Name FROM User WHERE IsActive = true AND Id != '{org.sync_user_id}' ORDER BY Name LIMIT 1"
    )[0]
    assert f'value="{other["Id"]}"' in html  # offered in the list of active users
    response = client.post(reverse("console:security_sf_assign"),
                           {"user_id": other["Id"], "permission_set": "CMSF_User_Access"}, follow=True)  # fmt: skip
    assert any("assigned" in m for m in _messages(response)), _messages(response)
    held = _query(
        "SELECT Id, Assignee.Name, PermissionSet.Name FROM PermissionSetAssignment "
        f"WHERE AssigneeId = '{other['Id']}' AND PermissionSet.Name = 'CMSF_User_Access'"
    )
    assert len(held) == 1 and held[0]["Assignee.Name"] == other["Name"]
    assert f'data-assignment="{held[0]["Id"]}"' in response.content.decode()
    assigned = AuditEntry.objects.get(section="security", action__startswith="Assign")
    assert assigned.after["assignment_id"] == held[0]["Id"] and assigned.actor == "alice@example.com"

    # Salesforce refuses the same assignment twice: shown with what to do, recorded for maintenance.
    response = client.post(reverse("console:security_sf_assign"),
                           {"user_id": other["Id"], "permission_set": "CMSF_User_Access"}, follow=True)  # fmt: skip
    shown = " ".join(_messages(response))
    assert "already has this permission set" in shown
    message = MaintenanceMessage.objects.get(support_code=permissions.SUPPORT_CODE)
    assert message.details.startswith("DUPLICATE_VALUE") and "already has" in message.guidance
    assert len(_query(f"SELECT Id FROM PermissionSetAssignment WHERE AssigneeId = '{other['Id']}'")) == 1

    response = client.post(reverse("console:security_sf_remove", args=[held[0]["Id"]]), follow=True)
    assert any("removed" in m for m in _messages(response)), _messages(response)
    assert _query(f"SELECT Id FROM PermissionSetAssignment WHERE AssigneeId = '{other['Id']}'") == []
    assert AuditEntry.objects.filter(section="security", action__startswith="Remove").count() == 1


def test_an_inactive_user_or_a_foreign_permission_set_is_refused_before_salesforce_is_asked(client, alice, org):
    client.force_login(alice)
    inactive = _query("SELECT Id FROM User WHERE IsActive = false LIMIT 1")[0]["Id"]
    response = client.post(reverse("console:security_sf_assign"),
                           {"user_id": inactive, "permission_set": "CMSF_User_Access"}, follow=True)  # fmt: skip
    assert any("active Salesforce user" in m for m in _messages(response))
    response = client.post(reverse("console:security_sf_assign"),
                           {"user_id": org.sync_user_id, "permission_set": "System_Admin_Stuff"}, follow=True)  # fmt: skip
    assert any("not one of cmsf's permission sets" in m for m in _messages(response))
    assert not AuditEntry.objects.filter(section="security").exists()


def test_api_tokens_are_made_shown_once_listed_and_revoked_after_a_confirmation(client, alice, bob):
    from cmsf.api.models import ApiToken

    client.force_login(alice)
    response = client.post(reverse("console:security_api_token_create"),
                           {"name": "salesforce-flows", "scopes": ["subscribers", "imports"], "rate_per_minute": "30"})  # fmt: skip
    assert response.status_code == 200
    token = ApiToken.objects.get(name="salesforce-flows")
    secret = response.context["new_token"].secret
    assert secret.startswith("cmsf_") and secret.encode() in response.content
    assert token.scopes == ["subscribers", "imports"] and token.rate_per_minute == 30
    page = client.get(reverse("console:security"))
    assert b"salesforce-flows" in page.content and secret.encode() not in page.content  # shown that once only

    bad = client.post(reverse("console:security_api_token_create"), {"name": "salesforce-flows", "scopes": ["send"],
                                                                     "rate_per_minute": "60"})  # fmt: skip
    assert bad.status_code == 400 and b"exists already" in bad.content
    bad = client.post(reverse("console:security_api_token_create"), {"name": "other", "rate_per_minute": "60"})
    assert bad.status_code == 400 and not ApiToken.objects.filter(name="other").exists()

    revoke = reverse("console:security_api_token_revoke", args=[token.pk])
    asked = client.get(revoke)
    assert asked.status_code == 200 and b"Revoke the API token salesforce-flows?" in asked.content
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None  # asking changes nothing
    client.force_login(bob)
    assert client.post(revoke).status_code == 403
    assert b"salesforce-flows" not in client.get(reverse("console:security")).content  # CM Full Access only
    client.force_login(alice)
    assert client.post(revoke).status_code == 302
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None
    assert client.get(revoke).status_code == 404  # revoked already
    actions = list(AuditEntry.objects.filter(section="api").order_by("pk").values_list("actor", "action"))
    assert actions == [("alice@example.com", "Create an API token"), ("alice@example.com", "Revoke an API token")]
