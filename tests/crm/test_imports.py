"""Excel imports of organisations and contacts: mapping, dry run, all-or-nothing apply,
idempotent re-import, and every kind of bad file (issue 6)."""

from __future__ import annotations

import io
import time
import tracemalloc
import zipfile
from collections.abc import Iterable
from typing import Any

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm import imports
from crm.models import AuditEntry, Contact, Organisation, Role, User
from tests.factories import OrganisationFactory, TerritoryFactory, UserFactory, siret_with_key
from tests.helpers import client_for

pytestmark = pytest.mark.django_db


def workbook(rows: list[list[Any]], *, merge: str | None = None) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    if merge:
        sheet.merge_cells(merge)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def start(client: Client, data: bytes, kind: str = "organisations", name: str = "liste.xlsx"):
    return client.post(
        reverse("crm:import_start"),
        {"kind": kind, "file": SimpleUploadedFile(name, data)},
    )


def token_of(response) -> str:
    assert response.status_code == 302, response.content.decode()[:500]
    return response["Location"].split("/imports/")[1].split("/")[0]


def run_import(client: Client, data: bytes, kind: str = "organisations"):
    """Upload, accept the guessed mapping, dry run; (token, preview response)."""
    token = token_of(start(client, data, kind))
    form = client.get(reverse("crm:import_map", args=[token])).context["form"]
    posted = {name: form.initial.get(name, "") for name in form.fields}
    response = client.post(reverse("crm:import_map", args=[token]), posted)
    assert response.status_code == 302, response.content.decode()[:800]
    return token, client.get(reverse("crm:import_preview", args=[token]))


def raw_workbook(rows: Iterable[bytes], *, dimension: str | None = None) -> bytes:
    """An xlsx written by hand, as other programs write them: `rows` are the sheet's <row>
    elements, with or without a <dimension> (openpyxl always writes a true one)."""
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    relationships = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    package = "http://schemas.openxmlformats.org/package/2006/relationships"
    office = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package'
            '.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{office}.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" '
            f'ContentType="{office}.worksheet+xml"/></Types>',
        )
        archive.writestr(
            "_rels/.rels",
            f'<Relationships xmlns="{package}"><Relationship Id="rId1" '
            f'Type="{relationships}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        archive.writestr(
            "xl/workbook.xml",
            f'<workbook xmlns="{main}" xmlns:r="{relationships}"><sheets>'
            '<sheet name="Feuil1" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        archive.writestr(
            "xl/_rels/workbook.xml.rels",
            f'<Relationships xmlns="{package}"><Relationship Id="rId1" '
            f'Type="{relationships}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
        )
        with archive.open("xl/worksheets/sheet1.xml", "w") as sheet:
            sheet.write(f'<worksheet xmlns="{main}">'.encode())
            if dimension:
                sheet.write(f'<dimension ref="{dimension}"/>'.encode())
            sheet.write(b"<sheetData>")
            for row in rows:
                sheet.write(row)
            sheet.write(b"</sheetData></worksheet>")
    return out.getvalue()


def text_row(number: int, *cells: tuple[str, str]) -> bytes:
    """<row> `number` with inline text in the given (column, text) cells."""
    return (
        f'<row r="{number}">'
        + "".join(
            f'<c r="{column}{number}" t="inlineStr"><is><t>{text}</t></is></c>'
            for column, text in cells
        )
        + "</row>"
    ).encode()


@pytest.fixture(scope="module")
def million_rows() -> bytes:
    """A header and 1,000,000 organisations, without a <dimension>: 8 MB, 90 MB inflated."""

    def rows() -> Iterable[bytes]:
        yield text_row(1, ("A", "Nom"))
        for start in range(2, 1_000_002, 10_000):
            yield b"".join(
                b'<row r="%d"><c r="A%d" t="inlineStr"><is><t>Organisation %d</t></is></c></row>'
                % (n, n, n)
                for n in range(start, start + 10_000)
            )

    return raw_workbook(rows())


@pytest.fixture
def lens(db: None):
    return TerritoryFactory(name="Lens-Liévin", slug="lens-lievin")


ORGANISATIONS = [
    ["Nom", "Type", "SIRET", "Commune", "Territoire", "E-mail"],
    [
        "Gîtes du Terril",
        "Entreprise",
        siret_with_key("73282932"),
        "Loos-en-Gohelle",
        "Lens-Liévin",
        "gites@example.org",
    ],
    ["Office de tourisme de Lens", "Office de tourisme", "", "Lens", "lens-lievin", ""],
]


@pytest.mark.storage
def test_organisations_dry_run_then_apply_then_reimport_changes_nothing(staff: User, lens) -> None:
    client = client_for(staff)
    data = workbook(ORGANISATIONS)

    token, preview = run_import(client, data)
    page = preview.content.decode()
    assert preview.context["plan"].created == 2
    assert "Appliquer l'import" in page
    assert not Organisation.objects.exists()  # a dry run writes nothing

    applied = client.post(reverse("crm:import_apply", args=[token]), follow=True)
    assert "2 créé(s), 0 mis à jour, 0 inchangé(s)" in applied.content.decode()
    gites = Organisation.objects.get(name="Gîtes du Terril")
    assert (gites.kind, gites.territory, gites.city) == ("business", lens, "Loos-en-Gohelle")
    assert Organisation.objects.get(name="Office de tourisme de Lens").kind == "tourist_office"

    token, again = run_import(client, data)
    plan = again.context["plan"]
    assert (plan.created, plan.updated, plan.unchanged) == (0, 0, 2)
    client.post(reverse("crm:import_apply", args=[token]))
    assert Organisation.objects.count() == 2


def test_an_update_changes_only_what_the_file_says(staff: User, lens) -> None:
    siret = siret_with_key("73282932")
    existing = OrganisationFactory(name="Gîtes du Terril", siret=siret, city="Liévin", phone="0321")
    client = client_for(staff)
    data = workbook(
        [
            ["Nom", "SIRET", "Commune", "Téléphone"],
            ["Gîtes du Terril", siret, "Loos-en-Gohelle", ""],
        ]
    )

    token, preview = run_import(client, data)
    assert preview.context["plan"].updated == 1
    client.post(reverse("crm:import_apply", args=[token]))

    existing.refresh_from_db()
    assert existing.city == "Loos-en-Gohelle"
    assert existing.phone == "0321"  # an empty cell erases nothing


def test_one_bad_row_means_nothing_is_written(staff: User, lens) -> None:
    rows = [*ORGANISATIONS, ["Brasserie", "Entreprise", "12345678901234", "Lens", "Atlantide", ""]]
    client = client_for(staff)

    token, preview = run_import(client, workbook(rows))
    errors = preview.context["plan"].errors
    refused = client.post(reverse("crm:import_apply", args=[token]), follow=True)

    assert Organisation.objects.count() == 0
    assert "rien n&#x27;a été importé" in refused.content.decode()
    assert (4, "Territoire", "Territoire inconnu : « Atlantide ».") in errors
    assert any(row == 4 and column == "SIRET" for row, column, _reason in errors)
    assert "Appliquer l'import" not in preview.content.decode()


def test_the_error_report_lists_every_bad_row(staff: User, lens) -> None:
    rows = [ORGANISATIONS[0], ["", "Entreprise", "", "", "", ""], ["X", "Inconnu", "", "", "", ""]]
    client = client_for(staff)
    token, _preview = run_import(client, workbook(rows))

    response = client.get(reverse("crm:import_errors", args=[token]))

    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    found = list(sheet.iter_rows(min_row=2, values_only=True))
    assert (2, "Nom", "Valeur obligatoire.") in found
    assert any(row == 3 and column == "Type" for row, column, _reason in found)
    assert response["Content-Disposition"].startswith("attachment")


def test_contacts_with_english_headers_and_dates_as_text(staff: User, lens) -> None:
    siret = siret_with_key("73282932")
    OrganisationFactory(name="Gîtes du Terril", siret=siret)
    OrganisationFactory(name="Office de Lens")
    rows = [
        ["Last name", "First name", "Email", "Company", "Legal basis", "Consent date"],
        ["Martin", "Léa", "LEA@example.org", siret, "Consent", "03/02/2025"],
        [
            "Dubois",
            "Paul",
            "paul@example.org",
            "Office de Lens",
            "Legitimate interest",
            "2025-02-04",
        ],
        ["Leroy", "Inès", "ines@example.org", "office de lens", "consentement", "5.2.2025"],
    ]
    client = client_for(staff)

    token, preview = run_import(client, workbook(rows), kind="contacts")
    assert preview.context["plan"].created == 3, preview.context["plan"].errors
    client.post(reverse("crm:import_apply", args=[token]))

    lea = Contact.objects.get(email="lea@example.org")
    assert (lea.organisation.siret, lea.legal_basis) == (siret, "consent")
    assert lea.consent_given_at.date().isoformat() == "2025-02-03"
    assert Contact.objects.get(email="ines@example.org").consent_given_at.day == 5


def test_duplicate_keys_inside_one_file(staff: User, lens) -> None:
    siret = siret_with_key("73282932")
    rows = [["Nom", "SIRET"], ["Gîtes", siret], ["Gîtes bis", siret]]

    _token, preview = run_import(client_for(staff), workbook(rows))

    assert (3, "SIRET", "Même SIRET que la ligne 2.") in preview.context["plan"].errors


def test_formulas_are_refused_cell_by_cell(staff: User, lens) -> None:
    rows = [["Nom", "Commune"], ["Gîtes", '=HYPERLINK("http://evil.test","x")']]

    _token, preview = run_import(client_for(staff), workbook(rows))

    assert preview.context["plan"].errors == [
        (2, "Commune", "Formule : saisissez la valeur elle-même.")
    ]


def test_merged_header_cells_leave_the_column_out(staff: User, lens) -> None:
    rows: list[list[Any]] = [["Nom", None, "Commune"], ["Gîtes", "ignoré", "Lens"]]

    _token, preview = run_import(client_for(staff), workbook(rows, merge="A1:B1"))

    assert preview.context["plan"].created == 1
    assert preview.context["staged"].headers == ["Nom", "", "Commune"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"%PDF-1.7 not a workbook", "n&#x27;est pas un classeur Excel"),
        (b"", "Le fichier soumis est vide."),
        ("zip", "n&#x27;est pas un classeur Excel"),
        ("bomb", "anormalement volumineux"),
    ],
)
def test_bad_files_are_refused_with_a_message(staff: User, data: Any, message: str) -> None:
    if data == "zip":
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as archive:
            archive.writestr("notes.txt", "bonjour")
        data = out.getvalue()
    elif data == "bomb":
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("[Content_Types].xml", "<Types/>")
            archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (50 * 1024 * 1024))
        data = out.getvalue()

    response = start(client_for(staff), data)

    assert response.status_code == 400
    assert message in response.content.decode()


def test_a_file_with_only_headers(staff: User) -> None:
    client = client_for(staff)
    token = token_of(start(client, workbook([ORGANISATIONS[0]])))
    client.post(reverse("crm:import_map", args=[token]), {"column_0": "name"})

    response = client.get(reverse("crm:import_preview", args=[token]), follow=True)

    assert "aucune ligne de données" in response.content.decode()


def test_too_many_rows_are_refused(staff: User, settings) -> None:
    settings.IMPORT_MAX_ROWS = 5
    rows = [["Nom"], *([f"Organisation {n}"] for n in range(8))]
    client = client_for(staff)
    token = token_of(start(client, workbook(rows)))
    client.post(reverse("crm:import_map", args=[token]), {"column_0": "name"})

    response = client.get(reverse("crm:import_preview", args=[token]), follow=True)

    assert "dépasse 5 lignes" in response.content.decode()
    assert not Organisation.objects.exists()


def test_a_million_rows_are_refused_at_the_limit_in_bounded_memory(
    staff: User, settings, million_rows: bytes
) -> None:
    """openpyxl would read a sheet without <dimension> to its end just to open it (75 MB and
    8 s here); the import reads rows as they come and stops at the limit."""
    settings.IMPORT_MAX_ROWS = 1000
    client = client_for(staff)
    token = token_of(start(client, million_rows))
    client.post(reverse("crm:import_map", args=[token]), {"column_0": "name"})

    tracemalloc.start()
    began = time.perf_counter()
    try:
        response = client.get(reverse("crm:import_preview", args=[token]), follow=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert "dépasse 1000 lignes" in response.content.decode()
    assert peak < 16 * 1024 * 1024, f"{peak / 1024 / 1024:.0f} MB"
    assert time.perf_counter() - began < 20  # a generous bound: about 1 s on a quiet machine
    assert not Organisation.objects.exists()


def test_declared_dimensions_do_not_decide_what_is_read(staff: User) -> None:
    """A sheet claiming the whole grid (A1:XFD1048576) would otherwise be padded to 16,384
    columns and read down to its millionth row; its rows are read as they are."""
    data = raw_workbook(
        [text_row(1, ("A", "Nom"), ("B", "Commune")), text_row(2, ("A", "Gîtes"), ("B", "Lens"))],
        dimension="A1:XFD1048576",
    )

    headers, rows = imports.read_rows(io.BytesIO(data))

    assert headers == ["Nom", "Commune"]
    assert list(rows) == [(2, ("Gîtes", "Lens"))]


def test_the_header_is_the_first_row_with_something_in_it(staff: User, lens) -> None:
    data = raw_workbook(
        [
            text_row(3, ("B", "Nom"), ("C", "Territoire")),
            text_row(5, ("B", "Gîtes du Terril"), ("C", "Lens-Liévin")),
            text_row(15_000, ("B", "Office de tourisme"), ("C", "Nulle part")),
        ]
    )

    _token, preview = run_import(client_for(staff), data)

    plan = preview.context["plan"]
    assert plan.created == 1
    assert [(number, column) for number, column, _reason in plan.errors] == [(15_000, "Territoire")]


def test_a_header_wider_than_any_list_is_refused(staff: User) -> None:
    columns = [openpyxl.utils.get_column_letter(n) for n in range(1, 16_385)]
    data = raw_workbook([text_row(1, *((column, f"Colonne {column}") for column in columns))])

    response = start(client_for(staff), data)

    assert response.status_code == 400
    assert "16384 colonnes, au-delà de 200" in response.content.decode()


def test_a_required_field_must_be_mapped(staff: User) -> None:
    client = client_for(staff)
    token = token_of(start(client, workbook([["Colonne"], ["x"]])))

    response = client.post(reverse("crm:import_map", args=[token]), {"column_0": ""})

    assert response.status_code == 400
    assert "Associez une colonne à : Nom" in response.content.decode()


def test_the_dry_run_reads_in_batches(staff: User, lens) -> None:
    rows = [["Nom", "Territoire"], *([f"Organisation {n}", "Lens-Liévin"] for n in range(2500))]
    mapping = {0: "name", 1: "territory"}

    with CaptureQueriesContext(connection) as queries:
        plan = imports.plan_import("organisations", io.BytesIO(workbook(rows)), mapping, by=staff)

    assert plan.created == 2500
    assert len(queries) <= 12  # a few per batch of 1,000 rows, not one per row


@pytest.mark.parametrize("role", ["designer", "officer", "holder"])
def test_imports_are_for_staff(role: str, personas: dict[str, User], staff: User) -> None:
    """Organisation and contact imports; officers import leads only (tests/prospects)."""
    token = token_of(start(client_for(staff), workbook(ORGANISATIONS)))
    client = client_for(personas[role])

    assert client.get(reverse("crm:import_start")).status_code == (
        200 if role == "officer" else 404
    )
    for name in ["import_map", "import_preview", "import_errors"]:
        assert client.get(reverse(f"crm:{name}", args=[token])).status_code == 404
    assert client.post(reverse("crm:import_apply", args=[token])).status_code == 404


@pytest.mark.storage
def test_an_import_belongs_to_its_starter_not_to_a_session(staff: User) -> None:
    token = token_of(start(client_for(staff), workbook(ORGANISATIONS)))
    same = client_for(staff)  # the same person in another browser: another session
    colleague = client_for(UserFactory(role=Role.STAFF))

    assert same.get(reverse("crm:import_map", args=[token])).status_code == 200
    assert colleague.get(reverse("crm:import_map", args=[token])).status_code == 404


def test_consent_without_its_date_is_a_row_error(staff: User) -> None:
    OrganisationFactory(name="Office de Lens")
    rows = [
        ["Nom", "E-mail", "Organisation", "Base légale"],
        ["Martin", "m@example.org", "Office de Lens", "Consentement"],
    ]

    _token, preview = run_import(client_for(staff), workbook(rows), kind="contacts")

    assert preview.context["plan"].errors == [
        (
            2,
            "Consentement le",
            "Indiquez la date du consentement lorsque la base légale est le consentement.",
        )
    ]


def test_the_siret_decides_which_organisation_a_row_is(staff: User) -> None:
    siret = siret_with_key("73282932")
    known = OrganisationFactory(name="Gîtes du Terril SARL", siret=siret)
    OrganisationFactory(name="Gîtes du Terril")
    rows = [["Nom", "SIRET"], ["Gîtes du Terril", siret]]

    plan = imports.apply_import(
        "organisations", io.BytesIO(workbook(rows)), {0: "name", 1: "siret"}, by=staff
    )

    known.refresh_from_db()
    assert (plan.created, plan.updated) == (0, 1)
    assert known.name == "Gîtes du Terril"
    assert Organisation.objects.count() == 2


def test_the_mapping_is_remembered_for_the_next_file(staff: User, lens) -> None:
    """A column the guess cannot name, mapped once by hand, maps itself the next time; a
    column the person chose not to import stays out."""
    client = client_for(staff)
    data = workbook([["Raison", "Territoire", "Ville"], ["Gîtes du Terril", "Lens-Liévin", "Lens"]])
    token = token_of(start(client, data))
    form = client.get(reverse("crm:import_map", args=[token])).context["form"]
    assert form.initial == {"column_1": "territory", "column_2": "city"}
    client.post(
        reverse("crm:import_map", args=[token]),
        {"column_0": "name", "column_1": "territory", "column_2": ""},
    )

    # Another file, its columns in another order, and one new column.
    data = workbook([["Ville", "E-mail", "Raison"], ["Lens", "a@example.org", "Gîtes"]])
    token = token_of(start(client, data))
    form = client.get(reverse("crm:import_map", args=[token])).context["form"]

    assert form.initial == {"column_1": "email", "column_2": "name"}
    other = client_for(UserFactory(username="staff2", role="staff"))
    token = token_of(start(other, data))
    assert other.get(reverse("crm:import_map", args=[token])).context["form"].initial == {
        "column_0": "city",
        "column_1": "email",
    }


def test_every_imported_change_is_in_the_audit_trail(staff: User, lens) -> None:
    siret = siret_with_key("73282932")
    existing = OrganisationFactory(name="Gîtes du Terril", siret=siret, city="Liévin")
    rows = [["Nom", "SIRET", "Commune"], ["Gîtes du Terril", siret, "Lens"], ["Musée", "", "Lens"]]
    mapping = {0: "name", 1: "siret", 2: "city"}

    with CaptureQueriesContext(connection) as queries:
        imports.apply_import(
            "organisations", io.BytesIO(workbook(rows)), mapping, by=staff, source="liste.xlsx"
        )

    entries = AuditEntry.objects.filter(record_type="crm.organisation")
    changed = entries.get(record_id=existing.pk)
    assert (changed.action, changed.field, changed.old_value, changed.new_value) == (
        "changed",
        "city",
        "Liévin",
        "Lens",
    )
    created = Organisation.objects.get(name="Musée")
    assert set(
        entries.filter(record_id=created.pk).values_list("action", "field", "new_value")
    ) >= {("created", "name", "Musée"), ("created", "city", "Lens")}
    assert {entry.detail for entry in entries} == {"Import du fichier « liste.xlsx »"}
    assert {entry.by for entry in entries} == {staff}
    assert len(queries) <= 12  # the trail is written in batches, not one query per row


@pytest.mark.storage
def test_abandoned_imports_are_purged_with_their_files(staff: User, lens) -> None:
    from datetime import timedelta

    from django.core.files.storage import default_storage
    from django.core.management import call_command
    from django.utils import timezone

    from crm.models import StagedImport

    client = client_for(staff)
    old = token_of(start(client, workbook(ORGANISATIONS)))
    fresh = token_of(start(client, workbook(ORGANISATIONS)))
    StagedImport.objects.filter(pk=old).update(updated_at=timezone.now() - timedelta(hours=30))

    out = io.StringIO()
    call_command("purge_imports", dry_run=True, stdout=out)
    assert "1 import(s) untouched for 24 h would be deleted." in out.getvalue()
    assert default_storage.exists(f"imports/{old}.xlsx")
    call_command("purge_imports", stdout=io.StringIO())

    assert not default_storage.exists(f"imports/{old}.xlsx")
    assert default_storage.exists(f"imports/{fresh}.xlsx")
    # The abandoned import is gone for its starter too, with a 404 rather than an error.
    assert client.get(reverse("crm:import_map", args=[old])).status_code == 404
    assert client.get(reverse("crm:import_map", args=[fresh])).status_code == 200
