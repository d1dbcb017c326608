"""Pagination reads a page's keys, then its rows: same rows, same order, same annotations."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import F, QuerySet
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from crm.listing import Tally, paginate, tally
from crm.models import Contact, Organisation
from prospects.models import Lead
from tests.factories import LeadFactory, OrganisationFactory

pytestmark = pytest.mark.django_db


def page_of(queryset, page: str = "1", per_page: int = 10):
    return paginate(RequestFactory().get("/", {"page": page}), queryset, per_page=per_page)  # type: ignore[arg-type]  # paginate reads only the query string


def test_a_page_holds_the_rows_of_its_slice_in_order() -> None:
    for n in range(23):
        OrganisationFactory(name=f"Organisation {n:02}")
    queryset = Organisation.objects.select_related("territory").order_by("-name")

    page = page_of(queryset, "2")

    assert page.paginator.count == 23
    assert page.number == 2
    assert [o.name for o in page.object_list] == [f"Organisation {n:02}" for n in range(12, 2, -1)]
    assert all(isinstance(row, Organisation) for row in page.object_list)


def test_out_of_range_and_nonsense_pages_show_the_nearest() -> None:
    for n in range(12):
        OrganisationFactory(name=f"Organisation {n:02}")
    queryset = Organisation.objects.order_by("name")

    assert [o.name for o in page_of(queryset, "99").object_list] == [
        "Organisation 10",
        "Organisation 11",
    ]
    assert page_of(queryset, "abc").number == 1


def test_an_empty_list_is_one_empty_page() -> None:
    page = page_of(Organisation.objects.order_by("name"))

    assert page.object_list == []
    assert page.paginator.count == 0


def test_a_row_deleted_between_the_two_reads_is_left_out(monkeypatch) -> None:
    for n in range(3):
        OrganisationFactory(name=f"Organisation {n}")
    in_bulk = QuerySet.in_bulk

    def delete_first_then_read(self, keys):
        Organisation.objects.filter(name="Organisation 0").delete()
        return in_bulk(self, keys)

    monkeypatch.setattr(QuerySet, "in_bulk", delete_first_then_read)

    page = page_of(Organisation.objects.order_by("name"))

    assert [o.name for o in page.object_list] == ["Organisation 1", "Organisation 2"]


def test_annotations_and_an_ordering_on_them_survive() -> None:
    LeadFactory(title="Petite", estimated_investment=Decimal("100000"), stage="contacted")
    LeadFactory(title="Grande", estimated_investment=Decimal("9000000"), stage="negotiation")
    queryset = Lead.objects.for_list().order_by(F("weighted_value").desc(), "pk")

    rows = page_of(queryset).object_list

    assert [lead.title for lead in rows] == ["Grande", "Petite"]
    assert rows[0].weighted_value > rows[1].weighted_value > 0


# Counting up to a limit -------------------------------------------------------------------


def capped_page(queryset, page: str = "1", *, per_page: int = 5, limit: int = 8):
    request = RequestFactory().get("/", {"page": page})
    # paginate reads only the query string
    return paginate(request, queryset, per_page=per_page, count_limit=limit)  # type: ignore[arg-type]


def test_a_filtered_list_past_the_limit_counts_no_further_and_pages_on() -> None:
    for n in range(12):
        OrganisationFactory(name=f"Gîte {n:02}")
    OrganisationFactory(name="Musée")
    gites = Organisation.objects.filter(name__startswith="Gîte").order_by("name")

    first = capped_page(gites)
    third = capped_page(gites, "3")

    assert first.paginator.count_is_exact is False
    assert first.paginator.count == 9  # "more than 8"
    assert [o.name for o in first.object_list] == [f"Gîte {n:02}" for n in range(5)]
    assert first.has_next() and first.next_page_number() == 2
    # Page 3 lies past the counted rows: its rows are there, and it knows it is the last.
    assert [o.name for o in third.object_list] == ["Gîte 10", "Gîte 11"]
    assert not third.has_next() and third.has_previous()
    assert (third.start_index(), third.end_index()) == (11, 12)


def test_a_page_past_the_end_of_an_uncounted_list_shows_the_last() -> None:
    for n in range(12):
        OrganisationFactory(name=f"Gîte {n:02}")
    gites = Organisation.objects.filter(name__startswith="Gîte").order_by("name")

    page = capped_page(gites, "99")

    assert page.number == 3
    assert [o.name for o in page.object_list] == ["Gîte 10", "Gîte 11"]
    assert page.paginator.count == 12 and page.paginator.count_is_exact
    assert capped_page(gites, "abc").number == 1
    assert capped_page(gites, "-4").number == 3  # as Django's own pages do: the last


def test_under_the_limit_the_count_is_exact() -> None:
    for n in range(6):
        OrganisationFactory(name=f"Gîte {n}")

    page = capped_page(Organisation.objects.filter(name__startswith="Gîte").order_by("name"))

    assert page.paginator.count == 6 and page.paginator.count_is_exact
    assert page.paginator.num_pages == 2


def test_a_whole_table_past_the_limit_counts_or_estimates() -> None:
    for n in range(12):
        OrganisationFactory(name=f"Gîte {n:02}")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE crm_organisation")

    page = capped_page(Organisation.objects.order_by("name"), "2")

    # PostgreSQL's planner estimate, freshly analysed, is the count; elsewhere it is exact.
    assert page.paginator.count == 12
    assert page.paginator.count_is_estimate == (connection.vendor == "postgresql")
    assert page.paginator.num_pages == 3
    assert [o.name for o in page.object_list] == [f"Gîte {n:02}" for n in range(5, 10)]
    assert page.has_next()


def test_a_tally_is_exact_up_to_its_limit_then_more_than_or_estimated() -> None:
    for n in range(12):
        OrganisationFactory(name=f"Gîte {n:02}")
    OrganisationFactory(name="Musée")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE crm_organisation")

    assert tally(Organisation.objects.all(), limit=20) == Tally(13)
    assert tally(Organisation.objects.filter(name__startswith="Gîte"), limit=8) == Tally(
        8, exact=False
    )
    whole = tally(Organisation.objects.all(), limit=8)
    if connection.vendor == "postgresql":
        assert whole == Tally(13, exact=False, estimate=True)
    else:
        assert whole == Tally(13)  # no estimate to be had: a whole table counts exactly


def test_the_home_page_totals_are_tallied(settings, client) -> None:
    from crm.models import Role
    from tests.factories import UserFactory

    settings.LIST_COUNT_LIMIT = 3
    for n in range(5):
        OrganisationFactory(name=f"Gîte {n}")
    client.force_login(UserFactory(role=Role.STAFF))

    html = client.get("/").content.decode()

    organisations = tally(Organisation.objects.all())
    shown = '<abbr title="environ">≈</abbr>&nbsp;' if organisations.estimate else ""
    assert f'<span class="stat__value">{shown}{organisations.value}</span>' in html
    assert '<span class="stat__value">0</span> <span class="stat__label">contacts' in html


def test_a_search_with_few_matches_sorts_them_in_the_same_order(client) -> None:
    from crm.models import Role
    from tests.factories import ContactFactory, UserFactory

    for last, first in [
        ("Vasseur", "Ulysse"),
        ("Martin", "Yves"),
        ("Martinez", "Xavier"),
        ("Dupont", "Victor"),
        ("Amartin", "Zoé"),
    ]:
        ContactFactory(last_name=last, first_name=first)
    client.force_login(UserFactory(role=Role.STAFF))

    with CaptureQueriesContext(connection) as queries:
        response = client.get("/contacts/", {"q": "martin"})

    html = response.content.decode()
    assert html.index("Zoé") < html.index("Yves") < html.index("Xavier")  # by last name
    assert "Victor" not in html and "Ulysse" not in html
    keys = next(
        q["sql"] for q in queries if q["sql"].startswith('SELECT "crm_contact"."id" AS "pk"')
    )
    assert "\"last_name\" || '')" in keys  # sorted from the matches, not walked from the index


def test_unindexed_order_keeps_descending_and_other_keys() -> None:
    from crm.listing import unindexed_order

    queryset = unindexed_order(Organisation.objects.order_by("-name", "created_at", "pk"))

    sql = str(queryset.query)
    assert '("crm_organisation"."name" || \'\') DESC' in sql
    assert '"crm_organisation"."created_at" ASC' in sql


def test_past_the_count_a_search_is_sorted_when_the_planner_expects_few_matches(
    settings, client
) -> None:
    from crm.listing import planner_estimate
    from crm.models import Role
    from tests.factories import ContactFactory, UserFactory

    settings.LIST_COUNT_LIMIT = 2  # three matches: "more than 2"
    for first in ["Yves", "Xavier", "Zoé"]:
        ContactFactory(last_name="Martin", first_name=first)
    ContactFactory(last_name="Dupont", first_name="Victor")
    client.force_login(UserFactory(role=Role.STAFF))

    def keys_query(sort_max: int) -> str:
        settings.SORT_MATCHES_MAX = sort_max
        with CaptureQueriesContext(connection) as queries:
            html = client.get("/contacts/", {"q": "martin"}).content.decode()
        assert html.index("Xavier") < html.index("Yves") < html.index("Zoé")
        return next(
            q["sql"] for q in queries if q["sql"].startswith('SELECT "crm_contact"."id" AS "pk"')
        )

    estimate = planner_estimate(Contact.objects.filter(search_text__contains="martin"))
    if connection.vendor == "postgresql":
        assert estimate is not None and estimate >= 1
        assert "\"last_name\" || '')" in keys_query(10_000)  # few expected: sorted
        assert "\"last_name\" || '')" not in keys_query(0)  # too many expected: walked
    else:
        assert estimate is None  # no planner estimate: the index walk stays
        assert "\"last_name\" || '')" not in keys_query(10_000)
