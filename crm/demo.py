"""Demo data for `manage.py seed_demo`, loaded idempotently from readable files in `fixtures/`.

Each app contributes one seeder, `seed_<app>(*, stdout=None) -> SeedReport`, listed in `SEEDERS`;
the command runs them in order, so a later seeder can refer to rows an earlier one made (a
project names its holder organisation, a lead its investor).

Rows are matched on natural keys (username, slug, SIRET or name, e-mail...) and brought in line
with the file: a second run creates nothing and, when the file has not changed, changes nothing.
Demo rows are flagged `is_demo`; a row somebody entered by hand that happens to share a natural
key is left exactly as it is.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO, TypeVar

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models, transaction
from django.db.models import Field, Max
from django.utils import timezone

from crm.models import (
    Contact,
    Event,
    Interaction,
    Notification,
    Organisation,
    Role,
    Territory,
    Thematic,
    User,
)

if TYPE_CHECKING:
    from django.core.management.base import OutputWrapper

CRM_FIXTURE = Path(settings.BASE_DIR) / "fixtures" / "demo_crm.json"

# Dotted paths, imported when the command runs. crm knows none of the apps built on it: each
# appends its own seeder in its `AppConfig.ready()`, so they run in INSTALLED_APPS order.
SEEDERS: list[str] = [
    "crm.demo.seed_crm",
]

M = TypeVar("M", bound=models.Model)


class Outcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    # A row entered by a person (is_demo false) shares the natural key: the seeder keeps it.
    KEPT = "kept (not demo data)"


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role: Role
    password: str


@dataclass
class SeedReport:
    """What one seeder did: per kind of row, how many were created, updated, left unchanged."""

    title: str
    counts: dict[str, Counter[Outcome]] = field(default_factory=dict)
    logins: list[DemoLogin] = field(default_factory=list)

    def record(self, label: str, outcome: Outcome) -> None:
        self.counts.setdefault(label, Counter())[outcome] += 1

    def total(self, outcome: Outcome) -> int:
        return sum(counter[outcome] for counter in self.counts.values())

    @property
    def changed_anything(self) -> bool:
        return bool(self.total(Outcome.CREATED) or self.total(Outcome.UPDATED))

    def lines(self) -> list[str]:
        """A short summary: one line per kind of row."""
        width = max((len(label) for label in self.counts), default=0)
        lines = [f"{self.title}:"]
        for label, counter in self.counts.items():
            done = ", ".join(f"{counter[o]} {o}" for o in Outcome if counter[o])
            lines.append(f"  {label:<{width}}  {done}")
        if not self.changed_anything:
            lines.append("  nothing new: already loaded")
        return lines

    def write(self, stdout: TextIO | None) -> None:
        if stdout is not None:
            stdout.write("\n".join(self.lines()) + "\n")


class Seeder(Protocol):
    def __call__(self, *, stdout: TextIO | OutputWrapper | None = None) -> SeedReport: ...


def load_fixture(path: Path = CRM_FIXTURE) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def rows(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The entries of a fixture list, without the comment-only ones that divide it in sections."""
    return [item for item in items if any(not key.startswith("_") for key in item)]


def pick(
    row: dict[str, Any], defaults: dict[str, Any], *, other: Collection[str] = ()
) -> dict[str, Any]:
    """The model values of a fixture row: every field of `defaults`, absent ones at their default.

    Absent fields are reset rather than ignored so that the file stays the whole truth about a
    demo row; unknown keys fail loudly because a typo would otherwise be silently dropped.
    """
    unknown = {key for key in row if not key.startswith("_")} - defaults.keys() - set(other)
    if unknown:
        raise ValueError(f"Unknown keys {sorted(unknown)} in demo row {row}")
    return {name: row.get(name, default) for name, default in defaults.items()}


def assign(instance: models.Model, values: dict[str, Any]) -> bool:
    """Set `values` on `instance`; True when at least one of them differed."""
    changed = False
    for name, value in values.items():
        model_field = instance._meta.get_field(name)
        assert isinstance(model_field, Field)  # `values` names the model's own fields
        # Compare foreign keys by id: reading the relation would cost a query per row.
        current = getattr(instance, model_field.attname)
        wanted = value.pk if model_field.is_relation and value is not None else value
        if current != wanted:
            setattr(instance, name, value)
            changed = True
    return changed


def upsert(
    report: SeedReport, label: str, model: type[M], found: M | None, values: dict[str, Any]
) -> M:
    """Create the demo row, or bring the `found` one in line with `values`; validate, record."""
    if found is not None and getattr(found, "is_demo", True) is False:
        report.record(label, Outcome.KEPT)
        return found
    instance = found if found is not None else model()
    if found is None and hasattr(instance, "is_demo"):
        instance.is_demo = True  # not editable in forms, so set here
    if not assign(instance, values) and found is not None:
        report.record(label, Outcome.UNCHANGED)
        return instance
    instance.full_clean()
    instance.save()
    report.record(label, Outcome.CREATED if found is None else Outcome.UPDATED)
    return instance


def days_ago(now: datetime, days: int | None, *, kept: datetime | None) -> datetime | None:
    """A relative date of the file, fixed at the first load so that later loads change nothing."""
    if days is None:
        return None
    return kept or now - timedelta(days=days)


@contextmanager
def dated_events(record: models.Model, at: datetime) -> Iterator[None]:
    """Date `at` the events that the block's action records about `record`, and their
    notifications. The demo replays its history through the real actions, which record their
    events as happening now; the bell must read as the week it tells of, each notification
    at the time of the move, review or issue it is about."""
    last = Event.objects.aggregate(last=Max("pk"))["last"] or 0
    yield
    events = Event.objects.filter(pk__gt=last, record_type=record._meta.label, record_id=record.pk)
    Notification.objects.filter(event__in=events).update(created_at=at)
    events.update(created_at=at)


ORGANISATION_FIELDS: dict[str, Any] = {
    "name": "",
    "kind": "",
    "sector": Organisation.Sector.PRIVATE,
    "siret": "",
    "address": "",
    "postcode": "",
    "city": "",
    "country": "FR",
    "website": "",
    "email": "",
    "phone": "",
    "notes": "",
}
CONTACT_FIELDS: dict[str, Any] = {
    "first_name": "",
    "last_name": "",
    "role": "",
    "email": "",
    "phone": "",
    "legal_basis": Contact.LegalBasis.LEGITIMATE_INTEREST,
    "notes": "",
}


@transaction.atomic
def seed_crm(*, stdout: TextIO | None = None, path: Path = CRM_FIXTURE) -> SeedReport:
    """Users (one per role), territories, thematics, organisations, contacts and interactions."""
    data = load_fixture(path)
    report = SeedReport(title="CRM demo data")
    users = seed_users(data, report)
    now = timezone.now()
    # Demo organisations and contacts are recorded as entered by the mission team.
    entered_by = users["staff"]

    territories = {
        row["slug"]: upsert(
            report,
            "territories",
            Territory,
            Territory.objects.filter(slug=row["slug"]).first(),
            pick(row, {"slug": "", "name": ""}),
        )
        for row in rows(data["territories"])
    }
    for row in rows(data["thematics"]):
        upsert(
            report,
            "thematics",
            Thematic,
            Thematic.objects.filter(slug=row["slug"]).first(),
            pick(row, {"slug": "", "name": ""}),
        )

    organisations: dict[str, Organisation] = {}
    contacts: dict[str, Contact] = {}
    for row in rows(data["organisations"]):
        values = pick(row, ORGANISATION_FIELDS, other={"territory", "contacts"})
        values["territory"] = territories[row["territory"]] if row.get("territory") else None
        values["created_by"] = entered_by
        organisation = upsert(report, "organisations", Organisation, find_organisation(row), values)
        organisations[row["name"]] = organisation

        for contact_row in rows(row.get("contacts", [])):
            found = find_contact(organisation, contact_row)
            values = pick(contact_row, CONTACT_FIELDS, other={"consent_days_ago"})
            values["organisation"] = organisation
            values["created_by"] = entered_by
            values["consent_given_at"] = days_ago(
                now,
                contact_row.get("consent_days_ago"),
                kept=found.consent_given_at if found else None,
            )
            contact = upsert(report, "contacts", Contact, found, values)
            if contact.email:
                contacts[contact.email] = contact

    for row in rows(data["interactions"]):
        organisation = organisations[row["organisation"]]
        found_interaction = Interaction.objects.filter(
            organisation=organisation, kind=row["kind"], summary=row["summary"]
        ).first()
        values = pick(
            row,
            {"kind": "", "summary": ""},
            other={"organisation", "contact", "author", "days_ago"},
        )
        values["organisation"] = organisation
        values["contact"] = contacts[row["contact"]] if row.get("contact") else None
        values["author"] = users[row["author"]]
        values["occurred_at"] = days_ago(
            now, row["days_ago"], kept=found_interaction.occurred_at if found_interaction else None
        )
        upsert(report, "interactions", Interaction, found_interaction, values)

    refresh_last_interactions()
    report.write(stdout)
    return report


def seed_users(data: dict[str, Any], report: SeedReport) -> dict[str, User]:
    """One demo user per row, in exactly one role group, with the demo password when created."""
    password = data["password"]
    groups = {group.name: group for group in Group.objects.filter(name__in=Role.values)}
    users: dict[str, User] = {}
    for row in rows(data["users"]):
        role = Role(row["role"])
        values = pick(
            row, {"first_name": "", "last_name": "", "email": ""}, other={"username", "role"}
        )
        values["is_staff"] = role == Role.STAFF  # the mission team reaches the Django admin
        found = User.objects.filter(username=row["username"]).first()
        user = found if found is not None else User(username=row["username"])
        changed = assign(user, values)
        if found is None:
            # Only on creation: a demo user who changed their password keeps it.
            user.set_password(password)
        if found is None or changed:
            user.full_clean()
            user.save()
        roles = set(user.groups.filter(name__in=Role.values).values_list("name", flat=True))
        if roles != {role.value}:
            user.groups.remove(*(groups[name] for name in roles - {role.value}))
            user.groups.add(groups[role.value])
            changed = True
        if found is None:
            report.record("users", Outcome.CREATED)
        else:
            report.record("users", Outcome.UPDATED if changed else Outcome.UNCHANGED)
        users[user.username] = user
        report.logins.append(DemoLogin(user.username, role, password))
    return users


def find_organisation(row: dict[str, Any]) -> Organisation | None:
    """By SIRET when the file gives one (it survives a rename), else by name."""
    if row.get("siret"):
        found = Organisation.objects.filter(siret=row["siret"]).first()
        if found is not None:
            return found
    return Organisation.objects.filter(name=row["name"]).order_by("pk").first()


def find_contact(organisation: Organisation, row: dict[str, Any]) -> Contact | None:
    """By e-mail when the file gives one (it survives a move), else by name in the organisation."""
    if row.get("email"):
        return Contact.objects.filter(email__iexact=row["email"]).order_by("pk").first()
    return (
        Contact.objects.filter(
            organisation=organisation,
            last_name=row["last_name"],
            first_name=row.get("first_name", ""),
        )
        .order_by("pk")
        .first()
    )


def refresh_last_interactions() -> None:
    """Set each demo contact's `last_interaction_at` to its latest interaction, as logging does.

    Written with `update()`: the date is derived, not an edit, so `updated_at` must not move.
    """
    for contact in Contact.objects.filter(is_demo=True).annotate(
        latest=Max("interactions__occurred_at")
    ):
        # `latest` is annotated above; the plugin loses it through ContactQuerySet.
        if contact.last_interaction_at != contact.latest:  # type: ignore[attr-defined]
            Contact.objects.filter(pk=contact.pk).update(last_interaction_at=contact.latest)  # type: ignore[attr-defined]
