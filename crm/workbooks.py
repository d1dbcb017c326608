"""Reading workbooks people upload, safely (the imports read them; `crm.exports` writes them).

Files are checked before openpyxl opens them (a zip whose members inflate past a bound, or
inflate too much, is refused: an "xlsx bomb"), read in openpyxl's read-only streaming mode,
and cut at `settings.IMPORT_MAX_ROWS` rows, so memory stays bounded whatever the file. The
dimensions a sheet declares are ignored (see `_UnsizedSheet`): a file's own claims never
decide how much is read.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Generator
from typing import IO, Any

from django.conf import settings
from django.utils.translation import gettext as _
from openpyxl.reader.excel import ExcelReader
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.workbook import Workbook
from openpyxl.worksheet._read_only import ReadOnlyWorksheet

from crm.uploads import MAX_COMPRESSION_RATIO, MAX_UNCOMPRESSED_BYTES

MAX_COLUMNS = 200


class ImportFileError(ValueError):
    """The file as a whole cannot be read; the message says why, for the person."""


def check_xlsx(fileobj: IO[bytes]) -> None:
    """Refuse what is not an xlsx, and zips that would inflate out of bounds."""
    fileobj.seek(0)
    try:
        archive = zipfile.ZipFile(fileobj)
    except (zipfile.BadZipFile, OSError):
        raise ImportFileError(_("Ce fichier n'est pas un classeur Excel (.xlsx).")) from None
    with archive:
        members = archive.infolist()
        names = {member.filename for member in members}
        if "[Content_Types].xml" not in names or not any(n.startswith("xl/") for n in names):
            raise ImportFileError(_("Ce fichier n'est pas un classeur Excel (.xlsx)."))
        total = sum(member.file_size for member in members)
        packed = sum(member.compress_size for member in members) or 1
        if total > MAX_UNCOMPRESSED_BYTES or total / packed > MAX_COMPRESSION_RATIO:
            raise ImportFileError(
                _("Ce classeur est anormalement volumineux une fois décompressé : il est refusé.")
            )
    fileobj.seek(0)


class _UnsizedSheet(ReadOnlyWorksheet):
    """openpyxl's read-only sheet, without reading its declared dimensions when it opens.

    openpyxl takes the used range from the sheet's `<dimension>`; when a file has none, it
    parses the whole sheet before it can tell (a million-row sheet: 8 s and 75 MB just to open
    it), and when a file declares A1:XFD1048576 it pads every row to 16,384 cells and adds
    empty rows up to the millionth. An import reads rows as they come and never needs the
    range: left unknown, rows are as long as their last cell and end with the last row."""

    def _get_size(self) -> None:
        pass


class _ImportReader(ExcelReader):
    """ExcelReader in read-only mode, opening worksheets as `_UnsizedSheet` (chart sheets,
    which hold no cells, are left out)."""

    def read_worksheets(self) -> None:
        for sheet, rel in self.parser.find_sheets():
            if rel.target not in self.valid_files or "chartsheet" in rel.Type:
                continue
            worksheet = _UnsizedSheet(self.wb, sheet.name, rel.target, self.shared_strings)
            # As openpyxl's own reader does. Its stubs say a sheet's listed state may be None
            # but not the worksheet's, and do not name the workbook's private list of sheets.
            worksheet.sheet_state = sheet.state  # type: ignore[assignment]
            self.wb._sheets.append(worksheet)  # type: ignore[attr-defined]


def open_workbook(fileobj: IO[bytes]) -> Workbook:
    """The checked workbook, streaming, every worksheet unsized; close it after."""
    check_xlsx(fileobj)
    try:
        reader = _ImportReader(fileobj, read_only=True, data_only=False, keep_links=False)
        reader.read()
    except DAMAGED as error:
        raise ImportFileError(_("Ce classeur Excel est illisible.")) from error
    return reader.wb


def open_first_sheet(fileobj: IO[bytes]) -> tuple[Workbook, ReadOnlyWorksheet]:
    """The checked workbook, streaming, and its first worksheet; close the workbook after."""
    workbook = open_workbook(fileobj)
    if not workbook.worksheets:
        workbook.close()
        raise ImportFileError(_("Le classeur est vide."))
    return workbook, workbook.worksheets[0]


# What openpyxl raises on a damaged workbook while it reads: XML cut off or malformed
# (SyntaxError is the parent of ElementTree's and lxml's parse errors), a missing part
# (KeyError), a zip member whose data or checksum is wrong (BadZipFile, zlib.error, EOFError),
# and values of the wrong type inside a cell or a style (ValueError, TypeError, IndexError,
# AttributeError, OverflowError).
DAMAGED: tuple[type[BaseException], ...] = (
    InvalidFileException,
    SyntaxError,
    KeyError,
    ValueError,
    TypeError,
    IndexError,
    AttributeError,
    OverflowError,
    EOFError,
    OSError,
    zipfile.BadZipFile,
    zlib.error,
)


def _damaged(row: int) -> ImportFileError:
    return ImportFileError(
        _(
            "Ce classeur Excel est endommagé (vers la ligne %(row)s) : ouvrez-le et "
            "enregistrez-le à nouveau depuis Excel ou LibreOffice, puis réessayez."
        )
        % {"row": row}
    )


def _is_blank(cells: tuple[Any, ...]) -> bool:
    # The count is the fast path: a sheet can hold a million rows with nothing in them.
    return cells.count(None) == len(cells) or all(cell is None or cell == "" for cell in cells)


# Each row: its number in the sheet and its cells.
Rows = Generator[tuple[int, tuple[Any, ...]], None, None]


def read_rows(fileobj: IO[bytes]) -> tuple[list[str], Rows]:
    """The header row (the sheet's first row with something in it) and an iterator of
    (row number, cells) for the rows below it; each row has one cell per header column."""
    workbook, sheet = open_first_sheet(fileobj)
    header_row = 0
    header: tuple[Any, ...] = ()
    number = 0
    try:
        # openpyxl's stubs copy `Worksheet.iter_rows` onto the read-only sheet with its self
        # type; at run time the read-only sheet has it too.
        for number, cells in enumerate(sheet.iter_rows(values_only=True), start=1):  # type: ignore[misc]
            if not _is_blank(cells):
                header_row, header = number, cells
                break
    except DAMAGED as error:
        workbook.close()
        raise _damaged(number + 1) from error
    headers = [str(cell).strip() if cell is not None else "" for cell in header]
    while headers and not headers[-1]:
        headers.pop()
    if not headers:
        workbook.close()
        raise ImportFileError(_("Le classeur est vide."))
    if len(headers) > MAX_COLUMNS:
        workbook.close()
        raise ImportFileError(
            _(
                "La ligne d'en-tête compte %(count)s colonnes, au-delà de %(limit)s : "
                "gardez seulement les colonnes à importer."
            )
            % {"count": len(headers), "limit": MAX_COLUMNS}
        )
    rows = sheet.iter_rows(  # type: ignore[misc]  # (as above)
        min_row=header_row + 1, max_col=len(headers), values_only=True
    )

    def body() -> Rows:
        limit = settings.IMPORT_MAX_ROWS
        number = header_row
        try:
            for number, cells in enumerate(rows, start=header_row + 1):
                if _is_blank(cells):
                    continue
                if number - header_row > limit:
                    raise ImportFileError(
                        _(
                            "Le classeur dépasse %(limit)s lignes : "
                            "découpez-le en plusieurs fichiers."
                        )
                        % {"limit": limit}
                    )
                yield number, cells
        except ImportFileError:
            raise
        except DAMAGED as error:
            # Only openpyxl's reading runs in this block (the caller's work runs between
            # yields, outside it): what fails here is the file.
            raise _damaged(number + 1) from error
        finally:
            workbook.close()

    return headers, body()


def read_headers(fileobj: IO[bytes]) -> list[str]:
    """The header row alone (the workbook is closed at once)."""
    headers, rows = read_rows(fileobj)
    for _row in rows:
        break  # starting the generator lets its `finally` close the workbook
    rows.close()
    return headers
