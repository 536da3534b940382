"""What the benchmark scripts share: cmsf connected to both emulators, as an admin connects them."""

from __future__ import annotations

from typing import Any

from cmsf.connections import services as connections


def connect(world: Any, org: Any, cm_base: str, sf_base: str, ca: str) -> None:
    """Connect cmsf to the Campaign Monitor emulator of `world` and the Salesforce emulator of `org` (Django set up)."""
    connections.connect_campaign_monitor(
        api_key=world.account_api_key, actor="bench", base_url=f"{cm_base}/api/v3.3", ca_file=ca
    )
    login = connections.SalesforceLogin(
        flow="jwt_bearer", login_domain="custom", custom_login_url=sf_base, client_id=org.oauth.client_id,
        client_secret="", jwt_username=org.oauth.jwt_username, jwt_private_key=org.oauth.jwt_private_key_pem,
        ca_file=ca,
    )  # fmt: skip
    connections.connect_salesforce(login, actor="bench")
