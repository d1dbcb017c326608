"""What other apps show on a CRM record's page: an organisation's projects, leads and sites,
a contact's projects and leads.

`crm` is the base the other apps build on and never imports them; each app registers its
sections for a CRM model in its `AppConfig.ready()`, and the record's page draws them, each
scoped to what the person may see, counted, with a link to create one more, prefilled."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db import models

from crm.models import User

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

# The rows a section shows; past them it says how many there are in all.
SECTION_ROWS = 10


@dataclass(frozen=True)
class RelatedSection:
    """One kind of related record on a CRM record's page.

    `rows(user, record)` is the scoped, ordered QuerySet of the related records (it must start
    from the related model's `visible_to(user)`); `perm` is the model permission a person
    needs to see the section at all; `template` draws one row (`row` in its context);
    `add_perm` and `add_url(record)` make the "create one, prefilled" link; `empty` says what
    to do when there is none."""

    key: str
    title: StrOrPromise
    perm: str
    rows: Callable[[User, models.Model], models.QuerySet[Any]]
    template: str
    empty: StrOrPromise
    add_label: StrOrPromise = ""
    add_perm: str = ""
    add_url: Callable[[models.Model], str] | None = None


@dataclass
class ShownSection:
    """A section as a page draws it: its first rows, their total, and the create link."""

    section: RelatedSection
    rows: list[Any]
    count: int
    add_url: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def more(self) -> bool:
        return self.count > len(self.rows)


_SECTIONS: dict[str, list[RelatedSection]] = {}


def register(model: type[models.Model], section: RelatedSection) -> None:
    """Show `section` on the pages of `model`'s records (from an app's `ready()`)."""
    sections = _SECTIONS.setdefault(model._meta.label, [])
    if all(known.key != section.key for known in sections):
        sections.append(section)


def sections_for(user: User, record: models.Model) -> list[ShownSection]:
    """The sections registered for `record`'s model that `user` may see, each read in one
    query (two when it has more rows than it shows, for the count)."""
    shown = []
    for section in _SECTIONS.get(record._meta.label, []):
        if not user.has_perm(section.perm):
            continue
        rows = list(section.rows(user, record)[: SECTION_ROWS + 1])
        count = len(rows)
        if count > SECTION_ROWS:
            rows = rows[:SECTION_ROWS]
            count = section.rows(user, record).order_by().count()
        add_url = ""
        if section.add_url is not None and (
            not section.add_perm or user.has_perm(section.add_perm)
        ):
            add_url = section.add_url(record)
        shown.append(ShownSection(section=section, rows=rows, count=count, add_url=add_url))
    return shown
