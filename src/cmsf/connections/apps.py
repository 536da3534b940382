from django.apps import AppConfig


class ConnectionsConfig(AppConfig):
    name = "cmsf.connections"
    label = "connections"
    verbose_name = "Connections"
