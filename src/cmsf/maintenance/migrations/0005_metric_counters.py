import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("maintenance", "0004_grouped_messages"),
    ]

    operations = [
        migrations.CreateModel(
            name="MetricCounter",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=64)),
                ("labels", models.CharField(default="{}", max_length=512)),
                ("value", models.FloatField(default=0)),
                ("updated_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                "ordering": ["name", "labels"],
                "constraints": [models.UniqueConstraint(fields=("name", "labels"), name="one_metric_series")],
            },
        ),
    ]
