from django.apps import AppConfig


class AudienceConfig(AppConfig):
    name = "cmsf.audience"
    label = "audience"
    verbose_name = "Salesforce to Campaign Monitor"

    def ready(self) -> None:
        from cmsf.audience import services
        from cmsf.connections.signals import client_configuration, client_left_out

        client_configuration.connect(services.wizards_of_client, dispatch_uid="cmsf.audience.wizards_of_client")
        client_left_out.connect(services.remove_wizards_of_client, dispatch_uid="cmsf.audience.remove_wizards")
