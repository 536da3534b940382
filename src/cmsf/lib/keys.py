"""The two keys cmsf keeps: Django's signing key and the key that encrypts credentials at rest.

Each comes from the environment or from a file in the data folder. The signing key file is made on
first need; the encryption key file is made only by `cmsf init`, so that a lost key is reported
instead of silently replaced by a new one that cannot read the stored secrets.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet

SECRET_KEY_FILE = "secret.key"
ENCRYPTION_KEY_FILE = "encryption.key"


class EncryptionKeyError(Exception):
    """The encryption key is missing, malformed, or not the one the secrets were stored with."""


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text + "\n")


def signing_key(data_dir: Path, from_env: str) -> str:
    if from_env:
        return from_env
    path = data_dir / SECRET_KEY_FILE
    if not path.exists():
        try:
            _write_private(path, secrets.token_urlsafe(50))
        except FileExistsError:
            pass  # another process made it first
    return path.read_text().strip()


def _valid_fernet_key(key: str, source: str) -> str:
    try:
        Fernet(key.encode())
    except (ValueError, TypeError):
        raise EncryptionKeyError(
            f"The encryption key in {source} is not valid: it must be 32 bytes encoded as "
            "url-safe base64 (44 characters), as `cmsf init` writes it."
        ) from None
    return key


def load_encryption_key(from_env: str, key_file: Path) -> str:
    """The configured encryption key: CMSF_ENCRYPTION_KEY, else the key file. Raises when neither is there."""
    if from_env:
        return _valid_fernet_key(from_env, "CMSF_ENCRYPTION_KEY")
    if not key_file.exists():
        raise EncryptionKeyError(
            f"No encryption key: {key_file} does not exist and CMSF_ENCRYPTION_KEY is not set. "
            "Run `cmsf init` on a new installation, or restore the key the credentials were stored with."
        )
    return _valid_fernet_key(key_file.read_text().strip(), str(key_file))


def create_encryption_key_file(key_file: Path) -> None:
    _write_private(key_file, Fernet.generate_key().decode())
