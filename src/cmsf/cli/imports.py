"""`cmsf import run`: an import wizard in the foreground."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from cmsf.cli.common import CliError, require_initialized


def import_summary(run: Any) -> dict[str, Any]:
    return {
        "wizard": run.wizard.name,
        "dry_run": run.dry_run,
        "status": run.status,
        "message": run.message,
        "read": run.read,
        "duplicates": run.duplicates,
        "imported": run.imported,
        "new": run.new,
        "resubscribed": run.resubscribed,
        "removed": run.removed,
        "would_remove": run.would_remove,
        "refused": run.refused,
        "failed": run.failed,
        "problems": run.problems,
        "cm_calls": run.cm_calls,
        "sf_calls": run.sf_calls,
    }


def cmd_import_run(args: argparse.Namespace) -> int:
    """Run an import wizard in the foreground: 0 all imported, 1 the run failed, 3 some records were kept out or
    refused (listed). A wizard that removes subscribers shows its preview and asks first, unless --yes."""
    require_initialized()
    from cmsf.audience.imports import other_feeders, run_import
    from cmsf.audience.models import ImportRun, ImportWizard

    wizard = ImportWizard.objects.filter(name=args.name).select_related("client").first()
    if wizard is None:
        names = ", ".join(ImportWizard.objects.values_list("name", flat=True)) or "none yet"
        raise CliError(f"no import wizard is named {args.name!r} (the wizards: {names})")
    removes = wizard.mode == ImportWizard.Mode.REMOVE
    remove_only = None
    if removes and not args.dry_run and not args.yes:
        preview = run_import(wizard, dry_run=True, trigger=ImportRun.Trigger.COMMAND)
        if preview.status == ImportRun.Status.FAILED:
            raise CliError(f"the preview failed: {preview.message}")
        print(f"{wizard.name} removes the list's subscribers missing from its source: {len(preview.would_remove)} "
              f"would be deleted.")  # fmt: skip
        for email in preview.would_remove[:20]:
            print(f"  {email}")
        if len(preview.would_remove) > 20:
            print(f"  ... and {len(preview.would_remove) - 20} more (cmsf import run {args.name!r} --dry-run --json)")
        if not sys.stdin.isatty() or input("Run it? [y/N] ").strip().lower() not in ("y", "yes"):
            raise CliError("not run: give --yes to run a wizard that removes subscribers without asking")
        remove_only = preview.would_remove  # no one the preview did not show
    for other in other_feeders(wizard):
        if removes or other.mode == ImportWizard.Mode.REMOVE:
            print(f"warning: {other.name} also feeds this list, and one of the two removes subscribers missing from "
                  f"its own source", file=sys.stderr)  # fmt: skip
    run = run_import(wizard, dry_run=args.dry_run, trigger=ImportRun.Trigger.COMMAND, remove_only=remove_only)
    summary = import_summary(run)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        verb = "would import" if run.dry_run else "imported"
        print(f"{wizard.name} {run.status}: read {run.read}, {verb} {run.imported} ({run.new} new, "
              f"{run.resubscribed} resubscribed), {run.duplicates} duplicate addresses; {run.cm_calls} Campaign "
              f"Monitor and {run.sf_calls} Salesforce calls")  # fmt: skip
        if removes:
            print(
                f"  {'would remove' if run.dry_run else 'removed'} {len(run.would_remove) if run.dry_run else run.removed}"
            )
        if run.message:
            print(f"  {run.message}")
        for reason, count in sorted(run.refused.items()):
            print(f"  kept out ({count}): {reason}")
        for problem in run.problems:
            print(f"  {problem['key']}: {problem['reason']}")
    if run.status == ImportRun.Status.FAILED:
        return 1
    return 3 if run.status == ImportRun.Status.PARTIAL else 0
