"""The sync in the foreground: sync, watch and forget."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, TextIO

from cmsf.cli.common import CliError, actor, require_initialized
from cmsf.cli.progress import NAME, StageProgress, log_lines_apart, run_summary_lines


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


def sync_now(
    *, client_id: str | None, dry_run: bool, quiet: bool, full: bool = False, out: TextIO | None = None
) -> list[dict[str, Any]]:
    """Sync the selected clients (or one) in the foreground, printing progress and a summary unless quiet: a live
    bar per client on a terminal, one line per stage otherwise (`cmsf.cli.progress`)."""
    from cmsf.connections.selectors import not_connected_reason
    from cmsf.maintenance.selectors import messages_of_run
    from cmsf.sync.services import ClientBusy, clients_to_sync, sync_client

    out = out or sys.stdout
    reason = not_connected_reason()
    if reason:
        raise CliError(f"cannot sync: {reason} (`cmsf connect`)")
    clients = clients_to_sync(client_id)
    if not clients:
        raise CliError("no Campaign Monitor client to sync: connect one first (`cmsf connect`)"
                       if not client_id else f"--client: no client with id {client_id}")  # fmt: skip

    summaries = []
    for client in clients:
        progress = StageProgress(name=client.name, dry_run=dry_run, out=out, live=out.isatty())
        if not quiet:
            kind = "full sync" if full else "sync"
            print(f"{client.name[:NAME]} ({client.cm_client_id}): {kind}{', dry run' if dry_run else ''}", file=out)
        try:
            with log_lines_apart(progress):
                run = sync_client(client=client, full=full, dry_run=dry_run, progress=None if quiet else progress)
        except ClientBusy as error:
            raise CliError(str(error)) from None
        finally:
            progress.clear()
        summary = _run_summary(run)
        summaries.append(summary)
        if not quiet:
            read, _ = progress.finish(sum(run.read.values()), sum(run.written.values()))
            messages = messages_of_run(client.pk, run.started_at) if run.started_at and not dry_run else []
            for line in run_summary_lines(run, read, messages):
                print(line, file=out)
            out.flush()
    return summaries


def confirm_full(args: argparse.Namespace) -> None:
    """`--full` removes what cmsf wrote to its objects before importing again: asked first on a terminal, refused
    without one unless `--yes` (a dry run removes nothing, so it is not asked)."""
    if not args.full or args.yes or args.dry_run:
        return
    if not sys.stdin.isatty():
        raise CliError("--full removes every record cmsf wrote to its objects before importing again: add --yes to "
                       "run it without a terminal")  # fmt: skip
    which = f"client {args.client}" if args.client else "every selected client"
    # The question on stderr: stdout stays the summary's (or the JSON document's, with --json).
    print(f"A full sync removes every record cmsf wrote to its Salesforce objects for {which}, then imports "
          "everything again. Continue? [y/N] ", end="", file=sys.stderr, flush=True)  # fmt: skip
    try:
        answer = input()
    except EOFError:  # Ctrl-D: no answer is no
        answer = ""
    if answer.strip().lower() not in ("y", "yes"):
        raise CliError("the full sync was not run: nothing changed")


def cmd_sync(args: argparse.Namespace) -> int:
    require_initialized()
    confirm_full(args)
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
