"""State-machine plumbing shared by the apps whose records move through steps: projects
(`projects.models.Project.state`) and leads (`prospects.models.Lead.stage`).

The transition graphs themselves stay in each app's models; what lives here is what both
graphs run on: conditions that explain themselves, the refusal, the options offered to a user,
the log row's common fields, and running a move with its log and audit entry in one database
transaction.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from django.conf import settings
from django.db import models, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_fsm import ConcurrentTransition, FSMMeta, TransitionNotAllowed

from crm import audit
from crm.models import AuditEntry, ChoiceLabels, User

Log = TypeVar("Log", bound="TransitionLog")


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


def fsm_meta(instance: models.Model, name: str) -> FSMMeta:
    """django-fsm's description of transition `name` of `instance`."""
    return getattr(instance, name)._django_fsm


def unmet_conditions(instance: models.Model, name: str, state: str) -> list[str]:
    """What the conditions of transition `name` from `state` say is missing, in words."""
    conditions = fsm_meta(instance, name).get_transition(state).conditions or []
    return [
        str(condition.message)
        if isinstance(condition, Condition)
        else gettext("Condition non remplie.")
        for condition in conditions
        if not condition(instance)
    ]


def transition_options(
    instance: models.Model,
    user: User,
    *,
    names: Iterable[str],
    state: str,
    target_of: Callable[[Any, str], str],
    refusal_reasons: Callable[[Any, str, User], list[str]],
    check_conditions: bool = True,
) -> list[TransitionOption]:
    """The transitions among `names` from `state` that the user's role allows, each with what
    blocks it (`refusal_reasons`, skipped without `check_conditions`) and where it leads
    (`target_of`, for the moves whose target depends on the record)."""
    options = []
    for name in names:
        meta = fsm_meta(instance, name)
        if not meta.has_transition(state):
            continue
        if not meta.has_transition_perm(instance, state, user):
            continue
        custom = meta.get_transition(state).custom
        reasons = refusal_reasons(instance, name, user) if check_conditions else []
        options.append(
            TransitionOption(
                name=name,
                target=target_of(instance, name),
                label=str(custom.get("label", name)),
                needs_comment=bool(custom.get("needs_comment")),
                danger=bool(custom.get("danger")),
                allowed=not reasons,
                reasons=reasons,
            )
        )
    return options


class TransitionLog(ChoiceLabels):
    """The log of every move: who, when, from, to, and why.

    A concrete log adds the foreign key to what moved, named by `subject_field`, and the
    `source` and `target` fields with its state machine's choices."""

    subject_field: ClassVar[str]

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


def run_logged(
    instance: models.Model,
    *,
    name: str,
    by: User,
    comment: str,
    log_model: type[Log],
    changed: type[Exception],
    save: Callable[[], None],
    at: datetime.datetime | None = None,
) -> Log:
    """Run transition `name` on `instance`, `save` it, and write the log row (dated `at`, or
    now) and the audit entry, all in one transaction.

    The caller has already checked that the move is allowed. If someone else moved the record
    since it was read (or the move no longer applies), `changed` is raised and nothing, log
    included, is written."""
    field = fsm_meta(instance, name).field
    labels = dict(field.flatchoices)
    source = getattr(instance, field.name)
    try:
        with transaction.atomic():
            getattr(instance, name)()
            save()
            target = getattr(instance, field.name)
            log = log_model.objects.create(
                **{log_model.subject_field: instance},
                name=name,
                source=source,
                target=target,
                by=by,
                at=at or timezone.now(),
                comment=comment,
            )
            audit.record(
                instance=instance,
                action=AuditEntry.Action.TRANSITION,
                by=by,
                field=field.name,
                old_value=labels[source],
                new_value=labels[target],
                detail=comment,
            )
            return log
    except (ConcurrentTransition, TransitionNotAllowed) as error:
        raise changed from error


# The admin --------------------------------------------------------------------------------
# Plain mixins: this module is loaded with the models, before the admin may be imported.


class TransitionLogInlineMixin:
    """For an `admin.TabularInline` of a log: shown on the record's page, never written by hand
    (the actions write it)."""

    extra = 0
    can_delete = False
    readonly_fields = ["name", "source", "target", "by", "at", "comment"]

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class TransitionLogAdminMixin:
    """For the `admin.ModelAdmin` of a log: readable and filterable, never changed."""

    list_filter = ["target"]
    date_hierarchy = "at"

    def get_fields(self, request: HttpRequest, obj: object = None) -> list[str]:
        # What moved first, then the move: the order of the log's story, not of its classes.
        return [self.model.subject_field, "name", "source", "target", "by", "at", "comment"]

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
