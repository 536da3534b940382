"""Who in Salesforce holds cmsf's Salesforce permission sets (the SFDX source's `permissionsets/`), and
assigning or removing them through the API (PermissionSetAssignment records).

An error from Salesforce is recorded as a maintenance message and raised as `PermissionSetError`, whose text
says what happened and what to do. Every assignment and removal is audited.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.db import transaction

from cmsf.connections import services as connections
from cmsf.maintenance.services import audit, record_message
from cmsf.salesforce import soql
from cmsf.salesforce.adapter import SalesforceAdapter
from cmsf.salesforce.errors import SalesforceError
from cmsf.salesforce.sfdx import read_permission_sets

SECTION = "security"
SUPPORT_CODE = "CMSF-USER-SECURITY"
JOB = "User security"
_ID = re.compile(r"^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$")

GUIDANCE = {
    "DUPLICATE_VALUE": "The user already has this permission set: nothing to do.",
    "INSUFFICIENT_ACCESS_OR_READONLY": "The Salesforce Sync User may not assign permission sets: give it the "
    "'Assign Permission Sets' permission (or use a system administrator as Sync User), then try again.",
    "INSUFFICIENT_ACCESS": "The Salesforce Sync User may not assign permission sets: give it the "
    "'Assign Permission Sets' permission, then try again.",
    "FIELD_INTEGRITY_EXCEPTION": "Salesforce refused the assignment (for example for an inactive user or a licence "
    "the permission set does not fit): choose another user.",
    "INVALID_CROSS_REFERENCE_KEY": "The user or the permission set no longer exists in Salesforce: reload the page.",
    "ENTITY_IS_DELETED": "The assignment no longer exists in Salesforce: reload the page.",
    "INVALID_ID_FIELD": "The assignment no longer exists in Salesforce: reload the page.",
}
DEFAULT_GUIDANCE = "Check the Salesforce connection in Sync Settings, then try again."


class PermissionSetError(Exception):
    """An assignment or removal that did not happen; the text says what to do."""


@dataclass(frozen=True)
class PermissionSetInfo:
    name: str
    label: str


@dataclass(frozen=True)
class Assignment:
    id: str
    assignee_id: str
    assignee_name: str
    assignee_email: str
    permission_set: str


@dataclass(frozen=True)
class SalesforceUser:
    id: str
    name: str
    email: str


def cmsf_permission_sets() -> list[PermissionSetInfo]:
    """cmsf's permission sets, as the SFDX source declares them."""
    return [PermissionSetInfo(spec.name, spec.label) for spec in read_permission_sets().values()]


def _names() -> list[str]:
    return [p.name for p in cmsf_permission_sets()]


def _in(values: list[str]) -> str:
    return "(" + soql.quote_list(values) + ")"


@contextmanager
def _salesforce() -> Iterator[SalesforceAdapter]:
    try:
        adapter = connections.salesforce()
    except connections.NotConnected as error:
        raise PermissionSetError("Salesforce is not connected: connect it in Sync Settings first.") from error
    try:
        yield adapter
    finally:
        adapter.session.close()


def _failed(what: str, code: str, detail: str) -> PermissionSetError:
    guidance = GUIDANCE.get(code, DEFAULT_GUIDANCE)
    record_message(support_code=SUPPORT_CODE, job=JOB, message=what, details=f"{code}: {detail}" if code else detail,
                   guidance=guidance)  # fmt: skip
    return PermissionSetError(f"{what} Salesforce said: {detail}. {guidance}")


def _assignments(adapter: SalesforceAdapter, extra: str = "") -> list[Assignment]:
    soql = (
        "SELECT Id, AssigneeId, Assignee.Name, Assignee.Email, PermissionSet.Name FROM PermissionSetAssignment "
        f"WHERE PermissionSet.Name IN {_in(_names())}{extra} ORDER BY PermissionSet.Name, Assignee.Name"
    )
    return [
        Assignment(
            id=str(row["Id"]),
            assignee_id=str(row.get("AssigneeId") or ""),
            assignee_name=str(row.get("Assignee.Name") or ""),
            assignee_email=str(row.get("Assignee.Email") or ""),
            permission_set=str(row.get("PermissionSet.Name") or ""),
        )
        for row in adapter.query(soql)
    ]


@dataclass
class SecurityOverview:
    assignments: list[Assignment]
    users: list[SalesforceUser]  # active Salesforce users to choose from


def overview() -> SecurityOverview:
    """The holders of cmsf's permission sets and the active users; PermissionSetError when Salesforce is not
    connected or does not answer (not recorded: a page view is not an action)."""
    with _salesforce() as adapter:
        try:
            assignments = _assignments(adapter)
            users = [
                SalesforceUser(str(row["Id"]), str(row.get("Name") or ""), str(row.get("Email") or ""))
                for row in adapter.query(
                    "SELECT Id, Name, Email FROM User WHERE IsActive = true AND UserType = 'Standard' "
                    "ORDER BY Name LIMIT 2000"
                )
            ]
        except SalesforceError as error:
            raise PermissionSetError(
                f"Salesforce did not answer: {error}. {GUIDANCE.get(error.code, DEFAULT_GUIDANCE)}"
            ) from error
    return SecurityOverview(assignments, users)


def assign(user_id: str, permission_set: str, *, actor: str) -> str:
    """Give a Salesforce user one of cmsf's permission sets; the new PermissionSetAssignment's Id."""
    if permission_set not in _names():
        raise PermissionSetError(f"{permission_set!r} is not one of cmsf's permission sets: choose one of the list.")
    if not _ID.match(user_id):
        raise PermissionSetError("Choose a Salesforce user from the list.")
    what = f"Assigning {permission_set} to the Salesforce user {user_id} failed."
    with _salesforce() as adapter:
        try:
            user = next(
                adapter.query(f"SELECT Id, Name, IsActive FROM User WHERE Id = {soql.quote(user_id)} LIMIT 1"), None
            )
            if user is None or not user.get("IsActive"):
                raise PermissionSetError("Choose an active Salesforce user from the list.")
            found = next(
                adapter.query(f"SELECT Id FROM PermissionSet WHERE Name = {soql.quote(permission_set)} LIMIT 1"), None
            )
            if found is None:
                raise _failed(
                    what,
                    "",
                    f"the permission set {permission_set} is not in the org; deploy cmsf's Salesforce metadata first",
                )
            result = adapter.insert(
                "PermissionSetAssignment", [{"AssigneeId": user["Id"], "PermissionSetId": found["Id"]}]
            )[0]
        except SalesforceError as error:
            raise _failed(what, error.code, error.message) from error
    if not result.success:
        first = result.errors[0]
        raise _failed(what, first.code, first.message)
    with transaction.atomic():
        audit(
            actor=actor,
            section=SECTION,
            action=f"Assign the Salesforce permission set {permission_set}",
            before={},
            after={"user": str(user.get("Name") or user_id), "user_id": user["Id"], "assignment_id": result.id},
        )
    return str(result.id)


def remove(assignment_id: str, *, actor: str) -> Assignment:
    """Delete one assignment of cmsf's permission sets (never another permission set's)."""
    if not _ID.match(assignment_id):
        raise PermissionSetError("That is not a permission set assignment: reload the page.")
    what = f"Removing the permission set assignment {assignment_id} failed."
    with _salesforce() as adapter:
        try:
            found = _assignments(adapter, f" AND Id = {soql.quote(assignment_id)}")
            if not found:
                raise PermissionSetError(
                    "That assignment of a cmsf permission set is not in Salesforce any more: reload the page."
                )
            result = adapter.delete("PermissionSetAssignment", [assignment_id])[0]
        except SalesforceError as error:
            raise _failed(what, error.code, error.message) from error
    if not result.success:
        first = result.errors[0]
        raise _failed(what, first.code, first.message)
    assignment = found[0]
    with transaction.atomic():
        audit(
            actor=actor,
            section=SECTION,
            action=f"Remove the Salesforce permission set {assignment.permission_set}",
            before={
                "user": assignment.assignee_name,
                "user_id": assignment.assignee_id,
                "assignment_id": assignment.id,
            },
            after={},
        )
    return assignment
