"""Reads of the maintenance app that the console shares: messages, the audit log, the governor limits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet

from cmsf.maintenance.jobs import JOBS, Job
from cmsf.maintenance.models import CLI_LABEL, CLI_PREFIX, CMSF_ACTOR, AuditEntry, GovernorLimit, MaintenanceMessage

NEW, ALL = "new", "all"


NEW_MESSAGES = Q(acknowledged_at=None, resolved_at=None)  # open and not acknowledged: what the bell counts


def messages(show: str = ALL) -> QuerySet[MaintenanceMessage]:
    """Maintenance messages: new ones (open, not acknowledged) first, then the other open ones, then the resolved;
    the last seen first within each. Only new ones for `new`."""
    rows = MaintenanceMessage.objects.select_related("acknowledged_by", "client")
    if show == NEW:
        rows = rows.filter(NEW_MESSAGES)
    is_new = ExpressionWrapper(NEW_MESSAGES, output_field=BooleanField())
    is_open = ExpressionWrapper(Q(resolved_at=None), output_field=BooleanField())
    return rows.annotate(is_unread=is_new, is_unresolved=is_open).order_by(
        "-is_unread", "-is_unresolved", "-last_seen_at", "-id"
    )


def new_message_count() -> int:
    """The bell: open messages nobody acknowledged (each problem once, however often it was met)."""
    return MaintenanceMessage.objects.filter(NEW_MESSAGES).count()


def audit_entries(
    *, actor: str = "", section: str = "", date_from: date | None = None, date_to: date | None = None
) -> QuerySet[AuditEntry]:
    """The audit log, newest first, by who made the change, in which section and between two days (both included,
    in the console's time zone)."""
    rows = AuditEntry.objects.all()
    if actor == CLI_PREFIX:  # every change of the command line, whatever ran it
        rows = rows.filter(actor__startswith=CLI_PREFIX)
    elif actor:
        rows = rows.filter(actor=actor)
    if section:
        rows = rows.filter(section=section)
    if date_from:
        rows = rows.filter(created_at__date__gte=date_from)
    if date_to:
        rows = rows.filter(created_at__date__lte=date_to)
    return rows.order_by("-created_at", "-id")


def audit_actors() -> list[str]:
    """Who made changes, and cmsf itself always (what cmsf changed on its own can be asked for before it did any)."""
    found = set(AuditEntry.objects.values_list("actor", flat=True).distinct())
    return sorted(found | {CMSF_ACTOR})


def audit_actor_choices() -> list[tuple[str, str]]:
    """The actors to filter by, as (value, label): the command line's changes as one ("cli:", "Command line")."""
    actors = audit_actors()
    people = [(actor, actor) for actor in actors if not actor.startswith(CLI_PREFIX)]
    if len(people) < len(actors):
        people.append((CLI_PREFIX, CLI_LABEL))
    return sorted(people, key=lambda choice: choice[1].lower())


def audit_sections() -> list[str]:
    return list(AuditEntry.objects.order_by("section").values_list("section", flat=True).distinct())


@dataclass(frozen=True)
class Limit:
    job: Job
    batch_size: int  # in use now

    @property
    def is_default(self) -> bool:
        return self.batch_size == self.job.default_batch_size


def governor_limits() -> list[Limit]:
    """Every job with the batch size it uses now, in the order of `JOBS`."""
    sizes = GovernorLimit.all_batch_sizes()
    return [Limit(job, sizes[code]) for code, job in JOBS.items()]


def messages_of_run(client_id: int, since: datetime) -> list[MaintenanceMessage]:
    """The open messages a run of the client told (or met again) from `since`, when it started: what `cmsf sync`
    names under the run's summary."""
    rows = MaintenanceMessage.objects.filter(client_id=client_id, resolved_at=None, last_seen_at__gte=since)
    return list(rows.order_by("id"))
