"""Delete stored uploads that no record points to.

    manage.py purge_orphan_files --dry-run      # list them and their size; delete nothing
    manage.py purge_orphan_files --hours 48     # only files written more than 48 hours ago

A file is stored before the transaction that records it commits: a failed save, a lost race
or a crash leaves the file without its row (see `crm.uploads.orphan_files`). Such files hold
what people uploaded (logos, deliverables, site photos, specification PDFs) and nobody can
reach them any more: run this daily, beside `purge_imports`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser, no_translations
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from crm.uploads import orphan_files


class Command(BaseCommand):
    help = "Delete stored uploads that no record points to, older than --hours hours."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--hours", type=int, default=24, help="Age in hours (default 24).")
        parser.add_argument(
            "--dry-run", action="store_true", help="List what would be deleted; delete nothing."
        )

    @no_translations  # sizes in the English of the rest of the output
    def handle(self, *args: Any, hours: int, dry_run: bool, **options: Any) -> None:
        if hours < 1:
            self.stderr.write("--hours must be at least 1: an upload in progress needs its file.")
            raise SystemExit(2)
        cutoff = timezone.now() - timedelta(hours=hours)
        count = total = 0
        for storage, name in orphan_files(older_than=cutoff):
            size = storage.size(name)
            if not dry_run:
                storage.delete(name)
            count, total = count + 1, total + size
            action = "would delete" if dry_run else "deleted"
            self.stdout.write(f"{action} {name} ({filesizeformat(size)})")
        verb = "would be deleted" if dry_run else "deleted"
        self.stdout.write(
            f"{count} orphan file(s) older than {hours} h, {filesizeformat(total)}, {verb}."
        )
