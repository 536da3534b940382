"""API tokens (`tokens.py` makes and checks them) and the per-minute counters of their rate limit."""

from __future__ import annotations

from django.db import models

DEFAULT_RATE_PER_MINUTE = 60


class ApiToken(models.Model):
    """A bearer token of the HTTP API. The token itself is shown once, when made; only its SHA-256 is kept, with
    its first characters (`prefix`) so that an admin can tell tokens apart."""

    class Scope(models.TextChoices):
        SEND = "send", "send: smart emails"
        SUBSCRIBERS = "subscribers", "subscribers: add, update and unsubscribe"
        IMPORTS = "imports", "imports: run import wizards and read their runs"

    name = models.CharField(max_length=80, unique=True)
    secret_sha256 = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=16)
    scopes = models.JSONField(default=list)
    rate_per_minute = models.PositiveIntegerField(default=DEFAULT_RATE_PER_MINUTE)
    created_at = models.DateTimeField()
    created_by = models.CharField(max_length=150)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"API token {self.name}"

    @property
    def actor(self) -> str:
        """Who the audit log says made a change through the API with this token."""
        return f"API token {self.name}"


class RateWindow(models.Model):
    """Calls made with a token in one minute (a fixed window), counted in the database so that every process
    serving the API shares the count."""

    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="+")
    minute = models.DateTimeField()
    calls = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["token", "minute"], name="api_rate_window_once")]

    def __str__(self) -> str:
        return f"{self.token_id} at {self.minute:%H:%M}: {self.calls}"
