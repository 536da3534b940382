from django.apps import AppConfig


class SyncConfig(AppConfig):
    name = "cmsf.sync"
    label = "sync"
    verbose_name = "Sync"
