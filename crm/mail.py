"""E-mail: built and sent by the worker through Django's e-mail backends (DESIGN §9).

- `queue_event(event_id)` (the `deliver_event` task, queued by `crm.notifications.notify`)
  writes one `OutboxMessage` per recipient who wants this kind of event at once, in their
  language, then sends them. The (recipient, key) constraint makes a second message for the
  same event and person impossible, so a task run twice sends once.
- `queue_digests(now)` (`manage.py send_digests`, every few minutes) writes the morning
  digest of each person whose time has come today: their work queue's items due between two
  days ago and five days ahead, and their unread notifications of kinds they want in the
  digest. Nothing is written for a person with nothing to read.
- `send_due(now)` sends what is pending and due. A failure (the mail server is down) is
  retried later with a growing delay (`BACKOFF`); after `MAX_ATTEMPTS` the message is marked
  failed, and stays in the admin.

Every message has a plain-text and an HTML body, a link to the record (absolute, from
`CARREAU_BASE_URL`), and `List-Unsubscribe` with one-click unsubscribe (RFC 8058) through a
signed link that turns off only that preference.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db.models import Q, QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext

from crm import notifications, workqueue
from crm.models import Delivery, Event, Notification, NotificationPreference, OutboxMessage, User

logger = logging.getLogger(__name__)

# Minutes to wait after the n-th failure; the last one repeats. About eight hours in all
# before a message is given up: a mail server down for an hour loses nothing.
BACKOFF = [1, 2, 5, 10, 20, 40, 60]
MAX_ATTEMPTS = 12
# A message being sent is held this long, so that two senders never send it both.
LEASE = timedelta(minutes=5)
# The digest's window over the work queue's due dates (the Filestage daily roundup's).
DIGEST_DAYS_BEFORE = 2
DIGEST_DAYS_AFTER = 5
DIGEST = "digest"
UNSUBSCRIBE_SALT = "carreau.unsubscribe"


def absolute(path: str) -> str:
    return settings.CARREAU_BASE_URL.rstrip("/") + path


def language_of(user: User) -> str:
    return user.language or settings.LANGUAGE_CODE


# Unsubscribe links ----------------------------------------------------------------------------


def unsubscribe_token(user: User, kind: str) -> str:
    """A signed token naming one person and one preference (a kind of event, or the digest)."""
    return signing.dumps([user.pk, kind], salt=UNSUBSCRIBE_SALT, compress=True)


def read_unsubscribe_token(token: str) -> tuple[int, str] | None:
    try:
        user_id, kind = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not isinstance(user_id, int) or not isinstance(kind, str):
        return None
    if kind != DIGEST and kind not in notifications.KINDS:
        return None
    return user_id, kind


def unsubscribe(*, user: User, kind: str) -> None:
    """Turn off that one preference: a kind's e-mails, or the digest."""
    if kind == DIGEST:
        User.objects.filter(pk=user.pk).update(digest_enabled=False)
        return
    NotificationPreference.objects.update_or_create(
        user=user, kind=kind, defaults={"delivery": Delivery.OFF}
    )


def unsubscribe_url(user: User, kind: str) -> str:
    return absolute(reverse("crm:unsubscribe", args=[unsubscribe_token(user, kind)]))


def _headers(user: User, kind: str) -> dict[str, str]:
    return {
        "List-Unsubscribe": f"<{unsubscribe_url(user, kind)}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "Auto-Submitted": "auto-generated",
    }


# Events ---------------------------------------------------------------------------------------


def queue_event(event_id: int) -> list[OutboxMessage]:
    """Write the e-mails of one event (those who want it at once and may still see the
    record), then send them. Run twice, it writes and sends nothing more."""
    event = Event.objects.filter(pk=event_id).select_related("actor").first()
    if event is None:
        return []
    readers = [
        notification.recipient
        for notification in Notification.objects.filter(event=event).select_related("recipient")
        if notification.recipient.is_active and notification.recipient.email
    ]
    chosen = dict(
        NotificationPreference.objects.filter(user__in=readers, kind=event.kind).values_list(
            "user_id", "delivery"
        )
    )
    kind = notifications.KINDS.get(event.kind)
    default = kind.default_delivery if kind else Delivery.DIGEST
    wanted = [user for user in readers if chosen.get(user.pk, default) == Delivery.IMMEDIATE]
    messages = [build_event_message(event, user) for user in wanted if _still_sees(user, event)]
    OutboxMessage.objects.bulk_create(messages, ignore_conflicts=True)
    send_due(only=Q(event=event))
    return messages


def _still_sees(user: User, event: Event) -> bool:
    return (
        notifications.scope(event.record_type).visible_to(user).filter(pk=event.record_id).exists()
    )


def build_event_message(event: Event, user: User) -> OutboxMessage:
    with translation.override(language_of(user)):
        text = notifications.describe(event, outside=True)
        context = {
            "user": user,
            "text": text,
            "link": absolute(event.url),
            "unsubscribe": unsubscribe_url(user, event.kind),
            "preferences": absolute(reverse("crm:notification_preferences")),
            "kind_label": str(notifications.KINDS[event.kind].label)
            if event.kind in notifications.KINDS
            else "",
        }
        return OutboxMessage(
            recipient=user,
            key=f"event:{event.pk}",
            event=event,
            to=user.email,
            subject=f"[Carreau] {text}"[:300],
            body_text=render_to_string("crm/email/event.txt", context),
            body_html=render_to_string("crm/email/event.html", context),
            headers=_headers(user, event.kind),
        )


# The morning digest -----------------------------------------------------------------------


def digest_key(day: Any) -> str:
    return f"digest:{day.isoformat()}"


def due_for_digest(now: datetime) -> QuerySet[User]:
    """People whose digest time has come today and who have not had today's digest."""
    local = timezone.localtime(now)
    already = OutboxMessage.objects.filter(key=digest_key(local.date())).values("recipient_id")
    return (
        User.objects.filter(is_active=True, digest_enabled=True, digest_time__lte=local.time())
        .exclude(email="")
        .exclude(pk__in=already)
        .order_by("pk")
    )


def queue_digests(now: datetime | None = None, *, batch: int = 200) -> int:
    """Write today's digest of everyone due, a batch of people at a time (a fixed number of
    queries per batch, plus one per person with unread notifications to check their scope);
    returns how many were written."""
    now = now or timezone.now()
    today = timezone.localtime(now).date()
    start = today - timedelta(days=DIGEST_DAYS_BEFORE)
    end = today + timedelta(days=DIGEST_DAYS_AFTER)
    written = 0
    people = due_for_digest(now).iterator(chunk_size=batch)
    while chunk := list(islice(people, batch)):
        _load_roles(chunk)
        due = workqueue.due_for(chunk, start, end)
        unread = _digest_notifications(chunk)
        messages = [
            build_digest_message(user, today, due.get(user.pk, []), unread.get(user.pk, []))
            for user in chunk
            if due.get(user.pk) or unread.get(user.pk)
        ]
        written += len(OutboxMessage.objects.bulk_create(messages, ignore_conflicts=True))
    return written


def _load_roles(users: list[User]) -> None:
    """The role groups of a batch of people in one query (`User.has_role` reads them)."""
    names: dict[int, set[str]] = {user.pk: set() for user in users}
    for user_id, name in User.groups.through.objects.filter(user_id__in=list(names)).values_list(
        "user_id", "group__name"
    ):
        names[user_id].add(name)
    for user in users:
        user._carreau_groups = names[user.pk]


# Notifications older than this are not brought back by the digest.
DIGEST_NOTIFICATION_DAYS = 7


def _digest_notifications(users: list[User]) -> dict[int, list[Event]]:
    """Each person's unread notifications of the kinds they want in the digest, about
    records they may still see."""
    chosen: dict[int, dict[str, str]] = {user.pk: {} for user in users}
    for user_id, kind, delivery in NotificationPreference.objects.filter(
        user__in=users
    ).values_list("user_id", "kind", "delivery"):
        chosen[user_id][kind] = delivery
    since = timezone.now() - timedelta(days=DIGEST_NOTIFICATION_DAYS)
    rows: dict[int, list[Notification]] = {}
    for row in (
        Notification.objects.filter(recipient__in=users, read_at__isnull=True)
        .filter(created_at__gte=since)
        .select_related("event__actor")
        .order_by("recipient_id", "-created_at")
    ):
        rows.setdefault(row.recipient_id, []).append(row)
    by_user = {user.pk: user for user in users}
    found: dict[int, list[Event]] = {}
    for user_id, notes in rows.items():
        user = by_user[user_id]
        wanted = [
            note
            for note in notes
            if notifications.delivery_for(user, note.event.kind, chosen[user_id]) == Delivery.DIGEST
        ][:50]
        if not wanted:
            continue
        visible = _visible(user, wanted)
        found[user_id] = [
            note.event for note in wanted if (note.record_type, note.record_id) in visible
        ]
    return found


def _visible(user: User, rows: list[Notification]) -> set[tuple[str, int]]:
    ids: dict[str, set[int]] = {}
    for row in rows:
        ids.setdefault(row.record_type, set()).add(row.record_id)
    seen: set[tuple[str, int]] = set()
    for label, pks in ids.items():
        visible = (
            notifications.scope(label)
            .visible_to(user)
            .filter(pk__in=pks)
            .values_list("pk", flat=True)
        )
        seen.update((label, pk) for pk in visible)
    return seen


def build_digest_message(
    user: User, day: Any, items: list[Any], events: list[Event]
) -> OutboxMessage:
    with translation.override(language_of(user)):
        lines = [
            {"text": notifications.describe(event, outside=True), "link": absolute(event.url)}
            for event in events
        ]
        todo = [
            {
                "text": item.outside_text,
                "link": absolute(item.url),
                "due": item.due,
                "overdue": item.due < day,
            }
            for item in items
        ]
        context = {
            "user": user,
            "todo": todo,
            "events": lines,
            "home": absolute(reverse("crm:dashboard")),
            "unsubscribe": unsubscribe_url(user, DIGEST),
            "preferences": absolute(reverse("crm:notification_preferences")),
        }
        subject = gettext("[Carreau] Votre récapitulatif : %(count)s élément(s)") % {
            "count": len(todo) + len(lines)
        }
        return OutboxMessage(
            recipient=user,
            key=digest_key(day),
            to=user.email,
            subject=subject,
            body_text=render_to_string("crm/email/digest.txt", context),
            body_html=render_to_string("crm/email/digest.html", context),
            headers=_headers(user, DIGEST),
        )


# Sending ------------------------------------------------------------------------------------


def backoff(attempts: int) -> timedelta:
    return timedelta(minutes=BACKOFF[min(attempts, len(BACKOFF)) - 1])


def send_due(now: datetime | None = None, *, only: Q | None = None, limit: int = 500) -> int:
    """Send the pending messages that are due; returns how many the server took."""
    now = now or timezone.now()
    due = OutboxMessage.objects.filter(
        status=OutboxMessage.Status.PENDING, next_attempt_at__lte=now
    )
    if only is not None:
        due = due.filter(only)
    sent = 0
    connection = None
    failed_at: datetime | None = None
    for message in list(due.order_by("next_attempt_at", "pk")[:limit]):
        # Claimed by moving its next attempt: another sender now skips it.
        claimed = OutboxMessage.objects.filter(
            pk=message.pk,
            status=OutboxMessage.Status.PENDING,
            next_attempt_at=message.next_attempt_at,
        ).update(next_attempt_at=now + LEASE)
        if not claimed:
            continue
        try:
            if connection is None:
                connection = get_connection(fail_silently=False)
                connection.open()
            _email(message, connection).send()
        except Exception as error:  # the server refused or was unreachable: try again later
            _close(connection)
            connection = None
            attempts = message.attempts + 1
            give_up = attempts >= MAX_ATTEMPTS
            next_at = now + backoff(attempts)
            OutboxMessage.objects.filter(pk=message.pk).update(
                attempts=attempts,
                last_error=f"{type(error).__name__}: {error}"[:2000],
                next_attempt_at=next_at,
                status=OutboxMessage.Status.FAILED if give_up else OutboxMessage.Status.PENDING,
            )
            if not give_up:
                failed_at = min(failed_at or next_at, next_at)
            logger.warning("E-mail %s not sent (attempt %s): %s", message.pk, attempts, error)
            continue
        OutboxMessage.objects.filter(pk=message.pk).update(
            status=OutboxMessage.Status.SENT,
            attempts=message.attempts + 1,
            sent_at=timezone.now(),
            last_error="",
        )
        sent += 1
    _close(connection)
    if failed_at is not None:
        _retry_later(failed_at)
    return sent


def _close(connection: Any) -> None:
    if connection is not None:
        # A broken connection is dropped either way.
        with contextlib.suppress(Exception):
            connection.close()


def _retry_later(at: datetime) -> None:
    """Ask the worker to try again at `at`, where the queue can wait (the database one);
    `send_digests`, run every few minutes, also sends whatever is due."""
    from crm.tasks import send_mail

    if send_mail.get_backend().supports_defer:
        send_mail.using(run_after=at).enqueue()


def _email(message: OutboxMessage, connection: Any) -> EmailMultiAlternatives:
    email = EmailMultiAlternatives(
        subject=message.subject,
        body=message.body_text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[message.to],
        headers=message.headers,
        connection=connection,
    )
    if message.body_html:
        email.attach_alternative(message.body_html, "text/html")
    return email
