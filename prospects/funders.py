"""The funders' activity workbook (DESIGN §5): the figures the mission reports each
year to the State, the Region and the two Departments, as one Excel file of several sheets.

Every figure is an aggregate computed by the database over the year's records; Python only
pivots the few grouped rows that come back. Definitions, also written on the workbook's first
sheet:

- a project *supported* in the year existed before the year ended and had not ended (delivered,
  abandoned, declined) before the year began; its step at the end of the year is the target of
  its last transition up to then (a project never moved is still in intake);
- a lead *worked* in the year was opened in the year or moved in the year; it is *won* / *lost*
  in the year when its move to `won` / `lost` is dated in the year;
- investment and jobs are the estimates of the leads won in the year;
- partner organisations are the holders of the supported projects and the investors and
  operators of the leads worked in the year — except those of confidential leads, whose names
  stay out of a document that leaves the mission (their figures are counted in the totals).

Staff only: the workbook counts every lead, confidential ones included.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypedDict

from django.db.models import (
    BooleanField,
    Count,
    Exists,
    ExpressionWrapper,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm import jobs
from crm.exports import Column, Sheet, write_workbook
from crm.http import AuthenticatedRequest
from crm.models import Job, Organisation, User
from crm.permissions import require_staff
from projects.models import (
    PHASE_OF_STEP,
    Deliverable,
    DeliverableVersion,
    Phase,
    Project,
    ProjectTransition,
    Step,
)
from prospects.models import Lead, LeadTransition, PromotionEvent, Stage

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


# What the year's querysets annotate their rows with. The plugin reads the annotations as an
# unnamed TypedDict of Any (they are subqueries), which it does not match with a named one:
# the functions' returns say `type: ignore[return-value]` for that alone.
class _YearSteps(TypedDict):
    year_start_step: Any
    year_end_step: Any


class _YearMoves(TypedDict):
    opened_in_year: Any
    moved_in_year: Any
    won_in_year: Any
    lost_in_year: Any


ENDED_STEPS = [Step.DELIVERED, Step.ABANDONED, Step.DECLINED]
FIRST_YEAR = 2015
# The columns of the territory × phase sheet: the phases, with "ended" split in two.
PHASE_COLUMNS: list[tuple[str, Any]] = [
    (Phase.INTAKE, Phase.INTAKE.label),
    (Phase.WATCH, Phase.WATCH.label),
    (Phase.CONCEPT, Phase.CONCEPT.label),
    (Phase.IMPLEMENTATION, Phase.IMPLEMENTATION.label),
    (Phase.SUSPENDED, Phase.SUSPENDED.label),
    ("delivered", gettext_lazy("Livrés")),
    ("stopped", gettext_lazy("Abandonnés ou déclinés")),
]


def year_bounds(year: int) -> tuple[datetime.datetime, datetime.datetime]:
    """The first instant of `year` and of the year after, in the project's time zone."""
    zone = timezone.get_current_timezone()
    start = datetime.datetime(year, 1, 1, tzinfo=zone)
    return start, datetime.datetime(year + 1, 1, 1, tzinfo=zone)


def _step_before(moment: datetime.datetime) -> Coalesce:
    last = (
        ProjectTransition.objects.filter(project=OuterRef("pk"), at__lt=moment)
        .order_by("-at", "-pk")
        .values("target")[:1]
    )
    return Coalesce(Subquery(last), Value(Step.INTAKE))


def supported_projects(year: int) -> QuerySet[WithAnnotations[Project, _YearSteps]]:
    """Projects supported during `year`, annotated with `year_end_step`."""
    start, end = year_bounds(year)
    return (
        Project.objects.filter(created_at__lt=end)  # type: ignore[return-value]
        .annotate(year_start_step=_step_before(start), year_end_step=_step_before(end))
        .exclude(year_start_step__in=ENDED_STEPS)
    )


def _column_of(step: str) -> str:
    if step == Step.DELIVERED:
        return "delivered"
    if step in (Step.ABANDONED, Step.DECLINED):
        return "stopped"
    return PHASE_OF_STEP[step]


def projects_by_territory(year: int) -> list[dict[str, Any]]:
    """One row per territory: supported projects by phase at the end of the year."""
    grouped = (
        supported_projects(year)
        .order_by()
        .values_list("territory__name", "year_end_step")
        .annotate(n=Count("pk"))
    )
    table: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for territory, step, count in grouped:
        table[territory][_column_of(step)] += count
    rows = [
        {"label": territory, **counts, "total": sum(counts.values())}
        for territory, counts in sorted(table.items())
    ]
    if rows:
        totals: dict[str, Any] = {"label": _("Total")}
        for key, _label in [*PHASE_COLUMNS, ("total", "")]:
            totals[key] = sum(row.get(key, 0) for row in rows)
        rows.append(totals)
    return rows


def projects_by_thematic(year: int) -> list[dict[str, Any]]:
    supported = supported_projects(year).values("pk")
    start, end = year_bounds(year)
    delivered = ProjectTransition.objects.filter(
        target=Step.DELIVERED, at__gte=start, at__lt=end
    ).values("project")
    rows = (
        Project.objects.filter(pk__in=supported)
        .order_by()
        .values_list("thematics__name")
        .annotate(
            projects=Count("pk", distinct=True),
            delivered=Count("pk", distinct=True, filter=Q(pk__in=delivered)),
        )
        .order_by("thematics__name")
    )
    # Named thematics in order, then the projects without one (databases sort NULL apart).
    ordered = sorted(rows, key=lambda row: (row[0] is None, row[0] or ""))
    return [
        {"label": name or _("(sans thématique)"), "projects": projects, "delivered": done}
        for name, projects, done in ordered
    ]


def deliverables_by_kind(year: int) -> list[dict[str, Any]]:
    start, end = year_bounds(year)
    uploaded = Q(uploaded_at__gte=start, uploaded_at__lt=end)
    approved = Q(
        review_state=DeliverableVersion.Review.APPROVED,
        reviewed_at__gte=start,
        reviewed_at__lt=end,
    )
    rows = (
        DeliverableVersion.objects.filter(uploaded | approved)
        .order_by()
        .values_list("deliverable__kind")
        .annotate(
            deliverables=Count("deliverable", distinct=True, filter=uploaded),
            versions=Count("pk", filter=uploaded),
            approved=Count("pk", filter=approved),
        )
    )
    labels = dict(Deliverable.Kind.choices)
    return sorted(
        (
            {"label": str(labels.get(kind, kind)), "deliverables": d, "versions": v, "approved": a}
            for kind, d, v, a in rows
        ),
        key=lambda row: row["label"],
    )


def _moved_to(stage: str, year: int) -> Exists:
    start, end = year_bounds(year)
    return Exists(
        LeadTransition.objects.filter(lead=OuterRef("pk"), target=stage, at__gte=start, at__lt=end)
    )


def worked_leads(year: int) -> QuerySet[WithAnnotations[Lead, _YearMoves]]:
    """Leads opened or moved during `year`, annotated with `won_in_year`, `lost_in_year`."""
    start, end = year_bounds(year)
    moved = Exists(LeadTransition.objects.filter(lead=OuterRef("pk"), at__gte=start, at__lt=end))
    return Lead.objects.annotate(  # type: ignore[return-value]
        opened_in_year=ExpressionWrapper(
            Q(created_at__gte=start, created_at__lt=end), output_field=BooleanField()
        ),
        moved_in_year=moved,
        won_in_year=_moved_to(Stage.WON, year),
        lost_in_year=_moved_to(Stage.LOST, year),
    ).filter(Q(opened_in_year=True) | Q(moved_in_year=True))


def _lead_figures(group_by: str, year: int) -> list[dict[str, Any]]:
    won = Q(won_in_year=True)
    rows = (
        worked_leads(year)
        .order_by()
        .values_list(group_by)
        .annotate(
            worked=Count("pk"),
            opened=Count("pk", filter=Q(opened_in_year=True)),
            won=Count("pk", filter=won),
            lost=Count("pk", filter=Q(lost_in_year=True)),
            investment=Coalesce(Sum("estimated_investment", filter=won), Value(Decimal(0))),
            jobs=Coalesce(Sum("estimated_jobs", filter=won), Value(0)),
        )
        .order_by(group_by)
    )
    keys = ["worked", "opened", "won", "lost", "investment", "jobs"]
    table = [{"label": label, **dict(zip(keys, values, strict=True))} for label, *values in rows]
    if table:
        table.append({"label": _("Total"), **{key: sum(row[key] for row in table) for key in keys}})
    return table


def leads_by_territory(year: int) -> list[dict[str, Any]]:
    return _lead_figures("territory__name", year)


def leads_by_sector(year: int) -> list[dict[str, Any]]:
    labels = dict(Lead.Sector.choices)
    rows = _lead_figures("sector", year)
    for row in rows[:-1]:
        row["label"] = str(labels.get(row["label"], row["label"]))
    return rows


def partners(year: int) -> QuerySet[Organisation]:
    """The organisations the mission worked with in `year` (see the module's docstring)."""
    supported = supported_projects(year).values("pk")
    worked = worked_leads(year).filter(confidential=False).values("pk")
    return (
        Organisation.objects.annotate(
            supported=Count("projects", filter=Q(projects__in=supported), distinct=True),
            worked=Count("leads", filter=Q(leads__in=worked), distinct=True),
        )
        .filter(Q(supported__gt=0) | Q(worked__gt=0))
        .select_related("territory")
        .order_by("name", "pk")
    )


def promotion_events(year: int) -> QuerySet[PromotionEvent]:
    return (
        PromotionEvent.objects.filter(starts_on__year=year)
        .with_figures(Lead.objects.all())
        .order_by("starts_on", "pk")
    )


# The workbook --------------------------------------------------------------------------------


def _get(key: str) -> Any:
    return lambda row: row.get(key, 0)


def _about(year: int) -> list[dict[str, Any]]:
    lines = [
        (_("Bilan d'activité"), str(year)),
        (_("Édité le"), timezone.localdate().isoformat()),
        (
            _("Projets accompagnés"),
            _(
                "Projets existant avant la fin de l'année et non terminés (livrés, abandonnés, "
                "déclinés) avant son début ; l'étape est celle du 31 décembre."
            ),
        ),
        (
            _("Pistes travaillées"),
            _(
                "Pistes ouvertes ou déplacées dans l'année ; gagnées ou perdues selon la date "
                "du passage à « gagnée » ou « perdue »."
            ),
        ),
        (
            _("Investissement et emplois"),
            _("Estimations des pistes gagnées dans l'année."),
        ),
        (
            _("Partenaires"),
            _(
                "Porteurs des projets accompagnés et investisseurs ou opérateurs des pistes "
                "travaillées, sauf ceux des pistes confidentielles (comptées dans les totaux)."
            ),
        ),
    ]
    return [{"label": label, "value": value} for label, value in lines]


def _lead_columns(first: Any) -> list[Column]:
    return [
        Column(first, _get("label"), width=30),
        Column(_("Pistes travaillées"), _get("worked"), "int"),
        Column(_("Ouvertes"), _get("opened"), "int"),
        Column(_("Gagnées"), _get("won"), "int"),
        Column(_("Perdues"), _get("lost"), "int"),
        Column(_("Investissement gagné (€)"), _get("investment"), "money"),
        Column(_("Emplois"), _get("jobs"), "int"),
    ]


def funders_sheets(year: int) -> list[Sheet]:
    """The workbook's sheets, in the active language."""
    return [
        Sheet(
            _("À propos"),
            _about(year),
            [
                Column(_("Rubrique"), _get("label"), width=28),
                Column(_("Définition"), _get("value"), width=100),
            ],
        ),
        Sheet(
            _("Projets par territoire"),
            projects_by_territory(year),
            [
                Column(_("Territoire"), _get("label"), width=28),
                *(Column(label, _get(key), "int") for key, label in PHASE_COLUMNS),
                Column(_("Total"), _get("total"), "int"),
            ],
        ),
        Sheet(
            _("Projets par thématique"),
            projects_by_thematic(year),
            [
                Column(_("Thématique"), _get("label"), width=28),
                Column(_("Projets accompagnés"), _get("projects"), "int"),
                Column(_("Livrés dans l'année"), _get("delivered"), "int"),
            ],
        ),
        Sheet(
            _("Livrables"),
            deliverables_by_kind(year),
            [
                Column(_("Type de livrable"), _get("label"), width=28),
                Column(_("Livrables déposés"), _get("deliverables"), "int"),
                Column(_("Versions déposées"), _get("versions"), "int"),
                Column(_("Versions approuvées"), _get("approved"), "int"),
            ],
        ),
        Sheet(
            _("Partenaires"),
            partners(year).iterator(chunk_size=2000),
            [
                Column(_("Organisation"), lambda o: o.name, width=40),
                Column(_("Type"), lambda o: o.get_kind_display(), width=20),
                Column(
                    _("Territoire"), lambda o: o.territory.name if o.territory else "", width=22
                ),
                Column(_("Projets accompagnés"), lambda o: o.supported, "int"),
                Column(_("Pistes travaillées"), lambda o: o.worked, "int"),
            ],
        ),
        Sheet(_("Pistes par territoire"), leads_by_territory(year), _lead_columns(_("Territoire"))),
        Sheet(_("Investissement par secteur"), leads_by_sector(year), _lead_columns(_("Secteur"))),
        Sheet(
            _("Événements de promotion"),
            promotion_events(year),
            [
                Column(_("Événement"), lambda e: e.name, width=40),
                Column(_("Début"), lambda e: e.starts_on, "date"),
                Column(_("Ville"), lambda e: e.city, width=18),
                Column(_("Pistes apportées"), lambda e: e.lead_count, "int"),
                Column(_("Gagnées"), lambda e: e.won_count, "int"),
                Column(_("Investissement gagné (€)"), lambda e: e.won_investment, "money"),
                Column(_("Emplois"), lambda e: e.won_jobs, "int"),
            ],
        ),
    ]


def _years() -> list[int]:
    this_year = timezone.localdate().year
    return list(range(this_year, FIRST_YEAR - 1, -1))


def funders_report(request: AuthenticatedRequest) -> HttpResponse:
    """The page that offers the workbook for a year (staff only)."""
    require_staff(request.user)
    today = timezone.localdate()
    # Early in the year, the report people want is last year's.
    selected = today.year - 1 if today.month <= 3 else today.year
    year = request.GET.get("year", "")
    if year.isdigit():
        selected = int(year)
    if selected not in _years():
        selected = today.year
    context = {"years": _years(), "selected_year": selected}
    return render(request, "crm/funders_report.html", context)


def funders_workbook(request: AuthenticatedRequest, year: int) -> HttpResponse:
    """The year's workbook, built by the worker: it reads every project, lead and event of the
    year, which takes longer than a request should hold a web process."""
    require_staff(request.user)
    if year not in _years():
        raise Http404
    job = jobs.start(
        kind="funders_workbook",
        owner=request.user,
        label=_("Bilan d'activité %(year)s") % {"year": year},
        params={"year": year, "language": request.LANGUAGE_CODE},
    )
    return redirect(job)


class FundersWorkbookJob(jobs.JobKind):
    """The funders' workbook of a year, for the mission team."""

    def allowed(self, user: User, params: dict[str, Any]) -> bool:
        return user.is_active and user.is_mission_staff

    def perform(self, job: Job, progress: jobs.Progress) -> jobs.Output:
        year = int(job.params["year"])
        filename = slugify(_("bilan-activite-%(year)s") % {"year": year})
        return jobs.written(
            lambda fileobj: write_workbook(funders_sheets(year), fileobj),
            filename=f"{filename}.xlsx",
        )
