"""Reads about the connections that several places share."""

from __future__ import annotations

from django.db import models

from cmsf.connections.models import CampaignMonitorAccount, SalesforceOrg
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
    """Decrypt every stored credential once; raises EncryptionKeyError with a clear message if the key is wrong."""
    for model in (CampaignMonitorAccount, SalesforceOrg):
        list(model.objects.all())
