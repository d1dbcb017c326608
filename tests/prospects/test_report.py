"""The pipeline report against figures computed by hand on a small fixed data set."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse

from crm.models import Role, User
from prospects.models import LeadTransition
from tests.factories import LeadFactory, PromotionEventFactory, TerritoryFactory, UserFactory
from tests.helpers import client_for

pytestmark = pytest.mark.django_db

PATH = ["identified", "contacted", "qualified", "site_visit", "proposal", "negotiation", "won"]


@pytest.fixture
def dataset(staff: User) -> dict[str, Any]:
    """Six leads, written out so that every figure below can be checked by hand.

    | lead | stage       | investment | prob. | weighted  | source  | territory | owner |
    | L1   | identified  | 1 000 000  | 5     | 50 000    | network | Lens      | ines  |
    | L2   | qualified   | 2 000 000  | 25    | 500 000   | event   | Lens      | ines  |
    | L3   | negotiation | 4 000 000  | 50*   | 2 000 000 | event   | Douai     | marc  |
    | L4   | won, 20 jobs| 3 000 000  | 100   | 3 000 000 | event   | Douai     | marc  |
    | L5   | lost        | 500 000    | 0     | 0         | inbound | Lens      | ines  |
    | L6   | dormant     | —          | 0     | 0         | network | Lens      | ines  |
    (* probability overridden on the lead). Each lead's log walks the pipeline one stage at a
    time up to its stage; L5 and L6 go identified → contacted → lost / dormant.
    """
    ines = UserFactory(username="ines", first_name="Inès", last_name="Fictive", role=Role.OFFICER)
    marc = UserFactory(username="marc", first_name="Marc", last_name="Essai", role=Role.OFFICER)
    lens = TerritoryFactory(name="Lens-Liévin", slug="lens-lievin")
    douai = TerritoryFactory(name="Douai", slug="douai")
    salon = PromotionEventFactory(name="Salon Tourisme")
    PromotionEventFactory(name="Salon sans piste")

    def lead(name, stage, investment, *, reached, source="network", **extra):
        made = LeadFactory(
            title=name,
            stage=stage,
            estimated_investment=Decimal(investment) if investment else None,
            source=source,
            promotion_event=salon if source == "promotion_event" else None,
            **extra,
        )
        for before, after in itertools.pairwise(reached):
            LeadTransition.objects.create(
                lead=made, name="advance", source=before, target=after, by=staff
            )
        return made

    lead(
        "L1",
        "identified",
        1_000_000,
        reached=["identified"],
        owner=ines,
        territory=lens,
        origin_market="BE",
    )
    lead(
        "L2",
        "qualified",
        2_000_000,
        reached=PATH[:3],
        source="promotion_event",
        owner=ines,
        territory=lens,
        origin_market="NL",
    )
    lead(
        "L3",
        "negotiation",
        4_000_000,
        reached=PATH[:6],
        source="promotion_event",
        probability=50,
        owner=marc,
        territory=douai,
        sector="food",
        origin_market="UK",
    )
    lead(
        "L4",
        "won",
        3_000_000,
        reached=PATH,
        source="promotion_event",
        estimated_jobs=20,
        owner=marc,
        territory=douai,
        sector="leisure",
        origin_market="BE",
    )
    lead(
        "L5",
        "lost",
        500_000,
        reached=["identified", "contacted", "lost"],
        source="inbound",
        owner=ines,
        territory=lens,
        origin_market="FR",
    )
    lead(
        "L6",
        "dormant",
        None,
        reached=["identified", "contacted", "dormant"],
        owner=ines,
        territory=lens,
        sector="food",
        origin_market="DE",
    )
    return {"lens": lens, "douai": douai, "salon": salon}


def report(user: User, **params: str):
    response = client_for(user).get(reverse("prospects:pipeline_report"), params)
    assert response.status_code == 200
    return response.context


def test_totals(staff: User, dataset) -> None:
    assert report(staff)["totals"] == {
        "leads": 6,
        "open": 3,
        "weighted": Decimal("2550000"),
        "won": 1,
        "won_investment": Decimal("3000000"),
        "won_jobs": 20,
    }


def test_count_and_weighted_value_by_stage(staff: User, dataset) -> None:
    stages = {
        row["stage"].value: (row["count"], row["investment"], row["weighted"])
        for row in report(staff)["stages"]
    }

    assert stages == {
        "identified": (1, Decimal("1000000"), Decimal("50000")),
        "contacted": (0, Decimal("0"), Decimal("0")),
        "qualified": (1, Decimal("2000000"), Decimal("500000")),
        "site_visit": (0, Decimal("0"), Decimal("0")),
        "proposal": (0, Decimal("0"), Decimal("0")),
        "negotiation": (1, Decimal("4000000"), Decimal("2000000")),
        "won": (1, Decimal("3000000"), Decimal("3000000")),
        "lost": (1, Decimal("500000"), Decimal("0")),
        "dormant": (1, Decimal("0"), Decimal("0")),
    }


def test_conversion_from_stage_to_stage(staff: User, dataset) -> None:
    conversion = [
        (row["source"].value, row["entered"], row["moved_on"], row["rate"])
        for row in report(staff)["conversion"]
    ]

    assert conversion == [
        ("identified", 6, 5, 83),
        ("contacted", 5, 3, 60),
        ("qualified", 3, 2, 67),
        ("site_visit", 2, 2, 100),
        ("proposal", 2, 2, 100),
        ("negotiation", 2, 1, 50),
    ]


def breakdown(context, field: str) -> list[tuple]:
    (found,) = [b for b in context["breakdowns"] if b["field"] == field]
    return [
        (
            row["label"],
            row["leads"],
            row["open"],
            row["weighted"],
            row["won"],
            row["won_investment"],
            row["won_jobs"],
        )
        for row in found["rows"]
    ]


def test_breakdowns(staff: User, dataset) -> None:
    context = report(staff)

    assert breakdown(context, "source") == [
        ("Salon ou événement de promotion", 3, 2, Decimal("2500000"), 1, Decimal("3000000"), 20),
        ("Réseau", 2, 1, Decimal("50000"), 0, Decimal("0"), 0),
        ("Demande entrante", 1, 0, Decimal("0"), 0, Decimal("0"), 0),
    ]
    assert breakdown(context, "territory__name") == [
        ("Lens-Liévin", 4, 2, Decimal("550000"), 0, Decimal("0"), 0),
        ("Douai", 2, 1, Decimal("2000000"), 1, Decimal("3000000"), 20),
    ]
    assert breakdown(context, "owner") == [
        ("Inès Fictive", 4, 2, Decimal("550000"), 0, Decimal("0"), 0),
        ("Marc Essai", 2, 1, Decimal("2000000"), 1, Decimal("3000000"), 20),
    ]
    assert [(row[0], row[1]) for row in breakdown(context, "origin_market")] == [
        ("Belgique", 2),
        ("Allemagne", 1),
        ("France", 1),
        ("Pays-Bas", 1),
        ("Royaume-Uni", 1),
    ]
    assert [(row[0], row[1]) for row in breakdown(context, "sector")] == [
        ("Hôtellerie", 3),
        ("Restauration", 2),
        ("Loisirs, sport et nature", 1),
    ]


def test_what_each_promotion_event_brought(staff: User, dataset) -> None:
    (event,) = report(staff)["events"]

    assert (
        event.name,
        event.lead_count,
        event.won_count,
        event.won_investment,
        event.won_jobs,
    ) == ("Salon Tourisme", 3, 1, Decimal("3000000"), 20)


def test_charts_carry_their_figures(staff: User, dataset) -> None:
    context = report(staff)

    funnel = [(bar["label"], bar["amount"]) for bar in context["funnel_chart"]]
    assert funnel == [
        ("Identifiée", 1),
        ("Contactée", 0),
        ("Qualifiée", 1),
        ("Visite de site", 0),
        ("Proposition", 0),
        ("Négociation", 1),
        ("Gagnée", 1),
    ]
    assert [bar["amount"] for bar in context["month_chart"]] == [Decimal("5550000")]
    assert context["month_chart"][0]["value"].replace("\xa0", " ").replace("\u202f", " ") == (
        "5 550 000"
    )
    assert context["source_chart"][0]["percent"] == 100.0


def test_the_report_follows_the_list_filters(staff: User, dataset) -> None:
    context = report(staff, territory=str(dataset["douai"].pk))

    assert context["totals"]["leads"] == 2
    assert [row["entered"] for row in context["conversion"]][:2] == [2, 2]


def test_the_page_shows_the_figures_beside_the_bars(staff: User, dataset) -> None:
    html = client_for(staff).get(reverse("prospects:pipeline_report")).content.decode()

    assert "2 550 000 €" in html or "2\u202f550\u202f000 €" in html or "2\xa0550\xa0000 €" in html
    assert "<svg" in html


def test_the_cached_report_follows_every_change(staff: User, officer: User, dataset) -> None:
    """Figures are kept between requests, but a new lead, an edit, a move or a new event
    shows at once; and the cache never crosses people who see different leads."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_for(staff)
    url = reverse("prospects:pipeline_report")
    with CaptureQueriesContext(connection) as computed:
        assert client.get(url).context["totals"]["leads"] == 6
    with CaptureQueriesContext(connection) as cached:
        assert client.get(url).context["totals"]["leads"] == 6
    # Read from the cache: the page's own queries and the stamp, none of the 10 aggregates.
    assert (len(computed), len(cached)) == (16, 6)

    lead = LeadFactory(owner=officer, estimated_investment=Decimal("1000"))
    assert report(staff)["totals"]["leads"] == 7

    lead.machine.run(name="advance", by=officer)
    stages = {row["stage"]: row["count"] for row in report(staff)["stages"]}
    assert stages["contacted"] == 1

    LeadFactory(owner=staff, confidential=True)
    assert report(staff)["totals"]["leads"] == 8
    assert report(officer)["totals"]["leads"] == 7  # not the staff member's cached figures

    assert report(staff, stage="contacted")["totals"]["leads"] == 1  # filters are in the key


def test_the_board_counts_are_kept_until_a_lead_changes(staff, officer) -> None:
    from django.utils import timezone

    from prospects.models import Lead

    def counts() -> tuple[str, str]:
        html = client.get(reverse("prospects:lead_board")).content.decode()
        return tuple(  # type: ignore[return-value]
            html.split(f'id="column-{stage}">', 1)[1].split('class="badge">', 1)[1].split("<", 1)[0]
            for stage in ("identified", "contacted")
        )

    client = client_for(staff)
    LeadFactory(owner=officer, stage="identified")
    assert counts() == ("1", "0")
    lead = LeadFactory(owner=officer, stage="identified")
    assert counts() == ("2", "0")  # a new lead: counted again
    Lead.objects.filter(pk=lead.pk).update(stage="contacted", updated_at=timezone.now())
    assert counts() == ("1", "1")  # a lead moved: counted again
