"""The worker's tasks (`manage.py db_worker` runs them): thin, they load what they need by id
and call the same code the views call (STYLE: background jobs)."""

from __future__ import annotations

from django_tasks import task

from crm import jobs


@task()
def run_job(job_id: str) -> None:
    """Run one `crm.models.Job`; running it twice does its work once."""
    jobs.run(job_id)


@task()
def deliver_event(event_id: int) -> None:
    """Write the notifications of one event, then write and send its e-mails; run twice,
    it writes and sends each once."""
    from crm import mail, notifications

    notifications.deliver(event_id)
    mail.queue_event(event_id)


@task()
def send_mail() -> None:
    """Send the e-mails that are due (retries after a failure)."""
    from crm import mail

    mail.send_due()
