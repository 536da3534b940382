"""Reads about the connections that several places share."""

from __future__ import annotations

from django.db import models

from cmsf.connections.models import CampaignMonitorAccount, PageLayoutBackup, SalesforceOrg
from cmsf.lib.crypto import EncryptedTextField


def has_stored_secrets() -> bool:
    """True when any credential is stored (encrypted); the check reads no secret."""
    for model in (CampaignMonitorAccount, SalesforceOrg):
        names = [f.name for f in model._meta.get_fields() if isinstance(f, EncryptedTextField)]
        query = models.Q()
        for name in names:
            query |= ~models.Q(**{name: ""})
        if model.objects.filter(query).exists():
            return True
    return False


def check_stored_secrets_readable() -> None:
    """Decrypt every stored credential once; raises EncryptionKeyError with a clear message if the key is wrong.

    Only the columns the database has are read, so that `cmsf upgrade` checks the key of a database made by an earlier
    version (whose tables lack a later field) before it migrates anything."""
    from django.db import connection

    for model in (CampaignMonitorAccount, SalesforceOrg):
        with connection.cursor() as cursor:
            columns = {
                column.name for column in connection.introspection.get_table_description(cursor, model._meta.db_table)
            }
        names = [
            field.name
            for field in model._meta.concrete_fields
            if isinstance(field, EncryptedTextField) and field.column in columns
        ]
        if names:
            list(model.objects.only(*names))


def not_connected_reason() -> str:
    """Why nothing can sync now: "" when Campaign Monitor and Salesforce are both connected, else which is not."""
    missing = [
        name
        for name, model in (("Campaign Monitor", CampaignMonitorAccount), ("Salesforce", SalesforceOrg))
        if not model.load().is_connected
    ]
    if not missing:
        return ""
    return f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not connected"


def page_layout_backups() -> dict[str, bytes]:
    """The kept copies of the org's own page layouts from before Apply page layouts: full name -> XML."""
    return {row.full_name: row.layout_xml.encode("utf-8") for row in PageLayoutBackup.objects.all()}
