"""Prospects pages as each role sees them: access, forms, moves, interactions, exports."""

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from crm.models import Contact, Organisation, User
from prospects.models import Lead, LeadTransition, SitePhoto
from tests.factories import (
    ContactFactory,
    LeadFactory,
    OrganisationFactory,
    PromotionEventFactory,
    SiteFactory,
    TerritoryFactory,
)
from tests.helpers import client_for
from tests.prospects.conftest import workbook_rows

pytestmark = pytest.mark.django_db


@pytest.fixture
def site() -> object:
    return SiteFactory(name="9-9bis")


@pytest.fixture
def lead(officer: User, site) -> Lead:
    return LeadFactory(
        title="Hôtel au 9-9bis",
        owner=officer,
        stage="negotiation",
        target_sites=[site],
        estimated_investment=Decimal("4200000"),
    )


# Access matrix ---------------------------------------------------------------------------

PAGES = [
    ("lead_list", None),
    ("lead_export", None),
    ("lead_board", None),
    ("lead_create", None),
    ("my_day", None),
    ("pipeline_report", None),
    ("lead_detail", "lead"),
    ("lead_edit", "lead"),
    ("board_card_moves", "lead"),
    ("lead_log_interaction", "lead"),
    ("site_list", None),
    ("site_export", None),
    ("site_create", None),
    ("site_detail", "site"),
    ("site_edit", "site"),
    ("site_sheet", "site"),
    ("event_list", None),
    ("event_export", None),
    ("event_detail", "event"),
    ("calendar_settings", None),
]
EVERYTHING = {name for name, _ in PAGES}
ALLOWED = {
    "staff": EVERYTHING,
    "officer": EVERYTHING,
    # Other officers read a non-confidential lead but do not work on it.
    "other_officer": EVERYTHING - {"lead_edit", "lead_log_interaction"},
    "designer": set(),
    "holder": set(),
}


@pytest.mark.parametrize("role", list(ALLOWED))
@pytest.mark.parametrize(("url_name", "target"), PAGES)
def test_role_access_matrix(
    role: str, url_name: str, target: str | None, personas, other_officer, lead, site
) -> None:
    user = other_officer if role == "other_officer" else personas[role]
    event = PromotionEventFactory()
    args = {"lead": [lead.pk], "site": [site.pk], "event": [event.pk], None: []}[target]

    response = client_for(user).get(reverse(f"prospects:{url_name}", args=args))

    assert response.status_code == (200 if url_name in ALLOWED[role] else 404)


def test_navigation_shows_prospects_only_to_those_who_work_on_them(personas) -> None:
    for role, user in personas.items():
        html = client_for(user).get(reverse("crm:dashboard")).content.decode()
        assert (reverse("prospects:lead_list") in html) == (role in {"staff", "officer"})


# Lists and exports -----------------------------------------------------------------------


def test_list_filters(staff: User, officer: User, site) -> None:
    event = PromotionEventFactory(name="Salon")
    LeadFactory(title="A", owner=officer, sector="hotel", origin_market="UK", stage="won")
    LeadFactory(
        title="B",
        owner=officer,
        sector="food",
        source="promotion_event",
        promotion_event=event,
        target_sites=[site],
    )
    LeadFactory(title="C", next_action_due="2020-02-02", confidential=True, owner=staff)
    client = client_for(staff)

    def titles(**params: str) -> list[str]:
        response = client.get(reverse("prospects:lead_list"), params)
        return sorted(lead.title for lead in response.context["object_list"])

    assert titles(sector="food") == ["B"]
    assert titles(origin_market="UK") == ["A"]
    assert titles(promotion_event=str(event.pk)) == ["B"]
    assert titles(site=str(site.pk)) == ["B"]
    assert titles(status="closed") == ["A"]
    assert titles(overdue="yes") == ["C"]
    assert titles(confidential="yes") == ["C"]
    assert titles(owner=str(staff.pk)) == ["C"]
    assert titles(stage="not-a-stage") == ["A", "B", "C"]  # an invalid filter is ignored


def test_export_holds_the_filtered_rows_with_typed_cells(staff: User, lead: Lead) -> None:
    LeadFactory(title='=HYPERLINK("http://x")', sector="food")

    response = client_for(staff).get(reverse("prospects:lead_export"), {"sector": "hotel"})
    rows = workbook_rows(response)

    assert rows[0][:4] == ("Référence", "Intitulé", "Investisseur ou opérateur", "Étape")
    assert [row[1] for row in rows[1:]] == ["Hôtel au 9-9bis"]
    row = rows[1][1:]
    assert rows[1][0] == lead.reference
    assert row[2] == "Négociation"
    assert row[5] == "9-9bis"
    assert row[6] == 4200000
    assert row[8] == 80
    assert row[9] == 3360000


def test_formula_text_is_neutralised_in_the_export(staff: User) -> None:
    LeadFactory(title='=HYPERLINK("http://x")')

    rows = workbook_rows(client_for(staff).get(reverse("prospects:lead_export")))

    assert rows[1][1] == '=HYPERLINK("http://x")'  # a string, not a formula


# Creating and editing --------------------------------------------------------------------


def investor(**kwargs: object) -> Organisation:
    return OrganisationFactory(kind=Organisation.Kind.INVESTOR, **kwargs)


def lead_data(organisation, territory, **overrides: object) -> dict[str, object]:
    data = {
        "title": "Resort du terril",
        "organisation": organisation.pk,
        "sector": "leisure",
        "territory": territory.pk,
        "source": "network",
        "origin_market": "NL",
        "estimated_investment": "12000000",
        "estimated_jobs": "45",
        "next_action": "Visite du site",
        "next_action_due": "2027-03-01",
        "version": "",
    }
    data.update(overrides)
    return data


def test_officer_opens_a_lead(officer: User, site) -> None:
    organisation = investor(name="Nordhaven Capital")
    contact = ContactFactory(organisation=organisation)
    territory = TerritoryFactory()
    data = lead_data(
        organisation,
        territory,
        owner=officer.pk,
        contacts=[contact.pk],
        target_sites=[site.pk],
        confidential="on",
    )

    response = client_for(officer).post(reverse("prospects:lead_create"), data)

    lead = Lead.objects.get()
    assert response.status_code == 302
    assert (lead.title, lead.stage, lead.owner, lead.created_by) == (
        "Resort du terril",
        "identified",
        officer,
        officer,
    )
    assert lead.confidential
    assert list(lead.contacts.all()) == [contact]
    assert list(lead.target_sites.all()) == [site]
    assert lead.estimated_investment == Decimal("12000000")
    assert lead.version == 1


BAD_INPUT = [
    ({"estimated_investment": "-5"}, "estimated_investment"),
    ({"estimated_investment": "99999999999"}, "estimated_investment"),
    ({"estimated_investment": "1e40"}, "estimated_investment"),
    ({"estimated_investment": "NaN"}, "estimated_investment"),
    ({"estimated_jobs": "-1"}, "estimated_jobs"),
    ({"estimated_jobs": "1000000"}, "estimated_jobs"),
    ({"probability": "150"}, "probability"),
    ({"next_action_due": "9999-12-31"}, "next_action_due"),
    ({"next_action_due": "1900-01-01"}, "next_action_due"),
    ({"next_action_due": "demain"}, "next_action_due"),
    ({"source": "promotion_event"}, "promotion_event"),
    ({"origin_market": "XX"}, "origin_market"),
    ({"sector": "casino"}, "sector"),
    ({"title": ""}, "title"),
    ({"organisation": "999999"}, "organisation"),
    ({"organisation": "business"}, "organisation"),  # not an investor nor an operator
    ({"target_sites": ["999999"]}, "target_sites"),
]


@pytest.mark.parametrize(("overrides", "field"), BAD_INPUT)
def test_bad_lead_input_is_refused_with_a_message(officer: User, overrides, field) -> None:
    data = {**lead_data(investor(), TerritoryFactory(), owner=officer.pk), **overrides}
    if data["organisation"] == "business":
        data["organisation"] = OrganisationFactory(kind=Organisation.Kind.BUSINESS).pk

    response = client_for(officer).post(reverse("prospects:lead_create"), data)

    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert "rien n'a été enregistré" in response.content.decode()
    assert not Lead.objects.exists()


def test_a_forged_stage_in_the_form_is_ignored(officer: User) -> None:
    data = lead_data(investor(), TerritoryFactory(), owner=officer.pk, stage="won")

    client_for(officer).post(reverse("prospects:lead_create"), data)

    assert Lead.objects.get().stage == "identified"
    assert not LeadTransition.objects.exists()


def test_a_contact_of_another_organisation_is_refused(officer: User) -> None:
    stranger = ContactFactory()
    data = lead_data(investor(), TerritoryFactory(), owner=officer.pk, contacts=[stranger.pk])

    response = client_for(officer).post(reverse("prospects:lead_create"), data)

    assert "contacts" in response.context["form"].errors
    assert not Lead.objects.exists()


def test_an_event_needs_the_event_source(officer: User) -> None:
    event = PromotionEventFactory()
    data = lead_data(investor(), TerritoryFactory(), owner=officer.pk, promotion_event=event.pk)

    response = client_for(officer).post(reverse("prospects:lead_create"), data)

    assert "promotion_event" in response.context["form"].errors


def edit_data(lead: Lead, **overrides: object) -> dict[str, object]:
    values = {
        "title": lead.title,
        "owner": lead.owner_id,
        "target_sites": [s.pk for s in lead.target_sites.all()],
        "version": str(lead.version),
        **overrides,
    }
    return lead_data(lead.organisation, lead.territory, **values)


def test_edit_moves_the_version_on(officer: User, lead: Lead) -> None:
    response = client_for(officer).post(
        reverse("prospects:lead_edit", args=[lead.pk]), edit_data(lead, next_action="Signer")
    )

    lead.refresh_from_db()
    assert response.status_code == 302
    assert (lead.next_action, lead.version, lead.stage) == ("Signer", 2, "negotiation")


def test_a_second_save_over_a_newer_version_loses_nothing(
    officer: User, shared_officer: User, lead: Lead
) -> None:
    lead.shared_with.add(shared_officer)
    opened_at = edit_data(lead)  # both open the form at version 1
    client_for(shared_officer).post(
        reverse("prospects:lead_edit", args=[lead.pk]),
        {**opened_at, "next_action": "Rappeler lundi"},
    )

    response = client_for(officer).post(
        reverse("prospects:lead_edit", args=[lead.pk]),
        {**opened_at, "next_action": "Envoyer l'offre"},
    )

    lead.refresh_from_db()
    html = response.content.decode()
    assert response.status_code == 409
    assert lead.next_action == "Rappeler lundi"  # the first save stands
    assert lead.version == 2
    assert "Quelqu&#x27;un a enregistré cette piste depuis que vous l&#x27;avez ouverte" in html
    assert "Envoyer l&#x27;offre" in html  # what the second person typed is still there
    assert "Rappeler lundi" in html  # and they see what was saved meanwhile
    assert response.context["form"]["version"].value() == "2"


@pytest.mark.parametrize("confidential", [False, True])
def test_a_save_after_losing_the_lead_changes_nothing(
    officer: User, shared_officer: User, lead: Lead, confidential: bool
) -> None:
    lead.shared_with.add(shared_officer)
    opened_at = edit_data(lead)
    # Meanwhile the owner takes the lead back (and may make it confidential).
    client_for(officer).post(
        reverse("prospects:lead_edit", args=[lead.pk]),
        {**opened_at, "next_action": "Appeler le notaire", "is_confidential": confidential},
    )

    response = client_for(shared_officer).post(
        reverse("prospects:lead_edit", args=[lead.pk]),
        {**opened_at, "next_action": "Envoyer l'offre"},
    )

    lead.refresh_from_db()
    assert response.status_code == 404
    assert "Appeler le notaire" not in response.content.decode()
    assert (lead.next_action, lead.version) == ("Appeler le notaire", 2)


@pytest.mark.parametrize("version", ["", "abc", "-1", "0"])
def test_a_forged_version_changes_nothing(officer: User, lead: Lead, version: str) -> None:
    response = client_for(officer).post(
        reverse("prospects:lead_edit", args=[lead.pk]),
        edit_data(lead, next_action="Forgé", version=version),
    )

    lead.refresh_from_db()
    assert response.status_code == 400
    assert "rien n'a été enregistré" in response.content.decode()
    assert (lead.next_action, lead.version) == ("", 1)


def test_a_move_does_not_count_as_an_edit_conflict(officer: User, lead: Lead) -> None:
    opened_at = edit_data(lead)
    client_for(officer).post(
        reverse("prospects:lead_transition", args=[lead.pk]),
        {"name": "put_to_sleep", "state": "negotiation"},
    )

    response = client_for(officer).post(
        reverse("prospects:lead_edit", args=[lead.pk]), {**opened_at, "next_action": "Relancer"}
    )

    lead.refresh_from_db()
    assert response.status_code == 302
    assert (lead.stage, lead.next_action) == ("dormant", "Relancer")


def test_other_officer_cannot_edit_a_lead_they_only_read(other_officer: User, lead) -> None:
    response = client_for(other_officer).post(
        reverse("prospects:lead_edit", args=[lead.pk]), edit_data(lead, title="Autre")
    )

    assert response.status_code == 404
    lead.refresh_from_db()
    assert lead.title == "Hôtel au 9-9bis"


# Moves -------------------------------------------------------------------------------------


def move(client, lead: Lead, name: str = "", **extra: str):
    data = {"name": name, "state": lead.stage, **extra}
    return client.post(reverse("prospects:lead_transition", args=[lead.pk]), data, follow=True)


def test_owner_wins_the_lead(officer: User, lead: Lead) -> None:
    response = move(client_for(officer), lead, "win")

    lead.refresh_from_db()
    assert lead.stage == "won"
    assert "Négociation → Gagnée" in response.content.decode()
    assert LeadTransition.objects.get().by == officer


def test_winning_without_a_site_says_so_and_changes_nothing(officer: User) -> None:
    lead = LeadFactory(owner=officer, stage="negotiation", estimated_investment=Decimal("1"))

    response = move(client_for(officer), lead, "win")

    lead.refresh_from_db()
    assert response.status_code == 200
    assert lead.stage == "negotiation"
    assert "Indiquez au moins un site visé" in response.content.decode()
    assert not LeadTransition.objects.exists()


def test_other_officer_is_told_they_may_not_move(other_officer: User, lead: Lead) -> None:
    response = move(client_for(other_officer), lead, "win")

    lead.refresh_from_db()
    assert lead.stage == "negotiation"
    assert "Seuls la personne chargée" in response.content.decode()


def test_a_move_on_a_stale_page_is_refused(officer: User, lead: Lead) -> None:
    response = client_for(officer).post(
        reverse("prospects:lead_transition", args=[lead.pk]),
        {"name": "advance", "state": "proposal"},
        follow=True,
    )

    lead.refresh_from_db()
    assert lead.stage == "negotiation"
    assert "Cette piste vient de changer" in response.content.decode()


@pytest.mark.parametrize(
    "data",
    [
        {"name": "win"},
        {"state": "negotiation"},
        {"name": "x" * 100, "state": "negotiation"},
        {"name": "delete", "state": "negotiation"},
        {"name": "win", "state": "won"},
        {"target": "won' OR 1=1", "state": "negotiation"},
        {"name": "lose", "state": "negotiation", "comment": "x" * 6000},
    ],
)
def test_forged_moves_change_nothing(officer: User, lead: Lead, data: dict) -> None:
    response = client_for(officer).post(
        reverse("prospects:lead_transition", args=[lead.pk]), data, follow=True
    )

    lead.refresh_from_db()
    assert response.status_code == 200
    assert lead.stage == "negotiation"
    assert not LeadTransition.objects.exists()


def test_losing_from_the_page_needs_a_reason(officer: User, lead: Lead) -> None:
    response = move(client_for(officer), lead, "lose", comment="  ")

    lead.refresh_from_db()
    assert lead.stage == "negotiation"
    assert "la raison est obligatoire" in response.content.decode()


def test_dropping_on_a_column_runs_the_move_that_leads_there(officer: User, lead: Lead) -> None:
    move(client_for(officer), lead, target="dormant", next=reverse("prospects:lead_board"))

    lead.refresh_from_db()
    assert (lead.stage, lead.dormant_from) == ("dormant", "negotiation")


def test_dropping_on_an_unreachable_column_says_so(officer: User, lead: Lead) -> None:
    response = move(client_for(officer), lead, target="identified")

    lead.refresh_from_db()
    assert lead.stage == "negotiation"
    assert "pas possible depuis cette étape" in response.content.decode()


def test_board_columns_show_their_first_cards_by_due_date(staff: User) -> None:
    today = timezone.localdate()
    for n in range(12):
        LeadFactory(
            title=f"Négo {n:02}",
            stage="negotiation",
            next_action_due=None if n < 2 else today + timedelta(days=n),
        )
    LeadFactory(title="Proposition seule", stage="proposal", next_action_due=today)

    response = client_for(staff).get(reverse("prospects:lead_board"))

    columns = {
        column["stage"]: column
        for column in [*response.context["columns"], *response.context["closed"]]
    }
    negotiation = columns["negotiation"]
    # Due dates first, soonest first; leads without one last; ten cards, and the count.
    assert [lead.title for lead in negotiation["leads"]] == [f"Négo {n:02}" for n in range(2, 12)]
    assert negotiation["count"] == 12
    assert [lead.title for lead in columns["proposal"]["leads"]] == ["Proposition seule"]
    assert columns["won"]["leads"] == [] and columns["won"]["count"] == 0
    assert "Voir les 12 pistes" in response.content.decode()


def test_board_card_moves_load_on_demand(officer: User, lead: Lead) -> None:
    html = (
        client_for(officer)
        .get(reverse("prospects:board_card_moves", args=[lead.pk]), HTTP_HX_REQUEST="true")
        .content.decode()
    )

    assert 'value="win"' in html and 'data-target="won"' in html
    assert "<html" not in html


def test_next_cannot_redirect_elsewhere(officer: User, lead: Lead) -> None:
    response = client_for(officer).post(
        reverse("prospects:lead_transition", args=[lead.pk]),
        {"name": "put_to_sleep", "state": "negotiation", "next": "https://evil.example/"},
    )

    assert response["Location"] == lead.get_absolute_url()


# Interactions and the timeline -------------------------------------------------------------


def test_logging_an_exchange_moves_the_contact_and_the_lead_on(officer: User, lead) -> None:
    contact = ContactFactory(organisation=lead.organisation)
    Lead.objects.filter(pk=lead.pk).update(last_activity_at="2020-01-01T00:00:00Z")

    response = client_for(officer).post(
        reverse("prospects:lead_log_interaction", args=[lead.pk]),
        {
            "kind": "site_visit",
            "occurred_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
            "contact": contact.pk,
            "summary": "Visite du carreau avec l'investisseur.",
        },
    )

    assert response.status_code == 302
    interaction = lead.interactions.get()
    assert (interaction.organisation, interaction.contact) == (lead.organisation, contact)
    contact = Contact.objects.get(pk=contact.pk)
    lead.refresh_from_db()
    assert contact.last_interaction_at == interaction.occurred_at
    assert lead.last_activity_at == interaction.occurred_at
    assert lead.version == 1  # activity is not an edit
    detail = client_for(officer).get(lead.get_absolute_url()).content.decode()
    assert "Visite du carreau avec l&#x27;investisseur." in detail


def test_the_timeline_shows_moves(officer: User, lead: Lead) -> None:
    move(client_for(officer), lead, "step_back", comment="Budget revu")

    html = client_for(officer).get(lead.get_absolute_url()).content.decode()

    assert "Négociation → Proposition" in html
    assert "Budget revu" in html


# My day ------------------------------------------------------------------------------------


def test_my_day_lists_overdue_upcoming_and_idle_leads(officer: User, other_officer) -> None:
    today = timezone.localdate()
    LeadFactory(title="En retard", owner=officer, next_action_due=today - timedelta(1))
    LeadFactory(title="Bientôt", owner=officer, next_action_due=today + timedelta(3))
    LeadFactory(title="Plus tard", owner=officer, next_action_due=today + timedelta(60))
    LeadFactory(title="Gagnée", owner=officer, stage="won", next_action_due=today)
    LeadFactory(title="Pas à moi", owner=other_officer, next_action_due=today)
    quiet = LeadFactory(title="Endormie", owner=officer)
    Lead.objects.filter(pk=quiet.pk).update(last_activity_at=timezone.now() - timedelta(days=45))

    response = client_for(officer).get(reverse("prospects:my_day"))

    titles = {
        key: [lead.title for lead in response.context[key]["leads"]]
        for key in ("overdue", "upcoming", "idle")
    }
    assert titles == {"overdue": ["En retard"], "upcoming": ["Bientôt"], "idle": ["Endormie"]}
    shorter = client_for(officer).get(reverse("prospects:my_day"), {"idle_days": "99999"})
    assert shorter.context["idle_days"] == 30


def test_my_day_counts_every_lead_and_pages_each_list_on_its_own(officer: User) -> None:
    today = timezone.localdate()
    for n in range(45):
        LeadFactory(
            title=f"Retard {n:02}",
            owner=officer,
            next_action_due=today - timedelta(days=50 - n),
        )
    LeadFactory(title="Bientôt", owner=officer, next_action_due=today + timedelta(3))
    client = client_for(officer)

    first = client.get(reverse("prospects:my_day"), {"idle_days": "7"})

    html = first.content.decode()
    assert '<span class="badge badge--danger">45</span>' in html
    assert [lead.title for lead in first.context["overdue"]["leads"]] == [
        f"Retard {n:02}" for n in range(20)
    ]
    assert "1–20 sur 45 résultats" in html
    assert 'href="?idle_days=7&amp;overdue_page=2#overdue-title" rel="next"' in html
    # The other lists fit on one page: no pagination for them.
    assert html.count('class="pagination"') == 1

    last = client.get(
        reverse("prospects:my_day"), {"idle_days": "7", "overdue_page": "3", "upcoming_page": "9"}
    )

    assert [lead.title for lead in last.context["overdue"]["leads"]] == [
        f"Retard {n:02}" for n in range(40, 45)
    ]
    assert [lead.title for lead in last.context["upcoming"]["leads"]] == ["Bientôt"]
    assert 'href="?idle_days=7&amp;upcoming_page=9&amp;overdue_page=2#overdue-title"' in (
        last.content.decode()
    )


# Sites -------------------------------------------------------------------------------------


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (300, 200), "yellow").save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.mark.storage
def test_officer_adds_a_photo_served_only_through_the_checked_view(
    officer: User, designer: User, site
) -> None:
    client = client_for(officer)
    client.post(
        reverse("prospects:site_photo_upload", args=[site.pk]),
        {"image": SimpleUploadedFile("chevalement.jpg", jpeg()), "caption": "Le chevalement"},
    )

    photo = SitePhoto.objects.get()
    url = reverse("prospects:site_photo", args=[site.pk, photo.pk])
    assert client.get(url).status_code == 200
    thumb = client.get(reverse("prospects:site_photo_thumbnail", args=[site.pk, photo.pk]))
    assert thumb.status_code == 200
    assert client_for(designer).get(url).status_code == 404
    other = SiteFactory()
    assert client.get(reverse("prospects:site_photo", args=[other.pk, photo.pk])).status_code == 404
    assert "Le chevalement" in client.get(site.get_absolute_url()).content.decode()


def test_a_fake_image_is_refused(officer: User, site) -> None:
    response = client_for(officer).post(
        reverse("prospects:site_photo_upload", args=[site.pk]),
        {"image": SimpleUploadedFile("photo.jpg", b"<?php echo 1; ?>")},
        follow=True,
    )

    assert "Photo refusée" in response.content.decode()
    assert not SitePhoto.objects.exists()


def test_staff_creates_a_site_and_bad_surface_is_refused(staff: User) -> None:
    territory = TerritoryFactory()
    data = {
        "name": "Arenberg Creative Mine",
        "kind": "pit_site",
        "commune": "Wallers",
        "territory": territory.pk,
        "surface_m2": "-3",
        "availability": "under_study",
    }
    client = client_for(staff)

    refused = client.post(reverse("prospects:site_create"), data)
    accepted = client.post(reverse("prospects:site_create"), {**data, "surface_m2": "80000"})

    assert refused.status_code == 400
    assert accepted.status_code == 302
    assert SiteFactory._meta.model.objects.get().surface_m2 == 80000


def test_detail_query_count_is_fixed(officer: User, lead: Lead) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories import InteractionFactory

    client = client_for(officer)

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(lead.get_absolute_url()).status_code == 200
        return len(queries)

    def add(n: int) -> None:
        for _ in range(n):
            InteractionFactory(organisation=lead.organisation, lead=lead, author=officer)
            LeadTransition.objects.create(
                lead=lead, name="advance", source="proposal", target="negotiation", by=officer
            )
            lead.target_sites.add(SiteFactory())
            lead.contacts.add(ContactFactory(organisation=lead.organisation))

    add(3)
    with_3 = count()
    add(57)
    with_60 = count()

    assert with_3 == with_60 == 12


def test_my_day_past_its_count_limit_says_more_than(officer: User, monkeypatch) -> None:
    from prospects import views

    monkeypatch.setattr(views, "MY_DAY_COUNT_LIMIT", 30)
    today = timezone.localdate()
    for n in range(45):
        LeadFactory(title=f"Retard {n:02}", owner=officer, next_action_due=today - timedelta(n + 1))
    client = client_for(officer)

    html = client.get(reverse("prospects:my_day"), {"overdue_page": "3"}).content.decode()

    assert '<abbr title="plus de">&gt;</abbr>&nbsp;30</span>' in html
    assert "Retard 00" in html  # the pages past the counted leads still read (the latest last)
