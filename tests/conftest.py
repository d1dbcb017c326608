"""Shared fixtures: fast settings and one persona per role (STYLE: tests)."""

from __future__ import annotations

import pytest
from django.conf import settings

from crm.models import Role, User
from tests.factories import UserFactory


def pytest_configure(config: pytest.Config) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    # Jobs run eagerly, inside the request that starts them; tests/crm/test_jobs.py also runs
    # them through the database queue and a real worker process.
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    # Cached figures must not leak from one test's data into another's.
    from django.core.cache import cache

    cache.clear()


# The personas have fixed names: a random one could be a name a test looks for, or looks
# for the absence of (a staff member named Jeanne once failed a privacy test).


@pytest.fixture
def staff(db: None) -> User:
    return UserFactory(username="staff", role=Role.STAFF, first_name="Claire", last_name="Lemaire")


@pytest.fixture
def designer(db: None) -> User:
    return UserFactory(
        username="designer", role=Role.DESIGNER, first_name="Hugo", last_name="Marchal"
    )


@pytest.fixture
def officer(db: None) -> User:
    return UserFactory(
        username="officer", role=Role.OFFICER, first_name="Inès", last_name="Carpentier"
    )


@pytest.fixture
def other_officer(db: None) -> User:
    return UserFactory(
        username="other-officer", role=Role.OFFICER, first_name="Théo", last_name="Vasseur"
    )


@pytest.fixture
def holder(db: None) -> User:
    return UserFactory(username="holder", role=Role.HOLDER, first_name="Paul", last_name="Delattre")


@pytest.fixture
def personas(staff: User, designer: User, officer: User, holder: User) -> dict[str, User]:
    return {"staff": staff, "designer": designer, "officer": officer, "holder": holder}


@pytest.fixture
def role_groups(transactional_db: None) -> None:
    """The role groups and their permissions, after a transactional test's flush.

    Transactional tests (browser, concurrency) empty every table when they end, including
    what the data migrations created; this re-runs those migrations' functions."""
    import importlib

    from django.contrib.auth.models import Group
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    if Group.objects.filter(name=Role.STAFF).exists():
        return
    state_apps = MigrationExecutor(connection).loader.project_state().apps
    importlib.import_module("crm.migrations.0002_roles").create_roles(state_apps, None)
    importlib.import_module("projects.migrations.0002_roles").grant(state_apps, None)
    importlib.import_module("projects.migrations.0004_specification_roles").grant(state_apps, None)
    importlib.import_module("prospects.migrations.0002_roles").grant(state_apps, None)
    importlib.import_module("crm.migrations.0006_audit_roles").grant(state_apps, None)
