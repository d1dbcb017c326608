"""List-page plumbing shared by every app: filtering and pagination."""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

from django import forms
from django.conf import settings
from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.db import connections
from django.db.models import CharField, F, Func, Model, QuerySet, TextField
from django.template.response import TemplateResponse
from django.utils.functional import cached_property
from django_filters import FilterSet

from crm.http import AuthenticatedRequest
from crm.permissions import ScopedQuerySet, require_permission


def filter_for(
    request: AuthenticatedRequest, filterset_class: type[FilterSet], queryset: QuerySet[Any]
) -> FilterSet:
    """The FilterSet bound to the query string. Invalid values are ignored and reported."""
    return filterset_class(request.GET or None, queryset=queryset, request=request)


def filter_visible(
    request: AuthenticatedRequest,
    filterset_class: type[FilterSet],
    queryset: ScopedQuerySet[Any],
    *,
    perm: str,
) -> FilterSet:
    """A list's FilterSet over what the user may see: the role needs `perm` (else 404) and
    rows go through the model's `visible_to(user)`. Lists and their exports share it."""
    require_permission(request.user, perm)
    return filter_for(request, filterset_class, queryset.visible_to(request.user))


def describe_filters(filterset: FilterSet) -> str:
    """The filters a person applied, as they read them ("Recherche : dupont · Territoire :
    Lens"), for the log of an export. Empty when nothing filtered the list."""
    if not filterset.is_bound or not filterset.form.is_valid():
        return ""
    parts = []
    for name, value in filterset.form.cleaned_data.items():
        if value in (None, "", [], ()):
            continue
        field = filterset.form.fields[name]
        values = value if isinstance(value, list | tuple) else [value]
        parts.append(f"{field.label or name} : {', '.join(_as_read(field, v) for v in values)}")
    return " · ".join(parts)


def _as_read(field: forms.Field, value: Any) -> str:
    if isinstance(value, Model):
        return str(value)
    if isinstance(field, forms.ChoiceField) and not isinstance(field, forms.ModelChoiceField):
        labels: dict[Any, Any] = {}
        # Django normalises a ChoiceField's choices, when set, to (value, label) pairs and
        # (group, pairs); the stubs also allow the forms it takes before that.
        for key, label in cast(Iterable[tuple[Any, Any]], field.choices):
            if isinstance(label, list | tuple):  # a group of choices
                labels.update(label)
            else:
                labels[key] = label
        return str(labels.get(value, value))
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


# Paginator and Page are generic only in the stubs: a base class cannot be subscripted.
class ListPaginator(Paginator):  # type: ignore[type-arg]
    """A paginator that counts exactly up to `count_limit` rows and no further.

    Counting every matching row costs as much as reading them: at 500,000 organisations
    `COUNT(*)` alone took 110 ms on PostgreSQL, five times its cost at 100,000, for a figure
    a person reads as "a lot". Up to the limit the count is exact; beyond it, a list with no
    filter gives the database's own estimate of the table's rows (PostgreSQL keeps it current
    through autovacuum and ANALYZE), and a filtered list says "more than" the limit. Pages
    past the limit still work: whether a next page exists is read from one more key."""

    object_list: QuerySet[Any]

    def __init__(
        self,
        object_list: QuerySet[Any],
        per_page: int,
        *,
        count_limit: int | None,
        sort_matches: bool = False,
    ) -> None:
        super().__init__(object_list, per_page)
        self.count_limit = count_limit
        self.count_is_exact = True
        self.count_is_estimate = False
        self.sort_matches = sort_matches

    @cached_property
    def tally(self) -> Tally:
        """The count as a person reads it (`tally`): exact, estimated, or "more than"."""
        if self.count_limit is None:
            return Tally(super().count)
        return tally(self.object_list, limit=self.count_limit)

    @cached_property
    def count(self) -> int:
        counted = self.tally
        self.count_is_exact, self.count_is_estimate = counted.exact, counted.estimate
        # "More than the limit": one more than it, so that a next page is offered.
        return counted.value if counted.exact or counted.estimate else counted.value + 1

    def validate_number(self, number: Any) -> int:
        self.count  # noqa: B018 - counting tells whether the count is exact
        if self.count_is_exact or self.count_is_estimate:
            return super().validate_number(number)
        try:
            page_number = int(number)
        except (TypeError, ValueError) as error:
            raise PageNotAnInteger(self.error_messages["invalid_page"]) from error
        if page_number < 1:
            raise EmptyPage(self.error_messages["min_page"])
        return page_number  # past the counted rows: the page itself says whether it has rows

    def _few_matches(self) -> bool:
        """Whether the matches are few enough to sort: counted exactly, or past the count's
        limit but estimated by PostgreSQL's planner at most `SORT_MATCHES_MAX` (a trigram
        search's estimate is close: 35,354 for 33,386 real matches of "martin")."""
        if self.count_is_exact:
            return True
        estimate = planner_estimate(self.object_list)
        return estimate is not None and estimate <= settings.SORT_MATCHES_MAX

    def _get_page(self, *args: Any, **kwargs: Any) -> ListPage:
        return ListPage(*args, **kwargs)

    def page(self, number: Any) -> Page[Any]:
        number = self.validate_number(number)
        if self.sort_matches and self.count_limit is not None and self._few_matches():
            # A search with few enough matches: sort them rather than walk the sort's
            # index (see `unindexed_order`).
            self.object_list = unindexed_order(self.object_list)
        if self.count_is_exact:
            return super().page(number)
        bottom = (number - 1) * self.per_page
        keys = list(self.object_list[bottom : bottom + self.per_page + 1])
        if not keys and number > 1:
            raise EmptyPage(self.error_messages["no_results"])
        page = self._get_page(keys[: self.per_page], number, self)
        page.has_more = len(keys) > self.per_page
        return page


class ListPage(Page):  # type: ignore[type-arg]  # (as above)
    """A page that knows, when the count stopped short, whether more rows follow."""

    has_more: bool | None = None

    def has_next(self) -> bool:
        if self.has_more is not None:
            return self.has_more
        return super().has_next()

    def end_index(self) -> int:
        if self.has_more is not None:
            return self.start_index() + len(self.object_list) - 1
        return super().end_index()


class _Unindexed(Func):
    """`text || ''`: the same value and the same order, which no index can serve."""

    template = "(%(expressions)s || '')"
    output_field = TextField()


def unindexed_order(queryset: QuerySet[Any]) -> QuerySet[Any]:
    """`queryset` in the same order, its text keys made unusable to an index walk.

    A search's matches cluster in the name order (a surname search matches one stretch of
    the contacts sorted by name), so walking the name index until a page of matches is found
    reads every name before that stretch: "martin" on 500,000 contacts walked 366,000 index
    entries (100 ms), and more as the table grows. With the sort's keys unindexable, the
    planner reads the matches through the trigram index and keeps the page's rows in a
    top-N sort: a cost that follows the number of matches, which the paginator has just
    counted and found small. Only the model's own text columns are wrapped; dates, numbers
    and related keys keep their plan."""
    keys = queryset.query.order_by or tuple(queryset.model._meta.ordering)
    wrapped: list[Any] = []
    for key in keys:
        if isinstance(key, str) and key.lstrip("-") in _text_columns(queryset.model):
            name = key.lstrip("-")
            expression = _Unindexed(F(name))
            wrapped.append(expression.desc() if key.startswith("-") else expression.asc())
        else:
            wrapped.append(key)
    return queryset.order_by(*wrapped)


def _text_columns(model: type[Model]) -> set[str]:
    return {
        field.name
        for field in model._meta.concrete_fields
        if isinstance(field, CharField | TextField) and not field.choices
    }


def planner_estimate(queryset: QuerySet[Any]) -> int | None:
    """The rows PostgreSQL's planner expects `queryset` to match (its plan's first row
    estimate, planned but not run: about a millisecond); None on another database."""
    if connections[queryset.db].vendor != "postgresql":
        return None
    plan = json.loads(queryset.order_by().explain(format="json"))
    return int(plan[0]["Plan"]["Plan Rows"])


def table_estimate(queryset: QuerySet[Any]) -> int | None:
    """The database's estimate of the rows of `queryset`'s table when nothing filters it
    (PostgreSQL's `reltuples`); None when filtered, on another database, or never analysed."""
    connection = connections[queryset.db]
    if queryset.query.where or connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples FROM pg_class WHERE oid = %s::regclass",
            [queryset.model._meta.db_table],
        )
        row = cursor.fetchone()
    return int(row[0]) if row and row[0] >= 0 else None


@dataclass(frozen=True)
class Tally:
    """How many rows, as a figure a person reads: exact up to a limit, beyond it the
    database's estimate of the whole table (`estimate`), or "more than" the limit."""

    value: int
    exact: bool = True
    estimate: bool = False


def tally(queryset: QuerySet[Any], *, limit: int | None = None) -> Tally:
    """Count `queryset` the way `ListPaginator` does, for the figures of a page (the home
    page's totals): at most `limit` + 1 rows are read (`LIST_COUNT_LIMIT` by default)."""
    limit = settings.LIST_COUNT_LIMIT if limit is None else limit
    counted = queryset.order_by()[: limit + 1].count()
    if counted <= limit:
        return Tally(counted)
    estimate = table_estimate(queryset)
    if estimate is not None and estimate > limit:
        return Tally(estimate, exact=False, estimate=True)
    if estimate is None and not queryset.query.where:
        return Tally(queryset.count())
    return Tally(limit, exact=False)


def paginate(
    request: AuthenticatedRequest,
    queryset: QuerySet[Any],
    *,
    per_page: int | None = None,
    param: str = "page",
    count_limit: int | None = None,
    sort_matches: bool = False,
) -> Page[Any]:
    """One page of `queryset`, its number read from the `param` query parameter (a page with
    several lists gives each its own); a missing, non-numeric or out-of-range number shows
    the nearest page. With `count_limit`, rows are counted up to that limit only (see
    `ListPaginator`): the main lists, whose tables grow without bound.

    The page is read in two steps: the primary keys of its rows first, found by the filters
    and the sort alone, then those rows with their joins and annotations. The first step can
    walk a covering index without reading the table (a surname search on 100,000 contacts on
    PostgreSQL: 85 → 31 ms, the name index carries the search text); the second reads 25 rows
    by primary key. `page.object_list` is the list of rows, in order; a row deleted (or put
    out of the person's sight) between the two reads is left out rather than failing.
    `sort_matches` (a search): when the matches are few (counted exactly, or estimated at
    most `SORT_MATCHES_MAX`), their page is sorted from the matches rather than walked from
    the sort's index (`unindexed_order`)."""
    paginator = ListPaginator(
        queryset.values_list("pk", flat=True),
        per_page or settings.PAGE_SIZE,
        count_limit=count_limit,
        sort_matches=sort_matches,
    )
    number = request.GET.get(param)
    try:
        page = paginator.page(number)
    except PageNotAnInteger:
        page = paginator.page(1)
    except EmptyPage:
        # Past the end: the last page, which needs the exact count (nonsense input only).
        paginator.count_limit = None
        paginator.count_is_exact, paginator.count_is_estimate = True, False
        paginator.__dict__.pop("tally", None)
        paginator.__dict__.pop("count", None)
        paginator.__dict__.pop("num_pages", None)
        page = paginator.page(paginator.num_pages)
    keys = list(page.object_list)
    rows = queryset.in_bulk(keys) if keys else {}
    page.object_list = [rows[key] for key in keys if key in rows]
    return page


def querystring_without_page(request: AuthenticatedRequest, param: str = "page") -> str:
    """The query string that leads to this page, less its `param` page number: the links of
    a pagination append their own."""
    params = request.GET.copy()
    params.pop(param, None)
    return params.urlencode()


def list_context(
    request: AuthenticatedRequest, filterset: FilterSet, **extra: Any
) -> dict[str, Any]:
    searched = bool(
        filterset.is_bound and filterset.form.is_valid() and filterset.form.cleaned_data.get("q")
    )
    page = paginate(
        request, filterset.qs, count_limit=settings.LIST_COUNT_LIMIT, sort_matches=searched
    )
    return {
        "filter": filterset,
        "page": page,
        "object_list": list(page.object_list),
        "querystring": querystring_without_page(request),
        **extra,
    }


def render_list(
    request: AuthenticatedRequest,
    template: str,
    filterset: FilterSet,
    *,
    on_page: Callable[[list[Any]], None] | None = None,
    **extra: Any,
) -> TemplateResponse:
    """A filtered, paginated list page; an htmx request gets only its `results` partial.

    `on_page` completes the page's rows in bulk (e.g. counts) once pagination has cut them.
    """
    context = list_context(request, filterset, **extra)
    if on_page is not None:
        on_page(context["object_list"])
    if request.htmx and not request.htmx.boosted:
        template += "#results"
    return TemplateResponse(request, template, context)


def first_rows_by(
    queryset: QuerySet[Any],
    field: str,
    values: Sequence[Hashable],
    *,
    limit: int,
    order: Callable[[Any], Any],
) -> dict[Hashable, list[Any]]:
    """The first `limit` rows of the ordered `queryset` for each of `values` of `field`: a
    board's columns. One short query per value, each reading the (field, ordering) index
    instead of numbering every row in a window; where the database takes ordered, limited
    parts in a compound statement (PostgreSQL), they go as one UNION ALL, one round trip.
    A union promises no order: `order` (the queryset's ordering as a Python sort key) puts
    each column back in order."""
    parts = [queryset.filter(**{field: value})[:limit] for value in values]
    by_value: dict[Hashable, list[Any]] = {value: [] for value in values}
    if not parts:
        return by_value
    if connections[queryset.db].features.supports_slicing_ordering_in_compound:
        for row in sorted(parts[0].union(*parts[1:], all=True), key=order):
            by_value[getattr(row, field)].append(row)
    else:
        by_value.update(zip(values, map(list, parts), strict=True))
    return by_value
