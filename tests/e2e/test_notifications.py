"""The loop people used to run by e-mail, in the browser: a designer uploads, staff are told
(the bell, the work queue) and ask for changes, the designer is told (bell and e-mail) and
uploads a new version, which is approved; the holder is e-mailed when the specification is
issued and answers from the e-mail's link."""

from __future__ import annotations

import re

import pytest
from django.core import mail as django_mail
from playwright.sync_api import expect

from crm.models import OutboxMessage, Role
from projects.models import DeliverableVersion, ProjectMember, SpecificationVersion
from tests.e2e.helpers import jpeg, log_in, log_out
from tests.factories import ProjectFactory, UserFactory, approved_deliverable

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("role_groups")]


def upload(page, colour: str) -> None:
    page.get_by_text("Déposer des fichiers").click()
    page.get_by_label("Type de livrable").select_option("trend_board")
    page.get_by_label("Fichier").set_input_files(
        [{"name": "planche.jpg", "mimeType": "image/jpeg", "buffer": jpeg(colour)}]
    )
    with page.expect_navigation():
        page.get_by_role("button", name="Déposer", exact=True).click()


def test_upload_review_changes_new_version_approved(page, live_server, settings) -> None:
    settings.CARREAU_BASE_URL = live_server.url
    UserFactory(username="e2e-staff", first_name="Salomé", last_name="Leroy", role=Role.STAFF)
    designer = UserFactory(
        username="e2e-designer", first_name="Inès", last_name="Dupont", role=Role.DESIGNER
    )
    project = ProjectFactory(title="Gîtes de la cité", state="listen", designers=[designer])

    # The designer uploads a trend board.
    log_in(page, live_server, "e2e-designer", then=project.get_absolute_url())
    upload(page, "black")
    expect(page.locator(".gallery__item")).to_have_count(1)
    expect(page.locator("#bell")).not_to_contain_text(re.compile(r"\d"))
    log_out(page, live_server)

    # Staff: the bell counts it, the work queue lists it, the notification leads to it.
    log_in(page, live_server, "e2e-staff")
    expect(page.locator("#bell .bell__count")).to_contain_text("1")
    expect(page.locator(".todo")).to_contain_text("Revoir « planche » v1")
    page.locator("#bell").click()
    page.get_by_role("link", name=re.compile("Inès Dupont a déposé « planche »")).click()
    page.wait_for_url(re.compile(rf".*/projects/{project.pk}/.*"))
    item = page.locator(".gallery__item", has_text="Version 1")
    item.get_by_label("Commentaire").fill("Plus de contraste, s'il vous plaît.")
    item.get_by_role("button", name="Demander des modifications").click()
    expect(page.locator(".messages")).to_have_text("Revue enregistrée.")
    log_out(page, live_server)

    # The designer is told in the app and by e-mail (built and sent by the worker).
    [sent] = OutboxMessage.objects.filter(recipient=designer)
    assert sent.status == OutboxMessage.Status.SENT
    [message] = [m for m in django_mail.outbox if m.to == [designer.email]]
    assert "Salomé Leroy demande des modifications sur « planche »" in message.subject
    log_in(page, live_server, "e2e-designer")
    expect(page.locator("#bell .bell__count")).to_contain_text("1")
    expect(page.locator(".todo")).to_contain_text("Modifications demandées sur « planche » v1")
    page.goto(f"{live_server.url}{project.get_absolute_url()}")
    upload(page, "white")
    page.goto(live_server.url + "/")
    expect(page.locator(".todo")).to_contain_text("Rien ne vous attend")
    log_out(page, live_server)

    # Staff approve version 2.
    log_in(page, live_server, "e2e-staff", then=project.get_absolute_url())
    latest = page.locator(".gallery__item").filter(
        has=page.locator(".review-badge", has_text="Soumis")
    )
    latest.get_by_role("button", name="Approuver").click()
    expect(page.locator(".messages")).to_have_text("Revue enregistrée.")
    states = list(
        DeliverableVersion.objects.order_by("number").values_list("number", "review_state")
    )
    assert states == [(1, "changes_requested"), (2, "approved")]


def test_the_holder_is_emailed_and_answers_from_the_link(page, live_server, settings) -> None:
    settings.CARREAU_BASE_URL = live_server.url
    UserFactory(username="e2e-staff", role=Role.STAFF)
    holder = UserFactory(username="e2e-holder", role=Role.HOLDER)
    project = ProjectFactory(title="Hôtel des corons", state="involve")
    ProjectMember.objects.create(project=project, user=holder, role=ProjectMember.Role.HOLDER)
    approved_deliverable(project, "trend_board")

    log_in(page, live_server, "e2e-staff", then=f"/projects/{project.pk}/specification/")
    page.fill("#id_context", "Une rangée de maisons de mineurs rachetée par la porteuse.")
    page.fill("#id_objectives", "Ouvrir dix chambres dans les maisons de mineurs.")
    page.click("text=Enregistrer le brouillon")
    page.click("text=Émettre la version 1…")
    page.click("text=Oui, émettre la version 1")
    expect(page.locator("#job-status")).to_contain_text("Version 1 du cahier des charges émise")
    log_out(page, live_server)

    [message] = [m for m in django_mail.outbox if m.to == [holder.email]]
    assert "attend votre réponse" in message.subject
    link = re.search(rf"{re.escape(live_server.url)}\S+#specification", str(message.body)).group(0)

    log_in(page, live_server, "e2e-holder")
    expect(page.locator(".todo")).to_contain_text("Répondre au cahier des charges v1")
    page.goto(link)
    page.click("text=Approuver cette version")
    page.wait_for_selector("text=Votre réponse sur le cahier des charges est enregistrée.")
    assert SpecificationVersion.objects.get().approval == "approved"
    page.goto(live_server.url + "/")
    expect(page.locator(".todo")).to_contain_text("Rien ne vous attend")
