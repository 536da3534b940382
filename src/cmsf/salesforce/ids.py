"""Salesforce record Ids: the 15-character (case-sensitive) and 18-character (case-insensitive) forms.

The Salesforce emulator (`cmsf_sandbox.salesforce.ids`) computes the same checksum on its own, on purpose: the
emulator stands for Salesforce, and a mistake here must not be agreed with by the org it is tested against."""

from __future__ import annotations

_CHECKSUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
CONTACT_PREFIX, LEAD_PREFIX = "003", "00Q"  # the key prefixes of Contact and Lead Ids, the same in every org
CAMPAIGN_PREFIX = "701"  # and of Campaign Ids


def checksum(id15: str) -> str:
    """The three characters that make a 15-character Id case-insensitive (18 characters)."""
    suffix = ""
    for chunk in range(3):
        bits = 0
        for position, char in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << position
        suffix += _CHECKSUM[bits]
    return suffix


def to_18(record_id: str) -> str:
    """The 18-character form of a 15- or 18-character Id (its last three characters computed from the case of the
    first fifteen); "" for anything that is not an Id."""
    head = record_id[:15]
    if len(record_id) not in (15, 18) or not head.isascii() or not head.isalnum():
        return ""
    return head + checksum(head)
