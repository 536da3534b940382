"""`cmsf connect`: Campaign Monitor and Salesforce, from a sandbox info file or each with its options."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cmsf.cli.common import CliError, actor, require_initialized


def _read(path: str, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise CliError(f"cannot read the {what} {path}: {error.strerror}") from None


def _connect_campaign_monitor(api_key: str, base_url: str, ca_file: str) -> None:
    from cmsf.connections.services import connect_campaign_monitor

    clients = connect_campaign_monitor(api_key=api_key, base_url=base_url, ca_file=ca_file, actor=actor())
    print(f"Campaign Monitor connected: {len(clients)} client{'s' if len(clients) != 1 else ''}")
    for client in clients:
        print(f"  {client.name} ({client.cm_client_id}), {client.time_zone}")


def _connect_salesforce(login: Any) -> None:
    from cmsf.connections.services import connect_salesforce

    org = connect_salesforce(login, actor=actor())
    print(f"Salesforce connected: {org.instance_url} (org {org.org_id}); Salesforce Sync User {org.sync_user_name}")


def _connect_salesforce_asking(yes: bool, login: Any) -> None:
    """Connect, but first say which features would stop, and ask (or need --yes)."""
    from cmsf.connections.services import salesforce_features_lost

    lost = salesforce_features_lost(login)
    if lost and not yes:
        said = f"reconnecting with another connected app and no --client-secret turns off {'; '.join(lost)}"
        if not sys.stdin.isatty():
            raise CliError(f"{said}: give its --client-secret, or --yes to go on")
        if input(f"{said[0].upper()}{said[1:]}. Go on? [y/N] ").strip().lower() not in ("y", "yes"):
            raise CliError("not reconnected")
    _connect_salesforce(login)


def connect_sandbox(info: dict[str, Any], source: str) -> None:
    from cmsf.connections.models import SalesforceOrg
    from cmsf.connections.services import SalesforceLogin

    cm, sf = info.get("campaign_monitor"), info.get("salesforce")
    if not isinstance(cm, dict) or not isinstance(sf, dict) or not cm or not sf:
        raise CliError(f"{source} has no campaign_monitor or no salesforce section")
    _connect_campaign_monitor(cm["api_key"], cm["base_url"], cm["ca_file"])
    _connect_salesforce(
        SalesforceLogin(
            flow=SalesforceOrg.AuthFlow.JWT_BEARER,
            login_domain=SalesforceOrg.LoginDomain.CUSTOM,
            custom_login_url=sf["login_url"],
            client_id=sf["client_id"],
            client_secret=sf.get("client_secret") or "",  # the connected app's, for "Log in with Salesforce"
            jwt_username=sf["jwt_username"],
            jwt_private_key=_read(sf["jwt_private_key_file"], "private key"),
            ca_file=sf["ca_file"],
        )
    )


# the option of `cmsf connect` that sets each field a connection checks
_CONNECT_OPTIONS = {"api_base_url": "--base-url", "custom_login_url": "--login-url", "my_domain": "--my-domain",
                    "ca_file": "--ca-file", "client_id": "--client-id", "jwt_username": "--username"}  # fmt: skip


def _invalid(error: Any) -> CliError:
    """One line for a connection's ValidationError, naming the option of each field."""
    if not hasattr(error, "error_dict"):
        return CliError(" ".join(error.messages))
    return CliError("; ".join(f"{_CONNECT_OPTIONS.get(field, field)}: {' '.join(messages)}"
                              for field, messages in error.message_dict.items()))  # fmt: skip


def cmd_connect(args: argparse.Namespace) -> int:
    """Connect both services from a sandbox info file, or one service from its own options."""
    from django.core.exceptions import ValidationError

    from cmsf.campaign_monitor.errors import CampaignMonitorError
    from cmsf.connections.services import SalesforceLogin
    from cmsf.salesforce.errors import SalesforceError

    require_initialized()
    try:
        if args.service is None:
            if not args.sandbox_info:
                raise CliError("give --sandbox-info PATH, or `campaign-monitor` or `salesforce` with their options")
            try:
                info = json.loads(_read(args.sandbox_info, "sandbox info file"))
            except ValueError as error:
                raise CliError(f"--sandbox-info: {args.sandbox_info} is not JSON: {error}") from None
            if not isinstance(info, dict):
                raise CliError(f"--sandbox-info: {args.sandbox_info} is not the info JSON `cmsf sandbox` writes")
            connect_sandbox(info, args.sandbox_info)
        elif args.service == "campaign-monitor":
            _connect_campaign_monitor(args.api_key, args.base_url or "", args.ca_file or "")
        else:
            domain = args.login_domain
            _connect_salesforce_asking(
                args.yes,
                SalesforceLogin(
                    flow=args.flow,
                    login_domain=domain,
                    my_domain=args.my_domain or "",
                    custom_login_url=args.login_url or "",
                    client_id=args.client_id,
                    client_secret=args.client_secret or "",
                    jwt_username=args.username or "",
                    jwt_private_key=_read(args.private_key_file, "private key") if args.private_key_file else "",
                    ca_file=args.ca_file or "",
                ),
            )
    except (CampaignMonitorError, SalesforceError) as error:
        raise CliError(f"could not connect: {error}") from None
    except ValidationError as error:
        raise _invalid(error) from None
    except KeyError as error:
        raise CliError(f"the sandbox info file lacks {error}") from None
    return 0
