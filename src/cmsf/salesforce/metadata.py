"""Page layouts through the Metadata API: the deploy zip built from the SFDX source, the deploy, the polling.

The SFDX source keeps layouts as `force-app/main/default/layouts/<Object>-<Layout Name>.layout-meta.xml`; a deploy
wants Metadata API format: `layouts/<Object>-<Layout Name>.layout` and a `package.xml` naming each one.

- Apply: every layout of the source: cmsf's own objects' layouts and the Contact and Lead layouts with cmsf's
  related lists (subscriptions, email activity).
- Remove: a `destructiveChanges.xml` deletes cmsf's own objects' layouts, and the Contact and Lead layouts are
  deployed again without cmsf's items (related lists of cmsf's objects, fields of cmsf's), derived from the source.

Before Apply, the org's own Contact and Lead layouts are read through the SOAP `readMetadata` call (as Metadata API
XML, `read_org_layouts`), so Remove can deploy them back as they were (`restore_plan`).

Deploys roll back on any error, run no tests, and ignore warnings (removing a layout the org no longer has is a
warning, not a failure).
"""

from __future__ import annotations

import io
import time
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cmsf.salesforce.adapter import SalesforceAdapter
from cmsf.salesforce.errors import TransientError
from cmsf.salesforce.sfdx import default_source_dir

MD_NS = "http://soap.sforce.com/2006/04/metadata"
NS = {"md": MD_NS}
CMSF_PREFIX = "CMSF_"  # cmsf's objects and the fields it adds to standard objects
SOURCE_SUFFIX = ".layout-meta.xml"
DONE = ("Succeeded", "SucceededPartial", "Failed", "Canceled")
DEPLOY_OPTIONS: dict[str, Any] = {
    "allowMissingFiles": False,
    "checkOnly": False,
    "ignoreWarnings": True,
    "performRetrieve": False,
    "purgeOnDelete": False,
    "rollbackOnError": True,
    "singlePackage": True,
}


# ------------------------------------------------------------------------------------------- source


def layouts_dir(source_dir: Path | None = None) -> Path:
    return (source_dir or default_source_dir()) / "force-app" / "main" / "default" / "layouts"


def read_layouts(source_dir: Path | None = None) -> dict[str, bytes]:
    """Every layout of the SFDX source: full name ("Contact-Contact Layout") -> its XML."""
    folder = layouts_dir(source_dir)
    return {
        path.name.removesuffix(SOURCE_SUFFIX): path.read_bytes() for path in sorted(folder.glob(f"*{SOURCE_SUFFIX}"))
    }


def layout_object(full_name: str) -> str:
    return full_name.partition("-")[0]


def is_cmsf_object(object_name: str) -> bool:
    return object_name.startswith(CMSF_PREFIX)


def _is_cmsf_item(name: str) -> bool:
    """A related list ("CMSF_Subscriber__c.Contact__c") or a field ("CMSF_Opens__c") that is cmsf's."""
    return name.strip().startswith(CMSF_PREFIX)


def strip_cmsf_items(layout_xml: bytes) -> bytes:
    """The layout without cmsf's related lists and fields (a section left empty of items keeps its columns)."""
    ET.register_namespace("", MD_NS)
    root = ET.fromstring(layout_xml)
    for related in root.findall("md:relatedLists", NS):
        if _is_cmsf_item(related.findtext("md:relatedList", "", NS)):
            root.remove(related)
    for column in root.iterfind("md:layoutSections/md:layoutColumns", NS):
        for item in column.findall("md:layoutItems", NS):
            if _is_cmsf_item(item.findtext("md:field", "", NS)):
                column.remove(item)
    ET.indent(root, space="    ")
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8", xml_declaration=False) + b"\n"
    )


def package_xml(members: dict[str, Iterable[str]], api_version: str) -> bytes:
    """A package manifest: type name -> member full names (an empty manifest for a destructive-only deploy)."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', f'<Package xmlns="{MD_NS}">']
    for type_name, names in sorted(members.items()):
        listed = sorted(names)
        if not listed:
            continue
        lines.append("    <types>")
        lines.extend(f"        <members>{_escape(name)}</members>" for name in listed)
        lines.append(f"        <name>{_escape(type_name)}</name>")
        lines.append("    </types>")
    lines.append(f"    <version>{_escape(api_version)}</version>")
    lines.append("</Package>")
    return ("\n".join(lines) + "\n").encode("utf-8")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@dataclass(frozen=True)
class DeployPlan:
    """What one deploy saves and deletes, and its zip."""

    saves: tuple[str, ...]
    deletes: tuple[str, ...]
    archive: bytes


def apply_plan(api_version: str, source_dir: Path | None = None) -> DeployPlan:
    layouts = read_layouts(source_dir)
    if not layouts:
        raise FileNotFoundError(f"no page layouts in {layouts_dir(source_dir)}")
    files = {f"layouts/{name}.layout": data for name, data in layouts.items()}
    files["package.xml"] = package_xml({"Layout": layouts}, api_version)
    return DeployPlan(tuple(sorted(layouts)), (), _zip(files))


def remove_plan(api_version: str, source_dir: Path | None = None) -> DeployPlan:
    layouts = read_layouts(source_dir)
    if not layouts:
        raise FileNotFoundError(f"no page layouts in {layouts_dir(source_dir)}")
    deletes = sorted(name for name in layouts if is_cmsf_object(layout_object(name)))
    saves = {name: strip_cmsf_items(data) for name, data in layouts.items() if name not in deletes}
    files = {f"layouts/{name}.layout": data for name, data in saves.items()}
    files["package.xml"] = package_xml({"Layout": saves}, api_version)
    files["destructiveChanges.xml"] = package_xml({"Layout": deletes}, api_version)
    return DeployPlan(tuple(sorted(saves)), tuple(deletes), _zip(files))


def standard_layout_names(source_dir: Path | None = None) -> list[str]:
    """The layouts of the source on the org's own objects (Contact, Lead): the ones Apply replaces."""
    return [name for name in read_layouts(source_dir) if not is_cmsf_object(layout_object(name))]


def restore_plan(api_version: str, originals: dict[str, bytes], source_dir: Path | None = None) -> DeployPlan:
    """Remove, putting back the org's own layouts as they were before Apply (`originals`: full name -> XML); a
    layout with no copy is deployed from the source without cmsf's items, as `remove_plan` does."""
    layouts = read_layouts(source_dir)
    if not layouts:
        raise FileNotFoundError(f"no page layouts in {layouts_dir(source_dir)}")
    deletes = sorted(name for name in layouts if is_cmsf_object(layout_object(name)))
    saves = {name: strip_cmsf_items(data) for name, data in layouts.items() if name not in deletes}
    saves.update(originals)
    files = {f"layouts/{name}.layout": data for name, data in saves.items()}
    files["package.xml"] = package_xml({"Layout": saves}, api_version)
    files["destructiveChanges.xml"] = package_xml({"Layout": deletes}, api_version)
    return DeployPlan(tuple(sorted(saves)), tuple(deletes), _zip(files))


# ------------------------------------------------------------------------------------------- read

READ_BATCH = 10  # readMetadata takes at most 10 full names a call
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"


def layout_from_record(record: ET.Element) -> bytes:
    """A `records` element of a readMetadata answer as a layout file: its elements but `fullName` under a `Layout`
    root, with a declaration and a 4-space indent."""
    ET.register_namespace("", MD_NS)
    root = ET.Element(f"{{{MD_NS}}}Layout")
    root.extend(child for child in record if child.tag != f"{{{MD_NS}}}fullName")
    ET.indent(root, space="    ")
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8", xml_declaration=False) + b"\n"
    )


def parse_read_layouts(body: bytes) -> dict[str, bytes]:
    """The layouts of a readMetadata response: full name -> layout XML (a name the org lacks is left out)."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as error:
        raise TransientError(f"Salesforce answered readMetadata with XML that does not parse: {error}",
                             operation="metadata read") from error  # fmt: skip
    result = root.find(f"{{{SOAP_NS}}}Body/md:readMetadataResponse/md:result", NS)
    if result is None:
        raise TransientError("Salesforce answered readMetadata without a result", operation="metadata read")
    found = {}
    for record in result.findall("md:records", NS):
        name = (record.findtext("md:fullName", "", NS) or "").strip()
        if name and record.get(XSI_NIL) != "true":
            found[name] = layout_from_record(record)
    return found


def read_org_layouts(adapter: SalesforceAdapter, names: Iterable[str]) -> dict[str, bytes]:
    """The org's layouts of these full names, as Metadata API XML (one readMetadata call per 10 names); a layout the
    org does not have is left out."""
    wanted = sorted(set(names))
    found: dict[str, bytes] = {}
    for start in range(0, len(wanted), READ_BATCH):
        batch = wanted[start : start + READ_BATCH]
        call = (
            "<readMetadata><type>Layout</type>"
            + "".join(f"<fullNames>{_escape(name)}</fullNames>" for name in batch)
            + "</readMetadata>"
        )
        answer = parse_read_layouts(adapter.metadata_soap(call, operation="metadata read"))
        found.update({name: data for name, data in answer.items() if name in batch})
    return found


# ------------------------------------------------------------------------------------------- deploy


@dataclass(frozen=True)
class ComponentFailure:
    component_type: str
    full_name: str
    file_name: str
    problem: str
    problem_type: str  # "Error" or "Warning"
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = self.full_name or self.file_name or "the deploy"
        at = f" (line {self.line}, column {self.column})" if self.line else ""
        return f"{where}: {self.problem}{at}"


@dataclass
class DeployOutcome:
    id: str
    status: str
    success: bool
    components_deployed: int
    components_total: int
    error_message: str = ""
    failures: list[ComponentFailure] = field(default_factory=list)  # problemType Error
    warnings: list[ComponentFailure] = field(default_factory=list)
    succeeded: list[str] = field(default_factory=list)  # full names saved or deleted

    @property
    def ok(self) -> bool:
        return self.success and self.status == "Succeeded"

    def summary(self) -> str:
        parts = [str(f) for f in self.failures] or ([self.error_message] if self.error_message else [])
        return "; ".join(parts) or f"the deploy ended {self.status}"


def _as_list(value: Any) -> list[dict[str, Any]]:
    """A DeployMessage list (one message may come as an object rather than a list of one)."""
    if value is None:
        return []
    if isinstance(value, dict):
        return [value]
    return [v for v in value if isinstance(v, dict)]


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def outcome_of(body: dict[str, Any]) -> DeployOutcome:
    result = body.get("deployResult") or {}
    details = result.get("details") or {}
    outcome = DeployOutcome(
        id=str(body.get("id") or result.get("id") or ""),
        status=str(result.get("status") or ""),
        success=_truthy(result.get("success")),
        components_deployed=_int(result.get("numberComponentsDeployed")),
        components_total=_int(result.get("numberComponentsTotal")),
        error_message=str(result.get("errorMessage") or ""),
    )
    for item in _as_list(details.get("componentFailures")):
        failure = ComponentFailure(
            component_type=str(item.get("componentType") or ""),
            full_name=str(item.get("fullName") or ""),
            file_name=str(item.get("fileName") or ""),
            problem=str(item.get("problem") or ""),
            problem_type=str(item.get("problemType") or "Error"),
            line=_int(item.get("lineNumber")) or None,
            column=_int(item.get("columnNumber")) or None,
        )
        (outcome.warnings if failure.problem_type == "Warning" else outcome.failures).append(failure)
    outcome.succeeded = [
        str(item.get("fullName"))
        for item in _as_list(details.get("componentSuccesses"))
        if item.get("componentType") and item.get("fullName")
    ]
    return outcome


def deploy(
    adapter: SalesforceAdapter,
    plan: DeployPlan,
    *,
    timeout: float = 600.0,
    poll_start: float = 0.5,
    poll_max: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> DeployOutcome:
    """Send the plan's zip and poll the deploy until it is done (doubling the wait up to `poll_max`)."""
    started = adapter.metadata_deploy(plan.archive, DEPLOY_OPTIONS)
    deploy_id = str(started.get("id") or "")
    if not deploy_id:
        raise TransientError("Salesforce accepted the deploy without naming it", operation="metadata deploy")
    deadline = time.monotonic() + timeout
    delay = poll_start
    while True:
        body = adapter.metadata_deploy_status(deploy_id)
        result = body.get("deployResult") or {}
        if _truthy(result.get("done")) or result.get("status") in DONE:
            return outcome_of(body)
        if time.monotonic() > deadline:
            raise TransientError(
                f"the deploy {deploy_id} was still {result.get('status')} after {int(timeout)} seconds; "
                "see Deployment Status in Salesforce Setup",
                operation="metadata deploy",
            )
        sleep(delay)
        delay = min(delay * 2, poll_max)
