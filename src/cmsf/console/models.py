from django.db import models


class ConsoleAccess(models.Model):
    """No table: it only carries the console's permissions, which the permission sets grant."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("view_console", "Can see status, maintenance messages and email history"),
            ("change_settings", "Can change settings, connections and run syncs"),
        ]

    def __str__(self) -> str:
        return "console access"


class EmbedLink(models.Model):
    """An email history link (`console.embed`): who made it, for which Salesforce domain, until when, and whether
    an admin revoked it. The token (signed, carrying this row's id) is kept nowhere."""

    created_by = models.CharField(max_length=150)
    salesforce_domain = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"email history link {self.pk}"
