"""Excel imports of organisations and contacts (DESIGN §5).

The spreadsheets people keep today come in with their own headers: `guess_mapping` recognises
French and English names, the person confirms or corrects the mapping, then `plan_import`
reads every row and says what would happen — rows to create, to update, unchanged, and every
bad row with its row number, column and reason — without writing anything. `apply_import`
re-reads the file and writes the plan in one transaction, and only when no row is bad: one bad
row means nothing is written. Rows are matched to existing records on the SIRET (else the
exact name) for organisations and on the e-mail for contacts, so importing the same file twice
changes nothing the second time. An empty cell never erases a stored value.

Files are checked before openpyxl opens them (a zip whose members inflate past a bound, or
inflate too much, is refused: an "xlsx bomb"), read in openpyxl's read-only streaming mode,
and cut at `settings.IMPORT_MAX_ROWS` rows, so memory stays bounded whatever the file. The
dimensions a sheet declares are ignored (see `open_first_sheet`): a file's own claims never
decide how much is read.
Formulas are refused cell by cell: the value a formula shows is not in the file we read.
"""

from __future__ import annotations

import datetime
import io
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from openpyxl.reader.excel import ExcelReader
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.workbook import Workbook
from openpyxl.worksheet._read_only import ReadOnlyWorksheet

from crm import audit
from crm.exports import Column, write_xlsx
from crm.models import Contact, ImportMapping, Organisation, Territory, User, fold
from crm.uploads import MAX_COMPRESSION_RATIO, MAX_UNCOMPRESSED_BYTES

MAX_COLUMNS = 200
BATCH_SIZE = 1000
ERRORS_SHOWN = 200
# Where an import in progress keeps its uploaded workbook (private storage), until it is
# applied or `manage.py purge_imports` deletes it.
STAGING_FOLDER = "imports"


class ImportFileError(ValueError):
    """The file as a whole cannot be imported; the message says why, for the person."""


class CellError(ValueError):
    """One cell is wrong; the message says why."""


# Cell parsers -------------------------------------------------------------------------------


def text(max_length: int) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if isinstance(value, datetime.datetime | datetime.date):
            value = value.isoformat()
        cleaned = " ".join(str(value).split()) if not isinstance(value, str) else value.strip()
        if len(cleaned) > max_length:
            raise CellError(_("Trop long : %(max)s caractères au plus.") % {"max": max_length})
        return cleaned

    return parse


def choice(choices: list[tuple[str, Any]]) -> Callable[[Any], str]:
    """A value of `choices`, given as its code or its label, in French or English."""
    from django.utils import translation

    def parse(value: Any) -> str:
        wanted = fold(str(value))
        for code, label in choices:
            names = {fold(code), fold(str(label))}
            for language in ("fr", "en"):
                with translation.override(language):
                    names.add(fold(str(label)))
            if wanted in names:
                return code
        allowed = ", ".join(str(label) for _code, label in choices)
        raise CellError(
            _("Valeur inconnue. Valeurs possibles : %(allowed)s.") % {"allowed": allowed}
        )

    return parse


def decimal_value(max_value: int) -> Callable[[Any], Decimal]:
    """An amount typed as a number or as text ("1 200 000 €", "1200000,50")."""

    def parse(value: Any) -> Decimal:
        if isinstance(value, bool):
            raise CellError(_("Nombre attendu."))
        raw = str(value).replace("€", "").replace("\u202f", "").replace("\xa0", "")
        raw = "".join(raw.split()).replace(",", ".")
        try:
            number = Decimal(raw)
        except InvalidOperation:
            raise CellError(_("Nombre attendu.")) from None
        if not number.is_finite() or number < 0 or number > max_value:
            raise CellError(
                _("Nombre entre 0 et %(max)s attendu.")
                % {"max": f"{max_value:,}".replace(",", " ")}
            )
        return number.quantize(Decimal("0.01"))

    return parse


def integer(max_value: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        number = decimal_value(max_value)(value)
        if number != number.to_integral_value():
            raise CellError(_("Nombre entier attendu."))
        return int(number)

    return parse


YES = {"oui", "o", "yes", "y", "x", "1", "vrai", "true"}
NO = {"non", "n", "no", "0", "faux", "false"}


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    folded = fold(str(value)).strip()
    if folded in YES:
        return True
    if folded in NO:
        return False
    raise CellError(_("Répondez oui ou non."))


DATE_FORMATS = ("%d/%m/%Y", "%d/%m/%y", "%Y-%m-%d", "%d-%m-%Y", "%d.%m.%Y", "%Y/%m/%d")


def date_value(value: Any) -> datetime.date:
    """A date from a date cell or from text in the usual French and ISO formats."""
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    raw = str(value).strip()
    for pattern in DATE_FORMATS:
        try:
            parsed = datetime.datetime.strptime(raw, pattern).date()
        except ValueError:
            continue
        if 1900 <= parsed.year <= 2100:
            return parsed
    raise CellError(_("Date illisible : écrivez-la JJ/MM/AAAA."))


def digits(value: Any) -> str:
    # A SIRET typed in a number cell arrives as an int (or a float with ".0").
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return "".join(str(value).split())


# What can be imported -------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A field a column can be mapped to."""

    name: str
    label: Any
    parse: Callable[[Any], Any]
    synonyms: tuple[str, ...] = ()
    required: bool = False


@dataclass
class RowPlan:
    number: int  # the row number in the sheet, as the person sees it
    action: str  # "create", "update", "unchanged" or "error"
    values: dict[str, Any] = field(default_factory=dict)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (column header, reason)
    instance: Any = None
    before: audit.Snapshot = field(default_factory=dict)  # what an updated record held
    columns: dict[str, str] = field(default_factory=dict)  # field → its header in the file

    def column(self, kind: ImportKind, name: str) -> str:
        """The header the person gave the column of field `name`, for error messages."""
        return self.columns.get(name) or str(kind.target(name).label)


@dataclass
class Plan:
    kind: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[tuple[int, str, str]] = field(default_factory=list)  # (row, column, reason)
    to_write: list[RowPlan] = field(default_factory=list)

    @property
    def is_clean(self) -> bool:
        return self.rows > 0 and not self.errors


class ImportKind:
    """How one kind of record is read, matched and written, on behalf of `by`."""

    key: str
    label: Promise
    model: type
    targets: list[Target]
    list_url: str  # where the person lands once the import is applied

    def __init__(self, *, by: User) -> None:
        self.by = by

    @staticmethod
    def allowed(user: User) -> bool:
        """Organisations and contacts are the mission team's to import."""
        return user.is_authenticated and user.is_mission_staff

    def target(self, name: str) -> Target:
        return next(target for target in self.targets if target.name == name)

    def prepare(self, rows: list[RowPlan]) -> None:
        """Load what matching needs for these rows (a few queries per batch)."""

    def resolve(self, row: RowPlan) -> None:
        """Turn the row's references to other records into ids, or add the row's error."""

    def refuse_change(self, existing: Any) -> str | None:
        """Why this person may not change `existing` (None when they may). Asked only when
        the row would change it: an unchanged row of someone else's record is no error."""
        return None

    def model_values(self, values: dict[str, Any]) -> dict[str, Any]:
        """Row values under the model's attribute names (a territory is `territory_id`)."""
        return {
            ("territory_id" if name == "territory" else name): value
            for name, value in values.items()
        }

    def attach(self, instance: Any) -> None:
        """Fill the instance's foreign-key caches from what `prepare` loaded, so that the
        audit trail's text of the record costs no query per row."""

    def key_of(self, row: RowPlan) -> tuple[str, str] | None:
        raise NotImplementedError

    def check(self, row: RowPlan, instance: Any) -> None:
        """Rules the database enforces with constraints, checked here without a query."""

    def match(self, row: RowPlan) -> Any:
        raise NotImplementedError

    def build(self, row: RowPlan, *, by: User) -> Any:
        raise NotImplementedError

    def save(self, instances: list[Any], *, created: bool) -> None:
        raise NotImplementedError


def _assign(instance: Any, values: dict[str, Any]) -> bool:
    """Set the non-empty values on `instance`; whether anything changed."""
    changed = False
    for name, value in values.items():
        if value in ("", None):
            continue  # an empty cell never erases a stored value
        if getattr(instance, name) != value:
            setattr(instance, name, value)
            changed = True
    return changed


class TerritoryColumn:
    """A territory named by its name or its slug (there are a handful: loaded once)."""

    def load_territories(self) -> None:
        self.territory_objects = {territory.pk: territory for territory in Territory.objects.all()}
        self.territories = {
            fold(key): territory.pk
            for territory in self.territory_objects.values()
            for key in (territory.name, territory.slug)
        }

    def territory(self, value: Any) -> int:
        found = self.territories.get(fold(str(value)))
        if found is None:
            raise CellError(_("Territoire inconnu : « %(name)s ».") % {"name": value})
        return found

    def attach_territory(self, instance: Any) -> None:
        if instance.territory_id:
            instance.territory = self.territory_objects[instance.territory_id]


class OrganisationColumn:
    """A column naming an organisation by its SIRET or its exact name, resolved per batch."""

    organisation_label: Any = gettext_lazy("Organisation (SIRET ou nom)")

    def __init__(self) -> None:
        self.organisations: dict[str, Organisation] = {}
        self.organisation_objects: dict[int, Organisation] = {}

    def organisation(self, value: Any) -> str:
        return digits(value) if digits(value).isdigit() else str(value).strip()

    def load_organisations(self, rows: list[RowPlan]) -> None:
        wanted = {row.values["organisation"] for row in rows if row.values.get("organisation")}
        fields = ("pk", "name", "siret")
        for organisation in Organisation.objects.filter(name__in=wanted).only(*fields):
            self.organisations.setdefault(fold(organisation.name), organisation)
            self.organisation_objects[organisation.pk] = organisation
        for organisation in Organisation.objects.filter(siret__in=wanted).only(*fields):
            self.organisations[organisation.siret] = organisation
            self.organisation_objects[organisation.pk] = organisation

    def resolve_organisation(self, row: RowPlan) -> None:
        reference = row.values.pop("organisation", None)
        if not reference:
            return
        found = self.organisations.get(reference if reference.isdigit() else fold(reference))
        if found is None:
            row.errors.append(
                (
                    row.column(self, "organisation"),
                    _("Organisation inconnue : « %(name)s ». Importez-la d'abord.")
                    % {"name": reference},
                )
            )
        else:
            row.values["organisation_id"] = found.pk

    def attach_organisation(self, instance: Any) -> None:
        if instance.organisation_id in self.organisation_objects:
            instance.organisation = self.organisation_objects[instance.organisation_id]


class OrganisationImport(TerritoryColumn, ImportKind):
    key = "organisations"
    label = gettext_lazy("Organisations")
    model = Organisation
    list_url = "crm:organisation_list"

    def __init__(self, *, by: User) -> None:
        super().__init__(by=by)
        self.load_territories()
        self.targets = [
            Target(
                "name",
                gettext_lazy("Nom"),
                text(200),
                ("nom", "name", "raison sociale", "organisation", "structure", "denomination"),
                required=True,
            ),
            Target(
                "kind",
                gettext_lazy("Type"),
                choice(Organisation.Kind.choices),
                ("type", "kind", "categorie", "type d'organisation"),
            ),
            Target("siret", gettext_lazy("SIRET"), digits, ("siret", "n° siret", "numero siret")),
            Target("address", gettext_lazy("Adresse"), text(255), ("adresse", "address", "rue")),
            Target(
                "postcode",
                gettext_lazy("Code postal"),
                text(10),
                ("code postal", "cp", "postcode", "zip", "postal code"),
            ),
            Target(
                "city", gettext_lazy("Commune"), text(120), ("commune", "ville", "city", "town")
            ),
            Target(
                "territory",
                gettext_lazy("Territoire"),
                self.territory,
                ("territoire", "territory", "office de tourisme", "zone"),
            ),
            Target(
                "website",
                gettext_lazy("Site web"),
                text(200),
                ("site web", "site", "website", "url", "web"),
            ),
            Target(
                "email", gettext_lazy("E-mail"), text(254), ("e-mail", "email", "mail", "courriel")
            ),
            Target("phone", gettext_lazy("Téléphone"), text(30), ("telephone", "tel", "phone")),
            Target(
                "notes",
                gettext_lazy("Notes"),
                text(10_000),
                ("notes", "remarques", "commentaire", "comments"),
            ),
        ]
        self.by_siret: dict[str, Organisation] = {}
        self.by_name: dict[str, Organisation] = {}

    def prepare(self, rows: list[RowPlan]) -> None:
        sirets = {row.values["siret"] for row in rows if row.values.get("siret")}
        names = {fold(row.values["name"]) for row in rows if row.values.get("name")}
        for organisation in Organisation.objects.filter(siret__in=sirets):
            self.by_siret[organisation.siret] = organisation
        # Name matches only for rows without a SIRET.
        candidates = Organisation.objects.filter(
            name__in={row.values["name"] for row in rows if row.values.get("name")}
        )
        for organisation in candidates:
            if fold(organisation.name) in names:
                self.by_name.setdefault(fold(organisation.name), organisation)

    def key_of(self, row: RowPlan) -> tuple[str, str] | None:
        if row.values.get("siret"):
            return ("SIRET", row.values["siret"])
        if row.values.get("name"):
            return (_("nom"), fold(row.values["name"]))
        return None

    def match(self, row: RowPlan) -> Organisation | None:
        if row.values.get("siret"):
            return self.by_siret.get(row.values["siret"])
        return self.by_name.get(fold(row.values.get("name", "")))

    def build(self, row: RowPlan, *, by: User) -> Organisation:
        values = dict(row.values)
        territory = values.pop("territory", None)
        organisation = Organisation(created_by=by, kind=Organisation.Kind.BUSINESS)
        _assign(organisation, values)
        if territory:
            organisation.territory_id = territory
        return organisation

    def attach(self, instance: Organisation) -> None:
        self.attach_territory(instance)

    def save(self, instances: list[Organisation], *, created: bool) -> None:
        for organisation in instances:
            organisation.refresh_search_text()
        if created:
            Organisation.objects.bulk_create(instances, batch_size=BATCH_SIZE)
        else:
            fields = [t.name if t.name != "territory" else "territory_id" for t in self.targets]
            Organisation.objects.bulk_update(
                instances, [*fields, "search_text", "updated_at"], batch_size=BATCH_SIZE
            )


class ContactImport(OrganisationColumn, ImportKind):
    key = "contacts"
    label = gettext_lazy("Contacts")
    model = Contact
    list_url = "crm:contact_list"

    def __init__(self, *, by: User) -> None:
        OrganisationColumn.__init__(self)
        ImportKind.__init__(self, by=by)
        self.targets = [
            Target(
                "last_name",
                gettext_lazy("Nom"),
                text(100),
                ("nom", "last name", "surname", "nom de famille"),
                required=True,
            ),
            Target(
                "first_name",
                gettext_lazy("Prénom"),
                text(100),
                ("prenom", "first name", "given name"),
            ),
            Target(
                "email",
                gettext_lazy("E-mail"),
                self.email,
                ("e-mail", "email", "mail", "courriel"),
                required=True,
            ),
            Target(
                "phone",
                gettext_lazy("Téléphone"),
                text(30),
                ("telephone", "tel", "phone", "mobile", "portable"),
            ),
            Target(
                "role",
                gettext_lazy("Fonction"),
                text(150),
                ("fonction", "poste", "role", "job title", "title"),
            ),
            Target(
                "organisation",
                self.organisation_label,
                self.organisation,
                ("organisation", "structure", "societe", "entreprise", "company", "siret"),
                required=True,
            ),
            Target(
                "legal_basis",
                gettext_lazy("Base légale"),
                choice(Contact.LegalBasis.choices),
                ("base legale", "legal basis"),
            ),
            Target(
                "consent_given_at",
                gettext_lazy("Consentement le"),
                self.consent_date,
                ("consentement le", "date du consentement", "consent date", "consent given"),
            ),
            Target(
                "notes",
                gettext_lazy("Notes"),
                text(10_000),
                ("notes", "remarques", "commentaire", "comments"),
            ),
        ]
        self.by_email: dict[str, Contact] = {}

    @staticmethod
    def email(value: Any) -> str:
        from django.core.validators import validate_email

        address = str(value).strip().lower()
        try:
            validate_email(address)
        except ValidationError:
            raise CellError(_("Adresse e-mail invalide.")) from None
        return address

    @staticmethod
    def consent_date(value: Any) -> datetime.datetime:
        day = date_value(value)
        return timezone.make_aware(datetime.datetime.combine(day, datetime.time(12)))

    def prepare(self, rows: list[RowPlan]) -> None:
        self.load_organisations(rows)
        emails = {row.values["email"] for row in rows if row.values.get("email")}
        for contact in Contact.objects.filter(email__in=emails).select_related("organisation"):
            self.by_email.setdefault(contact.email.lower(), contact)
            self.organisation_objects.setdefault(contact.organisation_id, contact.organisation)

    def resolve(self, row: RowPlan) -> None:
        self.resolve_organisation(row)

    def attach(self, instance: Contact) -> None:
        self.attach_organisation(instance)

    def key_of(self, row: RowPlan) -> tuple[str, str] | None:
        return (_("e-mail"), row.values["email"]) if row.values.get("email") else None

    def check(self, row: RowPlan, instance: Contact) -> None:
        if instance.legal_basis == Contact.LegalBasis.CONSENT and instance.consent_given_at is None:
            row.errors.append(
                (
                    row.column(self, "consent_given_at"),
                    _(
                        "Indiquez la date du consentement lorsque la base légale est le "
                        "consentement."
                    ),
                )
            )

    def match(self, row: RowPlan) -> Contact | None:
        return self.by_email.get(row.values.get("email", ""))

    def build(self, row: RowPlan, *, by: User) -> Contact:
        contact = Contact(created_by=by)
        _assign(contact, row.values)
        return contact

    def save(self, instances: list[Contact], *, created: bool) -> None:
        for contact in instances:
            contact.refresh_search_text()
        if created:
            Contact.objects.bulk_create(instances, batch_size=BATCH_SIZE)
        else:
            fields = [t.name for t in self.targets if t.name != "organisation"]
            Contact.objects.bulk_update(
                instances,
                [*fields, "organisation_id", "search_text", "updated_at"],
                batch_size=BATCH_SIZE,
            )


# Dotted paths, imported when used; the apps built on crm add theirs in `AppConfig.ready()`
# (leads: prospects).
KINDS: dict[str, str] = {
    "organisations": "crm.imports.OrganisationImport",
    "contacts": "crm.imports.ContactImport",
}


def kind_class(key: str) -> type[ImportKind]:
    return import_string(KINDS[key])


def get_kind(key: str, *, by: User) -> ImportKind:
    return kind_class(key)(by=by)


def kinds_for(user: User) -> list[tuple[str, Any]]:
    """(key, label) of what `user` may import."""
    return [(key, cls.label) for key in KINDS if (cls := kind_class(key)).allowed(user)]


# Reading the file ---------------------------------------------------------------------------------


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
            worksheet.sheet_state = sheet.state
            self.wb._sheets.append(worksheet)


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


def read_rows(fileobj: IO[bytes]) -> tuple[list[str], Iterator[tuple[int, tuple[Any, ...]]]]:
    """The header row (the sheet's first row with something in it) and an iterator of
    (row number, cells) for the rows below it; each row has one cell per header column."""
    workbook, sheet = open_first_sheet(fileobj)
    header_row, header = 0, ()
    number = 0
    try:
        for number, cells in enumerate(sheet.iter_rows(values_only=True), start=1):
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
    rows = sheet.iter_rows(min_row=header_row + 1, max_col=len(headers), values_only=True)

    def body() -> Iterator[tuple[int, tuple[Any, ...]]]:
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


def guess_mapping(kind: ImportKind, headers: list[str]) -> dict[int, str]:
    """column index → target name, from the header names (French or English, any case or
    accents); each target at most once, unrecognised columns left out."""
    mapping: dict[int, str] = {}
    used: set[str] = set()
    for index, header in enumerate(headers):
        folded = fold(header).replace("_", " ").strip(" :")
        for target in kind.targets:
            if target.name in used:
                continue
            if folded in {fold(s) for s in target.synonyms} or folded == fold(str(target.label)):
                mapping[index] = target.name
                used.add(target.name)
                break
    return mapping


def remembered_mapping(kind: ImportKind, headers: list[str], *, user: User) -> dict[int, str]:
    """The guessed mapping, corrected by how `user` mapped the same headers last time."""
    mapping = guess_mapping(kind, headers)
    saved = (
        ImportMapping.objects.filter(user=user, kind=kind.key)
        .values_list("columns", flat=True)
        .first()
    ) or {}
    known = {target.name for target in kind.targets}
    for index, header in enumerate(headers):
        name = saved.get(fold(header)) if header else None
        if name is None or (name and name not in known):
            continue
        # The person's own choice wins over a guess, for this column and for the field.
        mapping = {i: n for i, n in mapping.items() if i != index and n != name}
        if name:
            mapping[index] = name
    return mapping


def remember_mapping(
    kind: ImportKind, headers: list[str], mapping: dict[int, str], *, user: User
) -> None:
    """Keep how `user` mapped these headers, beside what they mapped in earlier files."""
    saved, _created = ImportMapping.objects.get_or_create(user=user, kind=kind.key)
    saved.columns.update(
        {fold(header): mapping.get(index, "") for index, header in enumerate(headers) if header}
    )
    saved.save(update_fields=["columns", "updated_at"])


def missing_required(kind: ImportKind, mapping: dict[int, str]) -> list[str]:
    mapped = set(mapping.values())
    return [str(t.label) for t in kind.targets if t.required and t.name not in mapped]


# Planning and applying ----------------------------------------------------------------------------


def plan_import(kind_key: str, fileobj: IO[bytes], mapping: dict[int, str], *, by: User) -> Plan:
    """What importing the file would do, row by row, without writing anything."""
    kind = get_kind(kind_key, by=by)
    headers, rows = read_rows(fileobj)
    plan = Plan(kind=kind_key)
    seen: dict[tuple[str, str], int] = {}
    batch: list[RowPlan] = []

    def flush() -> None:
        kind.prepare(batch)
        for row in batch:
            _plan_row(kind, row, plan, seen, by=by)
        batch.clear()

    for number, cells in rows:
        plan.rows += 1
        batch.append(_read_row(kind, headers, mapping, number, cells))
        if len(batch) == BATCH_SIZE:
            flush()
    flush()
    if plan.rows == 0:
        raise ImportFileError(
            _("Le classeur ne contient aucune ligne de données, seulement des en-têtes.")
        )
    return plan


def _read_row(
    kind: ImportKind, headers: list[str], mapping: dict[int, str], number: int, cells: tuple
) -> RowPlan:
    row = RowPlan(number=number, action="error")
    for index, name in mapping.items():
        target = kind.target(name)
        column = headers[index] if index < len(headers) and headers[index] else str(target.label)
        row.columns[name] = column
        value = cells[index] if index < len(cells) else None
        if isinstance(value, str) and value.startswith("="):
            row.errors.append((column, _("Formule : saisissez la valeur elle-même.")))
            continue
        if value is None or (isinstance(value, str) and not value.strip()):
            if target.required:
                row.errors.append((column, _("Valeur obligatoire.")))
            continue
        try:
            row.values[name] = target.parse(value)
        except CellError as error:
            row.errors.append((column, str(error)))
    return row


def _plan_row(
    kind: ImportKind, row: RowPlan, plan: Plan, seen: dict[tuple[str, str], int], *, by: User
) -> None:
    kind.resolve(row)
    key = kind.key_of(row)
    if key is not None and not row.errors:
        if key in seen:
            row.errors.append(
                (
                    key[0],
                    _("Même %(key)s que la ligne %(row)s.") % {"key": key[0], "row": seen[key]},
                )
            )
        else:
            seen[key] = row.number
    existing = None if row.errors else kind.match(row)
    if existing is not None:
        kind.attach(existing)
        row.before = audit.snapshot(existing, relations=False)
    instance = existing or kind.build(row, by=by)
    changed = existing is None or _assign(existing, kind.model_values(row.values))
    if existing is not None and changed and (refusal := kind.refuse_change(existing)):
        row.errors.append((_("ligne"), refusal))
    kind.attach(instance)
    _validate(kind, row, instance)
    if not row.errors:
        row.instance = instance
        if existing is None:
            row.action, plan.created = "create", plan.created + 1
            plan.to_write.append(row)
        elif changed:
            row.action, plan.updated = "update", plan.updated + 1
            plan.to_write.append(row)
        else:
            row.action, plan.unchanged = "unchanged", plan.unchanged + 1
        return
    plan.errors.extend((row.number, column, reason) for column, reason in row.errors)


def _validate(kind: ImportKind, row: RowPlan, instance: Any) -> None:
    """The model's own rules (SIRET key, e-mail, lengths, cross-field checks) on the values the
    row gives, without a query per row: foreign keys were resolved from tables loaded per
    batch, and uniqueness is what the matching decides."""
    given = set(kind.model_values(row.values))
    exclude = [
        model_field.name
        for model_field in instance._meta.concrete_fields
        if model_field.is_relation or model_field.attname not in given
    ]
    try:
        instance.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
    except ValidationError as error:
        labels = {target.name: str(target.label) for target in kind.targets}
        for name, messages in error.message_dict.items():
            label = labels.get(name, _("ligne") if name == "__all__" else name)
            row.errors.extend((label, message) for message in messages)
    kind.check(row, instance)


class NotApplied(Exception):
    """The file has bad rows (or changed since the dry run): nothing was written."""

    def __init__(self, plan: Plan) -> None:
        super().__init__(f"{len(plan.errors)} bad rows")
        self.plan = plan


def apply_import(
    kind_key: str, fileobj: IO[bytes], mapping: dict[int, str], *, by: User, source: str = ""
) -> Plan:
    """Plan again and write everything in one transaction, or nothing if any row is bad.

    Each record created or changed gets its audit entries, field by field, naming the file
    (`source`) it came from."""
    with transaction.atomic():
        plan = plan_import(kind_key, fileobj, mapping, by=by)
        if plan.errors:
            raise NotApplied(plan)
        kind = get_kind(kind_key, by=by)
        created = [row.instance for row in plan.to_write if row.action == "create"]
        updated = [row.instance for row in plan.to_write if row.action == "update"]
        now = timezone.now()
        for instance in updated:
            instance.updated_at = now
        try:
            with transaction.atomic():
                if created:
                    kind.save(created, created=True)
                if updated:
                    kind.save(updated, created=False)
        except IntegrityError:
            # A SIRET already held by another organisation, or a row changed meanwhile.
            plan.errors.append(
                (
                    0,
                    "",
                    _(
                        "Le fichier entre en conflit avec des données enregistrées "
                        "(SIRET déjà pris ?)."
                    ),
                )
            )
            raise NotApplied(plan) from None
        detail = _("Import du fichier « %(name)s »") % {"name": source} if source else ""
        audit.record_many(
            [(row.before, row.instance) for row in plan.to_write], by=by, detail=detail
        )
    return plan


def error_report(plan: Plan) -> bytes:
    """The bad rows as a workbook: row number, column, reason."""
    out = io.BytesIO()
    write_xlsx(
        plan.errors,
        [
            Column(_("Ligne"), lambda error: error[0], "int"),
            Column(_("Colonne"), lambda error: error[1], width=30),
            Column(_("Problème"), lambda error: error[2], width=80),
        ],
        out,
        sheet_title=_("Lignes à corriger"),
    )
    return out.getvalue()
