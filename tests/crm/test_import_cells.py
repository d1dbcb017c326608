"""The import's cell parsers: a choice's table of names is built once per import."""

from __future__ import annotations

import io
from unittest import mock

import openpyxl
import pytest
from django.utils import translation

from crm import imports
from crm.models import Organisation, Role
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _sheet(rows: int) -> io.BytesIO:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Nom", "Type"])
    for number in range(rows):
        sheet.append([f"Structure {number}", "Office de tourisme" if number % 2 else "investor"])
    out = io.BytesIO()
    book.save(out)
    out.seek(0)
    return out


@pytest.mark.parametrize("rows", [1, 300])
def test_choice_labels_are_translated_once_per_import_not_per_cell(rows: int) -> None:
    staff = UserFactory(role=Role.STAFF)
    with mock.patch.object(translation, "override", wraps=translation.override) as override:
        plan = imports.plan_import("organisations", _sheet(rows), {0: "name", 1: "kind"}, by=staff)
    assert plan.created == rows and not plan.errors
    # Each label in French and in English, once: the same for 1 row as for 300.
    assert override.call_count == 2 * len(Organisation.Kind.choices)


def test_a_choice_reads_codes_and_labels_in_both_languages() -> None:
    parse = imports.choice(Organisation.Kind.choices)
    assert parse("INVESTOR") == parse("Investisseur") == parse("investor") == "investor"
    with pytest.raises(imports.CellError, match="Valeurs possibles"):
        parse("Licorne")
    parse("Investisseur")
    assert parse.tables_built == 1
