"""`cmsf status`: the sync settings, next run, connections, clients and plan, as text or JSON."""

from __future__ import annotations

import argparse
import json
from datetime import datetime, tzinfo
from typing import Any

from cmsf.cli.common import machine_zone, require_initialized


def status_document() -> dict[str, Any]:
    from django.conf import settings
    from django.utils import timezone

    from cmsf.console.selectors import overview

    o = overview(now=timezone.now())

    def when(value: Any) -> str | None:
        return value.isoformat() if value else None

    return {
        "sync": {
            "import_frequency": o.sync.import_frequency,
            "sync_enabled": o.sync.sync_enabled,
            "next_run": when(o.sync.next_run),
            "last_status": o.status.value,
            "last_status_label": o.status.label,
            "last_status_message": o.status.message,
            "last_run_at": when(o.sync.last_run_at),
        },
        "campaign_monitor": {
            "connected": o.campaign_monitor.is_connected,
            "account_name": o.campaign_monitor.account_name,
            "clients": [
                {
                    "id": c.cm_client_id,
                    "name": c.name,
                    "selected": c.selected,
                    "active": c.active,
                    "last_synced_at": when(c.last_synced_at),
                    "security_owner": c.security_owner_name or c.security_owner_id,
                }
                for c in o.clients
            ],
        },
        "salesforce": {
            "connected": o.salesforce.is_connected,
            "instance_url": o.salesforce.instance_url,
            "sync_user": o.salesforce.sync_user_name,
        },
        "plan": {"plan": o.plan, "on_trial": o.on_trial, "trial_ends_at": when(o.billing.trial_ends_at)},
        "recent_runs": [
            {
                "client": run.client.name,
                "kind": run.kind,
                "status": run.status,
                "started_at": when(run.started_at),
                "duration_s": run.duration_s,
                "written": run.written,
                "api_calls": {"campaign_monitor": run.cm_calls, "salesforce": run.sf_calls},
                "message": run.message,
            }
            for run in o.recent_runs
        ],
        "maintenance": {"new_messages": o.new_messages},
        "data_dir": str(settings.DATA_DIR),
    }


def local_time(value: str | None, zone: tzinfo | None = None) -> str:
    """An ISO date-time of the status document in the machine's time zone, to the second, with the zone's name
    and offset: "2026-12-05 10:41:07 CET (UTC+01:00)"."""
    if not value:
        return "-"
    moment = datetime.fromisoformat(value).astimezone(zone or machine_zone()).replace(microsecond=0)
    offset = moment.strftime("%z")
    offset = f"{offset[:3]}:{offset[3:]}" if offset else ""
    return f"{moment:%Y-%m-%d %H:%M:%S} {moment.tzname()} (UTC{offset})"


def relative(value: str, now: datetime) -> str:
    """How far a moment is from now, as a person says it: "in 12 minutes", "3 hours ago", "now"."""
    delta = (datetime.fromisoformat(value) - now).total_seconds()
    ahead, size = delta > 0, abs(delta)
    if size < 60:
        return "now"
    for unit, length in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if size >= length:
            n = round(size / length) if unit == "minute" else int(size // length)
            words = f"{n} {unit}{'s' if n != 1 else ''}"
            return f"in {words}" if ahead else f"{words} ago"
    return "now"  # not reached: a minute or more is counted above


def cmd_status(args: argparse.Namespace) -> int:
    require_initialized()
    doc = status_document()
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    from django.utils import timezone

    now = timezone.now()
    sync, cm, sf, plan = doc["sync"], doc["campaign_monitor"], doc["salesforce"], doc["plan"]
    print(f"Sync:               {'on' if sync['sync_enabled'] else 'turned off'}, {sync['import_frequency']}")
    next_run = sync["next_run"]
    print(
        f"Next run:           {local_time(next_run) + ', ' + relative(next_run, now) if next_run else 'not scheduled'}"
    )
    print(
        f"Last status:        {sync['last_status_label']}"
        f"{': ' + sync['last_status_message'] if sync['last_status_message'] else ''}"
    )
    print(f"Campaign Monitor:   {cm['account_name'] if cm['connected'] else 'not connected'}")
    for client in cm["clients"]:
        flags = ", ".join(
            f for f in ("selected" if client["selected"] else "", "active" if client["active"] else "inactive") if f
        )
        print(f"  {client['name']} ({client['id']}): {flags}; last synced "
              f"{local_time(client['last_synced_at']) if client['last_synced_at'] else 'never'}")  # fmt: skip
    print(f"Salesforce:         {sf['instance_url'] if sf['connected'] else 'not connected'}")
    print(f"Sync user:          {sf['sync_user'] or '-'}")
    trial = f" (trial until {local_time(plan['trial_ends_at'])})" if plan["on_trial"] else ""
    print(f"Plan:               {plan['plan']}{trial}")
    print(f"New maintenance messages: {doc['maintenance']['new_messages']}")
    if doc["recent_runs"]:
        print("Recent runs:")
    for run in doc["recent_runs"]:
        written = sum(run["written"].values())
        print(f"  {local_time(run['started_at'])}  {run['client']}: {run['status']}, {written:,} rows written, "
              f"{run['duration_s'] or 0:.1f} s")  # fmt: skip
    return 0
