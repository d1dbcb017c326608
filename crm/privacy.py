"""Privacy (CNIL, DESIGN §6; RGPD art. 15, 17 and 21): where Carreau holds one person's data,
what erasing them blanks and what it keeps, and why.

A person is named far beyond their contact record: in the audit trail of the leads and projects
that listed them (under every name they had), in the admin's own log, in what the team wrote
about them elsewhere (an organisation's notes, a lead's notes, exchanges with a colleague), in
issued specifications, in an import waiting to be applied, in the login log when someone typed
their e-mail address as a username. This module finds all of it, once, for the three uses:

- `erasure_plan(contact)`: what "effacer" will blank, what it will keep and why, and the
  mentions of the last name alone that staff must judge; the page shows it before anything
  runs, `crm.actions.anonymise_contact` carries it out and stores its `report()` in the log.
- `personal_data(contact)`: everything for the right of access, each row with why Carreau
  keeps it; the JSON and the workbook are two renderings of one dictionary.
- `find_mentions(identity)`: the text columns of every record (other than the person's own,
  which erasure blanks whole) that name them.

Text is searched for every full name the person had (both orders), every e-mail address and
phone number: those are redacted to "Contact anonymisé n°<id>". The last name alone may be
someone else's: it is listed, and staff choose. Matching ignores case; accents must match (a
database `LIKE` preselects the rows, and SQLite folds ASCII letters only).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from operator import itemgetter
from typing import IO, Any

from django.apps import apps
from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.files.storage import default_storage
from django.db import models
from django.db.models import Q
from django.http import FileResponse, HttpResponse
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.http import content_disposition_header
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from crm.audit import as_text
from crm.backends import login_log_models
from crm.exports import Column, Sheet, workbook_response
from crm.models import AuditEntry, Contact, Organisation, User, fold

# An issued specification of the projects app (`SpecificationVersion`), looked up by name
# (`apps.get_model`): the base app imports nothing from the apps built on it, not even for its
# annotations, so it is typed loosely here.
IssuedVersion = Any

CONTACT_FIELDS = (
    "first_name",
    "last_name",
    "role",
    "email",
    "phone",
    "legal_basis",
    "consent_given_at",
    "objected_at",
    "notes",
    "last_interaction_at",
    "anonymised_at",
    "created_at",
    "updated_at",
)

# The contact's own fields that identify them: erasure blanks them, and their old and new
# values in the record's history.
PERSONAL_FIELDS = ("first_name", "last_name", "role", "email", "phone", "notes")

# Shorter names are not searched on their own ("Li" is in every other word).
MIN_TERM = 3

# The apps whose records may name a person in their text, and the admin's log.
SEARCHED_APPS = ("crm", "projects", "prospects")
# Records whose text is never rewritten: login accounts are people of the team (or a holder's
# own login), listed apart; a mapping holds column headers; a calendar token, a secret.
UNSEARCHED_MODELS = {"crm.user", "crm.importmapping", "prospects.calendartoken"}
# Columns that hold codes, not words about anyone.
UNSEARCHED_FIELDS = {
    "siret",
    "postcode",
    "country",
    "sha256",
    "content_type",
    "reference",
    "record_type",
    "field",
    "field_label",
    "token",
    "object_id",
}
# Another contact's name, e-mail and phone are theirs, not mentions of the person: only what
# is written about them is searched. (A duplicate record of the person is listed apart.)
SEARCHED_ONLY = {"crm.contact": {"role", "notes", "search_text"}}
# (model, field): text frozen in an issued document (the snapshot its PDF was rendered from).
# Found and listed as kept, never rewritten: see `KEPT_WHY["specification_version"]`.
FROZEN = {("projects.specificationversion", "content")}


def anonymised_name(contact: Contact) -> str:
    # Stored data, in the source language whatever the language of the request.
    return f"Contact anonymisé n°{contact.pk}"


# Who the person is, in text ------------------------------------------------------------------


def _name_pattern(name: str) -> str:
    # Whole words, and not part of an e-mail address ("jean.martin@..." is no "Martin").
    words = [re.escape(word) for word in name.split()]
    return r"(?<![\w.@-])" + r"\s+".join(words) + r"(?![\w@-]|\.\w)"


def _email_pattern(email: str) -> str:
    return r"(?<![\w.+-])" + re.escape(email) + r"(?![\w-])"


def _phone_pattern(digits: str) -> str:
    separator = r"[\s.\-]?"
    if digits.startswith("0"):
        head = r"(?:0|\+33" + separator + r"(?:\(0\)" + separator + r")?)"
        digits = digits[1:]
    else:
        head = ""
    return r"(?<![\d+])" + head + separator.join(digits) + r"(?!\d)"


def _digits(phone: str) -> str:
    return "".join(char for char in phone if char.isdigit())


def _compile(patterns: list[str]) -> re.Pattern[str] | None:
    return re.compile("|".join(patterns), re.IGNORECASE) if patterns else None


def _longest_first(texts: Iterable[str]) -> list[str]:
    return sorted(texts, key=lambda text: (-len(text), text))


@dataclass(frozen=True)
class Identity:
    """What names the person in text: every first and last name, e-mail and phone number
    their record has had, from its history and the admin's log.

    Her full names that nobody else in Carreau bears, her e-mails and phones name her for
    sure: erasure redacts them. A full name another contact or user also bears, and her last
    name alone, may be someone else: erasure asks. Other people's full names with her last
    name ("Pierre Martin" for "Jeanne Martin") are theirs, and never count as hers."""

    contact_id: int
    label: str
    first_names: tuple[str, ...] = ()
    last_names: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    shared_names: tuple[str, ...] = ()
    others: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not (self.names or self.shared_names or self.emails or self.phones)

    @property
    def surnames(self) -> tuple[str, ...]:
        """Last names that are not a whole name by themselves (the contact has a first name)."""
        whole = {name.casefold() for name in (*self.names, *self.shared_names)}
        return tuple(
            last
            for last in self.last_names
            if len(last) >= MIN_TERM and last.casefold() not in whole
        )

    def _prepared(self, texts: Iterable[str], folded: bool) -> list[str]:
        return _longest_first(fold(text) if folded else text for text in texts)

    def _full(self, folded: bool) -> re.Pattern[str] | None:
        patterns = [_name_pattern(name) for name in self._prepared(self.names, folded)]
        patterns += [_email_pattern(email) for email in self._prepared(self.emails, folded)]
        patterns += [_phone_pattern(_digits(phone)) for phone in self.phones]
        return _compile(patterns)

    @cached_property
    def full(self) -> re.Pattern[str] | None:
        """Her own full names, e-mails and phones: what erasure redacts without asking."""
        return self._full(False)

    @cached_property
    def full_folded(self) -> re.Pattern[str] | None:
        """The same, for the folded `search_text` columns."""
        return self._full(True)

    def _ask(self, folded: bool) -> re.Pattern[str] | None:
        texts = self._prepared((*self.shared_names, *self.surnames), folded)
        return _compile([_name_pattern(text) for text in texts])

    @cached_property
    def ask(self) -> re.Pattern[str] | None:
        """A full name someone else bears too, or her last name alone: staff decide."""
        return self._ask(False)

    @cached_property
    def ask_folded(self) -> re.Pattern[str] | None:
        return self._ask(True)

    def _others(self, folded: bool) -> re.Pattern[str] | None:
        return _compile([_name_pattern(name) for name in self._prepared(self.others, folded)])

    @cached_property
    def other(self) -> re.Pattern[str] | None:
        return self._others(False)

    @cached_property
    def other_folded(self) -> re.Pattern[str] | None:
        return self._others(True)

    def _asked(self, text: str, folded: bool, change: Callable[[re.Pattern[str], str], str]) -> str:
        """`change(ask, text)` with other people's full names set aside meanwhile."""
        ask = self.ask_folded if folded else self.ask
        if ask is None:
            return text
        other = self.other_folded if folded else self.other
        kept: list[str] = []
        if other is not None:

            def aside(match: re.Match[str]) -> str:
                kept.append(match.group(0))
                return f"\x00{len(kept) - 1}\x00"

            text = other.sub(aside, text)
        text = change(ask, text)
        return re.sub("\x00(\\d+)\x00", lambda match: kept[int(match.group(1))], text)

    def names_person(self, text: str, *, folded: bool = False) -> bool:
        pattern = self.full_folded if folded else self.full
        return bool(pattern and pattern.search(text))

    def names_maybe(self, text: str, *, folded: bool = False) -> bool:
        """Whether `text`, once her own names are redacted, still holds a name staff must
        judge (her last name alone, or a full name someone else bears too)."""
        found: list[bool] = []

        def look(ask: re.Pattern[str], rest: str) -> str:
            found.append(bool(ask.search(rest)))
            return rest

        self._asked(self.redact(text, folded=folded), folded, look)
        return any(found)

    def redact(self, text: str, *, folded: bool = False, surname: bool = False) -> str:
        """`text` with her own full names, e-mails and phones (and, with `surname`, the names
        staff judged to be hers) replaced by her anonymised label."""
        label = fold(self.label) if folded else self.label
        full = self.full_folded if folded else self.full
        if full is not None:
            text = full.sub(label, text)
        if surname:
            text = self._asked(text, folded, lambda ask, rest: ask.sub(label, rest))
        return text

    def first_match(self, text: str) -> re.Match[str] | None:
        for pattern in (self.ask, self.full):
            match = pattern.search(text) if pattern else None
            if match:
                return match
        return None

    def search_terms(self) -> list[str]:
        """What a database `LIKE` preselects rows on: each last name (a full name contains
        it), whole names whose last name is too short, e-mails and phones as typed and as
        digits, plus their JSON-escaped forms (the admin's log and JSON columns store
        "\\u00e9" for "é")."""
        surnames = self.surnames
        terms = set(surnames) | set(self.emails)
        terms |= {
            name
            for name in (*self.names, *self.shared_names)
            if not any(surname in name for surname in surnames)
        }
        terms |= set(self.phones) | {_digits(phone) for phone in self.phones}
        terms |= {json.dumps(term)[1:-1] for term in list(terms)}
        return sorted(term for term in terms if len(term) >= MIN_TERM)

    def folded_terms(self) -> list[str]:
        return sorted({fold(term) for term in self.search_terms() if "\\u" not in term})

    def names_row(self, cells: Iterable[Any]) -> bool:
        """Whether a spreadsheet row names the person: a cell holds a full name, an e-mail or
        a phone, or one cell holds a first name and another a last name of theirs."""
        texts = [str(cell).strip() for cell in cells if cell not in (None, "")]
        if any(self.names_person(text) for text in texts):
            return True
        values = {text.casefold() for text in texts}
        firsts = {name.casefold() for name in self.first_names}
        lasts = {name.casefold() for name in self.last_names}
        return bool(values & firsts) and bool(values & lasts)


def _full_names(first: str, last: str) -> set[str]:
    if not first:
        return {last} if last else set()
    return {f"{first} {last}", f"{last} {first}"} if last else set()


def identity_of(contact: Contact) -> Identity:
    """The person's names, e-mails and phones, current and past, and the full names of the
    other people in Carreau who share a last name of hers (a fixed number of queries).

    An anonymised contact has none left: its history holds no personal value any more."""
    label = anonymised_name(contact)
    if contact.anonymised_at is not None:
        return Identity(contact.pk, label)
    values: dict[str, set[str]] = {
        name: {getattr(contact, name)} for name in ("first_name", "last_name", "email", "phone")
    }
    history = AuditEntry.objects.filter(
        record_type=Contact._meta.label_lower, record_id=contact.pk, field__in=list(values)
    ).values_list("field", "action", "old_value", "new_value")
    for name, action, old, new in history:
        # A creation's "old value" is no value the record had.
        values[name] |= {old, new} if action != AuditEntry.Action.CREATED else {new}
    reprs = LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Contact), object_id=str(contact.pk)
    ).values_list("object_repr", flat=True)

    def kept(texts: Iterable[str]) -> tuple[str, ...]:
        cleaned = {" ".join(text.split()) for text in texts if text and text != label}
        return tuple(sorted(text for text in cleaned if len(text) >= MIN_TERM or text.isalpha()))

    firsts, lasts = kept(values["first_name"]), kept(values["last_name"])
    names = {name for first in firsts for last in lasts for name in _full_names(first, last)}
    if "" in values["first_name"]:
        # Without a first name, the last name was the whole name others saw.
        names |= set(lasts)
    names |= set(reprs)
    names = {name for name in kept(names) if len(name) >= MIN_TERM}
    others: set[str] = set()
    if lasts:
        same_last = Q()
        for last in lasts:
            same_last |= Q(last_name__iexact=last)
        people = list(
            Contact.objects.filter(same_last, anonymised_at__isnull=True)
            .exclude(pk=contact.pk)
            .values_list("first_name", "last_name")
        )
        people += list(User.objects.filter(same_last).values_list("first_name", "last_name"))
        # Only whole names: someone recorded as "Martin" alone says nothing of who a
        # "Mme Martin" is.
        others = {
            " ".join(name.split())
            for first, last in people
            if first
            for name in _full_names(first, last)
        }
    folded_others = {name.casefold() for name in others}
    shared = {name for name in names if name.casefold() in folded_others}
    mine = {name.casefold() for name in names}
    return Identity(
        contact_id=contact.pk,
        label=label,
        first_names=firsts,
        last_names=lasts,
        names=tuple(sorted(names - shared)),
        shared_names=tuple(sorted(shared)),
        others=tuple(sorted(name for name in others if name.casefold() not in mine)),
        emails=tuple(email.lower() for email in kept(values["email"]) if "@" in email),
        phones=tuple(phone for phone in kept(values["phone"]) if len(_digits(phone)) >= 6),
    )


# Mentions in other records -------------------------------------------------------------------


def _text_fields(model: type[models.Model]) -> list[models.Field[Any, Any]]:
    only = SEARCHED_ONLY.get(model._meta.label_lower)
    return [
        field
        for field in model._meta.concrete_fields
        if isinstance(field, models.CharField | models.TextField | models.JSONField)
        and not isinstance(field, models.SlugField)
        and not field.choices
        and not field.primary_key
        and field.name not in UNSEARCHED_FIELDS
        and (only is None or field.name in only)
    ]


def searched_models() -> list[tuple[type[models.Model], list[models.Field[Any, Any]]]]:
    """Every model that may name a person in its text, with those text columns."""
    found = [
        model
        for label in SEARCHED_APPS
        for model in apps.get_app_config(label).get_models()
        if model._meta.label_lower not in UNSEARCHED_MODELS
    ]
    found.append(LogEntry)
    return [(model, fields) for model in found if (fields := _text_fields(model))]


def _own_rows(model: type[models.Model], contact: Contact) -> Q | None:
    """The rows erasure blanks whole rather than searches: the contact itself, the summaries of
    its own exchanges, the personal values of its own history."""
    label = model._meta.label_lower
    if label == "crm.contact":
        return Q(pk=contact.pk)
    if label == "crm.interaction":
        return Q(contact=contact)
    if label == "crm.auditentry":
        return Q(
            record_type=Contact._meta.label_lower,
            record_id=contact.pk,
            field__in=PERSONAL_FIELDS,
        )
    return None


def _is_json_text(model: type[models.Model], field: models.Field[Any, Any]) -> bool:
    # Django's admin stores its change messages as JSON in a text column.
    return model is LogEntry and field.name == "change_message"


def _walk_strings(value: Any, change: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return change(value)
    if isinstance(value, list):
        return [_walk_strings(item, change) for item in value]
    if isinstance(value, dict):
        return {key: _walk_strings(item, change) for key, item in value.items()}
    return value


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)


@dataclass
class Mention:
    """One text column of one record that names the person."""

    record: models.Model
    field: models.Field[Any, Any]
    full: bool  # one of her own full names, e-mails or phones: redacted by erasure
    surname: bool  # a name that may be someone else's (her last name alone...): staff decide

    @property
    def key(self) -> str:
        return f"{self.record._meta.label_lower}:{self.record.pk}:{self.field.name}"

    @property
    def model_label(self) -> str:
        return self.record._meta.label_lower

    @property
    def frozen(self) -> bool:
        return (self.model_label, self.field.name) in FROZEN

    @property
    def text(self) -> str:
        value = getattr(self.record, self.field.attname)
        if isinstance(value, dict | list):
            return json.dumps(value, ensure_ascii=False)
        return value or ""

    def excerpt(self, identity: Identity, width: int = 60) -> str:
        """The text around the first mention, for the page that asks staff to judge it."""
        text = self.text
        match = identity.first_match(text)
        if match is None:
            return text[: 2 * width]
        start, end = max(0, match.start() - width), match.end() + width
        return ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")


def _check(
    record: models.Model, field: models.Field[Any, Any], identity: Identity, *, json_text: bool
) -> Mention | None:
    value = getattr(record, field.attname)
    if value in (None, "", {}, []):
        return None
    folded = field.name == "search_text"
    if isinstance(field, models.JSONField) or json_text:
        if json_text:
            try:
                value = json.loads(value)
            except ValueError:
                value = [value]
        texts = list(_strings(value))
    else:
        texts = [value]
    full = any(identity.names_person(text, folded=folded) for text in texts)
    surname = any(identity.names_maybe(text, folded=folded) for text in texts)
    if not (full or surname):
        return None
    return Mention(record=record, field=field, full=full, surname=surname)


def find_mentions(identity: Identity, contact: Contact) -> list[Mention]:
    """Every text column of every record that names the person, outside what erasure blanks
    whole (the contact itself, its own exchanges and history). One query per model."""
    if identity.is_empty:
        return []
    terms, folded_terms = identity.search_terms(), identity.folded_terms()
    mentions: list[Mention] = []
    for model, fields in searched_models():
        query = Q()
        for text_field in fields:
            for term in folded_terms if text_field.name == "search_text" else terms:
                query |= Q(**{f"{text_field.name}__icontains": term})
        rows = model._base_manager.filter(query)
        own = _own_rows(model, contact)
        if own is not None:
            rows = rows.exclude(own)
        for record in rows.order_by("pk"):
            for text_field in fields:
                found = _check(
                    record, text_field, identity, json_text=_is_json_text(model, text_field)
                )
                if found is not None:
                    mentions.append(found)
    return mentions


def redact_mentions(
    mentions: Iterable[Mention], identity: Identity, *, surnames: Collection[str] = ()
) -> list[Mention]:
    """Rewrite each mention's text: full names, e-mails and phones always, the last name alone
    where its key is in `surnames`. Frozen text is left as it is. An e-mail column that named
    the person is emptied (the label is no address). Records with an edit counter (`version`,
    `revision`) have it moved on, so a form opened before cannot write the name back.
    Returns the mentions rewritten."""
    done: list[Mention] = []
    by_record: dict[tuple[type[models.Model], Any], dict[str, Any]] = {}
    for mention in mentions:
        with_surname = mention.key in surnames
        if mention.frozen or not (mention.full or (mention.surname and with_surname)):
            continue
        model, field = type(mention.record), mention.field
        folded = field.name == "search_text"

        def change(text: str, *, folded: bool = folded, with_surname: bool = with_surname) -> str:
            return identity.redact(text, folded=folded, surname=with_surname)

        value = getattr(mention.record, field.attname)
        if _is_json_text(model, field):
            try:
                new: Any = json.dumps(_walk_strings(json.loads(value), change))
            except ValueError:
                new = change(value)
        elif isinstance(field, models.JSONField):
            new = _walk_strings(value, change)
        elif isinstance(field, models.EmailField):
            new = ""
        else:
            new = change(value)
            if getattr(field, "max_length", None):
                new = new[: field.max_length]
        by_record.setdefault((model, mention.record.pk), {})[field.attname] = new
        done.append(mention)
    for (model, pk), values in by_record.items():
        names = {field.name for field in model._meta.concrete_fields}
        for counter in ("version", "revision"):
            if counter in names:
                values[counter] = models.F(counter) + 1
        model._base_manager.filter(pk=pk).update(**values)
    return done


# What names the person outside the database rows --------------------------------------------


@dataclass(frozen=True)
class StagedFile:
    """An import's uploaded workbook, waiting under `imports/` to be applied or purged."""

    name: str
    modified: datetime


def staged_import_files(identity: Identity) -> list[StagedFile]:
    """The workbooks of imports in progress (or abandoned) that name the person. Each is read
    with the import's own checks (zip bounds, unsized sheets); an unreadable one is skipped,
    as the import itself would refuse it."""
    from crm.imports import STAGING_FOLDER, ImportFileError
    from crm.uploads import stale_files

    if identity.is_empty:
        return []
    found = []
    everything = timezone.now() + timedelta(days=1)
    for name in stale_files(default_storage, STAGING_FOLDER, older_than=everything):
        try:
            with default_storage.open(name, "rb") as stored:
                names = _workbook_names(stored, identity)
        except (ImportFileError, OSError):
            continue
        if names:
            found.append(StagedFile(name, default_storage.get_modified_time(name)))
    return found


def _workbook_names(stored: IO[bytes], identity: Identity) -> bool:
    from crm.workbooks import open_workbook

    workbook = open_workbook(stored)
    try:
        return any(
            identity.names_row(cells)
            for sheet in workbook.worksheets
            for cells in sheet.iter_rows(values_only=True)
        )
    finally:
        workbook.close()


def login_attempts(identity: Identity) -> list[Any]:
    """The login log's rows whose username was one of the person's e-mail addresses."""
    if not identity.emails:
        return []
    query = Q()
    for email in identity.emails:
        query |= Q(username__iexact=email)
    rows: list[Any] = []
    for model in login_log_models():
        rows += list(model.objects.filter(query).order_by("attempt_time", "pk"))
    return sorted(rows, key=lambda row: row.attempt_time)


def login_log_purged_by(attempt_time: datetime) -> datetime:
    """When `manage.py purge_login_log` deletes a row written at `attempt_time`."""
    return attempt_time + timedelta(days=settings.LOGIN_LOG_RETENTION_DAYS)


def accounts_of(identity: Identity) -> list[User]:
    """Login accounts whose e-mail or username is one of the person's addresses."""
    if not identity.emails:
        return []
    query = Q()
    for email in identity.emails:
        query |= Q(email__iexact=email) | Q(username__iexact=email)
    return list(User.objects.filter(query).order_by("pk"))


def duplicates_of(identity: Identity, contact: Contact) -> list[Contact]:
    """Other contact records with one of her e-mail addresses or full names: perhaps the same
    person recorded twice (at another organisation), perhaps a namesake. They are theirs to
    erase, each on its own: erasure lists them and changes none."""
    if identity.is_empty:
        return []
    query = Q()
    for email in identity.emails:
        query |= Q(email__iexact=email)
    for first in identity.first_names:
        for last in identity.last_names:
            query |= Q(first_name__iexact=first, last_name__iexact=last)
    if not query:
        return []
    return list(
        Contact.objects.filter(query, anonymised_at__isnull=True)
        .exclude(pk=contact.pk)
        .order_by("pk")
    )


def specification_versions(identity: Identity, contact: Contact) -> list[IssuedVersion]:
    """Issued specifications whose frozen snapshot names the person: those of the projects
    their organisation holds or they are the holder contact of, and any other whose text
    contains one of their names."""
    version_model: type[IssuedVersion] = apps.get_model("projects", "SpecificationVersion")
    if identity.is_empty:
        return []
    query = Q(specification__project__holder_id=contact.organisation_id) | Q(
        specification__project__holder_contact=contact
    )
    for term in identity.search_terms():
        query |= Q(content__icontains=term)
    versions = version_model.objects.filter(query).select_related("specification__project")

    def names_her(version: IssuedVersion) -> bool:
        texts = list(_strings(version.content))
        if any(identity.names_person(text) for text in texts):
            return True
        # On her organisation's project, a name she shares with someone else is hers.
        ours = version.specification.project.holder_id == contact.organisation_id
        return ours and any(identity.names_maybe(text) for text in texts)

    return [
        version
        for version in versions.order_by("specification__project__reference", "number")
        if names_her(version)
    ]


def downloads_of(contact: Contact) -> list[AuditEntry]:
    """Exports that may hold the person, as the log records them: theirs, and the contact
    lists exported since their record exists. Carreau keeps no copy of either."""
    return list(
        AuditEntry.objects.filter(action=AuditEntry.Action.EXPORTED, record_type="crm.contact")
        .filter(Q(record_id=contact.pk) | Q(record_id__isnull=True, at__gte=contact.created_at))
        .select_related("by")
        .order_by("at", "pk")
    )


# Labels that say which record, without saying who -------------------------------------------


def _parent(record: models.Model) -> models.Model | None:
    """The project, lead or site a dependent record belongs to (a milestone, a transition...)."""
    for name in ("project", "lead", "site", "specification", "deliverable"):
        if getattr(record, f"{name}_id", None):
            parent: models.Model = getattr(record, name)
            if name in ("specification", "deliverable"):
                return _parent(parent) or parent
            return parent
    return None


def relates_to(record: models.Model | None, organisation_id: int, depth: int = 0) -> bool:
    """Whether `record` is about the organisation (its own record, its contacts, exchanges,
    leads, projects, their logs): there, her last name alone most likely means her, and the
    erasure page proposes to redact it."""
    if record is None or depth > 3:
        return False
    if isinstance(record, Organisation):
        return record.pk == organisation_id
    if organisation_id in (
        getattr(record, "organisation_id", None),
        getattr(record, "holder_id", None),
    ):
        return True
    if isinstance(record, AuditEntry):
        return relates_to(audited_record(record), organisation_id, depth + 1)
    if isinstance(record, LogEntry):
        try:
            edited = record.get_edited_object()
        except (models.ObjectDoesNotExist, AttributeError, LookupError):
            return False
        return relates_to(edited, organisation_id, depth + 1)
    return relates_to(_parent(record), organisation_id, depth + 1)


def audited_record(entry: AuditEntry) -> models.Model | None:
    try:
        model = apps.get_model(entry.record_type)
    except (LookupError, ValueError):
        return None
    return model._base_manager.filter(pk=entry.record_id).first() if entry.record_id else None


def record_label(record: models.Model) -> str:
    """Which record, never whose: "Piste PI-2026-0007", "Interaction n°45 (Projet
    DS-2026-014)". Labels go into the erasure's log, which must not name the person."""
    meta = record._meta
    if isinstance(record, AuditEntry):
        target = audited_record(record)
        if target is not None:
            inner = record_label(target)
        elif record.record_id is None:  # an event on a whole list (an export)
            inner = _list_label(record.record_type)
        else:
            inner = f"{record.record_type} n°{record.record_id}"
        return gettext("Journal des modifications : %(record)s") % {"record": inner}
    if isinstance(record, LogEntry):
        return gettext("Journal de l'administration, entrée n°%(pk)s") % {"pk": record.pk}
    reference = getattr(record, "reference", "")
    if reference:
        return f"{str(meta.verbose_name).capitalize()} {reference}"
    parent = _parent(record)
    own = f"{str(meta.verbose_name).capitalize()} n°{record.pk}"
    return f"{own} ({record_label(parent)})" if parent else own


def _list_label(record_type: str) -> str:
    try:
        model = apps.get_model(record_type)
    except (LookupError, ValueError):
        return record_type
    return gettext("liste des %(records)s") % {"records": model._meta.verbose_name_plural}


def record_url(record: models.Model) -> str:
    if isinstance(record, AuditEntry):
        target = audited_record(record)
        return f"{record_url(target)}#audit" if target else ""
    if isinstance(record, LogEntry):
        return ""
    if hasattr(record, "get_absolute_url"):
        return str(record.get_absolute_url())
    if getattr(record, "organisation_id", None) and hasattr(record, "summary"):
        # An exchange (an interaction): it is shown on its organisation's timeline.
        return f"{record.organisation.get_absolute_url()}#timeline"  # type: ignore[attr-defined]
    parent = _parent(record)
    return record_url(parent) if parent else ""


# The plan of an erasure ----------------------------------------------------------------------

# Why each kind of kept place stays, in the words the page, the report and the export show.
KEPT_WHY = {
    "figures": _(
        "Les chiffres de la mission (comptes d'interactions, pistes, projets, investissements) "
        "ne doivent pas bouger ; plus rien n'y identifie la personne."
    ),
    "specification_version": _(
        "Document contractuel émis et figé (PDF et empreinte SHA-256) : gardé tel quel comme "
        "preuve de l'engagement pris avec le porteur (RGPD art. 17.3 e)."
    ),
    "login_log": _(
        "Journal des connexions, tenu pour la sécurité du service (RGPD art. 32) : supprimé "
        "au bout de %(days)s jours par manage.py purge_login_log."
    ),
    "account": _(
        "Un compte de connexion porte cette adresse : c'est un accès à Carreau, pas une fiche "
        "de contact ; désactivez-le ou supprimez-le dans l'administration si la personne le "
        "demande."
    ),
    "download": _(
        "Carreau ne garde aucune copie d'un export, mais ces téléchargements ont pu la "
        "contenir : ils sont hors de sa portée, prévenez les personnes qui les ont faits."
    ),
    "duplicate": _(
        "Peut-être la même personne, enregistrée une autre fois, ou un homonyme : chaque fiche "
        "s'efface sur sa propre page, si c'est bien elle."
    ),
    "surname_kept": _(
        "Son nom de famille seul : l'équipe a jugé qu'il désigne quelqu'un d'autre, ou ne l'a "
        "pas encore relu (anonymisation automatique). À relire."
    ),
    "log": _(
        "Le journal de ses exports, de son opposition et de cet effacement (qui, quand, sans "
        "valeur personnelle) : preuve du respect de ses droits (RGPD art. 5.2)."
    ),
}


@dataclass
class ErasurePlan:
    """What erasing the person will do, found before anything changes (a fixed number of
    queries, one per searched model)."""

    contact: Contact
    identity: Identity
    interactions: int
    own_history: int
    mentions: list[Mention]
    versions: list[IssuedVersion]
    import_files: list[StagedFile]
    # django-axes' log rows: the library ships no types.
    attempts: list[Any]
    accounts: list[User]
    downloads: list[AuditEntry]
    duplicates: list[Contact] = field(default_factory=list)
    redacted_surnames: set[str] = field(default_factory=set)

    @property
    def redacted(self) -> list[Mention]:
        """The mentions erasure rewrites (full names; last names alone staff chose)."""
        return [
            mention
            for mention in self.mentions
            if not mention.frozen
            and (mention.full or (mention.surname and mention.key in self.redacted_surnames))
        ]

    @property
    def to_judge(self) -> list[Mention]:
        """Mentions that may be someone else (her last name alone, a full name another person
        bears too): staff judge each one; the command leaves them, listed."""
        return [
            m for m in self.mentions if m.surname and not m.frozen and m.field.name != "search_text"
        ]

    @property
    def surnames_left(self) -> list[Mention]:
        return [m for m in self.to_judge if m.key not in self.redacted_surnames]

    def report(self) -> dict[str, Any]:
        """The plan as plain values for the erasure's log row: which records, never what they
        said about the person. Labels are stored in French, the source language, as every
        stored text is."""
        with translation.override(settings.LANGUAGE_CODE):
            return self._report()

    def _report(self) -> dict[str, Any]:

        def places(mentions: Iterable[Mention]) -> list[dict[str, Any]]:
            seen: dict[str, dict[str, Any]] = {}
            for mention in mentions:
                key = f"{mention.model_label}:{mention.record.pk}"
                place = seen.setdefault(
                    key,
                    {
                        "record": record_label(mention.record),
                        "url": record_url(mention.record),
                        "model": mention.model_label,
                        "id": mention.record.pk,
                        "fields": [],
                    },
                )
                label = str(mention.field.verbose_name)
                if label not in place["fields"]:
                    place["fields"].append(label)
            return list(seen.values())

        texts = [m for m in self.redacted if m.model_label not in ("crm.auditentry",)]
        texts = [m for m in texts if not isinstance(m.record, LogEntry)]
        history = [m for m in self.redacted if m.model_label == "crm.auditentry"]
        admin = [m for m in self.redacted if isinstance(m.record, LogEntry)]
        last = max((row.attempt_time for row in self.attempts), default=None)
        return {
            "blanked": {
                "contact": 1,
                "interactions": self.interactions,
                "own_history": self.own_history,
                "texts": places(texts),
                "history": len({m.record.pk for m in history}),
                "admin_log": len({m.record.pk for m in admin}),
                "surnames": len(
                    [key for key in self.redacted_surnames if not key.endswith(":search_text")]
                ),
                "import_files": len(self.import_files),
            },
            "kept": {
                "specification_versions": [
                    {
                        "record": f"{v.specification.project.reference} v{v.number}",
                        "url": v.specification.project.get_absolute_url() + "#specification",
                        "model": v._meta.label_lower,
                        "id": v.pk,
                    }
                    for v in self.versions
                ],
                "login_log": len(self.attempts),
                "login_log_until": as_text(login_log_purged_by(last)) if last else "",
                "accounts": [
                    {
                        "record": f"Compte n°{user.pk}",
                        "url": reverse("admin:crm_user_change", args=[user.pk]),
                        "model": user._meta.label_lower,
                        "id": user.pk,
                    }
                    for user in self.accounts
                ],
                "downloads": len(self.downloads),
                "duplicates": [
                    {
                        "record": f"Contact n°{other.pk}",
                        "url": other.get_absolute_url(),
                        "model": other._meta.label_lower,
                        "id": other.pk,
                    }
                    for other in self.duplicates
                ],
                "surnames": places(self.surnames_left),
            },
        }


def erasure_plan(contact: Contact, *, redacted_surnames: Collection[str] = ()) -> ErasurePlan:
    """Everything that names the person, sorted into what erasure blanks and what it keeps.
    `redacted_surnames`: keys of the last-name-alone mentions staff chose to redact."""
    identity = identity_of(contact)
    own_history = AuditEntry.objects.filter(
        record_type=Contact._meta.label_lower, record_id=contact.pk, field__in=PERSONAL_FIELDS
    ).count()
    mentions = find_mentions(identity, contact)
    plan = ErasurePlan(
        contact=contact,
        identity=identity,
        interactions=contact.interactions.count(),
        own_history=own_history,
        mentions=mentions,
        versions=specification_versions(identity, contact),
        import_files=staged_import_files(identity),
        attempts=login_attempts(identity),
        accounts=accounts_of(identity),
        downloads=downloads_of(contact),
        duplicates=duplicates_of(identity, contact),
    )
    allowed = {mention.key for mention in plan.to_judge}
    chosen = {key for key in redacted_surnames if key in allowed}
    # A record's folded search copy follows what staff chose for the record's own text.
    chosen |= {f"{key.rsplit(':', 1)[0]}:search_text" for key in chosen}
    plan.redacted_surnames = chosen
    return plan


@dataclass(frozen=True)
class ReportLine:
    text: str
    why: str = ""
    places: tuple[dict[str, str], ...] = ()


def report_lines(report: dict[str, Any]) -> dict[str, list[ReportLine]]:
    """An erasure's report (as its log row keeps it) in sentences, in the reader's language."""
    blanked, kept = report.get("blanked", {}), report.get("kept", {})
    done: list[ReportLine] = [
        ReportLine(
            gettext(
                "Sa fiche : prénom et nom (remplacés par « Contact anonymisé »), fonction, "
                "e-mail, téléphone et notes."
            )
        )
    ]
    count = blanked.get("interactions", 0)
    if count:
        done.append(
            ReportLine(
                ngettext(
                    "Le résumé de son interaction.",
                    "Les résumés de ses %(count)s interactions.",
                    count,
                )
                % {"count": count}
            )
        )
    count = blanked.get("own_history", 0)
    if count:
        done.append(
            ReportLine(
                ngettext(
                    "Les valeurs personnelles d'une entrée de l'historique de sa fiche.",
                    "Les valeurs personnelles de %(count)s entrées de l'historique de sa fiche.",
                    count,
                )
                % {"count": count}
            )
        )
    texts = blanked.get("texts", [])
    if texts:
        done.append(
            ReportLine(
                gettext(
                    "Son nom, son e-mail ou son téléphone dans ce que l'équipe a écrit ailleurs, "
                    "remplacés par « Contact anonymisé » :"
                ),
                places=tuple(texts),
            )
        )
    counted: dict[str, Callable[[int], str]] = {
        "history": lambda n: ngettext(
            "Son nom dans une autre entrée des journaux des modifications.",
            "Son nom dans %(count)s autres entrées des journaux des modifications.",
            n,
        ),
        "admin_log": lambda n: ngettext(
            "Son nom dans une entrée du journal de l'administration.",
            "Son nom dans %(count)s entrées du journal de l'administration.",
            n,
        ),
        "surnames": lambda n: ngettext(
            "Son nom de famille seul, à un endroit où l'équipe a choisi de l'effacer.",
            "Son nom de famille seul, à %(count)s endroits où l'équipe a choisi de l'effacer.",
            n,
        ),
        "import_files": lambda n: ngettext(
            "Un fichier d'import en attente qui la nommait, supprimé.",
            "%(count)s fichiers d'import en attente qui la nommaient, supprimés.",
            n,
        ),
    }
    for key, sentence in counted.items():
        count = blanked.get(key, 0)
        if count:
            done.append(ReportLine(sentence(count) % {"count": count}))
    left: list[ReportLine] = [
        ReportLine(
            gettext("La fiche anonymisée, sa base légale, ses dates et ses liens."),
            why=str(KEPT_WHY["figures"]),
        ),
        ReportLine(gettext("Le journal de ses droits."), why=str(KEPT_WHY["log"])),
    ]
    versions = kept.get("specification_versions", [])
    if versions:
        left.append(
            ReportLine(
                gettext("Les cahiers des charges émis qui la nomment :"),
                why=str(KEPT_WHY["specification_version"]),
                places=tuple(versions),
            )
        )
    count = kept.get("login_log", 0)
    if count:
        left.append(
            ReportLine(
                ngettext(
                    "Une tentative de connexion avec son e-mail comme identifiant, jusqu'au "
                    "%(date)s au plus tard.",
                    "%(count)s tentatives de connexion avec son e-mail comme identifiant, "
                    "jusqu'au %(date)s au plus tard.",
                    count,
                )
                % {"count": count, "date": kept.get("login_log_until", "")},
                why=str(KEPT_WHY["login_log"]) % {"days": settings.LOGIN_LOG_RETENTION_DAYS},
            )
        )
    accounts = kept.get("accounts", [])
    if accounts:
        left.append(
            ReportLine(
                gettext("Les comptes de connexion à son adresse :"),
                why=str(KEPT_WHY["account"]),
                places=tuple(accounts),
            )
        )
    count = kept.get("downloads", 0)
    if count:
        left.append(
            ReportLine(
                ngettext(
                    "Un export téléchargé qui a pu la contenir.",
                    "%(count)s exports téléchargés qui ont pu la contenir.",
                    count,
                )
                % {"count": count},
                why=str(KEPT_WHY["download"]),
            )
        )
    duplicates = kept.get("duplicates", [])
    if duplicates:
        left.append(
            ReportLine(
                gettext("D'autres fiches de contact à son e-mail ou à son nom :"),
                why=str(KEPT_WHY["duplicate"]),
                places=tuple(duplicates),
            )
        )
    surnames = kept.get("surnames", [])
    if surnames:
        left.append(
            ReportLine(
                gettext("Son nom de famille seul, laissé dans :"),
                why=str(KEPT_WHY["surname_kept"]),
                places=tuple(surnames),
            )
        )
    return {"blanked": done, "kept": left}


def erasure_report(contact: Contact) -> dict[str, list[ReportLine]] | None:
    """The report of the contact's erasure, from its log row; None if it was never erased
    (or was erased before reports were kept)."""
    entry = (
        AuditEntry.objects.for_record(contact).filter(action=AuditEntry.Action.ANONYMISED).first()
    )
    return report_lines(entry.data) if entry and entry.data else None


# The person's data, for their right of access -------------------------------------------------

WHY = {
    "contact": _("Sa fiche de contact, tenue sur la base légale : %(basis)s."),
    "interactions": _("Les échanges de l'équipe avec elle, sur la même base légale."),
    "leads": _("Une piste de prospection la compte parmi ses contacts."),
    "projects": _("Un projet accompagné l'a pour contact du porteur."),
    "history": _("L'historique de sa fiche : qui a changé quoi, et quand (traçabilité)."),
    "mentions": _(
        "L'équipe l'a nommée dans une autre fiche ; « nom de famille seul » : peut-être "
        "quelqu'un d'autre, à vérifier avant de transmettre."
    ),
    "history_elsewhere": _(
        "Le journal des modifications d'une autre fiche (piste, projet...) la nomme."
    ),
    "admin_log": _("Le journal de l'administration la nomme (modification faite par l'admin)."),
    "specification_versions": KEPT_WHY["specification_version"],
    "login_attempts": KEPT_WHY["login_log"],
    "accounts": KEPT_WHY["account"],
    "import_files": _(
        "Un import en cours ou abandonné contient son nom : le fichier est supprimé à "
        "l'application de l'import, au plus tard par manage.py purge_imports (chaque jour)."
    ),
    "kept_after_erasure": _("Ce que l'effacement a gardé, et pourquoi."),
}


def _why(key: str, **params: Any) -> str:
    text = str(WHY[key])
    return text % params if params else text


def personal_data(contact: Contact) -> dict[str, Any]:
    """Everything stored about the person, each row with why it is kept: their fields, their
    organisation, the exchanges recorded with them, the leads and projects that name them, the
    history of their record, and everything elsewhere that names them (other records' text and
    history, the admin's log, issued specifications, the login log, login accounts, imports in
    progress). A fixed number of queries, one per searched model."""
    basis = contact.get_legal_basis_display()
    fields = {}
    for name in CONTACT_FIELDS:
        model_field = Contact._meta.get_field(name)
        assert isinstance(model_field, models.Field)  # the contact's own fields
        value = (
            getattr(contact, f"get_{name}_display")()
            if model_field.choices
            else getattr(contact, name)
        )
        fields[name] = {
            "label": str(model_field.verbose_name),
            "value": as_text(value),
            "why": _why("contact", basis=basis),
        }
    fields["organisation"] = {
        "label": str(Contact._meta.get_field("organisation").verbose_name),
        "value": contact.organisation.name,
        "why": _why("contact", basis=basis),
    }
    interactions = [
        {
            "date": as_text(interaction.occurred_at),
            "kind": interaction.get_kind_display(),
            "organisation": interaction.organisation.name,
            "author": str(interaction.author),
            "summary": interaction.summary,
            "project": interaction.project.reference if interaction.project else "",
            "lead": interaction.lead.title if interaction.lead else "",
            "why": _why("interactions"),
        }
        for interaction in contact.interactions.select_related(
            "organisation", "author", "project", "lead"
        ).order_by("-occurred_at", "-pk")
    ]
    leads = [
        {
            "title": lead.title,
            "organisation": lead.organisation.name,
            "stage": lead.get_stage_display(),
            "owner": str(lead.owner),
            "why": _why("leads"),
        }
        for lead in contact.leads.select_related("organisation", "owner").order_by("pk")
    ]
    projects = [
        {
            "reference": project.reference,
            "title": project.title,
            "step": project.get_state_display(),
            "why": _why("projects"),
        }
        for project in contact.projects.order_by("pk")
    ]
    history = [
        {
            "date": as_text(entry.at),
            "action": entry.get_action_display(),
            "field": entry.field_label,
            "old_value": entry.old_value,
            "new_value": entry.new_value,
            "by": str(entry.by) if entry.by else "",
            "why": _why("history"),
        }
        for entry in AuditEntry.objects.for_record(contact)
    ]
    identity = identity_of(contact)
    mentions = find_mentions(identity, contact)
    return {
        "contact": fields,
        "interactions": interactions,
        "leads": leads,
        "projects": projects,
        "history": history,
        **_elsewhere(contact, identity, mentions),
        "exported_at": as_text(timezone.now()),
    }


def _elsewhere(contact: Contact, identity: Identity, mentions: list[Mention]) -> dict[str, Any]:
    """The sections of what names the person outside their own record."""
    texts = [
        {
            "record": record_label(m.record),
            "field": str(m.field.verbose_name),
            "text": m.text,
            "match": gettext("nom complet, e-mail ou téléphone")
            if m.full
            else gettext("nom de famille seul"),
            "why": _why("mentions"),
        }
        for m in mentions
        if not m.frozen
        and m.field.name != "search_text"
        and not isinstance(m.record, AuditEntry | LogEntry)
    ]
    audited = {m.record.pk: m.record for m in mentions if isinstance(m.record, AuditEntry)}
    by_id: dict[int | None, str] = {
        user.pk: str(user)
        for user in User.objects.filter(pk__in={e.by_id for e in audited.values() if e.by_id})
    }
    history_elsewhere = [
        {
            "record": record_label(entry),
            "date": as_text(entry.at),
            "action": entry.get_action_display(),
            "field": entry.field_label,
            "old_value": entry.old_value,
            "new_value": entry.new_value,
            "detail": entry.detail,
            "by": by_id.get(entry.by_id, ""),
            "why": _why("history_elsewhere"),
        }
        for entry in sorted(audited.values(), key=lambda e: (e.at, e.pk))
    ]
    logged = {m.record.pk: m.record for m in mentions if isinstance(m.record, LogEntry)}
    admin_log = [
        {
            "date": as_text(entry.action_time),
            "by": str(entry.user) if entry.user_id else "",
            "object": entry.object_repr,
            "message": entry.get_change_message(),
            "why": _why("admin_log"),
        }
        for entry in LogEntry.objects.filter(pk__in=logged)
        .select_related("user")
        .order_by("action_time", "pk")
    ]
    versions = [
        {
            "project": version.specification.project.reference,
            "version": version.number,
            "issued_at": as_text(version.issued_at),
            "file": version.file.name,
            "sha256": version.sha256,
            "approval": version.get_approval_display(),
            "why": _why("specification_versions"),
        }
        for version in specification_versions(identity, contact)
    ]
    days = settings.LOGIN_LOG_RETENTION_DAYS
    attempts = [
        {
            "date": as_text(row.attempt_time),
            "result": _attempt_result(row),
            "username": row.username or "",
            "ip_address": row.ip_address or "",
            "user_agent": row.user_agent,
            "purged_by": as_text(login_log_purged_by(row.attempt_time)),
            "why": _why("login_attempts", days=days),
        }
        for row in login_attempts(identity)
    ]
    accounts = [
        {
            "username": user.username,
            "name": user.get_full_name(),
            "email": user.email,
            "date_joined": as_text(user.date_joined),
            "last_login": as_text(user.last_login),
            "active": as_text(user.is_active),
            "why": _why("accounts"),
        }
        for user in accounts_of(identity)
    ]
    imports = [
        {"file": staged.name, "modified": as_text(staged.modified), "why": _why("import_files")}
        for staged in staged_import_files(identity)
    ]
    sections: dict[str, Any] = {
        "mentions": texts,
        "history_elsewhere": history_elsewhere,
        "admin_log": admin_log,
        "specification_versions": versions,
        "login_attempts": attempts,
        "accounts": accounts,
        "import_files": imports,
    }
    report = erasure_report(contact)
    if report is not None:
        sections["kept_after_erasure"] = [
            {
                "what": " ".join([line.text, *(place["record"] for place in line.places)]),
                "why": line.why,
            }
            for line in report["kept"]
        ]
    return sections


def _attempt_result(row: Any) -> str:
    name = type(row).__name__
    if name == "AccessLog":
        return gettext("connexion réussie")
    if name == "AccessFailureLog":
        return gettext("échec (compte bloqué)") if row.locked_out else gettext("échec")
    return gettext("échecs comptés pour le blocage : %(count)s") % {
        "count": row.failures_since_start
    }


def _filename(contact: Contact, extension: str) -> str:
    return f"donnees-contact-{contact.pk}-{timezone.localdate().isoformat()}.{extension}"


def json_response(contact: Contact, data: dict[str, Any]) -> HttpResponse:
    response = HttpResponse(
        json.dumps(data, ensure_ascii=False, indent=2),
        content_type="application/json; charset=utf-8",
    )
    disposition = content_disposition_header(True, _filename(contact, "json"))
    assert disposition is not None  # an attachment always has one
    response["Content-Disposition"] = disposition
    return response


def _rows_sheet(title: Any, rows: list[dict[str, Any]], columns: list[tuple[str, Any]]) -> Sheet:
    return Sheet(
        str(title),
        rows,
        [Column(label, itemgetter(key)) for key, label in columns],
    )


WHY_COLUMN = ("why", _("Pourquoi c'est gardé"))


def xlsx_response(contact: Contact, data: dict[str, Any]) -> FileResponse:
    """The same data as the JSON, one sheet per kind (the shared, formula-safe writer)."""
    sheets = [
        Sheet(
            gettext("Contact"),
            list(data["contact"].values()),
            [
                Column(_("Champ"), lambda row: row["label"], width=30),
                Column(_("Valeur"), lambda row: row["value"], width=60),
                Column(WHY_COLUMN[1], lambda row: row["why"], width=60),
            ],
        ),
    ]
    for key, title, columns in (
        (
            "interactions",
            _("Interactions"),
            [
                ("date", _("Date")),
                ("kind", _("Type")),
                ("organisation", _("Organisation")),
                ("author", _("Auteur")),
                ("summary", _("Résumé")),
                ("project", _("Projet")),
                ("lead", _("Piste")),
            ],
        ),
        (
            "leads",
            _("Pistes"),
            [
                ("title", _("Intitulé")),
                ("organisation", _("Organisation")),
                ("stage", _("Étape")),
                ("owner", _("Chargé·e")),
            ],
        ),
        (
            "projects",
            _("Projets"),
            [("reference", _("Référence")), ("title", _("Intitulé")), ("step", _("Étape"))],
        ),
        (
            "history",
            _("Journal"),
            [
                ("date", _("Date")),
                ("action", _("Action")),
                ("field", _("Champ")),
                ("old_value", _("Ancienne valeur")),
                ("new_value", _("Nouvelle valeur")),
                ("by", _("Par")),
            ],
        ),
        (
            "mentions",
            _("Mentions"),
            [
                ("record", _("Fiche")),
                ("field", _("Champ")),
                ("text", _("Texte")),
                ("match", _("Trouvé par")),
            ],
        ),
        (
            "history_elsewhere",
            _("Autres journaux"),
            [
                ("record", _("Fiche")),
                ("date", _("Date")),
                ("action", _("Action")),
                ("field", _("Champ")),
                ("old_value", _("Ancienne valeur")),
                ("new_value", _("Nouvelle valeur")),
                ("detail", _("Détail")),
                ("by", _("Par")),
            ],
        ),
        (
            "admin_log",
            _("Administration"),
            [
                ("date", _("Date")),
                ("by", _("Par")),
                ("object", _("Fiche")),
                ("message", _("Modification")),
            ],
        ),
        (
            "specification_versions",
            _("Cahiers des charges"),
            [
                ("project", _("Projet")),
                ("version", _("Version")),
                ("issued_at", _("Émis le")),
                ("file", _("Fichier")),
                ("sha256", _("Empreinte SHA-256")),
                ("approval", _("Avis du porteur")),
            ],
        ),
        (
            "login_attempts",
            _("Connexions"),
            [
                ("date", _("Date")),
                ("result", _("Résultat")),
                ("username", _("Identifiant saisi")),
                ("ip_address", _("Adresse IP")),
                ("user_agent", _("Navigateur")),
                ("purged_by", _("Supprimée au plus tard le")),
            ],
        ),
        (
            "accounts",
            _("Comptes"),
            [
                ("username", _("Identifiant")),
                ("name", _("Nom")),
                ("email", _("E-mail")),
                ("date_joined", _("Créé le")),
                ("last_login", _("Dernière connexion")),
                ("active", _("Actif")),
            ],
        ),
        (
            "import_files",
            _("Imports en attente"),
            [("file", _("Fichier")), ("modified", _("Déposé le"))],
        ),
        ("kept_after_erasure", _("Gardé après effacement"), [("what", _("Quoi"))]),
    ):
        if key in data:
            sheets.append(_rows_sheet(title, data[key], [*columns, WHY_COLUMN]))
    return workbook_response(sheets, filename=_filename(contact, "xlsx").removesuffix(".xlsx"))
