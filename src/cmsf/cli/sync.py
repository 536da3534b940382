"""The sync in the foreground: sync, watch and forget."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from cmsf.cli.common import CliError, actor, require_initialized


def _run_summary(run: Any) -> dict[str, Any]:
    return {
        "client": run.client.cm_client_id,
        "client_name": run.client.name,
        "kind": run.kind,
        "status": run.status,
        "dry_run": run.dry_run,
        "read": run.read,
        "written": run.written,
        "unchanged": run.skipped,
        "failed": run.failed,
        "deleted": run.deleted,
        "api_calls": {"campaign_monitor": run.cm_calls, "salesforce": run.sf_calls},
        "duration_s": run.duration_s,
        "message": run.message,
    }


def sync_now(*, client_id: str | None, dry_run: bool, quiet: bool, full: bool = False) -> list[dict[str, Any]]:
    """Sync the selected clients (or one) in the foreground, printing progress unless quiet."""
    from cmsf.connections.selectors import not_connected_reason
    from cmsf.sync.services import ClientBusy, clients_to_sync, sync_client

    reason = not_connected_reason()
    if reason:
        raise CliError(f"cannot sync: {reason} (`cmsf connect`)")
    clients = clients_to_sync(client_id)
    if not clients:
        raise CliError("no Campaign Monitor client to sync: connect one first (`cmsf connect`)"
                       if not client_id else f"--client: no client with id {client_id}")  # fmt: skip

    def progress(stage: str, counts: dict[str, int]) -> None:
        if not quiet:
            print(f"\r  {stage:<20} read {counts['read']:>9,}  written {counts['written']:>9,}", end="", flush=True)

    summaries = []
    for client in clients:
        if not quiet:
            print(f"{client.name} ({client.cm_client_id}){' [dry run]' if dry_run else ''}")
        try:
            run = sync_client(client=client, full=full, dry_run=dry_run, progress=progress)
        except ClientBusy as error:
            raise CliError(str(error)) from None
        summary = _run_summary(run)
        summaries.append(summary)
        if not quiet:
            verb = "would write" if dry_run else "wrote"
            print(f"\r{' ' * 60}\r  {run.get_status_display()} in {run.duration_s or 0:.1f} s: {verb} "
                  f"{summary['written']}, unchanged {summary['unchanged']}, failed {summary['failed']}, "
                  f"deleted {summary['deleted']}; API calls: Campaign Monitor {run.cm_calls}, "
                  f"Salesforce {run.sf_calls}")  # fmt: skip
            if run.message:
                print(f"  {run.message}")
    return summaries


def cmd_sync(args: argparse.Namespace) -> int:
    require_initialized()
    summaries = sync_now(client_id=args.client, dry_run=args.dry_run, quiet=args.json, full=args.full)
    if args.json:
        print(json.dumps({"runs": summaries}, indent=2))
    if not all(s["status"] in ("succeeded", "problems") for s in summaries):
        return 1  # failed, stopped at the API budget, or not connected
    # Succeeded with problems (records Salesforce refused, or another problem told in Maintenance): 3.
    return 3 if any(s["status"] == "problems" or s["failed"] for s in summaries) else 0


# -------------------------------------------------------------------------------------------- watch


def _watch_summary(run: Any) -> dict[str, Any]:
    return {
        "status": run.status,
        "message": run.message,
        "read": run.read,
        "done": run.done,
        "problems": run.problems,
        "sf_calls": run.sf_calls,
        "cm_calls": run.cm_calls,
    }


def cmd_watch(args: argparse.Namespace) -> int:
    """Read what changed in Salesforce and push it to Campaign Monitor: once, or every interval until stopped."""
    require_initialized()
    from cmsf.options.models import GeneralOptions
    from cmsf.sync.watcher import watch_once

    while True:
        run = watch_once()
        summary = _watch_summary(run)
        if args.json:
            print(json.dumps(summary, indent=2))
        else:
            done = ", ".join(f"{kind.replace('_', ' ')} {n}" for kind, n in sorted(run.done.items())) or "nothing to do"
            read = ", ".join(f"{kind} {n}" for kind, n in sorted(run.read.items())) or "nothing"
            print(f"watch {run.status}: read {read}; {done}; {run.sf_calls} Salesforce and {run.cm_calls} "
                  f"Campaign Monitor calls")  # fmt: skip
            if run.message:
                print(f"  {run.message}")
            for problem in run.problems:
                print(f"  {problem['key']}: {problem['reason']}")
        if args.once:
            if run.status == "failed":
                return 1
            return 3 if run.problems else 0  # records that could not be handled: reported above
        time.sleep(GeneralOptions.load().watch_interval_minutes * 60)


# ------------------------------------------------------------------------------------------- forget


def cmd_forget(args: argparse.Namespace) -> int:
    """Forget one person: what cmsf wrote about the email in Salesforce and holds itself, and (asked) the subscriber
    in Campaign Monitor; 3 when some of it could not be removed (listed)."""
    require_initialized()
    from cmsf.sync.forget import forget

    try:
        done = forget(args.email, in_campaign_monitor=args.in_campaign_monitor, actor=args.actor or actor())
    except ValueError as error:
        raise CliError(str(error)) from None
    summary = {
        "email_hash": done.email_hash,
        "salesforce_rows_deleted": done.salesforce,
        "cmsf_rows": done.local,
        "campaign_monitor_lists": done.campaign_monitor_lists,
        "problems": done.problems,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        deleted = ", ".join(f"{n} {sobject}" for sobject, n in sorted(done.salesforce.items())) or "nothing"
        print(f"forgotten (kept as {done.email_hash[:12]}...): deleted in Salesforce: {deleted}")
        if args.in_campaign_monitor:
            print(f"  set to Deleted in {len(done.campaign_monitor_lists)} Campaign Monitor lists")
        for problem in done.problems:
            print(f"  not done: {problem}")
    return 3 if done.problems else 0
