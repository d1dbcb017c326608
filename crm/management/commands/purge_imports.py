"""Delete the workbooks of imports started and never applied.

    manage.py purge_imports --dry-run      # list them; delete nothing
    manage.py purge_imports --hours 48     # delete those uploaded more than 48 hours ago

An import keeps its uploaded file in the private storage (`imports/`) from the upload until it
is applied. A person who leaves halfway leaves the file behind, and it may hold personal data
(contacts): run this daily (cron or a systemd timer) so none stays longer than needed.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from crm.imports import STAGING_FOLDER as FOLDER
from crm.uploads import stale_files


class Command(BaseCommand):
    help = "Delete the files of imports left unapplied for more than --hours hours."

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
        stale = list(stale_files(default_storage, FOLDER, older_than=cutoff))
        for name in stale:
            if not dry_run:
                default_storage.delete(name)
            self.stdout.write(f"{'would delete' if dry_run else 'deleted'} {name}")
        verb = "would be deleted" if dry_run else "deleted"
        self.stdout.write(f"{len(stale)} import file(s) older than {hours} h {verb}.")
