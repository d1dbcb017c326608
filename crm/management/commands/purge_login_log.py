"""Delete the login log older than its retention period.

    manage.py purge_login_log --dry-run     # count what would be deleted; delete nothing
    manage.py purge_login_log               # delete what is older than LOGIN_LOG_RETENTION_DAYS
    manage.py purge_login_log --days 90     # or than 90 days

django-axes keeps every login attempt (successes, failures, lock-out counts) with the username
typed, the address and the browser. That username is often an e-mail address, someone's
personal data, and the log is there for the service's security only: run this daily (cron or
a systemd timer), beside `purge_imports`, so nothing stays longer than the period the privacy
notice states. An erased person's attempts go with the rest, at the date their erasure report
gives.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from crm.backends import login_log_models


class Command(BaseCommand):
    help = "Delete login attempts older than LOGIN_LOG_RETENTION_DAYS days (or --days)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help="Retention in days (default: the LOGIN_LOG_RETENTION_DAYS setting).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be deleted; delete nothing."
        )

    def handle(self, *args: Any, days: int | None, dry_run: bool, **options: Any) -> None:
        days = settings.LOGIN_LOG_RETENTION_DAYS if days is None else days
        if days < 1:
            # A day at least: a lock-out in progress is an attempt of the last minutes.
            self.stderr.write("The retention period must be at least one day.")
            raise SystemExit(2)
        cutoff = timezone.now() - timedelta(days=days)
        total = 0
        for model in login_log_models():
            old = model.objects.filter(attempt_time__lt=cutoff)
            count = old.count() if dry_run else old.delete()[1].get(model._meta.label, 0)
            total += count
            verb = "would delete" if dry_run else "deleted"
            self.stdout.write(f"{verb} {count} {model.__name__} row(s)")
        verb = "would be deleted" if dry_run else "deleted"
        self.stdout.write(f"{total} login log row(s) older than {days} day(s) {verb}.")
