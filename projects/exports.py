"""Excel export of the project list (the shared writer lives in crm.exports)."""

from __future__ import annotations

from django.db.models import Prefetch
from django.utils.translation import gettext_lazy as _

from crm.exports import Column, ListExport, choice_label
from projects.models import Project, ProjectMember


def _designers(project: Project) -> str:
    return ", ".join(
        str(m.user) for m in project.memberships.all() if m.role == ProjectMember.Role.DESIGNER
    )


COLUMNS = [
    Column(_("Référence"), lambda p: p.reference, width=14),
    Column(_("Intitulé"), lambda p: p.title, width=40),
    Column(_("Porteur"), lambda p: p.holder.name, width=32),
    Column(_("Territoire"), lambda p: p.territory.name, width=20),
    Column(_("Thématiques"), lambda p: ", ".join(t.name for t in p.thematics.all())),
    Column(_("Phase"), choice_label("phase"), width=22),
    Column(_("Étape"), choice_label("state"), width=18),
    Column(_("Designers"), _designers),
    Column(_("Date de début"), lambda p: p.start_date, kind="date"),
    Column(_("Échéance"), lambda p: p.target_date, kind="date"),
    Column(_("Budget"), lambda p: p.budget, kind="money"),
    Column(_("Créé le"), lambda p: p.created_at, kind="datetime"),
]


def project_list_export() -> ListExport:
    from projects.filters import ProjectFilter

    return ListExport(
        filterset=ProjectFilter,
        queryset=Project.objects.for_list,
        perm="projects.view_project",
        columns=lambda: COLUMNS,
        filename="projets",
        sheet_title=_("Projets"),
        label=_("Export des projets"),
        for_writing=lambda rows: rows.prefetch_related(
            Prefetch("memberships", queryset=ProjectMember.objects.select_related("user")),
            "thematics",
        ),
    )
