"""On a 390 px phone no page scrolls sideways (DESIGN §8), and the header and list filters fold
behind buttons that work without JavaScript.

The walk visits every URL pattern of the project (the access walk's world and list of names) as
every role, keeps what answers an HTML page to a plain GET, and opens each in Chromium at 390 px:
the page's scrolling width must not exceed the window's. A new page is walked as soon as it has
an access rule.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from playwright.sync_api import expect

from crm.models import Role
from tests.e2e.helpers import log_in
from tests.factories import LeadFactory, UserFactory
from tests.test_access_walk import RULES, build_world, url_names

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("role_groups")]

PHONE = {"width": 390, "height": 844}
ROLES = ("staff", "designer", "designer_off", "officer", "other_officer", "holder")


def html_pages(world, role: str, client: Client) -> list[str]:
    """Every address of the walk that answers this role an HTML page to a plain GET."""
    found = []
    for name in sorted(set(url_names())):
        rule = RULES[name]
        for target in ("seen", "other") if rule.other is not None else ("seen",):
            kwargs = rule.kwargs(world.ids[target]) if rule.kwargs else {}
            url = reverse(name, kwargs=kwargs)
            if url in found:
                continue
            response = client.get(url)
            kind = response.get("Content-Type", "")
            if response.status_code == 200 and kind.startswith("text/html"):
                found.append(url)
    return found


def overflow(page) -> dict[str, object]:
    """The page's scrolling width, and what sticks out past the window's right edge."""
    return page.evaluate(
        """() => ({
            scrollWidth: document.scrollingElement.scrollWidth,
            innerWidth: window.innerWidth,
            culprits: [...document.body.querySelectorAll('*')]
                .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
                .slice(0, 5)
                .map(e => `${e.tagName.toLowerCase()}.${e.className}`),
        })"""
    )


def test_no_page_scrolls_sideways_on_a_phone_for_any_role(browser, live_server) -> None:
    world = build_world()
    too_wide: dict[str, object] = {}
    walked = 0
    for role in ROLES:
        client = Client()
        client.force_login(world.users[role])
        urls = html_pages(world, role, client)
        context = browser.new_context(viewport=PHONE, locale="fr-FR")
        context.add_cookies(
            [
                {
                    "name": settings.SESSION_COOKIE_NAME,
                    "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                    "domain": urlsplit(live_server.url).hostname,
                    "path": "/",
                }
            ]
        )
        page = context.new_page()
        for url in urls:
            page.goto(f"{live_server.url}{url}")
            measured = overflow(page)
            if measured["scrollWidth"] > measured["innerWidth"]:
                too_wide[f"{role} {url}"] = measured
            walked += 1
        context.close()

    assert too_wide == {}
    # The walk really went through the application: every role's pages, lists and records.
    assert walked > 60


def test_the_phone_header_folds_behind_a_menu_button(page, live_server) -> None:
    UserFactory(username="e2e-officer", first_name="Inès", role=Role.OFFICER)
    page.set_viewport_size(PHONE)
    log_in(page, live_server, "e2e-officer")
    nav = page.get_by_role("navigation", name="Navigation principale")
    menu = page.locator("summary", has_text="Menu")

    expect(nav).to_be_hidden()
    menu.click()
    expect(nav).to_be_visible()
    nav.get_by_role("link", name="Pistes").click()
    page.wait_for_url(f"{live_server.url}{reverse('prospects:lead_list')}")

    # A new page starts folded; Escape folds an open menu again.
    expect(nav).to_be_hidden()
    menu.click()
    expect(page.get_by_role("button", name="Se déconnecter")).to_be_visible()
    page.keyboard.press("Escape")
    expect(nav).to_be_hidden()


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("width", [1366, 1440])
def test_the_wide_header_fits_on_one_line(page, live_server, width: int, language: str) -> None:
    UserFactory(
        username="e2e-staff",
        first_name="Marie-Salomé",
        last_name="Dupont-Lefebvre",
        role=Role.STAFF,
    )
    page.set_viewport_size({"width": width, "height": 900})
    page.context.add_cookies(
        [{"name": "django_language", "value": language, "url": live_server.url}]
    )
    log_in(page, live_server, "e2e-staff")
    # The notification bell, beside "Mes fichiers", fits too.

    expect(page.locator("summary", has_text="Menu")).to_be_hidden()
    boxes = [
        page.locator(selector).bounding_box()
        for selector in (
            ".brand",
            "nav.main-nav",
            ".header-link >> nth=0",
            "#bell",
            ".account-menu__toggle",
        )
    ]
    middles = [box["y"] + box["height"] / 2 for box in boxes]
    assert max(middles) - min(middles) < 8, boxes
    assert page.locator(".site-header").bounding_box()["height"] < 70
    assert page.evaluate("document.scrollingElement.scrollWidth") <= width


def test_list_filters_fold_behind_a_button_on_a_phone(page, live_server) -> None:
    user = UserFactory(username="e2e-officer", role=Role.OFFICER)
    LeadFactory(title="Hôtel-design 11/19", owner=user)
    page.set_viewport_size(PHONE)
    log_in(page, live_server, "e2e-officer", then=reverse("prospects:lead_list"))
    search = page.get_by_role("searchbox", name="Recherche")

    expect(search).to_be_hidden()
    page.locator("summary", has_text="Filtres").click()
    search.fill("zzz-nothing")
    page.get_by_role("button", name="Filtrer").click()
    page.wait_for_url("**q=zzz-nothing**")

    # The button says that a filter is set; the results are in view without opening it.
    expect(page.locator("summary", has_text="Filtres")).to_contain_text("1 actif")
    expect(page.locator("#results")).to_be_visible()
    expect(search).to_be_hidden()

    # On a wide screen the filters always show, and the button does not.
    page.set_viewport_size({"width": 1440, "height": 900})
    expect(search).to_be_visible()
    expect(page.locator("summary", has_text="Filtres")).to_be_hidden()
