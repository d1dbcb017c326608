"""The project jobs the worker runs (`crm.jobs`): thin, they load what they need by id, check
the scope again, and call the same actions the views call (STYLE: background jobs)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Prefetch
from django.urls import reverse
from django.utils.translation import gettext as _
from django_tasks import task

from crm.jobs import JobFailed, JobKind, Output, Progress, written
from crm.models import Job, User
from crm.permissions import Rights
from crm.uploads import store_thumbnail
from projects import actions
from projects.models import DeliverableVersion, Project, ProjectMember


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
        project_id = params.get("project")
        return (
            user.has_perm("projects.add_specificationversion")
            and project_id is not None
            and Project.objects.visible_to(user).filter(pk=project_id).exists()
        )

    def perform(self, job: Job, progress: Progress) -> Output:
        project = Project.objects.get(pk=job.params["project"])
        url = reverse("projects:specification_edit", args=[project.pk])
        try:
            version = actions.issue_specification(
                project=project,
                by=job.owner,
                language=job.params["language"],
                on_progress=progress.rendering(),
            )
        except actions.SpecificationIncomplete as incomplete:
            raise JobFailed(incomplete.message) from incomplete
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


class SpecificationPreviewJob(JobKind):
    """The draft specification as a PDF marked DRAFT on every page: what issuing would
    produce, rendered by the worker (a long one takes tens of seconds)."""

    def allowed(self, user: User, params: dict[str, Any]) -> bool:
        project_id = params.get("project")
        if project_id is None:
            return False
        project = Project.objects.visible_to(user).filter(pk=project_id).first()
        return (
            project is not None
            and user.has_perm("projects.change_specification")
            and Rights(project, user).contribute
        )

    def perform(self, job: Job, progress: Progress) -> Output:
        from projects.pdf import render_specification, specification_snapshot

        project = Project.objects.select_related("holder").get(pk=job.params["project"])
        specification = actions.specification_for(project)
        try:
            actions.check_renderable(specification)
        except actions.SpecificationTooLong as too_long:
            raise JobFailed(
                _("Trop long pour être mis en page : raccourcissez %(sections)s, puis réessayez.")
                % {"sections": ", ".join(f"« {name} »" for name in too_long.sections)},
                url=reverse("projects:specification_edit", args=[project.pk]),
            ) from too_long
        last = specification.versions.order_by("-number").values_list("number", flat=True).first()
        number = (last or 0) + 1
        pdf = render_specification(
            specification_snapshot(specification),
            number=number,
            draft=True,
            language=job.params["language"],
            on_progress=progress.rendering(),
        )
        filename = _("%(reference)s-cahier-des-charges-v%(number)s-brouillon.pdf") % {
            "reference": project.reference,
            "number": number,
        }
        return written(lambda fileobj: fileobj.write(pdf.data), filename=filename)


def sheet_project() -> Any:
    """The projects with what their sheet shows loaded (team, thematics, funding)."""
    return Project.objects.for_detail().prefetch_related(
        Prefetch("memberships", queryset=ProjectMember.objects.select_related("user")),
        "thematics",
        "funding_lines",
    )


class ProjectSheetJob(JobKind):
    """A project sheet that embeds many images (see `SHEET_SYNC_MAX_IMAGES`)."""

    def allowed(self, user: User, params: dict[str, Any]) -> bool:
        project_id = params.get("project")
        return (
            project_id is not None
            and Project.objects.visible_to(user).filter(pk=project_id).exists()
        )

    def perform(self, job: Job, progress: Progress) -> Output:
        from projects.pdf import render_project_sheet

        project = sheet_project().get(pk=job.params["project"])
        pdf = render_project_sheet(
            project, language=job.params["language"], on_progress=progress.rendering()
        )
        filename = _("%(reference)s-fiche-projet.pdf") % {"reference": project.reference}
        return written(lambda fileobj: fileobj.write(pdf.data), filename=filename)
