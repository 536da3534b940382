"""Metadata API deploys through REST, for page layouts.

- `POST metadata/deployRequest`: a multipart/form-data body with a `json` part (`{"deployOptions": {...}}`) and a
  `file` part (a zip holding `package.xml` and the components in Metadata API format, `layouts/<Object>-<Name>.layout`,
  optionally `destructiveChanges.xml`, all at the root or under one folder). Answers 201 with `id`,
  `deployOptions` and a `deployResult` whose status is `Pending`.
- `GET metadata/deployRequest/{id}[?includeDetails=true]`: the deploy runs asynchronously: the first status check
  finds it `InProgress`, a later one finds it done (`Succeeded`, `SucceededPartial` or `Failed`), with
  `details.componentSuccesses` and `details.componentFailures` (DeployMessage: `changed, columnNumber,
  componentType, created, createdDate, deleted, fileName, fullName, id, lineNumber, problem, problemType,
  success`) when details are asked for.

Only the Layout type is deployed. A layout is checked as the org would: well-formed XML with a `Layout` root, an
object the org has, fields of that object in its sections, and related lists that name a relationship to it
(`<ChildObject>.<LookupField>`, or a standard `Related...List`) with columns of the child object. Deployed
layouts are kept in `MetadataDeploys.layouts` (full name -> XML), which the admin API shows. `rollbackOnError`
(default true) keeps a deploy with an error from changing anything; `checkOnly` validates only; a destructive
change naming a layout the org does not have is a Warning, which fails the deploy unless `ignoreWarnings`.

The org starts with its standard layouts, `Contact-Contact Layout` and `Lead-Lead Layout`.

- SOAP `POST /services/Soap/m/{version}`: `readMetadata(type, fullNames[])` of `Layout` (at most 10 names), the
  session in the `SessionHeader`. Answers `readMetadataResponse/result/records` (`xsi:type="Layout"`): per name
  found, its `fullName` and the layout's elements; a name the org does not have gives an empty `records`.
  Failures are SOAP faults (HTTP 500, `sf:INVALID_SESSION_ID`, `sf:INVALID_TYPE`, `sf:REQUEST_LIMIT_EXCEEDED`, ...).
"""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cmsf_sandbox.salesforce.errors import ApiError, not_found
from cmsf_sandbox.salesforce.http import Reply, Request
from cmsf_sandbox.salesforce.ids import make_id
from cmsf_sandbox.salesforce.values import format_datetime

if TYPE_CHECKING:
    from cmsf_sandbox.salesforce.schema import SObject
    from cmsf_sandbox.salesforce.state import Emulator

NS = "{http://soap.sforce.com/2006/04/metadata}"
DEPLOY_PREFIX = "0Af"
LAYOUT_PREFIX = "00h"
MAX_DEPLOYS = 200
MAX_ZIP_BYTES = 39 * 1024 * 1024
STANDARD_RELATED_LIST = re.compile(r"^Related[A-Za-z]+List$")
DESTRUCTIVE = ("destructiveChangesPre.xml", "destructiveChanges.xml", "destructiveChangesPost.xml")
OPTION_DEFAULTS: dict[str, Any] = {
    "allowMissingFiles": False,
    "autoUpdatePackage": False,
    "checkOnly": False,
    "ignoreWarnings": False,
    "performRetrieve": False,
    "purgeOnDelete": False,
    "rollbackOnError": True,
    "runTests": [],
    "singlePackage": False,
    "testLevel": None,
}
TEST_LEVELS = (None, "NoTestRun", "RunSpecifiedTests", "RunLocalTests", "RunAllTestsInOrg", "RunRelevantTests")


@dataclass
class Problem:
    file_name: str
    full_name: str
    problem: str
    problem_type: str = "Error"  # or "Warning"
    component_type: str = "Layout"
    line: int | None = None
    column: int | None = None


@dataclass
class Deploy:
    id: str
    options: dict[str, Any]
    archive: bytes
    created_by: str
    created_by_name: str
    created_date: str
    polls: int = 0
    start_date: str | None = None
    result: dict[str, Any] | None = None  # the final deployResult, without details
    successes: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)


class MetadataDeploys:
    """The deploys of one emulated org and the layouts they recorded."""

    def __init__(self, em: Emulator, polls_in_progress: int = 1) -> None:
        self.em = em
        self.polls_in_progress = polls_in_progress  # status checks that find a deploy still InProgress
        self.deploys: OrderedDict[str, Deploy] = OrderedDict()
        # full name ("Contact-Contact Layout") -> the layout's XML
        self.layouts: dict[str, str] = standard_layouts()
        self.layout_ids: dict[str, str] = {}
        self._seq = 0
        self._layout_seq = 0

    def layout_id(self, full_name: str) -> str:
        if full_name not in self.layout_ids:
            self._layout_seq += 1
            self.layout_ids[full_name] = make_id(LAYOUT_PREFIX, self._layout_seq)
        return self.layout_ids[full_name]

    def create(self, options: dict[str, Any], archive: bytes, user_id: str) -> Deploy:
        self._seq += 1
        user = self.em.store.lookup("User", user_id) or {}
        name = " ".join(p for p in (user.get("FirstName"), user.get("LastName")) if p)
        deploy = Deploy(
            id=make_id(DEPLOY_PREFIX, self._seq),
            options=options,
            archive=archive,
            created_by=user_id[:15],
            created_by_name=name,
            created_date=format_datetime(self.em.now()),
        )
        self.deploys[deploy.id] = deploy
        while len(self.deploys) > MAX_DEPLOYS:
            self.deploys.popitem(last=False)
        return deploy

    def check(self, deploy: Deploy) -> None:
        """One status check: InProgress for the first `polls_in_progress` checks, then the deploy runs (once)."""
        deploy.polls += 1
        if deploy.start_date is None:
            deploy.start_date = format_datetime(self.em.now())
        if deploy.result is None and deploy.polls > self.polls_in_progress:
            Runner(self, deploy).run()


# ------------------------------------------------------------------------------------------ running


def _bool_option(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() == "true"


def _xml(data: bytes, file_name: str) -> tuple[ET.Element | None, Problem | None]:
    try:
        return ET.fromstring(data), None
    except ET.ParseError as error:
        line, column = error.position
        return None, Problem(file_name, "", f"Error parsing file: {error}", line=line, column=column)


def _members(root: ET.Element) -> dict[str, list[str]]:
    """A package manifest's members by type name."""
    found: dict[str, list[str]] = {}
    for types in root.findall(f"{NS}types"):
        name = (types.findtext(f"{NS}name") or "").strip()
        found.setdefault(name, []).extend((m.text or "").strip() for m in types.findall(f"{NS}members"))
    return found


class Runner:
    """Runs one deploy against the org: reads the zip, checks each component, applies or rolls back."""

    def __init__(self, owner: MetadataDeploys, deploy: Deploy) -> None:
        self.owner = owner
        self.em = owner.em
        self.deploy = deploy
        self.options = deploy.options
        self.now = format_datetime(self.em.now())
        self.problems: list[Problem] = []
        self.saves: dict[str, tuple[str, str]] = {}  # full name -> (file name, XML)
        self.deletes: dict[str, str] = {}  # full name -> the destructive manifest's file name
        self.prefix = ""

    def run(self) -> None:
        try:
            files = self._read_zip()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError) as error:
            self.problems.append(
                Problem("", "", f"The deploy file is not a readable zip file: {error}", component_type="")
            )
            files = None
        if files is not None:
            self._check(files)
        self._finish()

    def _read_zip(self) -> dict[str, bytes]:
        with zipfile.ZipFile(io.BytesIO(self.deploy.archive)) as archive:
            return {info.filename: archive.read(info) for info in archive.infolist() if not info.is_dir()}

    def _check(self, files: dict[str, bytes]) -> None:
        manifests = sorted((name for name in files if name.rsplit("/", 1)[-1] == "package.xml"), key=len)
        depth = 0 if _bool_option(self.options.get("singlePackage"), False) else 1  # package.xml at most 1 folder down
        if not manifests or manifests[0].count("/") > depth:
            self.problems.append(Problem("package.xml", "package.xml", "No package.xml found", component_type=""))
            return
        manifest = manifests[0]
        self.prefix = manifest[: -len("package.xml")]
        root, problem = _xml(files[manifest], manifest)
        if root is None or problem is not None:
            self.problems.append(problem or Problem(manifest, "package.xml", "Error parsing file", component_type=""))
            return
        members = _members(root)
        for type_name, names in members.items():
            if type_name != "Layout":
                for member in names:
                    self.problems.append(_unsupported(manifest, member, type_name))
        allow_missing = _bool_option(self.options.get("allowMissingFiles"), False)
        named = set()
        for member in members.get("Layout", []):
            file_name = f"{self.prefix}layouts/{member}.layout"
            named.add(file_name)
            data = files.get(file_name)
            if data is None:
                if not allow_missing:
                    self.problems.append(
                        Problem(
                            manifest,
                            member,
                            f"An object '{member}' of type Layout was named in package.xml, but was not found in zipped directory",
                        )
                    )
                continue
            if self._layout_ok(member, file_name, data):
                self.saves[member] = (file_name, data.decode("utf-8", "replace"))
        for name in sorted(files):
            if name.startswith(f"{self.prefix}layouts/") and name not in named:
                member = name[len(f"{self.prefix}layouts/") :].removesuffix(".layout")
                self.problems.append(
                    Problem(
                        name,
                        member,
                        f"An object '{member}' of type Layout was found in the zip but is not specified in package.xml",
                        "Warning",
                    )
                )
        for destructive in DESTRUCTIVE:
            data = files.get(self.prefix + destructive)
            if data is None:
                continue
            droot, problem = _xml(data, self.prefix + destructive)
            if droot is None or problem is not None:
                self.problems.append(
                    problem or Problem(destructive, destructive, "Error parsing file", component_type="")
                )
                continue
            for type_name, names in _members(droot).items():
                for member in names:
                    if type_name != "Layout":
                        self.problems.append(_unsupported(self.prefix + destructive, member, type_name))
                    elif member not in self.owner.layouts and member not in self.saves:
                        self.problems.append(
                            Problem(self.prefix + destructive, member, f"No Layout named: {member} found", "Warning")
                        )
                    else:
                        self.deletes[member] = self.prefix + destructive

    # -------------------------------------------------------------------------------------- layouts

    def _layout_ok(self, member: str, file_name: str, data: bytes) -> bool:
        before = len(self.problems)
        root, problem = _xml(data, file_name)
        if root is None or problem is not None:
            self.problems.append(problem or Problem(file_name, member, "Error parsing file"))
            self.problems[-1].full_name = member
            return False
        if root.tag != f"{NS}Layout":
            found = root.tag.removeprefix(NS)
            self.problems.append(
                Problem(file_name, member, f"The root element of a Layout must be Layout, not {found}")
            )
            return False
        object_name, dash, layout_name = member.partition("-")
        obj = self.em.schema.get(object_name)
        if not dash or not layout_name:
            self.problems.append(Problem(file_name, member, "A layout's full name is <Object>-<Layout Name>"))
            return False
        if obj is None or obj.name != object_name:
            self.problems.append(Problem(file_name, member, f"Cannot find the object {object_name} for this layout"))
            return False
        for item in root.iter(f"{NS}layoutItems"):
            name = (item.findtext(f"{NS}field") or "").strip()
            if name and not _has_field(obj, name):
                self.problems.append(Problem(file_name, member, f"Invalid field:{name} in layout {member}"))
            behavior = (item.findtext(f"{NS}behavior") or "Edit").strip()
            if behavior not in ("Edit", "Required", "Readonly"):
                self.problems.append(Problem(file_name, member, f"Invalid behavior:{behavior} for field {name}"))
        for related in root.findall(f"{NS}relatedLists"):
            self._related_ok(obj, member, file_name, related)
        return len(self.problems) == before

    def _related_ok(self, obj: SObject, member: str, file_name: str, related: ET.Element) -> None:
        name = (related.findtext(f"{NS}relatedList") or "").strip()
        columns = [(c.text or "").strip() for c in related.findall(f"{NS}fields")]
        if STANDARD_RELATED_LIST.match(name):
            return
        child_name, dot, lookup = name.partition(".")
        child = self.em.schema.get(child_name) if dot else None
        reference = child.field(lookup) if child is not None else None
        related_to_obj = reference is not None and reference.type == "reference" and obj.name in reference.reference_to
        if child is None or reference is None or not related_to_obj:
            self.problems.append(Problem(file_name, member, f"Cannot find related list:{name} of {obj.name}"))
            return
        sort = (related.findtext(f"{NS}sortField") or "").strip()
        for column in [*columns, *([sort] if sort else [])]:
            if column.upper() != "NAME" and child.field(column) is None:
                self.problems.append(Problem(file_name, member, f"Invalid field:{column} in related list:{name}"))

    # ------------------------------------------------------------------------------------- outcome

    def _finish(self) -> None:
        deploy, owner = self.deploy, self.owner
        ignore_warnings = _bool_option(self.options.get("ignoreWarnings"), False)
        rollback = _bool_option(self.options.get("rollbackOnError"), True)
        check_only = _bool_option(self.options.get("checkOnly"), False)
        errors = [p for p in self.problems if p.problem_type == "Error" or not ignore_warnings]
        failed_names = {p.full_name for p in errors}
        apply = not check_only and not (errors and rollback)
        deployed = 0
        for member, (file_name, xml) in self.saves.items():
            if member in failed_names:
                continue
            created = member not in owner.layouts
            if apply:
                owner.layouts[member] = xml
                deployed += 1
            deploy.successes.append(self._message(member, file_name, "Layout", created=created, changed=True))
        for member, file_name in self.deletes.items():
            if member in failed_names:
                continue
            if apply:
                owner.layouts.pop(member, None)
                deployed += 1
            deploy.successes.append(self._message(member, file_name, "Layout", deleted=True, changed=True))
        if check_only and not errors:
            deployed = len(deploy.successes)
        if deploy.successes or not errors:
            deploy.successes.append(self._message("package.xml", f"{self.prefix}package.xml", ""))
        deploy.failures = [self._failure(p) for p in self.problems]
        components = {*self.saves, *self.deletes, *(p.full_name for p in self.problems if p.component_type == "Layout")}
        if not errors:
            status = "Succeeded"
        elif rollback or not deployed:
            status = "Failed"
        else:
            status = "SucceededPartial"
        deploy.result = {
            "status": status,
            "success": status != "Failed",
            "numberComponentsDeployed": deployed if status != "Failed" else 0,
            "numberComponentsTotal": len(components),
            "numberComponentErrors": len(errors),
            "completedDate": self.now,
            "lastModifiedDate": self.now,
        }

    def _message(self, member: str, file_name: str, component_type: str, **flags: bool) -> dict[str, Any]:
        is_layout = component_type == "Layout"
        return {
            "changed": flags.get("changed", False),
            "columnNumber": None,
            "componentType": component_type,
            "created": flags.get("created", False),
            "createdDate": self.now,
            "deleted": flags.get("deleted", False),
            "fileName": file_name,
            "fullName": member,
            "id": self.owner.layout_id(member) if is_layout else None,
            "knownPackagingProblem": False,
            "lineNumber": None,
            "problem": None,
            "problemType": None,
            "requiresProductionTestRun": False,
            "success": True,
            "warning": False,
            "forPackageManifestFile": not is_layout,
        }

    def _failure(self, problem: Problem) -> dict[str, Any]:
        return {
            "changed": False,
            "columnNumber": problem.column,
            "componentType": problem.component_type,
            "created": False,
            "createdDate": self.now,
            "deleted": False,
            "fileName": problem.file_name,
            "fullName": problem.full_name,
            "id": None,
            "knownPackagingProblem": False,
            "lineNumber": problem.line,
            "problem": problem.problem,
            "problemType": problem.problem_type,
            "requiresProductionTestRun": False,
            "success": False,
            "warning": problem.problem_type == "Warning",
            "forPackageManifestFile": False,
        }


def _unsupported(file_name: str, member: str, type_name: str) -> Problem:
    return Problem(file_name, member, f"Unsupported type {type_name}: this org deploys Layout only", "Error", type_name)


def _has_field(obj: SObject, name: str) -> bool:
    """A field of the object; compound address fields ("MailingAddress", Lead's "Address") stand for their parts."""
    if obj.field(name) is not None:
        return True
    return name.endswith("Address") and obj.field(name.removesuffix("Address") + "Street") is not None


# ------------------------------------------------------------------------------------ standard layouts

_STANDARD_SECTIONS: dict[str, list[tuple[str, list[list[tuple[str, str]]]]]] = {
    "Contact": [
        (
            "Contact Information",
            [
                [("Edit", "OwnerId"), ("Required", "Name"), ("Edit", "AccountId"), ("Edit", "Title")],
                [("Edit", "Phone"), ("Edit", "MobilePhone"), ("Edit", "Email"), ("Edit", "HasOptedOutOfEmail")],
            ],
        ),
        ("Address Information", [[("Edit", "MailingAddress")], [("Edit", "OtherAddress")]]),
        ("System Information", [[("Readonly", "CreatedById")], [("Readonly", "LastModifiedById")]]),
    ],
    "Lead": [
        (
            "Lead Information",
            [
                [("Edit", "OwnerId"), ("Required", "Name"), ("Required", "Company"), ("Edit", "Title")],
                [("Edit", "Phone"), ("Edit", "Email"), ("Required", "Status"), ("Edit", "HasOptedOutOfEmail")],
            ],
        ),
        ("Address Information", [[("Edit", "Address")]]),
        ("System Information", [[("Readonly", "CreatedById")], [("Readonly", "LastModifiedById")]]),
    ],
}
_STANDARD_RELATED = {
    "Contact": ["RelatedActivityList", "RelatedHistoryList", "RelatedNoteList"],
    "Lead": ["RelatedActivityList", "RelatedHistoryList", "RelatedNoteList"],
}


def layout_text(root: ET.Element) -> str:
    """A layout's XML as the org keeps it: declaration, 4-space indent, the metadata namespace as default."""
    ET.register_namespace("", NS[1:-1])
    ET.indent(root, space="    ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def standard_layouts() -> dict[str, str]:
    """The layouts a new org has for Contact and Lead."""
    layouts = {}
    for object_name, sections in _STANDARD_SECTIONS.items():
        root = ET.Element(f"{NS}Layout")
        for label, columns in sections:
            section = ET.SubElement(root, f"{NS}layoutSections")
            for tag, text in (("customLabel", "false"), ("detailHeading", "true"), ("editHeading", "true")):
                ET.SubElement(section, f"{NS}{tag}").text = text
            ET.SubElement(section, f"{NS}label").text = label
            for items in columns:
                column = ET.SubElement(section, f"{NS}layoutColumns")
                for behavior, name in items:
                    item = ET.SubElement(column, f"{NS}layoutItems")
                    ET.SubElement(item, f"{NS}behavior").text = behavior
                    ET.SubElement(item, f"{NS}field").text = name
            ET.SubElement(section, f"{NS}style").text = "TwoColumnsTopToBottom" if len(columns) > 1 else "OneColumn"
        for name in _STANDARD_RELATED[object_name]:
            related = ET.SubElement(root, f"{NS}relatedLists")
            ET.SubElement(related, f"{NS}relatedList").text = name
        ET.SubElement(root, f"{NS}showEmailCheckbox").text = "false"
        ET.SubElement(root, f"{NS}showHighlightsPanel").text = "true"
        layouts[f"{object_name}-{object_name} Layout"] = layout_text(root)
    return layouts


# -------------------------------------------------------------------------------------- readMetadata

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
SOAP_XML = "text/xml; charset=utf-8"
MAX_READ_NAMES = 10


class SoapFault(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def soap_fault(code: str, message: str) -> Reply:
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{SOAP_NS}" '
        'xmlns:sf="http://soap.sforce.com/2006/04/metadata"><soapenv:Body><soapenv:Fault>'
        f"<faultcode>sf:{_text(code)}</faultcode><faultstring>{_text(code)}: {_text(message)}</faultstring>"
        "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )
    return Reply(500, raw=body.encode("utf-8"), content_type=SOAP_XML)


def _text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def soap_session_id(body: bytes) -> str:
    """The `SessionHeader/sessionId` of a SOAP envelope ("" when there is none)."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return ""
    return (root.findtext(f"{{{SOAP_NS}}}Header/{NS}SessionHeader/{NS}sessionId") or "").strip()


def read_metadata(em: Emulator, body: bytes) -> Reply:
    """The `readMetadata` call of the SOAP Metadata API, for Layout."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as error:
        raise SoapFault("INVALID_XML", f"The request is not well-formed XML: {error}") from None
    call = root.find(f"{{{SOAP_NS}}}Body/{NS}readMetadata")
    if call is None:
        raise SoapFault("INVALID_OPERATION", "This endpoint answers readMetadata only")
    type_name = (call.findtext(f"{NS}type") or "").strip()
    names = [(e.text or "").strip() for e in call.findall(f"{NS}fullNames")]
    if type_name != "Layout":
        raise SoapFault("INVALID_TYPE", f"Cannot read metadata of type {type_name or '(none)'}: this org reads Layout")
    if not names or len(names) > MAX_READ_NAMES:
        raise SoapFault("INVALID_OPERATION", f"readMetadata takes 1 to {MAX_READ_NAMES} full names")
    ET.register_namespace("soapenv", SOAP_NS)
    ET.register_namespace("xsi", XSI_NS)
    envelope = ET.Element(f"{{{SOAP_NS}}}Envelope")
    result = ET.SubElement(
        ET.SubElement(ET.SubElement(envelope, f"{{{SOAP_NS}}}Body"), f"{NS}readMetadataResponse"), f"{NS}result"
    )
    for name in names:
        records = ET.SubElement(result, f"{NS}records", {f"{{{XSI_NS}}}type": "Layout"})
        stored = em.metadata.layouts.get(name)
        if stored is None:
            continue
        ET.SubElement(records, f"{NS}fullName").text = name
        records.extend(list(ET.fromstring(stored)))
    ET.register_namespace("", NS[1:-1])
    text = b'<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(envelope, encoding="utf-8", xml_declaration=False)
    return Reply(200, raw=text, content_type=SOAP_XML)


# ---------------------------------------------------------------------------------------- multipart


def _boundary(content_type: str) -> bytes:
    kind, _, params = content_type.partition(";")
    if kind.strip().lower() != "multipart/form-data":
        raise ApiError(415, "UNSUPPORTED_MEDIA_TYPE", "The deploy request must be multipart/form-data")
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.strip().lower() == "boundary" and value.strip().strip('"'):
            return value.strip().strip('"').encode("latin-1")
    raise ApiError(400, "INVALID_MULTIPART_REQUEST", "The multipart/form-data content type has no boundary")


def parse_multipart(content_type: str, body: bytes) -> dict[str, tuple[dict[str, str], bytes]]:
    """The parts of a multipart/form-data body by name: (lower-case headers, content)."""
    delimiter = b"--" + _boundary(content_type)
    parts: dict[str, tuple[dict[str, str], bytes]] = {}
    chunks = body.split(delimiter)
    if len(chunks) < 3 or not chunks[-1].startswith(b"--"):
        raise ApiError(400, "INVALID_MULTIPART_REQUEST", "The multipart body is not terminated by its boundary")
    for chunk in chunks[1:-1]:
        chunk = chunk.removeprefix(b"\r\n")
        head, separator, content = chunk.partition(b"\r\n\r\n")
        if not separator:
            raise ApiError(400, "INVALID_MULTIPART_REQUEST", "A part of the multipart body has no headers")
        content = content.removesuffix(b"\r\n")
        headers: dict[str, str] = {}
        for line in head.decode("latin-1").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        found = re.search(r'(?:^|;)\s*name="([^"]*)"', headers.get("content-disposition", ""))
        if found:
            parts[found.group(1)] = (headers, content)
    return parts


def _options(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw) if raw.strip() else {}
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ApiError(400, "JSON_PARSER_ERROR", f"The json part is not JSON: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("deployOptions", {}), dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "The json part must be an object with deployOptions")
    given = data.get("deployOptions") or {}
    unknown = sorted(set(given) - set(OPTION_DEFAULTS))
    if unknown:
        raise ApiError(400, "JSON_PARSER_ERROR", f"Unrecognized field in deployOptions: {unknown[0]}")
    options = {**OPTION_DEFAULTS, **{k: v for k, v in given.items() if v is not None}}
    for key, default in OPTION_DEFAULTS.items():
        if isinstance(default, bool):
            options[key] = _bool_option(options[key], default)
    if options["testLevel"] not in TEST_LEVELS:
        raise ApiError(400, "INVALID_TEST_LEVEL", f"Invalid testLevel: {options['testLevel']}")
    return options


# ------------------------------------------------------------------------------------------ replies


def _result(deploy: Deploy, include_details: bool) -> dict[str, Any]:
    options = deploy.options
    base: dict[str, Any] = {
        "id": deploy.id,
        "canceledBy": None,
        "canceledByName": None,
        "checkOnly": options["checkOnly"],
        "completedDate": None,
        "createdBy": deploy.created_by,
        "createdByName": deploy.created_by_name,
        "createdDate": deploy.created_date,
        "details": None,
        "done": False,
        "errorMessage": None,
        "errorStatusCode": None,
        "ignoreWarnings": options["ignoreWarnings"],
        "lastModifiedDate": deploy.created_date,
        "numberComponentErrors": 0,
        "numberComponentsDeployed": 0,
        "numberComponentsTotal": 0,
        "numberTestErrors": 0,
        "numberTestsCompleted": 0,
        "numberTestsTotal": 0,
        "rollbackOnError": options["rollbackOnError"],
        "runTestsEnabled": False,
        "startDate": deploy.start_date,
        "stateDetail": None,
        "status": "Pending" if deploy.polls == 0 else "InProgress",
        "success": False,
    }
    if deploy.result is not None:
        base.update(deploy.result)
        base["done"] = True
    if include_details:
        base["details"] = {
            "componentFailures": list(deploy.failures),
            "componentSuccesses": list(deploy.successes),
            "retrieveResult": None,
            "runTestResult": {
                "numFailures": 0,
                "numTestsRun": 0,
                "totalTime": 0.0,
                "codeCoverage": [],
                "codeCoverageWarnings": [],
                "failures": [],
                "flowCoverage": [],
                "flowCoverageWarnings": [],
                "successes": [],
            },
        }
    return base


def _body(rq: Request, deploy: Deploy, include_details: bool) -> dict[str, Any]:
    url = f"{rq.base_url}/services/data/v{rq.version}/metadata/deployRequest/{deploy.id}"
    return {
        "id": deploy.id,
        "validatedDeployRequestId": None,
        "url": url + ("?includeDetails=true" if include_details else ""),
        "deployOptions": dict(deploy.options),
        "deployResult": _result(deploy, include_details),
    }


def deploy_create(em: Emulator, rq: Request) -> Reply:
    parts = parse_multipart(rq.headers.get("content-type", ""), rq.body)
    if "json" not in parts:
        raise ApiError(400, "INVALID_MULTIPART_REQUEST", "The deploy request has no json part with deployOptions")
    if "file" not in parts:
        raise ApiError(400, "INVALID_MULTIPART_REQUEST", "The deploy request has no file part with the zip")
    options = _options(parts["json"][1])
    archive = parts["file"][1]
    if len(archive) > MAX_ZIP_BYTES:
        raise ApiError(400, "EXCEEDED_MAX_SIZE_REQUEST", "The zip file exceeds 39 MB")
    deploy = em.metadata.create(options, archive, rq.session.user_id)
    return Reply(201, _body(rq, deploy, False))


def deploy_status(em: Emulator, rq: Request) -> Reply:
    deploy = em.metadata.deploys.get(rq.parts[2])
    if deploy is None:
        raise not_found()
    em.metadata.check(deploy)
    include = str(rq.params.get("includeDetails", "")).strip().lower() == "true"
    return Reply(200, _body(rq, deploy, include))


def routes(parts: list[str]) -> dict[str, tuple[str, Callable[[Emulator, Request], Reply]]] | None:
    """Routes under metadata/ (the head segment is checked by the caller)."""
    if len(parts) >= 2 and parts[1] == "deployRequest":
        if len(parts) == 2:
            return {"POST": ("metadata deployRequest", deploy_create)}
        if len(parts) == 3:
            return {"GET": ("metadata deployRequest status", deploy_status)}
    return None
