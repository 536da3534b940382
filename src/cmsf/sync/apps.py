from django.apps import AppConfig


class SyncConfig(AppConfig):
    name = "cmsf.sync"
    label = "sync"
    verbose_name = "Sync"

    def ready(self) -> None:
        from cmsf.connections.signals import salesforce_org_changed
        from cmsf.sync.services import forget_written_records

        salesforce_org_changed.connect(forget_written_records, dispatch_uid="cmsf.sync.forget_written_records")
