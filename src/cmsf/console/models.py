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
