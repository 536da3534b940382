from django.db import migrations

from cmsf.options.models import CampaignStatusMapping


def create_defaults(apps, schema_editor):
    mapping = apps.get_model("options", "CampaignStatusMapping")
    for activity, (label, responded) in CampaignStatusMapping.DEFAULTS.items():
        mapping.objects.get_or_create(activity=activity, defaults={"status_label": label, "responded": responded})


class Migration(migrations.Migration):
    dependencies = [("options", "0001_initial")]
    operations = [migrations.RunPython(create_defaults, migrations.RunPython.noop)]
