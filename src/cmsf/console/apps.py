from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ConsoleConfig(AppConfig):
    name = "cmsf.console"
    label = "console"
    verbose_name = "Console"

    def ready(self) -> None:
        from cmsf.console.permission_sets import ensure_permission_sets_after_migrate

        post_migrate.connect(ensure_permission_sets_after_migrate, sender=self)
