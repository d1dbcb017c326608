"""The project flows that need JavaScript: board drag and drop, keyboard moves, uploads."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from crm.models import Role
from projects.models import DeliverableVersion, Project
from tests.factories import PASSWORD, ProjectFactory, UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("role_groups")]


def log_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")


def test_dragging_a_card_to_the_next_step_moves_the_project(page, live_server) -> None:
    UserFactory(username="e2e-staff", role=Role.STAFF)
    project = ProjectFactory(title="Gîtes de la cité", state="listen")
    log_in(page, live_server, "e2e-staff")
    page.goto(f"{live_server.url}/projects/board/")

    page.drag_and_drop(f"[data-project='{project.pk}']", "section[data-step='impulse']")
    # The drop posts a form: wait for its answer, not just for an idle network.
    page.wait_for_selector(".messages >> text=Écouter → Impulser")

    project.refresh_from_db()
    assert project.state == "impulse"
    assert "Écouter → Impulser" in page.content()


def test_a_blocked_gate_says_what_is_missing_on_the_board(page, live_server) -> None:
    UserFactory(username="e2e-staff", role=Role.STAFF)
    project = ProjectFactory(title="Carnet", state="involve")
    log_in(page, live_server, "e2e-staff")
    page.goto(f"{live_server.url}/projects/board/")

    page.drag_and_drop(f"[data-project='{project.pk}']", "section[data-step='orient']")
    page.wait_for_selector(".messages >> text=Il manque une planche de tendances approuvée.")

    project.refresh_from_db()
    assert project.state == "involve"
    assert "Il manque une planche de tendances approuvée." in page.content()


def test_a_card_moves_with_the_keyboard(page, live_server) -> None:
    UserFactory(username="e2e-staff", role=Role.STAFF)
    project = ProjectFactory(title="Clavier", state="orient")
    log_in(page, live_server, "e2e-staff")
    page.goto(f"{live_server.url}/projects/board/")

    card = page.locator(f"[data-project='{project.pk}']")
    card.locator(".board__moves-link").focus()
    page.keyboard.press("Enter")
    card.locator("button[data-target='steer']").focus()
    page.keyboard.press("Enter")
    page.wait_for_load_state("networkidle")

    project.refresh_from_db()
    assert project.state == "steer"


def _jpeg(colour: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (800, 600), colour).save(buffer, "JPEG")
    return buffer.getvalue()


def test_designer_uploads_two_files_with_progress(page, live_server) -> None:
    designer = UserFactory(username="e2e-designer", role=Role.DESIGNER)
    project = ProjectFactory(title="Planches", state="listen", designers=[designer])
    log_in(page, live_server, "e2e-designer")
    page.goto(f"{live_server.url}{project.get_absolute_url()}")

    page.click("#upload summary")
    page.select_option("#id_kind", "trend_board")
    page.set_input_files(
        "#id_file",
        [
            {"name": "noir.jpg", "mimeType": "image/jpeg", "buffer": _jpeg("black")},
            {"name": "jaune.jpg", "mimeType": "image/jpeg", "buffer": _jpeg("yellow")},
        ],
    )
    with page.expect_navigation():
        page.click("[data-upload] button[type=submit]")

    assert DeliverableVersion.objects.filter(deliverable__project=project).count() == 2
    assert page.locator(".gallery__item img").count() == 2
    assert Project.objects.get(pk=project.pk).deliverables.count() == 2
