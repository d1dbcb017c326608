"""A record's timeline: what happened to it, from several sources, newest first.

Each source yields `TimelineEntry` objects newest first: interactions here
(`interaction_entries`), moves, uploads and specification versions in the apps' views.
`merge` interleaves them.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from crm.models import Interaction, User


@dataclass(frozen=True)
class TimelineEntry:
    when: datetime
    kind: str
    label: str
    text: str
    author: User | None = None
    url: str = ""
    detail: str = ""


def interaction_entries(interactions: Iterable[Interaction]) -> Iterable[TimelineEntry]:
    for interaction in interactions:
        yield TimelineEntry(
            when=interaction.occurred_at,
            kind=f"interaction interaction--{interaction.kind}",
            label=interaction.get_kind_display(),
            text=interaction.summary,
            author=interaction.author,
            detail=interaction.contact.full_name if interaction.contact else "",
            url=interaction.contact.get_absolute_url() if interaction.contact else "",
        )


def merge(*sources: Iterable[TimelineEntry], limit: int) -> list[TimelineEntry]:
    """The `limit` newest entries of several newest-first sources."""
    merged = heapq.merge(*sources, key=lambda entry: entry.when, reverse=True)
    return list(itertools.islice(merged, limit))
