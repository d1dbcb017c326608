"""Promotion events recorded in the app: officers and staff create and edit them, the other
roles never reach the forms."""

from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse

from crm.models import Role, User
from prospects.models import Lead, PromotionEvent
from tests.factories import PromotionEventFactory, UserFactory
from tests.helpers import client_for

pytestmark = pytest.mark.django_db

GOOD = {
    "name": "MIPIM 2027",
    "kind": PromotionEvent.Kind.TRADE_SHOW,
    "starts_on": "2027-03-09",
    "ends_on": "2027-03-12",
    "city": "Cannes",
    "country": "fr",
    "description": "Le salon de l'immobilier.",
}


@pytest.fixture
def event() -> PromotionEvent:
    return PromotionEventFactory(name="Salon du tourisme", starts_on=date(2026, 6, 1))


@pytest.mark.parametrize("role", ["staff", "officer"])
def test_officers_and_staff_create_an_event(role: str, request: pytest.FixtureRequest) -> None:
    user: User = request.getfixturevalue(role)
    client = client_for(user)

    page = client.get(reverse("prospects:event_list"))
    assert reverse("prospects:event_create") in page.content.decode()
    form = client.get(reverse("prospects:event_create"))
    assert form.status_code == 200
    assert "Nouvel événement de promotion" in form.content.decode()

    response = client.post(reverse("prospects:event_create"), GOOD, follow=True)

    event = PromotionEvent.objects.get(name="MIPIM 2027")
    assert response.redirect_chain[-1][0] == event.get_absolute_url()
    assert "Événement « MIPIM 2027 » enregistré." in response.content.decode()
    assert (event.kind, event.starts_on, event.ends_on, event.city, event.country) == (
        "trade_show",
        date(2027, 3, 9),
        date(2027, 3, 12),
        "Cannes",
        "FR",
    )


@pytest.mark.parametrize("role", ["staff", "officer"])
def test_officers_and_staff_edit_an_event(role: str, request: pytest.FixtureRequest, event) -> None:
    client = client_for(request.getfixturevalue(role))
    url = reverse("prospects:event_edit", args=[event.pk])

    detail = client.get(event.get_absolute_url()).content.decode()
    assert url in detail
    form = client.get(url).content.decode()
    assert "Modifier « Salon du tourisme »" in form
    assert 'value="2026-06-01"' in form

    response = client.post(url, {**GOOD, "name": "Salon du tourisme de Lille"})

    assert response.status_code == 302
    event.refresh_from_db()
    assert (event.name, event.city) == ("Salon du tourisme de Lille", "Cannes")


@pytest.mark.parametrize("role", [Role.DESIGNER, Role.HOLDER])
def test_designers_and_holders_never_reach_the_forms(role: Role, event) -> None:
    client = client_for(UserFactory(role=role))

    assert client.get(reverse("prospects:event_create")).status_code == 404
    assert client.post(reverse("prospects:event_create"), GOOD).status_code == 404
    edit = reverse("prospects:event_edit", args=[event.pk])
    assert client.get(edit).status_code == 404
    assert client.post(edit, {**GOOD, "name": "Pris"}).status_code == 404

    assert PromotionEvent.objects.count() == 1
    event.refresh_from_db()
    assert event.name == "Salon du tourisme"


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"name": ""}, "name", "Ce champ est obligatoire."),
        ({"starts_on": "demain"}, "starts_on", "Saisissez une date valide."),
        ({"ends_on": "2027-03-01"}, "ends_on", "La fin ne peut pas précéder le début."),
        ({"country": "France"}, "country", "Indiquez le pays par son code en deux lettres"),
        ({"kind": "party"}, "kind", "Sélectionnez un choix valide."),
    ],
)
def test_bad_input_is_explained_and_nothing_saved(
    officer: User, change: dict[str, str], field: str, message: str
) -> None:
    response = client_for(officer).post(reverse("prospects:event_create"), {**GOOD, **change})

    assert response.status_code == 400
    assert message in response.content.decode()
    assert field in response.context["form"].errors
    assert not PromotionEvent.objects.exists()


def test_the_same_event_twice_is_refused(officer: User) -> None:
    client = client_for(officer)
    client.post(reverse("prospects:event_create"), GOOD)

    response = client.post(reverse("prospects:event_create"), GOOD)

    assert response.status_code == 400
    assert PromotionEvent.objects.count() == 1


def test_a_lead_is_started_from_its_event(officer: User, event) -> None:
    client = client_for(officer)
    detail = client.get(event.get_absolute_url()).content.decode()
    start = f"{reverse('prospects:lead_create')}?promotion_event={event.pk}"
    assert start in detail

    form = client.get(start).context["form"]

    assert str(form["promotion_event"].value()) == str(event.pk)
    assert form["source"].value() == Lead.Source.PROMOTION_EVENT


def test_the_event_pages_cost_a_bounded_number_of_queries(
    officer: User, event, django_assert_max_num_queries
) -> None:
    client = client_for(officer)
    client.get(reverse("prospects:event_create"))
    with django_assert_max_num_queries(6):
        assert client.get(reverse("prospects:event_edit", args=[event.pk])).status_code == 200
