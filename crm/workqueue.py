"""The work queue ("À faire") of every home page: what the person must act on now, oldest
first, each line linking to where they act (DESIGN §9).

The base app knows no app built on it: each app registers its sources from its
`AppConfig.ready()` (`register`). A source is a function of the person that returns their
items, scoped exactly as the records are, in a fixed number of queries whatever the number
of records (the home page pins its count). `items_for` gathers them; the morning digest
(`crm.mail`) reads the same items for those with a due date.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.utils import timezone

from crm.models import User

# Lines shown on the home page at most; the rest are counted.
SHOWN = 30


@dataclass(frozen=True)
class Item:
    """One thing to do. `since` is how old it is (when it started waiting); `due`, when it
    has a date to be done by. `outside_text` is what an e-mail may say (a confidential
    lead's reference only); it defaults to `text`."""

    text: str
    url: str
    since: datetime | date
    action: str = ""
    due: date | None = None
    outside: str = ""

    @property
    def outside_text(self) -> str:
        return self.outside or self.text

    @property
    def since_at(self) -> datetime:
        if isinstance(self.since, datetime):
            return self.since
        return timezone.make_aware(datetime.combine(self.since, time.min))

    @property
    def just_now(self) -> bool:
        """Less than a minute old: "à l'instant" reads better than "depuis 0 minute"."""
        return timezone.now() - self.since_at < timedelta(minutes=1)

    @property
    def overdue(self) -> bool:
        return self.due is not None and self.due < timezone.localdate()


Source = Callable[[User], Iterable[Item]]
SOURCES: list[Source] = []
# The dated items of many people at once, for the morning digest: `fn(users, start, end)`
# returns each person's items due between `start` and `end` (by user id), in a fixed number
# of queries for the whole batch.
DueSource = Callable[[list[User], date, date], dict[int, list[Item]]]
DUE_SOURCES: list[DueSource] = []


def register_due(source: DueSource) -> DueSource:
    if source not in DUE_SOURCES:
        DUE_SOURCES.append(source)
    return source


def due_for(users: list[User], start: date, end: date) -> dict[int, list[Item]]:
    """Each person's items due between `start` and `end`, by due date."""
    gathered: dict[int, list[Item]] = {user.pk: [] for user in users}
    for source in DUE_SOURCES:
        for user_id, items in source(users, start, end).items():
            gathered.setdefault(user_id, []).extend(items)
    for items in gathered.values():
        items.sort(key=lambda item: (item.due, item.text))
    return gathered


def register(source: Source) -> Source:
    if source not in SOURCES:
        SOURCES.append(source)
    return source


def items_for(user: User) -> list[Item]:
    """Everything `user` must act on, oldest first."""
    items = [item for source in SOURCES for item in source(user)]
    return sorted(items, key=lambda item: (item.since_at, item.text))


def context(user: User) -> dict[str, Any]:
    """What `templates/crm/includes/_todo.html` draws."""
    items = items_for(user)
    return {"todo": items[:SHOWN], "todo_more": max(0, len(items) - SHOWN)}
