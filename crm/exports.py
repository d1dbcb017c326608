"""Excel exports: typed, streamed, formula-safe workbooks (DESIGN §5, §8).

A view builds the filtered, permitted queryset, describes the columns once and returns
`xlsx_response(...)`. Rows are written with openpyxl's write-only mode, one at a time, so pass
querysets as `queryset.iterator(chunk_size=2000)`: a plain queryset would cache every row in
memory, and 100,000 rows must never sit there at once (DESIGN §8).

    columns = [
        Column(_("Nom"), lambda o: o.name),
        Column(_("Créée le"), lambda o: o.created_at, kind="datetime"),
        Column(_("Budget"), lambda o: o.budget, kind="money"),
    ]
    return xlsx_response(
        Organisation.objects.visible_to(request.user).iterator(chunk_size=2000),
        columns,
        filename="organisations",
        sheet_title=gettext("Organisations"),
    )
"""

from __future__ import annotations

import datetime
import math
import re
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import IO, TYPE_CHECKING, Any, Literal

from django.db.models import QuerySet
from django.http import FileResponse, Http404, QueryDict
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from django_filters import FilterSet
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from crm.listing import filter_for
from crm.models import Contact, Organisation
from crm.permissions import ScopedQuerySet

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

ColumnKind = Literal["text", "int", "decimal", "money", "date", "datetime", "bool"]

XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# Built-in formats 14 and 22 are shown by Excel and LibreOffice in the reader's own short date
# format (dd/mm/yyyy in French, m/d/yyyy in US English), which a custom code could not do.
DATE_FORMAT = "mm-dd-yy"
DATETIME_FORMAT = "m/d/yy h:mm"
DECIMAL_FORMAT = "#,##0.00"
MONEY_FORMAT = '#,##0.00 "€"'

DEFAULT_WIDTHS: dict[str, int] = {
    "text": 30,
    "int": 10,
    "decimal": 14,
    "money": 16,
    "date": 12,
    "datetime": 18,
    "bool": 8,
}
MAX_WIDTH = 80

# Spreadsheet programs read a cell starting with these as a formula (or as DDE in older Excel):
# the OWASP "CSV injection" list.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
MAX_CELL_CHARS = 32767
_ERROR_CODES = frozenset(ERROR_CODES)
# Excel refuses these in sheet titles; it also caps them at 31 characters.
_SHEET_TITLE_FORBIDDEN_RE = re.compile(r"[\\/*?:\[\]]")


@dataclass(frozen=True)
class Column:
    """One column of an export: its header, how to read the value from a row, and its type.

    `header` is usually a lazy translation; it is rendered in the language active when the
    workbook is written.
    """

    header: StrOrPromise
    value: Callable[[Any], Any]
    kind: ColumnKind = "text"
    width: int | None = None


@dataclass(frozen=True)
class Sheet:
    """One sheet of a workbook: its title, its rows (read lazily) and its columns."""

    title: str
    rows: Iterable[Any]
    columns: Sequence[Column]


def choice_label(field: str) -> Callable[[Any], Any]:
    """A column value: the row's label for the choice field `field`, in the language of the
    export. Translating a label costs a catalogue lookup; an export of 100,000 rows asks for
    the same few labels again and again, so each is translated once per language."""
    labels: dict[tuple[str, Any], Any] = {}

    def read(row: Any) -> Any:
        value = getattr(row, field)
        key = (get_language(), value)
        try:
            return labels[key]
        except KeyError:
            labels[key] = label = getattr(row, f"get_{field}_display")()
            return label

    return read


def write_xlsx(
    rows: Iterable[Any],
    columns: Sequence[Column],
    fileobj: IO[bytes],
    *,
    sheet_title: str,
) -> int:
    """Write `rows` as a one-sheet workbook to the binary file object `fileobj`.

    Rows are consumed lazily, one at a time: pass a queryset as `.iterator(chunk_size=2000)`.
    Returns the number of data rows written (the header row is not counted).
    """
    return write_workbook([Sheet(sheet_title, rows, columns)], fileobj)[0]


def write_workbook(sheets: Sequence[Sheet], fileobj: IO[bytes]) -> list[int]:
    """Write several sheets, each with a bold frozen header, typed cells and an autofilter.
    Returns the number of data rows of each sheet."""
    workbook = Workbook(write_only=True)
    workbook.properties.creator = "Carreau"
    counts = [_write_sheet(workbook, sheet) for sheet in sheets]
    workbook.save(fileobj)
    return counts


def _write_sheet(workbook: Workbook, spec: Sheet) -> int:
    sheet = workbook.create_sheet(title=_safe_sheet_title(spec.title))
    columns = spec.columns

    # Write-only sheets must get widths and panes before the first row is appended.
    for index, column in enumerate(columns, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = _width(column)
    sheet.freeze_panes = "A2"

    convert = _Converters(sheet)
    bold = Font(bold=True)
    header = []
    for column in columns:
        text = convert.text(column.header)
        cell = text if isinstance(text, Cell) else WriteOnlyCell(sheet, value=text)
        cell.font = bold
        header.append(cell)
    sheet.append(header)

    pairs = [(column.value, convert.by_kind[column.kind]) for column in columns]
    count = 0
    for row in spec.rows:
        sheet.append([to_cell(get(row)) for get, to_cell in pairs])
        count += 1

    if columns:
        last = f"{get_column_letter(len(columns))}{count + 1}"
        sheet.auto_filter.ref = f"A1:{last}"
    return count


def workbook_response(sheets: Sequence[Sheet], *, filename: str) -> FileResponse:
    """Several sheets as one download named "<filename>.xlsx", built in a temporary file."""
    stem = slugify(str(filename)) or "export"
    tmp = tempfile.TemporaryFile()  # noqa: SIM115 - FileResponse closes it.
    try:
        write_workbook(sheets, tmp)
        tmp.seek(0)
    except BaseException:
        tmp.close()
        raise
    return FileResponse(
        tmp, as_attachment=True, filename=f"{stem}.xlsx", content_type=XLSX_CONTENT_TYPE
    )


def xlsx_response(
    rows: Iterable[Any],
    columns: Sequence[Column],
    *,
    filename: str,
    sheet_title: str,
) -> FileResponse:
    """Return the export as a download named "<filename>-YYYY-MM-DD.xlsx".

    The workbook is built in a temporary file on disk, not in memory, and streamed from there;
    the file disappears when the response is closed. The caller has already scoped `rows` to
    what the user may see (DESIGN §1): this function exports whatever it is given.
    """
    return counted_xlsx_response(rows, columns, filename=filename, sheet_title=sheet_title)[0]


def counted_xlsx_response(
    rows: Iterable[Any],
    columns: Sequence[Column],
    *,
    filename: str,
    sheet_title: str,
) -> tuple[FileResponse, int]:
    """`xlsx_response` and the number of rows written, for exports that are logged."""
    stem = slugify(str(filename)) or "export"
    download_name = f"{stem}-{timezone.localdate().isoformat()}.xlsx"
    tmp = tempfile.TemporaryFile()  # noqa: SIM115 - FileResponse closes it.
    try:
        count = write_xlsx(rows, columns, tmp, sheet_title=sheet_title)
        tmp.seek(0)
    except BaseException:
        tmp.close()
        raise
    response = FileResponse(
        tmp, as_attachment=True, filename=download_name, content_type=XLSX_CONTENT_TYPE
    )
    return response, count


def _width(column: Column) -> int:
    if column.width is not None:
        return column.width
    # Wide enough for the header and its autofilter button.
    return min(MAX_WIDTH, max(DEFAULT_WIDTHS[column.kind], len(str(column.header)) + 4))


def _safe_sheet_title(title: str) -> str:
    cleaned = _SHEET_TITLE_FORBIDDEN_RE.sub(" ", ILLEGAL_CHARACTERS_RE.sub("", str(title)))
    cleaned = cleaned.strip().strip("'")[:31].strip()
    return cleaned or "Export"


# Converters turn a Python value into what `sheet.append` takes. Plain values (str, int, bool,
# None) are appended as they are: openpyxl then reuses one cell object for them, which keeps large
# exports close to bare openpyxl speed (DESIGN §8). A styled cell is built only when needed, from
# a style computed once per sheet rather than once per cell.


class _Converters:
    def __init__(self, sheet: WriteOnlyWorksheet) -> None:
        self.sheet = sheet
        self.styles = {
            fmt: _style_array(sheet, number_format=fmt)
            for fmt in (DATE_FORMAT, DATETIME_FORMAT, DECIMAL_FORMAT, MONEY_FORMAT)
        }
        self.quoted = _style_array(sheet, quote_prefix=True)
        self.by_kind: dict[str, Callable[[Any], Any]] = {
            "text": self.text,
            "int": self.integer,
            "decimal": self.decimal,
            "money": self.money,
            "date": self.calendar_date,
            "datetime": self.timestamp,
            "bool": self.boolean,
        }

    def styled(self, value: Any, number_format: str) -> Cell:
        return Cell(
            self.sheet, row=1, column=1, value=value, style_array=self.styles[number_format]
        )

    def text(self, value: Any) -> Any:
        if value is None:
            return None
        text = value if isinstance(value, str) else str(value)
        # A control character would make openpyxl raise, and the whole export answer 500.
        text = ILLEGAL_CHARACTERS_RE.sub("", text)[:MAX_CELL_CHARS]
        if text == "":
            return None
        risky = text.startswith(FORMULA_PREFIXES) or text in _ERROR_CODES
        if "\r" in text:
            # XML turns a bare CR into LF when the file is read; do it here, explicitly.
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        if not risky:
            return text
        cell = Cell(self.sheet, row=1, column=1, value=text, style_array=self.quoted)
        # openpyxl stores "=..." as a formula and "#N/A" as an error: force a plain string.
        # The quote prefix keeps it text in Excel when someone edits the cell later.
        cell.data_type = "s"
        return cell

    def integer(self, value: Any) -> Any:
        if value is None or _is_number(value):
            return value
        return self.text(value)

    def decimal(self, value: Any) -> Any:
        if value is None:
            return None
        if not _is_number(value):
            return self.text(value)
        return self.styled(value, DECIMAL_FORMAT)

    def money(self, value: Any) -> Any:
        if value is None:
            return None
        if not _is_number(value):
            return self.text(value)
        return self.styled(value, MONEY_FORMAT)

    def calendar_date(self, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, datetime.datetime):
            value = _local_naive(value).date()
        elif not isinstance(value, datetime.date):
            return self.text(value)
        return self.styled(value, DATE_FORMAT)

    def timestamp(self, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, datetime.datetime):
            value = _local_naive(value)
        elif isinstance(value, datetime.date):
            value = datetime.datetime.combine(value, datetime.time())
        else:
            return self.text(value)
        return self.styled(value, DATETIME_FORMAT)

    def boolean(self, value: Any) -> Any:
        # Real booleans: Excel and LibreOffice show them in the reader's language (VRAI/FAUX,
        # TRUE/FALSE) and the autofilter offers exactly two values.
        if value is None:
            return None
        return bool(value)


def _style_array(
    sheet: WriteOnlyWorksheet, *, number_format: str | None = None, quote_prefix: bool = False
) -> Any:
    template = WriteOnlyCell(sheet)
    if number_format is not None:
        template.number_format = number_format
    template.quotePrefix = quote_prefix
    # openpyxl keeps a cell's style in `_style`; new cells copy it through `style_array=`.
    return template._style  # type: ignore[attr-defined]  # private, absent from the stubs


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return False
    # NaN and infinities have no representation in a cell; Excel reports the file as corrupt.
    return isinstance(value, int) or math.isfinite(value)


def _local_naive(value: datetime.datetime) -> datetime.datetime:
    # Excel has no time zones: write the wall-clock time in the active time zone.
    if timezone.is_aware(value):
        value = timezone.localtime(value)
    return value.replace(tzinfo=None)


# The CRM's own exports ---------------------------------------------------------------------
# The column lists below are the only place that decides what an organisation or contact
# export holds.


def _organisation_columns() -> list[Column]:
    return [
        Column(_("Nom"), lambda o: o.name, width=40),
        Column(_("Type"), choice_label("kind"), width=20),
        Column(_("Statut"), choice_label("sector"), width=10),
        Column(_("SIRET"), lambda o: o.siret, width=16),
        Column(_("Adresse"), lambda o: o.address),
        Column(_("Code postal"), lambda o: o.postcode, width=11),
        Column(_("Commune"), lambda o: o.city, width=22),
        Column(_("Territoire"), lambda o: o.territory.name if o.territory else None, width=22),
        Column(_("Site web"), lambda o: o.website),
        Column(_("E-mail"), lambda o: o.email),
        Column(_("Téléphone"), lambda o: o.phone, width=16),
        Column(_("Contacts"), lambda o: o.contact_count, kind="int"),
        Column(_("Créée le"), lambda o: o.created_at, kind="datetime"),
    ]


def _contact_columns() -> list[Column]:
    return [
        Column(_("Nom"), lambda c: c.last_name, width=22),
        Column(_("Prénom"), lambda c: c.first_name, width=18),
        Column(_("Fonction"), lambda c: c.role, width=24),
        Column(_("Organisation"), lambda c: c.organisation.name, width=36),
        Column(
            _("Territoire"),
            lambda c: c.organisation.territory.name if c.organisation.territory else None,
            width=22,
        ),
        Column(_("E-mail"), lambda c: c.email),
        Column(_("Téléphone"), lambda c: c.phone, width=16),
        Column(_("Base légale"), choice_label("legal_basis"), width=24),
        Column(_("Consentement le"), lambda c: c.consent_given_at, kind="datetime"),
        Column(_("Dernière interaction"), lambda c: c.last_interaction_at, kind="datetime"),
        # Whoever works from the file sees who must not be contacted (RGPD art. 21).
        Column(_("Ne pas contacter"), lambda c: c.objected_at is not None, kind="bool", width=12),
        Column(_("Opposition depuis le"), lambda c: c.objected_at, kind="datetime"),
    ]


# List exports, run at once or as a job (crm.jobs.export_list) --------------------------------


@dataclass(frozen=True)
class _StoredRequest:
    """What a FilterSet reads of a request, for an export run away from the request."""

    GET: QueryDict
    user: Any


@dataclass(frozen=True)
class ListExport:
    """A list's "Export to Excel": the rows its filters give over what the person may see,
    written by the shared writer, under `filename`-YYYY-MM-DD.xlsx."""

    filterset: type[FilterSet]
    queryset: Callable[[], ScopedQuerySet[Any]]
    perm: str
    columns: Callable[[], Sequence[Column]]
    filename: str
    sheet_title: Any
    label: Any
    # Prefetches for the rows as they are written.
    for_writing: Callable[[QuerySet[Any]], QuerySet[Any]] = lambda queryset: queryset
    # Called once the file is written, with who exported, the filters and the row count: an
    # export of personal data (the contact list) is logged, whether immediate or a job.
    on_export: Callable[[Any, FilterSet, int], None] | None = None

    def filterset_for(self, user: Any, query: QueryDict) -> FilterSet:
        """The list's filters over what `user` may see; without the list's permission, 404."""
        if not user.has_perm(self.perm):
            raise Http404
        request = _StoredRequest(GET=query, user=user)
        return filter_for(request, self.filterset, self.queryset().visible_to(user))  # type: ignore[arg-type]

    def response(self, user: Any, filterset: FilterSet) -> FileResponse:
        """The file at once, as a download."""
        response, count = counted_xlsx_response(
            self.for_writing(filterset.qs).iterator(chunk_size=2000),
            self.columns(),
            filename=self.filename,
            sheet_title=str(self.sheet_title),
        )
        self.exported(user, filterset, count)
        return response

    def write(self, rows: Iterable[Any], fileobj: IO[bytes]) -> int:
        return write_xlsx(rows, self.columns(), fileobj, sheet_title=str(self.sheet_title))

    def exported(self, user: Any, filterset: FilterSet, count: int) -> None:
        if self.on_export is not None:
            self.on_export(user, filterset, count)


def organisation_list_export() -> ListExport:
    from crm.filters import OrganisationFilter

    return ListExport(
        filterset=OrganisationFilter,
        queryset=Organisation.objects.for_export,
        perm="crm.view_organisation",
        columns=_organisation_columns,
        filename="organisations",
        sheet_title=_("Organisations"),
        label=_("Export des organisations"),
    )


def contact_list_export() -> ListExport:
    from crm.filters import ContactFilter

    return ListExport(
        filterset=ContactFilter,
        queryset=Contact.objects.for_list,
        perm="crm.view_contact",
        columns=_contact_columns,
        filename="contacts",
        sheet_title=_("Contacts"),
        label=_("Export des contacts"),
        on_export=_log_contact_list_export,
    )


def _log_contact_list_export(user: Any, filterset: FilterSet, count: int) -> None:
    from crm.actions import record_contact_list_export
    from crm.listing import describe_filters

    record_contact_list_export(by=user, filters=describe_filters(filterset), rows=count)
