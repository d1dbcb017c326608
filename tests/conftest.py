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


@pytest.fixture
def staff(db: None) -> User:
    return UserFactory(username="staff", role=Role.STAFF)


@pytest.fixture
def designer(db: None) -> User:
    return UserFactory(username="designer", role=Role.DESIGNER)


@pytest.fixture
def officer(db: None) -> User:
    return UserFactory(username="officer", role=Role.OFFICER)


@pytest.fixture
def other_officer(db: None) -> User:
    return UserFactory(username="other-officer", role=Role.OFFICER)


@pytest.fixture
def holder(db: None) -> User:
    return UserFactory(username="holder", role=Role.HOLDER)


@pytest.fixture
def personas(staff: User, designer: User, officer: User, holder: User) -> dict[str, User]:
    return {"staff": staff, "designer": designer, "officer": officer, "holder": holder}
