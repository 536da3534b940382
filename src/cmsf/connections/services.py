"""Connecting cmsf to Campaign Monitor and to Salesforce, and the one place that builds their clients
from the stored connection (so every caller talks to the same URL, CA bundle, credentials and budget)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from cmsf.campaign_monitor import oauth as cm_oauth
from cmsf.campaign_monitor.api import CampaignMonitor
from cmsf.campaign_monitor.transport import DEFAULT_BASE_URL, ApiKeyAuth, Auth, OAuthAuth, OAuthTokens, Transport
from cmsf.connections.models import CampaignMonitorAccount, CampaignMonitorClient, PageLayoutBackup, SalesforceOrg
from cmsf.connections.signals import salesforce_org_changed
from cmsf.maintenance.services import audit
from cmsf.salesforce import auth, soql
from cmsf.salesforce.adapter import SalesforceAdapter
from cmsf.salesforce.auth import Credentials, Identity, Token
from cmsf.salesforce.meter import ApiMeter

log = logging.getLogger(__name__)


class NotConnected(Exception):
    """The service is not connected yet."""


# -- building clients from the stored connections ------------------------------------------------------


def _cm_oauth_token_url(base_url: str) -> str:
    return base_url.rsplit("/api/", 1)[0] + "/oauth/token"


def _store_cm_tokens(tokens: OAuthTokens) -> None:
    # update() encrypts through the field, as save() does
    CampaignMonitorAccount.objects.filter(pk=1).update(
        oauth_access_token=tokens.access_token, oauth_refresh_token=tokens.refresh_token
    )


def campaign_monitor(account: CampaignMonitorAccount | None = None, *, parallel: int = 1) -> CampaignMonitor:
    """The Campaign Monitor client of the stored (or given) account."""
    account = account or CampaignMonitorAccount.load()
    if not account.is_connected:
        raise NotConnected("Campaign Monitor is not connected: run `cmsf connect` or connect in the console")
    base_url = account.api_base_url or DEFAULT_BASE_URL
    auth: Auth
    if account.auth_method == CampaignMonitorAccount.AuthMethod.OAUTH:
        tokens = OAuthTokens(account.oauth_access_token, account.oauth_refresh_token)
        auth = OAuthAuth(tokens, token_url=_cm_oauth_token_url(base_url), on_refresh=_store_cm_tokens)
    else:
        auth = ApiKeyAuth(account.api_key)
    transport = Transport(auth, base_url=base_url, ca_bundle=account.ca_file or True)
    return CampaignMonitor(transport, parallel=parallel)


def _store_sf_token(token: Token) -> None:
    updates = {"access_token": token.access_token}
    if token.instance_url:
        updates["instance_url"] = token.instance_url
    SalesforceOrg.objects.filter(pk=1).update(**updates)


def salesforce_credentials(org: SalesforceOrg) -> Credentials:
    return Credentials(
        flow=org.auth_flow,
        login_url=org.login_url,
        client_id=org.client_id,
        client_secret=org.client_secret,
        username=org.jwt_username,
        private_key=org.jwt_private_key,
        refresh_token=org.refresh_token,
    )


def salesforce(org: SalesforceOrg | None = None, *, meter: ApiMeter | None = None) -> SalesforceAdapter:
    """The Salesforce adapter of the stored (or given) org, with cmsf's API budget."""
    org = org or SalesforceOrg.load()
    if not org.auth_flow:
        raise NotConnected("Salesforce is not connected: run `cmsf connect` or connect in the console")
    token = Token(org.access_token, org.instance_url) if org.access_token and org.instance_url else None
    return SalesforceAdapter(
        salesforce_credentials(org),
        ca_bundle=org.ca_file or True,
        api_version=org.api_version,
        meter=meter or ApiMeter(budget_share=org.api_budget_percent / 100),
        token=token,
        on_token=_store_sf_token if org.pk else None,
    )


# -- connecting ----------------------------------------------------------------------------------------


def connect_campaign_monitor(
    *,
    api_key: str,
    actor: str,
    base_url: str = "",
    ca_file: str = "",
    same_account: bool = False,
) -> list[CampaignMonitorClient]:
    """Check the key against Campaign Monitor, store it (encrypted) and the account's clients. A blank key keeps the
    stored one (a reconnect that changes only the base URL or the CA file). With `same_account`, a connected
    account is never switched for another one (OtherAccountRefused: disconnect first)."""
    account = CampaignMonitorAccount.load()
    before = _cm_before(account)
    if not api_key and account.auth_method == CampaignMonitorAccount.AuthMethod.API_KEY:
        api_key = account.api_key
    if not api_key:
        raise ValidationError({"api_key": "Enter the API key."})
    account.auth_method = CampaignMonitorAccount.AuthMethod.API_KEY
    account.api_key = api_key
    account.oauth_access_token = account.oauth_refresh_token = ""
    account.oauth_expires_at = None
    return _connect_cm(account, before, actor=actor, base_url=base_url, ca_file=ca_file, same_account=same_account)


def _cm_before(account: CampaignMonitorAccount) -> dict[str, Any]:
    return {"connected": account.is_connected, "base_url": account.api_base_url, "auth": account.auth_method}


def _connect_cm(
    account: CampaignMonitorAccount,
    before: dict[str, Any],
    *,
    actor: str,
    base_url: str,
    ca_file: str,
    same_account: bool,
) -> list[CampaignMonitorClient]:
    account.api_base_url = base_url
    account.ca_file = ca_file
    account.full_clean(validate_unique=False)  # an https base URL (lib.urls), before any call to it
    cm = campaign_monitor(account)
    try:
        details = [cm.client(summary.client_id) for summary in cm.clients()]
    finally:
        cm.transport.close()
    known = set(CampaignMonitorClient.objects.values_list("cm_client_id", flat=True))
    if same_account and before["connected"] and known and not known & {d.client_id for d in details}:
        raise OtherAccountRefused(
            "These credentials belong to another Campaign Monitor account than the connected one. cmsf keeps one "
            "account: disconnect Campaign Monitor first (Setup > Disconnect), then connect the other account."
        )
    with transaction.atomic():
        account.is_agency = len(details) > 1
        account.account_name = details[0].name if len(details) == 1 else f"Agency account ({len(details)} clients)"
        account.connected_at = timezone.now()
        account.save()
        seen = []
        for d in details:
            client, _ = CampaignMonitorClient.objects.update_or_create(
                cm_client_id=d.client_id, defaults={"name": d.name, "time_zone": d.time_zone, "active": True}
            )
            seen.append(client.cm_client_id)
        CampaignMonitorClient.objects.exclude(cm_client_id__in=seen).update(active=False)
        audit(
            actor=actor,
            section="connections",
            action="Reconnect Campaign Monitor" if before["connected"] else "Connect Campaign Monitor",
            before=before,
            after={"connected": True, "base_url": base_url, "auth": account.auth_method, "clients": seen},
        )
    return list(CampaignMonitorClient.objects.filter(cm_client_id__in=seen))


class OtherAccountRefused(Exception):
    """Connecting would switch the connected Campaign Monitor account or Salesforce org for another one: refused
    until the connected one is disconnected (what cmsf stored belongs to it)."""


def campaign_monitor_oauth_url(base_url: str) -> str:
    """Campaign Monitor's authorize page beside the API base URL (https://api.createsend.com/oauth by default)."""
    return (base_url or DEFAULT_BASE_URL).rsplit("/api/", 1)[0] + "/oauth"


def campaign_monitor_authorize_url(
    *, client_id: str, client_secret: str, base_url: str, ca_file: str, redirect_uri: str, state: str, actor: str
) -> str:
    """Store the OAuth app (its client id, and its secret encrypted; a blank secret keeps the stored one of the same
    app) and say where the browser approves cmsf. The base URL and CA file are checked as a connection's are."""
    account = CampaignMonitorAccount.load()
    client_id = client_id.strip()
    secret = client_secret or (account.oauth_client_secret if client_id == account.oauth_client_id else "")
    errors: dict[str, str] = {}
    if not client_id:
        errors["oauth_client_id"] = "Enter the OAuth app's client id."
    if not secret:
        errors["oauth_client_secret"] = "Enter the OAuth app's client secret."
    if errors:
        raise ValidationError(errors)
    CampaignMonitorAccount(api_base_url=base_url, ca_file=ca_file).clean()  # the same URL rules as a connection
    with transaction.atomic():
        before = {"oauth_client_id": account.oauth_client_id}
        account.oauth_client_id, account.oauth_client_secret = client_id, secret
        account.save(update_fields=["oauth_client_id", "oauth_client_secret"])
        if before["oauth_client_id"] != client_id:
            audit(actor=actor, section="connections", action="Campaign Monitor OAuth app", before=before,
                  after={"oauth_client_id": client_id})  # fmt: skip
    return cm_oauth.authorize_url(
        client_id=client_id, redirect_uri=redirect_uri, state=state, oauth_url=campaign_monitor_oauth_url(base_url)
    )


def connect_campaign_monitor_oauth(
    *, code: str, redirect_uri: str, base_url: str, ca_file: str, actor: str
) -> list[CampaignMonitorClient]:
    """Trade the authorization code for tokens with the stored OAuth app, then connect as with a key (the same
    account as the connected one only)."""
    account = CampaignMonitorAccount.load()
    before = _cm_before(account)
    CampaignMonitorAccount(api_base_url=base_url, ca_file=ca_file).clean()
    tokens = cm_oauth.exchange_code(
        code=code,
        client_id=account.oauth_client_id,
        client_secret=account.oauth_client_secret,
        redirect_uri=redirect_uri,
        token_url=_cm_oauth_token_url(base_url or DEFAULT_BASE_URL),
        ca_bundle=ca_file or True,
    )
    account.auth_method = CampaignMonitorAccount.AuthMethod.OAUTH
    account.api_key = ""
    account.oauth_access_token, account.oauth_refresh_token = tokens.access_token, tokens.refresh_token
    account.oauth_expires_at = timezone.now() + timedelta(seconds=tokens.expires_in) if tokens.expires_in else None
    return _connect_cm(account, before, actor=actor, base_url=base_url, ca_file=ca_file, same_account=True)


@dataclass(frozen=True)
class SalesforceLogin:
    flow: str  # SalesforceOrg.AuthFlow
    login_domain: str = SalesforceOrg.LoginDomain.PRODUCTION
    my_domain: str = ""
    custom_login_url: str = ""
    client_id: str = ""
    client_secret: str = ""
    jwt_username: str = ""
    jwt_private_key: str = ""
    refresh_token: str = ""
    ca_file: str = ""


def salesforce_features_lost(login: SalesforceLogin) -> list[str]:
    """What stops working if the org is reconnected with this login: a consumer secret is kept when the connected
    app stays the same (see connect_salesforce), so only another app without its secret loses the sign-in."""
    org = SalesforceOrg.load()
    if org.client_secret and not login.client_secret and login.client_id != org.client_id:
        return ['"Log in with Salesforce" and "Change Salesforce Sync User" (they need the connected app\'s secret)']
    return []


def known_time_zone(key: object) -> str:
    """The org's time zone if this Python knows it (Salesforce's TimeZoneSidKey values are IANA names); blank, and
    a warning in the log, otherwise: the console then shows UTC."""
    if not key:
        return ""
    try:
        ZoneInfo(str(key))
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("the org's time zone %r is not a known time zone: the console shows times in UTC", key)
        return ""
    return str(key)


def connect_salesforce(login: SalesforceLogin, *, actor: str, action: str = "Connect Salesforce") -> SalesforceOrg:
    """Sign in with the given flow, learn the org and the Salesforce Sync User, store it all (encrypted). A login
    without a consumer secret keeps the stored one of the same connected app ("Log in with Salesforce" needs it)."""
    org = SalesforceOrg.load()
    before = {"connected": org.is_connected, "instance_url": org.instance_url, "sync_user": org.sync_user_name}
    kept_secret = org.client_secret if login.client_id == org.client_id else ""
    org.auth_flow = login.flow
    org.login_domain = login.login_domain
    org.my_domain = login.my_domain
    org.custom_login_url = login.custom_login_url
    org.client_id = login.client_id
    org.client_secret = login.client_secret or kept_secret
    org.jwt_username = login.jwt_username
    org.jwt_private_key = login.jwt_private_key
    org.refresh_token = login.refresh_token
    org.ca_file = login.ca_file
    org.access_token = ""
    org.full_clean(exclude=["instance_url"])
    adapter = salesforce(org)
    try:
        token = adapter.token
        organization = next(adapter.query("SELECT Id, Name, IsSandbox, TimeZoneSidKey FROM Organization LIMIT 1"), {})
        user_id = token.user_id
        user = next(adapter.query(f"SELECT Id, Name, Username FROM User WHERE Id = {soql.quote(user_id)}"), {})
    finally:
        adapter.session.close()
    old_org_id = SalesforceOrg.load().org_id
    with transaction.atomic():
        org.access_token = token.access_token
        org.instance_url = token.instance_url
        org.org_id = str(organization.get("Id") or token.org_id)
        if old_org_id and org.org_id[:15] != old_org_id[:15]:
            salesforce_org_changed.send(sender=SalesforceOrg, old_org_id=old_org_id, new_org_id=org.org_id)
        org.is_sandbox = bool(organization.get("IsSandbox"))
        org.time_zone = known_time_zone(organization.get("TimeZoneSidKey"))
        org.sync_user_id = str(user.get("Id") or user_id)
        org.sync_user_name = str(user.get("Name") or user.get("Username") or "")
        org.connected_at = timezone.now()
        org.save()
        audit(
            actor=actor,
            section="connections",
            action=action,
            before=before,
            after={"connected": True, "instance_url": org.instance_url, "sync_user": org.sync_user_name},
        )
    return org


# -- "Log in with Salesforce" and "Change Salesforce Sync User": the OAuth web-server flow ------------------


class SignInRefused(Exception):
    """The Salesforce sign-in worked but cannot be used here; the message says why and what to do."""


def salesforce_authorize_url(*, redirect_uri: str, state: str) -> str:
    """Where the browser signs in to the connected org, with the connected app the org was connected with."""
    org = SalesforceOrg.load()
    if not (org.is_connected and org.client_id and org.client_secret):
        raise NotConnected(
            "Signing in with Salesforce needs a connected org and its connected app's consumer key and secret: "
            "connect Salesforce first on the Setup page (or `cmsf connect salesforce --client-secret ...`)."
        )
    return auth.authorize_url(login_url=org.login_url, client_id=org.client_id, redirect_uri=redirect_uri, state=state)


def salesforce_identity(*, code: str, redirect_uri: str) -> tuple[Token, Identity]:
    """Trade the authorization code for tokens and learn whose they are; refused for another org."""
    org = SalesforceOrg.load()
    verify = org.ca_file or True
    token = auth.exchange_code(
        login_url=org.login_url,
        client_id=org.client_id,
        client_secret=org.client_secret,
        redirect_uri=redirect_uri,
        code=code,
        verify=verify,
    )
    identity = auth.user_info(token, verify=verify)
    if org.org_id and identity.org_id[:15] != org.org_id[:15]:
        raise SignInRefused(
            "You signed in to a different Salesforce org from the connected one. Sign in to the org cmsf is "
            "connected to (or reconnect Salesforce to change orgs)."
        )
    return token, identity


def change_sync_user(token: Token, *, actor: str) -> SalesforceOrg:
    """Make the user who just signed in the Salesforce Sync User: the sync runs on their refresh token."""
    if not token.refresh_token:
        raise SignInRefused(
            "Salesforce issued no refresh token: add the refresh_token scope to the connected app and try again."
        )
    org = SalesforceOrg.load()
    login = SalesforceLogin(
        flow=SalesforceOrg.AuthFlow.WEB_SERVER,
        login_domain=org.login_domain,
        my_domain=org.my_domain,
        custom_login_url=org.custom_login_url,
        client_id=org.client_id,
        client_secret=org.client_secret,
        refresh_token=token.refresh_token,
        ca_file=org.ca_file,
    )
    return connect_salesforce(login, actor=actor, action="Change the Salesforce Sync User")


# -- the console's Setup page: connecting Salesforce through the OAuth web-server flow --------------------------


def salesforce_connect_login(login: SalesforceLogin) -> SalesforceLogin:
    """Check a web-server login (the login host, the connected app's consumer key and secret: a blank secret keeps
    the stored one of the same app) by the org's own field rules, before any call: the login, its secret filled
    in."""
    org = SalesforceOrg.load()
    secret = login.client_secret or (org.client_secret if login.client_id == org.client_id else "")
    errors: dict[str, str] = {}
    if not login.client_id:
        errors["client_id"] = "Enter the connected app's consumer key."
    if not secret:
        errors["client_secret"] = "Enter the connected app's consumer secret."
    if errors:
        raise ValidationError(errors)
    _login_org(login).full_clean(validate_unique=False)
    return replace(login, flow=SalesforceOrg.AuthFlow.WEB_SERVER, client_secret=secret, refresh_token="")


def salesforce_connect_authorize_url(login: SalesforceLogin, *, redirect_uri: str, state: str) -> str:
    """Where the browser signs in to connect the org with this login (the web-server flow)."""
    return auth.authorize_url(
        login_url=_login_org(login).login_url, client_id=login.client_id, redirect_uri=redirect_uri, state=state
    )


def _login_org(login: SalesforceLogin) -> SalesforceOrg:
    """An unsaved org with the login's fields: its login URL and its checks."""
    return SalesforceOrg(
        login_domain=login.login_domain,
        my_domain=login.my_domain,
        custom_login_url=login.custom_login_url,
        ca_file=login.ca_file,
        client_id=login.client_id,
    )


def connect_salesforce_web_server(login: SalesforceLogin, *, code: str, redirect_uri: str, actor: str) -> SalesforceOrg:
    """The end of Connect Salesforce: trade the code for tokens, learn the org, refuse another org than the connected
    one, then connect on the signed-in user's refresh token (they become the Salesforce Sync User)."""
    verify = login.ca_file or True
    token = auth.exchange_code(
        login_url=_login_org(login).login_url,
        client_id=login.client_id,
        client_secret=login.client_secret,
        redirect_uri=redirect_uri,
        code=code,
        verify=verify,
    )
    if not token.refresh_token:
        raise SignInRefused(
            "Salesforce issued no refresh token: add the refresh_token (offline access) scope to the connected app "
            "and connect again."
        )
    identity = auth.user_info(token, verify=verify)
    org = SalesforceOrg.load()
    if org.is_connected and org.org_id and identity.org_id[:15] != org.org_id[:15]:
        raise OtherAccountRefused(
            f"You signed in to another Salesforce org ({identity.org_id}) than the connected one ({org.org_id}). "
            "cmsf keeps one org: disconnect Salesforce first (Setup > Disconnect Salesforce), then connect the "
            "other org."
        )
    action = "Reconnect Salesforce" if org.is_connected else "Connect Salesforce"
    return connect_salesforce(replace(login, refresh_token=token.refresh_token), actor=actor, action=action)


def disconnect_salesforce(*, actor: str) -> None:
    """Remove the org's credentials and tokens; the login host, the consumer key and the org's id stay (a reconnect
    is offered the same login, and connecting another org later forgets what cmsf wrote in this one)."""
    with transaction.atomic():
        org = SalesforceOrg.load()
        before = {"connected": org.is_connected, "instance_url": org.instance_url, "sync_user": org.sync_user_name}
        org.auth_flow = ""
        org.client_secret = org.jwt_private_key = org.access_token = org.refresh_token = ""
        org.jwt_username = ""
        org.instance_url = ""
        org.sync_user_id = org.sync_user_name = ""
        org.time_zone = ""
        org.connected_at = None
        org.save()
        audit(actor=actor, section="connections", action="Disconnect Salesforce", before=before,
              after={"connected": False})  # fmt: skip


def keep_page_layout_backups(layouts: dict[str, bytes]) -> list[str]:
    """Keep a copy of each of these layouts (full name -> XML) that has none yet; an existing copy (the layout as
    it was before the first Apply) is never overwritten. Answers the names newly kept."""
    kept = []
    with transaction.atomic():
        for name, data in sorted(layouts.items()):
            _, created = PageLayoutBackup.objects.get_or_create(
                full_name=name, defaults={"layout_xml": data.decode("utf-8"), "saved_at": timezone.now()}
            )
            if created:
                kept.append(name)
    return kept


def drop_page_layout_backups(names: list[str]) -> None:
    """Forget the copies of these layouts (once Remove page layouts has put them back)."""
    PageLayoutBackup.objects.filter(full_name__in=names).delete()
