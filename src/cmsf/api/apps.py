from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "cmsf.api"
    label = "api"
    verbose_name = "HTTP API"
