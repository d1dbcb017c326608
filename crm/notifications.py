"""Notifications: who hears of what (DESIGN §9).

An action that others must hear of calls `notify(...)` in its own transaction: it writes one
`Event`, with the people it is for (never the person who acted), and queues the worker's
task. The worker builds the rest from that record (STYLE: events): one `Notification` per
recipient in one bulk insert (`deliver`), then the e-mails (`crm.mail`). The request pays
for two rows, however large the team; a worker killed between the two is caught up by
`recover_jobs` (`undelivered`).

The base app knows no app built on it: each app declares, from its `AppConfig.ready()`,

- its kinds of event (`register_kind`): what the notification says, what the preferences
  page calls it, and whether it needs the reader's action (e-mailed at once by default) or
  not (in the morning digest by default);
- the records its events are about (`register_record`): how they are named (their full name
  inside Carreau, their reference outside it when confidential), who follows them, and what
  a move of their state machine tells whom (`crm.fsm.Machine.run` calls `moved`).

Each notification is checked against its reader's scope when shown: the bell and the page
read through `Notification.objects.for_reader(user)`, which keeps only the records the
person may still see (`visible_records`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.models import Delivery, Event, Notification, User

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

    from crm.fsm import TransitionLog
    from crm.permissions import ScopedQuerySet


@dataclass(frozen=True)
class EventKind:
    """One kind of event. `text` is formatted with `actor`, `record` (the record's name as
    the reader may see it) and the event's params, through `words` when some of them need
    words of the reader's language (a step's label)."""

    key: str
    label: StrOrPromise
    text: StrOrPromise
    needs_action: bool = False
    words: Callable[[dict[str, Any]], dict[str, Any]] | None = None

    @property
    def default_delivery(self) -> str:
        return Delivery.IMMEDIATE if self.needs_action else Delivery.DIGEST


@dataclass(frozen=True)
class RecordKind:
    """A kind of record events are about, as its app describes it."""

    model: str  # "app_label.ModelName"; its manager has `visible_to(user)`
    name: Callable[[Any], str]
    reference: Callable[[Any], str]
    confidential: Callable[[Any], bool] = lambda record: False
    # The people who follow the record: they hear of the exchanges logged on it.
    followers: Callable[[Any], Iterable[int]] = lambda record: ()
    # A move of the record's state machine: (kind, recipients, params), or None when nobody
    # needs to hear of it.
    on_move: (
        Callable[[Any, TransitionLog], tuple[str, Iterable[int], dict[str, Any]] | None] | None
    ) = None
    url: Callable[[Any], str] = field(default=lambda record: record.get_absolute_url())


KINDS: dict[str, EventKind] = {}
RECORDS: dict[str, RecordKind] = {}


def register_kind(kind: EventKind) -> None:
    KINDS[kind.key] = kind


def register_record(kind: RecordKind) -> None:
    RECORDS[kind.model] = kind


def record_kind(record: models.Model) -> RecordKind:
    return RECORDS[record._meta.label]


# Recording ----------------------------------------------------------------------------------


def notify(
    *,
    kind: str,
    record: models.Model,
    by: User | None,
    recipients: Iterable[int],
    params: dict[str, Any] | None = None,
    url: str = "",
) -> Event | None:
    """Record that `kind` happened to `record` because of `by`, for `recipients` (user ids;
    the person who acted is left out). Runs in the caller's transaction: the event and its
    task exist if and only if what caused them does. Nothing is written when nobody is left
    to tell."""
    from crm.tasks import deliver_event

    if kind not in KINDS:
        raise KeyError(f"Unregistered event kind {kind!r}")
    ids = {int(pk) for pk in recipients if pk is not None}
    if by is not None:
        ids.discard(by.pk)
    if not ids:
        return None
    described = record_kind(record)
    with transaction.atomic():
        event = Event.objects.create(
            kind=kind,
            actor=by,
            record_type=record._meta.label,
            record_id=record.pk,
            record_name=described.name(record)[:300],
            record_reference=described.reference(record)[:40],
            confidential=described.confidential(record),
            url=url or described.url(record),
            params=params or {},
            recipients=sorted(ids),
        )
        # The task row is stored in the same transaction (database queue): the notifications
        # and e-mails are built by the worker, and only for an event that was committed.
        deliver_event.enqueue(event.pk)
    return event


def deliver(event_id: int) -> int:
    """Write the notifications of one event (the worker's part): one insert, however large
    the team. Run twice, or by two workers at once, it writes each once. Returns the
    number of people it is for (those whose account still exists)."""
    with transaction.atomic():
        event = Event.objects.select_for_update().filter(pk=event_id).first()
        if event is None or event.delivered_at is not None:
            return 0
        written = Notification.objects.bulk_create(
            [
                Notification(
                    event=event,
                    recipient_id=pk,
                    record_type=event.record_type,
                    record_id=event.record_id,
                    created_at=event.created_at,
                )
                for pk in User.objects.filter(pk__in=event.recipients).values_list("pk", flat=True)
            ],
            ignore_conflicts=True,
        )
        event.delivered_at = timezone.now()
        event.save(update_fields=["delivered_at"])
    return len(written)


def redeliver(*, older_than: datetime) -> int:
    """Queue again the events recorded before `older_than` whose notifications no worker
    wrote (a worker killed mid-task): `recover_jobs` runs it when a worker starts."""
    from crm.tasks import deliver_event

    pending = list(
        Event.objects.filter(delivered_at__isnull=True, created_at__lt=older_than)
        .order_by("created_at")
        .values_list("pk", flat=True)
    )
    for pk in pending:
        deliver_event.enqueue(pk)
    return len(pending)


def notify_followers(
    *, kind: str, record: models.Model, by: User | None, params: dict[str, Any] | None = None
) -> Event | None:
    """Tell the people who follow `record` (its team, its owner and sharers)."""
    return notify(
        kind=kind,
        record=record,
        by=by,
        recipients=record_kind(record).followers(record),
        params=params,
    )


def moved(*, record: models.Model, log: TransitionLog, by: User) -> Event | None:
    """A record moved (`Machine.run`): tell whom its app says must hear of that move."""
    described = RECORDS.get(record._meta.label)
    if described is None or described.on_move is None:
        return None
    told = described.on_move(record, log)
    if told is None:
        return None
    kind, recipients, params = told
    return notify(kind=kind, record=record, by=by, recipients=recipients, params=params)


# Reading ------------------------------------------------------------------------------------


def scope(label: str) -> ScopedQuerySet[models.Model]:
    """The records of the registered kind `label` ("app_label.ModelName"), whose manager has
    `visible_to(user)`."""
    manager: ScopedQuerySet[models.Model] = apps.get_model(label).objects
    return manager


def visible_records(user: User) -> Q:
    """Notifications about records `user` may see now, whatever their kind: one subquery per
    kind of record, so a lost access hides them at once."""
    condition = Q(pk__in=[])
    for label in RECORDS:
        condition |= Q(record_type=label, record_id__in=scope(label).visible_to(user).values("pk"))
    return condition


def record_label(event: Event, *, outside: bool) -> str:
    """What the reader is told the record is called: outside Carreau (e-mail), a confidential
    record is its reference only."""
    if outside and event.confidential:
        return event.record_reference or gettext("une fiche confidentielle")
    return event.record_name


def describe(event: Event, *, outside: bool = False) -> str:
    """The event in one sentence, in the current language."""
    kind = KINDS.get(event.kind)
    if kind is None:
        return event.record_name
    values: dict[str, Any] = dict(event.params)
    if kind.words is not None:
        values.update(kind.words(event.params))
    values["actor"] = str(event.actor) if event.actor_id else gettext("Carreau")
    values["record"] = record_label(event, outside=outside)
    try:
        return str(kind.text) % values
    except (KeyError, TypeError, ValueError):
        return f"{kind.label} : {values['record']}"


def delivery_for(user: User, kind: str, preferences: dict[str, str] | None = None) -> str:
    """How `user` hears of `kind` beside the bell: their choice, else the kind's default."""
    if preferences is None:
        preferences = dict(user.notification_preferences.values_list("kind", "delivery"))
    if kind in preferences:
        return preferences[kind]
    event_kind = KINDS.get(kind)
    return event_kind.default_delivery if event_kind else Delivery.DIGEST


# The base app's own kind: an exchange logged on a record someone follows.
register_kind(
    EventKind(
        key="interaction_logged",
        label=_("Un échange est consigné sur une fiche que vous suivez"),
        text=_("%(actor)s a consigné un échange sur %(record)s."),
    )
)
