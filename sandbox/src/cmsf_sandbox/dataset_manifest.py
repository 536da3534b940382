"""`manifest(world)`: what a generated Campaign Monitor account holds, counted, so that the emulator's answers can be
checked against it; `write_manifest` writes it as JSON."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cmsf_sandbox.campaign_monitor.world import (
    SUBSCRIBER_STATES,
    SubscriberRecord,
    SuppressionRecord,
    World,
)


def _by_state(subscribers: Iterable[SubscriberRecord]) -> dict[str, int]:
    counts = dict.fromkeys(SUBSCRIBER_STATES, 0)
    for subscriber in subscribers:
        counts[subscriber.state] = counts.get(subscriber.state, 0) + 1
    return counts


def manifest(world: World) -> dict[str, Any]:
    """Everything the world holds, counted: totals and per client (JSON-serialisable)."""
    with world.lock:
        clients: dict[str, Any] = {}
        totals: dict[str, Any] = dict.fromkeys(
            (
                "clients",
                "lists",
                "custom_fields",
                "memberships",
                "unique_emails",
                "campaigns",
                "recipients",
                "opens",
                "unique_opens",
                "clicks",
                "bounces",
                "unsubscribes",
                "spam_complaints",
                "tracking_events",
                "suppressions",
                "journeys",
                "journey_emails",
                "journey_recipients",
                "journey_events",
                "segments",
            ),
            0,
        )
        totals["subscribers_by_state"] = dict.fromkeys(SUBSCRIBER_STATES, 0)
        emails: set[str] = set()
        for client in world.clients.values():
            lists: dict[str, Any] = {}
            entry: dict[str, Any] = {
                "name": client.company_name,
                "time_zone": client.time_zone,
                "country": client.country,
                "api_key": client.api_key,
                "lists": lists,
            }
            for list_id in client.list_ids:
                lst = world.lists[list_id]
                by_state = _by_state(lst.subscribers.values())
                lists[list_id] = {
                    "title": lst.title,
                    "custom_fields": len(lst.custom_fields),
                    "memberships": len(lst.subscribers),
                    "subscribers_by_state": by_state,
                }
                emails.update(lst.subscribers)
                totals["lists"] += 1
                totals["custom_fields"] += len(lst.custom_fields)
                totals["memberships"] += len(lst.subscribers)
                for state, number in by_state.items():
                    totals["subscribers_by_state"][state] = totals["subscribers_by_state"].get(state, 0) + number
            stats = dict.fromkeys(
                ("recipients", "opens", "unique_opens", "clicks", "bounces", "unsubscribes", "spam_complaints"), 0
            )
            dates: list[datetime] = []
            for campaign_id in client.campaign_ids:
                campaign = world.campaigns[campaign_id]
                dates.append(campaign.sent_date)
                stats["recipients"] += len(campaign.recipients)
                stats["opens"] += len(campaign.opens)
                stats["unique_opens"] += len({event.email.lower() for event in campaign.opens})
                stats["clicks"] += len(campaign.clicks)
                stats["bounces"] += len(campaign.bounces)
                stats["unsubscribes"] += len(campaign.unsubscribes)
                stats["spam_complaints"] += len(campaign.spam)
            journey_recipients = journey_events = journey_emails = 0
            for journey_id in client.journey_ids:
                for email in world.journeys[journey_id].emails:
                    journey_emails += 1
                    journey_recipients += len(email.recipients)
                    journey_events += (
                        len(email.opens) + len(email.clicks) + len(email.unsubscribes) + len(email.bounces)
                    )
            tracking = (
                stats["opens"] + stats["clicks"] + stats["bounces"] + stats["unsubscribes"] + stats["spam_complaints"]
            )
            entry.update(
                campaigns=len(client.campaign_ids),
                first_sent=min(dates).isoformat(sep=" ") if dates else None,
                last_sent=max(dates).isoformat(sep=" ") if dates else None,
                **stats,
                tracking_events=tracking,
                suppressions=len(client.suppression),
                suppressions_by_reason=_count_reasons(client.suppression.values()),
                journeys=len(client.journey_ids),
                journey_emails=journey_emails,
                journey_recipients=journey_recipients,
                journey_events=journey_events,
                segments=len(client.segment_ids),
            )
            clients[client.client_id] = entry
            totals["clients"] += 1
            totals["campaigns"] += len(client.campaign_ids)
            for key in stats:
                totals[key] += stats[key]
            totals["tracking_events"] += tracking
            totals["suppressions"] += len(client.suppression)
            totals["journeys"] += len(client.journey_ids)
            totals["journey_emails"] += journey_emails
            totals["journey_recipients"] += journey_recipients
            totals["journey_events"] += journey_events
            totals["segments"] += len(client.segment_ids)
        totals["unique_emails"] = len(emails)
        app = world.oauth_app
        return {
            "seed": world.seed,
            "size": world.size,
            "generated_until": world.generated_until.astimezone(UTC).isoformat(),
            "account": {
                "name": world.account_name,
                "api_key": world.account_api_key,
                "oauth_client_id": app.client_id if app else None,
                "oauth_client_secret": app.client_secret if app else None,
                "oauth_redirect_uri": app.redirect_uri if app else None,
            },
            "totals": totals,
            "clients": clients,
            "transactional": {
                "smart_emails": len(world.smart_emails),
                "active_smart_emails": sum(1 for e in world.smart_emails.values() if e.status == "active"),
                "messages": len(world.messages),
            },
        }


def _count_reasons(records: Iterable[SuppressionRecord]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in records:
        counts[record.reason] = counts.get(record.reason, 0) + 1
    return dict(sorted(counts.items()))


def write_manifest(world: World, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest(world), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
