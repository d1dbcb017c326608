"""The project flows that need a browser: the form, the board's mouse and keyboard moves,
uploads with their progress bars, and the review of what was uploaded."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from crm.models import Role
from projects.models import DeliverableVersion, Project, ProjectMember
from tests.e2e.helpers import jpeg, log_in, log_out
from tests.factories import (
    OrganisationFactory,
    ProjectFactory,
    TerritoryFactory,
    ThematicFactory,
    UserFactory,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("role_groups")]


def test_a_request_goes_from_the_form_through_acceptance_to_the_board(page, live_server) -> None:
    staff = UserFactory(
        username="e2e-staff", first_name="Salomé", last_name="Leroy", role=Role.STAFF
    )
    designer = UserFactory(
        username="e2e-designer", first_name="Inès", last_name="Dupont", role=Role.DESIGNER
    )
    OrganisationFactory(name="Gîtes de la Cité des électriciens")
    TerritoryFactory(name="Béthune-Bruay", slug="bethune-bruay")
    ThematicFactory(name="Hébergement", slug="hebergement")
    log_in(page, live_server, "e2e-staff", then="/projects/new/")

    # The request, typed into the project form.
    page.get_by_label("Intitulé").fill("Gîtes de la cité")
    page.get_by_label("Porteur", exact=True).select_option(
        label="Gîtes de la Cité des électriciens"
    )
    page.get_by_label("Territoire").select_option(label="Béthune-Bruay")
    page.get_by_label("Hébergement").check()
    page.get_by_label("Besoin précis").fill("Des gîtes dans les maisons de mineurs.")
    page.get_by_label("Inès Dupont").check()
    page.get_by_label("Chargé·e de mission référent·e").select_option(label="Salomé Leroy")
    page.get_by_role("button", name="Enregistrer").click()

    expect(page.locator(".messages")).to_have_text(
        re.compile(r"Projet DS-\d{4}-\d{3} enregistré\.")
    )
    project = Project.objects.get(title="Gîtes de la cité")
    assert project.state == "intake"
    assert project.created_by == staff
    assert {(m.user, m.role) for m in project.memberships.all()} == {
        (designer, ProjectMember.Role.DESIGNER),
        (staff, ProjectMember.Role.LEAD),
    }
    expect(page.locator("#steps-title")).to_contain_text("Demande reçue")

    # Accepted into phase 1 from its page: the first move out of intake.
    page.get_by_role("button", name="Accepter en phase 1 (Veille)").click()
    expect(page.locator(".messages")).to_contain_text(
        f"{project.reference} : Demande reçue → Écouter."
    )
    expect(page.locator("#steps-title")).to_contain_text("Écouter")

    # On the board, with the mouse: the card dropped on the next column.
    page.goto(f"{live_server.url}/projects/board/")
    card = page.locator(f"[data-project='{project.pk}']")
    expect(page.locator("section[data-step='listen']").locator(card)).to_have_count(1)
    page.drag_and_drop(f"[data-project='{project.pk}']", "section[data-step='impulse']")
    expect(page.locator(".messages")).to_contain_text("Écouter → Impulser")
    expect(page.locator("section[data-step='impulse']").locator(card)).to_have_count(1)

    # With the keyboard: the card's "Déplacer" opens its moves, Tab reaches the first one.
    card.get_by_role("link", name=re.compile("Déplacer")).focus()
    page.keyboard.press("Enter")
    advance = card.get_by_role("button", name="Passer à l'étape suivante")
    expect(advance).to_be_visible()
    page.keyboard.press("Tab")
    expect(advance).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator(".messages")).to_contain_text("Impulser → Impliquer")
    expect(page.locator("section[data-step='involve']").locator(card)).to_have_count(1)

    project.refresh_from_db()
    assert project.state == "involve"
    assert list(project.transitions.order_by("pk").values_list("source", "target", "by")) == [
        ("intake", "listen", staff.pk),
        ("listen", "impulse", staff.pk),
        ("impulse", "involve", staff.pk),
    ]


def test_a_blocked_gate_says_what_is_missing_on_the_board(page, live_server) -> None:
    UserFactory(username="e2e-staff", role=Role.STAFF)
    project = ProjectFactory(title="Carnet", state="involve")
    log_in(page, live_server, "e2e-staff", then="/projects/board/")

    page.drag_and_drop(f"[data-project='{project.pk}']", "section[data-step='orient']")
    expect(page.locator(".messages")).to_contain_text(
        "Il manque une planche de tendances approuvée."
    )

    project.refresh_from_db()
    assert project.state == "involve"


def test_a_designer_uploads_two_deliverables_and_staff_approve_one(page, live_server) -> None:
    UserFactory(username="e2e-staff", role=Role.STAFF)
    designer = UserFactory(username="e2e-designer", role=Role.DESIGNER)
    project = ProjectFactory(title="Planches", state="listen", designers=[designer])
    log_in(page, live_server, "e2e-designer", then=project.get_absolute_url())

    # The second file's answer is held back, so the page stays as the user sees it midway:
    # one bar full with the server's answer, one still waiting.
    held = []

    def hold_the_second(route) -> None:
        held.append(route)
        if len(held) == 1:
            route.continue_()

    page.route(f"**/projects/{project.pk}/deliverables/new/", hold_the_second)
    page.get_by_text("Déposer des fichiers").click()
    page.get_by_label("Type de livrable").select_option("trend_board")
    page.get_by_label("Fichier").set_input_files(
        [
            {"name": "noir.jpg", "mimeType": "image/jpeg", "buffer": jpeg("black")},
            {"name": "jaune.jpg", "mimeType": "image/jpeg", "buffer": jpeg("yellow")},
        ]
    )
    posts = []

    def second_upload(request) -> bool:
        if request.method == "POST" and request.url.endswith("/deliverables/new/"):
            posts.append(request)
        return len(posts) == 2

    with page.expect_request(second_upload):
        page.get_by_role("button", name="Déposer", exact=True).click()

    rows = page.locator("[data-progress] li")
    expect(rows).to_have_count(2)
    expect(rows.nth(0).get_by_role("progressbar", name="noir.jpg")).to_have_js_property(
        "value", 100
    )
    expect(rows.nth(0).locator(".upload__ok")).to_have_text("« noir » : version 1 déposée.")
    expect(rows.nth(1).get_by_role("progressbar", name="jaune.jpg")).to_be_visible()
    expect(rows.nth(1).locator(".upload__ok")).to_have_count(0)
    # The second request was seen before the checks above answered, so it is held by now.
    assert len(held) == 2

    # Once the second answer arrives, the page reloads with both deliverables.
    with page.expect_navigation():
        held[1].continue_()
    expect(page.locator(".gallery__item")).to_have_count(2)
    expect(page.locator(".gallery__item img")).to_have_count(2)
    assert project.deliverables.count() == 2

    # Staff review one of them: approved, the other still waits.
    log_out(page, live_server)
    log_in(page, live_server, "e2e-staff", then=project.get_absolute_url())
    # Each version is named by its deliverable's heading, not by the file's raw name.
    black = page.locator("article", has=page.get_by_role("heading", name="noir")).locator(
        ".gallery__item"
    )
    black.get_by_label("Commentaire").fill("Très juste.")
    black.get_by_role("button", name="Approuver").click()
    expect(page.locator(".messages")).to_have_text("Revue enregistrée.")
    expect(black.locator(".review-badge")).to_have_text("Approuvé")
    expect(black).to_contain_text("« Très juste. »")
    yellow = page.locator("article", has=page.get_by_role("heading", name="jaune")).locator(
        ".gallery__item"
    )
    expect(yellow.locator(".review-badge")).to_have_text("Soumis")

    states = dict(
        DeliverableVersion.objects.filter(deliverable__project=project).values_list(
            "original_name", "review_state"
        )
    )
    assert states == {"noir.jpg": "approved", "jaune.jpg": "submitted"}
