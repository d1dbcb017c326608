"""Demo data for `manage.py seed_demo`: idempotent, from a readable file in `fixtures/`.

Each app contributes one seeder; the command runs them in order. Running them again creates
nothing new and changes nothing: rows are matched on natural keys (slug, name, e-mail...).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from crm.models import Contact, Interaction, Organisation, Role, Territory, Thematic, User

FIXTURE = Path(settings.BASE_DIR) / "fixtures" / "demo_crm.json"


@dataclass
class SeedReport:
    created: dict[str, int] = field(default_factory=dict)
    logins: list[tuple[str, str, str]] = field(default_factory=list)  # username, role, password

    def count(self, label: str, created: bool) -> None:
        self.created[label] = self.created.get(label, 0) + (1 if created else 0)


def load_fixture(path: Path = FIXTURE) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


@transaction.atomic
def seed_crm(*, report: SeedReport, path: Path = FIXTURE) -> None:
    """Users (one per role), territories, thematics, organisations, contacts, interactions."""
    data = load_fixture(path)
    now = timezone.now()

    users: dict[str, User] = {}
    for row in data["users"]:
        user, created = User.objects.get_or_create(
            username=row["username"],
            defaults={
                "first_name": row["first_name"],
                "last_name": row["last_name"],
                "email": row["email"],
                "is_staff": row["role"] == Role.STAFF,
            },
        )
        if created:
            # Only on creation: a demo user who changed their password keeps it.
            user.set_password(data["password"])
            user.save(update_fields=["password"])
        user.groups.add(Group.objects.get(name=row["role"]))
        users[row["username"]] = user
        report.count("users", created)
        report.logins.append((user.username, Role(row["role"]).label, data["password"]))

    territories = {}
    for row in data["territories"]:
        territory, created = Territory.objects.get_or_create(
            slug=row["slug"], defaults={"name": row["name"]}
        )
        territories[row["slug"]] = territory
        report.count("territories", created)

    for row in data["thematics"]:
        _, created = Thematic.objects.get_or_create(
            slug=row["slug"], defaults={"name": row["name"]}
        )
        report.count("thematics", created)

    organisations: dict[str, Organisation] = {}
    contacts: dict[str, Contact] = {}
    for row in data["organisations"]:
        values = {key: value for key, value in row.items() if key not in {"contacts", "territory"}}
        organisation = Organisation.objects.filter(name=row["name"]).first()
        created = organisation is None
        if created:
            organisation = Organisation(
                **values,
                territory=territories.get(row.get("territory", "")),
                created_by=users["staff"],
            )
            organisation.is_demo = True
            organisation.full_clean()
            organisation.save()
        organisations[row["name"]] = organisation
        report.count("organisations", created)

        for contact_row in row.get("contacts", []):
            contact = Contact.objects.filter(email=contact_row["email"]).first()
            created = contact is None
            if created:
                consent_days = contact_row.get("consent_days_ago")
                contact = Contact(
                    organisation=organisation,
                    **{k: v for k, v in contact_row.items() if k != "consent_days_ago"},
                    consent_given_at=now - timedelta(days=consent_days)
                    if consent_days is not None
                    else None,
                    created_by=users["staff"],
                )
                contact.is_demo = True
                contact.full_clean()
                contact.save()
            contacts[contact_row["email"]] = contact
            report.count("contacts", created)

    for row in data["interactions"]:
        organisation = organisations[row["organisation"]]
        _, created = Interaction.objects.get_or_create(
            organisation=organisation,
            kind=row["kind"],
            summary=row["summary"],
            defaults={
                "author": users[row["author"]],
                "contact": contacts.get(row.get("contact", "")),
                "occurred_at": now - timedelta(days=row["days_ago"]),
            },
        )
        report.count("interactions", created)

    # Demo contacts' last interaction follows their interactions, as log_interaction does.
    for contact in Contact.objects.filter(is_demo=True).annotate(
        latest=Max("interactions__occurred_at")
    ):
        if contact.latest and contact.last_interaction_at != contact.latest:
            Contact.objects.filter(pk=contact.pk).update(last_interaction_at=contact.latest)


# The seeders `seed_demo` runs, in order; later apps append theirs (projects, prospects).
SEEDERS = [seed_crm]
