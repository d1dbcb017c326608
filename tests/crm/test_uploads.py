"""Uploads: checked by content, images cleaned, files served privately (DESIGN §3)."""

from __future__ import annotations

import io
import struct
import warnings
import zipfile
import zlib
from datetime import timedelta
from pathlib import Path

import pytest
from django import forms
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import models
from django.db.models.fields.files import FieldFile
from django.http import Http404
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from openpyxl import Workbook
from PIL import Image, ImageFile
from pytest_django.fixtures import Settings

from crm.pdf import render_pdf
from crm.uploads import (
    DOCUMENT_KINDS,
    IMAGE_KINDS,
    CheckedFileField,
    CheckedUpload,
    UploadKind,
    check_upload,
    clean_filename,
    make_thumbnail,
    serve_private_file,
    stale_files,
)

ALL_KINDS = IMAGE_KINDS | DOCUMENT_KINDS

CONTENT_TYPES_XML = b"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/word/document.xml"
 ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>
</Types>"""
DOCUMENT_XML = b"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">
<w:body><w:p><w:r><w:t>Cahier des charges</w:t></w:r></w:p></w:body></w:document>"""


MANIFEST_XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">
<manifest:file-entry manifest:full-path="/"
 manifest:media-type="application/vnd.oasis.opendocument.text"/>
</manifest:manifest>"""
ODT_CONTENT_XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"/>"""


def upload(
    name: str, data: bytes, content_type: str = "application/octet-stream"
) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def refusal(file: SimpleUploadedFile, **kwargs: object) -> ValidationError:
    kwargs.setdefault("allowed", ALL_KINDS)
    with pytest.raises(ValidationError) as caught:
        check_upload(file, **kwargs)  # type: ignore[arg-type]
    return caught.value


def message(error: ValidationError) -> str:
    return " ".join(error.messages)


def image_bytes(
    fmt: str = "JPEG", size: tuple[int, int] = (40, 20), mode: str = "RGB", **params: object
) -> bytes:
    image = Image.new(mode, size, "#336699" if mode in ("RGB", "RGBA") else 128)
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def huge_png(width: int, height: int) -> bytes:
    """A valid 1-bit PNG of any size, built row by row: tens of KB, never held as pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    compressor = zlib.compressobj(9)
    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def docx_bytes(
    *, extra: dict[str, bytes] | None = None, content_types: bytes = CONTENT_TYPES_XML
) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", content_types)
        archive.writestr("word/document.xml", DOCUMENT_XML)
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return out.getvalue()


def odt_bytes() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(
            "mimetype", "application/vnd.oasis.opendocument.text", compress_type=zipfile.ZIP_STORED
        )
        archive.writestr("META-INF/manifest.xml", MANIFEST_XML)
        archive.writestr("content.xml", ODT_CONTENT_XML)
    return out.getvalue()


# Type detection -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("photo.jpg", b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 200),
        ("doc.pdf", b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 200),
        ("rapport.docx", b"#!/bin/sh\nrm -rf /\n"),
        ("image.png", b"<html><script>alert(1)</script></html>"),
        ("dessin.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
        ("polyglotte.pdf", b"<html>" + b" " * 20 + b"%PDF-1.4\n"),
        ("ancien.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 200),
    ],
)
def test_content_that_is_not_an_accepted_type_is_refused_whatever_its_name(
    name: str, data: bytes
) -> None:
    error = refusal(upload(name, data, content_type="image/jpeg"))

    assert error.code == "unsupported_type"
    assert "Ce type de fichier n'est pas accepté" in message(error)
    assert "PDF" in message(error)


def test_the_message_lists_only_the_types_accepted_here() -> None:
    error = refusal(upload("doc.pdf", b"%PDF-1.4\n%%EOF\n"), allowed=IMAGE_KINDS)

    assert error.code == "unsupported_type"
    assert "image JPEG, image PNG, image WebP" in message(error)
    assert "PDF" not in message(error)


def test_a_real_pdf_is_accepted_unchanged() -> None:
    pdf = render_pdf("<p>Note de veille</p>")

    checked = check_upload(upload("note.PDF", pdf, "text/html"), allowed=DOCUMENT_KINDS)

    assert checked.kind == UploadKind.PDF
    assert checked.content_type == "application/pdf"
    assert checked.extension == "pdf"
    assert checked.content.read() == pdf
    assert checked.size == len(pdf)
    assert checked.original_name == "note.PDF"
    assert (checked.width, checked.height) == (None, None)


def test_a_docx_is_accepted() -> None:
    data = docx_bytes()

    checked = check_upload(upload("cahier.docx", data), allowed=DOCUMENT_KINDS)

    assert checked.kind == UploadKind.DOCX
    assert checked.extension == "docx"
    assert checked.content_type.endswith("wordprocessingml.document")
    assert checked.content.read() == data


def test_an_xlsx_saved_by_a_spreadsheet_library_is_accepted() -> None:
    out = io.BytesIO()
    Workbook().save(out)

    checked = check_upload(upload("budget.xlsx", out.getvalue()), allowed={UploadKind.XLSX})

    assert checked.kind == UploadKind.XLSX


def test_an_opendocument_text_is_accepted() -> None:
    checked = check_upload(upload("compte-rendu.odt", odt_bytes()), allowed=DOCUMENT_KINDS)

    assert checked.kind == UploadKind.ODT
    assert checked.content_type == "application/vnd.oasis.opendocument.text"


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize(
    "data",
    [
        zip_bytes({"photo.jpg": b"x", "readme.txt": b"hello"}),
        # Declares a Word document but holds no word/ part.
        zip_bytes({"[Content_Types].xml": CONTENT_TYPES_XML, "other/document.xml": DOCUMENT_XML}),
        # Has a word/ part but no Word main content type.
        docx_bytes(content_types=b"<Types/>"),
        # Macro-enabled Word document (.docm) renamed .docx.
        docx_bytes(
            content_types=CONTENT_TYPES_XML.replace(
                b"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
                b"application/vnd.ms-word.document.macroEnabled.main+xml",
            )
        ),
        # OpenDocument mimetype without a manifest, and an unknown OpenDocument type.
        zip_bytes({"mimetype": b"application/vnd.oasis.opendocument.text"}),
        zip_bytes({"mimetype": b"application/x-evil", "META-INF/manifest.xml": b"<m/>"}),
    ],
)
def test_a_zip_that_is_not_an_office_document_is_refused(data: bytes) -> None:
    error = refusal(upload("cahier.docx", data))

    assert error.code == "unsupported_type"


def test_a_zip_cut_off_is_refused_as_damaged() -> None:
    # The central directory is missing: which kind of document it was is lost with it.
    error = refusal(upload("cahier.docx", docx_bytes()[:200]))

    assert error.code == "damaged"
    assert "endommagé ou incomplet" in message(error)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("cahier.docx", docx_bytes(extra={"word/vbaProject.bin": b"\xd0\xcf\x11\xe0"})),
        (
            "compte-rendu.odt",
            zip_bytes(
                {
                    "mimetype": b"application/vnd.oasis.opendocument.text",
                    "META-INF/manifest.xml": b"<manifest/>",
                    "Basic/Standard/Module1.xml": b"<script/>",
                }
            ),
        ),
    ],
)
def test_office_documents_with_macros_are_refused(name: str, data: bytes) -> None:
    error = refusal(upload(name, data))

    assert error.code == "unsupported_type"
    assert "macros" in message(error)


# Size ------------------------------------------------------------------------------------


def test_a_file_over_the_size_bound_is_refused_with_the_limit() -> None:
    error = refusal(upload("note.pdf", b"%PDF-1.4\n" + b"0" * 2048), max_bytes=1024)

    assert error.code == "too_large"
    assert message(error) == (
        f"Le fichier dépasse la taille maximale autorisée ({filesizeformat(1024)})."
    )


def test_the_default_size_bound_comes_from_settings(settings: Settings) -> None:
    settings.UPLOAD_MAX_BYTES = 3 * 1024 * 1024
    data = b"%PDF-1.4\n" + b"0" * (3 * 1024 * 1024)

    error = refusal(upload("note.pdf", data))

    assert error.code == "too_large"
    # Django's localised size: "3,0 Mio" in French.
    assert filesizeformat(3 * 1024 * 1024) in message(error)
    assert "3,0" in message(error)


def test_a_lying_declared_size_does_not_get_past_the_bound() -> None:
    file = upload("note.pdf", b"%PDF-1.4\n" + b"0" * 5000)
    file.size = 10

    error = refusal(file, max_bytes=1000)

    assert error.code == "too_large"


def test_an_empty_file_is_refused() -> None:
    error = refusal(upload("vide.pdf", b""))

    assert error.code == "empty"
    assert message(error) == "Le fichier est vide."


# Images -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "height"),
    [
        (8_000, 8_000),  # 64 MP: over our 50 MP bound, under Pillow's own warning.
        (10_000, 10_000),  # 100 MP: Pillow warns (decompression bomb).
        (20_000, 20_000),  # 400 MP: Pillow refuses outright.
    ],
)
def test_an_image_with_too_many_pixels_is_refused_without_decoding_it(
    width: int, height: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = huge_png(width, height)
    assert len(data) < 200_000  # Small on disk: this is what a decompression bomb looks like.

    def no_decoding(self: ImageFile.ImageFile) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    error = refusal(upload("plan.png", data), allowed=IMAGE_KINDS)

    assert error.code == "image_too_large"
    assert "50 mégapixels" in message(error)


def test_the_megapixel_bound_comes_from_settings(settings: Settings) -> None:
    settings.UPLOAD_MAX_MEGAPIXELS = 1
    data = huge_png(1_100, 1_000)

    error = refusal(upload("plan.png", data), allowed=IMAGE_KINDS)

    assert error.code == "image_too_large"
    assert (
        check_upload(upload("plan.png", huge_png(1_000, 1_000)), allowed=IMAGE_KINDS).width == 1_000
    )


def test_checking_images_changes_no_global_pillow_state() -> None:
    before_pixels = Image.MAX_IMAGE_PIXELS
    before_filters = list(warnings.filters)

    refusal(upload("plan.png", huge_png(10_000, 10_000)), allowed=IMAGE_KINDS)

    assert before_pixels == Image.MAX_IMAGE_PIXELS
    assert warnings.filters == before_filters


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
@pytest.mark.parametrize("pillow_pads_truncated_images", [True, False])
@pytest.mark.parametrize("keep", [0.5, 0.9, -1])
def test_a_truncated_image_is_refused(
    fmt: str, pillow_pads_truncated_images: bool, keep: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    # WeasyPrint turns LOAD_TRUNCATED_IMAGES on for the whole process when imported; the
    # check must hold either way.
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", pillow_pads_truncated_images)
    noise = Image.effect_noise((300, 200), 60).convert("RGB")
    out = io.BytesIO()
    noise.save(out, fmt)
    data = out.getvalue()
    cut = len(data) - 1 if keep == -1 else int(len(data) * keep)

    error = refusal(upload("photo.img", data[:cut]), allowed=IMAGE_KINDS)

    assert error.code == "corrupt_image"
    assert message(error) == "Cette image est illisible ou incomplète."
    # The whole file is fine.
    assert check_upload(upload("photo.img", data), allowed=IMAGE_KINDS).width == 300


def test_a_jpeg_with_data_after_its_end_marker_is_accepted() -> None:
    # Several phone makers append their own trailer after the image.
    data = image_bytes("JPEG") + b"SEFH" + b"\x00" * 64

    assert check_upload(upload("photo.jpg", data), allowed=IMAGE_KINDS).kind == UploadKind.JPEG


def test_a_png_with_a_corrupted_chunk_is_refused() -> None:
    data = bytearray(image_bytes("PNG", size=(50, 50)))
    data[-20] ^= 0xFF  # Inside the last IDAT: its CRC no longer matches.

    error = refusal(upload("logo.png", bytes(data)), allowed=IMAGE_KINDS)

    assert error.code == "corrupt_image"


def test_a_png_signature_followed_by_garbage_is_refused() -> None:
    error = refusal(upload("logo.png", b"\x89PNG\r\n\x1a\n" + b"garbage" * 50), allowed=IMAGE_KINDS)

    assert error.code == "corrupt_image"


def gps_photo() -> bytes:
    """A 40x20 JPEG taken by a phone held sideways, with GPS, XMP and a comment."""
    image = Image.new("RGB", (40, 20), "#336699")
    image.paste((255, 0, 0), (0, 0, 10, 20))  # A red band on the left edge.
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display.
    exif[0x010F] = "TelephoneSecret"  # Make.
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (50.0, 25.0, 0.0)
    gps[3] = "E"
    gps[4] = (2.0, 49.0, 0.0)
    out = io.BytesIO()
    image.save(
        out,
        "JPEG",
        exif=exif,
        comment=b"COMMENTAIRE-PRIVE",
        xmp=b"<x:xmpmeta>XMP-PRIVE</x:xmpmeta>",
    )
    return out.getvalue()


def test_a_photo_loses_its_metadata_and_is_turned_upright() -> None:
    original = gps_photo()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(0x8825)  # Precondition.

    checked = check_upload(upload("IMG_0001.JPG", original), allowed=IMAGE_KINDS)

    data = checked.content.read()
    cleaned = Image.open(io.BytesIO(data))
    assert checked.kind == UploadKind.JPEG
    assert (checked.width, checked.height) == (20, 40)
    assert cleaned.size == (20, 40)
    assert not cleaned.getexif()
    assert not cleaned.getexif().get_ifd(0x8825)
    assert "exif" not in cleaned.info
    assert "xmp" not in cleaned.info
    assert "comment" not in cleaned.info
    for secret in (b"Exif\x00\x00", b"TelephoneSecret", b"COMMENTAIRE-PRIVE", b"XMP-PRIVE"):
        assert secret not in data
    # Rotated clockwise: the red band that was on the left is now on top.
    red, green, blue = cleaned.convert("RGB").getpixel((10, 2))  # type: ignore[misc]  # an RGB pixel is a triple
    assert red > 200 and green < 60 and blue < 60
    assert checked.size == len(data)
    assert checked.original_name == "IMG_0001.JPG"


def test_a_cmyk_jpeg_becomes_rgb() -> None:
    data = image_bytes("JPEG", mode="CMYK")

    checked = check_upload(upload("affiche.jpg", data), allowed=IMAGE_KINDS)

    assert Image.open(checked.content).mode == "RGB"


def test_a_png_keeps_its_transparency_and_loses_its_text_chunks() -> None:
    from PIL import PngImagePlugin

    image = Image.new("RGBA", (30, 30), (0, 0, 0, 0))
    image.paste((255, 0, 0, 255), (10, 10, 20, 20))
    text = PngImagePlugin.PngInfo()
    text.add_text("Author", "AUTEUR-PRIVE")
    out = io.BytesIO()
    image.save(out, "PNG", pnginfo=text)

    checked = check_upload(upload("logo.png", out.getvalue()), allowed=IMAGE_KINDS)

    cleaned = Image.open(checked.content)
    assert cleaned.mode == "RGBA"
    assert cleaned.getpixel((0, 0))[3] == 0
    assert cleaned.getpixel((15, 15)) == (255, 0, 0, 255)
    checked.content.seek(0)
    assert b"AUTEUR-PRIVE" not in checked.content.read()


def test_a_palette_png_keeps_its_transparent_colour() -> None:
    image = Image.new("P", (10, 10), 0)
    image.putpalette([255, 255, 255, 255, 0, 0] + [0] * 762)
    image.paste(1, (0, 0, 5, 10))
    out = io.BytesIO()
    image.save(out, "PNG", transparency=0)

    checked = check_upload(upload("picto.png", out.getvalue()), allowed=IMAGE_KINDS)

    cleaned = Image.open(checked.content).convert("RGBA")
    assert cleaned.getpixel((8, 5))[3] == 0
    assert cleaned.getpixel((2, 5)) == (255, 0, 0, 255)


def test_a_webp_is_accepted_and_cleaned() -> None:
    exif = Image.Exif()
    exif[0x010F] = "TelephoneSecret"
    data = image_bytes("WEBP", exif=exif)

    checked = check_upload(upload("prototype.webp", data), allowed=IMAGE_KINDS)

    assert checked.kind == UploadKind.WEBP
    assert checked.content_type == "image/webp"
    assert b"TelephoneSecret" not in checked.content.read()


def test_an_image_is_refused_where_only_documents_are_accepted() -> None:
    error = refusal(upload("photo.jpg", image_bytes()), allowed=DOCUMENT_KINDS)

    assert error.code == "unsupported_type"


# Names ------------------------------------------------------------------------------------


def test_the_storage_name_owes_nothing_to_the_users_name() -> None:
    checked = check_upload(
        upload("../../etc/cron.d/planche tendances.png", image_bytes("PNG")), allowed=IMAGE_KINDS
    )

    first = checked.storage_name("deliverables")
    second = checked.storage_name("/deliverables/")

    assert first.startswith("deliverables/")
    assert first.endswith(".png")
    assert first != second
    for part in ("etc", "cron", "planche", "tendances", ".."):
        assert part not in first
    assert "planche" not in checked.content.name


@pytest.mark.parametrize("prefix", ["", "/", "../deliverables", "deliverables/../../etc"])
def test_an_unsafe_storage_prefix_is_a_programming_error(prefix: str) -> None:
    checked = check_upload(upload("a.png", image_bytes("PNG")), allowed=IMAGE_KINDS)

    with pytest.raises(ValueError, match="prefix"):
        checked.storage_name(prefix)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("C:\\Users\\Élise\\Documents\\Cahier.pdf", "Cahier.pdf"),
        ("rapport\r\n\x00final.pdf", "rapportfinal.pdf"),
        ("facture\u202egpj.pdf", "facturegpj.pdf"),
        ("  .cache  ", "cache"),
        ("...", "fichier"),
        ("  plusieurs    espaces\tici.pdf ", "plusieurs espaces ici.pdf"),
    ],
)
def test_clean_filename(name: str, expected: str) -> None:
    assert clean_filename(name) == expected


def test_a_long_name_is_cut_keeping_its_extension() -> None:
    cleaned = clean_filename("a" * 300 + ".pdf")

    assert len(cleaned) == 150
    assert cleaned.endswith("a.pdf")


def test_the_display_name_tells_the_real_type() -> None:
    checked = check_upload(upload("photo.png", image_bytes("JPEG")), allowed=IMAGE_KINDS)
    assert checked.original_name == "photo.png.jpg"

    checked = check_upload(upload("photo.jpeg", image_bytes("JPEG")), allowed=IMAGE_KINDS)
    assert checked.original_name == "photo.jpeg"


# Thumbnails -------------------------------------------------------------------------------


def test_make_thumbnail_fits_the_box_as_a_jpeg() -> None:
    thumbnail = make_thumbnail(image_bytes("PNG", size=(1200, 600), mode="RGBA"))

    image = Image.open(thumbnail)
    assert image.format == "JPEG"
    assert image.mode == "RGB"
    assert image.size == (480, 240)
    assert thumbnail.name.endswith(".jpg")


def test_make_thumbnail_turns_photos_upright() -> None:
    thumbnail = make_thumbnail(gps_photo(), size=(100, 100))

    assert Image.open(thumbnail).size == (20, 40)


def test_make_thumbnail_refuses_what_is_not_an_image() -> None:
    with pytest.raises(ValidationError):
        make_thumbnail(b"%PDF-1.4")


# Serving ----------------------------------------------------------------------------------


def stored(name: str, data: bytes, storage: object = default_storage) -> FieldFile:
    field = models.FileField(storage=storage)  # type: ignore[arg-type]
    saved = field.storage.save(name, ContentFile(data))
    return FieldFile(None, field, saved)  # type: ignore[arg-type]  # a stored file without its record


@pytest.mark.storage
def test_serve_private_file_with_a_hostile_download_name() -> None:
    field_file = stored("deliverables/3f2a.pdf", b"%PDF-1.4 contenu")

    response = serve_private_file(field_file, filename='rapport "final"\r\n.pdf')

    disposition = response["Content-Disposition"]
    assert disposition == 'inline; filename="rapport \\"final\\".pdf"'
    assert "\r" not in disposition and "\n" not in disposition
    assert response["Content-Type"] == "application/pdf"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"].startswith("private, max-age=")
    assert response.getvalue() == b"%PDF-1.4 contenu"


@pytest.mark.storage
@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("deliverables/a.docx", None),
        ("deliverables/a.html", None),
        ("deliverables/a.bin", "text/html"),
        ("deliverables/a.svg", "image/svg+xml"),
    ],
)
def test_types_a_browser_could_run_are_always_downloaded(
    name: str, content_type: str | None
) -> None:
    field_file = stored(name, b"<script>alert(1)</script>")

    response = serve_private_file(field_file, filename="fichier", content_type=content_type)

    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    response.getvalue()


@pytest.mark.storage
def test_images_may_be_shown_inline_or_downloaded() -> None:
    field_file = stored("deliverables/p.jpg", image_bytes())

    inline = serve_private_file(field_file, filename="Planche.jpg")
    download = serve_private_file(field_file, filename="Planche.jpg", as_attachment=True)

    assert inline["Content-Type"] == "image/jpeg"
    assert inline["Content-Disposition"] == 'inline; filename="Planche.jpg"'
    assert download["Content-Disposition"] == 'attachment; filename="Planche.jpg"'
    for response in (inline, download):
        response.getvalue()


def test_serve_private_file_works_with_a_file_system_storage(tmp_path: Path) -> None:
    field_file = stored("deliverables/n.pdf", b"%PDF-1.7", FileSystemStorage(location=tmp_path))

    response = serve_private_file(field_file, filename="Note de veille.pdf", as_attachment=True)

    assert response.getvalue() == b"%PDF-1.7"
    assert response["Content-Length"] == "8"
    response.file_to_stream.close()


@pytest.mark.storage
def test_a_missing_file_is_a_404() -> None:
    field = models.FileField()
    with pytest.raises(Http404):
        serve_private_file(FieldFile(None, field, "deliverables/absent.pdf"), filename="x.pdf")  # type: ignore[arg-type]  # a stored file without its record
    with pytest.raises(Http404):
        serve_private_file(FieldFile(None, field, ""), filename="x.pdf")  # type: ignore[arg-type]  # a stored file without its record


# Form field -------------------------------------------------------------------------------


class DeliverableForm(forms.Form):
    file = CheckedFileField(label="Fichier", allowed=IMAGE_KINDS | {UploadKind.PDF})


def test_the_form_field_returns_the_checked_upload() -> None:
    form = DeliverableForm(data={}, files={"file": upload("planche.png", image_bytes("PNG"))})  # type: ignore[arg-type]  # a plain dict, as a form reads it

    assert form.is_valid(), form.errors
    assert isinstance(form.cleaned_data["file"], CheckedUpload)
    assert form.cleaned_data["file"].kind == UploadKind.PNG


def test_the_form_field_shows_the_french_message() -> None:
    form = DeliverableForm(data={}, files={"file": upload("planche.png", b"MZ\x90\x00")})  # type: ignore[arg-type]  # a plain dict, as a form reads it

    assert not form.is_valid()
    assert form.errors["file"][0].startswith("Ce type de fichier n'est pas accepté")


def test_the_form_field_hints_the_accepted_types_to_the_browser() -> None:
    html = str(DeliverableForm()["file"])

    assert 'accept="' in html
    assert ".pdf" in html
    assert "image/png" in html
    assert ".docx" not in html


# Stale files (the purges) ------------------------------------------------------------------


@pytest.mark.storage
def test_stale_files_lists_a_folder_and_its_sub_folders_by_age(own_storage: None) -> None:
    storage = default_storage
    names = [
        storage.save("imports/b.xlsx", ContentFile(b"b")),
        storage.save("imports/a.xlsx", ContentFile(b"a")),
        storage.save("imports/old/c.xlsx", ContentFile(b"c")),
    ]
    storage.save("importsbis/d.xlsx", ContentFile(b"d"))
    now = timezone.now()

    listed = list(stale_files(storage, "imports", older_than=now + timedelta(minutes=5)))
    assert listed == ["imports/a.xlsx", "imports/b.xlsx", "imports/old/c.xlsx"]
    assert sorted(listed) == sorted(names)
    assert list(stale_files(storage, "imports", older_than=now - timedelta(hours=1))) == []
    assert list(stale_files(storage, "absent", older_than=now + timedelta(minutes=5))) == []
