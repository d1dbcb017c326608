"""The screens people live in, in a browser: a record's related projects and leads with their
prefilled create links, contact pickers that follow the organisation chosen, searchable
lists, the boards' folded closed columns and the focus after a keyboard move."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from crm.models import Organisation, Role
from tests.e2e.helpers import log_in
from tests.factories import (
    ContactFactory,
    LeadFactory,
    OrganisationFactory,
    ProjectFactory,
    SiteFactory,
    TerritoryFactory,
    UserFactory,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("role_groups")]


def test_an_organisation_shows_its_records_and_creates_a_lead_prefilled(page, live_server):
    officer = UserFactory(username="e2e-officer", first_name="Inès", role=Role.OFFICER)
    investor = OrganisationFactory(name="Exemple Capital", kind=Organisation.Kind.INVESTOR)
    ContactFactory(organisation=investor, first_name="Victor", last_name="Capital")
    LeadFactory(organisation=investor, title="Hôtel-design", owner=officer)
    ProjectFactory(holder=investor, title="Gîtes des corons")
    SiteFactory(owner_organisation=investor, name="Base 11/19")
    log_in(page, live_server, "e2e-officer", then=f"/organisations/{investor.pk}/")

    leads = page.locator("section[aria-labelledby='related-leads']")
    expect(leads.get_by_role("heading")).to_have_text(re.compile(r"Pistes\s+1"))
    expect(leads).to_contain_text("Hôtel-design")
    expect(page.locator("section[aria-labelledby='related-projects']")).to_contain_text(
        "Gîtes des corons"
    )
    expect(page.locator("section[aria-labelledby='related-sites']")).to_contain_text("Base 11/19")

    leads.get_by_role("link", name="Nouvelle piste").click()
    expect(page.get_by_label("Investisseur ou opérateur", exact=True)).to_have_value(
        str(investor.pk)
    )
    # The contacts already follow the organisation; the owner is the person creating it.
    expect(page.locator("#id_contacts option")).to_have_text(["Victor Capital"])
    expect(page.get_by_label("Chargé·e de la piste")).to_have_value(str(officer.pk))


def test_the_holder_contact_follows_the_holder_chosen(page, live_server):
    UserFactory(username="e2e-staff", role=Role.STAFF)
    gite = OrganisationFactory(name="Gîtes du terril")
    parc = OrganisationFactory(name="Parc d'Olhain")
    ContactFactory(organisation=gite, first_name="Anne", last_name="Gîte")
    ContactFactory(organisation=parc, first_name="Paul", last_name="Parc")
    TerritoryFactory(name="Lens-Liévin")
    log_in(page, live_server, "e2e-staff", then="/projects/new/")

    contact = page.get_by_label("Contact du porteur")
    # Before a holder is chosen, every contact is there (as without JavaScript).
    expect(contact.locator("option")).to_have_count(3)
    page.get_by_label("Porteur", exact=True).select_option(label="Parc d'Olhain")
    expect(contact.locator("option")).to_have_text(["— Aucun —", "Paul Parc"])
    page.get_by_label("Porteur", exact=True).select_option(label="Gîtes du terril")
    expect(contact.locator("option")).to_have_text(["— Aucun —", "Anne Gîte"])


def test_a_long_choice_list_can_be_filtered(page, live_server):
    UserFactory(username="e2e-staff", role=Role.STAFF)
    for name in ("Arena Trail", "Cité des électriciens", "Parc d'Olhain", "Électriciens associés"):
        OrganisationFactory(name=name)
    log_in(page, live_server, "e2e-staff", then="/projects/new/")

    box = page.get_by_label("Filtrer : Porteur")
    expect(box).to_be_visible()
    box.fill("electriciens")  # accents and case ignored
    visible = page.locator("#id_holder option:not([hidden]):not([value=''])")
    expect(visible).to_have_text(["Cité des électriciens", "Électriciens associés"])


def test_the_lead_board_folds_closed_columns_and_focus_follows_a_keyboard_move(page, live_server):
    officer = UserFactory(username="e2e-officer", role=Role.OFFICER)
    lead = LeadFactory(
        title="Glamping", stage="negotiation", owner=officer, estimated_investment=2_000_000
    )
    LeadFactory(title="Restaurant gagné", stage="won", owner=officer)
    page.set_viewport_size({"width": 1000, "height": 900})
    log_in(page, live_server, "e2e-officer", then="/prospects/board/")

    # The board scrolls sideways at this width, and says so.
    expect(page.locator("[data-board-hint]")).to_be_visible()
    expect(page.locator("section[data-step='negotiation']")).to_contain_text("2 000 000 €")
    strip = page.locator("[data-board-closed]")
    expect(strip.locator("summary")).to_contain_text(re.compile(r"Gagnée\s+1"))
    expect(page.get_by_role("link", name="Restaurant gagné", exact=True)).to_be_hidden()
    strip.locator("summary").click()
    expect(page.get_by_role("link", name="Restaurant gagné", exact=True)).to_be_visible()
    strip.locator("summary").click()

    # A keyboard move: the card's moves, "Mettre en sommeil", then the focus is on the card.
    card = page.locator(f"#card-{lead.pk}")
    card.get_by_role("link", name=re.compile("Déplacer")).focus()
    page.keyboard.press("Enter")
    sleep = card.get_by_role("button", name="Mettre en sommeil")
    expect(sleep).to_be_visible()
    sleep.focus()
    page.keyboard.press("Enter")
    expect(page.locator(".messages")).to_contain_text("Négociation → En sommeil")
    moved = page.locator(f"section[data-step='dormant'] #card-{lead.pk} .board__card-link")
    expect(moved).to_be_focused()


def test_a_move_into_a_closed_column_opens_the_strip_on_the_moved_card(page, live_server):
    UserFactory(username="e2e-staff", role=Role.STAFF)
    project = ProjectFactory(title="Chevrettes", state="intake")
    log_in(page, live_server, "e2e-staff", then="/projects/board/")

    card = page.locator(f"#card-{project.pk}")
    card.get_by_role("link", name=re.compile("Déplacer")).click()
    card.get_by_label(re.compile("Raison|Commentaire|Pourquoi", re.I)).fill("Hors champ.")
    card.get_by_role("button", name=re.compile("Décliner")).click()

    expect(page.locator("[data-board-closed]")).to_have_attribute("open", "")
    expect(
        page.locator(f"section[data-step='declined'] #card-{project.pk} .board__card-link")
    ).to_be_focused()
