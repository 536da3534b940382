from django.apps import AppConfig


class MaintenanceConfig(AppConfig):
    name = "cmsf.maintenance"
    label = "maintenance"
    verbose_name = "Maintenance"
