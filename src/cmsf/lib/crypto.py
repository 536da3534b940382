"""Credentials encrypted at rest (Fernet), as a model field."""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.db import models

from cmsf.lib.keys import EncryptionKeyError, load_encryption_key


@lru_cache(maxsize=4)
def _fernet(from_env: str, key_file: str) -> Fernet:
    return Fernet(load_encryption_key(from_env, Path(key_file)).encode())


def fernet() -> Fernet:
    return _fernet(settings.CMSF_ENCRYPTION_KEY, str(settings.CMSF_ENCRYPTION_KEY_FILE))


@lru_cache(maxsize=8)
def _derived(from_env: str, key_file: str, purpose: str) -> bytes:
    key = load_encryption_key(from_env, Path(key_file))
    return hmac.new(key.encode(), f"cmsf:{purpose}".encode(), hashlib.sha256).digest()


def derived_key(purpose: str) -> bytes:
    """A key for `purpose` (such as keyed hashes), derived from the encryption key: stable, shared by every
    machine of the installation, and never the encryption key itself."""
    return _derived(settings.CMSF_ENCRYPTION_KEY, str(settings.CMSF_ENCRYPTION_KEY_FILE), purpose)


def encrypt(text: str) -> str:
    return fernet().encrypt(text.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise EncryptionKeyError(
            "The encryption key does not match the one the stored credentials were encrypted with. "
            "Restore the original key (CMSF_ENCRYPTION_KEY or the data folder's encryption.key), "
            "or reconnect the accounts to store their credentials again."
        ) from None


class EncryptedTextField(models.TextField):
    """A text column whose value is stored as a Fernet token; the empty string stays empty."""

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value in (None, ""):
            return value
        return encrypt(value)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value in (None, ""):
            return value
        return decrypt(value)


def seal(text: str) -> str:
    """Encrypt a secret to carry it through the browser between two steps of a form (it is dated)."""
    return encrypt(text)


def unseal(token: str, *, max_age_s: int) -> str | None:
    """The sealed secret, or None when it was tampered with or is older than `max_age_s`."""
    try:
        return fernet().decrypt(token.encode(), ttl=max_age_s).decode()
    except (InvalidToken, ValueError):
        return None
