"""Reading the SFDX source in the package's `sfdx/` folder (`src/cmsf/sfdx`): what cmsf needs in an org.

The source is the single description of cmsf's objects and fields; the schema check compares an org
with it, and the Salesforce emulator builds its schema from the same files (with a reader of its own).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

NS = {"md": "http://soap.sforce.com/2006/04/metadata"}


def default_source_dir() -> Path:
    """The `sfdx/` folder of the cmsf package: it ships in the wheel, so an installed cmsf reads it too."""
    return Path(__file__).resolve().parents[1] / "sfdx"


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str
    type: str
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    external_id: bool = False
    unique: bool = False
    case_sensitive: bool = False
    required: bool = False
    reference_to: str | None = None
    relationship_name: str | None = None
    picklist_values: tuple[str, ...] = ()


@dataclass
class ObjectSpec:
    name: str
    custom: bool
    label: str = ""
    name_field_type: str = ""
    fields: dict[str, FieldSpec] = field(default_factory=dict)

    @property
    def external_ids(self) -> list[str]:
        return [f.name for f in self.fields.values() if f.external_id]


@dataclass
class PermissionSetSpec:
    name: str
    label: str
    objects: dict[str, set[str]]  # object -> the permissions it grants: read, create, edit, delete
    readable_fields: set[str]  # "Object.Field"
    editable_fields: set[str]


def _text(element: ET.Element, tag: str) -> str | None:
    found = element.find(f"md:{tag}", NS)
    return found.text if found is not None and found.text is not None else None


def _flag(element: ET.Element, tag: str) -> bool:
    return _text(element, tag) == "true"


def _int(element: ET.Element, tag: str) -> int | None:
    value = _text(element, tag)
    return int(value) if value is not None else None


def read_field(path: Path) -> FieldSpec:
    root = ET.parse(path).getroot()
    name = _text(root, "fullName") or path.name.removesuffix(".field-meta.xml")
    values = tuple(v.text or "" for v in root.findall("md:valueSet/md:valueSetDefinition/md:value/md:fullName", NS))
    return FieldSpec(
        name=name,
        label=_text(root, "label") or name,
        type=_text(root, "type") or "",
        length=_int(root, "length"),
        precision=_int(root, "precision"),
        scale=_int(root, "scale"),
        external_id=_flag(root, "externalId"),
        unique=_flag(root, "unique"),
        case_sensitive=_flag(root, "caseSensitive"),
        required=_flag(root, "required"),
        reference_to=_text(root, "referenceTo"),
        relationship_name=_text(root, "relationshipName"),
        picklist_values=values,
    )


# Salesforce keeps the custom fields of activities on Activity (`objects/Activity/fields/` in the source) and shows
# them on Task and Event; a permission set grants them as Task.Field and Event.Field. cmsf writes Tasks only, so the
# source's Activity fields are read as the Task's: the schema check describes Task, the emulator puts them on Task.
ACTIVITY = "Activity"
ACTIVITY_FIELDS_ON = "Task"
ACTIVITY_OBJECTS = ("Event", "Task")


def read_objects(source_dir: Path | None = None) -> dict[str, ObjectSpec]:
    """Every object of the source with the fields the source defines on it (custom objects and
    the custom fields cmsf adds to standard objects; Activity's as Task's)."""
    base = (source_dir or default_source_dir()) / "force-app" / "main" / "default" / "objects"
    objects: dict[str, ObjectSpec] = {}
    for folder in sorted(p for p in base.iterdir() if p.is_dir()):
        # Activity's fields are the Task's (and the Event's, which cmsf does not write or check)
        name = ACTIVITY_FIELDS_ON if folder.name == ACTIVITY else folder.name
        spec = ObjectSpec(name=name, custom=name.endswith("__c"))
        meta = folder / f"{folder.name}.object-meta.xml"
        if meta.exists():
            root = ET.parse(meta).getroot()
            spec.label = _text(root, "label") or folder.name
            name_field = root.find("md:nameField", NS)
            spec.name_field_type = (_text(name_field, "type") or "") if name_field is not None else ""
        for field_file in sorted((folder / "fields").glob("*.field-meta.xml")):
            f = read_field(field_file)
            spec.fields[f.name] = f
        objects[spec.name] = spec
    return objects


def read_permission_sets(source_dir: Path | None = None) -> dict[str, PermissionSetSpec]:
    base = (source_dir or default_source_dir()) / "force-app" / "main" / "default" / "permissionsets"
    sets: dict[str, PermissionSetSpec] = {}
    for path in sorted(base.glob("*.permissionset-meta.xml")):
        root = ET.parse(path).getroot()
        name = path.name.removesuffix(".permissionset-meta.xml")
        objects: dict[str, set[str]] = {}
        for perm in root.findall("md:objectPermissions", NS):
            granted = {
                verb
                for verb, tag in (
                    ("read", "allowRead"),
                    ("create", "allowCreate"),
                    ("edit", "allowEdit"),
                    ("delete", "allowDelete"),
                )
                if _flag(perm, tag)
            }
            objects[_text(perm, "object") or ""] = granted
        readable, editable = set(), set()
        for perm in root.findall("md:fieldPermissions", NS):
            target = _text(perm, "field") or ""
            if _flag(perm, "readable"):
                readable.add(target)
            if _flag(perm, "editable"):
                editable.add(target)
        sets[name] = PermissionSetSpec(name, _text(root, "label") or name, objects, readable, editable)
    return sets


# The labels of the standard objects cmsf writes (their source folders hold fields only, no object file).
STANDARD_LABELS = {
    "Contact": ("Contact", "Contacts"),
    "Lead": ("Lead", "Leads"),
    "Campaign": ("Campaign", "Campaigns"),
    "CampaignMember": ("Campaign Member", "Campaign Members"),
    "Task": ("Task", "Tasks"),
}


def object_labels(source_dir: Path | None = None) -> dict[str, tuple[str, str]]:
    """Every object of the source by API name, with its label and plural label as a person reads them."""
    base = (source_dir or default_source_dir()) / "force-app" / "main" / "default" / "objects"
    labels = dict(STANDARD_LABELS)
    for meta in sorted(base.glob("*/*.object-meta.xml")):
        root = ET.parse(meta).getroot()
        label = _text(root, "label") or meta.parent.name
        labels[meta.parent.name] = (label, _text(root, "pluralLabel") or label)
    return labels
