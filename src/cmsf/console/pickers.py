"""Salesforce field pickers: an object's fields from its describe, filtered by type, offered as the options of a
text field's datalist ("Department (Department)"), so a field is picked by label or API name rather than typed from
memory. A request reads each object's describe once, however many pickers and checks of the page read it: the
request keeps one Salesforce adapter, and the adapter keeps each object's fields (SalesforceAdapter.fields). A name
is still checked when it is saved (cmsf.audience.fields), so a field typed by hand, or one deleted in the org since,
is refused with a message that names it."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from django.http import HttpRequest

from cmsf.connections import services as connections
from cmsf.salesforce.adapter import SalesforceAdapter
from cmsf.salesforce.errors import SalesforceError

# Fields no picker offers: compound fields (their parts are offered) and binary content.
NEVER = frozenset({"address", "location", "base64"})
CHECKBOX = frozenset({"boolean"})
# What a field mapping or an import wizard's mapping can carry (either direction; the save checks the pair's types).
MAPPABLE = frozenset({"string", "textarea", "picklist", "multipicklist", "email", "phone", "url", "boolean", "double",
                      "int", "long", "currency", "percent", "date", "datetime", "id", "reference"})  # fmt: skip


@dataclass
class Picker:
    """A datalist of Salesforce fields: its element id, its options (API name, "Label (Name)") and, when the org
    could not be read, why (the field is then typed by hand and still checked when saved)."""

    id: str
    options: list[tuple[str, str]] = field(default_factory=list)
    problem: str = ""


def salesforce(request: HttpRequest) -> SalesforceAdapter:
    """The request's Salesforce adapter, made once: its describes serve every picker and check of the request."""
    adapter = getattr(request, "_cmsf_salesforce", None)
    if adapter is None:
        adapter = connections.salesforce()
        request._cmsf_salesforce = adapter  # type: ignore[attr-defined]
    return adapter


def picker(
    request: HttpRequest,
    element_id: str,
    sobjects: Collection[str],
    types: Collection[str] | None = None,
    *,
    prefix: dict[str, str] | None = None,
) -> Picker:
    """The fields of `sobjects` whose type is one of `types` (any type when None), by label. A field only some of
    the objects have says which ("Title (Title), Contact only"). `prefix` names the objects read through a
    relationship ({"Account": "Account."}: "Account.Industry")."""
    prefix = prefix or {}
    found = Picker(element_id)
    if getattr(request, "_cmsf_pickers_failed", False):
        return found  # the request's first picker said why; the org is not asked again
    try:
        sf = salesforce(request)
        holders: dict[str, list[str]] = {}
        labels: dict[str, str] = {}
        for sobject in sobjects:
            for described in sf.fields(sobject).values():
                kind = str(described.get("type"))
                if kind in NEVER or (types is not None and kind not in types):
                    continue
                name = prefix.get(sobject, "") + str(described["name"])
                holders.setdefault(name, []).append(sobject)
                label = str(described.get("label") or described["name"])
                through = f"{prefix[sobject].rstrip('.')}: " if sobject in prefix else ""
                labels[name] = f"{through}{label} ({name})"
    except (SalesforceError, connections.NotConnected) as error:
        found.problem = f"The list of Salesforce fields could not be read ({error}): type the field's API name."
        request._cmsf_pickers_failed = True  # type: ignore[attr-defined]
        return found
    plain = [s for s in sobjects if s not in prefix]
    for name in sorted(labels, key=lambda n: labels[n].lower()):
        label = labels[name]
        objects = [s for s in holders[name] if s in plain]
        if len(plain) > 1 and objects and len(objects) < len(plain):
            label += f", {' and '.join(objects)} only"
        found.options.append((name, label))
    return found
