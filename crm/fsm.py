"""The state-machine spine shared by the records that move through steps: projects
(`projects.models.Project.state`) and leads (`prospects.models.Lead.stage`).

Each model keeps its graph — the `@transition` methods, their permissions and conditions —
and declares once, as `machine = Machine(...)`, what the shared plumbing needs to know about
it: its field, its log, its "changed" exception, the moves whose target it computes, and the
words that differ from one machine to the other. Everything else is derived here, the same
for both: the moves offered to a person and what blocks each one, running a move with its log
row and audit entry in one transaction, the transition view, the partials that draw the moves
(`templates/crm/includes/_transitions.html`), the timeline entries and the admin's buttons.

Every move writes one log row (`TransitionLog`): "this record moved from A to B, by C, at T,
because…". That row is the move's event, for the timeline today and for what must hear of
moves next (see `Machine.run`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias, TypeVar, cast, overload

from django.apps import apps
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ImproperlyConfigured
from django.db import models, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_fsm import (
    RETURN_VALUE,
    ConcurrentTransition,
    FSMFieldMixin,
    FSMMeta,
    Transition,
    TransitionNotAllowed,
)

from crm import audit, notifications
from crm.http import AuthenticatedRequest
from crm.models import AuditEntry, ChoiceLabels, User
from crm.pages import safe_next
from crm.timeline import TimelineEntry

PARTIALS = "crm/includes/_transitions.html"

if TYPE_CHECKING:
    from django_fsm import State, _Condition, _StateValue

    Method = TypeVar("Method", bound=Callable[..., Any])

    def transition(
        field: FSMFieldMixin | str,
        source: _StateValue | Sequence[_StateValue] = "*",
        target: _StateValue | State | None = None,
        on_error: _StateValue | None = None,
        conditions: list[_Condition] | None = None,
        permission: str | Callable[[Any, User], bool] | None = None,
        custom: dict[str, Any] | None = None,
    ) -> Callable[[Method], Method]:
        """django-fsm's `transition`, as Carreau's models use it: a permission takes the
        model's own record and a Carreau user (django-fsm passes those; its own types say any
        model and any user), and the decorated method keeps its signature."""
        ...

    class ConcurrentTransitionMixin:
        """django-fsm's guard against two moves at once, as the type checker sees it: a plain
        mixin. django-fsm declares it a Model subclass for type checkers only, which the
        django-stubs plugin cannot resolve, and every model using it would be read as Any."""

else:
    from django_fsm import ConcurrentTransitionMixin as ConcurrentTransitionMixin
    from django_fsm import transition as transition


@dataclass(frozen=True)
class Condition:
    """A transition condition that can say, in words, what is missing when it fails."""

    message: str | Promise
    check: Callable[[Any], bool]

    def __call__(self, instance: Any) -> bool:
        return self.check(instance)


class TransitionRefused(Exception):
    """A transition that may not run now; `reasons` say why, in the user's language."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__(" ".join(reasons))
        self.reasons = reasons


@dataclass(frozen=True)
class TransitionOption:
    """A move offered to a user: where it leads, how it is labelled, and what blocks it."""

    name: str
    target: str
    label: str
    needs_comment: bool
    danger: bool
    allowed: bool
    reasons: list[str]
    # The comment field of a move that needs one: its label and its hint.
    comment_label: str = ""
    comment_placeholder: str = ""


@dataclass(frozen=True)
class Moves:
    """What the partials of `PARTIALS` draw for one record and one person: the forms of the
    record's page (`#forms`) or the moves of its board card (`#card_moves`)."""

    record: models.Model
    url: str
    state: str
    options: list[TransitionOption]
    # The board's one comment field, for whichever of its moves needs it.
    comment_label: str
    next: str = ""

    @property
    def needs_comment(self) -> bool:
        return any(option.needs_comment for option in self.options)


def fsm_meta(instance: models.Model, name: str) -> FSMMeta:
    """django-fsm's description of transition `name` of `instance`."""
    meta: FSMMeta = getattr(instance, name)._django_fsm
    return meta


def transition_from(instance: models.Model, name: str, state: str) -> Transition:
    """Transition `name` of `instance` from `state`, which the caller knows it leaves from."""
    transition = fsm_meta(instance, name).get_transition(state)
    assert transition is not None, f"{name} does not leave {state}"
    return transition


def unmet_conditions(instance: models.Model, name: str, state: str) -> list[str]:
    """What the conditions of transition `name` from `state` say is missing, in words."""
    conditions = transition_from(instance, name, state).conditions or []
    return [
        str(condition.message)
        if isinstance(condition, Condition)
        else gettext("Condition non remplie.")
        for condition in conditions
        if not condition(instance)
    ]


Target = Mapping[str, str] | Callable[[Any], str]


@dataclass(kw_only=True)
class Machine:
    """One state machine, declared once in its model's body: `machine = Machine(...)`.

    `project.machine` is the machine of that project (`RecordMachine`): its moves, their
    refusals, running one. The transitions are the model's `@transition` methods on `field`,
    in the order they are declared; `custom` on each gives its `label`, and may say
    `needs_comment`, `danger`, `gate`, and for its comment `comment_label`,
    `comment_placeholder` and `comment_missing` (what a refusal without one says)."""

    field: str
    # The concrete `TransitionLog`, as "app_label.ModelName" (it is declared after the model).
    log: str
    changed: type[Exception]
    # The URL names of the record's transition view and of its board.
    url: str
    board: str
    # The attribute that names the record in messages ("DS-2026-014 : Écouter → Impulser.").
    title: str
    # The moves whose target the model computes (`RETURN_VALUE`): from each state, or from
    # the record itself.
    targets: Mapping[str, Target] = dataclasses.field(default_factory=dict)
    # A model method that saves what a move changed, given the move's name, comment and
    # time; without one the record is saved whole.
    save: str = ""
    # The words that differ between machines: a move not possible from here and a page
    # older than the record (each given the current state's label), a role that may not
    # make the move, someone else moving the record first, and the board's comment label.
    not_here: Callable[[str], str]
    role: str | Promise
    stale: Callable[[str], str]
    overtaken: str | Promise
    board_comment: str | Promise
    model: type[models.Model] = dataclasses.field(init=False)

    def __set_name__(self, owner: type[models.Model], name: str) -> None:
        self.model = owner

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> Machine: ...
    @overload
    def __get__(self, instance: models.Model, owner: type | None = None) -> RecordMachine: ...
    def __get__(
        self, instance: models.Model | None, owner: type | None = None
    ) -> Machine | RecordMachine:
        if instance is None:
            return self
        return RecordMachine(self, instance)

    @cached_property
    def state_field(self) -> FSMFieldMixin:
        # The machine's field is a django-fsm state field: the model declares it so.
        return cast(FSMFieldMixin, self.model._meta.get_field(self.field))

    @cached_property
    def log_model(self) -> type[TransitionLog]:
        return apps.get_model(self.log)

    @cached_property
    def names(self) -> list[str]:
        """The machine's transitions, in the order the model declares them (as pages list
        them); a computed target without its rule, or the reverse, fails loudly here."""
        declared = [
            name
            for klass in reversed(self.model.__mro__)
            for name, attr in vars(klass).items()
            if _transition_field(attr) == self.field
        ]
        names = list(dict.fromkeys(declared))
        computed = {
            transition.name
            for transition in self.state_field.get_all_transitions(self.model)
            if isinstance(transition.target, RETURN_VALUE)
        }
        if computed != set(self.targets):
            raise ImproperlyConfigured(
                f"{self.model.__name__}.machine: targets {sorted(self.targets)} must be "
                f"exactly the transitions that compute theirs, {sorted(computed)}"
            )
        return names

    def possible_targets(self, name: str, source: str) -> list[str]:
        """Where transition `name` may lead from `source`, whatever the record (for the
        diagrams of `docs/state-machines.md`)."""
        transition = getattr(self.model, name)._django_fsm.get_transition(source)
        rule = self.targets.get(name)
        if rule is None:
            return [str(transition.target)]
        if isinstance(rule, Mapping):
            return [rule[source]]
        return [str(state) for state in transition.target.allowed_states]


def _transition_field(attr: Any) -> str | None:
    meta = getattr(attr, "_django_fsm", None)
    if not isinstance(meta, FSMMeta):
        return None
    return meta.field if isinstance(meta.field, str) else meta.field.name


class RecordMachine:
    """A record's machine (`record.machine`): its state, the moves a person may make, and
    running one."""

    def __init__(self, spec: Machine, record: models.Model) -> None:
        self.spec = spec
        self.record = record
        self.changed = spec.changed

    @property
    def state(self) -> str:
        state: str = getattr(self.record, self.spec.field)
        return state

    @property
    def state_label(self) -> str:
        return str(getattr(self.record, f"get_{self.spec.field}_display")())

    @property
    def title(self) -> str:
        return str(getattr(self.record, self.spec.title))

    def target_of(self, name: str) -> str:
        """The state transition `name` would lead to from the record's current state."""
        rule = self.spec.targets.get(name)
        if rule is None:
            return str(transition_from(self.record, name, self.state).target)
        if isinstance(rule, Mapping):
            return rule[self.state]
        return rule(self.record)

    def refusal_reasons(self, name: str, user: User) -> list[str]:
        """Why `user` may not run transition `name` now; empty when they may."""
        if name not in self.spec.names:
            return [gettext("Cette action n'existe pas.")]
        meta = fsm_meta(self.record, name)
        if not meta.has_transition(self.state):
            return [str(self.spec.not_here(self.state_label))]
        if not meta.has_transition_perm(self.record, self.state, user):
            return [str(self.spec.role)]
        return unmet_conditions(self.record, name, self.state)

    def options(self, user: User, *, check_conditions: bool = True) -> list[TransitionOption]:
        """The transitions from the record's state that the user's role allows, each with
        what blocks it (a move whose conditions fail is shown with its reasons, not hidden)
        and where it leads.

        Pages of many records (a board) pass `check_conditions=False`: conditions cost a
        query each, and `run` checks them anyway when the move is made."""
        options = []
        for name in self.spec.names:
            meta = fsm_meta(self.record, name)
            if not meta.has_transition(self.state):
                continue
            if not meta.has_transition_perm(self.record, self.state, user):
                continue
            custom = transition_from(self.record, name, self.state).custom
            reasons = self.refusal_reasons(name, user) if check_conditions else []
            options.append(
                TransitionOption(
                    name=name,
                    target=self.target_of(name),
                    label=str(custom.get("label", name)),
                    needs_comment=bool(custom.get("needs_comment")),
                    danger=bool(custom.get("danger")),
                    allowed=not reasons,
                    reasons=reasons,
                    comment_label=str(
                        custom.get("comment_label") or gettext("Commentaire (obligatoire)")
                    ),
                    comment_placeholder=str(
                        custom.get("comment_placeholder") or gettext("Pourquoi ? (obligatoire)")
                    ),
                )
            )
        return options

    def moves(self, user: User, *, check_conditions: bool = True, next: str = "") -> Moves:
        """What the partials draw for `user`: the options, and where their forms post."""
        return Moves(
            record=self.record,
            url=reverse(self.spec.url, args=[self.record.pk]),
            state=self.state,
            options=self.options(user, check_conditions=check_conditions),
            comment_label=str(self.spec.board_comment),
            next=next,
        )

    def run(self, *, name: str, by: User, comment: str = "") -> TransitionLog:
        """Run transition `name`, save the record and write the log row and the audit entry,
        all in one transaction.

        Refused moves raise `TransitionRefused` with the reasons (a move that needs a comment
        and has none included). If someone else moved the record since it was read (or the
        move no longer applies), the machine's `changed` exception is raised and nothing,
        log included, is written."""
        comment = comment.strip()
        reasons = self.refusal_reasons(name, by)
        if not reasons:
            custom = transition_from(self.record, name, self.state).custom
            if custom.get("needs_comment") and not comment:
                reasons = [
                    str(
                        custom.get("comment_missing")
                        or gettext(
                            "Un commentaire est nécessaire pour cette action : dites pourquoi."
                        )
                    )
                ]
        if reasons:
            raise TransitionRefused(reasons)
        record, spec = self.record, self.spec
        labels = dict(spec.state_field.flatchoices)
        source = self.state
        at = timezone.now()
        try:
            with transaction.atomic():
                getattr(record, name)()
                if spec.save:
                    getattr(record, spec.save)(name=name, comment=comment, at=at)
                else:
                    record.save()
                target = self.state
                # The move's event: one row per move, whichever the machine, written with the
                # move or not at all. What must hear of moves hears of them here, in this
                # transaction, or reads the log.
                log: TransitionLog = spec.log_model.objects.create(
                    **{spec.log_model.subject_field: record},
                    name=name,
                    source=source,
                    target=target,
                    by=by,
                    at=at,
                    comment=comment,
                )
                audit.record(
                    instance=record,
                    action=AuditEntry.Action.TRANSITION,
                    by=by,
                    field=spec.field,
                    old_value=labels[source],
                    new_value=labels[target],
                    detail=comment,
                )
                # Whoever the record's app says must hear of this move is told, in this
                # transaction: the notification exists if and only if the move does.
                notifications.moved(record=record, log=log, by=by)
                return log
        except (ConcurrentTransition, TransitionNotAllowed) as error:
            raise spec.changed from error


class TransitionLog(ChoiceLabels):
    """The log of every move: who, when, from, to, and why — the move's event.

    A concrete log adds the foreign key to what moved, named by `subject_field`, and the
    `source` and `target` fields with its state machine's choices."""

    subject_field: ClassVar[str]
    # Declared by each concrete log, with its machine's choices.
    source: str
    target: str

    if TYPE_CHECKING:
        objects: models.Manager[Any]

        def get_source_display(self) -> str: ...
        def get_target_display(self) -> str: ...

    name = models.CharField(_("transition"), max_length=40)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("par"), on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField(_("le"), default=timezone.now)
    comment = models.TextField(_("commentaire"), max_length=5_000, blank=True)

    class Meta:
        abstract = True
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        subject_id = getattr(self, f"{self.subject_field}_id")
        return f"{subject_id}: {self.source} → {self.target}"

    @property
    def move(self) -> str:
        """ "Écouter → Impulser", in the reader's language."""
        return f"{self.get_source_display()} → {self.get_target_display()}"

    def timeline_entry(self) -> TimelineEntry:
        return TimelineEntry(
            when=self.at,
            kind="transition",
            label=gettext("Étape"),
            text=self.move,
            author=self.by,
            detail=self.comment,
        )


# The views --------------------------------------------------------------------------------
# The apps' views fetch the record through its scope (`crm.permissions.get_for_user`), then
# hand it over: every machine gets the same checks, in the same order, and the same messages.


def transition_view(request: AuthenticatedRequest, record: models.Model) -> HttpResponse:
    """Run one move posted from a record's page or its board, then go back there.

    The form posts the state the person saw: a move from a stale page is refused, never
    applied to whatever state the record has reached since. A drop on a board column posts
    the column (`target`) instead of the move: the move is the one that leads there."""
    from crm.forms import TransitionForm  # the forms need every app's models loaded

    machine = record.machine  # type: ignore[attr-defined]
    back = safe_next(request, record.get_absolute_url())  # type: ignore[attr-defined]
    form = TransitionForm(request.POST)
    if not form.is_valid():
        messages.error(request, gettext("Action incomplète : rien n'a été modifié."))
        return redirect(back)
    name, seen = form.cleaned_data["name"], form.cleaned_data["state"]
    if seen != machine.state:
        messages.error(request, str(machine.spec.stale(machine.state_label)))
        return redirect(back)
    if not name:
        options = machine.options(request.user, check_conditions=False)
        target = form.cleaned_data["target"]
        name = next((option.name for option in options if option.target == target), "")
        if not name:
            messages.error(
                request, gettext("Ce déplacement n'est pas possible depuis cette étape.")
            )
            return redirect(back)
    try:
        log = machine.run(name=name, by=request.user, comment=form.cleaned_data["comment"])
    except TransitionRefused as refused:
        messages.error(request, " ".join(refused.reasons))
    except machine.changed:
        messages.error(request, str(machine.spec.overtaken))
    else:
        messages.success(
            request,
            gettext("%(record)s : %(source)s → %(target)s.")
            % {
                "record": machine.title,
                "source": log.get_source_display(),
                "target": log.get_target_display(),
            },
        )
    return redirect(back)


def card_moves_view(request: AuthenticatedRequest, record: models.Model) -> HttpResponse:
    """A board card's moves, loaded into the card when its "Déplacer" button is opened (htmx);
    opened as an address (no JavaScript, a new tab), the same moves on a page of their own.
    Either way a move leads back to the board, to the moved card (`#card-<pk>`), which the
    board's script gives the focus again."""
    machine = record.machine  # type: ignore[attr-defined]
    board = reverse(machine.spec.board)
    moves = machine.moves(request.user, check_conditions=False, next=f"{board}#card-{record.pk}")
    if request.htmx:
        return render(request, f"{PARTIALS}#card_moves", {"moves": moves})
    context = {
        "moves": moves,
        "record": record,
        "title": machine.title,
        "state_label": machine.state_label,
        "board": board,
    }
    return render(request, "crm/card_moves_page.html", context)


# The admin --------------------------------------------------------------------------------
# Plain mixins: this module is loaded with the models, before the admin may be imported.


if TYPE_CHECKING:
    from django.contrib.admin.options import _FieldGroups

    # The admin mixins are checked as the admin classes they are mixed into; at run time they
    # stay plain classes, as ModelAdmin cannot be subscripted.
    _AdminMixinBase: TypeAlias = admin.ModelAdmin[Any]
    _InlineMixinBase: TypeAlias = admin.TabularInline[Any, Any]
else:
    _AdminMixinBase = _InlineMixinBase = object


class TransitionAdminMixin(_AdminMixinBase):
    """For the admin of a record with a `Machine`, before django-fsm's `FSMAdminMixin`: its
    transition buttons would change the state without the log row, the checks and the
    concurrency guard of the pages, so they go through `Machine.run` too.
    `changed_message` says that someone changed the record first."""

    changed_message: ClassVar[str | Promise]

    def _apply_fsm_transition(
        self,
        *,
        obj: models.Model,
        transition_name: str,
        request: HttpRequest,
        kwargs: Mapping[str, Any] | None = None,
    ) -> bool:
        machine = obj.machine  # type: ignore[attr-defined]
        try:
            machine.run(
                name=transition_name,
                by=request.user,
                comment=gettext("Depuis l'administration."),
            )
        except TransitionRefused as refused:
            self.message_user(request, " ".join(refused.reasons), level=messages.ERROR)
            return False
        except machine.changed:
            self.message_user(request, str(self.changed_message), messages.ERROR)
            return False
        return True


class TransitionLogInlineMixin(_InlineMixinBase):
    """For an `admin.TabularInline` of a log: shown on the record's page, never written by hand
    (the moves write it)."""

    extra = 0
    can_delete = False
    readonly_fields = ["name", "source", "target", "by", "at", "comment"]

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class TransitionLogAdminMixin(_AdminMixinBase):
    """For the `admin.ModelAdmin` of a log: readable and filterable, never changed."""

    list_filter = ["target"]
    date_hierarchy = "at"

    def get_fields(self, request: HttpRequest, obj: object = None) -> _FieldGroups:
        # What moved first, then the move: the order of the log's story, not of its classes.
        return [self.model.subject_field, "name", "source", "target", "by", "at", "comment"]

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
