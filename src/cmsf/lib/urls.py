"""The one check of the addresses cmsf calls out to (Salesforce's login host, Campaign Monitor's API): https, a host,
no credentials, no query; http only to this machine, where the sandbox's emulators listen."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _is_link_local(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return address.is_link_local or address.is_unspecified  # 169.254.169.254: a cloud's metadata service


def validate_service_url(value: str, *, example: str = "https://login.salesforce.com") -> None:
    """An https URL (a path is allowed, as in Campaign Monitor's /api/v3.3), or http to loopback for the sandbox.
    Raises ValidationError with one sentence that says what to enter."""
    if not value:
        return
    said = f"Enter an https URL, such as {example}"
    try:
        URLValidator(schemes=["http", "https"])(value)
        parts = urlsplit(value)
        host = parts.hostname or ""
        parts.port  # noqa: B018  # a port that is not a number, or out of range, raises ValueError
    except (ValidationError, ValueError):
        raise ValidationError(f"{said}.", code="invalid") from None
    if parts.username is not None or parts.password is not None:
        raise ValidationError(f"{said}, without a user name or password.", code="credentials")
    if parts.query or parts.fragment or value.endswith(("?", "#")):
        raise ValidationError(f"{said}, with no query or fragment.", code="query")
    if _is_link_local(host):
        raise ValidationError(f"{said}: {host} is a link-local address, not a service.", code="link_local")
    if parts.scheme != "https" and not is_loopback(host):
        raise ValidationError(f"{said}: https is required (http only to this machine, for the sandbox).", code="https")
