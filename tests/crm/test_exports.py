"""Excel exports: typed cells, formula neutralisation, streaming (DESIGN §5, §8)."""

from __future__ import annotations

import datetime
import io
import weakref
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.http import FileResponse
from django.utils import timezone
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet

from crm.exports import (
    DATE_FORMAT,
    DATETIME_FORMAT,
    MONEY_FORMAT,
    XLSX_CONTENT_TYPE,
    Column,
    write_xlsx,
    xlsx_response,
)
from crm.models import Organisation
from tests.factories import OrganisationFactory

TEXT = [Column("Texte", lambda row: row)]


def export(rows: Any, columns: list[Column], *, sheet_title: str = "Export") -> Worksheet:
    """Write `rows` and read the sheet back the way a user's spreadsheet program would."""
    buffer = io.BytesIO()
    write_xlsx(rows, columns, buffer, sheet_title=sheet_title)
    buffer.seek(0)
    return load_workbook(buffer).active  # type: ignore[return-value]  # a new workbook's sheet


@pytest.mark.parametrize(
    "value",
    [
        '=HYPERLINK("http://x","y")',
        "=1+1",
        "+1",
        "-1",
        "@SUM(A1)",
        "\tx",
        "\rx",
        "=cmd|' /C calc'!A0",
        "#N/A",
    ],
)
def test_text_that_looks_like_a_formula_is_stored_as_a_string(value: str) -> None:
    sheet = export([value], TEXT)

    cell = sheet["A2"]
    # XML reads a bare carriage return back as a line feed; the exporter says so explicitly.
    assert cell.value == value.replace("\r", "\n")
    assert cell.data_type == "s"
    assert cell.quotePrefix is True


def test_ordinary_text_is_a_plain_string() -> None:
    sheet = export(["Hôtel Louvre-Lens", "Mine 11/19"], TEXT)

    assert [sheet["A2"].value, sheet["A3"].value] == ["Hôtel Louvre-Lens", "Mine 11/19"]
    assert sheet["A2"].data_type == "s"
    assert not sheet["A2"].quotePrefix


def test_formula_neutralisation_also_applies_to_non_text_columns_given_text() -> None:
    # A money column fed a string (bad import data) must not become a formula either.
    sheet = export(["=1+2"], [Column("Montant", lambda row: row, kind="money")])

    assert sheet["A2"].value == "=1+2"
    assert sheet["A2"].data_type == "s"


def test_control_characters_are_stripped_instead_of_failing() -> None:
    sheet = export(["Ligne\x00un\x07\x1b deux\x0b", "Tab\tet\nsaut"], TEXT)

    assert sheet["A2"].value == "Ligneun deux"
    # Tab and line feed are legal in cells and kept.
    assert sheet["A3"].value == "Tab\tet\nsaut"


def test_text_made_only_of_control_characters_is_an_empty_cell() -> None:
    sheet = export(["\x01\x02"], TEXT)

    assert sheet["A2"].value is None


def test_dates_are_real_dates_with_a_date_format() -> None:
    columns = [Column("Date", lambda row: row, kind="date")]
    sheet = export([datetime.date(2026, 3, 14)], columns)

    cell = sheet["A2"]
    assert isinstance(cell.value, datetime.datetime)
    assert cell.value.date() == datetime.date(2026, 3, 14)
    assert cell.number_format == DATE_FORMAT
    assert cell.is_date


def test_datetimes_are_shown_in_the_current_time_zone_without_tzinfo() -> None:
    moment = datetime.datetime(2026, 6, 1, 10, 30, tzinfo=datetime.UTC)
    columns = [Column("Quand", lambda row: row, kind="datetime")]

    with timezone.override("Europe/Paris"):
        paris = export([moment], columns)["A2"]
    with timezone.override("America/New_York"):
        new_york = export([moment], columns)["A2"]

    assert paris.value == datetime.datetime(2026, 6, 1, 12, 30)
    assert new_york.value == datetime.datetime(2026, 6, 1, 6, 30)
    assert paris.number_format == DATETIME_FORMAT


def test_a_datetime_in_a_date_column_keeps_its_local_day() -> None:
    # 23:30 UTC on 31 December is already 1 January in Paris.
    moment = datetime.datetime(2025, 12, 31, 23, 30, tzinfo=datetime.UTC)
    with timezone.override("Europe/Paris"):
        cell = export([moment], [Column("Jour", lambda row: row, kind="date")])["A2"]

    assert cell.value.date() == datetime.date(2026, 1, 1)


def test_money_is_numeric_with_a_euro_format() -> None:
    columns = [Column("Investissement", lambda row: row, kind="money")]
    sheet = export([Decimal("1250000.50"), 12, 3.5], columns)

    assert [sheet[f"A{row}"].value for row in (2, 3, 4)] == [1250000.5, 12, 3.5]
    for row in (2, 3, 4):
        assert sheet[f"A{row}"].data_type == "n"
        assert sheet[f"A{row}"].number_format == MONEY_FORMAT


def test_ints_decimals_bools_and_none_are_typed() -> None:
    columns = [
        Column("Emplois", lambda row: row[0], kind="int"),
        Column("Surface", lambda row: row[1], kind="decimal"),
        Column("Confidentiel", lambda row: row[2], kind="bool"),
        Column("Note", lambda row: row[3]),
    ]
    sheet = export([(12, Decimal("3.25"), True, None), (None, None, False, "")], columns)

    assert sheet["A2"].value == 12
    assert sheet["A2"].data_type == "n"
    assert sheet["B2"].value == 3.25
    assert sheet["C2"].value is True
    assert sheet["C3"].value is False
    assert sheet["C2"].data_type == "b"
    for coordinate in ("D2", "A3", "B3", "D3"):
        assert sheet[coordinate].value is None


def test_numbers_excel_cannot_store_become_text() -> None:
    columns = [Column("Valeur", lambda row: row, kind="decimal")]
    sheet = export([float("nan"), Decimal("Infinity")], columns)

    assert sheet["A2"].value == "nan"
    assert sheet["A3"].value == "Infinity"


def test_header_is_bold_frozen_and_filtered() -> None:
    columns = [
        Column("Nom", lambda row: row[0]),
        Column("Emplois", lambda row: row[1], kind="int"),
        Column("Créée le", lambda row: row[2], kind="date", width=21),
    ]
    rows = [("A", 1, datetime.date(2026, 1, 1)), ("B", 2, datetime.date(2026, 1, 2))]
    sheet = export(rows, columns)

    assert [cell.value for cell in sheet[1]] == ["Nom", "Emplois", "Créée le"]
    assert all(cell.font.b for cell in sheet[1])
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:C3"
    assert sheet.column_dimensions["A"].width == 30
    assert sheet.column_dimensions["B"].width == 11  # Header length + room for the filter.
    assert sheet.column_dimensions["C"].width == 21


def test_headers_are_rendered_in_the_active_language() -> None:
    from django.utils.translation import gettext_lazy, override

    columns = [Column(gettext_lazy("Nom"), lambda row: row)]
    with override("fr"):
        sheet = export(["x"], columns)

    assert sheet["A1"].value == "Nom"


def test_zero_rows_still_make_a_valid_workbook_with_the_header() -> None:
    buffer = io.BytesIO()
    count = write_xlsx(iter(()), TEXT, buffer, sheet_title="Vide")
    buffer.seek(0)
    sheet = load_workbook(buffer).active

    assert count == 0
    assert sheet.title == "Vide"
    assert sheet.max_row == 1
    assert sheet["A1"].value == "Texte"
    assert sheet.auto_filter.ref == "A1:A1"


def test_sheet_titles_excel_refuses_are_cleaned() -> None:
    sheet = export(["x"], TEXT, sheet_title="Leads [2026]: Lens/Liévin? * très long titre ici")

    assert sheet.title.startswith("Leads  2026   Lens Liévin")
    assert len(sheet.title) <= 31
    assert not set(sheet.title) & set("[]:*?/\\")


class Row:
    """A row object that can tell whether earlier rows are still held in memory."""

    __slots__ = ("__weakref__", "number")

    def __init__(self, number: int) -> None:
        self.number = number


def test_rows_are_consumed_one_at_a_time() -> None:
    alive: weakref.WeakSet[Row] = weakref.WeakSet()
    most_alive = 0

    def rows() -> Iterator[Row]:
        nonlocal most_alive
        for number in range(5000):
            row = Row(number)
            alive.add(row)
            most_alive = max(most_alive, len(alive))
            yield row
            del row

    count = write_xlsx(
        rows(), [Column("N", lambda r: r.number, kind="int")], io.BytesIO(), sheet_title="x"
    )

    assert count == 5000
    # A writer that built a list first would hold all 5000 at once.
    assert most_alive <= 2


def test_a_large_export_works() -> None:
    start = datetime.date(2026, 1, 1)
    rows = (
        (number, f"Organisation {number}", start + datetime.timedelta(days=number % 365))
        for number in range(20_000)
    )
    columns = [
        Column("N", lambda row: row[0], kind="int"),
        Column("Nom", lambda row: row[1]),
        Column("Date", lambda row: row[2], kind="date"),
    ]
    buffer = io.BytesIO()

    count = write_xlsx(rows, columns, buffer, sheet_title="Gros export")

    buffer.seek(0)
    sheet = load_workbook(buffer, read_only=True).active
    assert count == 20_000
    (last,) = sheet.iter_rows(min_row=20_001, max_row=20_001, values_only=True)
    assert last[0] == 19_999
    assert last[1] == "Organisation 19999"


def test_response_is_a_streamed_attachment_that_opens_in_openpyxl() -> None:
    rows = [("=danger()", Decimal("10.00")), ("Sain", Decimal("20.00"))]
    columns = [
        Column("Nom", lambda row: row[0]),
        Column("Budget", lambda row: row[1], kind="money"),
    ]

    response = xlsx_response(rows, columns, filename="organisations", sheet_title="Organisations")

    assert isinstance(response, FileResponse)
    assert response["Content-Type"] == XLSX_CONTENT_TYPE
    expected = f"organisations-{timezone.localdate().isoformat()}.xlsx"
    assert response["Content-Disposition"] == f'attachment; filename="{expected}"'
    content = response.getvalue()
    response.file_to_stream.close()
    sheet = load_workbook(io.BytesIO(content)).active
    assert sheet.title == "Organisations"
    assert sheet["A2"].value == "=danger()"
    assert sheet["A2"].data_type == "s"
    assert sheet["B3"].value == 20


def test_response_filename_is_ascii_safe() -> None:
    response = xlsx_response(
        [], TEXT, filename='Leads "confidentiels" / Côte\r\n', sheet_title="Leads"
    )
    response.file_to_stream.close()

    disposition = response["Content-Disposition"]
    assert disposition.startswith('attachment; filename="leads-confidentiels-cote-')
    assert "\r" not in disposition
    assert "\n" not in disposition


@pytest.mark.django_db
def test_exports_a_queryset_iterator() -> None:
    OrganisationFactory(name="=Office de tourisme", city="Lens")
    OrganisationFactory(name="Gîte de la Cité", city="Loos-en-Gohelle")
    columns = [
        Column("Nom", lambda org: org.name),
        Column("Commune", lambda org: org.city),
        Column("Type", lambda org: org.get_kind_display()),
        Column("Créée le", lambda org: org.created_at, kind="datetime"),
    ]

    sheet = export(Organisation.objects.order_by("name").iterator(chunk_size=2000), columns)

    assert [sheet["A2"].value, sheet["A3"].value] == ["=Office de tourisme", "Gîte de la Cité"]
    assert sheet["A2"].data_type == "s"
    assert sheet["C2"].value == "Entreprise"
    assert isinstance(sheet["D2"].value, datetime.datetime)
