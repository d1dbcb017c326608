"""Cell parsers of the imports: a cell's value to a field's, or a `CellError` that says why.

A parser is built once per import (when the kind lists its targets) and called for every
cell; what it needs to know (a choice's labels in every language) is worked out once, on its
first cell, never per cell.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils import translation
from django.utils.translation import gettext as _

from crm.models import fold


class CellError(ValueError):
    """One cell is wrong; the message says why."""


def text(max_length: int) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if isinstance(value, datetime.datetime | datetime.date):
            value = value.isoformat()
        cleaned = " ".join(str(value).split()) if not isinstance(value, str) else value.strip()
        if len(cleaned) > max_length:
            raise CellError(_("Trop long : %(max)s caractères au plus.") % {"max": max_length})
        return cleaned

    return parse


class Choice:
    """A value of `choices`, given as its code or its label, in French or English.

    The table of names (each code and label, folded, in both languages) is built on the first
    cell and kept: translating every label for every cell would cost more than the import.
    """

    def __init__(self, choices: list[tuple[str, Any]]) -> None:
        self.choices = choices
        self._names: dict[str, str] | None = None
        self.tables_built = 0  # how many times the table was built: once per import

    def names(self) -> dict[str, str]:
        if self._names is None:
            names: dict[str, str] = {}
            for code, label in self.choices:
                names.setdefault(fold(code), code)
                names.setdefault(fold(str(label)), code)
                for language in ("fr", "en"):
                    with translation.override(language):
                        names.setdefault(fold(str(label)), code)
            self._names = names
            self.tables_built += 1
        return self._names

    def __call__(self, value: Any) -> str:
        code = self.names().get(fold(str(value)))
        if code is not None:
            return code
        allowed = ", ".join(str(label) for _code, label in self.choices)
        raise CellError(
            _("Valeur inconnue. Valeurs possibles : %(allowed)s.") % {"allowed": allowed}
        )


def choice(choices: list[tuple[str, Any]]) -> Choice:
    """The parser of a choice field: `choice(Organisation.Kind.choices)`."""
    return Choice(choices)


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
