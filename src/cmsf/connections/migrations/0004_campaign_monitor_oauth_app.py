import cmsf.lib.crypto
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('connections', '0003_webhook_secret'),
    ]

    operations = [
        migrations.AddField(
            model_name='campaignmonitoraccount',
            name='oauth_client_id',
            field=models.CharField(blank=True, max_length=64, verbose_name='OAuth client id'),
        ),
        migrations.AddField(
            model_name='campaignmonitoraccount',
            name='oauth_client_secret',
            field=cmsf.lib.crypto.EncryptedTextField(blank=True, default=''),
        ),
    ]
