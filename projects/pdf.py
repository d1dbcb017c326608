"""The project's documents: the specification ("cahier des charges") and the project sheet.

Both go through the shared renderer (`crm.pdf`), which fetches nothing outside the project.
The specification is rendered from a *snapshot*: a plain dict of its sections and of the
project's facts at that moment. A draft preview renders the current snapshot; issuing stores
the snapshot beside the frozen PDF, so that what a version says can be read again without the
PDF, and so that "nothing changed since version N" is a comparison of two dicts.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from django.db.models import OuterRef, Prefetch, Subquery
from django.template.loader import render_to_string
from django.utils import timezone, translation

from crm.pdf import (
    DOCUMENT_OPTIONS,
    RenderedPdf,
    RenderProgress,
    media_url,
    render_pdf_document,
)
from projects.models import (
    PHASE_OF_STEP,
    PHASE_STEPS,
    SECTION_FIELDS,
    Deliverable,
    DeliverableVersion,
    Phase,
    Project,
    ProjectMember,
    Specification,
    Step,
)

# Approved images shown in a document: enough to illustrate, few enough to stay small.
DOCUMENT_IMAGE_LIMIT = 6


def approved_images(project: Project, *, limit: int = DOCUMENT_IMAGE_LIMIT) -> list[dict[str, Any]]:
    """The thumbnails (print size already) of the project's approved image deliverables:
    the latest approved version of each, newest first. One query."""
    latest_approved = (
        DeliverableVersion.objects.filter(
            deliverable=OuterRef("deliverable"),
            review_state=DeliverableVersion.Review.APPROVED,
        )
        .order_by("-number")
        .values("pk")[:1]
    )
    versions = (
        DeliverableVersion.objects.filter(
            deliverable__project=project,
            review_state=DeliverableVersion.Review.APPROVED,
            pk=Subquery(latest_approved),
        )
        .exclude(thumbnail="")
        .select_related("deliverable")
        .order_by("-uploaded_at", "-pk")[:limit]
    )
    return [
        {
            "image": version.thumbnail.name,
            "caption": f"{version.deliverable.title} (v{version.number})",
            "kind": version.deliverable.get_kind_display(),
        }
        for version in versions
    ]


def _money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def specification_snapshot(specification: Specification) -> dict[str, Any]:
    """Everything the specification's PDF shows, as JSON-ready values."""
    project = (
        Project.objects.select_related("holder", "holder_contact", "territory")
        .prefetch_related(
            "thematics",
            "funding_lines",
            Prefetch("memberships", queryset=ProjectMember.objects.select_related("user")),
        )
        .get(pk=specification.project_id)
    )
    contact = project.holder_contact
    objection = (
        # Only when true: a snapshot without the key says the same as one issued before it
        # existed, so an unchanged draft still has nothing to issue.
        {"holder_contact_objects": True} if contact and contact.objects_to_contact else {}
    )
    # Likewise only when some kind is expected: phase → kinds, as codes (the PDF names them in
    # its own language).
    expected = specification.expected_kinds()
    return {
        **objection,
        **({"expected_deliverables": expected} if expected else {}),
        "reference": project.reference,
        "title": project.title,
        "holder": project.holder.name,
        "holder_logo": project.holder.logo.name or "",
        "holder_contact": contact.full_name if contact else "",
        "territory": project.territory.name,
        "thematics": [thematic.name for thematic in project.thematics.all()],
        "sections": {name: getattr(specification, name) for name in SECTION_FIELDS},
        "milestones": [
            {"date": milestone.due_date.isoformat(), "label": milestone.label}
            for milestone in specification.milestones.all()
        ],
        "budget": _money(project.budget),
        "funding": [
            {"funder": line.funder, "amount": _money(line.amount)}
            for line in project.funding_lines.all()
        ],
        "team": [
            {"name": member.user.get_full_name() or member.user.username, "role": member.role}
            for member in project.memberships.all()
        ],
        "start_date": project.start_date.isoformat() if project.start_date else None,
        "target_date": project.target_date.isoformat() if project.target_date else None,
        "images": approved_images(project),
    }


def specification_html(
    content: dict[str, Any], *, number: int, draft: bool, issued_on: date | None = None
) -> str:
    """The final HTML of a specification, in the active language."""
    team_roles = dict(ProjectMember.Role.choices)
    kind_labels = dict(Deliverable.Kind.choices)
    funding_total = sum(Decimal(line["amount"]) for line in content.get("funding", []))
    context = {
        "c": content,
        "sections": content.get("sections", {}),
        "milestones": [
            {"date": date.fromisoformat(m["date"]), "label": m["label"]}
            for m in content.get("milestones", [])
        ],
        "budget": Decimal(content["budget"]) if content.get("budget") else None,
        "funding": [
            {"funder": line["funder"], "amount": Decimal(line["amount"])}
            for line in content.get("funding", [])
        ],
        "funding_total": funding_total,
        "expected": {
            phase: [kind_labels.get(kind, kind) for kind in kinds]
            for phase, kinds in content.get("expected_deliverables", {}).items()
        },
        "team": [
            {
                "name": member["name"],
                "code": member["role"],
                "role": team_roles.get(member["role"], member["role"]),
            }
            for member in content.get("team", [])
        ],
        "holder_accounts": [m for m in content.get("team", []) if m["role"] == "holder"],
        "start_date": _date(content.get("start_date")),
        "target_date": _date(content.get("target_date")),
        "images": [
            {**image, "url": media_url(image["image"])} for image in content.get("images", [])
        ],
        "logo_url": media_url(content["holder_logo"]) if content.get("holder_logo") else "",
        "number": number,
        "draft": draft,
        "issued_on": issued_on or timezone.localdate(),
        "language": translation.get_language(),
    }
    return render_to_string("projects/pdf/specification.html", context)


def render_specification(
    content: dict[str, Any],
    *,
    number: int,
    draft: bool,
    language: str,
    issued_on: date | None = None,
    on_progress: RenderProgress | None = None,
) -> RenderedPdf:
    """The specification's PDF in `language`; `draft` puts the watermark on every page.
    `on_progress` hears how far the render has got (`crm.pdf.render_pdf_document`)."""
    with translation.override(language):
        html = specification_html(content, number=number, draft=draft, issued_on=issued_on)
    return render_pdf_document(html, on_progress=on_progress, **DOCUMENT_OPTIONS)


def project_sheet_html(project: Project) -> str:
    """The one-or-two-page sheet of a project, in the active language. `project` comes with
    its holder, territory, team and thematics loaded (see `Project.objects.for_sheet`)."""
    context = {
        "project": project,
        "phases": [
            {"label": Phase(phase).label, "steps": [Step(step) for step in steps]}
            for phase, steps in PHASE_STEPS.items()
        ],
        "current_phase": PHASE_OF_STEP[project.state],
        "images": [
            {**image, "url": media_url(image["image"])} for image in approved_images(project)
        ],
        "today": timezone.localdate(),
        "language": translation.get_language(),
    }
    return render_to_string("projects/pdf/project_sheet.html", context)


def render_project_sheet(
    project: Project, *, language: str, on_progress: RenderProgress | None = None
) -> RenderedPdf:
    with translation.override(language):
        html = project_sheet_html(project)
    return render_pdf_document(html, on_progress=on_progress, **DOCUMENT_OPTIONS)


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None
