from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from datetime import date
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, Max, Prefetch, prefetch_related_objects
from django.http import HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.template.response import TemplateResponse
from django.utils import translation
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from crm import fsm, jobs
from crm.forms import InteractionForm
from crm.fsm import TransitionRefused
from crm.http import AuthenticatedRequest
from crm.listing import filter_visible, first_rows_by, render_list
from crm.models import Contact, Role, User
from crm.pages import bars, prefilled_ids
from crm.pdf import pdf_response
from crm.permissions import Access, get_for_user, require_permission
from crm.timeline import TimelineEntry, interaction_entries, merge
from crm.uploads import serve_private_file
from crm.views import log_interaction_view
from projects import actions
from projects.filters import ProjectFilter
from projects.forms import (
    AnswerForm,
    DeliverableUploadForm,
    FundingLineFormSet,
    MilestoneFormSet,
    ProjectForm,
    ReviewForm,
    SpecificationForm,
)
from projects.models import (
    EXPECTING_PHASES,
    MAX_SECTION_LINES,
    OPEN_STEPS,
    PHASE_STEPS,
    Deliverable,
    DeliverableVersion,
    ExpectedDeliverable,
    Phase,
    Project,
    ProjectMember,
    ProjectTransition,
    Specification,
    SpecificationVersion,
    Step,
)

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

# A column shows its first cards and links to the filtered list for the rest.
BOARD_COLUMN_LIMIT = 10
CLOSED_STEPS = [Step.DELIVERED, Step.ABANDONED, Step.DECLINED]
TIMELINE_SIZE = 40
DASHBOARD_CACHE_SECONDS = 300
ADD_INTERACTION = "crm.add_interaction"
ADD_VERSION = "projects.add_deliverableversion"
WRITE_SPECIFICATION = "projects.change_specification"


def _with_team(projects: list[Project]) -> None:
    """Team members and thematics for a page of projects: two queries, whatever the page."""
    prefetch_related_objects(
        projects,
        Prefetch("memberships", queryset=ProjectMember.objects.select_related("user")),
        "thematics",
    )


def project_list(request: AuthenticatedRequest) -> HttpResponse:
    filterset = filter_visible(
        request, ProjectFilter, Project.objects.for_list(), perm="projects.view_project"
    )
    return render_list(request, "projects/project_list.html", filterset, on_page=_with_team)


def project_export(request: AuthenticatedRequest) -> HttpResponseBase:
    return jobs.export_list(request, "projects")


def project_board(request: AuthenticatedRequest) -> HttpResponse:
    """Open projects in columns by step; each column shows its first cards and its count."""
    require_permission(request.user, "projects.view_project")
    visible = Project.objects.visible_to(request.user)
    counts = dict(visible.order_by().values_list("state").annotate(n=Count("pk")))
    groups: list[tuple[StrOrPromise, list[str]]] = [
        (Phase.INTAKE.label, [Step.INTAKE]),
        *((Phase(phase).label, steps) for phase, steps in PHASE_STEPS.items()),
        (Phase.SUSPENDED.label, [Step.SUSPENDED]),
    ]
    # The first cards of every column, each read from the (step, target date) index.
    by_step = first_rows_by(
        visible.for_board(),
        "state",
        [*OPEN_STEPS, *CLOSED_STEPS],
        limit=BOARD_COLUMN_LIMIT,
        order=_card_order,
    )

    def column(phase_label: StrOrPromise, step: str) -> dict[str, object]:
        return {
            "phase": phase_label,
            "step": Step(step),
            "projects": by_step.get(step, []),
            "count": counts.get(step, 0),
        }

    columns = [column(phase_label, step) for phase_label, steps in groups for step in steps]
    # The ends of the road, folded into a strip at the board's end: open on demand.
    closed = [column(Phase.ENDED.label, step) for step in CLOSED_STEPS]
    return render(request, "projects/project_board.html", {"columns": columns, "closed": closed})


def _card_order(project: Project) -> tuple[bool, date, str]:
    """A board column's order (`for_board`): target date first, projects without one last."""
    return (project.target_date is None, project.target_date or date.min, project.reference)


def board_card_moves(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    project, _may = get_for_user(request, Project.objects.all(), pk)
    return fsm.card_moves_view(request, project)


def project_detail(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    project, may = get_for_user(
        request,
        Project.objects.for_detail().prefetch_related(
            Prefetch("memberships", queryset=ProjectMember.objects.select_related("user")),
            "thematics",
            "funding_lines",
            Prefetch(
                "deliverables",
                queryset=Deliverable.objects.prefetch_related(
                    Prefetch(
                        "versions",
                        queryset=DeliverableVersion.objects.select_related(
                            "uploaded_by", "reviewed_by"
                        ),
                    )
                ),
            ),
        ),
        pk,
    )
    user: User = request.user
    versions = list(
        SpecificationVersion.objects.filter(specification__project=project).select_related(
            "issued_by", "answered_by"
        )
        if user.has_perm("projects.view_specificationversion")
        else []
    )
    latest = versions[0] if versions else None
    may_answer = (
        latest is not None
        and latest.approval == SpecificationVersion.Approval.PENDING
        and project.is_holder_account(user)
    )
    context = {
        "project": project,
        "moves": project.machine.moves(user),
        "timeline": _project_timeline(project, user, versions),
        "interaction_form": InteractionForm(organisation=project.holder)
        if may.contribute and user.has_perm(ADD_INTERACTION)
        else None,
        "upload_form": DeliverableUploadForm()
        if may.contribute and user.has_perm(ADD_VERSION)
        else None,
        "may_review": user.has_perm("projects.change_deliverableversion"),
        "may_edit": user.has_perm("projects.change_project"),
        "show_deliverables": user.has_perm("projects.view_deliverable"),
        "show_holder_link": user.has_perm("crm.view_organisation"),
        "specification_versions": versions,
        "expected": _expected_deliverables(project)
        if user.has_perm("projects.view_deliverable")
        else [],
        "may_write_specification": may.contribute and user.has_perm(WRITE_SPECIFICATION),
        "answer_form": AnswerForm() if may_answer else None,
    }
    return TemplateResponse(request, "projects/project_detail.html", context)


def _expected_deliverables(project: Project) -> list[dict[str, object]]:
    """What the specification's draft expects, phase by phase, each kind of the current phase
    with whether a file of it is uploaded (one query; the deliverables are prefetched)."""
    rows = ExpectedDeliverable.objects.filter(specification__project=project)
    wanted: dict[str, set[str]] = {}
    for phase, kind in rows.values_list("phase", "kind"):
        wanted.setdefault(phase, set()).add(kind)
    uploaded = {d.kind for d in project.deliverables.all() if d.versions.all()}
    return [
        {
            "label": Phase(phase).label,
            "current": phase == project.phase,
            "kinds": [
                {"label": Deliverable.Kind(kind).label, "uploaded": kind in uploaded}
                for kind in Deliverable.Kind.values
                if kind in wanted[phase]
            ],
        }
        for phase in EXPECTING_PHASES
        if phase in wanted
    ]


def _project_timeline(
    project: Project, user: User, specification_versions: list[SpecificationVersion]
) -> list[TimelineEntry]:
    """What happened to the project, newest first. Holders see the moves and the
    specification; the team's uploads and exchanges are for those who may read them."""
    transitions = project.transitions.select_related("by")[:TIMELINE_SIZE]
    moves = (transition.timeline_entry() for transition in transitions)
    versions = sorted(
        (v for d in project.deliverables.all() for v in d.versions.all()),
        key=lambda v: v.uploaded_at,
        reverse=True,
    )
    uploads: Iterator[TimelineEntry] = (
        TimelineEntry(
            when=v.uploaded_at,
            kind="deliverable",
            label=_("Livrable"),
            text=_("%(title)s, version %(number)s déposée")
            % {
                "title": v.deliverable.title,
                "number": v.number,
            },
            author=v.uploaded_by,
        )
        for v in versions
    )
    # The mission's decisions on each version, with what it asked for.
    reviews: Iterator[TimelineEntry] = (
        TimelineEntry(
            when=v.reviewed_at,
            kind=f"review review--{v.review_state}",
            label=_("Revue"),
            text=(
                _("%(title)s, version %(number)s : approuvée")
                if v.review_state == DeliverableVersion.Review.APPROVED
                else _("%(title)s, version %(number)s : modifications demandées")
            )
            % {"title": v.deliverable.title, "number": v.number}
            + (f"\n« {v.review_comment} »" if v.review_comment else ""),
            author=v.reviewed_by,
        )
        for v in versions
        if v.reviewed_at and v.review_state != DeliverableVersion.Review.SUBMITTED
    )
    if not user.has_perm("projects.view_deliverable"):
        uploads = reviews = iter(())
    exchanges = (
        # Scoped: an exchange also filed on a confidential lead stays with that lead's people.
        interaction_entries(project.interactions.visible_to(user).for_timeline()[:TIMELINE_SIZE])
        if user.has_perm("crm.view_interaction")
        else iter(())
    )
    issued = _specification_entries(specification_versions)
    return merge(moves, uploads, reviews, issued, exchanges, limit=TIMELINE_SIZE)


def _specification_entries(versions: list[SpecificationVersion]) -> list[TimelineEntry]:
    entries = []
    for version in versions:
        entries.append(
            TimelineEntry(
                when=version.issued_at,
                kind="specification",
                label=_("Cahier des charges"),
                text=_("Version %(number)s émise") % {"number": version.number},
                author=version.issued_by,
            )
        )
        if version.answered_at:
            entries.append(
                TimelineEntry(
                    when=version.answered_at,
                    kind=f"specification specification--{version.approval}",
                    label=_("Cahier des charges"),
                    # A sentence, agreed with "version" (feminine), not the state's label.
                    text=(
                        _("Version %(number)s : approuvée par le porteur")
                        if version.approval == SpecificationVersion.Approval.APPROVED
                        else _("Version %(number)s : renvoyée par le porteur")
                    )
                    % {"number": version.number},
                    author=version.answered_by,
                    detail=version.answer_comment,
                )
            )
    return sorted(entries, key=lambda entry: entry.when, reverse=True)


@require_http_methods(["GET", "POST"])
def project_create(request: AuthenticatedRequest) -> HttpResponse:
    require_permission(request.user, "projects.add_project")
    # Prefilled from an organisation's or a contact's page. Only ids go into the form, whose
    # choices are scoped: an id the person may not see selects nothing.
    initial = prefilled_ids(request, "holder", "holder_contact")
    if "holder_contact" in initial and "holder" not in initial:
        contact = (
            Contact.objects.visible_to(request.user)
            .filter(pk=initial["holder_contact"])
            .only("organisation_id")
            .first()
        )
        if contact is not None:
            initial["holder"] = contact.organisation_id
    return _project_form(request, Project(), initial=initial)


@require_http_methods(["GET", "POST"])
def project_edit(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    project, _may = get_for_user(request, Project.objects.all(), pk, perm="projects.change_project")
    return _project_form(request, project)


def _project_form(
    request: AuthenticatedRequest, project: Project, *, initial: dict[str, int] | None = None
) -> HttpResponse:
    """Create or edit a project with its team and co-financing lines, all or nothing."""
    editing = project.pk is not None
    form = ProjectForm(request.POST or None, instance=project, user=request.user, initial=initial)
    funding = FundingLineFormSet(request.POST or None, instance=project, prefix="funding")
    if request.method == "POST" and form.is_valid() and funding.is_valid():
        try:
            with transaction.atomic():
                saved = actions.save_project(
                    project=form.instance,
                    by=request.user,
                    thematics=form.cleaned_data["thematics"],
                    designers=form.cleaned_data["designers"],
                    lead=form.cleaned_data["lead"],
                    holder_accounts=form.cleaned_data["holder_accounts"],
                )
                funding.instance = saved
                funding.save()
        except actions.ProjectChanged:
            messages.error(request, _("Ce projet vient de changer d'étape : rechargez la page."))
        else:
            messages.success(request, _("Projet %s enregistré.") % saved.reference)
            return redirect(saved)
    context = {"form": form, "funding": funding, "project": project if editing else None}
    return render(request, "projects/project_form.html", context)


@require_POST
def project_transition(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """Run one move from the project page or the board, then go back there."""
    project, _may = get_for_user(request, Project.objects.all(), pk)
    return fsm.transition_view(request, project)


@require_http_methods(["GET", "POST"])
def project_log_interaction(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """A note or an exchange with the holder, on the project's timeline (staff and team)."""
    scope = Project.objects.select_related("holder")
    project, _may = get_for_user(request, scope, pk, need=Access.CONTRIBUTE, perm=ADD_INTERACTION)
    return log_interaction_view(
        request,
        organisation=project.holder,
        about={"project": project},
        back=project,
        anchor="#timeline",
    )


# Deliverables ----------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def deliverable_upload(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """One file per request: the page's script sends several files one after another, each
    with its own progress bar; without JavaScript the form sends one."""
    project, _may = get_for_user(
        request, Project.objects.all(), pk, need=Access.CONTRIBUTE, perm=ADD_VERSION
    )
    # A work-queue line links here with the kind to upload already chosen.
    kind = request.GET.get("kind", "")
    initial = {"kind": kind} if kind in Deliverable.Kind.values else {}
    form = DeliverableUploadForm(request.POST or None, request.FILES or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        version = actions.add_deliverable_version(
            project=project,
            kind=form.cleaned_data["kind"],
            title=form.cleaned_data["title"],
            upload=form.cleaned_data["file"],
            by=request.user,
        )
        message = _("« %(title)s » : version %(number)s déposée.") % {
            "title": version.deliverable.title,
            "number": version.number,
        }
        if request.htmx:
            return HttpResponse(message, status=201)
        messages.success(request, message)
        return redirect(project)
    status = 400 if request.method == "POST" else 200
    if request.htmx and request.method == "POST":
        errors = "; ".join(str(e) for errs in form.errors.values() for e in errs)
        return HttpResponse(errors, status=400, content_type="text/plain; charset=utf-8")
    return render(
        request, "projects/deliverable_form.html", {"form": form, "project": project}, status=status
    )


def _version_for(request: AuthenticatedRequest, pk: int, version_pk: int) -> DeliverableVersion:
    # Holders read their project, not the team's work in progress.
    project, _may = get_for_user(
        request, Project.objects.all(), pk, perm="projects.view_deliverableversion"
    )
    return get_object_or_404(
        DeliverableVersion.objects.select_related("deliverable"),
        pk=version_pk,
        deliverable__project=project,
    )


def version_file(request: AuthenticatedRequest, pk: int, version_pk: int) -> HttpResponseBase:
    version = _version_for(request, pk, version_pk)
    extension = version.file.name.rsplit(".", 1)[-1]
    stem = version.original_name.rsplit(".", 1)[0] or version.deliverable.title
    return serve_private_file(
        version.file,
        filename=f"{stem}-v{version.number}.{extension}",
        content_type=version.content_type,
        as_attachment=request.GET.get("download") == "1",
    )


def version_thumbnail(request: AuthenticatedRequest, pk: int, version_pk: int) -> HttpResponseBase:
    version = _version_for(request, pk, version_pk)
    return serve_private_file(
        version.thumbnail, filename=f"vignette-{version.pk}.jpg", content_type="image/jpeg"
    )


def version_thumbnail_slot(request: AuthenticatedRequest, pk: int, version_pk: int) -> HttpResponse:
    """What stands for the version's thumbnail in the gallery (htmx asks again while the
    worker renders it)."""
    version = _version_for(request, pk, version_pk)
    return render(
        request,
        "projects/includes/_version_thumbnail.html",
        {"version": version, "project_pk": pk},
    )


@require_POST
def version_review(request: AuthenticatedRequest, pk: int, version_pk: int) -> HttpResponse:
    version = _version_for(request, pk, version_pk)
    require_permission(request.user, "projects.change_deliverableversion")
    form = ReviewForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Décision manquante : rien n'a été modifié."))
    else:
        try:
            actions.review_version(
                version=version,
                approve=form.cleaned_data["decision"] == "approve",
                by=request.user,
                comment=form.cleaned_data["comment"],
            )
        except TransitionRefused as refused:
            messages.error(request, " ".join(refused.reasons))
        except actions.ProjectChanged:
            messages.error(request, _("Cette version vient d'être revue par quelqu'un d'autre."))
        else:
            messages.success(request, _("Revue enregistrée."))
    return redirect("projects:project_detail", pk=pk)


def holder_projects(user: User) -> dict[str, object] | None:
    """A holder's own projects on their home page, each with its step (one query)."""
    if not user.has_role(Role.HOLDER):
        return None
    projects = list(Project.objects.visible_to(user).order_by("title")[:HOLDER_PROJECTS_SHOWN])
    return {"projects": projects}


HOLDER_PROJECTS_SHOWN = 20


def projects_stamp() -> str:
    """What changes when the mission's project figures may: each part read from the end of
    an index (a move or an edit saves the project, touching its `updated_at`; a new project
    raises the last id). A project deleted from the admin shows after
    `DASHBOARD_CACHE_SECONDS` at most. One query: PostgreSQL answers each MAX from an
    index's end."""
    row = Project.objects.order_by().aggregate(changed=Max("updated_at"), last=Max("pk"))
    return hashlib.sha256(repr(sorted(row.items())).encode()).hexdigest()


def dashboard_figures(user: User) -> dict[str, object] | None:
    """The dashboard's project charts: by phase, by territory, days per step (4 queries).

    None for a holder: their home shows their own work, nothing of the mission's figures.
    """
    if user.has_role(Role.HOLDER):
        return None
    visible = Project.objects.visible_to(user)
    scope = "all" if user.is_mission_staff or user.has_role(Role.OFFICER) else f"user-{user.pk}"
    if scope == "all":
        # Two aggregates over every project (38 ms at 50,000): kept until a project
        # changes. A designer's few projects are counted each time (a team change touches
        # no project row, so no stamp would see it).
        counts: tuple[list[tuple[str, str, int]], list[tuple[str, int]]] = cache.get_or_set(
            f"projects:dashboard:{get_language()}:{projects_stamp()}",
            lambda: (
                [(phase, str(label), n) for phase, label, n in visible.count_by_phase()],
                list(visible.count_open_by_territory()[:10]),
            ),
            timeout=DASHBOARD_CACHE_SECONDS,
        ) or ([], [])
        by_phase, by_territory = counts
    else:
        by_phase = [(phase, str(label), n) for phase, label, n in visible.count_by_phase()]
        by_territory = list(visible.count_open_by_territory()[:10])
    # Averages over the whole log move slowly: computed at most every few minutes per scope.
    days: dict[str, float] = (
        cache.get_or_set(
            f"projects:days-by-step:{scope}",
            lambda: ProjectTransition.objects.visible_to(user).average_days_by_step(),
            timeout=DASHBOARD_CACHE_SECONDS,
        )
        or {}
    )
    steps = [step for steps in PHASE_STEPS.values() for step in steps]
    by_step = [(Step(step).label, round(days.get(step, 0.0), 1)) for step in [Step.INTAKE, *steps]]
    return {
        "by_phase": bars([(label, count) for _phase, label, count in by_phase]),
        "by_territory": bars(by_territory),
        "days_by_step": bars(by_step),
        "project_total": sum(count for _phase, _label, count in by_phase),
    }


# The specification ---------------------------------------------------------------------------


def _writable_project(request: AuthenticatedRequest, pk: int) -> Project:
    scope = Project.objects.select_related("holder")
    return get_for_user(request, scope, pk, need=Access.CONTRIBUTE, perm=WRITE_SPECIFICATION)[0]


@require_http_methods(["GET", "POST"])
def specification_edit(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """The draft, section by section, with its milestones; the issued versions beside it."""
    project = _writable_project(request, pk)
    specification = actions.specification_for(project)
    data = request.POST or None
    form = SpecificationForm(data, instance=specification)
    milestones = MilestoneFormSet(data, instance=specification, prefix="milestones")
    conflict = False
    if request.method == "POST" and form.is_valid() and milestones.is_valid():
        try:
            with transaction.atomic():
                actions.save_specification(
                    specification=form.instance,
                    by=request.user,
                    seen_revision=form.cleaned_data["revision"],
                    expected=form.expected(),
                )
                milestones.save()
        except actions.SpecificationChanged:
            # Keep what this user typed; saving again (now knowingly) replaces the other text.
            conflict = True
            current = Specification.objects.select_related("updated_by").get(pk=specification.pk)
            posted = request.POST.copy()
            posted["revision"] = str(current.revision)
            form = SpecificationForm(posted, instance=current)
            milestones = MilestoneFormSet(posted, instance=current, prefix="milestones")
            messages.error(
                request,
                _(
                    "%(who)s a enregistré ce cahier des charges pendant que vous le modifiiez : "
                    "rien n'a été enregistré. Votre texte est conservé ci-dessous ; "
                    "enregistrez à nouveau pour remplacer sa version par la vôtre."
                )
                % {"who": current.updated_by or _("Quelqu'un")},
            )
        else:
            messages.success(request, _("Brouillon du cahier des charges enregistré."))
            return redirect("projects:specification_edit", pk=project.pk)
    versions = list(specification.versions.select_related("issued_by", "answered_by"))
    unchanged = (
        bool(versions) and not form.is_bound and _draft_unchanged(specification, versions[0])
    )
    context = {
        "project": project,
        "specification": specification,
        "form": form,
        "milestones": milestones,
        "versions": versions,
        "draft_number": (versions[0].number + 1) if versions else 1,
        "may_issue": request.user.has_perm("projects.add_specificationversion"),
        "unchanged": unchanged,
        "missing": specification.empty_required_sections(),
        "conflict": conflict,
    }
    status = 400 if request.method == "POST" else 200
    return render(request, "projects/specification_form.html", context, status=status)


def _draft_unchanged(specification: Specification, latest: SpecificationVersion) -> bool:
    """Whether issuing now would say exactly what the latest version says."""
    from projects.pdf import specification_snapshot

    return bool(specification_snapshot(specification) == latest.content)


def specification_preview(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """The draft as a PDF marked DRAFT on every page, in the user's language, rendered by the
    worker: the job's page follows the pages being laid out, then offers the file."""
    project = _writable_project(request, pk)
    specification = actions.specification_for(project)
    try:
        actions.check_renderable(specification)
    except actions.SpecificationTooLong as too_long:
        messages.error(request, _too_long_message(too_long))
        return redirect("projects:specification_edit", pk=project.pk)
    last = specification.versions.order_by("-number").values_list("number", flat=True).first()
    job = jobs.start(
        kind="specification_preview",
        owner=request.user,
        label=_("%(reference)s : aperçu du cahier des charges (brouillon de la version %(number)s)")
        % {"reference": project.reference, "number": (last or 0) + 1},
        params={"project": project.pk, "language": translation.get_language()},
        unit=_("pages"),
    )
    return redirect(job)


def _too_long_message(too_long: actions.SpecificationTooLong) -> str:
    return _(
        "Trop long pour être mis en page : raccourcissez %(sections)s (%(limit)s lignes au plus "
        "par section), puis réessayez."
    ) % {
        "sections": ", ".join(f"« {name} »" for name in too_long.sections),
        "limit": MAX_SECTION_LINES,
    }


@require_POST
def specification_issue(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    project, _may = get_for_user(
        request, Project.objects.all(), pk, perm="projects.add_specificationversion"
    )
    specification = actions.specification_for(project)
    latest = specification.versions.order_by("-number").first()
    try:
        actions.check_issuable(specification)
        if latest is not None and _draft_unchanged(specification, latest):
            raise actions.NothingToIssue(latest.number)
    except actions.SpecificationIncomplete as incomplete:
        messages.error(request, incomplete.message)
    except actions.SpecificationTooLong as too_long:
        messages.error(request, _too_long_message(too_long))
    except actions.NothingToIssue as same:
        messages.info(
            request,
            _("La version %(number)s dit déjà exactement cela : aucune nouvelle version émise.")
            % {"number": same.number},
        )
    else:
        if request.POST.get("confirm") != "1":
            # Issuing freezes a contractual document: the page's button asks first.
            messages.error(
                request,
                _("Rien n'est émis sans votre confirmation : « Oui, émettre » sous le bouton."),
            )
            return redirect("projects:specification_edit", pk=project.pk)
        # Rendering a long specification takes seconds: the worker does it, and the job's
        # page follows it (the action still makes one version however often it runs).
        number = latest.number + 1 if latest else 1
        job = jobs.start(
            kind="specification_issue",
            owner=request.user,
            label=_("%(reference)s : émission de la version %(number)s du cahier des charges")
            % {"reference": project.reference, "number": number},
            params={"project": project.pk, "language": translation.get_language()},
        )
        return redirect(job)
    return redirect("projects:specification_edit", pk=project.pk)


def _specification_version_for(
    request: AuthenticatedRequest,
    pk: int,
    number: int,
    *,
    need: Access | Callable[[Project, User], bool] = Access.READ,
) -> SpecificationVersion:
    project, _may = get_for_user(
        request, Project.objects.all(), pk, need=need, perm="projects.view_specificationversion"
    )
    return get_object_or_404(
        SpecificationVersion.objects.select_related("specification__project"),
        specification__project=project,
        number=number,
    )


def specification_version_file(
    request: AuthenticatedRequest, pk: int, number: int
) -> HttpResponseBase:
    """An issued version, byte for byte as it was frozen."""
    version = _specification_version_for(request, pk, number)
    filename = _("%(reference)s-cahier-des-charges-v%(number)s.pdf") % {
        "reference": version.specification.project.reference,
        "number": version.number,
    }
    response = serve_private_file(
        version.file,
        filename=filename,
        content_type="application/pdf",
        as_attachment=request.GET.get("download") == "1",
    )
    response["ETag"] = f'"{version.sha256}"'
    return response


@require_POST
def specification_answer(request: AuthenticatedRequest, pk: int, number: int) -> HttpResponse:
    """The holder's answer on the latest issued version: approve, or return with a comment."""
    version = _specification_version_for(request, pk, number, need=Project.is_holder_account)
    project = version.specification.project
    form = AnswerForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Réponse incomplète : rien n'a été modifié."))
        return redirect(f"{project.get_absolute_url()}#specification")
    try:
        actions.answer_specification(
            version=version,
            approve=form.cleaned_data["decision"] == "approve",
            by=request.user,
            comment=form.cleaned_data["comment"],
        )
    except TransitionRefused as refused:
        messages.error(request, " ".join(refused.reasons))
    except actions.ProjectChanged:
        messages.error(request, _("Cette version vient de recevoir une réponse."))
    else:
        messages.success(request, _("Votre réponse sur le cahier des charges est enregistrée."))
    return redirect(f"{project.get_absolute_url()}#specification")


def project_sheet(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """The project sheet PDF: key facts, team, current step, approved deliverables. At once
    when it embeds few images; else the worker renders it (`SHEET_SYNC_MAX_IMAGES`)."""
    from projects.pdf import approved_images, render_project_sheet
    from projects.tasks import sheet_project

    project, _may = get_for_user(request, sheet_project(), pk)
    language = translation.get_language()
    if len(approved_images(project)) > settings.SHEET_SYNC_MAX_IMAGES:
        job = jobs.start(
            kind="project_sheet",
            owner=request.user,
            label=_("%(reference)s : fiche projet") % {"reference": project.reference},
            params={"project": project.pk, "language": language},
            unit=_("pages"),
        )
        return redirect(job)
    pdf = render_project_sheet(project, language=language)
    filename = _("%(reference)s-fiche-projet.pdf") % {"reference": project.reference}
    return pdf_response(pdf.data, filename=filename)
