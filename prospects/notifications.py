"""What leads tell people (`crm.notifications`) and ask of them (`crm.workqueue`), registered
by `ProspectsConfig.ready()`. Outside Carreau a confidential lead is its reference only."""

from __future__ import annotations

from datetime import date, timedelta

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm import notifications, workqueue
from crm.models import Notification, User
from crm.notifications import EventKind, RecordKind
from crm.workqueue import Item
from prospects.models import OPEN_STAGES, Lead

# Next actions due within this many days are on the home page's work queue (as in "Ma
# journée"), with the overdue ones.
UPCOMING_DAYS = 5


def followers(lead: Lead) -> list[int]:
    """The lead's owner and the people it is shared with."""
    return [lead.owner_id, *lead.shared_with.values_list("pk", flat=True)]


def name(lead: Lead) -> str:
    return f"{lead.reference} · {lead.title}"


def register() -> None:
    notifications.register_record(
        RecordKind(
            model="prospects.Lead",
            name=name,
            reference=lambda lead: lead.reference,
            confidential=lambda lead: lead.confidential,
            followers=followers,
        )
    )
    for kind in KINDS:
        notifications.register_kind(kind)
    workqueue.register(lead_work)
    workqueue.register_due(leads_due)


KINDS = [
    EventKind(
        key="lead_assigned",
        label=gettext_lazy("Une piste vous est confiée"),
        text=gettext_lazy("%(actor)s vous a confié la piste %(record)s."),
        needs_action=True,
    ),
    EventKind(
        key="lead_shared",
        label=gettext_lazy("Une piste est partagée avec vous"),
        text=gettext_lazy("%(actor)s a partagé avec vous la piste %(record)s."),
        needs_action=True,
    ),
]


def lead_work(user: User) -> list[Item]:
    """The next actions of the leads `user` follows that are overdue or due within
    `UPCOMING_DAYS` days: one query."""
    if not user.has_perm("prospects.view_lead"):
        return []
    today = timezone.localdate()
    leads = (
        Lead.objects.visible_to(user)
        .followed_by(user)
        .open()
        .filter(next_action_due__lte=today + timedelta(days=UPCOMING_DAYS))
        .only("pk", "reference", "title", "confidential", "stage", "next_action", "next_action_due")
        .order_by("next_action_due", "pk")[:50]
    )
    items = [_item(lead, today) for lead in leads]
    # Leads given to them or shared with them that they have not opened yet.
    news = (
        Notification.objects.for_reader(user)
        .unread()
        .filter(event__kind__in=["lead_assigned", "lead_shared"])
        .select_related("event__actor")[:50]
    )
    for note in news:
        items.append(
            Item(
                text=notifications.describe(note.event),
                url=reverse("crm:notification_open", args=[note.pk]),
                since=note.created_at,
                action=_("Nouvelle"),
            )
        )
    return items


def _item(lead: Lead, today: date) -> Item:
    action = lead.next_action or _("Prochaine action")
    due = lead.next_action_due
    assert due is not None, "only leads with a next action due are read"
    return Item(
        text=f"{action} — {name(lead)}",
        outside=f"{action} — {lead.reference}" if lead.confidential else "",
        url=lead.get_absolute_url(),
        since=due,
        due=due,
        action=_("En retard") if due < today else _("À venir"),
    )


def leads_due(users: list[User], start: date, end: date) -> dict[int, list[Item]]:
    """For the digest: the next actions due between `start` and `end` on the open leads each
    person owns or is shared, for a batch of people in two queries."""
    today = timezone.localdate()
    ids = [user.pk for user in users]
    fields = ("pk", "reference", "title", "confidential", "stage", "next_action")
    due: dict[int, list[Item]] = {}
    owned = (
        Lead.objects.open()
        .filter(owner_id__in=ids, next_action_due__range=(start, end))
        .only(*fields, "next_action_due", "owner_id")
    )
    for lead in owned:
        due.setdefault(lead.owner_id, []).append(_item(lead, today))
    shared = Lead.shared_with.through.objects.filter(
        user_id__in=ids,
        lead__stage__in=OPEN_STAGES,
        lead__next_action_due__range=(start, end),
    ).select_related("lead")
    for row in shared:
        due.setdefault(row.user_id, []).append(_item(row.lead, today))
    return due
