"""`manage.py seed_demo`: load the demo data and print the demo logins (`make run` calls it)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils.module_loading import import_string

from crm.demo import SEEDERS, DemoLogin, Seeder, SeedReport


class Command(BaseCommand):
    help = (
        "Load the demo data (fictional people and investors) and print one demo login per role. "
        "Idempotent: running it again creates and changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force",
            action="store_true",
            help="Seed even with DJANGO_DEBUG=false (creates users with a published password).",
        )
        parser.add_argument("--quiet", action="store_true", help="Print nothing on success.")

    def handle(self, *args: Any, **options: Any) -> None:
        # The demo users share a password printed in the README: on a production server they
        # would be open doors. Debug mode is the signal that this is a development machine.
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "Refusing to load demo data with DJANGO_DEBUG=false: it creates users with a "
                "published password. Use --force if this really is a demo server."
            )
        stdout = None if options["quiet"] else self.stdout
        if stdout is not None:
            stdout.write("Loading DEMO DATA: fictional people, e-mails and investors.")
        reports: list[SeedReport] = []
        # All seeders or none: a later seeder failing must not leave half a demo behind.
        with transaction.atomic():
            for path in SEEDERS:
                seed: Seeder = import_string(path)
                reports.append(seed(stdout=stdout))
        if stdout is not None:
            self.write_logins([login for report in reports for login in report.logins])

    def write_logins(self, logins: list[DemoLogin]) -> None:
        if not logins:
            return
        rows = [("username", "role", "password")] + [
            (login.username, f"{login.role.value} ({login.role.label})", login.password)
            for login in logins
        ]
        widths = [max(len(row[column]) for row in rows) for column in range(2)]
        self.stdout.write("\nDEMO LOGINS (demo data only; never on a real server):")
        for username, role, password in rows:
            self.stdout.write(f"  {username:<{widths[0]}}  {role:<{widths[1]}}  {password}")
        self.stdout.write("")
