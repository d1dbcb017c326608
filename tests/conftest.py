"""Shared fixtures: fast settings and one persona per role (STYLE: tests)."""

from __future__ import annotations

import os
from typing import Any
from unittest import mock
from uuid import uuid4

import pytest
from django.conf import settings

from crm.models import Role, User
from tests.factories import UserFactory

# `make test-s3` (and CI) set this to a local S3 API (moto_server on 127.0.0.1) and run the
# tests marked `storage` with the default storage on S3, as production configures it.
S3_ENDPOINT = os.environ.get("CARREAU_TEST_S3_ENDPOINT", "")


def s3_storage() -> dict[str, Any]:
    """STORAGES["default"] on a fresh bucket of the test S3 API, built by the settings' own
    `s3_storage_options` from the variables production would set."""
    from crm.settings import s3_storage_options

    bucket = f"carreau-test-{uuid4().hex[:16]}"
    variables = {
        "AWS_STORAGE_BUCKET_NAME": bucket,
        "AWS_S3_ENDPOINT_URL": S3_ENDPOINT,
        "AWS_S3_REGION_NAME": "us-east-1",
        "AWS_ACCESS_KEY_ID": "carreau-test",
        "AWS_SECRET_ACCESS_KEY": "carreau-test",
        "AWS_S3_ADDRESSING_STYLE": "path",
    }
    # Only for the settings' reading: a worker process the tests start must not inherit them.
    with mock.patch.dict(os.environ, variables):
        options = s3_storage_options()
    assert options is not None
    s3_client(options).create_bucket(Bucket=bucket)
    return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}


def s3_client(options: dict[str, Any]) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=options["endpoint_url"],
        region_name=options["region_name"],
        aws_access_key_id=options["access_key"],
        aws_secret_access_key=options["secret_key"],
    )


def pytest_configure(config: pytest.Config) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STORAGES = {
        **settings.STORAGES,
        # A fresh bucket per session (per xdist worker): nothing left from an earlier run.
        "default": (
            s3_storage()
            if S3_ENDPOINT
            else {"BACKEND": "django.core.files.storage.InMemoryStorage"}
        ),
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    # Jobs run eagerly, inside the request that starts them; tests/crm/test_jobs.py also runs
    # them through the database queue and a real worker process.
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


@pytest.fixture
def own_storage(settings: Any) -> None:
    """A default storage of this test's own, empty: a new in-memory one, or a new bucket
    when the storage tests run on S3 (the session's storage keeps other tests' files)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": (
            s3_storage()
            if S3_ENDPOINT
            else {"BACKEND": "django.core.files.storage.InMemoryStorage"}
        ),
    }


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
    """The role groups and their permissions (and the main towns), after a transactional
    test's flush.

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
    towns = importlib.import_module("prospects.migrations.0005_site_location_access_and_towns")
    towns.add_towns(state_apps, None)
    towns.grant_staff(state_apps, None)


@pytest.fixture(autouse=True)
def _french_by_default() -> Any:
    """Each test starts in French, as a fresh request does: a test client's request in English
    leaves English active in its thread, and the next test on that worker would read English
    messages where it expects the source language."""
    from django.utils import translation

    with translation.override(settings.LANGUAGE_CODE):
        yield
