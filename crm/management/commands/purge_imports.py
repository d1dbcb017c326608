"""Delete the imports started and left untouched, with their workbooks.

    manage.py purge_imports --dry-run      # list them; delete nothing
    manage.py purge_imports --hours 48     # delete those untouched for more than 48 hours

An import keeps its uploaded file in the private storage (`imports/`) and its row
(`crm.models.StagedImport`: the header row, the columns as mapped) from the upload until it is
applied. A person who leaves halfway leaves both behind, and the file may hold personal data
(contacts): run this daily (cron or a systemd timer) so none stays longer than needed. Rows and
files go together (`crm.imports.purge`): an import left untouched goes with its file, an
applied one is forgotten (its job keeps what it did), one being applied is left to its job, and
a workbook no import names (its row never written) is deleted too.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from crm import imports


class Command(BaseCommand):
    help = "Delete the imports (and their files) left untouched for more than --hours hours."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--hours", type=int, default=24, help="Age in hours (default 24).")
        parser.add_argument(
            "--dry-run", action="store_true", help="List what would be deleted; delete nothing."
        )

    def handle(self, *args: Any, hours: int, dry_run: bool, **options: Any) -> None:
        if hours < 1:
            self.stderr.write("--hours must be at least 1: an import in progress needs its file.")
            raise SystemExit(2)
        cutoff = timezone.now() - timedelta(hours=hours)
        done = imports.purge(older_than=cutoff, dry_run=dry_run)
        action = "would delete" if dry_run else "deleted"
        for staged in done.imports:
            state = "applied" if staged.applied_at else "not applied"
            self.stdout.write(f"{action} import {staged.token} ({staged.original_name}, {state})")
        for name in done.files:
            self.stdout.write(f"{action} {name}")
        verb = "would be deleted" if dry_run else "deleted"
        self.stdout.write(f"{len(done.imports)} import(s) untouched for {hours} h {verb}.")
        self.stdout.write(f"{len(done.files)} import file(s) older than {hours} h {verb}.")
