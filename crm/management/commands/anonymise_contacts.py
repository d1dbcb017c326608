"""Anonymise the contacts with no interaction for the retention period (CNIL, DESIGN §6).

    manage.py anonymise_contacts --dry-run   # what would be anonymised; nothing changes
    manage.py anonymise_contacts             # anonymise them, each logged in the audit trail

Each contact goes through `crm.actions.anonymise_contact`, in its own transaction: the row,
its organisation and its interactions stay, so every count and figure stays right. Its name,
e-mail and phone are replaced wherever else Carreau holds them (`crm.privacy.erasure_plan`);
with nobody to judge them, mentions of the last name alone are left and listed in the
contact's erasure report, to be read by staff.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from crm.actions import anonymise_contact
from crm.models import Contact
from crm.privacy import erasure_plan

BATCH = 500


class Command(BaseCommand):
    help = "Anonymise contacts with no interaction for PRIVACY_RETENTION_YEARS years."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="List what would be anonymised; change nothing."
        )
        parser.add_argument(
            "--years",
            type=int,
            default=None,
            help="Retention period in years (default: the PRIVACY_RETENTION_YEARS setting).",
        )

    def handle(self, *args: Any, dry_run: bool, years: int | None, **options: Any) -> None:
        years = settings.PRIVACY_RETENTION_YEARS if years is None else years
        if years < 1:
            self.stderr.write("The retention period must be at least one year.")
            raise SystemExit(2)
        # The ids first, then batches: writing while a cursor is open over the same rows is
        # not safe on SQLite.
        due = Contact.objects.due_for_review(years=years).order_by("pk")
        pks = list(due.values_list("pk", flat=True))
        count = 0
        for start in range(0, len(pks), BATCH):
            batch = Contact.objects.filter(pk__in=pks[start : start + BATCH])
            for contact in batch.select_related("organisation").order_by("pk"):
                count += self._one(contact, dry_run=dry_run)
        summary = "would be anonymised (dry run)" if dry_run else "anonymised"
        self.stdout.write(f"{count} contact(s) {summary}, no interaction for {years} year(s).")

    def _one(self, contact: Contact, *, dry_run: bool) -> int:
        last = contact.last_interaction_at or contact.created_at
        verb = "Would anonymise" if dry_run else "Anonymised"
        plan = erasure_plan(contact)
        if not dry_run:
            anonymise_contact(contact=contact, by=None)
        self.stdout.write(
            f"{verb} contact #{contact.pk} ({contact.organisation.name}), "
            f"last interaction {last:%Y-%m-%d}: "
            f"{len(plan.redacted)} mention(s) elsewhere redacted, "
            f"{len(plan.import_files)} import file(s) deleted, "
            f"{len(plan.versions)} issued specification(s) and {len(plan.attempts)} login "
            f"attempt(s) kept, {len(plan.to_judge)} last-name mention(s) left to review."
        )
        return 1
