"""Salesforce setup, on the Maintenance page: check the connected org against the SFDX source in `sfdx/`
(objects, fields, permission sets), and apply or remove cmsf's page layouts through Metadata API deploys.

Before Apply replaces the org's own Contact and Lead layouts, it reads them (Metadata API `readMetadata`) and keeps a
copy (`PageLayoutBackup`); the first copy is kept however often Apply runs. Remove deploys the copies back, so the
org's layouts are as they were before cmsf, then forgets them. If the layouts cannot be read, Apply changes nothing.

Applying and removing are audited; a failed deploy changes nothing in the org (it rolls back), is recorded as a
maintenance message and raised as `SetupError` with what to do.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from cmsf.connections import selectors as connection_reads
from cmsf.connections import services as connections
from cmsf.maintenance.services import audit, record_message
from cmsf.salesforce import metadata, soql
from cmsf.salesforce.adapter import SalesforceAdapter
from cmsf.salesforce.errors import SalesforceError
from cmsf.salesforce.schema_check import check_schema as compare_schema
from cmsf.salesforce.sfdx import read_objects, read_permission_sets

SECTION = "maintenance"
JOB = "CMSF_SALESFORCE_SETUP"
SCHEMA_CODE = "CMSF-SCHEMA-CHECK"
LAYOUTS_CODE = "CMSF-PAGE-LAYOUTS"
DEPLOY_TIMEOUT = 120.0  # seconds a console request waits for a deploy
SCHEMA_GUIDANCE = (
    "Check the Salesforce connection under Sync Settings, and that the Salesforce Sync User can see Setup "
    "(View Setup and Configuration), then run the check again."
)
LAYOUTS_GUIDANCE = (
    "Nothing was changed: a deploy that fails rolls back. Run Check schema: a layout names cmsf's objects and "
    "fields, so everything it lists as missing must be deployed first. If the failure names something else (a "
    "conflict with a change made in Salesforce), set up the page layouts by hand in Setup > Object Manager > "
    "Page Layouts, or send the support code to support."
)

BACKUP_GUIDANCE = (
    "Nothing was changed: cmsf keeps a copy of the org's Contact and Lead layouts before it replaces them, and it "
    "could not read them. Check the Salesforce connection under Sync Settings, and that the Salesforce Sync User has "
    "Modify Metadata Through Metadata API Functions (or Modify All Data), then apply again."
)


class SetupError(Exception):
    """What went wrong, and what to do about it; already recorded as a maintenance message when it came from
    Salesforce."""


class NotConnected(SetupError):
    pass


@contextmanager
def _salesforce() -> Iterator[SalesforceAdapter]:
    try:
        adapter = connections.salesforce()
    except connections.NotConnected as error:
        raise NotConnected("Salesforce is not connected: connect it under Sync Settings first.") from error
    except SalesforceError as error:
        raise _failed(SCHEMA_CODE, "cmsf could not sign in to Salesforce.", str(error), SCHEMA_GUIDANCE) from error
    try:
        yield adapter
    finally:
        adapter.session.close()


def _failed(code: str, what: str, details: str, guidance: str) -> SetupError:
    record_message(support_code=code, job=JOB, message=what, details=details, guidance=guidance)
    return SetupError(f"{what} {details}. {guidance}")


# ------------------------------------------------------------------------------------------- schema


@dataclass
class SchemaCheck:
    """What the org lacks of the SFDX source."""

    missing_objects: list[str] = field(default_factory=list)
    missing_fields: list[str] = field(default_factory=list)  # "Object.Field"
    missing_permission_sets: list[str] = field(default_factory=list)
    checked_objects: int = 0
    checked_fields: int = 0
    checked_permission_sets: int = 0
    checked_at: str = ""

    @property
    def ok(self) -> bool:
        return not (self.missing_objects or self.missing_fields or self.missing_permission_sets)

    def as_dict(self) -> dict[str, Any]:
        """A plain value (for the session), with `ok`."""
        return {**asdict(self), "ok": self.ok}


def _missing_permission_sets(adapter: SalesforceAdapter, names: list[str]) -> list[str]:
    if not names:
        return []
    found = {
        row["Name"] for row in adapter.query(f"SELECT Name FROM PermissionSet WHERE Name IN ({soql.quote_list(names)})")
    }
    return [name for name in names if name not in found]


def check_schema(source_dir: Path | None = None) -> SchemaCheck:
    """The connected org against the SFDX source: one describe global, one describe per object, one query."""
    wanted_sets = sorted(read_permission_sets(source_dir))
    with _salesforce() as adapter:
        try:
            report = compare_schema(adapter, source_dir)
            missing_sets = _missing_permission_sets(adapter, wanted_sets)
        except SalesforceError as error:
            what = "Salesforce did not answer the schema check."
            raise _failed(SCHEMA_CODE, what, str(error), SCHEMA_GUIDANCE) from error
    return SchemaCheck(
        missing_objects=sorted(report.missing_objects),
        missing_fields=sorted(report.missing_fields),
        missing_permission_sets=missing_sets,
        checked_objects=len(read_objects(source_dir)),
        checked_fields=report.checked_fields,
        checked_permission_sets=len(wanted_sets),
        checked_at=timezone.now().isoformat(timespec="seconds"),
    )


# ------------------------------------------------------------------------------------------ layouts


@dataclass
class LayoutsResult:
    """The outcome of one deploy of the page layouts."""

    action: str  # "apply" or "remove"
    ok: bool
    deploy_id: str = ""
    status: str = ""
    saved: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    backed_up: list[str] = field(default_factory=list)  # apply: the org's layouts copied before this deploy
    restored: list[str] = field(default_factory=list)  # remove: the org's layouts put back from their copies
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    finished_at: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class DeployFailed(SetupError):
    def __init__(self, message: str, result: LayoutsResult) -> None:
        super().__init__(message)
        self.result = result


TITLES = {"apply": "Apply page layouts", "remove": "Remove page layouts"}


def layout_changes(action: str, source_dir: Path | None = None) -> list[tuple[str, str]]:
    """What a deploy of `action` ("apply" or "remove") will do to each layout of the org, for the confirmation
    before it: ("Contact Layout (Contact)", "Replaced ..."); the org's own layouts (Contact, Lead) first."""
    labels = {name: spec.label for name, spec in read_objects(source_dir).items() if spec.label}
    kept = connection_reads.page_layout_backups() if action == "remove" else {}
    changes = []
    for name in metadata.read_layouts(source_dir):
        sobject, _, layout = name.partition("-")
        ours = metadata.is_cmsf_object(sobject)
        if action == "apply":
            how = (
                "Created, or replaced by cmsf's version (a layout of cmsf's own object)."
                if ours
                else "Replaced by cmsf's version, with cmsf's related lists (subscriptions and email tracking "
                "history); a copy of the current layout is kept, and Remove puts it back."
            )
        else:
            how = (
                "Deleted (a layout of cmsf's own object)."
                if ours
                else "Put back as it was before cmsf applied its layouts (from the copy cmsf kept)."
                if name in kept
                else "Replaced by cmsf's version without cmsf's related lists (cmsf has no copy of the layout from "
                "before it applied its own): changes made to this layout in Salesforce are lost."
            )
        changes.append((not ours, f"{layout} ({labels.get(sobject, sobject)})", how))
    return [(what, how) for _, what, how in sorted(changes, key=lambda c: (not c[0], c[1]))]


def apply_page_layouts(*, actor: str, source_dir: Path | None = None) -> LayoutsResult:
    """Deploy every layout of the source: cmsf's objects' layouts, and Contact and Lead with cmsf's related lists;
    first keep a copy of the org's Contact and Lead layouts (unless one is kept already)."""
    return _deploy_layouts("apply", actor=actor, source_dir=source_dir)


def remove_page_layouts(*, actor: str, source_dir: Path | None = None) -> LayoutsResult:
    """Delete cmsf's objects' layouts and put the org's Contact and Lead layouts back from their kept copies (without
    a copy: cmsf's version without its related lists)."""
    return _deploy_layouts("remove", actor=actor, source_dir=source_dir)


def _back_up_layouts(adapter: SalesforceAdapter, title: str, source_dir: Path | None) -> list[str]:
    """Read and keep the org's layouts that Apply replaces and that have no copy yet; answers the names kept."""
    kept = connection_reads.page_layout_backups()
    wanted = [name for name in metadata.standard_layout_names(source_dir) if name not in kept]
    if not wanted:
        return []
    try:
        current = metadata.read_org_layouts(adapter, wanted)
    except SalesforceError as error:
        what = f"{title}: cmsf could not read the org's current page layouts to keep a copy."
        raise _failed(LAYOUTS_CODE, what, str(error), BACKUP_GUIDANCE) from error
    return connections.keep_page_layout_backups(current)


def _deploy_layouts(action: str, *, actor: str, source_dir: Path | None) -> LayoutsResult:
    title = TITLES[action]
    backed_up: list[str] = []
    originals: dict[str, bytes] = {}
    with _salesforce() as adapter:
        if action == "apply":
            backed_up = _back_up_layouts(adapter, title, source_dir)
            plan = metadata.apply_plan(adapter.api_version, source_dir)
        else:
            originals = connection_reads.page_layout_backups()
            plan = metadata.restore_plan(adapter.api_version, originals, source_dir)
        try:
            outcome = metadata.deploy(adapter, plan, timeout=DEPLOY_TIMEOUT)
        except SalesforceError as error:
            raise _failed(LAYOUTS_CODE, f"{title}: the deploy did not finish.", str(error), LAYOUTS_GUIDANCE) from error
    result = LayoutsResult(
        action=action,
        ok=outcome.ok,
        deploy_id=outcome.id,
        status=outcome.status,
        # a deploy that fails rolls back: what it names as succeeded was not kept
        saved=[name for name in plan.saves if name in outcome.succeeded] if outcome.ok else [],
        deleted=[name for name in plan.deletes if name in outcome.succeeded] if outcome.ok else [],
        backed_up=backed_up,
        restored=sorted(name for name in originals if name in outcome.succeeded) if outcome.ok else [],
        failures=[str(f) for f in outcome.failures] or ([outcome.error_message] if outcome.error_message else []),
        warnings=[str(w) for w in outcome.warnings],
        finished_at=timezone.now().isoformat(timespec="seconds"),
    )
    if not outcome.ok:
        refused = _failed(
            LAYOUTS_CODE,
            f"{title}: Salesforce refused the deploy ({outcome.status}).",
            outcome.summary(),
            LAYOUTS_GUIDANCE,
        )
        raise DeployFailed(str(refused), result)
    with transaction.atomic():
        if result.restored:
            connections.drop_page_layout_backups(result.restored)
        after: dict[str, Any] = {"deploy_id": result.deploy_id, "deployed": result.saved, "deleted": result.deleted}
        if action == "apply":
            after["copies_kept"] = sorted(connection_reads.page_layout_backups())
        else:
            after["restored_from_copies"] = result.restored
        audit(
            actor=actor,
            section=SECTION,
            action=title,
            before={} if action == "apply" else {"page_layouts": sorted([*plan.saves, *plan.deletes])},
            after=after,
        )
    return result
