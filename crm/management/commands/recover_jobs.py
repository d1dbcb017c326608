"""Queue again the jobs a killed worker left "running" (run it when a worker starts).

    manage.py recover_jobs && manage.py db_worker

A worker killed mid-job (SIGKILL, a lost machine) cannot say so: its job stays "running" and
stops reporting. A job silent for more than `JOB_STALE_SECONDS` is queued again; it is
claimed by one worker only, and its half-written file was never recorded (DESIGN §10).
Likewise the thumbnails still missing for images uploaded more than that long ago, and the
events whose notifications were never written.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from crm import jobs, notifications


class Command(BaseCommand):
    help = "Queue again the running jobs whose worker stopped reporting."

    def handle(self, *args: Any, **options: Any) -> None:
        recovered = jobs.recover()
        for job in recovered:
            self.stdout.write(f"{job.pk} queued again ({job.label})")
        self.stdout.write(f"{len(recovered)} interrupted job(s) queued again.")
        thumbnails = jobs.recover_thumbnails()
        self.stdout.write(f"{thumbnails} missing thumbnail(s) queued again.")
        events = notifications.redeliver(older_than=timezone.now() - jobs.stale_after())
        self.stdout.write(f"{events} undelivered event(s) queued again.")
