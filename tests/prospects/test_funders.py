"""The funders' activity workbook: every sheet against figures computed by hand on a small,
fixed dataset for the year 2025 (issue 6)."""

from __future__ import annotations

import datetime
import io
from decimal import Decimal
from typing import Any

import openpyxl
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from crm.models import Job, Thematic, User
from projects.models import DeliverableVersion, Project, ProjectTransition
from prospects.models import LeadTransition
from tests.factories import (
    LeadFactory,
    OrganisationFactory,
    ProjectFactory,
    PromotionEventFactory,
    TerritoryFactory,
    approved_deliverable,
)

pytestmark = pytest.mark.django_db


def at(day: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(day).replace(tzinfo=timezone.get_current_timezone())


def project(territory, created: str, moves: list[tuple[str, str]], *, title: str, by: User):
    """A project created on `created` and moved as `moves` says: [(day, step reached)]."""
    final = moves[-1][1] if moves else "intake"
    made = ProjectFactory(title=title, territory=territory, state=final, holder__name=title)
    Project.objects.filter(pk=made.pk).update(created_at=at(created))
    source = "intake"
    for day, target in moves:
        ProjectTransition.objects.create(
            project=made, name="test", source=source, target=target, by=by, at=at(day)
        )
        source = target
    return made


def lead_moved(lead, day: str, target: str, by: User) -> None:
    LeadTransition.objects.create(
        lead=lead, name="test", source="negotiation", target=target, by=by, at=at(day)
    )


@pytest.fixture
def year_2025(staff: User, officer: User) -> dict[str, Any]:
    arras = TerritoryFactory(name="Arras")
    lens = TerritoryFactory(name="Lens-Liévin")
    food = Thematic.objects.create(name="Gastronomie", slug="test-gastronomie")
    culture = Thematic.objects.create(name="Culture", slug="test-culture")

    p1 = project(
        arras,
        "2024-06-01",
        [("2024-07-01", "listen"), ("2025-03-01", "impulse")],
        title="P1 gîte",
        by=staff,
    )
    project(arras, "2024-01-01", [("2024-12-01", "delivered")], title="P2 fini en 2024", by=staff)
    p3 = project(
        lens,
        "2025-02-01",
        [("2025-02-10", "orient"), ("2025-11-01", "delivered")],
        title="P3 restaurant",
        by=staff,
    )
    project(lens, "2025-12-15", [], title="P4 demande", by=staff)
    project(lens, "2026-01-05", [], title="P5 trop tard", by=staff)
    project(
        arras,
        "2024-03-01",
        [("2024-04-01", "listen"), ("2025-05-01", "abandoned")],
        title="P6 abandonné",
        by=staff,
    )
    p1.thematics.set([food])
    p3.thematics.set([food, culture])

    board = approved_deliverable(p1, "trend_board").versions.get()
    DeliverableVersion.objects.filter(pk=board.pk).update(
        uploaded_at=at("2025-04-01"), reviewed_at=at("2025-04-05")
    )
    old_board = approved_deliverable(p3, "trend_board").versions.get()
    DeliverableVersion.objects.filter(pk=old_board.pk).update(
        uploaded_at=at("2024-12-20"), reviewed_at=at("2025-01-10")
    )
    plan = approved_deliverable(p3, "plan").versions.get()
    DeliverableVersion.objects.filter(pk=plan.pk).update(
        uploaded_at=at("2025-06-01"), review_state="submitted", reviewed_at=None
    )

    event = PromotionEventFactory(name="Salon 2025", starts_on=datetime.date(2025, 3, 10))
    PromotionEventFactory(name="Salon 2024", starts_on=datetime.date(2024, 3, 10))
    l1 = LeadFactory(
        title="L1",
        territory=arras,
        sector="hotel",
        stage="won",
        owner=officer,
        organisation=OrganisationFactory(name="Investisseur public"),
        estimated_investment=Decimal("1000000"),
        estimated_jobs=10,
        source="promotion_event",
        promotion_event=event,
        created_at=at("2025-02-01"),
    )
    lead_moved(l1, "2025-09-01", "won", officer)
    l2 = LeadFactory(
        title="L2",
        territory=arras,
        sector="food",
        stage="lost",
        lost_reason="Budget",
        organisation=OrganisationFactory(name="Restaurateur perdu"),
        owner=officer,
        source="promotion_event",
        promotion_event=event,
        created_at=at("2024-05-01"),
    )
    lead_moved(l2, "2025-03-01", "lost", officer)
    LeadFactory(title="L3", territory=lens, created_at=at("2024-01-01"), owner=officer)
    l4 = LeadFactory(
        title="L4",
        territory=lens,
        sector="hotel",
        stage="won",
        confidential=True,
        organisation=OrganisationFactory(name="Secret Invest"),
        owner=officer,
        estimated_investment=Decimal("500000"),
        estimated_jobs=5,
        created_at=at("2025-06-01"),
    )
    lead_moved(l4, "2025-12-31T23:00", "won", officer)
    return {}


def download(user: User, year: int = 2025) -> openpyxl.Workbook:
    client = Client()
    client.force_login(user)
    # The worker builds it (eagerly in tests); its page leads to the file.
    response = client.get(reverse("crm:funders_workbook", args=[year]))
    job = Job.objects.filter(owner=user).latest("created_at")
    assert response["Location"] == job.get_absolute_url()
    assert job.filename == f"bilan-activite-{year}.xlsx"
    response = client.get(reverse("crm:job_download", args=[job.pk]))
    assert response.status_code == 200
    return openpyxl.load_workbook(io.BytesIO(response.getvalue()))


def rows(workbook: openpyxl.Workbook, title: str) -> list[tuple]:
    return [tuple(row) for row in workbook[title].iter_rows(min_row=2, values_only=True)]


def test_projects_by_territory_and_phase(staff: User, year_2025) -> None:
    sheet = rows(download(staff), "Projets par territoire")

    # territory, intake, watch, concept, implementation, paused, delivered, stopped, total
    assert sheet == [
        ("Arras", 0, 1, 0, 0, 0, 0, 1, 2),
        ("Lens-Liévin", 1, 0, 0, 0, 0, 1, 0, 2),
        ("Total", 1, 1, 0, 0, 0, 1, 1, 4),
    ]


def test_projects_by_thematic(staff: User, year_2025) -> None:
    assert rows(download(staff), "Projets par thématique") == [
        ("Culture", 1, 1),
        ("Gastronomie", 2, 1),
        ("(sans thématique)", 2, 0),
    ]


def test_deliverables_of_the_year(staff: User, year_2025) -> None:
    # The 2024 board counts as approved in 2025, not as uploaded.
    assert rows(download(staff), "Livrables") == [
        ("Plan", 1, 1, 0),
        ("Planche de tendances", 1, 1, 2),
    ]


def test_leads_investment_and_jobs(staff: User, year_2025) -> None:
    workbook = download(staff)

    # worked, opened, won, lost, won investment, jobs
    assert rows(workbook, "Pistes par territoire") == [
        ("Arras", 2, 1, 1, 1, 1_000_000, 10),
        ("Lens-Liévin", 1, 1, 1, 0, 500_000, 5),
        ("Total", 3, 2, 2, 1, 1_500_000, 15),
    ]
    assert rows(workbook, "Investissement par secteur") == [
        ("Restauration", 1, 0, 0, 1, 0, 0),
        ("Hôtellerie", 2, 2, 2, 0, 1_500_000, 15),
        ("Total", 3, 2, 2, 1, 1_500_000, 15),
    ]


def test_partners_leave_out_confidential_investors(staff: User, year_2025) -> None:
    names = {row[0]: row[3:] for row in rows(download(staff), "Partenaires")}

    assert names == {
        "P1 gîte": (1, 0),
        "P3 restaurant": (1, 0),
        "P4 demande": (1, 0),
        "P6 abandonné": (1, 0),
        "Investisseur public": (0, 1),
        "Restaurateur perdu": (0, 1),
    }


def test_promotion_events_of_the_year(staff: User, year_2025) -> None:
    assert rows(download(staff), "Événements de promotion") == [
        ("Salon 2025", datetime.datetime(2025, 3, 10), None, 2, 1, 1_000_000, 10),
    ]


def test_the_first_sheet_defines_the_figures(staff: User, year_2025) -> None:
    workbook = download(staff)

    assert workbook.sheetnames[0] == "À propos"
    assert ("Bilan d'activité", "2025") in rows(workbook, "À propos")


@pytest.mark.parametrize("role", ["designer", "officer", "holder"])
def test_only_staff_get_the_workbook(role: str, personas: dict[str, User]) -> None:
    client = Client()
    client.force_login(personas[role])

    assert client.get(reverse("crm:funders_report")).status_code == 404
    assert client.get(reverse("crm:funders_workbook", args=[2025])).status_code == 404


def test_the_page_offers_the_years(staff: User) -> None:
    client = Client()
    client.force_login(staff)

    page = client.get(reverse("crm:funders_report"), {"year": "2024"}).content.decode()
    bad = client.get(reverse("crm:funders_report"), {"year": "abc"})

    assert reverse("crm:funders_workbook", args=[2024]) in page
    assert bad.status_code == 200
    assert client.get(reverse("crm:funders_workbook", args=[1900])).status_code == 404


def test_an_empty_year_still_opens(staff: User) -> None:
    workbook = download(staff, 2016)

    assert rows(workbook, "Projets par territoire") == []
    assert len(workbook.sheetnames) == 8
