"""The Setup page: Campaign Monitor with an API key or through OAuth, Salesforce through the OAuth web-server flow,
reconnecting, disconnecting, refusing another account or org, and CM User Access seeing but changing nothing; all
against the emulators over TLS."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.db import connection
from django.urls import reverse

from cmsf.connections import services as connections
from cmsf.connections.models import CampaignMonitorAccount, CampaignMonitorClient, SalesforceOrg
from cmsf.maintenance.models import AuditEntry

pytestmark = pytest.mark.django_db(transaction=True)
CM_CALLBACK = "http://testserver/oauth/campaign-monitor/callback"
SF_CALLBACK = "http://testserver/oauth/salesforce/callback"


@pytest.fixture
def cm(start_emulators):
    running = start_emulators(5, org=False, connect=False)
    requests.post(f"{running.cm_base}/admin/oauth/redirect-uris", json={"url": CM_CALLBACK}, verify=running.ca,
                  timeout=30).raise_for_status()  # fmt: skip
    return running


@pytest.fixture
def other_cm(start_emulators):
    return start_emulators(6, org=False, connect=False)


@pytest.fixture
def sf(start_emulators):
    running = start_emulators(7, world=False, connect=False)
    running.sf_admin("POST", "/oauth/callback-urls", json={"url": SF_CALLBACK})
    return running


@pytest.fixture
def other_sf(start_emulators):
    running = start_emulators(8, world=False, connect=False)
    running.sf_admin("POST", "/oauth/callback-urls", json={"url": SF_CALLBACK})
    return running


def _messages(client) -> str:
    return client.get(reverse("console:setup")).content.decode()


def _key_form(running, api_key: str, **extra: str) -> dict[str, str]:
    return {"key-api_key": api_key, "key-api_base_url": f"{running.cm_base}/api/v3.3", "key-ca_file": running.ca,
            **extra}  # fmt: skip


# -- the page, the banner, the menu and the rights ----------------------------------------------------------------


def test_the_home_page_banner_and_menu_lead_to_setup(client, alice):
    client.force_login(alice)
    home = client.get(reverse("console:home")).content.decode()
    assert 'data-testid="setup-banner"' in home and "Campaign Monitor and Salesforce are not connected" in home
    assert home.count(f'href="{reverse("console:setup")}"') >= 2  # the banner and the menu
    page = client.get(reverse("console:setup"))
    assert page.status_code == 200
    html = page.content.decode()
    assert CM_CALLBACK in html and SF_CALLBACK in html  # what to register in each OAuth app
    assert 'data-testid="cm-key-form"' in html and 'data-testid="sf-form"' in html


def test_user_access_sees_setup_without_its_forms_and_every_change_is_refused(client, bob):
    client.force_login(bob)
    page = client.get(reverse("console:setup"))
    assert page.status_code == 200 and 'data-testid="sf-form"' not in page.content.decode()
    for name in ("setup_campaign_monitor_key", "setup_campaign_monitor_oauth", "setup_salesforce_connect",
                 "setup_salesforce_disconnect"):  # fmt: skip
        assert client.post(reverse(f"console:{name}"), {"key-api_key": "x"}).status_code == 403, name
    assert client.get(reverse("console:campaign_monitor_callback") + "?code=x&state=y").status_code == 403
    assert not AuditEntry.objects.exists()


# -- Campaign Monitor with an API key --------------------------------------------------------------------------


def test_campaign_monitor_connects_with_a_key_and_reconnects_keeping_a_blank_key(client, alice, cm):
    client.force_login(alice)
    response = client.post(reverse("console:setup_campaign_monitor_key"), _key_form(cm, cm.world.account_api_key))
    assert response.status_code == 302 and response["Location"] == reverse("console:setup")
    account = CampaignMonitorAccount.load()
    assert account.is_connected and account.auth_method == "api_key" and account.ca_file == cm.ca
    assert CampaignMonitorClient.objects.count() == len(cm.world.clients)
    assert "Campaign Monitor is connected with an API key" in _messages(client)

    again = client.post(reverse("console:setup_campaign_monitor_key"), _key_form(cm, ""))
    assert again.status_code == 302
    assert CampaignMonitorAccount.load().api_key == cm.world.account_api_key
    actions = list(AuditEntry.objects.order_by("pk").values_list("action", flat=True))
    assert actions == ["Connect Campaign Monitor", "Reconnect Campaign Monitor"]


def test_a_blank_key_with_nothing_stored_and_a_bad_base_url_are_refused_on_the_form(client, alice, cm):
    client.force_login(alice)
    blank = client.post(reverse("console:setup_campaign_monitor_key"), _key_form(cm, ""))
    assert blank.status_code == 400 and "Enter the API key." in blank.content.decode()
    bad = client.post(
        reverse("console:setup_campaign_monitor_key"),
        _key_form(cm, cm.world.account_api_key, **{"key-api_base_url": "http://cm.example.com/api/v3.3"}),
    )
    html = bad.content.decode()
    assert bad.status_code == 400 and 'data-testid="error-key-api_base_url"' in html and "https" in html
    no_ca = client.post(reverse("console:setup_campaign_monitor_key"),
                        _key_form(cm, cm.world.account_api_key, **{"key-ca_file": "/nonexistent/ca.pem"}))  # fmt: skip
    assert no_ca.status_code == 400 and 'data-testid="error-key-ca_file"' in no_ca.content.decode()
    assert not CampaignMonitorAccount.load().is_connected


def test_another_campaign_monitor_account_is_refused_until_disconnect(client, alice, cm, other_cm):
    client.force_login(alice)
    client.post(reverse("console:setup_campaign_monitor_key"), _key_form(cm, cm.world.account_api_key))
    first = set(CampaignMonitorClient.objects.filter(active=True).values_list("cm_client_id", flat=True))
    refused = client.post(reverse("console:setup_campaign_monitor_key"),
                          _key_form(other_cm, other_cm.world.account_api_key))  # fmt: skip
    assert refused.status_code == 400 and "disconnect Campaign Monitor first" in refused.content.decode()
    account = CampaignMonitorAccount.load()
    assert account.api_key == cm.world.account_api_key and account.api_base_url.startswith(cm.cm_base)
    assert set(CampaignMonitorClient.objects.filter(active=True).values_list("cm_client_id", flat=True)) == first

    assert client.post(reverse("console:disconnect")).status_code == 302
    switched = client.post(reverse("console:setup_campaign_monitor_key"),
                           _key_form(other_cm, other_cm.world.account_api_key))  # fmt: skip
    assert switched.status_code == 302 and CampaignMonitorAccount.load().api_key == other_cm.world.account_api_key


# -- Campaign Monitor through OAuth ----------------------------------------------------------------------------


def _oauth_form(running, secret: str) -> dict[str, str]:
    app = running.world.oauth_app
    return {"oauth-oauth_client_id": app.client_id, "oauth-oauth_client_secret": secret,
            "oauth-api_base_url": f"{running.cm_base}/api/v3.3", "oauth-ca_file": running.ca}  # fmt: skip


def _approve_at_campaign_monitor(client, start, running):
    """Follow the console's redirect to Campaign Monitor's approval, and bring its answer back."""
    assert start.status_code == 302, start.content.decode()[:2000]
    authorize = start["Location"]
    assert authorize.startswith(f"{running.cm_base}/oauth?")
    params = parse_qs(urlsplit(authorize).query)
    assert params["redirect_uri"] == [CM_CALLBACK] and params["state"][0]
    answer = requests.get(authorize, verify=running.ca, allow_redirects=False, timeout=30)
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == CM_CALLBACK
    return client.get(reverse("console:campaign_monitor_callback") + "?" + back.query)


def test_campaign_monitor_connects_through_oauth_and_keeps_the_app_secret_encrypted(client, alice, cm):
    client.force_login(alice)
    secret = cm.world.oauth_app.client_secret
    start = client.post(reverse("console:setup_campaign_monitor_oauth"), _oauth_form(cm, secret))
    response = _approve_at_campaign_monitor(client, start, cm)
    assert response.status_code == 302 and response["Location"] == reverse("console:setup")
    account = CampaignMonitorAccount.load()
    assert account.auth_method == "oauth" and account.oauth_access_token and account.oauth_refresh_token
    assert account.oauth_client_id == cm.world.oauth_app.client_id and account.oauth_client_secret == secret
    assert account.oauth_expires_at is not None and not account.api_key
    with connection.cursor() as cursor:
        cursor.execute("SELECT oauth_client_secret FROM connections_campaignmonitoraccount")
        assert secret not in cursor.fetchone()[0]  # encrypted at rest
    assert "Campaign Monitor is connected through OAuth" in _messages(client)
    assert {c.client_id for c in connections.campaign_monitor().clients()} == set(cm.world.clients)

    # Reconnecting through OAuth with a blank secret keeps the stored secret of the same app.
    again = _approve_at_campaign_monitor(client, client.post(reverse("console:setup_campaign_monitor_oauth"),
                                                             _oauth_form(cm, "")), cm)  # fmt: skip
    assert again.status_code == 302 and CampaignMonitorAccount.load().oauth_client_secret == secret
    assert AuditEntry.objects.filter(action="Reconnect Campaign Monitor").exists()


def test_a_campaign_monitor_callback_with_a_bad_state_connects_nothing(client, alice, cm):
    client.force_login(alice)
    client.post(reverse("console:setup_campaign_monitor_oauth"), _oauth_form(cm, cm.world.oauth_app.client_secret))
    forged = client.get(reverse("console:campaign_monitor_callback") + "?code=abc&state=forged")
    assert forged.status_code == 302 and forged["Location"] == reverse("console:setup")
    assert "not started here or has expired" in _messages(client)
    assert not CampaignMonitorAccount.load().is_connected
    # the state was used up: the real answer, arriving after, is refused too
    assert client.get(reverse("console:campaign_monitor_callback") + "?code=abc&state=x").status_code == 302
    assert not CampaignMonitorAccount.load().is_connected


def test_a_missing_oauth_secret_is_asked_for(client, alice, cm):
    client.force_login(alice)
    response = client.post(reverse("console:setup_campaign_monitor_oauth"), _oauth_form(cm, ""))
    assert response.status_code == 400 and "Enter the OAuth app&#x27;s client secret." in response.content.decode()


# -- Salesforce through the OAuth web-server flow ---------------------------------------------------------------


def _sf_form(running, secret: str) -> dict[str, str]:
    return {"sf-login_domain": "custom", "sf-custom_login_url": running.sf_base, "sf-my_domain": "",
            "sf-client_id": running.org.oauth.client_id, "sf-client_secret": secret, "sf-ca_file": running.ca}  # fmt: skip


def _connect_salesforce(client, running, *, secret: str | None = None, username: str | None = None):
    """Post the Connect form, sign in at the emulator's login page, and bring the code back to the callback."""
    start = client.post(reverse("console:setup_salesforce_connect"),
                        _sf_form(running, running.org.oauth.client_secret if secret is None else secret))  # fmt: skip
    assert start.status_code == 302, start.content.decode()[:3000]
    authorize = start["Location"]
    assert authorize.startswith(f"{running.sf_base}/services/oauth2/authorize?")
    params = {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}
    assert params["redirect_uri"] == SF_CALLBACK and params["state"]
    answer = requests.post(
        f"{running.sf_base}/services/oauth2/authorize",
        data={**params, "username": username or running.org.oauth.jwt_username},
        verify=running.ca, allow_redirects=False, timeout=30,
    )  # fmt: skip
    assert answer.status_code == 302, answer.text
    return client.get(reverse("console:salesforce_callback") + "?" + urlsplit(answer.headers["location"]).query)


def test_salesforce_connects_through_the_web_server_flow_and_shows_the_org_user_and_schema(client, alice, sf):
    client.force_login(alice)
    response = _connect_salesforce(client, sf)
    assert response.status_code == 302 and response["Location"] == reverse("console:setup")
    org = SalesforceOrg.load()
    assert org.is_connected and org.auth_flow == "web_server" and org.refresh_token
    assert org.org_id[:15] == sf.org.org_id[:15] and org.client_secret == sf.org.oauth.client_secret
    assert org.sync_user_name and org.login_url == sf.sf_base
    html = _messages(client)
    assert "Salesforce is connected" in html and org.sync_user_name in html and org.org_id in html
    assert 'data-testid="schema-result"' in html  # the schema check ran right after connecting
    assert AuditEntry.objects.filter(action="Connect Salesforce", actor="alice@example.com").exists()


def test_salesforce_reconnects_keeping_a_blank_secret_of_the_same_app(client, alice, sf):
    client.force_login(alice)
    _connect_salesforce(client, sf)
    first_token = SalesforceOrg.load().refresh_token
    again = _connect_salesforce(client, sf, secret="")
    assert again.status_code == 302
    org = SalesforceOrg.load()
    assert org.is_connected and org.client_secret == sf.org.oauth.client_secret and org.refresh_token != first_token
    assert AuditEntry.objects.filter(action="Reconnect Salesforce").exists()


def test_another_salesforce_org_is_refused_until_disconnect(client, alice, sf, other_sf):
    client.force_login(alice)
    _connect_salesforce(client, sf)
    refused = _connect_salesforce(client, other_sf)
    assert refused.status_code == 302 and refused["Location"] == reverse("console:setup")
    assert "disconnect Salesforce first" in _messages(client)
    assert SalesforceOrg.load().org_id[:15] == sf.org.org_id[:15] and SalesforceOrg.load().is_connected

    from cmsf.sync.models import ClientLease, SyncRun

    queued = SyncRun.objects.create(client=CampaignMonitorClient.objects.create(cm_client_id="c1", name="C"),
                                    status=SyncRun.Status.QUEUED)  # fmt: skip
    ClientLease.objects.create(client=queued.client, owner="worker-1", expires_at="2999-01-01T00:00:00Z")
    confirm = client.get(reverse("console:setup_salesforce_disconnect"))
    assert confirm.status_code == 200 and "Disconnect Salesforce" in confirm.content.decode()
    assert client.post(reverse("console:setup_salesforce_disconnect")).status_code == 302
    org = SalesforceOrg.load()
    assert not org.is_connected and not org.client_secret and not org.refresh_token and not org.access_token
    assert AuditEntry.objects.filter(action="Disconnect Salesforce").exists()
    queued.refresh_from_db()
    assert queued.status == SyncRun.Status.FAILED and queued.message == "Salesforce was disconnected"
    assert not ClientLease.objects.exists()
    with pytest.raises(connections.NotConnected):
        connections.salesforce()

    switched = _connect_salesforce(client, other_sf)
    assert switched.status_code == 302
    assert SalesforceOrg.load().org_id[:15] == other_sf.org.org_id[:15]


def test_a_salesforce_connect_callback_with_a_bad_state_connects_nothing(client, alice, sf):
    client.force_login(alice)
    client.post(reverse("console:setup_salesforce_connect"), _sf_form(sf, sf.org.oauth.client_secret))
    response = client.get(reverse("console:salesforce_callback") + "?code=abc&state=forged")
    assert response.status_code == 302 and response["Location"] == reverse("console:setup")
    assert "not started here or has expired" in _messages(client)
    assert not SalesforceOrg.load().is_connected


def test_a_salesforce_login_url_that_is_not_https_is_refused_before_any_call(client, alice, sf):
    client.force_login(alice)
    form = {**_sf_form(sf, "s"), "sf-custom_login_url": "http://login.example.com"}
    response = client.post(reverse("console:setup_salesforce_connect"), form)
    assert response.status_code == 400 and 'data-testid="error-sf-custom_login_url"' in response.content.decode()
    mine = {**_sf_form(sf, "s"), "sf-login_domain": "my_domain", "sf-my_domain": "not a host"}
    assert 'data-testid="error-sf-my_domain"' in client.post(reverse("console:setup_salesforce_connect"),
                                                               mine).content.decode()  # fmt: skip


# -- the sandbox accepts the console's callbacks -------------------------------------------------------------------


def test_cmsf_sandbox_registers_the_consoles_oauth_callbacks_in_both_emulators(tmp_path):
    from cmsf_sandbox.command import running_sandbox

    lines: list[str] = []
    with running_sandbox(dataset="tiny", info_json=tmp_path / "info.json", cert_dir=tmp_path / "tls",
                         console_url="http://testserver", announce=lines.append) as (info, _):  # fmt: skip
        cm, sf = info["campaign_monitor"], info["salesforce"]
        assert cm["console_callback_url"] == CM_CALLBACK and sf["console_callback_url"] == SF_CALLBACK
        approve = requests.get(
            cm["oauth_url"], verify=cm["ca_file"], allow_redirects=False, timeout=30,
            params={"type": "web_server", "client_id": cm["oauth_client_id"], "redirect_uri": CM_CALLBACK,
                    "scope": "ViewReports", "state": "s"},
        )  # fmt: skip
        assert approve.status_code == 302 and approve.headers["location"].startswith(CM_CALLBACK + "?code=")
        login = requests.get(
            f"{sf['login_url']}/services/oauth2/authorize", verify=sf["ca_file"], timeout=30,
            params={"response_type": "code", "client_id": sf["client_id"], "redirect_uri": SF_CALLBACK, "state": "s"},
        )  # fmt: skip
        assert login.status_code == 200 and 'name="username"' in login.text
        stranger = requests.get(
            f"{sf['login_url']}/services/oauth2/authorize", verify=sf["ca_file"], timeout=30,
            params={"response_type": "code", "client_id": sf["client_id"], "redirect_uri": "http://elsewhere/cb"},
        )  # fmt: skip
        assert stranger.status_code == 400  # only the registered console

        from cmsf_sandbox.demo import allow_console_sign_in

        allow_console_sign_in(info, "http://demo.test:8000")  # what `cmsf demo` does for its own console
        demo = requests.get(
            cm["oauth_url"], verify=cm["ca_file"], allow_redirects=False, timeout=30,
            params={"type": "web_server", "client_id": cm["oauth_client_id"], "scope": "ViewReports",
                    "redirect_uri": "http://demo.test:8000/oauth/campaign-monitor/callback"},
        )  # fmt: skip
        assert demo.status_code == 302 and "code=" in demo.headers["location"]
    assert any("http://testserver" in line for line in lines)


@pytest.mark.parametrize(
    ("domain", "my_domain", "host"),
    [
        ("production", "", "https://login.salesforce.com"),
        ("sandbox", "", "https://test.salesforce.com"),
        ("my_domain", "acme.my.salesforce.com", "https://acme.my.salesforce.com"),
    ],
)
def test_connect_salesforce_signs_in_at_production_a_sandbox_or_a_my_domain(client, alice, domain, my_domain, host):
    client.force_login(alice)
    form = {"sf-login_domain": domain, "sf-my_domain": my_domain, "sf-custom_login_url": "", "sf-client_id": "key",
            "sf-client_secret": "secret", "sf-ca_file": ""}  # fmt: skip
    response = client.post(reverse("console:setup_salesforce_connect"), form)
    assert response.status_code == 302 and response["Location"].startswith(f"{host}/services/oauth2/authorize?")
    params = parse_qs(urlsplit(response["Location"]).query)
    assert params["client_id"] == ["key"] and params["redirect_uri"] == [SF_CALLBACK]
    assert "secret" not in response["Location"] and not SalesforceOrg.load().client_secret  # stored only on success
