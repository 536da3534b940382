"""Credentials are encrypted at rest, and a missing or wrong key is reported plainly."""

from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.db import connection

from cmsf.connections.models import CampaignMonitorAccount, SalesforceOrg
from cmsf.connections.selectors import check_stored_secrets_readable, has_stored_secrets
from cmsf.lib.keys import EncryptionKeyError, load_encryption_key

pytestmark = pytest.mark.django_db(transaction=True)

API_KEY = "cm-api-key-0123456789abcdef-SECRET"
REFRESH_TOKEN = "5Aep861-sf-refresh-token-SECRET"


def _store_credentials():
    account = CampaignMonitorAccount.load()
    account.auth_method = CampaignMonitorAccount.AuthMethod.API_KEY
    account.api_key = API_KEY
    account.save()
    org = SalesforceOrg.load()
    org.refresh_token = REFRESH_TOKEN
    org.save()


def test_credentials_read_back_in_clear_through_the_model():
    _store_credentials()
    assert CampaignMonitorAccount.load().api_key == API_KEY
    assert SalesforceOrg.load().refresh_token == REFRESH_TOKEN
    assert has_stored_secrets()


def test_the_raw_key_never_appears_in_the_database():
    _store_credentials()
    with connection.cursor() as cursor:
        cursor.execute("select api_key from connections_campaignmonitoraccount")
        stored = cursor.fetchone()[0]
    assert API_KEY not in stored and stored.startswith("gAAAA")  # a Fernet token
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        name = Path(connection.settings_dict["NAME"])
        files = [p for p in (name, Path(f"{name}-wal")) if p.exists()]
        raw = b"".join(p.read_bytes() for p in files)
        assert stored.encode() in raw  # the file really holds the column we looked for
        assert API_KEY.encode() not in raw and REFRESH_TOKEN.encode() not in raw


def test_nothing_stored_means_no_secrets():
    CampaignMonitorAccount.load()
    SalesforceOrg.load()
    assert not has_stored_secrets()


def test_a_different_key_is_reported_as_the_wrong_key(settings):
    _store_credentials()
    settings.CMSF_ENCRYPTION_KEY = Fernet.generate_key().decode()
    with pytest.raises(EncryptionKeyError, match="does not match the one the stored credentials"):
        check_stored_secrets_readable()


def test_a_malformed_key_is_reported_with_where_it_came_from():
    with pytest.raises(EncryptionKeyError, match="CMSF_ENCRYPTION_KEY is not valid"):
        load_encryption_key("not-a-key", Path("unused"))


def test_a_missing_key_says_how_to_get_one(tmp_path):
    with pytest.raises(EncryptionKeyError, match=r"No encryption key.*cmsf init"):
        load_encryption_key("", tmp_path / "encryption.key")
