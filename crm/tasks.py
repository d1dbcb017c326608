"""The worker's tasks (`manage.py db_worker` runs them): thin, they load what they need by id
and call the same code the views call (STYLE: background jobs)."""

from __future__ import annotations

from django_tasks import task

from crm import jobs


@task()
def run_job(job_id: str) -> None:
    """Run one `crm.models.Job`; running it twice does its work once."""
    jobs.run(job_id)
