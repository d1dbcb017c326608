"""Scoping helpers shared by every app: what a user may not see answers 404.

Views never fetch a record with a bare `Model.objects.get(pk=...)`. A record page goes through
`get_for_user`, which starts from the model's `visible_to(user)` QuerySet, checks the role's
permission and what the person may do with this very record, and hands back the record with
those rights: one call, so a view cannot check half of it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from django.http import Http404
from django.shortcuts import get_object_or_404

if TYPE_CHECKING:
    from django.db.models import Model, QuerySet

    from crm.http import AuthenticatedRequest
    from crm.models import User

M = TypeVar("M", bound="Model")
M_co = TypeVar("M_co", bound="Model", covariant=True)


class Access(enum.IntEnum):
    """What a person may do with one record they can see; each level includes those below."""

    READ = 1
    # Work on it: upload, write, log an exchange, move it where the person's role allows.
    CONTRIBUTE = 2
    # Everything the record allows, its gates included.
    MANAGE = 3


class ScopedQuerySet(Protocol[M_co]):
    """A model's QuerySet that knows what a user may see (`visible_to`)."""

    def visible_to(self, user: User) -> QuerySet[M_co]: ...


class Rights(Generic[M]):
    """What `user` may do with `record`, worked out when first asked: a page that only reads
    costs no query for it. Records with people of their own (a project's team, a lead's
    owner) say how through `access_for(user) -> Access`; others are read by whoever sees them.
    """

    def __init__(self, record: M, user: User) -> None:
        self.record = record
        self.user = user

    @cached_property
    def level(self) -> Access:
        access_for = getattr(self.record, "access_for", None)
        return access_for(self.user) if access_for is not None else Access.READ

    @property
    def contribute(self) -> bool:
        return self.level >= Access.CONTRIBUTE

    @property
    def manage(self) -> bool:
        return self.level >= Access.MANAGE


def require_permission(user: User, perm: str) -> None:
    """A page the user's role has no access to answers 404, as if it did not exist."""
    if not user.has_perm(perm):
        raise Http404


def require_staff(user: User) -> None:
    """Pages for the mission team only (imports, privacy, funders' workbook) answer 404 to
    everyone else, as if they did not exist."""
    if not (user.is_authenticated and user.is_mission_staff):
        raise Http404


def get_visible_or_404(queryset: ScopedQuerySet[M], user: User, **lookup: Any) -> M:
    """Fetch one record through the model's `visible_to(user)` scope, or answer 404.

    `queryset` carries the page's `select_related`; tampered or non-visible ids answer 404.
    """
    return get_object_or_404(queryset.visible_to(user), **lookup)


def get_for_user(
    request: AuthenticatedRequest,
    queryset: ScopedQuerySet[M],
    pk: int,
    *,
    need: Access | Callable[[M, User], bool] = Access.READ,
    perm: str | None = None,
) -> tuple[M, Rights[M]]:
    """Record `pk` of `queryset` and what the person asking may do with it, or 404.

    404 when the record is outside `visible_to(user)`, when the role lacks the model
    permission `perm`, or when the person's access to this record is below `need` (a level,
    or a role predicate of the model such as `Project.is_holder_account`)."""
    user = request.user
    record = get_visible_or_404(queryset, user, pk=pk)
    if perm is not None:
        require_permission(user, perm)
    rights = Rights(record, user)
    if callable(need):
        if not need(record, user):
            raise Http404
    # Seeing the record is reading it: only more than that needs working out.
    elif need is not Access.READ and rights.level < need:
        raise Http404
    return record, rights
