"""Maintenance: messages for the admin, the audit log, governor limits and the notification address."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from cmsf.lib.declared import Declared
from cmsf.lib.singleton import SingletonModel
from cmsf.maintenance.jobs import JOBS


class MaintenanceSettings(SingletonModel):
    notification_email = models.EmailField(
        blank=True, help_text="New maintenance messages are emailed to this address."
    )


MAINTENANCE = Declared("maintenance", MaintenanceSettings, {"notifications": ("notification_email",)})


class GovernorLimit(models.Model):
    """An admin's batch size for one job; a job without a row, or with no size, uses its default."""

    job = models.CharField(max_length=64, unique=True, choices=[(code, job.name) for code, job in JOBS.items()])
    batch_size = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["job"]

    def __str__(self) -> str:
        return f"{self.job}: {self.batch_size or 'default'}"

    def clean(self) -> None:
        job = JOBS[self.job]
        if self.batch_size is not None and not 1 <= self.batch_size <= job.max_batch_size:
            raise ValidationError(
                {"batch_size": f"The batch size of {job.code} must be from 1 to {job.max_batch_size}."}
            )

    @classmethod
    def batch_size_for(cls, code: str) -> int:
        """The batch size a job uses: the admin's, else the job's default."""
        size = cls.objects.filter(job=code).values_list("batch_size", flat=True).first()
        return size if size is not None else JOBS[code].default_batch_size

    @classmethod
    def all_batch_sizes(cls) -> dict[str, int]:
        chosen = dict(cls.objects.exclude(batch_size=None).values_list("job", "batch_size"))
        return {code: chosen.get(code, job.default_batch_size) for code, job in JOBS.items()}


class MaintenanceMessage(models.Model):
    """A problem (or notice) captured for the admin, with a support code and plain guidance.

    One message stands for a problem while it continues: the same (support code, job, client, subject) met again
    while the message is open adds to its count and moves its last sighting, its text and details are the latest
    (`maintenance.services.record_message`). A later run of that job that no longer meets it resolves it
    (`resolve_cleared`): it stays in the history, marked resolved, and the problem meeting cmsf again opens a new
    message."""

    class Severity(models.TextChoices):
        INFO = "info", "Info"
        WARNING = "warning", "Warning"
        ERROR = "error", "Error"

    support_code = models.CharField(max_length=64)
    job = models.CharField(max_length=64)
    # What the problem is about within its job and client (an object name, an import wizard, a list): messages of one
    # code and job about different subjects stay apart.
    subject = models.CharField(max_length=255, blank=True)
    severity = models.CharField(max_length=8, choices=Severity.choices, default=Severity.ERROR)
    message = models.TextField()
    details = models.TextField(blank=True)
    guidance = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)  # first seen
    last_seen_at = models.DateTimeField(default=timezone.now)
    occurrences = models.PositiveIntegerField(default=1)  # how many times a run met the problem while it was open
    resolved_at = models.DateTimeField(null=True, blank=True)  # a later run of the job no longer met it
    notified_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The Campaign Monitor client whose sync run produced the message: Retry syncs that client again.
    client = models.ForeignKey(
        "connections.CampaignMonitorClient", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    retried_at = models.DateTimeField(null=True, blank=True)
    retried_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    retry_run = models.ForeignKey("sync.SyncRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["acknowledged_at", "created_at"]),
            models.Index(fields=["resolved_at", "job", "client"]),
        ]

    def __str__(self) -> str:
        return f"[{self.support_code}] {self.message}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    @property
    def is_new(self) -> bool:
        """Open and not acknowledged: counted on the bell."""
        return self.acknowledged_at is None and self.resolved_at is None

    @property
    def can_retry(self) -> bool:
        """An open message of a client's sync run, not retried since the problem was last met: Retry syncs the client
        again."""
        if self.client_id is None or self.resolved_at is not None:
            return False
        return self.retried_at is None or self.last_seen_at > self.retried_at

    @property
    def retry_outcome(self) -> str:
        """What the last Retry achieved: "Succeeded" only once the problem is resolved (the records it names were
        written), "Failed again" when the run it started met the problem again, else the run's progress."""
        run = self.retry_run
        if self.retried_at is None or run is None:
            return ""
        if self.resolved_at is not None and self.resolved_at >= self.retried_at:
            return "Succeeded"
        if run.started_at is not None and self.last_seen_at >= run.started_at:
            return "Failed again"
        if run.finished_at is None:
            return run.get_status_display()
        return f"{run.get_status_display()}; the problem is not resolved yet"


CMSF_ACTOR = "cmsf"  # the actor of the changes cmsf makes on its own (Salesforce changes pushed, boxes checked)
# The `cmsf` command's changes are stored as "cli:" and what ran them ("cli:upgrade", "cli:init", "cli:USER" for
# `cmsf config import` and `forget`): the audit log shows them as one actor, with that as its detail.
CLI_PREFIX = "cli:"
CLI_LABEL = "Command line"


class AuditEntry(models.Model):
    """A change to cmsf's settings or connections: who, what, the values before and after, when."""

    actor = models.CharField(max_length=255)
    section = models.CharField(max_length=64)
    action = models.CharField(max_length=255)
    before = models.JSONField(default=dict)
    after = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor}: {self.action}"

    @property
    def actor_label(self) -> str:
        """Who, as the audit log shows it: the `cmsf` command's changes all as "Command line"."""
        return CLI_LABEL if self.actor.startswith(CLI_PREFIX) else self.actor

    @property
    def actor_detail(self) -> str:
        """What ran a command line change ("upgrade", or the user of `cmsf config import`); "" otherwise."""
        return self.actor.removeprefix(CLI_PREFIX) if self.actor.startswith(CLI_PREFIX) else ""

    def changes(self) -> list[tuple[str, str, str]]:
        """(what, before, after) for every key of before or after, the values written for people to read."""
        before = self.before if isinstance(self.before, dict) else {"value": self.before}
        after = self.after if isinstance(self.after, dict) else {"value": self.after}
        keys = list(before) + [key for key in after if key not in before]
        return [(key.replace("_", " "), readable(before.get(key)), readable(after.get(key))) for key in keys]


def readable(value: object) -> str:
    """A value of the audit log as text: Yes/No, "(blank)", "—" when there was none, lists joined by commas."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if value == "":
        return "(blank)"
    if isinstance(value, list | tuple):
        return ", ".join(readable(item) for item in value) or "(none)"
    if isinstance(value, dict):
        return "; ".join(f"{key}: {readable(item)}" for key, item in value.items()) or "(none)"
    return str(value)


class MetricCounter(models.Model):
    """One series of what cmsf's processes did, kept in the database so that `/metrics`, served by the web process,
    shows the work of every worker: a counter (runs by kind and outcome, records, API calls, retries, rate-limit
    waits, refused records), bumped atomically at the end of each run (`maintenance.observe`), or a last-seen value
    (the org's API usage as Salesforce last reported it). `labels` is the series' labels as sorted JSON."""

    name = models.CharField(max_length=64)
    labels = models.CharField(max_length=512, default="{}")
    value = models.FloatField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["name", "labels"], name="one_metric_series")]
        ordering = ["name", "labels"]

    def __str__(self) -> str:
        return f"{self.name}{self.labels} = {self.value:g}"
