"""The project jobs the worker runs (`crm.jobs`): thin, they load what they need by id, check
the scope again, and call the same actions the views call (STYLE: background jobs)."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.translation import gettext as _

from crm.jobs import JobFailed, JobKind, Output, Progress
from crm.models import Job, User
from projects import actions
from projects.models import Project


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
