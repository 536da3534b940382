from django.apps import AppConfig


class OptionsConfig(AppConfig):
    name = "cmsf.options"
    label = "options"
    verbose_name = "Options"
