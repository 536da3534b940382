"""Salesforce record ids: a three-character key prefix per object and an 18-character form with its checksum."""

from __future__ import annotations

import string

KEY_PREFIXES: dict[str, str] = {
    "Account": "001",
    "Contact": "003",
    "User": "005",
    "Lead": "00Q",
    "Organization": "00D",
    "Campaign": "701",
    "CampaignMember": "00v",
    "CampaignMemberStatus": "01Y",
    "Case": "500",
    "Task": "00T",
    "PermissionSet": "0PS",
    "PermissionSetAssignment": "0Pa",
}

_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_CHECKSUM = string.ascii_uppercase + "012345"


def checksum(id15: str) -> str:
    """The three characters that make a 15-character id case-insensitive (18 characters)."""
    suffix = ""
    for chunk in range(3):
        bits = 0
        for position, char in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << position
        suffix += _CHECKSUM[bits]
    return suffix


def make_id(prefix: str, sequence: int, pod: str = "RM") -> str:
    """The 18-character id of the `sequence`-th record with this key prefix (three characters)."""
    if len(prefix) != 3 or len(pod) != 2:
        raise ValueError("a key prefix has three characters and a pod two")
    digits = ""
    n = sequence
    for _ in range(9):
        n, remainder = divmod(n, 62)
        digits = _BASE62[remainder] + digits
    if n:
        raise ValueError(f"sequence {sequence} does not fit in nine base-62 digits")
    id15 = prefix + pod + "0" + digits
    return id15 + checksum(id15)


def to_18(record_id: str) -> str:
    """An id in its 18-character form; raises ValueError for anything that is not a 15 or 18 character id."""
    if len(record_id) == 18 and record_id[:15].isalnum() and checksum(record_id[:15]) == record_id[15:].upper():
        return record_id[:15] + record_id[15:].upper()
    if len(record_id) == 15 and record_id.isalnum():
        return record_id + checksum(record_id)
    raise ValueError(f"malformed id {record_id}")


def custom_prefix(index: int) -> str:
    """A stable key prefix for the index-th custom object ("a00", "a01", ...)."""
    return "a" + _BASE62[index // 62 % 62] + _BASE62[index % 62]
