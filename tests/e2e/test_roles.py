"""Each role logs in through the real form and lands on what that role is there to see."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from crm.models import Role
from projects.models import ProjectMember
from tests.factories import PASSWORD, LeadFactory, ProjectFactory, UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("role_groups")]

# The main navigation each role gets, in order (DESIGN §1): designers and holders see nothing
# of prospecting; holders nothing of the CRM; only staff reach the admin.
NAVIGATION = {
    Role.STAFF: [
        "Tableau de bord",
        "Projets",
        "Pistes",
        "Sites",
        "Événements",
        "Ma journée",
        "Organisations",
        "Contacts",
        "Administration",
    ],
    Role.DESIGNER: ["Tableau de bord", "Projets", "Organisations", "Contacts"],
    Role.OFFICER: [
        "Tableau de bord",
        "Projets",
        "Pistes",
        "Sites",
        "Événements",
        "Ma journée",
        "Organisations",
        "Contacts",
    ],
    Role.HOLDER: ["Tableau de bord", "Projets"],
}

# Where each role goes first from the dashboard, and the records it must and must not find.
FIRST_STOP = {
    Role.STAFF: ("Projets", ["Gîtes de la cité", "Arena Trail"], []),
    Role.DESIGNER: ("Projets", ["Gîtes de la cité"], ["Arena Trail"]),
    Role.OFFICER: ("Pistes", ["Hôtel-design 11/19"], ["Brasserie confidentielle"]),
    Role.HOLDER: ("Projets", ["Gîtes de la cité"], ["Arena Trail"]),
}

# What the dashboard says about projects: everything for staff and officers, the user's own
# projects for designers; a holder's home shows their work queue and nothing of the mission's
# figures. The CRM figures are for those who may read the CRM.
DASHBOARD = {
    Role.STAFF: ("2 projets accompagnés", True),
    Role.DESIGNER: ("1 projet accompagné", True),
    Role.OFFICER: ("2 projets accompagnés", True),
    Role.HOLDER: ("", False),
}


@pytest.mark.parametrize("role", list(Role), ids=[role.value for role in Role])
def test_each_role_logs_in_through_the_form_and_sees_its_own_world(
    page, live_server, role: Role
) -> None:
    user = UserFactory(username=f"e2e-{role.value}", first_name="Camille", role=role)
    ours = ProjectFactory(title="Gîtes de la cité")
    ProjectFactory(title="Arena Trail")
    if role in (Role.DESIGNER, Role.HOLDER):
        ProjectMember.objects.create(project=ours, user=user, role=role.value)
    if role == Role.OFFICER:
        LeadFactory(title="Hôtel-design 11/19", owner=user)
        LeadFactory(title="Brasserie confidentielle", confidential=True)

    # A page that needs a login sends the visitor to the form, then back where they were going.
    page.goto(f"{live_server.url}/")
    page.wait_for_url(f"{live_server.url}/login/?next=/")
    page.get_by_label("Nom d’utilisateur").fill(user.username)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(f"{live_server.url}/")

    expect(page.get_by_role("heading", level=1)).to_have_text("Bonjour Camille")
    expect(page.locator(".whoami")).to_contain_text(str(role.label))
    nav = page.get_by_role("navigation", name="Navigation principale")
    expect(nav.get_by_role("link")).to_have_text(NAVIGATION[role])

    projects_heading, shows_crm = DASHBOARD[role]
    if projects_heading:
        expect(page.locator("#projects-title")).to_have_text(projects_heading)
    else:
        expect(page.locator("#projects-title")).to_have_count(0)
    expect(page.locator("#todo-title")).to_have_text("À faire")
    expect(page.get_by_role("heading", name="Le CRM en chiffres")).to_have_count(int(shows_crm))

    link, shown, hidden = FIRST_STOP[role]
    nav.get_by_role("link", name=link, exact=True).click()
    expect(nav.get_by_role("link", name=link, exact=True)).to_have_attribute("aria-current", "page")
    results = page.locator("#results")
    for title in shown:
        expect(results.get_by_role("link", name=title)).to_be_visible()
    for title in hidden:
        expect(results.get_by_text(title)).to_have_count(0)
