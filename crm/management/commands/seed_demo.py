"""`manage.py seed_demo`: load the demo data and print the demo logins (`make run` calls it)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm.demo import SEEDERS, SeedReport


class Command(BaseCommand):
    help = "Load the demo data (idempotent) and print one demo login per role."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force",
            action="store_true",
            help="Seed even with DJANGO_DEBUG=false (creates users with a known password).",
        )
        parser.add_argument("--quiet", action="store_true", help="Print nothing on success.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "Refusing to load demo data with DJANGO_DEBUG=false: it creates users with a "
                "published password. Use --force if this really is a demo server."
            )
        report = SeedReport()
        for seed in SEEDERS:
            seed(report=report)
        if options["quiet"]:
            return
        made = ", ".join(f"{count} {label}" for label, count in report.created.items() if count)
        self.stdout.write(f"Demo data ready ({made or 'nothing new: already loaded'}).")
        self.stdout.write("\nDEMO LOGINS (demo data only — fictional people):")
        width = max(len(username) for username, _, _ in report.logins)
        for username, role, password in report.logins:
            self.stdout.write(f"  {username:<{width}}  password: {password}  ({role})")
        self.stdout.write("")
