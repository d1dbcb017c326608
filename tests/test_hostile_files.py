"""Hostile files against every endpoint that takes a file (DESIGN §3, §8).

One table of files — real ones of each accepted type, and damaged, truncated, polyglot and
disguised ones — is posted to every upload endpoint in `ENDPOINTS`. A file is accepted only
where its type is accepted and only when it is that type as a whole; otherwise the person is
told why and nothing is stored (no row, no file). A new upload endpoint is covered by adding
it to `ENDPOINTS`; a new kind of hostile file by adding it to `FILES`.
"""

from __future__ import annotations

import html
import io
import zipfile
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

import pytest
from django.apps import apps
from django.contrib import admin
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import FileField
from django.test import Client, RequestFactory
from django.urls import reverse
from openpyxl import Workbook
from PIL import Image
from pypdf import PdfWriter

from crm.models import Organisation, User
from crm.uploads import DOCUMENT_KINDS, IMAGE_KINDS, UploadKind
from projects.demo import demo_pdf
from projects.models import DeliverableVersion
from prospects.models import SitePhoto
from tests.factories import OrganisationFactory, ProjectFactory, SiteFactory

pytestmark = pytest.mark.django_db

# The files ------------------------------------------------------------------------------------

OOXML_MAIN = {
    UploadKind.DOCX: (
        "word/document.xml",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        "<w:body><w:p><w:r><w:t>Cahier des charges</w:t></w:r></w:p></w:body></w:document>",
    ),
    UploadKind.PPTX: (
        "ppt/presentation.xml",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml",
        '<p:presentation xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"/>',
    ),
}
ODF = {
    UploadKind.ODT: "application/vnd.oasis.opendocument.text",
    UploadKind.ODS: "application/vnd.oasis.opendocument.spreadsheet",
    UploadKind.ODP: "application/vnd.oasis.opendocument.presentation",
}
HTML = b"<html><body><script>alert(document.cookie)</script></body></html>\n"


def zipped(entries: list[tuple[str, bytes | str]], *, stored: bool = False) -> bytes:
    out = io.BytesIO()
    method = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(out, "w", method) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return out.getvalue()


def ooxml_entries(kind: UploadKind, *, main: str | None = None) -> list[tuple[str, bytes | str]]:
    part, content_type, body = OOXML_MAIN[kind]
    return [
        (
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/{part}" ContentType="{content_type}"/></Types>',
        ),
        (part, '<?xml version="1.0" encoding="UTF-8"?>' + (body if main is None else main)),
    ]


def odf_entries(kind: UploadKind, *, content: str | None = None) -> list[tuple[str, bytes | str]]:
    mimetype = ODF[kind]
    return [
        ("mimetype", mimetype),
        (
            "META-INF/manifest.xml",
            '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:'
            f'manifest:1.0"><manifest:file-entry manifest:full-path="/" '
            f'manifest:media-type="{mimetype}"/></manifest:manifest>',
        ),
        (
            "content.xml",
            content
            or '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:'
            'office:1.0"><office:body/></office:document-content>',
        ),
    ]


def odf(kind: UploadKind, **kwargs: Any) -> bytes:
    entries = odf_entries(kind, **kwargs)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        # The mimetype first and uncompressed, as the OpenDocument format requires.
        archive.writestr(entries[0][0], entries[0][1], compress_type=zipfile.ZIP_STORED)
        for name, data in entries[1:]:
            archive.writestr(name, data)
    return out.getvalue()


def xlsx(rows: list[list[Any]] | None = None) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    for row in rows or [["Nom", "Commune"], ["Gîtes du Terril", "Loos-en-Gohelle"]]:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def rezipped(data: bytes, change: Callable[[str, bytes], bytes | None]) -> bytes:
    """The same package with `change(name, bytes)` applied to each member (None drops it);
    the checksums are those of the new bytes, so only the content itself is damaged."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        entries = [
            (info.filename, change(info.filename, archive.read(info)))
            for info in archive.infolist()
        ]
    return zipped([(name, body) for name, body in entries if body is not None])


def cut(data: bytes, share: float = 0.6) -> bytes:
    return data[: int(len(data) * share)]


def image(fmt: str) -> bytes:
    picture = Image.new("RGB", (64, 48), "#1d1d1b")
    out = io.BytesIO()
    picture.save(out, fmt)
    return out.getvalue()


def pdf_without_pages() -> bytes:
    writer = PdfWriter()
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def encrypted_pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    writer.encrypt(user_password="secret", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def crc_broken(data: bytes, marker: bytes) -> bytes:
    """A stored (uncompressed) member whose bytes no longer match its CRC-32."""
    position = data.index(marker)
    return data[:position] + bytes([data[position] ^ 0x20]) + data[position + 1 :]


PDF = demo_pdf("Planche de tendances", ["Corons, brique et terrils."])
DOCX = zipped(ooxml_entries(UploadKind.DOCX))
XLSX = xlsx()
JPEG, PNG, WEBP = image("JPEG"), image("PNG"), image("WEBP")

NOTHING: AbstractSet[UploadKind] = frozenset()
ZIPPED = frozenset(DOCUMENT_KINDS - {UploadKind.PDF})

# Messages, as fragments of what the person reads.
DAMAGED = "endommagé ou incomplet"
UNREADABLE_IMAGE = "Cette image est illisible ou incomplète."
ENCRYPTED = "protégé par un mot de passe"


@dataclass(frozen=True)
class HostileFile:
    name: str
    data: bytes
    claims: AbstractSet[UploadKind]  # the types its first bytes claim (none: no accepted type)
    whole: bool = True  # is it that type as a whole?
    message: str = DAMAGED  # what the person is told when it is not
    payload: bytes | None = None  # bytes that must never reach storage


FILES = [
    # Real files of every accepted type.
    HostileFile("cahier.pdf", PDF, {UploadKind.PDF}),
    HostileFile("note.docx", DOCX, {UploadKind.DOCX}),
    HostileFile("tableau.xlsx", XLSX, {UploadKind.XLSX}),
    HostileFile("support.pptx", zipped(ooxml_entries(UploadKind.PPTX)), {UploadKind.PPTX}),
    HostileFile("texte.odt", odf(UploadKind.ODT), {UploadKind.ODT}),
    HostileFile("calcul.ods", odf(UploadKind.ODS), {UploadKind.ODS}),
    HostileFile("diapos.odp", odf(UploadKind.ODP), {UploadKind.ODP}),
    HostileFile("photo.jpg", JPEG, {UploadKind.JPEG}),
    HostileFile("plan.png", PNG, {UploadKind.PNG}),
    HostileFile("vue.webp", WEBP, {UploadKind.WEBP}),
    # PDF: the signature alone, cut off, with a page after it, with no page, locked.
    HostileFile(
        "signature.pdf",
        b"%PDF-1.7\n" + HTML + b"%%EOF\n",
        {UploadKind.PDF},
        whole=False,
        payload=b"<script>",
    ),
    HostileFile("coupe.pdf", cut(PDF), {UploadKind.PDF}, whole=False),
    HostileFile("suivi.pdf", PDF + HTML, {UploadKind.PDF}, whole=False, payload=b"<script>"),
    HostileFile("vide.pdf", pdf_without_pages(), {UploadKind.PDF}, whole=False),
    HostileFile("verrou.pdf", encrypted_pdf(), {UploadKind.PDF}, whole=False, message=ENCRYPTED),
    # Office and OpenDocument: cut off, something after or before the zip, XML cut off or
    # malformed, a checksum that does not match, the main part missing, a DTD (XML bombs).
    # A zip cut off has lost its directory, and with it which kind of document it was.
    HostileFile("coupe.docx", cut(DOCX), ZIPPED, whole=False),
    HostileFile("suivi.docx", DOCX + HTML, {UploadKind.DOCX}, whole=False, payload=b"<script>"),
    HostileFile("devant.docx", HTML + DOCX, NOTHING),
    HostileFile(
        "xml-coupe.docx",
        rezipped(DOCX, lambda name, body: cut(body) if name.startswith("word/") else body),
        {UploadKind.DOCX},
        whole=False,
    ),
    HostileFile(
        "crc.docx",
        crc_broken(zipped(ooxml_entries(UploadKind.DOCX), stored=True), b"Cahier"),
        {UploadKind.DOCX},
        whole=False,
    ),
    HostileFile(
        "sans-document.docx",
        rezipped(DOCX, lambda name, body: None if name.startswith("word/") else body),
        NOTHING,  # without its main part it is no Word file at all
    ),
    HostileFile(
        "entites.docx",
        zipped(
            ooxml_entries(
                UploadKind.DOCX,
                main='<!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><d>&b;</d>',
            )
        ),
        {UploadKind.DOCX},
        whole=False,
    ),
    HostileFile(
        "feuille-coupee.xlsx",
        rezipped(XLSX, lambda name, body: cut(body) if "worksheets/" in name else body),
        {UploadKind.XLSX},
        whole=False,
    ),
    HostileFile("coupe.xlsx", cut(XLSX), ZIPPED, whole=False),
    HostileFile(
        "contenu-coupe.odt",
        odf(UploadKind.ODT, content='<office:document-content xmlns:office="urn:x"><office:b'),
        {UploadKind.ODT},
        whole=False,
    ),
    # Images: cut off (refused), or carrying a page or an archive after them (accepted, but
    # re-encoded: the payload never reaches storage).
    HostileFile("coupe.jpg", cut(JPEG), {UploadKind.JPEG}, whole=False, message=UNREADABLE_IMAGE),
    HostileFile("coupe.png", cut(PNG), {UploadKind.PNG}, whole=False, message=UNREADABLE_IMAGE),
    HostileFile("coupe.webp", cut(WEBP), {UploadKind.WEBP}, whole=False, message=UNREADABLE_IMAGE),
    HostileFile("page.jpg", JPEG + HTML, {UploadKind.JPEG}, payload=b"<script>"),
    HostileFile("archive.png", PNG + DOCX, {UploadKind.PNG}, payload=b"word/document.xml"),
    # Disguised: a page or a drawing under an image's or a document's name.
    HostileFile("photo.jpg", HTML, NOTHING),
    HostileFile(
        "dessin.png", b'<svg xmlns="http://www.w3.org/2000/svg"><script>1</script></svg>', NOTHING
    ),
    HostileFile("note.docx", b"PK\x03\x04" + HTML, ZIPPED, whole=False),
]


# The endpoints --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    name: str
    accepts: frozenset[UploadKind]
    post: Callable[[Client, SimpleUploadedFile], Any]
    rows: Callable[[], int]
    type_message: str = "Ce type de fichier n'est pas accepté"


def post_deliverable(client: Client, file: SimpleUploadedFile) -> Any:
    project = ProjectFactory(state="listen")
    url = reverse("projects:deliverable_upload", args=[project.pk])
    return client.post(url, {"kind": "trend_board", "title": "Planche", "file": file}, follow=True)


def post_logo(client: Client, file: SimpleUploadedFile) -> Any:
    organisation = OrganisationFactory()
    url = reverse("crm:organisation_edit", args=[organisation.pk])
    data = {
        "name": organisation.name,
        "kind": organisation.kind,
        "sector": organisation.sector,
        "new_logo": file,
    }
    return client.post(url, data, follow=True)


def post_site_photo(client: Client, file: SimpleUploadedFile) -> Any:
    site = SiteFactory()
    url = reverse("prospects:site_photo_upload", args=[site.pk])
    return client.post(url, {"image": file, "caption": "Vue"}, follow=True)


def post_import(client: Client, file: SimpleUploadedFile) -> Any:
    return client.post(reverse("crm:import_start"), {"kind": "organisations", "file": file})


ENDPOINTS = [
    Endpoint(
        "deliverable",
        IMAGE_KINDS | DOCUMENT_KINDS,
        post_deliverable,
        DeliverableVersion.objects.count,
    ),
    Endpoint(
        "logo",
        IMAGE_KINDS,
        post_logo,
        lambda: Organisation.objects.exclude(logo="").count(),
    ),
    Endpoint("site photo", IMAGE_KINDS, post_site_photo, SitePhoto.objects.count),
    Endpoint(
        # A workbook is staged (one file) and read in the next steps, as tested below.
        "import",
        frozenset({UploadKind.XLSX}),
        post_import,
        lambda: 0,
        type_message="Ce fichier n'est pas un classeur Excel (.xlsx).",
    ),
]


def stored_files(folder: str = "") -> dict[str, bytes]:
    """Every file in the (in-memory) default storage, by name."""
    if folder and not default_storage.exists(folder):
        return {}
    folders, files = default_storage.listdir(folder)
    found = {}
    for name in files:
        path = f"{folder}/{name}" if folder else name
        with default_storage.open(path, "rb") as handle:
            found[path] = handle.read()
    for sub in folders:
        found.update(stored_files(f"{folder}/{sub}" if folder else sub))
    return found


def cases() -> list[Any]:
    return [
        pytest.param(endpoint, file, id=f"{endpoint.name}-{file.name}-{index}")
        for endpoint in ENDPOINTS
        for index, file in enumerate(FILES)
    ]


@pytest.mark.parametrize(("endpoint", "file"), cases())
def test_a_file_is_stored_only_where_its_type_is_accepted_and_only_whole(
    endpoint: Endpoint, file: HostileFile, staff: User
) -> None:
    client = Client(raise_request_exception=True)
    client.force_login(staff)
    files_before, rows_before = stored_files(), endpoint.rows()

    response = endpoint.post(client, SimpleUploadedFile(file.name, file.data))

    assert response.status_code < 500
    page = html.unescape(response.content.decode())
    new_files = {name: data for name, data in stored_files().items() if name not in files_before}
    accepted = bool(file.claims & endpoint.accepts) and file.whole
    if accepted:
        assert endpoint.rows() == rows_before + (endpoint.name != "import")
        assert new_files
    else:
        assert endpoint.rows() == rows_before
        assert new_files == {}
        expected = file.message if file.claims & endpoint.accepts else endpoint.type_message
        assert expected in page
    if file.payload is not None:
        assert not any(file.payload in data for data in new_files.values())


# The import reads further than its upload: what a valid package can still hold ---------------


def sheet_with(cells: str) -> bytes:
    """A workbook whose first sheet's XML is replaced by `cells`: well-formed XML that
    openpyxl cannot read as cells."""
    sheet = (
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f"<sheetData>{cells}</sheetData></worksheet>"
    )
    return rezipped(
        XLSX, lambda name, body: sheet.encode() if name.endswith("sheet1.xml") else body
    )


HEADER = '<row r="1"><c r="A1" t="inlineStr"><is><t>Nom</t></is></c></row>'
WORKBOOKS_DAMAGED_INSIDE = {
    "a number that is text": HEADER + '<row r="2"><c r="A2" t="n"><v>douze</v></c></row>',
    "a shared string that is not there": HEADER + '<row r="2"><c r="A2" t="s"><v>999</v></c></row>',
    "a date that is no date": HEADER + '<row r="2"><c r="A2" t="d"><v>hier</v></c></row>',
    "a cell reference that is no reference": HEADER + '<row r="2"><c r="??"><v>1</v></c></row>',
    "a header that cannot be read": '<row r="1"><c r="A1" t="n"><v>Nom</v></c></row>',
    "a style that is not there": HEADER + '<row r="2"><c r="A2" s="999"><v>1</v></c></row>',
}


@pytest.mark.parametrize("cells", WORKBOOKS_DAMAGED_INSIDE.values(), ids=WORKBOOKS_DAMAGED_INSIDE)
def test_a_workbook_damaged_inside_is_refused_by_the_import_with_a_message(
    cells: str, staff: User
) -> None:
    client = Client(raise_request_exception=True)
    client.force_login(staff)
    organisations = Organisation.objects.count()
    data = sheet_with(cells)

    response = client.post(
        reverse("crm:import_start"),
        {"kind": "organisations", "file": SimpleUploadedFile("liste.xlsx", data)},
    )
    if response.status_code == 302:  # the header row was readable: map it, then the dry run
        token = response["Location"].split("/")[-3]
        client.post(reverse("crm:import_map", args=[token]), {"column_0": "name"})
        steps = [
            client.get(reverse("crm:import_preview", args=[token]), follow=True),
            client.get(reverse("crm:import_errors", args=[token]), follow=True),
            client.post(reverse("crm:import_apply", args=[token]), follow=True),
        ]
    else:
        steps = [response]

    for step in steps:
        assert step.status_code < 500
    # Every step that could not read the file says so (a readable row is imported as usual).
    texts = [html.unescape(step.content.decode(errors="replace")) for step in steps]
    refused = [text for text in texts if "endommagé" in text or "illisible" in text]
    if refused:
        assert Organisation.objects.count() == organisations
    else:
        assert Organisation.objects.count() <= organisations + 1


# Every upload path is one of the above ---------------------------------------------------------


def test_no_admin_form_takes_a_file_past_the_checks() -> None:
    """The admin is an upload path too: every file field in it is read-only (files come in
    through the checked endpoints above), even for a superuser."""
    request = RequestFactory().get("/admin/")
    request.user = User.objects.create_superuser("root", "root@example.org", "secret-mot-de-passe")
    file_fields = {
        (model._meta.label, field.name)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, FileField)
    }
    offered = []
    for model_admin in admin.site._registry.values():
        admins = [model_admin, *model_admin.get_inline_instances(request)]
        for each in admins:
            inline = each is not model_admin
            may_add = (
                each.has_add_permission(request, None)  # type: ignore[call-arg]  # an inline takes the parent record
                if inline
                else each.has_add_permission(request)
            )
            if not (may_add or each.has_change_permission(request)):
                continue
            form = each.get_formset(request).form if each is not model_admin else None  # type: ignore[attr-defined]  # an inline admin
            form = form or each.get_form(request)  # type: ignore[attr-defined]  # a model admin
            for name in form.base_fields:
                if (each.model._meta.label, name) in file_fields:
                    offered.append(f"{each.model._meta.label}.{name}")
    assert offered == []
