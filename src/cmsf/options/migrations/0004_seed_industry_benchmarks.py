"""The industry benchmarks shipped with cmsf, read from options/data/industry_benchmarks.yaml (which names its
published source)."""

from decimal import Decimal
from importlib import resources

import yaml
from django.db import migrations


def load_rows():
    text = resources.files("cmsf.options.data").joinpath("industry_benchmarks.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)["industries"]


def seed(apps, schema_editor):
    benchmark = apps.get_model("options", "IndustryBenchmark")
    for row in load_rows():
        benchmark.objects.get_or_create(
            name=row["name"],
            defaults={
                "open_rate": Decimal(str(row["open_rate"])),
                "click_rate": Decimal(str(row["click_rate"])),
                "source": row["source"],
            },
        )


def unseed(apps, schema_editor):
    benchmark = apps.get_model("options", "IndustryBenchmark")
    benchmark.objects.filter(name__in=[row["name"] for row in load_rows()]).delete()


class Migration(migrations.Migration):
    dependencies = [("options", "0003_campaign_settings_benchmarks")]
    operations = [migrations.RunPython(seed, unseed)]
