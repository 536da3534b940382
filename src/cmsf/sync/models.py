"""The primary sync's settings and schedule."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Self
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models
from django.utils import timezone

from cmsf.lib.crypto import EncryptedTextField
from cmsf.lib.declared import Declared
from cmsf.lib.singleton import SingletonModel
from cmsf.lib.urls import is_loopback


class ImportFrequency(models.TextChoices):
    OFF = "off", "Off"
    EVERY_15_MINUTES = "15m", "Every 15 minutes"
    EVERY_30_MINUTES = "30m", "Every 30 minutes"
    HOURLY = "hourly", "Hourly (recommended)"
    EVERY_2_HOURS = "2h", "Every 2 hours"
    EVERY_4_HOURS = "4h", "Every 4 hours"
    EVERY_6_HOURS = "6h", "Every 6 hours"
    EVERY_12_HOURS = "12h", "Every 12 hours"
    DAILY = "daily", "Daily"
    WEEKLY = "weekly", "Weekly"


INTERVALS: dict[str, timedelta] = {
    ImportFrequency.EVERY_15_MINUTES: timedelta(minutes=15),
    ImportFrequency.EVERY_30_MINUTES: timedelta(minutes=30),
    ImportFrequency.HOURLY: timedelta(hours=1),
    ImportFrequency.EVERY_2_HOURS: timedelta(hours=2),
    ImportFrequency.EVERY_4_HOURS: timedelta(hours=4),
    ImportFrequency.EVERY_6_HOURS: timedelta(hours=6),
    ImportFrequency.EVERY_12_HOURS: timedelta(hours=12),
    ImportFrequency.DAILY: timedelta(days=1),
    ImportFrequency.WEEKLY: timedelta(weeks=1),
}


class SyncStatus(models.TextChoices):
    NEVER_RUN = "never_run", "Not run yet"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    PROBLEMS = "problems", "Succeeded with problems"
    FAILED = "failed", "Failed"
    STOPPED = "stopped", "Stopped at the API budget"
    NOT_CONNECTED = "not_connected", "Not connected"


log = logging.getLogger(__name__)


def validate_public_url(value: str) -> None:
    """The address Campaign Monitor posts webhooks to: https, with a host and maybe a port, and nothing else (no
    path, query, fragment or credentials). http only to this machine (127.0.0.1, ::1, localhost), for the sandbox
    and `cmsf demo`, whose emulator posts from the same machine."""
    if not value:
        return
    said = "Enter the address Campaign Monitor reaches cmsf at, such as https://cmsf.example.org"
    try:
        URLValidator(schemes=["http", "https"])(value)
        parts = urlsplit(value)
        host = parts.hostname or ""
        parts.port  # noqa: B018  # a port that is not a number raises ValueError
    except (ValidationError, ValueError):
        raise ValidationError(f"{said}.", code="invalid") from None
    if parts.username is not None or parts.password is not None:
        raise ValidationError(f"{said}, without a user name or password.", code="credentials")
    if parts.path not in ("", "/") or parts.query or parts.fragment or value.endswith(("?", "#")):
        raise ValidationError(f"{said}: the host only, with no path, query or fragment.", code="path")
    if parts.scheme == "http" and not is_loopback(host):
        raise ValidationError(f"{said}: https is required (http only to this machine, for the sandbox).", code="https")


class SyncSettings(SingletonModel):
    """The Sync Settings screen: how often the primary sync runs, whether it runs, and how it went; and the public
    address of cmsf, where Campaign Monitor posts list webhooks (`sync.webhooks`)."""

    import_frequency = models.CharField(
        max_length=8,
        choices=ImportFrequency.choices,
        default=ImportFrequency.HOURLY,
        help_text="How often the primary sync pulls changes from Campaign Monitor. Hourly is recommended.",
    )
    sync_enabled = models.BooleanField(default=True, help_text="Turn off sync stops every scheduled sync.")
    next_run = models.DateTimeField(null=True, blank=True)
    last_status = models.CharField(max_length=16, choices=SyncStatus.choices, default=SyncStatus.NEVER_RUN)
    last_status_message = models.TextField(blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)

    @property
    def interval(self) -> timedelta | None:
        return INTERVALS.get(self.import_frequency)

    def reschedule(self, now: datetime) -> None:
        """Set the next run one interval from now, or none when the sync is off."""
        interval = self.interval
        self.next_run = now + interval if (self.sync_enabled and interval) else None

    def is_due(self, now: datetime) -> bool:
        return self.sync_enabled and self.next_run is not None and self.next_run <= now

    # The public URL has one home, here. CMSF_PUBLIC_URL seeds it once: the first time the row is read while no
    # public URL was ever stored (public_url_set_at is None). After that only an admin changes it (the console,
    # `cmsf config import`, `cmsf init --public-url`); the environment of a process is never read for it again.
    public_url = models.CharField(
        max_length=200,
        blank=True,
        default="",
        validators=[validate_public_url],
        help_text="The address Campaign Monitor reaches cmsf at (https://cmsf.example.org). Set, the sync registers "
        "a webhook on every list; cleared, the webhooks are removed.",
    )
    public_url_set_at = models.DateTimeField(null=True, blank=True)  # None: never stored, CMSF_PUBLIC_URL may seed it

    @classmethod
    def load(cls) -> Self:
        obj = super().load()
        if obj.public_url_set_at is None and settings.CMSF_PUBLIC_URL:
            obj._seed_public_url(settings.CMSF_PUBLIC_URL)
        return obj

    def _seed_public_url(self, value: str) -> None:
        value = value.strip().rstrip("/")
        try:
            validate_public_url(value)
        except ValidationError as error:
            log.warning("CMSF_PUBLIC_URL is not used: %s", " ".join(error.messages))
            return
        now = timezone.now()
        if (
            type(self)
            .objects.filter(pk=self.pk, public_url_set_at=None)
            .update(public_url=value, public_url_set_at=now)
        ):
            self.public_url, self.public_url_set_at = value, now
            log.info("public URL %s taken from CMSF_PUBLIC_URL", value)
        else:  # another process stored one first
            self.refresh_from_db(fields=["public_url", "public_url_set_at"])

    def clean(self) -> None:
        self.public_url = self.public_url.strip().rstrip("/")

    def settings_changed(self, now: datetime) -> None:
        """The frequency or the on/off switch changed: the next run follows from the new choice."""
        self.reschedule(now)
        self.save(update_fields=["next_run"])


SYNC = Declared("sync", SyncSettings, {"schedule": ("import_frequency", "sync_enabled"), "real_time": ("public_url",)})


class SyncRun(models.Model):
    """One sync of one Campaign Monitor client: what it read and wrote, what it cost, how it ended."""

    class Kind(models.TextChoices):
        PRIMARY = "primary", "Primary sync"
        FULL = "full", "Full Campaign Monitor sync"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        PROBLEMS = "problems", "Succeeded with problems"  # it ran to its end, but records were refused
        FAILED = "failed", "Failed"
        STOPPED = "stopped", "Stopped at the API budget"
        NOT_CONNECTED = "not_connected", "Not connected"

    # The statuses of a run that has ended; a run that went through to its end is one of the first two.
    ENDED = (Status.SUCCEEDED, Status.PROBLEMS, Status.FAILED, Status.STOPPED, Status.NOT_CONNECTED)
    COMPLETED = (Status.SUCCEEDED, Status.PROBLEMS)

    client = models.ForeignKey("connections.CampaignMonitorClient", on_delete=models.CASCADE, related_name="runs")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.PRIMARY)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    dry_run = models.BooleanField(default=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    stage = models.CharField(max_length=64, blank=True)
    read = models.JSONField(default=dict)  # stream -> records read from Campaign Monitor
    written = models.JSONField(default=dict)  # Salesforce object -> rows written (or that would be, in a dry run)
    skipped = models.JSONField(default=dict)  # Salesforce object -> rows unchanged since the last write
    failed = models.JSONField(default=dict)  # Salesforce object -> rows Salesforce refused
    deleted = models.JSONField(default=dict)  # Salesforce object -> rows removed (retention, full sync)
    cm_calls = models.PositiveIntegerField(default=0)
    sf_calls = models.PositiveIntegerField(default=0)
    message = models.TextField(blank=True)
    # The worker that closed the run once its last partition ended (`sync.partitions.close`): set by a conditional
    # UPDATE, so exactly one worker closes it.
    closed_by = models.CharField(max_length=128, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["client", "status"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.client_id} ({self.status})"

    @property
    def records_read(self) -> int:
        return sum(self.read.values())

    @property
    def records_written(self) -> int:
        return sum(self.written.values())

    @property
    def duration_s(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class SyncPartition(models.Model):
    """One share of a client's run that any worker may take (`sync.partitions`): the subscribers of a list, the
    tracking history of a campaign, the suppression list or retention. Taken by a conditional UPDATE, renewed by the
    run's heartbeat, taken over once its lease has expired; done once its rows are written."""

    class State(models.TextChoices):
        OPEN = "open", "Open"
        TAKEN = "taken", "Taken"
        DONE = "done", "Done"

    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="partitions")
    key = models.CharField(max_length=80)  # "list:<id>", "campaign:<id>", "suppression", "retention"
    position = models.PositiveIntegerField()  # the order the partitions are offered in
    state = models.CharField(max_length=8, choices=State.choices, default=State.OPEN)
    owner = models.CharField(max_length=128, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    claims = models.PositiveSmallIntegerField(default=0)  # how many times it was taken: 1 unless its worker died
    done_by = models.CharField(max_length=128, blank=True)
    detail = models.JSONField(default=dict)  # what a worker needs to read it (a campaign's sent date)
    # Campaigns whose stored tracking history this partition changed -> the people it changed for (None: all).
    touched = models.JSONField(default=dict)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="one_partition_per_key")]
        indexes = [models.Index(fields=["run", "state", "position"])]

    def __str__(self) -> str:
        return f"{self.key} of run {self.run_id} ({self.state})"


class ClientLease(models.Model):
    """Who is syncing a client now. Claimed by a conditional UPDATE, so two workers never sync one client
    at once; a lease that is not renewed expires and the reaper (or the next claim) takes it over."""

    client = models.OneToOneField(
        "connections.CampaignMonitorClient", on_delete=models.CASCADE, primary_key=True, related_name="lease"
    )
    owner = models.CharField(max_length=128, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    run = models.ForeignKey(SyncRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    def __str__(self) -> str:
        return f"{self.client_id}: {self.owner or 'free'}"


class Cursor(models.Model):
    """How far a stream of a client has been read: the newest time written to Salesforce, never past the
    start of the run that wrote it."""

    client = models.ForeignKey("connections.CampaignMonitorClient", on_delete=models.CASCADE, related_name="cursors")
    stream = models.CharField(max_length=64)
    scope = models.CharField(max_length=64, blank=True)  # a list or campaign id, for per-list and per-campaign streams
    position = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client", "stream", "scope"], name="one_cursor_per_stream")]

    def __str__(self) -> str:
        return f"{self.stream}[{self.scope}] at {self.position:%Y-%m-%d %H:%M:%S}"


class RecordMap(models.Model):
    """The ledger: every row cmsf wrote to Salesforce, by object and external key, with its Salesforce Id and
    the hash of what was written. Unchanged rows are not sent again; retention and the full sync delete
    exactly what cmsf wrote."""

    client = models.ForeignKey("connections.CampaignMonitorClient", on_delete=models.CASCADE, related_name="+")
    sobject = models.CharField(max_length=64)
    key = models.CharField(max_length=255)
    salesforce_id = models.CharField(max_length=18)
    content_hash = models.CharField(max_length=40)
    activity_date = models.DateTimeField(null=True, blank=True)  # for retention of tracking history
    activity_kind = models.CharField(max_length=16, blank=True)  # sent, opens, clicks, ...: for the email-type filter
    # The Contact or Lead an activity row is linked to: campaign members and their aggregates are computed from it.
    person_id = models.CharField(max_length=18, blank=True, default="")
    # A campaign member's status label as written (or as found on a member cmsf adopted): under the refresh rules
    # Never and Once only a member keeps it when the status map is renamed. Null elsewhere (and on older rows);
    # nullable so that adding it to a large ledger does not copy the table.
    status_label = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    synced_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["sobject", "key"], name="one_ledger_row_per_key")]
        indexes = [
            models.Index(fields=["client", "sobject"]),
            models.Index(fields=["sobject", "activity_date"]),
        ]

    def __str__(self) -> str:
        return f"{self.sobject} {self.key} -> {self.salesforce_id}"


class TrackingCoverage(models.Model):
    """The tracking-history settings (days to keep, email types) a client's activity cursors were read with.
    When they change, the cursors start over from the new window, so a wider window is filled in."""

    client = models.OneToOneField(
        "connections.CampaignMonitorClient", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    fingerprint = models.CharField(max_length=200)

    def __str__(self) -> str:
        return f"{self.client_id}: {self.fingerprint}"


class DirectoryEntry(models.Model):
    """The mirror of Salesforce's contacts and leads that matching needs (`sync.directory`): read in full now and
    then, kept current from what changed since, so that a sync does not read every contact and lead again."""

    class SObject(models.TextChoices):
        CONTACT = "Contact", "Contact"
        LEAD = "Lead", "Lead"

    sobject = models.CharField(max_length=8, choices=SObject.choices)
    record_id = models.CharField(max_length=18, unique=True)
    email_lower = models.CharField(max_length=255, blank=True, db_index=True)  # "" when none: the Id still links
    # LastModifiedDate (the most recent wins an email) as UTC text of one width, "2026-11-27T10:00:00.000+00:00",
    # which sorts as the times do: a directory is read from 100,000 rows per sync with no conversion per row.
    last_modified = models.CharField(max_length=29, blank=True)
    is_converted = models.BooleanField(default=False)
    converted_contact_id = models.CharField(max_length=18, blank=True)

    class Meta:
        verbose_name_plural = "directory entries"

    def __str__(self) -> str:
        return f"{self.sobject} {self.record_id} <{self.email_lower}>"


class DirectoryState(models.Model):
    """How far the mirror of one object (Contact, Lead) follows Salesforce: the newest SystemModstamp applied (the
    next read asks for what changed since, less a lag), when it was last read in full, and last refreshed. The
    version is new whenever a refresh changed the object's rows, so that a process holding the directory built from
    them knows whether it is still the mirror's."""

    sobject = models.CharField(max_length=8, primary_key=True, choices=DirectoryEntry.SObject.choices)
    position = models.DateTimeField(null=True, blank=True)
    full_at = models.DateTimeField(null=True, blank=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    version = models.UUIDField(default=uuid.uuid4)

    def __str__(self) -> str:
        return f"{self.sobject} at {self.position}"


class CampaignLink(models.Model):
    """A sent Campaign Monitor campaign linked to a Salesforce Campaign: by an admin (manual) or by auto-create.
    The linked campaign gets Campaign Monitor's statistics (when that option is on) and campaign members."""

    class Origin(models.TextChoices):
        MANUAL = "manual", "Linked by an admin"
        AUTO = "auto", "Auto-created"

    client = models.ForeignKey("connections.CampaignMonitorClient", on_delete=models.CASCADE, related_name="+")
    cm_campaign_id = models.CharField("Campaign Monitor campaign id", max_length=64, unique=True)
    cm_campaign_name = models.CharField(max_length=255, blank=True)
    salesforce_campaign_id = models.CharField(max_length=18)
    salesforce_campaign_name = models.CharField(max_length=255, blank=True)
    origin = models.CharField(max_length=8, choices=Origin.choices, default=Origin.MANUAL)
    linked_by = models.CharField(max_length=255, blank=True)
    linked_at = models.DateTimeField(auto_now_add=True)
    members_filled_at = models.DateTimeField(null=True, blank=True)  # when the recipients became members
    # What the members were last computed with (status map, refresh rule, aggregates on or off): a change recomputes
    # them all; otherwise only a campaign whose stored activity changed in a run is recomputed.
    members_fingerprint = models.CharField(max_length=64, blank=True)
    # Unlinked by an admin, or because the Salesforce campaign was deleted in Salesforce: the row is kept as a mark,
    # so that auto-create does not make the campaign again; linking the Campaign Monitor campaign anew replaces it.
    unlinked_at = models.DateTimeField(null=True, blank=True)
    unlinked_reason = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-linked_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["salesforce_campaign_id"],
                condition=models.Q(unlinked_at=None),
                name="one_link_per_sf_campaign",
            )
        ]

    def __str__(self) -> str:
        return f"{self.cm_campaign_id} -> {self.salesforce_campaign_id}"

    @property
    def is_live(self) -> bool:
        return self.unlinked_at is None


class Watcher(SingletonModel):
    """The Salesforce change watcher (`sync.watcher`): who runs it now (a lease, so that one worker watches at a
    time) and when it runs next."""

    owner = models.CharField(max_length=128, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    next_run = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"watcher held by {self.owner or 'nobody'}"


class WatchCursor(models.Model):
    """How far the watcher has read one object (Contact, Lead): changes up to `position` (the newest
    SystemModstamp applied; the next read goes back a lag from it) and deletions up to `deleted_until` (the time
    the deleted-records API said it covered)."""

    sobject = models.CharField(max_length=8, primary_key=True, choices=DirectoryEntry.SObject.choices)
    position = models.DateTimeField()
    deleted_until = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.sobject} watched to {self.position:%Y-%m-%d %H:%M:%S}"


class PersonState(models.Model):
    """What the watcher last saw of a contact or lead: its email (a later one is an email change), its Email Opt
    Out with when that value was set (the record's LastModifiedDate when the watcher first saw it; the time the
    conflict rule compares with Campaign Monitor's state changes), and the version it handled."""

    record_id = models.CharField(max_length=18, primary_key=True)
    email_lower = models.CharField(max_length=255, blank=True)
    opted_out = models.BooleanField(default=False)
    opted_out_at = models.DateTimeField()
    # The version the watcher handled (its SystemModstamp; deleted: handled as deleted): read again within the lag,
    # it is not handled twice.
    stamp = models.DateTimeField(null=True, blank=True)
    deleted = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"{self.record_id}: {'opted out' if self.opted_out else 'opted in'} at {self.opted_out_at}"


class PushedFields(models.Model):
    """The mapped values the watcher last sent a list for a contact or lead (a hash): a change to another field of
    the record sends nothing again."""

    list_id = models.CharField(max_length=64)
    record_id = models.CharField(max_length=18)
    content_hash = models.CharField(max_length=40)
    pushed_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["list_id", "record_id"], name="one_push_a_list_and_record")]

    def __str__(self) -> str:
        return f"{self.record_id} on {self.list_id}"


class RuleMatch(models.Model):
    """A contact or lead that meets a subscriber rule evaluated "when edited to subsequently meet the criteria", as
    last seen: the rule applies to a record again only once it stopped meeting the criteria in between."""

    rule = models.ForeignKey("options.SubscriberRule", on_delete=models.CASCADE, related_name="+")
    record_id = models.CharField(max_length=18)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["rule", "record_id"], name="one_match_a_rule_and_record")]

    def __str__(self) -> str:
        return f"{self.record_id} meets rule {self.rule_id}"


class WatchRun(models.Model):
    """One run of the watcher: what it read and did, what it cost, and each record it could not handle."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    read = models.JSONField(default=dict)  # Contact, Lead, deleted -> records read
    done = models.JSONField(default=dict)  # what was pushed or written: unsubscribed, email_changed, ...
    problems = models.JSONField(default=list)  # [{"key": ..., "reason": ...}], at most PROBLEMS_KEPT
    sf_calls = models.PositiveIntegerField(default=0)
    cm_calls = models.PositiveIntegerField(default=0)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"watch run {self.pk} ({self.status})"


class ListWebhook(models.Model):
    """The webhook cmsf registered on a Campaign Monitor list (`sync.webhooks`), so that it is kept, or removed on
    disconnect."""

    client = models.ForeignKey("connections.CampaignMonitorClient", on_delete=models.CASCADE, related_name="+")
    list_id = models.CharField(max_length=64, unique=True)
    webhook_id = models.CharField(max_length=64)
    url = EncryptedTextField()  # it holds the webhook secret: encrypted at rest, never in clear in a backup
    registered_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"webhook {self.webhook_id} on {self.list_id}"


class WebhookEvent(models.Model):
    """One event Campaign Monitor POSTed, kept until it is applied (and a week after), or quarantined: refused when
    received (its shape) or when applied (an error, or Salesforce refusing its row), kept 30 days with the reason
    for download. Its key (a hash of what it says) makes a batch POSTed twice count once. Waiting: neither applied
    nor quarantined."""

    key = models.CharField(max_length=40, unique=True)
    list_id = models.CharField(max_length=64)
    kind = models.CharField(max_length=16)  # Subscribe, Deactivate, Update
    payload = models.JSONField()
    received_at = models.DateTimeField()
    applied_at = models.DateTimeField(null=True, blank=True)
    outcome = models.TextField(blank=True)
    quarantined_at = models.DateTimeField(null=True, blank=True)
    problem = models.TextField(blank=True)  # why it was quarantined

    class Meta:
        indexes = [models.Index(fields=["applied_at", "id"])]

    def __str__(self) -> str:
        said = "applied" if self.applied_at else "quarantined" if self.quarantined_at else "pending"
        return f"{self.kind} on {self.list_id} ({said})"


class UnwatchedWebhookList(models.Model):
    """Events POSTed for a list cmsf does not watch (a client deselected, a webhook left behind, a list unknown),
    counted instead of dropped in silence; shown under General Options."""

    list_id = models.CharField(max_length=64, unique=True)
    events = models.PositiveIntegerField(default=0)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.events} events for unwatched list {self.list_id}"


class ForgottenEmail(models.Model):
    """An email forgotten on request (`sync.forget`), kept only as a keyed hash: the sync, the webhooks and campaign
    members never write it to Salesforce again."""

    email_hash = models.CharField(max_length=64, unique=True)
    forgotten_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"forgotten {self.email_hash[:12]}"


class SchedulerHeartbeat(SingletonModel):
    """The queue's scheduler is alive: a periodic job stamps this row every minute (`sync.tasks.heartbeat_tick`), so
    a stamp older than two beats means no scheduler enqueues jobs, or no worker runs them (`sync.health`)."""

    beat_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"scheduler heartbeat at {self.beat_at}"


class SmartEmailMessage(models.Model):
    """One message of a smart email send, as cmsf recorded it (`sync.transactional`): the Task it wrote in Salesforce
    and what Campaign Monitor said of the message when last asked. The console's recent sends and the email history
    read it; the update job refreshes the recent ones. A message whose recipient nobody in Salesforce has is kept
    with `problem` set and no Task, so that no send is lost."""

    message_id = models.CharField(max_length=36, unique=True)
    # The Campaign Monitor client the smart email belongs to: its zone dates the opens and clicks, and the update job
    # reads no message of a client no longer selected.
    cm_client_id = models.CharField("Campaign Monitor client id", max_length=64, blank=True, db_index=True)
    smart_email_id = models.CharField(max_length=36)
    smart_email_name = models.CharField(max_length=255, blank=True)
    recipient = models.CharField(max_length=255)  # "Name <email>" as the send named them
    email = models.CharField(max_length=254, db_index=True)  # the recipient's address, lower case
    related_id = models.CharField(max_length=18, blank=True)  # the record the send was for, when given
    who_id = models.CharField(max_length=18, blank=True)  # the contact or lead the Task is on
    task_id = models.CharField(max_length=18, blank=True)
    status = models.CharField(max_length=40)
    opens = models.PositiveIntegerField(default=0)
    clicks = models.PositiveIntegerField(default=0)
    first_opened_at = models.DateTimeField(null=True, blank=True)
    first_clicked_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(db_index=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    problem = models.CharField(max_length=255, blank=True)  # why no Task is written yet

    class Meta:
        ordering = ("-sent_at", "-id")

    def __str__(self) -> str:
        return f"smart email message {self.message_id} to {self.email}: {self.status}"
