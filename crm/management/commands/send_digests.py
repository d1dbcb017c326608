"""Queue the morning digests that are due and send the e-mails waiting (run it every few
minutes from cron, or beside the worker): each person gets one digest a day, at their time."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from crm import mail


class Command(BaseCommand):
    help = "Queue the morning digests that are due, then send every e-mail that is due."

    def handle(self, *args: Any, **options: Any) -> None:
        queued = mail.queue_digests()
        sent = mail.send_due()
        self.stdout.write(f"{queued} digest(s) queued, {sent} e-mail(s) sent.")
