"""`cmsf api-token`: the HTTP API's tokens made (printed once), listed and revoked."""

from __future__ import annotations

import argparse
import json

from cmsf.cli.common import CliError, actor, require_initialized


def cmd_api_token_create(args: argparse.Namespace) -> int:
    require_initialized()
    from cmsf.api import tokens

    try:
        made = tokens.create(args.name, scopes=args.scope, rate_per_minute=args.rate, actor=args.actor or actor())
    except tokens.TokenError as error:
        raise CliError(str(error)) from None
    print(f"API token {made.token.name} (scopes: {', '.join(made.token.scopes)}; "
          f"{made.token.rate_per_minute} calls a minute). It is shown this once; cmsf keeps only its hash:")  # fmt: skip
    print(made.secret)
    return 0


def cmd_api_token_list(args: argparse.Namespace) -> int:
    require_initialized()
    from cmsf.api import tokens

    rows = [
        {
            "name": t.name,
            "prefix": t.prefix,
            "scopes": t.scopes,
            "rate_per_minute": t.rate_per_minute,
            "created_at": t.created_at.isoformat(),
            "created_by": t.created_by,
            "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None,
            "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None,
        }
        for t in tokens.tokens()
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no API tokens yet (cmsf api-token create NAME --scope ...)")
    for row in rows:
        state = f"revoked {row['revoked_at'][:16]}" if row["revoked_at"] else "in use"
        used = f"last used {row['last_used_at'][:16]}" if row["last_used_at"] else "never used"
        print(f"{row['name']}  {row['prefix']}...  {','.join(row['scopes'])}  {row['rate_per_minute']}/min  "
              f"{used}  {state}")  # fmt: skip
    return 0


def cmd_api_token_revoke(args: argparse.Namespace) -> int:
    require_initialized()
    from cmsf.api import tokens

    try:
        token = tokens.revoke(args.name, actor=args.actor or actor())
    except tokens.TokenError as error:
        raise CliError(str(error)) from None
    print(f"API token {token.name} is revoked: its calls are refused from now on")
    return 0
