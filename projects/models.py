"""Design-support projects: three phases, nine steps, as a guarded state machine (DESIGN §3).

The transition graph below is the domain logic: who may move a project, from which step,
to which step, on what conditions. `Project.machine` (a `crm.fsm.Machine`) derives the rest
from it: the moves offered, their refusals, and `project.machine.run(...)`, which runs a move
with its log row in one database transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Exists, F, OuterRef, Q, Subquery
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import RETURN_VALUE, FSMField

from crm.fsm import (
    ConcurrentTransitionMixin,
    Condition,
    Machine,
    TransitionLog,
    transition,
)
from crm.models import (
    ChoiceLabels,
    Contact,
    Organisation,
    Role,
    Territory,
    Thematic,
    User,
    fold,
    search_filter,
)
from crm.permissions import Access

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


class Step(models.TextChoices):
    """The state values of a project: exactly those of DESIGN §3."""

    INTAKE = "intake", _("Demande reçue")
    LISTEN = "listen", _("Écouter")
    IMPULSE = "impulse", _("Impulser")
    INVOLVE = "involve", _("Impliquer")
    ORIENT = "orient", _("Orienter")
    STEER = "steer", _("Piloter")
    CREATE = "create", _("Créer")
    EXPERIMENT = "experiment", _("Expérimenter")
    EVALUATE = "evaluate", _("Évaluer")
    IMPLEMENT = "implement", _("Implémenter")
    DELIVERED = "delivered", _("Livré (sur le marché)")
    ABANDONED = "abandoned", _("Abandonné")
    DECLINED = "declined", _("Décliné")
    SUSPENDED = "suspended", _("Suspendu")


class Phase(models.TextChoices):
    INTAKE = "intake", _("Demande")
    WATCH = "watch", _("1 · Veille")
    CONCEPT = "concept", _("2 · Conceptualisation")
    IMPLEMENTATION = "implementation", _("3 · Mise en œuvre")
    ENDED = "ended", _("Terminé")
    SUSPENDED = "suspended", _("En pause")


# The nine steps in order, and the phase each belongs to. The phase is derived, never stored.
PHASE_STEPS: dict[str, list[str]] = {
    Phase.WATCH: [Step.LISTEN, Step.IMPULSE, Step.INVOLVE],
    Phase.CONCEPT: [Step.ORIENT, Step.STEER, Step.CREATE],
    Phase.IMPLEMENTATION: [Step.EXPERIMENT, Step.EVALUATE, Step.IMPLEMENT],
}
WORKING_STEPS: list[str] = [step for steps in PHASE_STEPS.values() for step in steps]
PHASE_OF_STEP: dict[str, str] = {
    Step.INTAKE: Phase.INTAKE,
    Step.SUSPENDED: Phase.SUSPENDED,
    Step.DELIVERED: Phase.ENDED,
    Step.ABANDONED: Phase.ENDED,
    Step.DECLINED: Phase.ENDED,
    **{step: phase for phase, steps in PHASE_STEPS.items() for step in steps},
}
# Moving on inside a phase (the last step of a phase crosses a gate instead).
NEXT_IN_PHASE: dict[str, str] = {
    steps[index]: steps[index + 1]
    for steps in PHASE_STEPS.values()
    for index in range(len(steps) - 1)
}
# Rework goes back one step; from the first step of phase 2 or 3 it crosses a gate backwards.
PREVIOUS_STEP: dict[str, str] = {
    WORKING_STEPS[index]: WORKING_STEPS[index - 1] for index in range(1, len(WORKING_STEPS))
}
GATE_BACKWARDS = {Step.ORIENT, Step.EXPERIMENT}
OPEN_STEPS = [Step.INTAKE, *WORKING_STEPS, Step.SUSPENDED]


class ProjectChanged(Exception):
    """Someone else moved the project first; nothing was saved."""


class ProjectQuerySet(models.QuerySet["Project"]):
    def visible_to(self, user: User) -> ProjectQuerySet:
        """Staff and officers see every project (officers read only); designers see the
        projects whose team they are on; a holder account sees its own projects."""
        if not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_mission_staff or user.has_role(Role.OFFICER):
            return self.all()
        for role, member_role in (
            (Role.DESIGNER, ProjectMember.Role.DESIGNER),
            (Role.HOLDER, ProjectMember.Role.HOLDER),
        ):
            if user.has_role(role):
                return self.filter(
                    Exists(
                        ProjectMember.objects.filter(
                            project=OuterRef("pk"), user=user, role=member_role
                        )
                    )
                )
        return self.none()

    def in_phase(self, phase: str) -> ProjectQuerySet:
        return self.filter(state__in=[s for s, p in PHASE_OF_STEP.items() if p == phase])

    def overdue(self) -> ProjectQuerySet:
        """Open projects past their target date."""
        return self.filter(target_date__lt=timezone.localdate(), state__in=OPEN_STEPS)

    def search(self, text: str) -> ProjectQuerySet:
        reference = text.strip().upper()
        if reference.startswith("DS-"):
            return self.filter(reference__startswith=reference)
        return self.filter(search_filter("search_text", text))

    def count_by_phase(self) -> list[tuple[str, StrOrPromise, int]]:
        """(phase, label, count) for every phase, zeros included: one grouped query."""
        by_step = dict(self.order_by().values_list("state").annotate(n=models.Count("pk")))
        totals = {phase: 0 for phase in Phase.values}
        for step, count in by_step.items():
            totals[PHASE_OF_STEP[step]] += count
        return [(phase, Phase(phase).label, totals[phase]) for phase in Phase.values]

    def count_open_by_territory(self) -> list[tuple[str, int]]:
        """(territory, open projects), largest first."""
        return list(
            self.filter(state__in=OPEN_STEPS)
            .order_by()
            .values_list("territory__name")
            .annotate(n=models.Count("pk"))
            .order_by("-n", "territory__name")
        )

    def for_list(self) -> ProjectQuerySet:
        return self.select_related("holder", "territory").defer(
            "need", "description", "search_text", "holder__notes", "holder__search_text"
        )

    def for_board(self) -> ProjectQuerySet:
        """What a board card shows (reference, title, holder, due date) and nothing else: the
        board draws up to 120 cards, and `for_list`'s full rows cost several times as much.
        The board asks for each of its columns, the closed ones folded at its end included."""
        return (
            self.select_related("holder")
            .only("pk", "reference", "title", "state", "target_date", "holder__name")
            .order_by(F("target_date").asc(nulls_last=True), "reference")
        )

    def for_detail(self) -> ProjectQuerySet:
        return self.select_related("holder", "holder_contact", "territory", "created_by")


class Project(ConcurrentTransitionMixin, ChoiceLabels, models.Model):
    """A design-support project: holder, need, team, and its step in the three phases."""

    reference = models.CharField(_("référence"), max_length=20, unique=True, editable=False)
    title = models.CharField(_("intitulé"), max_length=200)
    holder = models.ForeignKey(
        Organisation,
        verbose_name=_("porteur"),
        on_delete=models.PROTECT,
        related_name="projects",
    )
    holder_contact = models.ForeignKey(
        Contact,
        verbose_name=_("contact du porteur"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="projects",
    )
    territory = models.ForeignKey(
        Territory,
        verbose_name=_("territoire"),
        on_delete=models.PROTECT,
        related_name="projects",
    )
    thematics = models.ManyToManyField(
        Thematic, verbose_name=_("thématiques"), related_name="projects", blank=True
    )
    need = models.TextField(_("besoin précis"), max_length=10_000)
    description = models.TextField(_("description"), max_length=20_000, blank=True)
    start_date = models.DateField(_("date de début"), null=True, blank=True)
    target_date = models.DateField(_("échéance visée"), null=True, blank=True)
    budget = models.DecimalField(
        _("budget (€)"),
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
    )
    state = FSMField(
        _("étape"), max_length=20, choices=Step.choices, default=Step.INTAKE, protected=True
    )
    # Where a suspended project resumes.
    suspended_from = models.CharField(
        max_length=20, choices=Step.choices, blank=True, editable=False
    )
    team: models.ManyToManyField[User, ProjectMember] = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        through="ProjectMember",
        related_name="projects",
        verbose_name=_("équipe"),
    )
    search_text = models.TextField(editable=False, default="")
    is_demo = models.BooleanField(_("donnée de démonstration"), default=False, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("créé par"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("créé le"), auto_now_add=True)
    updated_at = models.DateTimeField(_("modifié le"), auto_now=True)

    objects = ProjectQuerySet.as_manager()
    machine = Machine(
        field="state",
        log="projects.ProjectTransition",
        changed=ProjectChanged,
        url="projects:project_transition",
        board="projects:project_board",
        title="reference",
        targets={
            "advance": NEXT_IN_PHASE,
            "rework": PREVIOUS_STEP,
            "resume": lambda project: project.suspended_from,
        },
        not_here=lambda step: (
            _("Cette action n'est pas possible à l'étape « %(step)s ».") % {"step": step}
        ),
        role=_("Votre rôle ne permet pas cette action sur ce projet."),
        stale=lambda step: (
            _(
                "Ce projet vient de changer (il est maintenant à l'étape « %(step)s ») : "
                "rien n'a été modifié, vérifiez avant de recommencer."
            )
            % {"step": step}
        ),
        overtaken=_(
            "Quelqu'un d'autre vient de faire avancer ce projet : rien n'a été modifié, "
            "voici son état actuel."
        ),
        board_comment=_("Commentaire (obligatoire pour revenir en arrière ou abandonner)"),
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("projet")
        verbose_name_plural = _("projets")
        indexes = [
            # Also the board's ranking: partition by step, order by target date and reference.
            models.Index(fields=["state", "target_date", "reference"], name="projects_state_idx"),
            models.Index(fields=["territory", "state"], name="projects_territory_idx"),
            models.Index(fields=["holder"], name="projects_holder_idx"),
            models.Index(fields=["target_date"], name="projects_target_idx"),
            models.Index(fields=["-created_at", "-id"], name="projects_created_idx"),
            models.Index(fields=["title", "id", "search_text"], name="projects_title_idx"),
            # The dashboard's stamp reads the last change from its end.
            models.Index(fields=["updated_at"], name="projects_updated_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=Step.values), name="projects_project_state_valid"
            ),
            models.CheckConstraint(
                condition=Q(target_date__isnull=True)
                | Q(start_date__isnull=True)
                | Q(target_date__gte=models.F("start_date")),
                name="projects_project_dates_ordered",
                violation_error_message=_("L'échéance ne peut pas précéder la date de début."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference} — {self.title}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Derived copy for accent-insensitive search, as for organisations.
        self.search_text = fold(
            f"{self.reference} {self.title} {self.holder.name if self.holder_id else ''}"
        )
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("projects:project_detail", args=[self.pk])

    # Derived facts ------------------------------------------------------------------------

    @property
    def designer_names(self) -> str:
        """The team's designers, "Léa, Hugo" (from the prefetched memberships)."""
        return ", ".join(
            str(member.user)
            for member in self.memberships.all()
            if member.role == ProjectMember.Role.DESIGNER
        )

    @property
    def phase(self) -> str:
        return PHASE_OF_STEP[self.state]

    def get_phase_display(self) -> StrOrPromise:
        return Phase(self.phase).label

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STEPS

    @property
    def is_overdue(self) -> bool:
        return bool(self.target_date and self.is_open and self.target_date < timezone.localdate())

    # Who may do what -----------------------------------------------------------------------

    def may_manage(self, user: User) -> bool:
        """The mission team manages every project: accepting it, its gates, pausing it."""
        return user.is_mission_staff

    def access_for(self, user: User) -> Access:
        """What `user`, who sees this project, may do with it: the mission team manages it,
        the designers of its team contribute (deliverables, the specification's draft,
        exchanges, moves inside a phase), everyone else who sees it reads it."""
        if self.may_manage(user):
            return Access.MANAGE
        if self.has_designer(user):
            return Access.CONTRIBUTE
        return Access.READ

    def may_contribute(self, user: User) -> bool:
        return self.access_for(user) >= Access.CONTRIBUTE

    def may_rework(self, user: User) -> bool:
        # Going back over a phase gate is the mission's decision; inside a phase the team may.
        if self.state in GATE_BACKWARDS:
            return self.may_manage(user)
        return self.may_contribute(user)

    def has_designer(self, user: User) -> bool:
        members = getattr(self, "_prefetched_objects_cache", {}).get("memberships")
        if members is not None:
            return any(
                m.user_id == user.pk and m.role == ProjectMember.Role.DESIGNER for m in members
            )
        return self.memberships.filter(user=user, role=ProjectMember.Role.DESIGNER).exists()

    def has_holder_account(self) -> bool:
        return self.memberships.filter(role=ProjectMember.Role.HOLDER).exists()

    def is_holder_account(self, user: User) -> bool:
        """Whether `user` is a holder account of this project (role `holder`, DESIGN §1)."""
        if not user.has_role(Role.HOLDER):
            return False
        return self.memberships.filter(user=user, role=ProjectMember.Role.HOLDER).exists()

    def latest_specification_version(self) -> SpecificationVersion | None:
        """The last issued version of the specification, if any."""
        latest: SpecificationVersion | None = (
            SpecificationVersion.objects.filter(specification__project=self)
            .order_by("-number")
            .first()
        )
        return latest

    def specification_approved_if_needed(self) -> bool:
        """Gate 1 → 2: when the project has a holder account, the holder has approved the
        last issued specification. Without a holder account, issuing is enough. With nothing
        issued it holds: the "not issued" condition reports that alone."""
        latest = self.latest_specification_version()
        if latest is None:
            return True  # nothing issued yet: the condition before says so, once
        return latest.approval == SpecificationVersion.Approval.APPROVED or (
            not self.has_holder_account()
        )

    def has_approved_deliverable(self, kinds: Iterable[str]) -> bool:
        """A deliverable of one of `kinds` whose latest version is approved."""
        latest_state = (
            DeliverableVersion.objects.filter(deliverable=OuterRef("pk"))
            .order_by("-number")
            .values("review_state")[:1]
        )
        return (
            self.deliverables.filter(kind__in=list(kinds))
            .annotate(latest_state=Subquery(latest_state))
            .filter(latest_state=DeliverableVersion.Review.APPROVED)
            .exists()
        )

    # Transitions --------------------------------------------------------------------------
    # In the order the pages offer them. Each carries `custom` metadata for the pages (its
    # label, whether it needs a comment: see `crm.fsm.Machine`).

    @transition(
        field=state,
        source=Step.INTAKE,
        target=Step.LISTEN,
        permission=may_manage,
        custom={"label": _("Accepter en phase 1 (Veille)")},
    )
    def accept_watch(self) -> None:
        """Accept the request into the first step of phase 1."""

    @transition(
        field=state,
        source=Step.INTAKE,
        target=Step.ORIENT,
        permission=may_manage,
        custom={"label": _("Accepter en phase 2 (Conceptualisation)")},
    )
    def accept_concept(self) -> None:
        """Accept a mature request straight into the first step of phase 2."""

    @transition(
        field=state,
        source=Step.INTAKE,
        target=Step.EXPERIMENT,
        permission=may_manage,
        custom={"label": _("Accepter en phase 3 (Mise en œuvre)")},
    )
    def accept_implementation(self) -> None:
        """Accept a request ready to test straight into the first step of phase 3."""

    @transition(
        field=state,
        source=list(NEXT_IN_PHASE),
        target=RETURN_VALUE(*NEXT_IN_PHASE.values()),
        permission=may_contribute,
        custom={"label": _("Passer à l'étape suivante")},
    )
    def advance(self) -> str:
        """Move to the next step inside the current phase (staff or a designer of the team)."""
        return NEXT_IN_PHASE[self.state]

    @transition(
        field=state,
        source=Step.INVOLVE,
        target=Step.ORIENT,
        permission=may_manage,
        conditions=[
            Condition(
                _("Le cahier des charges n'a pas encore été émis."),
                lambda project: project.latest_specification_version() is not None,
            ),
            Condition(
                _(
                    "Le porteur n'a pas encore approuvé la dernière version émise du cahier "
                    "des charges."
                ),
                lambda project: project.specification_approved_if_needed(),
            ),
            Condition(
                _("Il manque une planche de tendances approuvée."),
                lambda project: project.has_approved_deliverable([Deliverable.Kind.TREND_BOARD]),
            ),
        ],
        custom={"label": _("Passer en phase 2 (Conceptualisation)"), "gate": True},
    )
    def enter_conceptualisation(self) -> None:
        """Gate 1 → 2 (staff only)."""

    @transition(
        field=state,
        source=Step.CREATE,
        target=Step.EXPERIMENT,
        permission=may_manage,
        conditions=[
            Condition(
                _("Il manque un carnet d'idées ou une esquisse de concept approuvé."),
                lambda project: project.has_approved_deliverable(
                    [Deliverable.Kind.IDEA_NOTEBOOK, Deliverable.Kind.CONCEPT_SKETCH]
                ),
            ),
        ],
        custom={"label": _("Passer en phase 3 (Mise en œuvre)"), "gate": True},
    )
    def enter_implementation(self) -> None:
        """Gate 2 → 3 (staff only)."""

    @transition(
        field=state,
        source=Step.IMPLEMENT,
        target=Step.DELIVERED,
        permission=may_manage,
        conditions=[
            Condition(
                _("Il manque un rapport d'évaluation approuvé."),
                lambda project: project.has_approved_deliverable(
                    [Deliverable.Kind.EVALUATION_REPORT]
                ),
            ),
        ],
        custom={"label": _("Déclarer livré (sur le marché)"), "gate": True},
    )
    def deliver(self) -> None:
        """The offer is on the market (staff only)."""

    @transition(
        field=state,
        source=list(PREVIOUS_STEP),
        target=RETURN_VALUE(*PREVIOUS_STEP.values()),
        permission=may_rework,
        custom={"label": _("Revenir à l'étape précédente"), "needs_comment": True},
    )
    def rework(self) -> str:
        """Back one step for rework; a comment says why."""
        return PREVIOUS_STEP[self.state]

    @transition(
        field=state,
        source=WORKING_STEPS,
        target=Step.SUSPENDED,
        permission=may_manage,
        custom={"label": _("Suspendre")},
    )
    def suspend(self) -> None:
        """Pause the project; it resumes at the step it left."""
        self.suspended_from = self.state

    @transition(
        field=state,
        source=Step.SUSPENDED,
        target=RETURN_VALUE(*WORKING_STEPS),
        permission=may_manage,
        custom={"label": _("Reprendre")},
    )
    def resume(self) -> str:
        """Back to the step the project was suspended at."""
        step, self.suspended_from = self.suspended_from, ""
        return step

    @transition(
        field=state,
        source=[*WORKING_STEPS, Step.SUSPENDED],
        target=Step.ABANDONED,
        permission=may_manage,
        custom={"label": _("Abandonner"), "needs_comment": True, "danger": True},
    )
    def abandon(self) -> None:
        """Stop the project for good; a reason is required."""
        self.suspended_from = ""

    @transition(
        field=state,
        source=Step.INTAKE,
        target=Step.DECLINED,
        permission=may_manage,
        custom={"label": _("Décliner la demande"), "needs_comment": True, "danger": True},
    )
    def decline(self) -> None:
        """Turn the request down; a reason is required."""


class ProjectMember(ChoiceLabels, models.Model):
    class Role(models.TextChoices):
        DESIGNER = "designer", _("Designer")
        LEAD = "lead", _("Chargé·e de mission référent·e")
        HOLDER = "holder", _("Porteur (compte)")

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(_("rôle"), max_length=20, choices=Role.choices)

    class Meta:
        verbose_name = _("membre de l'équipe")
        verbose_name_plural = _("membres de l'équipe")
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="projects_member_unique"),
        ]
        indexes = [models.Index(fields=["user", "project"], name="projects_member_user_idx")]

    def __str__(self) -> str:
        return f"{self.user} ({self.get_role_display()})"


class FundingLine(models.Model):
    """One line of the budget's co-financing: who pays how much."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="funding_lines")
    funder = models.CharField(_("financeur"), max_length=200)
    amount = models.DecimalField(
        _("montant (€)"), max_digits=12, decimal_places=2, validators=[MinValueValidator(0)]
    )

    class Meta:
        ordering = ["pk"]
        verbose_name = _("ligne de cofinancement")
        verbose_name_plural = _("lignes de cofinancement")

    def __str__(self) -> str:
        return f"{self.funder}: {self.amount} €"


class EpochDays(models.Func):
    """A timestamp as a number of days, so durations average the same way on both databases."""

    output_field = models.FloatField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(compiler, connection, template="julianday(%(expressions)s)", **extra)

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(
            compiler,
            connection,
            template="(EXTRACT(EPOCH FROM %(expressions)s) / 86400.0)",
            **extra,
        )


class ProjectTransitionQuerySet(models.QuerySet["ProjectTransition"]):
    def visible_to(self, user: User) -> ProjectTransitionQuerySet:
        """The log of the projects this user may see (no subquery for who sees them all)."""
        if (
            user.is_authenticated
            and user.is_active
            and (user.is_mission_staff or user.has_role(Role.OFFICER))
        ):
            return self.all()
        return self.filter(project__in=Project.objects.visible_to(user))

    def average_days_by_step(self) -> dict[str, float]:
        """Average days projects spent in each step, from the log: a step is left at a
        transition's time and was entered at the project's previous transition (or creation).
        Computed in the database, whatever the size of the log."""
        entered = Subquery(
            ProjectTransition.objects.filter(project=OuterRef("project"), at__lt=OuterRef("at"))
            .order_by("-at")
            .annotate(days=EpochDays("at"))
            .values("days")[:1]
        )
        rows = (
            self.order_by()
            .annotate(
                spent=EpochDays("at")
                - models.functions.Coalesce(entered, EpochDays("project__created_at"))
            )
            .values("source")
            .annotate(average=models.Avg("spent"))
            .values_list("source", "average")
        )
        return {step: max(average or 0.0, 0.0) for step, average in rows}


class ProjectTransition(TransitionLog):
    """The log of every move of a project: who, when, from, to, and why."""

    subject_field = "project"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="transitions")
    source = models.CharField(_("de"), max_length=20, choices=Step.choices)
    target = models.CharField(_("vers"), max_length=20, choices=Step.choices)

    objects = ProjectTransitionQuerySet.as_manager()

    class Meta(TransitionLog.Meta):
        verbose_name = _("changement d'étape")
        verbose_name_plural = _("changements d'étape")
        indexes = [
            models.Index(fields=["project", "-at", "-id"], name="projects_transition_idx"),
            models.Index(fields=["target", "at"], name="projects_transition_target_idx"),
        ]


class Deliverable(ChoiceLabels, models.Model):
    """A deliverable of a project (a trend board, a concept sketch...), in versions."""

    class Kind(models.TextChoices):
        TREND_BOARD = "trend_board", _("Planche de tendances")
        WATCH_NOTE = "watch_note", _("Note de veille")
        IDEA_NOTEBOOK = "idea_notebook", _("Carnet d'idées")
        CONCEPT_SKETCH = "concept_sketch", _("Esquisse de concept")
        PLAN = "plan", _("Plan")
        PROTOTYPE_PHOTO = "prototype_photo", _("Photo de prototype")
        EVALUATION_REPORT = "evaluation_report", _("Rapport d'évaluation")
        OTHER = "other", _("Autre")

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="deliverables")
    kind = models.CharField(_("type"), max_length=30, choices=Kind.choices)
    title = models.CharField(_("titre"), max_length=200)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("créé le"), auto_now_add=True)

    class Meta:
        ordering = ["kind", "title", "pk"]
        verbose_name = _("livrable")
        verbose_name_plural = _("livrables")
        constraints = [
            models.UniqueConstraint(
                fields=["project", "kind", "title"], name="projects_deliverable_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.title


class DeliverableVersion(ConcurrentTransitionMixin, ChoiceLabels, models.Model):
    """One uploaded file of a deliverable, reviewed by the mission."""

    class Review(models.TextChoices):
        SUBMITTED = "submitted", _("Soumis")
        APPROVED = "approved", _("Approuvé")
        CHANGES_REQUESTED = "changes_requested", _("Modifications demandées")

    deliverable = models.ForeignKey(Deliverable, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(_("version"))
    file = models.FileField(_("fichier"), upload_to="deliverables/")
    thumbnail = models.ImageField(_("vignette"), upload_to="deliverables/thumbnails/", blank=True)
    # Why the worker could not render the thumbnail of this image, if it could not.
    thumbnail_error = models.CharField(_("vignette : erreur"), max_length=300, blank=True)
    original_name = models.CharField(_("nom d'origine"), max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField(_("taille"))
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField(_("déposé le"), default=timezone.now)
    review_state = FSMField(
        _("revue"),
        max_length=20,
        choices=Review.choices,
        default=Review.SUBMITTED,
        protected=True,
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_comment = models.TextField(_("commentaire de revue"), max_length=5_000, blank=True)

    class Meta:
        ordering = ["deliverable", "-number"]
        verbose_name = _("version de livrable")
        verbose_name_plural = _("versions de livrable")
        constraints = [
            models.UniqueConstraint(
                fields=["deliverable", "number"], name="projects_version_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["deliverable", "-number"], name="projects_version_latest_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.deliverable} v{self.number}"

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")

    @property
    def thumbnail_pending(self) -> bool:
        """An image whose thumbnail the worker has not rendered yet."""
        return self.is_image and not self.thumbnail and not self.thumbnail_error

    def newer_number(self) -> int | None:
        """The number of the latest version of the same deliverable if it is newer than this
        one (this one is then superseded and no longer reviewed), else None."""
        latest = (
            DeliverableVersion.objects.filter(deliverable_id=self.deliverable_id)
            .order_by("-number")
            .values_list("number", flat=True)
            .first()
        )
        return latest if latest is not None and latest > self.number else None

    @transition(
        field=review_state,
        source=Review.SUBMITTED,
        target=Review.APPROVED,
        permission=lambda version, user: user.is_mission_staff,
        custom={"label": _("Approuver")},
    )
    def approve(self) -> None:
        """The mission accepts this version."""

    @transition(
        field=review_state,
        source=Review.SUBMITTED,
        target=Review.CHANGES_REQUESTED,
        permission=lambda version, user: user.is_mission_staff,
        custom={"label": _("Demander des modifications"), "needs_comment": True},
    )
    def request_changes(self) -> None:
        """The mission asks for a new version; the comment says what to change."""


# The specification ("cahier des charges", DESIGN §3) ----------------------------------------

SECTION_FIELDS: list[str] = [
    "context",
    "need",
    "objectives",
    "target_visitors",
    "design_scope",
    "deliverables_watch",
    "deliverables_concept",
    "deliverables_implementation",
    "budget_notes",
    "evaluation_criteria",
    "team_notes",
]

# The phases a specification expects deliverables in: the three working phases.
EXPECTING_PHASES: list[str] = [str(phase) for phase in PHASE_STEPS]


# What a new specification expects, before anyone edits it: what each phase's gate needs
# (gate 2 → 3 accepts either of its two kinds; the team unticks the one it will not make).
DEFAULT_EXPECTED: dict[str, list[str]] = {
    Phase.WATCH: [Deliverable.Kind.TREND_BOARD],
    Phase.CONCEPT: [Deliverable.Kind.IDEA_NOTEBOOK, Deliverable.Kind.CONCEPT_SKETCH],
    Phase.IMPLEMENTATION: [Deliverable.Kind.EVALUATION_REPORT],
}

# What a specification cannot be issued without: whom it is for, what they need, what for.
REQUIRED_SECTIONS: list[str] = ["context", "need", "objectives"]


# What one section may take in the PDF, in lines: laying a PDF out costs about the same per
# page, so the line count, not the character count, bounds the work of a preview or an issue
# (20,000 characters of prose make about 220 lines; 10,000 one-word lines made 2,000 pages).
MAX_SECTION_LINES = 250
LINE_CHARACTERS = 90


def pdf_lines(text: str) -> int:
    """About how many lines `text` takes in the PDF: each typed line, wrapped every
    `LINE_CHARACTERS` characters."""
    return sum(max(1, -(-len(line) // LINE_CHARACTERS)) for line in text.splitlines())


def validate_section_lines(text: str) -> None:
    lines = pdf_lines(text)
    if lines > MAX_SECTION_LINES:
        raise ValidationError(
            _(
                "Ce texte occuperait environ %(lines)s lignes du cahier des charges, au-delà des "
                "%(limit)s qu'une section peut tenir : raccourcissez-le ou regroupez les lignes "
                "courtes en paragraphes."
            ),
            code="too_many_lines",
            params={"lines": lines, "limit": MAX_SECTION_LINES},
        )


def _section(label: StrOrPromise, help_text: StrOrPromise = "") -> models.TextField[str, str]:
    return models.TextField(
        label,
        max_length=20_000,
        blank=True,
        help_text=help_text,
        validators=[validate_section_lines],
    )


class SpecificationQuerySet(models.QuerySet["Specification"]):
    def visible_to(self, user: User) -> SpecificationQuerySet:
        """The specifications of the projects this user may see."""
        return self.filter(project__in=Project.objects.visible_to(user))


class Specification(models.Model):
    """The current text of a project's specification: the draft of its next version.

    Issuing freezes it as a `SpecificationVersion` (the PDF and its hash); later edits make
    the draft of the version after. `revision` counts saves, so that two people editing at
    once can't silently overwrite each other."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="specification")
    context = _section(_("contexte et porteur"), _("Qui porte le projet, son histoire, son lieu."))
    need = _section(_("besoin précis"))
    objectives = _section(_("objectifs"))
    target_visitors = _section(_("publics visés"))
    design_scope = _section(
        _("périmètre design"), _("Ce que couvre la démarche, thématique par thématique.")
    )
    deliverables_watch = _section(_("livrables attendus — phase 1 (Veille)"))
    deliverables_concept = _section(_("livrables attendus — phase 2 (Conceptualisation)"))
    deliverables_implementation = _section(_("livrables attendus — phase 3 (Mise en œuvre)"))
    budget_notes = _section(
        _("budget et cofinancements : précisions"),
        _("Le budget et les cofinancements du projet sont repris automatiquement."),
    )
    evaluation_criteria = _section(_("critères d'évaluation"))
    team_notes = _section(
        _("équipe : précisions"), _("L'équipe du projet est reprise automatiquement.")
    )
    revision = models.PositiveIntegerField(default=0, editable=False)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    updated_at = models.DateTimeField(_("modifié le"), auto_now=True)

    objects = SpecificationQuerySet.as_manager()

    class Meta:
        verbose_name = _("cahier des charges")
        verbose_name_plural = _("cahiers des charges")

    def __str__(self) -> str:
        return f"{self.project.reference} — {_('cahier des charges')}"

    def empty_required_sections(self) -> list[str]:
        """The names of the `REQUIRED_SECTIONS` still empty: nothing is issued without them."""
        names = []
        for name in REQUIRED_SECTIONS:
            if not getattr(self, name).strip():
                field = self._meta.get_field(name)
                assert isinstance(field, models.Field), "a section is a text of its own"
                names.append(str(field.verbose_name))
        return names

    def expected_kinds(self) -> dict[str, list[str]]:
        """The kinds of deliverable expected in each phase, in `Deliverable.Kind`'s order;
        a phase that expects nothing is left out (from prefetched rows when there are)."""
        wanted: dict[str, set[str]] = {}
        for row in self.expected_deliverables.all():
            wanted.setdefault(row.phase, set()).add(row.kind)
        return {
            phase: [kind for kind in Deliverable.Kind.values if kind in wanted[phase]]
            for phase in EXPECTING_PHASES
            if phase in wanted
        }

    def replace_expected(self, expected: Mapping[str, Iterable[str]]) -> None:
        """Make the expected kinds exactly `expected` (phase → kinds): rows no longer wanted
        are deleted, new ones added, the others kept."""
        wanted = {(phase, kind) for phase, kinds in expected.items() for kind in kinds}
        existing = set(self.expected_deliverables.values_list("phase", "kind"))
        for phase, kind in existing - wanted:
            self.expected_deliverables.filter(phase=phase, kind=kind).delete()
        ExpectedDeliverable.objects.bulk_create(
            ExpectedDeliverable(specification=self, phase=phase, kind=kind)
            for phase, kind in sorted(wanted - existing)
        )

    def too_long_sections(self) -> list[str]:
        """The names of the sections too long to lay out (`validate_section_lines`): the
        form refuses them, and a draft saved before the bound existed is not rendered."""
        return [
            # A section is a TextField (`_section`): it has a verbose name.
            str(self._meta.get_field(name).verbose_name)  # type: ignore[union-attr]
            for name in SECTION_FIELDS
            if pdf_lines(getattr(self, name)) > MAX_SECTION_LINES
        ]


class Milestone(models.Model):
    """A dated milestone of the specification's schedule."""

    specification = models.ForeignKey(
        Specification, on_delete=models.CASCADE, related_name="milestones"
    )
    due_date = models.DateField(_("date"))
    label = models.CharField(_("jalon"), max_length=300)

    class Meta:
        ordering = ["due_date", "pk"]
        verbose_name = _("jalon")
        verbose_name_plural = _("jalons")

    def __str__(self) -> str:
        return f"{self.due_date}: {self.label}"


class ExpectedDeliverable(ChoiceLabels, models.Model):
    """A kind of deliverable the specification expects in one phase: the free-text section
    of that phase describes it, this row says which kind, so that the work queue can tell a
    designer what is still to upload."""

    specification = models.ForeignKey(
        Specification, on_delete=models.CASCADE, related_name="expected_deliverables"
    )
    phase = models.CharField(
        _("phase"),
        max_length=20,
        choices=[(phase, Phase(phase).label) for phase in EXPECTING_PHASES],
    )
    kind = models.CharField(_("type de livrable"), max_length=30, choices=Deliverable.Kind.choices)

    class Meta:
        ordering = ["specification", "phase", "kind"]
        verbose_name = _("livrable attendu")
        verbose_name_plural = _("livrables attendus")
        constraints = [
            models.UniqueConstraint(
                fields=["specification", "phase", "kind"], name="projects_expected_unique"
            ),
            models.CheckConstraint(
                condition=Q(phase__in=EXPECTING_PHASES), name="projects_expected_phase_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_phase_display()}: {self.get_kind_display()}"


def _is_holder_account(version: SpecificationVersion, user: User) -> bool:
    return version.specification.project.is_holder_account(user)


class SpecificationVersionQuerySet(models.QuerySet["SpecificationVersion"]):
    def visible_to(self, user: User) -> SpecificationVersionQuerySet:
        """Issued versions of the specifications of the projects this user may see."""
        return self.filter(specification__project__in=Project.objects.visible_to(user))


class SpecificationVersion(ConcurrentTransitionMixin, ChoiceLabels, models.Model):
    """An issued version of a specification: the frozen PDF, its hash, and the holder's
    answer. Never edited afterwards, except for that answer."""

    class Approval(models.TextChoices):
        PENDING = "pending", _("En attente du porteur")
        APPROVED = "approved", _("Approuvé par le porteur")
        RETURNED = "returned", _("Renvoyé par le porteur")

    specification = models.ForeignKey(
        Specification, on_delete=models.CASCADE, related_name="versions"
    )
    number = models.PositiveIntegerField(_("version"))
    file = models.FileField(_("fichier"), upload_to="specifications/")
    sha256 = models.CharField(_("empreinte SHA-256"), max_length=64)
    size = models.PositiveBigIntegerField(_("taille"))
    page_count = models.PositiveIntegerField(_("pages"))
    language = models.CharField(_("langue"), max_length=10, choices=settings.LANGUAGES)
    # What the PDF was rendered from: the sections and the project's facts at issue time.
    content = models.JSONField(_("contenu"), default=dict)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("émis par"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    issued_at = models.DateTimeField(_("émis le"), default=timezone.now)
    approval = FSMField(
        _("avis du porteur"),
        max_length=20,
        choices=Approval.choices,
        default=Approval.PENDING,
        protected=True,
    )
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("répondu par"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    answered_at = models.DateTimeField(_("répondu le"), null=True, blank=True)
    answer_comment = models.TextField(_("commentaire du porteur"), max_length=5_000, blank=True)

    objects = SpecificationVersionQuerySet.as_manager()

    class Meta:
        ordering = ["specification", "-number"]
        verbose_name = _("version du cahier des charges")
        verbose_name_plural = _("versions du cahier des charges")
        constraints = [
            models.UniqueConstraint(
                fields=["specification", "number"], name="projects_specversion_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["specification", "-number"], name="projects_specversion_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.specification.project.reference} — v{self.number}"

    @transition(
        field=approval,
        source=Approval.PENDING,
        target=Approval.APPROVED,
        permission=_is_holder_account,
        custom={"label": _("Approuver le cahier des charges")},
    )
    def approve(self) -> None:
        """The holder signs off this version."""

    @transition(
        field=approval,
        source=Approval.PENDING,
        target=Approval.RETURNED,
        permission=_is_holder_account,
        custom={"label": _("Renvoyer avec un commentaire"), "needs_comment": True},
    )
    def return_to_mission(self) -> None:
        """The holder sends this version back; the comment says what to change."""


def designer_reads_holders(user: User) -> models.Exists:
    """The CRM a designer reads: the holders of the projects whose team they are on."""
    return models.Exists(
        ProjectMember.objects.filter(project__holder=models.OuterRef("pk"), user=user)
    )
