"""The project jobs the worker runs (`crm.jobs`): thin, they load what they need by id, check
the scope again, and call the same actions the views call (STYLE: background jobs)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.urls import reverse
from django.utils.translation import gettext as _
from django_tasks import task

from crm.jobs import JobFailed, JobKind, Output, Progress
from crm.models import Job, User
from crm.uploads import store_thumbnail
from projects import actions
from projects.models import DeliverableVersion, Project


@task()
def make_version_thumbnail(version_id: int) -> None:
    """The thumbnail of an uploaded image deliverable (the upload request only stores it)."""
    version = DeliverableVersion.objects.filter(pk=version_id).first()
    if version is not None:
        store_thumbnail(version, image_field="file", folder="deliverables/thumbnails")


def recover_version_thumbnails(*, older_than: datetime) -> int:
    """Queue again the thumbnails still missing for images uploaded before `older_than`
    (their task was lost with a killed worker)."""
    pending = DeliverableVersion.objects.filter(
        content_type__startswith="image/",
        thumbnail="",
        thumbnail_error="",
        uploaded_at__lt=older_than,
    ).values_list("pk", flat=True)
    pks = list(pending)
    for pk in pks:
        make_version_thumbnail.enqueue(pk)
    return len(pks)


class IssueSpecificationJob(JobKind):
    """Issue the next version of a project's specification: render, freeze, record.

    Run twice (a task delivered twice, a worker killed after the version was recorded), the
    second run finds the version already says the draft (`NothingToIssue`) and reports it:
    one issue makes one version."""

    def allowed(self, user: User, params: dict[str, Any]) -> bool:
        return (
            user.has_perm("projects.add_specificationversion")
            and Project.objects.visible_to(user).filter(pk=params.get("project")).exists()
        )

    def perform(self, job: Job, progress: Progress) -> Output:
        project = Project.objects.get(pk=job.params["project"])
        url = reverse("projects:specification_edit", args=[project.pk])
        try:
            version = actions.issue_specification(
                project=project, by=job.owner, language=job.params["language"]
            )
        except actions.SpecificationTooLong as too_long:
            raise JobFailed(
                _("Trop long pour être mis en page : raccourcissez %(sections)s, puis réessayez.")
                % {"sections": ", ".join(f"« {name} »" for name in too_long.sections)}
            ) from too_long
        except actions.NothingToIssue as same:
            return Output(
                message=_(
                    "La version %(number)s dit déjà exactement cela : aucune nouvelle version "
                    "émise."
                )
                % {"number": same.number},
                url=url,
            )
        return Output(
            message=_("Version %(number)s du cahier des charges émise (%(pages)s pages).")
            % {"number": version.number, "pages": version.page_count},
            url=url,
        )
