"""The import's screens: each problem with the value read, the rows that would be written,
applying the good rows only and getting the others back to fix, and what an officer is told
to do about an organisation the CRM does not know."""

from __future__ import annotations

import html
import io
import re
from unittest import mock

import openpyxl
import pytest
from django.db import IntegrityError
from django.urls import reverse

from crm import imports
from crm.models import Job, Organisation, User
from prospects.models import Lead
from tests.crm.test_imports import ORGANISATIONS, run_import, workbook
from tests.factories import OrganisationFactory, TerritoryFactory, siret_with_key
from tests.helpers import client_for

pytestmark = pytest.mark.django_db

BAD = ["Brasserie du Louvre", "Entreprise", "", "Lens", "Atlantide", ""]


@pytest.fixture
def lens(db: None):
    return TerritoryFactory(name="Lens-Liévin", slug="lens-lievin")


def _sheet(content: bytes) -> list[tuple]:
    return list(openpyxl.load_workbook(io.BytesIO(content)).active.values)


def test_each_problem_shows_the_value_read_beside_row_column_and_reason(staff: User, lens) -> None:
    rows = [*ORGANISATIONS, BAD, ["=1+1", "Licorne", "", "", "", ""]]
    _token, preview = run_import(client_for(staff), workbook(rows))

    page = html.unescape(preview.content.decode())
    table = page[page.index('id="import-problems"') :]
    assert re.search(
        r'<td class="num"[^>]*>4</td><td[^>]*>Territoire</td><td[^>]*><code>Atlantide</code></td>',
        table,
    )
    assert "Territoire inconnu : « Atlantide »." in table
    assert "<code>Licorne</code>" in table and "<code>=1+1</code>" in table
    assert "Formule : saisissez la valeur elle-même." in table


def test_the_preview_lists_the_rows_to_create_and_to_update(staff: User, lens) -> None:
    siret = siret_with_key("73282932")
    existing = OrganisationFactory(name="Gîtes du Terril", siret=siret, city="Lens")
    _token, preview = run_import(client_for(staff), workbook(ORGANISATIONS))

    page = html.unescape(preview.content.decode())
    writes = page[page.index('id="import-writes"') :]
    assert "création" in writes and "Office de tourisme de Lens" in writes
    assert f'href="{existing.get_absolute_url()}">Gîtes du Terril</a>' in writes
    assert "mise à jour" in writes and "Commune" in writes  # what the update changes
    assert not Organisation.objects.filter(name="Office de tourisme de Lens").exists()


def test_with_bad_rows_the_good_ones_can_be_applied_and_the_rest_come_back_to_fix(
    staff: User, lens
) -> None:
    client = client_for(staff)
    token, preview = run_import(client, workbook([*ORGANISATIONS, BAD]))
    page = html.unescape(preview.content.decode())
    assert "Importer les 2 lignes valides" in page
    assert "Appliquer l'import" not in page

    fix = client.get(reverse("crm:import_rows_to_fix", args=[token]))
    assert fix["Content-Disposition"].startswith("attachment")
    assert _sheet(fix.content) == [
        (*ORGANISATIONS[0], "À corriger"),
        # Empty cells stay empty (openpyxl reads them as None).
        (
            *BAD[:2],
            None,
            "Lens",
            "Atlantide",
            None,
            "Territoire : Territoire inconnu : « Atlantide ».",
        ),
    ]

    done = client.post(reverse("crm:import_apply", args=[token]), {"leave_bad": "1"}, follow=True)
    assert "2 créé(s), 0 mis à jour, 0 inchangé(s)" in html.unescape(done.content.decode())
    assert "1 ligne(s) laissée(s) de côté" in html.unescape(done.content.decode())
    assert set(Organisation.objects.values_list("name", flat=True)) == {
        "Gîtes du Terril",
        "Office de tourisme de Lens",
    }
    job = Job.objects.get(owner=staff)
    assert job.filename == "liste-lignes-a-corriger.xlsx"
    with job.file.open("rb") as stored:
        rows = _sheet(stored.read())
    assert rows[1][0] == "Brasserie du Louvre" and rows[1][-1].startswith("Territoire :")


def test_the_fixed_rows_import_again_as_they_are(staff: User, lens) -> None:
    client = client_for(staff)
    token, _preview = run_import(client, workbook([*ORGANISATIONS, BAD]))
    client.post(reverse("crm:import_apply", args=[token]), {"leave_bad": "1"})
    job = Job.objects.get(owner=staff)
    with job.file.open("rb") as stored:
        sheet = [list(row) for row in _sheet(stored.read())]
    sheet[1][4] = "Lens-Liévin"  # the person fixes the territory

    token, preview = run_import(client, workbook(sheet))
    assert (preview.context["plan"].created, preview.context["plan"].errors) == (1, [])
    client.post(reverse("crm:import_apply", args=[token]), follow=True)
    assert Organisation.objects.get(name="Brasserie du Louvre").territory == lens


def test_applying_the_good_rows_is_still_one_transaction(staff: User, lens) -> None:
    OrganisationFactory(name="Gîtes du Terril", siret=siret_with_key("73282932"), city="Lens")
    client = client_for(staff)
    token, _preview = run_import(client, workbook([*ORGANISATIONS, BAD]))
    save = imports.OrganisationImport.save

    def fail_on_update(self, instances, *, created):
        if not created:
            raise IntegrityError("taken meanwhile")
        save(self, instances, created=created)

    with mock.patch.object(imports.OrganisationImport, "save", fail_on_update):
        done = client.post(
            reverse("crm:import_apply", args=[token]), {"leave_bad": "1"}, follow=True
        )

    assert "rien n'a été importé" in html.unescape(done.content.decode())
    assert not Organisation.objects.filter(name="Office de tourisme de Lens").exists()
    assert Organisation.objects.get(name="Gîtes du Terril").city == "Lens"


def test_without_the_choice_one_bad_row_still_stops_everything(staff: User, lens) -> None:
    client = client_for(staff)
    token, _preview = run_import(client, workbook([*ORGANISATIONS, BAD]))
    client.post(reverse("crm:import_apply", args=[token]), follow=True)
    assert not Organisation.objects.exists()


LEADS = ["Intitulé", "Investisseur", "Secteur", "Territoire", "Source", "Marché d'origine"]
LEAD = ["Hôtel de 80 chambres", "Inconnue SA", "Hôtellerie", "Lens-Liévin", "Réseau", "BE"]


def test_an_officer_refused_for_an_unknown_organisation_is_told_what_to_do(
    officer: User, lens
) -> None:
    _token, preview = run_import(client_for(officer), workbook([LEADS, LEAD]), kind="leads")

    page = html.unescape(preview.content.decode())
    assert "Organisation inconnue : « Inconnue SA ». Créez-la d'abord" in page
    assert "n'existe pas encore dans le CRM" in page and "Inconnue SA" in page
    assert f'href="{reverse("crm:organisation_create")}"' in page
    assert "Importer des organisations" not in page  # not what an officer may do
    assert "Importez-la d'abord" not in page
    assert not Lead.objects.exists()


def test_staff_are_offered_the_organisation_import(staff: User, lens) -> None:
    _token, preview = run_import(client_for(staff), workbook([LEADS, LEAD]), kind="leads")
    page = html.unescape(preview.content.decode())
    assert "Organisation inconnue : « Inconnue SA ». Importez-la d'abord" in page
    assert f"{reverse('crm:import_start')}?kind=organisations" in page


def test_the_rows_to_fix_are_the_importers_own(staff: User, officer: User, lens) -> None:
    token, _preview = run_import(client_for(staff), workbook([*ORGANISATIONS, BAD]))
    url = reverse("crm:import_rows_to_fix", args=[token])
    assert client_for(officer).get(url).status_code == 404
