"""Browser flows of the specification and of the prospecting board (issues 4, 5 and 7)."""

from __future__ import annotations

import hashlib
import io
from decimal import Decimal

import openpyxl
import pytest

from crm.models import Role
from projects.models import ProjectMember, SpecificationVersion
from prospects.models import Lead
from tests.e2e.test_projects import log_in
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
    log_in(page, live_server, "e2e-staff")
    page.goto(f"{live_server.url}/projects/{project.pk}/specification/")
    page.fill("#id_objectives", "Ouvrir dix chambres dans les maisons de mineurs.")
    page.click("text=Enregistrer le brouillon")
    page.click("text=Émettre la version 1")
    page.wait_for_selector("text=Version 1 du cahier des charges émise")
    version = SpecificationVersion.objects.get()

    # The issued PDF downloads as it was frozen.
    link = page.locator("a", has_text="v1 (PDF)").first.get_attribute("href")
    pdf = page.request.get(f"{live_server.url}{link}").body()
    assert pdf.startswith(b"%PDF")
    assert hashlib.sha256(pdf).hexdigest() == version.sha256

    # The gate waits for the holder.
    page.goto(f"{live_server.url}/projects/board/")
    page.drag_and_drop(f"[data-project='{project.pk}']", "section[data-step='orient']")
    page.wait_for_selector(".messages >> text=Le porteur n'a pas encore approuvé")
    project.refresh_from_db()
    assert project.state == "involve"

    # The holder approves from their project page.
    page.context.clear_cookies()
    log_in(page, live_server, "e2e-holder")
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    page.click("text=Approuver cette version")
    page.wait_for_selector("text=Votre réponse sur le cahier des charges est enregistrée.")
    version.refresh_from_db()
    assert version.approval == "approved"

    # Now staff cross the gate on the board.
    page.context.clear_cookies()
    log_in(page, live_server, "e2e-staff")
    page.goto(f"{live_server.url}/projects/board/")
    page.drag_and_drop(f"[data-project='{project.pk}']", "section[data-step='orient']")
    page.wait_for_selector(".messages >> text=Impliquer → Orienter")
    project.refresh_from_db()
    assert project.state == "orient"


def test_a_lead_is_won_on_the_board_once_it_has_a_site_and_an_amount(page, live_server) -> None:
    officer = UserFactory(username="e2e-officer", role=Role.OFFICER)
    lead = LeadFactory(title="Hôtel-design 11/19", owner=officer, stage="negotiation")
    log_in(page, live_server, "e2e-officer")
    page.goto(f"{live_server.url}/prospects/board/")

    page.drag_and_drop(f"[data-project='{lead.pk}']", "section[data-step='won']")
    page.wait_for_selector(".messages >> text=site visé")
    lead.refresh_from_db()
    assert lead.stage == "negotiation"

    Lead.objects.filter(pk=lead.pk).update(estimated_investment=Decimal("18000000"))
    lead.target_sites.set([SiteFactory(name="Base 11/19")])
    page.goto(f"{live_server.url}/prospects/board/")
    page.drag_and_drop(f"[data-project='{lead.pk}']", "section[data-step='won']")
    page.wait_for_selector(".messages >> text=Négociation → Gagnée")
    lead.refresh_from_db()
    assert lead.stage == "won"


def test_the_lead_list_exports_what_is_shown(page, live_server) -> None:
    officer = UserFactory(username="e2e-officer", role=Role.OFFICER)
    LeadFactory(title="Gîtes du terril", owner=officer, sector="accommodation")
    LeadFactory(title="Brasserie de la fosse", owner=officer, sector="food")
    log_in(page, live_server, "e2e-officer")
    page.goto(f"{live_server.url}/prospects/?sector=food")

    with page.expect_download() as download:
        page.click("text=Exporter vers Excel")
    rows = list(
        openpyxl.load_workbook(io.BytesIO(download.value.path().read_bytes())).active.values
    )

    titles = [row[0] for row in rows[1:]]
    assert titles == ["Brasserie de la fosse"]


def test_the_language_switch_changes_the_interface(page, live_server) -> None:
    UserFactory(username="e2e-staff", role=Role.STAFF)
    log_in(page, live_server, "e2e-staff")

    page.select_option("select[name=language]", "en")
    page.click("header form button[type=submit]")
    page.wait_for_selector("h1 >> text=Hello")

    assert "Dashboard" in page.content()
    page.goto(f"{live_server.url}/projects/")
    assert "Projects" in page.content()
