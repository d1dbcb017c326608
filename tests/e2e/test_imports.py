"""The import's dry run in the browser: the problems and the rows to write readable at 1440 and
390 px, meeting WCAG 2.1 AA, and applying the good rows from there."""

from __future__ import annotations

import io

import openpyxl
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from crm.models import Organisation, Role
from tests.e2e.helpers import log_in, log_out
from tests.factories import TerritoryFactory, UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("role_groups")]

WCAG_21_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


def _upload(tmp_path) -> str:
    book = openpyxl.Workbook()
    for row in [
        ["Nom", "Type", "Commune", "Territoire"],
        ["Brasserie du Terril", "Entreprise", "Loos-en-Gohelle", "Lens-Liévin"],
        ["Ferme du Marais", "Licorne", "Douai", "Atlantide"],
    ]:
        book.active.append(row)
    path = tmp_path / "structures.xlsx"
    out = io.BytesIO()
    book.save(out)
    path.write_bytes(out.getvalue())
    return str(path)


@pytest.mark.parametrize("width", [1440, 390])
def test_the_dry_run_shows_values_and_applies_the_good_rows(
    page, live_server, tmp_path, width: int
) -> None:
    TerritoryFactory(name="Lens-Liévin", slug="lens-lievin")
    UserFactory(username="mission", role=Role.STAFF)
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, live_server, "mission", then="/imports/")
    page.select_option("#id_kind", "organisations")
    page.set_input_files("#id_file", _upload(tmp_path))
    page.click("main form button[type=submit]")
    page.click("main form button[type=submit]")  # the guessed columns

    problems = page.locator("#import-problems")
    expect(problems).to_contain_text("Atlantide")
    expect(problems).to_contain_text("Territoire inconnu")
    expect(page.locator("#import-writes")).to_contain_text("Brasserie du Terril")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    results = Axe().run(page, options=WCAG_21_AA)
    assert results.violations_count == 0, results.generate_report()

    page.get_by_role("button", name="Importer la ligne valide").click()
    expect(page.locator("#job-status")).to_contain_text("1 ligne(s) laissée(s) de côté")
    assert list(Organisation.objects.values_list("name", flat=True)) == ["Brasserie du Terril"]


def test_an_import_left_halfway_waits_on_the_home_page_until_discarded(
    page, live_server, tmp_path
) -> None:
    TerritoryFactory(name="Lens-Liévin", slug="lens-lievin")
    UserFactory(username="mission", role=Role.STAFF)
    log_in(page, live_server, "mission", then="/imports/")
    page.select_option("#id_kind", "organisations")
    page.set_input_files("#id_file", _upload(tmp_path))
    page.click("main form button[type=submit]")
    page.click("main form button[type=submit]")  # the guessed columns: the dry run
    log_out(page, live_server)

    log_in(page, live_server, "mission")
    todo = page.locator(".todo")
    expect(todo).to_contain_text("Import « structures.xlsx » commencé, pas appliqué")
    todo.get_by_role("link", name="Import « structures.xlsx » commencé, pas appliqué").click()
    expect(page.locator("h1")).to_contain_text("Essai à blanc")
    page.get_by_role("button", name="Abandonner cet import").click()

    expect(page.locator("main")).to_contain_text("Import « structures.xlsx » abandonné")
    page.goto(f"{live_server.url}/")
    expect(page.locator(".todo")).not_to_contain_text("structures.xlsx")
    assert not Organisation.objects.exists()
