"""Shared fixtures: an encryption key per test, personas for the console, a queue that runs its tasks at once, and
the db_backend marker."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Every test that touches the database runs again on PostgreSQL in .ci/run (pytest -m db_backend).
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if item.get_closest_marker("django_db") or {"db", "transactional_db", "client"} & set(fixtures):
            item.add_marker(pytest.mark.db_backend)


@pytest.fixture(autouse=True)
def encryption_key(settings):
    key = Fernet.generate_key().decode()
    settings.CMSF_ENCRYPTION_KEY = key
    return key


@pytest.fixture
def immediate_queue():
    """The queue runs its tasks at once, in this process."""
    from huey.contrib.djhuey import HUEY

    saved = HUEY.immediate
    HUEY.immediate = True
    try:
        yield
    finally:
        HUEY.immediate = saved


@pytest.fixture
def alice(db, django_user_model):
    """An admin with CM Full Access."""
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_user("alice@example.com", "alice@example.com", "alice-password-1")
    user.groups.add(Group.objects.get(name="CM Full Access"))
    return user


@pytest.fixture
def bob(db, django_user_model):
    """A marketing user with CM User Access: sees, changes nothing."""
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_user("bob@example.com", "bob@example.com", "bob-password-1")
    user.groups.add(Group.objects.get(name="CM User Access"))
    return user


@pytest.fixture
def charlie(db, django_user_model):
    """A signed-in user with no permission set."""
    return django_user_model.objects.create_user("charlie@example.com", "charlie@example.com", "charlie-password-1")
