from django.apps import AppConfig


class AudienceConfig(AppConfig):
    name = "cmsf.audience"
    label = "audience"
    verbose_name = "Salesforce to Campaign Monitor"
