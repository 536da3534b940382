from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "cmsf.billing"
    label = "billing"
    verbose_name = "Billing"
