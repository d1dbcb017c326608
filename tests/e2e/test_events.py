"""An officer records a promotion event in the app and corrects it, as people do."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from crm.models import Role
from prospects.models import PromotionEvent
from tests.e2e.helpers import log_in
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("role_groups")]


def test_an_officer_creates_then_edits_an_event(page, live_server) -> None:
    UserFactory(username="e2e-officer", role=Role.OFFICER)
    log_in(page, live_server, "e2e-officer", then=reverse("prospects:event_list"))

    page.get_by_role("link", name="Nouvel événement").click()
    page.get_by_label("Nom").fill("Salon Destinations Nature")
    page.get_by_label("Type").select_option(label="Salon professionnel")
    page.get_by_label("Début").fill("2027-03-18")
    page.get_by_label("Fin", exact=True).fill("2027-03-16")
    page.get_by_label("Ville").fill("Paris")
    page.get_by_role("button", name="Enregistrer").click()

    # The end before the start is explained at the field; nothing is saved.
    expect(page.locator(".field--error")).to_contain_text("La fin ne peut pas précéder le début.")
    assert not PromotionEvent.objects.exists()
    page.get_by_label("Fin", exact=True).fill("2027-03-21")
    page.get_by_role("button", name="Enregistrer").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Salon Destinations Nature")
    expect(page.get_by_role("status")).to_contain_text("enregistré")
    page.get_by_role("link", name="Modifier").click()
    page.get_by_label("Ville").fill("Paris, porte de Versailles")
    page.get_by_role("button", name="Enregistrer").click()

    expect(page.locator(".facts")).to_contain_text("Paris, porte de Versailles")
    assert PromotionEvent.objects.get().city == "Paris, porte de Versailles"
