"""What projects tell people (`crm.notifications`) and what they ask of them (`crm.workqueue`),
registered by `ProjectsConfig.ready()`."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import TYPE_CHECKING, Any

from django.db.models import Exists, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm import notifications, workqueue
from crm.fsm import TransitionLog
from crm.models import Role, User
from crm.notifications import EventKind, RecordKind
from crm.workqueue import Item
from projects.models import (
    NEXT_IN_PHASE,
    OPEN_STEPS,
    PHASE_STEPS,
    Deliverable,
    DeliverableVersion,
    ExpectedDeliverable,
    Project,
    ProjectMember,
    ProjectTransition,
    SpecificationVersion,
    Step,
)

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

# The moves a project's team hears of: its start and its phase gates.
TOLD_MOVES = {
    "accept_watch",
    "accept_concept",
    "accept_implementation",
    "enter_conceptualisation",
    "enter_implementation",
    "deliver",
}


def team(project: Project) -> list[int]:
    """The designers and the mission lead of the project (not its holder accounts)."""
    return list(
        project.memberships.filter(
            role__in=[ProjectMember.Role.DESIGNER, ProjectMember.Role.LEAD]
        ).values_list("user_id", flat=True)
    )


def mission_leads(project: Project) -> list[int]:
    return list(
        project.memberships.filter(role=ProjectMember.Role.LEAD).values_list("user_id", flat=True)
    )


def holders(project: Project) -> list[int]:
    return list(
        project.memberships.filter(role=ProjectMember.Role.HOLDER).values_list("user_id", flat=True)
    )


def staff() -> list[int]:
    return list(
        User.objects.filter(is_active=True, groups__name=Role.STAFF).values_list("pk", flat=True)
    )


def on_move(
    project: Project, log: TransitionLog
) -> tuple[str, Iterable[int], dict[str, Any]] | None:
    if log.name not in TOLD_MOVES:
        return None
    return "project_moved", team(project), {"source": log.source, "target": log.target}


def _move_words(params: dict[str, Any]) -> dict[str, Any]:
    labels: dict[Any, StrOrPromise] = dict(Step.choices)
    return {
        "move": f"{labels.get(params.get('source'), '')} → {labels.get(params.get('target'), '')}"
    }


def project_name(project: Project) -> str:
    """A project as notifications and the work queue name it: its reference and title."""
    return f"{project.reference} · {project.title}"


def register() -> None:
    notifications.register_record(
        RecordKind(
            model="projects.Project",
            name=project_name,
            reference=lambda project: project.reference,
            followers=team,
            on_move=on_move,
        )
    )
    for kind in KINDS:
        notifications.register_kind(kind)
    workqueue.register(project_work)
    workqueue.register_due(projects_due)


KINDS = [
    EventKind(
        key="version_submitted",
        label=gettext_lazy("Un livrable est déposé et attend sa revue"),
        text=gettext_lazy(
            "%(actor)s a déposé « %(deliverable)s » (version %(number)s) sur %(record)s : à revoir."
        ),
        needs_action=True,
    ),
    EventKind(
        key="version_changes_requested",
        label=gettext_lazy("Des modifications sont demandées sur un livrable"),
        text=gettext_lazy(
            "%(actor)s demande des modifications sur « %(deliverable)s » (version "
            "%(number)s), %(record)s."
        ),
        needs_action=True,
    ),
    EventKind(
        key="version_approved",
        label=gettext_lazy("Un livrable est approuvé"),
        text=gettext_lazy(
            "%(actor)s a approuvé « %(deliverable)s » (version %(number)s), %(record)s."
        ),
    ),
    EventKind(
        key="specification_issued",
        label=gettext_lazy("Un cahier des charges attend votre réponse"),
        text=gettext_lazy(
            "%(actor)s a émis la version %(number)s du cahier des charges de %(record)s : "
            "elle attend votre réponse."
        ),
        needs_action=True,
    ),
    EventKind(
        key="specification_returned",
        label=gettext_lazy("Le porteur renvoie le cahier des charges"),
        text=gettext_lazy(
            "%(actor)s a renvoyé la version %(number)s du cahier des charges de %(record)s."
        ),
        needs_action=True,
    ),
    EventKind(
        key="specification_approved",
        label=gettext_lazy("Le porteur approuve le cahier des charges"),
        text=gettext_lazy(
            "%(actor)s a approuvé la version %(number)s du cahier des charges de %(record)s."
        ),
    ),
    EventKind(
        key="project_moved",
        label=gettext_lazy("Un projet de votre équipe change de phase"),
        text=gettext_lazy("%(actor)s a fait passer %(record)s : %(move)s."),
        words=_move_words,
    ),
]


# The work queue -----------------------------------------------------------------------------

# Lines of one kind at most on a home page: the page stays bounded whatever the backlog.
PER_KIND = 50


def _managed(user: User) -> Any:
    """The projects whose reviews and answers wait for `user`: every project for the
    mission's staff, those they lead for a mission lead."""
    if user.is_mission_staff:
        return Project.objects.all()
    return Project.objects.filter(
        Exists(
            ProjectMember.objects.filter(
                project=OuterRef("pk"), user=user, role=ProjectMember.Role.LEAD
            )
        )
    )


def _on_team(user: User, role: str) -> Any:
    return Project.objects.filter(
        Exists(ProjectMember.objects.filter(project=OuterRef("pk"), user=user, role=role))
    )


def _newer_version() -> Exists:
    return Exists(
        DeliverableVersion.objects.filter(
            deliverable=OuterRef("deliverable"), number__gt=OuterRef("number")
        )
    )


def _newer_specification() -> Exists:
    return Exists(
        SpecificationVersion.objects.filter(
            specification=OuterRef("specification"), number__gt=OuterRef("number")
        )
    )


def _approved(kinds: list[str]) -> Exists:
    """The project has a deliverable of one of `kinds` whose latest version is approved."""
    latest = (
        DeliverableVersion.objects.filter(deliverable=OuterRef("pk"))
        .order_by("-number")
        .values("review_state")[:1]
    )
    return Exists(
        Deliverable.objects.filter(project=OuterRef("pk"), kind__in=kinds)
        .annotate(latest_state=Subquery(latest))
        .filter(latest_state=DeliverableVersion.Review.APPROVED)
    )


def gates_ready() -> Any:
    """Open projects at the last step of a phase whose gate's conditions all hold now (the
    conditions of `Project.enter_conceptualisation`, `enter_implementation` and `deliver`,
    as one query)."""
    latest_approval = (
        SpecificationVersion.objects.filter(specification__project=OuterRef("pk"))
        .order_by("-number")
        .values("approval")[:1]
    )
    holder = ProjectMember.objects.filter(project=OuterRef("pk"), role=ProjectMember.Role.HOLDER)
    issued = SpecificationVersion.objects.filter(specification__project=OuterRef("pk"))
    K = Deliverable.Kind
    return Project.objects.annotate(latest_approval=Subquery(latest_approval)).filter(
        Q(
            Q(state=Step.INVOLVE)
            & Exists(issued)
            & (~Exists(holder) | Q(latest_approval=SpecificationVersion.Approval.APPROVED))
            & _approved([K.TREND_BOARD])
        )
        | Q(Q(state=Step.CREATE) & _approved([K.IDEA_NOTEBOOK, K.CONCEPT_SKETCH]))
        | Q(Q(state=Step.IMPLEMENT) & _approved([K.EVALUATION_REPORT]))
    )


def _entered_step(project: str, created_at: str) -> Coalesce:
    """When the project `project` refers to entered its current step: its last move, or its
    creation (`created_at`) when it never moved."""
    last_move = (
        ProjectTransition.objects.filter(project=OuterRef(project))
        .order_by("-at", "-pk")
        .values("at")[:1]
    )
    return Coalesce(Subquery(last_move), F(created_at))


def expected_missing(user: User) -> QuerySet[ExpectedDeliverable]:
    """The kinds of deliverable the specifications of `user`'s projects (as a designer of
    the team) expect in the project's current phase, of which no file is uploaded yet: no
    deliverable of that kind has a version. One query; `entered` is when the project entered
    its current step."""
    project = "specification__project"
    in_current_phase = Q()
    for phase, steps in PHASE_STEPS.items():
        in_current_phase |= Q(phase=phase, **{f"{project}__state__in": steps})
    uploaded = DeliverableVersion.objects.filter(
        deliverable__project=OuterRef(project), deliverable__kind=OuterRef("kind")
    )
    return (
        ExpectedDeliverable.objects.filter(
            in_current_phase,
            **{f"{project}__in": _on_team(user, ProjectMember.Role.DESIGNER)},
        )
        .exclude(Exists(uploaded))
        .annotate(entered=_entered_step(project, f"{project}__created_at"))
        .select_related(project)
    )


def steps_to_move(user: User) -> QuerySet[Project]:
    """The projects `user` may move to the next step inside the phase (`Project.advance`: a
    designer of the team, a step that is not the last of its phase) whose step's work is done
    from the designer's side: a version was approved since the project entered its step, and
    no deliverable's latest version waits for review or for changes. One query; `approved_at`
    is the latest of those approvals."""
    approved = (
        DeliverableVersion.objects.filter(
            deliverable__project=OuterRef("pk"),
            review_state=DeliverableVersion.Review.APPROVED,
            reviewed_at__gt=OuterRef("entered"),
        )
        .order_by("-reviewed_at")
        .values("reviewed_at")[:1]
    )
    open_review = DeliverableVersion.objects.filter(
        deliverable__project=OuterRef("pk"),
        review_state__in=[
            DeliverableVersion.Review.SUBMITTED,
            DeliverableVersion.Review.CHANGES_REQUESTED,
        ],
    ).exclude(_newer_version())
    team: QuerySet[Project] = _on_team(user, ProjectMember.Role.DESIGNER)
    return (
        team.filter(state__in=list(NEXT_IN_PHASE))
        .annotate(entered=_entered_step("pk", "created_at"))
        .annotate(approved_at=Subquery(approved))
        .filter(approved_at__isnull=False)
        .exclude(Exists(open_review))
    )


def project_work(user: User) -> list[Item]:
    """Staff and mission leads: versions to review, specifications sent back, projects past
    their target date, gates ready (staff). Designers: their deliverables with changes
    requested, the deliverables their specifications expect now and not yet uploaded, the
    steps they may move. Holders: the specification waiting for their answer. Five queries
    (six for staff, seven for designers), whatever the number of projects."""
    if not user.has_perm("projects.view_project"):
        return []
    items: list[Item] = []
    managed = _managed(user)
    to_review = (
        DeliverableVersion.objects.filter(
            review_state=DeliverableVersion.Review.SUBMITTED,
            deliverable__project__in=managed,
        )
        .select_related("deliverable__project")
        .order_by("uploaded_at", "pk")[:PER_KIND]
    )
    for version in to_review:
        project = version.deliverable.project
        items.append(
            Item(
                text=_("Revoir « %(deliverable)s » v%(number)s — %(project)s")
                % {
                    "deliverable": version.deliverable.title,
                    "number": version.number,
                    "project": project_name(project),
                },
                url=f"{reverse('projects:project_detail', args=[project.pk])}#deliverables",
                since=version.uploaded_at,
                action=_("À revoir"),
            )
        )
    returned = (
        SpecificationVersion.objects.filter(
            approval=SpecificationVersion.Approval.RETURNED,
            specification__project__in=managed,
        )
        .exclude(_newer_specification())
        .select_related("specification__project")
        .order_by("answered_at", "pk")[:PER_KIND]
    )
    for returned_version in returned:
        project = returned_version.specification.project
        items.append(
            Item(
                text=_("Cahier des charges v%(number)s renvoyé par le porteur — %(project)s")
                % {
                    "number": returned_version.number,
                    "project": project_name(project),
                },
                url=reverse("projects:specification_edit", args=[project.pk]),
                since=returned_version.answered_at or returned_version.issued_at,
                action=_("Renvoyé"),
            )
        )
    for project in managed.overdue().order_by("target_date", "pk")[:PER_KIND]:
        items.append(
            Item(
                text=_("Date cible dépassée — %(project)s") % {"project": project_name(project)},
                url=project.get_absolute_url(),
                since=project.target_date,
                due=project.target_date,
                action=_("En retard"),
            )
        )
    if user.is_mission_staff:
        # Gates are crossed by the mission: "ready" has no date of its own, so it is as old
        # as the project's last move.
        for project in gates_ready().order_by("updated_at", "pk")[:PER_KIND]:
            items.append(
                Item(
                    text=_("Prêt à passer la phase — %(project)s")
                    % {"project": project_name(project)},
                    url=f"{project.get_absolute_url()}#steps-title",
                    since=project.updated_at,
                    action=_("Porte prête"),
                )
            )
    changes = (
        DeliverableVersion.objects.filter(
            review_state=DeliverableVersion.Review.CHANGES_REQUESTED,
            deliverable__project__in=_on_team(user, ProjectMember.Role.DESIGNER),
        )
        .exclude(_newer_version())
        .select_related("deliverable__project")
        .order_by("reviewed_at", "pk")[:PER_KIND]
    )
    for version in changes:
        project = version.deliverable.project
        items.append(
            Item(
                text=_("Modifications demandées sur « %(deliverable)s » v%(number)s — %(project)s")
                % {
                    "deliverable": version.deliverable.title,
                    "number": version.number,
                    "project": project_name(project),
                },
                url=f"{reverse('projects:deliverable_upload', args=[project.pk])}"
                f"?kind={version.deliverable.kind}",
                since=version.reviewed_at or version.uploaded_at,
                action=_("À reprendre"),
            )
        )
    if user.has_role(Role.DESIGNER):
        items.extend(_designer_work(user))
    waiting = (
        SpecificationVersion.objects.filter(
            approval=SpecificationVersion.Approval.PENDING,
            specification__project__in=_on_team(user, ProjectMember.Role.HOLDER),
        )
        .exclude(_newer_specification())
        .select_related("specification__project")
        .order_by("issued_at", "pk")[:PER_KIND]
    )
    for waiting_version in waiting:
        project = waiting_version.specification.project
        items.append(
            Item(
                text=_("Répondre au cahier des charges v%(number)s — %(project)s")
                % {
                    "number": waiting_version.number,
                    "project": project_name(project),
                },
                url=f"{project.get_absolute_url()}#specification",
                since=waiting_version.issued_at,
                action=_("À approuver"),
            )
        )
    return items


def _designer_work(user: User) -> list[Item]:
    """A designer's expected deliverables not yet uploaded and the steps they may move: two
    queries, whatever the number of projects."""
    items: list[Item] = []
    labels = dict(Deliverable.Kind.choices)
    missing = expected_missing(user).order_by("entered", "pk")[:PER_KIND]
    for expected in missing:
        project = expected.specification.project
        items.append(
            Item(
                text=_("Livrable attendu : %(kind)s — %(project)s")
                % {
                    "kind": labels.get(expected.kind, expected.kind),
                    "project": project_name(project),
                },
                url=f"{reverse('projects:deliverable_upload', args=[project.pk])}"
                f"?kind={expected.kind}",
                since=expected.entered,  # type: ignore[attr-defined]  # from expected_missing
                action=_("À déposer"),
            )
        )
    for project in steps_to_move(user).order_by("approved_at", "pk")[:PER_KIND]:
        items.append(
            Item(
                text=_("Étape à faire avancer : %(step)s → %(next)s — %(project)s")
                % {
                    "step": Step(project.state).label,
                    "next": Step(NEXT_IN_PHASE[project.state]).label,
                    "project": project_name(project),
                },
                url=f"{project.get_absolute_url()}#steps-title",
                since=project.approved_at,  # type: ignore[attr-defined]  # from steps_to_move
                action=_("À avancer"),
            )
        )
    return items


def projects_due(users: list[User], start: date, end: date) -> dict[int, list[Item]]:
    """For the digest: open projects whose target date falls between `start` and `end`, for
    the mission's staff (every project) and mission leads (theirs): two queries a batch."""
    staff_ids = [user.pk for user in users if user.is_mission_staff]
    others = [user.pk for user in users if not user.is_mission_staff]
    window = {"state__in": OPEN_STEPS, "target_date__range": (start, end)}
    due: dict[int, list[Item]] = {}
    if staff_ids:
        items = [_late(project) for project in Project.objects.filter(**window)[:PER_KIND]]
        for user_id in staff_ids:
            due[user_id] = list(items)
    if others:
        led = ProjectMember.objects.filter(
            user_id__in=others,
            role=ProjectMember.Role.LEAD,
            **{f"project__{key}": value for key, value in window.items()},
        ).select_related("project")
        for member in led:
            due.setdefault(member.user_id, []).append(_late(member.project))
    return due


def _late(project: Project) -> Item:
    target = project.target_date
    assert target is not None, "only projects with a target date in the window are read"
    return Item(
        text=_("Date cible — %(project)s") % {"project": project_name(project)},
        url=project.get_absolute_url(),
        since=target,
        due=target,
        action=_("Date cible"),
    )
