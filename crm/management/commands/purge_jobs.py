"""Delete the finished jobs past their expiry, and their files ("Mes fichiers").

    manage.py purge_jobs --dry-run    # list them; delete nothing
    manage.py purge_jobs

A job's file (a large export, a workbook) may hold personal data: it stays downloadable for
`JOB_FILE_DAYS` days, then this command deletes it with its job. Run it daily.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from crm.models import Job


class Command(BaseCommand):
    help = "Delete expired jobs and their files."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="List what would be deleted; delete nothing."
        )

    def handle(self, *args: Any, dry_run: bool, **options: Any) -> None:
        expired = list(Job.objects.expired().order_by("expires_at"))
        for job in expired:
            self.stdout.write(f"{job.pk} {job.file.name or '-'} ({job.label})")
            if not dry_run:
                if job.file:
                    job.file.storage.delete(job.file.name)
                job.delete()
        verb = "would be deleted" if dry_run else "deleted"
        self.stdout.write(f"{len(expired)} expired job(s) {verb}.")
