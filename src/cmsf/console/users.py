"""Console users and their permission set (CM Full Access or CM User Access): add, change, deactivate.

A change never leaves the console without an active CM Full Access user: nobody could change settings again.
Every change is audited in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from cmsf.console.permission_sets import FULL_ACCESS, USER_ACCESS
from cmsf.maintenance.services import audit

SECTION = "security"
PERMISSION_SETS = (FULL_ACCESS, USER_ACCESS)
NONE = ""


class UserChangeRefused(Exception):
    """A change that is not allowed, with what to do instead."""


@dataclass(frozen=True)
class ConsoleUser:
    id: int
    email: str
    permission_set: str  # FULL_ACCESS, USER_ACCESS or "" (none)
    is_active: bool
    last_login: dt.datetime | None


def _permission_set(user: AbstractUser) -> str:
    names = {group.name for group in user.groups.all()}
    return next((name for name in PERMISSION_SETS if name in names), NONE)


def console_users() -> list[ConsoleUser]:
    user_model = get_user_model()
    users = user_model.objects.prefetch_related("groups").order_by("-is_active", "username")
    return [
        ConsoleUser(
            id=user.pk,
            email=user.email or user.get_username(),
            permission_set=_permission_set(user),
            is_active=user.is_active,
            last_login=user.last_login,
        )
        for user in users
    ]


def _full_access_users(exclude: int) -> int:
    return get_user_model().objects.filter(groups__name=FULL_ACCESS, is_active=True).exclude(pk=exclude).count()


def _guard_last_admin(user: AbstractUser, *, actor_id: int | None) -> None:
    if _permission_set(user) == FULL_ACCESS and user.is_active and _full_access_users(user.pk) == 0:
        who = "You are" if user.pk == actor_id else f"{user.get_username()} is"
        raise UserChangeRefused(
            f"{who} the last active CM Full Access user: give another user CM Full Access first, "
            "otherwise nobody could change cmsf's settings."
        )


def _set_groups(user: AbstractUser, permission_set: str) -> None:
    user.groups.remove(*Group.objects.filter(name__in=PERMISSION_SETS))
    if permission_set:
        user.groups.add(Group.objects.get(name=permission_set))


def add_user(*, email: str, permission_set: str, password: str, actor: str) -> AbstractUser:
    """Create a console user who signs in with their email. ValidationError (by field) on bad input."""
    email = email.strip()
    if permission_set not in PERMISSION_SETS:
        raise ValidationError({"permission_set": "Choose CM Full Access or CM User Access."})
    user_model = get_user_model()
    if user_model.objects.filter(username__iexact=email).exists():
        raise ValidationError({"email": "A console user with this email already exists."})
    user = user_model(username=email, email=email)
    try:
        validate_password(password, user)
    except ValidationError as error:
        raise ValidationError({"password": error.messages}) from error
    with transaction.atomic():
        user.set_password(password)
        user.save()
        _set_groups(user, permission_set)
        audit(
            actor=actor,
            section=SECTION,
            action=f"Add console user {email}",
            before={},
            after={"email": email, "permission_set": permission_set, "active": True},
        )
    return user


def change_permission_set(user_id: int, permission_set: str, *, actor: str, actor_id: int | None) -> AbstractUser:
    if permission_set not in (*PERMISSION_SETS, NONE):
        raise UserChangeRefused("Choose CM Full Access, CM User Access or no permission set.")
    with transaction.atomic():
        user = get_user_model().objects.select_for_update().get(pk=user_id)
        before = _permission_set(user)
        if before == permission_set:
            return user
        if before == FULL_ACCESS:
            _guard_last_admin(user, actor_id=actor_id)
        _set_groups(user, permission_set)
        audit(
            actor=actor,
            section=SECTION,
            action=f"Change the permission set of {user.get_username()}",
            before={"permission_set": before or "(none)"},
            after={"permission_set": permission_set or "(none)"},
        )
    return user


def set_active(user_id: int, active: bool, *, actor: str, actor_id: int | None) -> AbstractUser:
    with transaction.atomic():
        user = get_user_model().objects.select_for_update().get(pk=user_id)
        if user.is_active == active:
            return user
        if not active:
            if user.pk == actor_id:
                raise UserChangeRefused("You cannot deactivate yourself: ask another CM Full Access user.")
            _guard_last_admin(user, actor_id=actor_id)
        user.is_active = active
        user.save(update_fields=["is_active"])
        audit(
            actor=actor,
            section=SECTION,
            action=f"{'Reactivate' if active else 'Deactivate'} console user {user.get_username()}",
            before={"active": not active},
            after={"active": active},
        )
    return user
