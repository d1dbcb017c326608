"""Who sees which lead, on every page, export, feed and PDF that shows leads (DESIGN §1, §4).

A confidential lead exists only for its owner, the people it is shared with and staff: for
everyone else its pages answer 404 and it never appears in a list, board, report, export,
feed or site page. Designers and holders see nothing of prospects.
"""

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from crm.models import User
from prospects.actions import calendar_token_for
from prospects.models import Lead, LeadTransition
from tests.factories import (
    ContactFactory,
    InteractionFactory,
    LeadFactory,
    PromotionEventFactory,
    SiteFactory,
)
from tests.helpers import client_for, count_queries
from tests.prospects.conftest import workbook_rows

pytestmark = pytest.mark.django_db

SECRET = "Hôtel secret de Nordhaven"
PUBLIC = "Gîtes publics du terril"


@pytest.fixture
def world(officer: User, shared_officer: User, staff: User):
    site = SiteFactory(name="Base 11/19")
    event = PromotionEventFactory(name="MIPIM démo")
    secret = LeadFactory(
        title=SECRET,
        owner=officer,
        shared_with=[shared_officer],
        confidential=True,
        target_sites=[site],
        source="promotion_event",
        promotion_event=event,
        estimated_investment=Decimal("9000000"),
        next_action="Appeler Nordhaven",
        next_action_due=timezone.localdate(),
    )
    public = LeadFactory(
        title=PUBLIC,
        owner=officer,
        target_sites=[site],
        source="promotion_event",
        promotion_event=event,
        estimated_investment=Decimal("1000000"),
        next_action="Envoyer la fiche",
        next_action_due=timezone.localdate(),
    )
    contact = ContactFactory(organisation=secret.organisation)
    InteractionFactory(
        organisation=secret.organisation,
        contact=contact,
        lead=secret,
        author=officer,
        summary="Échange confidentiel avec Nordhaven",
    )
    LeadTransition.objects.create(
        lead=secret, name="advance", source="identified", target="contacted", by=officer
    )
    return {"site": site, "event": event, "secret": secret, "public": public}


def viewer(name: str, personas: dict[str, User], other_officer: User, shared_officer) -> User:
    return {**personas, "other_officer": other_officer, "shared": shared_officer}[name]


# Who works on prospects at all; the confidential lead is for fewer (ALL_SEE_SECRET).
SEES_PROSPECTS = {
    "officer": True,
    "shared": True,
    "staff": True,
    "other_officer": True,
    "designer": False,
    "holder": False,
}

DETAIL_PAGES = ["lead_detail", "board_card_moves"]
ALL_SEE_SECRET = {"officer", "shared", "staff"}
# Page → who finds the confidential lead's title (or, on the dashboard, its exchange) there.
# The report and the events page show figures only: checked on their counts below.
LISTING_PAGES = [
    ("prospects:lead_list", {}, ALL_SEE_SECRET),
    ("prospects:lead_list", {"q": "secret"}, ALL_SEE_SECRET),
    ("prospects:lead_list", {"confidential": "yes"}, ALL_SEE_SECRET),
    ("prospects:lead_board", {}, ALL_SEE_SECRET),
    ("prospects:my_day", {}, {"officer", "shared"}),
    ("prospects:pipeline_report", {}, set()),
    ("prospects:event_list", {}, set()),
    ("crm:dashboard", {}, ALL_SEE_SECRET),
]


@pytest.mark.parametrize("who", list(SEES_PROSPECTS))
@pytest.mark.parametrize("page", DETAIL_PAGES)
def test_lead_pages_answer_404_to_whoever_may_not_see(
    who, page, world, personas, other_officer, shared_officer
) -> None:
    client = client_for(viewer(who, personas, other_officer, shared_officer))

    secret = client.get(reverse(f"prospects:{page}", args=[world["secret"].pk]))
    public = client.get(reverse(f"prospects:{page}", args=[world["public"].pk]))

    assert secret.status_code == (200 if who in ALL_SEE_SECRET else 404)
    assert public.status_code == (200 if SEES_PROSPECTS[who] else 404)


@pytest.mark.parametrize("who", list(SEES_PROSPECTS))
@pytest.mark.parametrize(("url_name", "params", "shown_to"), LISTING_PAGES)
def test_lists_boards_reports_show_only_what_may_be_seen(
    who, url_name, params, shown_to, world, personas, other_officer, shared_officer
) -> None:
    user = viewer(who, personas, other_officer, shared_officer)
    response = client_for(user).get(reverse(url_name), params)
    if not SEES_PROSPECTS[who] and url_name != "crm:dashboard":
        assert response.status_code == 404
        return
    html = response.content.decode()
    marker = "Échange confidentiel" if url_name == "crm:dashboard" else SECRET
    assert (marker in html) == (who in shown_to)
    if url_name == "prospects:pipeline_report":
        assert response.context["totals"]["leads"] == (2 if who in ALL_SEE_SECRET else 1)
        by_event = response.context["events"]
        assert [e.lead_count for e in by_event] == [2 if who in ALL_SEE_SECRET else 1]
    if url_name == "prospects:event_list":
        (event,) = response.context["object_list"]
        assert event.lead_count == (2 if who in ALL_SEE_SECRET else 1)


@pytest.mark.parametrize("who", list(SEES_PROSPECTS))
def test_site_and_event_pages_hide_the_confidential_lead(
    who, world, personas, other_officer, shared_officer
) -> None:
    client = client_for(viewer(who, personas, other_officer, shared_officer))

    site = client.get(reverse("prospects:site_detail", args=[world["site"].pk]))
    event = client.get(reverse("prospects:event_detail", args=[world["event"].pk]))

    if not SEES_PROSPECTS[who]:
        assert (site.status_code, event.status_code) == (404, 404)
        return
    for response in (site, event):
        html = response.content.decode()
        assert PUBLIC in html
        assert (SECRET in html) == (who in ALL_SEE_SECRET)
    assert event.context["event"].lead_count == (2 if who in ALL_SEE_SECRET else 1)


@pytest.mark.parametrize("who", list(SEES_PROSPECTS))
@pytest.mark.parametrize("url_name", ["prospects:lead_export", "prospects:event_export"])
def test_exports_hold_only_permitted_rows(
    who, url_name, world, personas, other_officer, shared_officer
) -> None:
    response = client_for(viewer(who, personas, other_officer, shared_officer)).get(
        reverse(url_name)
    )
    if not SEES_PROSPECTS[who]:
        assert response.status_code == 404
        return
    rows = workbook_rows(response)
    if url_name == "prospects:lead_export":
        titles = sorted(row[1] for row in rows[1:])
        assert titles == sorted([PUBLIC, SECRET] if who in ALL_SEE_SECRET else [PUBLIC])
    else:
        assert rows[1][5] == (2 if who in ALL_SEE_SECRET else 1)


def test_organisation_and_dashboard_timelines_hide_a_confidential_exchange(
    world, other_officer, shared_officer
) -> None:
    organisation = world["secret"].organisation
    url = reverse("crm:organisation_detail", args=[organisation.pk])

    outsider = client_for(other_officer)
    assert "Échange confidentiel" not in outsider.get(url).content.decode()
    assert "Échange confidentiel" not in outsider.get(reverse("crm:dashboard")).content.decode()
    sharer = client_for(shared_officer)
    assert "Échange confidentiel" in sharer.get(url).content.decode()


@pytest.mark.parametrize("who", ["officer", "shared", "other_officer"])
def test_the_calendar_feed_holds_only_the_users_own_visible_leads(
    who, world, personas, other_officer, shared_officer
) -> None:
    user = viewer(who, personas, other_officer, shared_officer)
    token = calendar_token_for(user)

    body = (
        Client()
        .get(reverse("prospects:calendar_feed", args=[user.pk, token.feed_secret()]))
        .content.decode()
    )

    assert ("Appeler Nordhaven" in body) == (who in {"officer", "shared"})
    assert ("Envoyer la fiche" in body) == (who == "officer")


@pytest.mark.parametrize("who", list(SEES_PROSPECTS))
def test_the_site_sheet_pdf_never_names_a_lead(
    who, world, personas, other_officer, shared_officer
) -> None:
    response = client_for(viewer(who, personas, other_officer, shared_officer)).get(
        reverse("prospects:site_sheet", args=[world["site"].pk])
    )
    if not SEES_PROSPECTS[who]:
        assert response.status_code == 404
        return
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(response.content)).pages)
    assert "Base 11/19" in text
    assert SECRET not in text and PUBLIC not in text


@pytest.mark.parametrize("who", ["other_officer", "designer", "holder"])
def test_forged_posts_on_a_hidden_lead_change_nothing(
    who, world, personas, other_officer, shared_officer
) -> None:
    client = client_for(viewer(who, personas, other_officer, shared_officer))
    secret = world["secret"]

    move = client.post(
        reverse("prospects:lead_transition", args=[secret.pk]),
        {"name": "advance", "state": secret.stage},
    )
    edit = client.post(
        reverse("prospects:lead_edit", args=[secret.pk]), {"title": "Piraté", "version": 1}
    )
    note = client.post(
        reverse("prospects:lead_log_interaction", args=[secret.pk]),
        {"kind": "note", "summary": "intrus", "occurred_at": "2026-01-01T10:00"},
    )

    assert (move.status_code, edit.status_code, note.status_code) == (404, 404, 404)
    secret.refresh_from_db()
    assert (secret.title, secret.stage) == (SECRET, "identified")
    assert secret.interactions.count() == 1


def test_a_hidden_lead_cannot_be_reached_through_the_site_filter(world, other_officer) -> None:
    response = client_for(other_officer).get(
        reverse("prospects:lead_list"), {"site": world["site"].pk}
    )

    assert [lead.title for lead in response.context["object_list"]] == [PUBLIC]


# Fixed query counts, whatever the number of leads ----------------------------------------


STAGES = [
    "identified",
    "contacted",
    "qualified",
    "site_visit",
    "proposal",
    "negotiation",
    "won",
    "lost",
    "dormant",
]


def make_leads(count: int, officer: User, shared: User, start: int) -> None:
    event = PromotionEventFactory()
    site = SiteFactory()
    today = timezone.localdate()
    for n in range(start, start + count):
        lead = LeadFactory(
            owner=officer,
            shared_with=[shared] if n % 3 == 0 else [],
            confidential=n % 4 == 0,
            stage=STAGES[n % len(STAGES)],
            target_sites=[site],
            source="promotion_event" if n % 2 else "network",
            promotion_event=event if n % 2 else None,
            estimated_investment=Decimal(100_000 * (n + 1)),
            next_action_due=today + timedelta(days=(n % 30) - 10),
        )
        LeadTransition.objects.create(
            lead=lead, name="advance", source="identified", target="contacted", by=officer
        )
        Lead.objects.filter(pk=lead.pk).update(last_activity_at="2020-01-01T00:00:00Z")


# + the data stamp, counts per stage, then the nine columns' first cards: one UNION ALL where
# the database takes it (PostgreSQL), else one query per column.
BOARD_QUERIES = 8 if connection.features.supports_slicing_ordering_in_compound else 16


@pytest.mark.parametrize(
    ("url_name", "expected"),
    [
        # session, user, groups and permissions, then the page's own queries
        ("prospects:lead_list", 12),  # + 4 filter choice lists, count, page keys, page rows
        # + the data stamp, counts per stage (cache emptied by the data change), then the
        # nine columns' first cards: one UNION ALL where the database takes it
        # (PostgreSQL), else one query per column
        (
            "prospects:lead_board",
            8 if connection.features.supports_slicing_ordering_in_compound else 16,
        ),
        # + filter choices, the data stamp and 11 aggregates (cache emptied by the data change)
        ("prospects:pipeline_report", 16),
        ("prospects:event_list", 8),  # + count, page keys, page rows with their aggregates
    ],
)
@pytest.mark.parametrize("who", ["staff", "officer", "shared"])
def test_list_board_and_report_query_counts_are_fixed(
    url_name, expected, who, officer, shared_officer, staff
) -> None:
    user = {"staff": staff, "officer": officer, "shared": shared_officer}[who]
    client = client_for(user)
    make_leads(3, officer, shared_officer, 0)
    with_3 = count_queries(client, reverse(url_name))
    make_leads(57, officer, shared_officer, 3)
    with_60 = count_queries(client, reverse(url_name))

    assert with_3 == with_60 == expected


@pytest.mark.parametrize(("who", "expected"), [("staff", 8), ("officer", 14), ("shared", 14)])
def test_my_day_query_count_is_fixed(who, expected, officer, shared_officer, staff) -> None:
    """Session, user, groups and permissions, then for each of its three lists (overdue,
    upcoming, idle): the count, and when there is something to show, the page's keys and rows.
    Staff follow none of these leads: three counts."""
    client = client_for({"staff": staff, "officer": officer, "shared": shared_officer}[who])
    make_leads(60, officer, shared_officer, 0)
    with_60 = count_queries(client, reverse("prospects:my_day"))
    make_leads(60, officer, shared_officer, 60)
    with_120 = count_queries(client, reverse("prospects:my_day"))

    assert with_60 == with_120 == expected
