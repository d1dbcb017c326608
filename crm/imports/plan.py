"""Planning and applying an import: what the file would do, row by row, then doing it.

`plan_import` reads every row and says what would happen (rows to create, to update,
unchanged, and every bad row with its row number, column, value and reason) without writing
anything. `apply_import` plans again and writes in one transaction. Rows are matched to
existing records (see each kind), so importing the same file twice changes nothing the second
time. An empty cell never erases a stored value. Formulas are refused cell by cell: the value
a formula shows is not in the file we read.
"""

from __future__ import annotations

import datetime
import io
from dataclasses import dataclass, field
from typing import IO, Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm import audit
from crm.exports import Column, write_xlsx
from crm.imports.cells import CellError
from crm.imports.kinds import BATCH_SIZE, ImportKind, RowPlan, assign, get_kind
from crm.models import ImportMapping, User, fold
from crm.workbooks import ImportFileError, read_rows

ERRORS_SHOWN = 200
# Where an import in progress keeps its uploaded workbook (private storage), until it is
# applied or `manage.py purge_imports` deletes it.
STAGING_FOLDER = "imports"


@dataclass(frozen=True)
class Problem:
    """One reason a row is refused, with the value the file gave (as text)."""

    row: int
    column: str
    value: str
    reason: str


@dataclass(frozen=True)
class BadRow:
    """A refused row as the file had it, for the workbook of rows to fix."""

    number: int
    cells: tuple[Any, ...]
    reasons: list[tuple[str, str]]  # (column, reason)


@dataclass
class Plan:
    kind: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[tuple[int, str, str]] = field(default_factory=list)  # (row, column, reason)
    to_write: list[RowPlan] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)
    # (row, column) → the value the file gave there, for the errors that name a column.
    values: dict[tuple[int, str], str] = field(default_factory=dict)
    bad_rows: list[BadRow] = field(default_factory=list)
    unknown_organisations: set[str] = field(default_factory=set)
    header_index: dict[str, int] = field(default_factory=dict)  # header → its column

    def __post_init__(self) -> None:
        self.header_index = {name: index for index, name in enumerate(self.headers) if name}

    @property
    def is_clean(self) -> bool:
        return self.rows > 0 and not self.errors

    @property
    def good(self) -> int:
        """Rows that would be written (created or updated)."""
        return self.created + self.updated

    def problems(self, limit: int = ERRORS_SHOWN) -> list[Problem]:
        """The first `limit` problems, each with the value the file gave."""
        return [
            Problem(row, column, self.values.get((row, column), ""), reason)
            for row, column, reason in self.errors[:limit]
        ]

    def to_show(self, limit: int = ERRORS_SHOWN) -> list[RowPlan]:
        """The first `limit` rows to create or update, in the file's order."""
        return self.to_write[:limit]


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


def plan_import(kind_key: str, fileobj: IO[bytes], mapping: dict[int, str], *, by: User) -> Plan:
    """What importing the file would do, row by row, without writing anything."""
    kind = get_kind(kind_key, by=by)
    headers, rows = read_rows(fileobj)
    plan = Plan(kind=kind_key, headers=headers)
    labels = {
        attribute: str(target.label)
        for target in kind.targets
        for attribute in kind.model_values({target.name: None})
    }
    seen: dict[tuple[str, str], int] = {}
    batch: list[RowPlan] = []

    def flush() -> None:
        kind.prepare(batch)
        for row in batch:
            _plan_row(kind, row, plan, seen, by=by, labels=labels)
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
    kind: ImportKind,
    headers: list[str],
    mapping: dict[int, str],
    number: int,
    cells: tuple[Any, ...],
) -> RowPlan:
    row = RowPlan(number=number, action="error", cells=cells)
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
    kind: ImportKind,
    row: RowPlan,
    plan: Plan,
    seen: dict[tuple[str, str], int],
    *,
    by: User,
    labels: dict[str, str],
) -> None:
    reference = row.values.get("organisation")
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
    changes = [] if existing is None else assign(existing, kind.model_values(row.values))
    changed = existing is None or bool(changes)
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
            row.changed = [labels.get(name, name) for name in changes]
            plan.to_write.append(row)
        else:
            row.action, plan.unchanged = "unchanged", plan.unchanged + 1
        row.cells = ()  # only refused rows are kept as the file had them
        return
    plan.errors.extend((row.number, column, reason) for column, reason in row.errors)
    for column, _reason in row.errors:
        index = plan.header_index.get(column)
        if index is not None and index < len(row.cells) and row.cells[index] is not None:
            plan.values[(row.number, column)] = _as_text(row.cells[index])
    if reference and "organisation_id" not in row.values:
        plan.unknown_organisations.add(reference)
    plan.bad_rows.append(BadRow(row.number, row.cells, list(row.errors)))
    row.cells = ()


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


def _as_text(value: Any) -> str:
    """A cell's value as the person typed it (a date without a midnight time)."""
    if isinstance(value, datetime.datetime) and value.time() == datetime.time(0):
        return value.date().isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class NotApplied(Exception):
    """The file has bad rows (or changed since the dry run): nothing was written."""

    def __init__(self, plan: Plan) -> None:
        super().__init__(f"{len(plan.errors)} bad rows")
        self.plan = plan


def apply_import(
    kind_key: str,
    fileobj: IO[bytes],
    mapping: dict[int, str],
    *,
    by: User,
    source: str = "",
    leave_bad: bool = False,
) -> Plan:
    """Plan again and write everything in one transaction, or nothing if any row is bad.

    With `leave_bad`, the good rows are written (still in one transaction, all or none of
    them) and the bad ones left aside: `rows_to_fix(plan)` gives them back to fix.
    Each record created or changed gets its audit entries, field by field, naming the file
    (`source`) it came from."""
    with transaction.atomic():
        plan = plan_import(kind_key, fileobj, mapping, by=by)
        if plan.errors and not (leave_bad and plan.good):
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


def rows_to_fix(plan: Plan, fileobj: IO[bytes]) -> int:
    """The refused rows as the file had them, its columns plus one saying what to fix: the
    person corrects them and imports this file again. Returns the number of rows."""
    reason = _("À corriger")
    columns = [
        Column(header or f"{index + 1}", _cell(index), width=24)
        for index, header in enumerate(plan.headers)
    ]
    columns.append(
        Column(
            reason,
            lambda bad: " ; ".join(f"{column} : {why}" for column, why in bad.reasons),
            width=80,
        )
    )
    return write_xlsx(plan.bad_rows, columns, fileobj, sheet_title=_("Lignes à corriger"))


def _cell(index: int) -> Any:
    def read(bad: BadRow) -> str:
        value = bad.cells[index] if index < len(bad.cells) else None
        return "" if value is None else _as_text(value)

    return read


def rows_to_fix_name(original: str) -> str:
    stem = original.rsplit(".", 1)[0]
    return _("%(name)s-lignes-a-corriger.xlsx") % {"name": stem}
