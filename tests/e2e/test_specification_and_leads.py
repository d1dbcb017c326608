"""Browser flows of the specification and of the prospecting board (issues 4, 5 and 7)."""

from __future__ import annotations

import hashlib
import io
from decimal import Decimal

import openpyxl
import pytest
from playwright.sync_api import expect
from pypdf import PdfReader

from crm.models import Role
from projects.models import ProjectMember, SpecificationVersion
from prospects.models import Lead
from tests.e2e.helpers import log_in, log_out
from tests.factories import (
    LeadFactory,
    ProjectFactory,
    SiteFactory,
    UserFactory,
    approved_deliverable,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("role_groups")]


def test_issue_download_approve_then_cross_the_gate(page, live_server) -> None:
    UserFactory(username="e2e-staff", role=Role.STAFF)
    holder = UserFactory(username="e2e-holder", role=Role.HOLDER)
    project = ProjectFactory(title="Hôtel des corons", state="involve")
    ProjectMember.objects.create(project=project, user=holder, role=ProjectMember.Role.HOLDER)
    approved_deliverable(project, "trend_board")

    # Staff write a section and issue version 1.
    log_in(page, live_server, "e2e-staff", then=f"/projects/{project.pk}/specification/")
    page.fill("#id_context", "Une rangée de maisons de mineurs rachetée par la porteuse.")
    page.fill("#id_objectives", "Ouvrir dix chambres dans les maisons de mineurs.")
    page.click("text=Enregistrer le brouillon")
    expect(page.locator(".messages")).to_contain_text("Brouillon du cahier des charges enregistré.")
    # The worker renders and issues it; its page says when it is done.
    # Issuing asks first: the button opens its confirmation.
    page.click("text=Émettre la version 1…")
    page.click("text=Oui, émettre la version 1")
    expect(page.locator("#job-status")).to_contain_text("Version 1 du cahier des charges émise")
    page.click("text=Voir le résultat")
    version = SpecificationVersion.objects.get()

    # The issued PDF downloads as it was frozen, with the text that was written.
    link = page.locator("a", has_text="v1 (PDF)").first.get_attribute("href")
    response = page.request.get(f"{live_server.url}{link}")
    assert response.ok
    assert response.headers["content-type"] == "application/pdf"
    assert (
        f"{project.reference}-cahier-des-charges-v1.pdf" in response.headers["content-disposition"]
    )
    pdf = response.body()
    assert pdf.startswith(b"%PDF")
    assert hashlib.sha256(pdf).hexdigest() == version.sha256
    text = " ".join(sheet.extract_text() for sheet in PdfReader(io.BytesIO(pdf)).pages)
    assert "Ouvrir dix chambres dans les maisons de mineurs." in " ".join(text.split())

    # The gate waits for the holder.
    page.goto(f"{live_server.url}/projects/board/")
    page.drag_and_drop(f"[data-project='{project.pk}']", "section[data-step='orient']")
    page.wait_for_selector(".messages >> text=Le porteur n'a pas encore approuvé")
    project.refresh_from_db()
    assert project.state == "involve"

    # The holder approves from their project page.
    log_out(page, live_server)
    log_in(page, live_server, "e2e-holder", then=project.get_absolute_url())
    page.click("text=Approuver cette version")
    page.wait_for_selector("text=Votre réponse sur le cahier des charges est enregistrée.")
    version.refresh_from_db()
    assert version.approval == "approved"

    # Now staff cross the gate on the board.
    log_out(page, live_server)
    log_in(page, live_server, "e2e-staff", then="/projects/board/")
    page.drag_and_drop(f"[data-project='{project.pk}']", "section[data-step='orient']")
    page.wait_for_selector(".messages >> text=Impliquer → Orienter")
    project.refresh_from_db()
    assert project.state == "orient"


def test_a_lead_is_won_on_the_board_once_it_has_a_site_and_an_amount(page, live_server) -> None:
    officer = UserFactory(username="e2e-officer", role=Role.OFFICER)
    lead = LeadFactory(title="Hôtel-design 11/19", owner=officer, stage="negotiation")
    log_in(page, live_server, "e2e-officer")
    page.goto(f"{live_server.url}/prospects/board/")

    # The closed columns are folded at the board's end: opened, "won" takes the drop.
    page.locator("[data-board-closed] > summary").click()
    page.drag_and_drop(f"[data-project='{lead.pk}']", "section[data-step='won']")
    page.wait_for_selector(".messages >> text=site visé")
    lead.refresh_from_db()
    assert lead.stage == "negotiation"

    Lead.objects.filter(pk=lead.pk).update(estimated_investment=Decimal("18000000"))
    lead.target_sites.set([SiteFactory(name="Base 11/19")])
    page.goto(f"{live_server.url}/prospects/board/")
    page.locator("[data-board-closed] > summary").click()
    page.drag_and_drop(f"[data-project='{lead.pk}']", "section[data-step='won']")
    page.wait_for_selector(".messages >> text=Négociation → Gagnée")
    lead.refresh_from_db()
    assert lead.stage == "won"


def test_an_officer_opens_a_lead_wins_it_and_exports_the_won_leads(page, live_server) -> None:
    officer = UserFactory(username="e2e-officer", role=Role.OFFICER)
    LeadFactory(
        title="Hôtel-design 11/19",
        owner=officer,
        stage="negotiation",
        estimated_investment=Decimal("18000000"),
        target_sites=[SiteFactory(name="Base 11/19")],
    )
    LeadFactory(title="Brasserie de la fosse", owner=officer, stage="qualified")
    log_in(page, live_server, "e2e-officer")

    # From the navigation to the list, then to the lead's own page.
    page.get_by_role("navigation", name="Navigation principale").get_by_role(
        "link", name="Pistes", exact=True
    ).click()
    page.get_by_role("link", name="Hôtel-design 11/19").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Hôtel-design 11/19")
    expect(page.locator("#stage-title")).to_contain_text("Négociation")

    # Won from its page: it has a target site and an amount, so the move is allowed.
    page.get_by_role("button", name="Gagnée : l'investisseur s'engage").click()
    expect(page.locator(".messages")).to_contain_text("Négociation → Gagnée")
    expect(page.locator("#stage-title")).to_contain_text("Gagnée")
    lead = Lead.objects.get(title="Hôtel-design 11/19")
    assert lead.stage == "won"
    assert list(lead.transitions.values_list("source", "target", "by")) == [
        ("negotiation", "won", officer.pk)
    ]

    # The list filtered to won leads (applied as soon as it is chosen), then exported.
    page.get_by_role("link", name="Pistes", exact=True).first.click()
    page.get_by_label("Étape", exact=True).select_option(label="Gagnée")
    page.wait_for_url("**/prospects/?*stage=won*")
    results = page.locator("#results")
    expect(results.get_by_role("link", name="Brasserie de la fosse")).to_have_count(0)
    expect(results.get_by_role("link", name="Hôtel-design 11/19")).to_be_visible()

    with page.expect_download() as download:
        results.get_by_role("link", name="Exporter vers Excel").click()
    rows = list(
        openpyxl.load_workbook(io.BytesIO(download.value.path().read_bytes())).active.values
    )
    header, *lines = rows
    exported = [dict(zip(header, line, strict=True)) for line in lines]
    assert [(row["Intitulé"], row["Étape"]) for row in exported] == [
        ("Hôtel-design 11/19", "Gagnée")
    ]
    assert exported[0]["Sites visés"] == "Base 11/19"


def test_the_language_switch_changes_the_interface_and_back(page, live_server) -> None:
    UserFactory(username="e2e-staff", first_name="Salomé", role=Role.STAFF)
    log_in(page, live_server, "e2e-staff")
    nav = page.locator("nav.main-nav")

    page.get_by_role("button", name="EN · English").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello Salomé")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(nav.get_by_role("link").first).to_have_text("Dashboard")

    # The choice sticks from page to page, and switches back the same way.
    nav.get_by_role("link", name="Projects").click()
    expect(page.get_by_role("navigation", name="Main navigation")).to_be_visible()
    page.get_by_role("button", name="FR · Français").click()
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(nav.get_by_role("link", name="Projets")).to_have_attribute("aria-current", "page")
