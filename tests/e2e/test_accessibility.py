"""Every page, as each role sees it with the demo data, passes axe-core's WCAG 2.1 A and AA
rules and loads nothing from another host (DESIGN §8).

axe-core (through axe-playwright-python, which bundles it) checks what a machine can: names and
labels of controls, contrast, landmarks, heading and list structure, ARIA, language. The rest of
the bar (keyboard use of the boards) has its own journeys in test_projects.py and
test_specification_and_leads.py; valid HTML is checked on every page by the access walk.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.core.management import call_command
from django.urls import reverse

from crm.models import Contact, Organisation, User
from projects.models import Project, ProjectMember
from prospects.models import Lead, PromotionEvent, Site
from tests.e2e.helpers import log_in, log_out
from tests.factories import PASSWORD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("role_groups")]

WCAG_21_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


@pytest.fixture
def demo() -> None:
    """The demo destination (every kind of record, at every step), its people able to log in
    with the tests' password."""
    call_command("seed_demo", force=True, verbosity=0)
    for user in User.objects.all():
        user.set_password(PASSWORD)
        user.save(update_fields=["password"])


def own_project(username: str) -> Project:
    return Project.objects.filter(memberships__user__username=username).order_by("pk").first()  # type: ignore[return-value]  # the demo gives each a project


def staff_pages() -> list[str]:
    organisation = Organisation.objects.order_by("pk").first()
    contact = Contact.objects.order_by("pk").first()
    project = Project.objects.order_by("-pk").first()
    return [
        reverse("crm:dashboard"),
        reverse("crm:notification_list"),
        reverse("crm:notification_preferences"),
        reverse("crm:organisation_list"),
        reverse("crm:organisation_detail", args=[organisation.pk]),
        reverse("crm:organisation_create"),
        reverse("crm:organisation_edit", args=[organisation.pk]),
        reverse("crm:contact_list"),
        reverse("crm:contact_detail", args=[contact.pk]),
        reverse("crm:contact_edit", args=[contact.pk]),
        reverse("crm:privacy_review"),
        reverse("crm:import_start"),
        reverse("crm:funders_report"),
        reverse("projects:project_list"),
        reverse("projects:project_board"),
        reverse("projects:project_create"),
        reverse("projects:project_detail", args=[project.pk]),
        reverse("projects:project_edit", args=[project.pk]),
        reverse("projects:specification_edit", args=[project.pk]),
    ]


def designer_pages() -> list[str]:
    project = own_project("designer")
    return [
        reverse("crm:dashboard"),
        reverse("projects:project_list"),
        reverse("projects:project_detail", args=[project.pk]),  # with the upload form
        reverse("projects:specification_edit", args=[project.pk]),
        reverse("crm:organisation_list"),
    ]


def officer_pages() -> list[str]:
    lead = Lead.objects.filter(owner__username="officer").order_by("pk").first()
    return [
        reverse("prospects:lead_list"),
        reverse("prospects:lead_board"),
        reverse("prospects:lead_create"),
        reverse("prospects:lead_detail", args=[lead.pk]),
        reverse("prospects:lead_edit", args=[lead.pk]),
        reverse("prospects:my_day"),
        reverse("prospects:pipeline_report"),
        reverse("prospects:site_list"),
        reverse("prospects:site_detail", args=[Site.objects.order_by("pk").first().pk]),
        reverse("prospects:event_list"),
        reverse("prospects:event_detail", args=[PromotionEvent.objects.order_by("pk").first().pk]),
        reverse("prospects:calendar_settings"),
    ]


def holder_pages() -> list[str]:
    project = own_project("holder")
    assert project.memberships.filter(role=ProjectMember.Role.HOLDER).exists()
    return [
        reverse("crm:dashboard"),
        reverse("projects:project_list"),
        reverse("projects:project_detail", args=[project.pk]),
    ]


def check_pages(page, live_server, urls: list[str]) -> None:
    """Open each page; collect every host it asks for and axe's violations on it."""
    own_host = urlsplit(live_server.url).netloc
    elsewhere: list[str] = []

    def note(request) -> None:
        address = urlsplit(request.url)
        if address.scheme not in {"data", "blob"} and address.netloc != own_host:
            elsewhere.append(f"{page.url} → {request.url}")

    page.on("request", note)
    axe = Axe()
    violations = {}
    for url in urls:
        page.goto(f"{live_server.url}{url}")  # returns once the page and what it loads are in
        results = axe.run(page, options=WCAG_21_AA)
        if results.violations_count:
            violations[url] = results.generate_report()
    page.remove_listener("request", note)
    assert violations == {}, "\n\n".join(f"{url}\n{report}" for url, report in violations.items())
    assert elsewhere == []


def test_the_login_page(page, live_server) -> None:
    check_pages(page, live_server, [reverse("login")])


PAGES = {
    "staff": staff_pages,
    "designer": designer_pages,
    "officer": officer_pages,
    "holder": holder_pages,
}


def test_every_page_of_each_role_meets_wcag_21_aa(page, live_server, demo: None) -> None:
    # One test for the four roles: the demo data is loaded once.
    for username, pages in PAGES.items():
        log_in(page, live_server, username)
        check_pages(page, live_server, pages())
        if username != "staff":
            log_out(page, live_server)
            continue
        # A few pages in English: the language and the longer labels change the layout.
        page.goto(f"{live_server.url}{reverse('crm:dashboard')}")
        page.get_by_role("button", name="EN · English").click()
        page.wait_for_url(f"{live_server.url}{reverse('crm:dashboard')}")
        check_pages(
            page,
            live_server,
            [
                reverse("crm:dashboard"),
                reverse("projects:project_board"),
                reverse("prospects:lead_list"),
            ],
        )
        assert page.locator("html").get_attribute("lang") == "en"
        page.get_by_role("button", name="FR · Français").click()
        log_out(page, live_server)
