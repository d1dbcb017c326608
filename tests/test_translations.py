"""The English catalogue covers every French UI string, and the committed .mo matches it."""

from __future__ import annotations

import ast
import gettext
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "locale/en/LC_MESSAGES/django.po"
MO = ROOT / "locale/en/LC_MESSAGES/django.mo"


def entries() -> list[dict[str, str]]:
    """A small .po reader: enough for msgid, msgid_plural, msgstr and msgstr[n]."""
    found: list[dict[str, str]] = []
    current: dict[str, str] = {}
    key = ""
    fuzzy = False
    for line in PO.read_text(encoding="utf-8").splitlines():
        if line.startswith("#,") and "fuzzy" in line:
            fuzzy = True
        if line.startswith("#") or not line.strip():
            continue
        if line.startswith('"'):
            current[key] += ast.literal_eval(line)
            continue
        key, _, value = line.partition(" ")
        if key == "msgid":
            if current:
                found.append(current)
            current = {"fuzzy": "yes"} if fuzzy else {}
            fuzzy = False
        current[key] = ast.literal_eval(value)
    found.append(current)
    return [entry for entry in found if entry.get("msgid")]


def test_every_string_is_translated() -> None:
    # A fuzzy entry is gettext's guess from a similar string: never shown, often wrong.
    untranslated = [
        entry["msgid"]
        for entry in entries()
        if not (entry.get("msgstr") or entry.get("msgstr[0]")) or entry.get("fuzzy")
    ]

    assert untranslated == []


def test_the_compiled_catalogue_is_up_to_date() -> None:
    catalogue = gettext.GNUTranslations(MO.open("rb"))

    stale = [
        entry["msgid"]
        for entry in entries()
        if "msgstr" in entry and catalogue.gettext(entry["msgid"]) != entry["msgstr"]
    ]

    assert stale == []
