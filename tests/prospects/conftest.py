"""Prospects personas: an officer who owns the lead, one it is shared with, one outside it."""

from __future__ import annotations

import io

import openpyxl
import pytest

from crm.models import Role, User
from tests.factories import UserFactory


@pytest.fixture
def shared_officer(db: None) -> User:
    return UserFactory(username="shared-officer", role=Role.OFFICER)


def workbook_rows(response) -> list[tuple]:
    data = response.getvalue()
    return list(openpyxl.load_workbook(io.BytesIO(data)).active.values)
