"""Scoping helpers shared by every app: what a user may not see answers 404.

Views never fetch a record with a bare `Model.objects.get(pk=...)`; they go through
`get_visible_or_404`, which starts from the model's `visible_to(user)` QuerySet.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from django.http import Http404
from django.shortcuts import get_object_or_404

if TYPE_CHECKING:
    from django.db.models import Model, QuerySet

    from crm.models import User

M = TypeVar("M", bound="Model")


class ScopedQuerySet(Protocol[M]):
    def visible_to(self, user: User) -> QuerySet[M]: ...


def require_permission(user: User, perm: str) -> None:
    """A page the user's role has no access to answers 404, as if it did not exist."""
    if not user.has_perm(perm):
        raise Http404


def require_staff(user: User) -> None:
    """Pages for the mission team only (imports, privacy, funders' workbook) answer 404 to
    everyone else, as if they did not exist."""
    if not (user.is_authenticated and user.is_mission_staff):
        raise Http404


def get_visible_or_404(queryset: QuerySet[M], user: User, **lookup: Any) -> M:
    """Fetch one record through the model's `visible_to(user)` scope, or answer 404.

    `queryset` carries the page's `select_related`; tampered or non-visible ids answer 404.
    """
    return get_object_or_404(queryset.visible_to(user), **lookup)  # type: ignore[attr-defined]
