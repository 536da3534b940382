"""Signing in: the lockout of repeated failures (django-axes), "Log in with Salesforce" and "Change Salesforce
Sync User", both through the OAuth web-server flow against the Salesforce emulator over TLS."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.urls import reverse

from cmsf.connections import services as connections
from cmsf.connections.models import SalesforceOrg
from cmsf.maintenance.models import AuditEntry

pytestmark = pytest.mark.django_db(transaction=True)
CALLBACK = "http://testserver/oauth/salesforce/callback"


def test_repeated_failed_sign_ins_are_locked_out_and_the_right_password_then_waits(client, alice, bob, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = client.post(reverse("console:login"), {"username": "alice@example.com", "password": "wrong"})
        assert response.status_code == 200 and b"didn't match" in response.content
    locked = client.post(reverse("console:login"), {"username": "alice@example.com", "password": "wrong"})
    assert locked.status_code == 429 and b"Too many failed sign-ins" in locked.content
    # Locked out: even the right password is refused until the cool-off ends.
    again = client.post(reverse("console:login"), {"username": "alice@example.com", "password": "alice-password-1"})
    assert again.status_code == 429
    # Another user from the same address is not locked out by alice's failures.
    other = client.post(reverse("console:login"), {"username": "bob@example.com", "password": "bob-password-1"})
    assert other.status_code == 302


def test_a_successful_sign_in_clears_the_failures(client, alice, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        client.post(reverse("console:login"), {"username": "alice@example.com", "password": "wrong"})
    ok = client.post(reverse("console:login"), {"username": "alice@example.com", "password": "alice-password-1"})
    assert ok.status_code == 302
    client.logout()
    response = client.post(reverse("console:login"), {"username": "alice@example.com", "password": "wrong"})
    assert response.status_code == 200  # counted from zero again


@pytest.fixture
def org(start_emulators):
    """The Salesforce emulator over TLS, connected with the JWT flow and the connected app's secret, the console's
    callback URL added to the connected app."""
    running = start_emulators(7, world=False, client_secret=True)
    running.sf_admin("POST", "/oauth/callback-urls", json={"url": CALLBACK})
    return running.org, running.sf_base, running.ca


def _users(org_data, *, active: bool) -> list[dict]:
    return [u for u in org_data.records["User"] if u["IsActive"] is active]


def _sign_in_at_salesforce(client, start_response, username: str, base: str, ca: str):
    """Follow the console's redirect to the emulator's login page, sign in there, and bring the code back."""
    assert start_response.status_code == 302
    authorize = start_response["Location"]
    assert authorize.startswith(base + "/services/oauth2/authorize?")
    params = {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}
    assert params["redirect_uri"] == CALLBACK and params["response_type"] == "code" and params["state"]
    answer = requests.post(
        f"{base}/services/oauth2/authorize", data={**params, "username": username}, verify=ca,
        allow_redirects=False, timeout=30,
    )  # fmt: skip
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == CALLBACK
    return client.get(reverse("console:salesforce_callback") + "?" + back.query)


def test_log_in_with_salesforce_signs_in_the_console_user_with_the_same_email(client, org, django_user_model):
    data, base, ca = org
    sf_user = _users(data, active=True)[1]
    from django.contrib.auth.models import Group

    dora = django_user_model.objects.create_user("dora", sf_user["Email"].upper(), "dora-password-1")
    dora.groups.add(Group.objects.get(name="CM User Access"))
    page = client.get(reverse("console:login"))
    assert b"Log in with Salesforce" in page.content
    response = _sign_in_at_salesforce(client, client.get(reverse("console:salesforce_login")), sf_user["Username"],
                                      base, ca)  # fmt: skip
    assert response.status_code == 302 and response["Location"] == reverse("console:home")
    assert client.get(reverse("console:home")).context["user"] == dora


def test_log_in_with_salesforce_refuses_a_salesforce_user_who_is_no_console_user(client, org):
    data, base, ca = org
    sf_user = _users(data, active=True)[2]
    response = _sign_in_at_salesforce(client, client.get(reverse("console:salesforce_login")), sf_user["Username"],
                                      base, ca)  # fmt: skip
    assert response.status_code == 302 and response["Location"] == reverse("console:login")
    page = client.get(reverse("console:login"))
    assert f"No console user has the email {sf_user['Email']}" in page.content.decode()
    assert client.get(reverse("console:home")).status_code == 302  # still signed out


def test_a_callback_without_the_sessions_state_is_refused(client, org):
    response = client.get(reverse("console:salesforce_callback") + "?code=abc&state=forged")
    assert response.status_code == 302 and response["Location"] == reverse("console:login")
    assert "not started here" in client.get(reverse("console:login")).content.decode()


def test_change_salesforce_sync_user_moves_the_sync_to_the_signed_in_user(client, alice, org):
    data, base, ca = org
    before = SalesforceOrg.load().sync_user_id
    new_user = next(u for u in _users(data, active=True) if u["Id"][:15] != before[:15])
    client.force_login(alice)
    response = _sign_in_at_salesforce(client, client.post(reverse("console:change_sync_user")), new_user["Username"],
                                      base, ca)  # fmt: skip
    assert response.status_code == 302 and response["Location"] == reverse("console:home")
    stored = SalesforceOrg.load()
    assert stored.sync_user_id[:15] == new_user["Id"][:15] and stored.sync_user_name == new_user["Name"]
    assert stored.auth_flow == SalesforceOrg.AuthFlow.WEB_SERVER and stored.refresh_token and not stored.jwt_private_key
    entry = AuditEntry.objects.filter(action="Change the Salesforce Sync User").get()
    assert entry.actor == "alice@example.com" and entry.after["sync_user"] == new_user["Name"]
    # The sync now runs as the new user: a fresh token from the stored refresh token works.
    adapter = connections.salesforce()
    adapter.reauthenticate()
    assert adapter.token.user_id[:15] == new_user["Id"][:15]


def test_user_access_cannot_change_the_sync_user(client, bob, org):
    client.force_login(bob)
    assert client.post(reverse("console:change_sync_user")).status_code == 403
