from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProjectsConfig(AppConfig):
    name = "projects"
    verbose_name = _("Projets design")

    def ready(self) -> None:
        # crm is the base layer and never imports this app: what crm shows or runs of it is
        # registered here.
        from crm import audit, dashboard, demo, jobs
        from crm.models import ORGANISATIONS_READ_BY_ROLE, Role
        from projects.models import designer_reads_holders

        ORGANISATIONS_READ_BY_ROLE[Role.DESIGNER] = designer_reads_holders
        audit.SPECIAL_RELATIONS["projects.project"] = {"team": team_as_text}
        jobs.JOB_KINDS["specification_issue"] = "projects.tasks.IssueSpecificationJob"
        jobs.JOB_KINDS["specification_preview"] = "projects.tasks.SpecificationPreviewJob"
        jobs.JOB_KINDS["project_sheet"] = "projects.tasks.ProjectSheetJob"
        if "projects.tasks.recover_version_thumbnails" not in jobs.THUMBNAIL_RECOVERY:
            jobs.THUMBNAIL_RECOVERY.append("projects.tasks.recover_version_thumbnails")
        jobs.LIST_EXPORTS["projects"] = "projects.exports.project_list_export"
        if "projects.demo.seed" not in demo.SEEDERS:
            demo.SEEDERS.append("projects.demo.seed")
        dashboard.register(
            dashboard.Panel(
                key="projects",
                template="projects/includes/_dashboard_projects.html",
                build="projects.views.dashboard_figures",
                perm="projects.view_project",
                order=10,
            )
        )
        dashboard.register(
            dashboard.Panel(
                key="holder_projects",
                template="projects/includes/_dashboard_holder.html",
                build="projects.views.holder_projects",
                perm="projects.view_project",
                order=10,
            )
        )
        from projects import notifications

        notifications.register()
        from projects.relations import register_sections

        register_sections()


def team_as_text(project: object) -> list[str]:
    """The project's team in its history: each member with their role."""
    return [
        f"{member.user} ({member.get_role_display()})"
        for member in project.memberships.select_related("user")  # type: ignore[attr-defined]
    ]
