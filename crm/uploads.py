"""Uploaded files: checked by content, cleaned, stored under server names, served privately.

DESIGN §3: types are checked by content, not by name; size is bounded; images lose their
metadata and get their orientation fixed; files are served only through a permission-checked
view. The flow in a view or action:

    checked = check_upload(request.FILES["file"], allowed=DOCUMENT_KINDS | IMAGE_KINDS)
    version.file.save(checked.storage_name("deliverables"), checked.content, save=False)
    version.original_name = checked.original_name
    ...
    return serve_private_file(version.file, filename=version.original_name)

Forms can use `CheckedFileField(allowed=...)`, whose cleaned value is the `CheckedUpload`.
"""

from __future__ import annotations

import io
import logging
import mimetypes
import re
import unicodedata
import warnings
import zipfile
import zlib
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import uuid4
from xml.parsers import expat

from defusedxml import ElementTree as DefusedET
from django import forms
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import Storage
from django.db.models import FileField, TextChoices
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _
from PIL import Image, ImageOps
from pypdf import PdfReader

logger = logging.getLogger(__name__)


class UploadKind(TextChoices):
    """The file types Carreau accepts, recognised by their content (magic bytes)."""

    JPEG = "jpeg", _("image JPEG")
    PNG = "png", _("image PNG")
    WEBP = "webp", _("image WebP")
    PDF = "pdf", _("PDF")
    DOCX = "docx", _("Word (.docx)")
    XLSX = "xlsx", _("Excel (.xlsx)")
    PPTX = "pptx", _("PowerPoint (.pptx)")
    ODT = "odt", _("texte OpenDocument (.odt)")
    ODS = "ods", _("classeur OpenDocument (.ods)")
    ODP = "odp", _("présentation OpenDocument (.odp)")


IMAGE_KINDS: frozenset[UploadKind] = frozenset({UploadKind.JPEG, UploadKind.PNG, UploadKind.WEBP})
DOCUMENT_KINDS: frozenset[UploadKind] = frozenset(
    {
        UploadKind.PDF,
        UploadKind.DOCX,
        UploadKind.XLSX,
        UploadKind.PPTX,
        UploadKind.ODT,
        UploadKind.ODS,
        UploadKind.ODP,
    }
)

CONTENT_TYPES: dict[UploadKind, str] = {
    UploadKind.JPEG: "image/jpeg",
    UploadKind.PNG: "image/png",
    UploadKind.WEBP: "image/webp",
    UploadKind.PDF: "application/pdf",
    UploadKind.DOCX: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    UploadKind.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    UploadKind.PPTX: "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    UploadKind.ODT: "application/vnd.oasis.opendocument.text",
    UploadKind.ODS: "application/vnd.oasis.opendocument.spreadsheet",
    UploadKind.ODP: "application/vnd.oasis.opendocument.presentation",
}
EXTENSIONS: dict[UploadKind, str] = {
    UploadKind.JPEG: "jpg",
    **{kind: kind.value for kind in UploadKind if kind is not UploadKind.JPEG},
}
# Other extensions users give these types, kept as they are in the display name.
_EXTENSION_ALIASES: dict[UploadKind, frozenset[str]] = {UploadKind.JPEG: frozenset({"jpeg"})}

# Browsers display these themselves; anything else is always downloaded (serve_private_file).
INLINE_CONTENT_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "application/pdf"})
PRIVATE_MAX_AGE = 300

MAX_NAME_LENGTH = 150
JPEG_QUALITY = 90
WEBP_QUALITY = 90
THUMBNAIL_QUALITY = 85

_PIL_FORMATS: dict[UploadKind, str] = {
    UploadKind.JPEG: "JPEG",
    UploadKind.PNG: "PNG",
    UploadKind.WEBP: "WEBP",
}
_OOXML: dict[UploadKind, tuple[str, bytes]] = {
    UploadKind.DOCX: (
        "word/",
        b"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
    ),
    UploadKind.XLSX: (
        "xl/",
        b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
    ),
    UploadKind.PPTX: (
        "ppt/",
        b"application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml",
    ),
}
_ODF: dict[bytes, UploadKind] = {
    b"application/vnd.oasis.opendocument.text": UploadKind.ODT,
    b"application/vnd.oasis.opendocument.spreadsheet": UploadKind.ODS,
    b"application/vnd.oasis.opendocument.presentation": UploadKind.ODP,
}
_ZIP_KINDS = frozenset(_OOXML) | frozenset(_ODF.values())
# Only small manifest entries are decompressed to tell the type; the whole package is read
# only within these bounds (far above any real document), so a zip bomb is refused unread.
_MAX_MANIFEST_BYTES = 1024 * 1024
MAX_UNCOMPRESSED_BYTES = 200 * 1024 * 1024
MAX_COMPRESSION_RATIO = 200
# The end-of-central-directory record (22 bytes) and a comment of at most 65,535 bytes.
_ZIP_END = b"PK\x05\x06"
_ZIP_END_SEARCH = 22 + 65_535
# What may follow a PDF's last %%EOF: line ends and the padding some tools leave.
_PDF_TAIL = 1024
_PDF_PADDING = b" \t\r\n\x00\x0c"


@dataclass(frozen=True)
class CheckedUpload:
    """An upload whose type, size and (for images) pixels have been checked and cleaned.

    `content` holds the bytes to store: re-encoded without metadata for images, the original
    bytes for documents. Store it under `storage_name(prefix)`, never under the user's name.
    """

    content: ContentFile[bytes]
    kind: UploadKind
    content_type: str
    extension: str
    original_name: str
    size: int
    width: int | None = None
    height: int | None = None

    def storage_name(self, prefix: str) -> str:
        """A fresh server-side name such as "deliverables/3f2a….jpg", unrelated to the user's."""
        clean_prefix = prefix.strip("/")
        if not clean_prefix or any(part in ("", ".", "..") for part in clean_prefix.split("/")):
            raise ValueError(f"Invalid storage prefix: {prefix!r}")
        return f"{clean_prefix}/{uuid4().hex}.{self.extension}"


def check_upload(
    file: File[Any],
    *,
    allowed: Collection[UploadKind],
    max_bytes: int | None = None,
) -> CheckedUpload:
    """Check an uploaded file by its content and return what may be stored.

    Raises ValidationError (French message) when the file is empty, larger than `max_bytes`
    (default `settings.UPLOAD_MAX_BYTES`), not one of the `allowed` kinds, or not that kind
    as a whole: an image must decode to its last pixel and stay under
    `settings.UPLOAD_MAX_MEGAPIXELS`; a PDF must parse, end where a PDF ends and have pages;
    an Office or OpenDocument file must be a complete zip (nothing before or after it, every
    member's checksum right, within the inflation bounds) whose XML parts are all well formed
    and whose main part is there. The name and the content type the browser sent are ignored.
    """
    limit = settings.UPLOAD_MAX_BYTES if max_bytes is None else max_bytes
    # Cheap refusal from the declared size, before reading anything.
    declared = getattr(file, "size", None)
    if declared is not None and declared > limit:
        raise _too_large(limit)
    file.seek(0)
    data = file.read(limit + 1)  # Never more than the limit, whatever size was declared.
    file.seek(0)
    if len(data) > limit:
        raise _too_large(limit)
    if not data:
        raise ValidationError(_("Le fichier est vide."), code="empty")

    if data.startswith(b"PK\x03\x04") and not _ZIP_KINDS.isdisjoint(allowed):
        _check_zip(data)
    kind = detect_kind(data)
    if kind is None or kind not in allowed:
        raise _unsupported(allowed)
    if kind in _ZIP_KINDS and _has_macros(data):
        raise ValidationError(
            _("Les documents contenant des macros ne sont pas acceptés."),
            code="unsupported_type",
        )
    # The first bytes only say what the file claims to be; a document is accepted when it
    # is that type as a whole (images are proved whole by decoding them below).
    if kind is UploadKind.PDF:
        _check_pdf(data)
    elif kind in _ZIP_KINDS:
        _check_package(data, kind)

    width = height = None
    if kind in IMAGE_KINDS:
        data, width, height = _clean_image(data, kind)

    extension = EXTENSIONS[kind]
    return CheckedUpload(
        content=ContentFile(data, name=f"{uuid4().hex}.{extension}"),
        kind=kind,
        content_type=CONTENT_TYPES[kind],
        extension=extension,
        original_name=_display_name(getattr(file, "name", None) or "", kind),
        size=len(data),
        width=width,
        height=height,
    )


def detect_kind(data: bytes) -> UploadKind | None:
    """The kind of `data` according to its magic bytes (and zip manifest), or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return UploadKind.JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return UploadKind.PNG
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return UploadKind.WEBP
    # Strict: a header further in is how HTML/PDF polyglots get accepted.
    if data.startswith(b"%PDF-"):
        return UploadKind.PDF
    if data.startswith(b"PK\x03\x04"):
        return _zip_kind(data)
    return None


def make_thumbnail(image_bytes: bytes, *, size: tuple[int, int] = (480, 480)) -> ContentFile[bytes]:
    """A JPEG thumbnail that fits in `size`, upright, transparency flattened on white.

    Meant for bytes that went through `check_upload`; raises ValidationError otherwise.
    """
    image, source = _open_image(image_bytes, formats=list(_PIL_FORMATS.values()))
    try:
        # JPEG can decode straight at a reduced scale: much faster for large photos.
        image.draft("RGB", size)
    except Exception as error:
        raise _corrupt() from error
    _decode(image, source)
    image = _upright(image)
    out = io.BytesIO()
    try:
        image.thumbnail(size)
        if image.mode != "RGB":
            rgba = image.convert("RGBA")
            image = Image.new("RGB", rgba.size, (255, 255, 255))
            image.paste(rgba, mask=rgba.getchannel("A"))
        image.save(out, "JPEG", quality=THUMBNAIL_QUALITY, optimize=True)
    except Exception as error:
        raise _corrupt() from error
    return ContentFile(out.getvalue(), name=f"{uuid4().hex}.jpg")


def store_thumbnail(instance: Any, *, image_field: str, folder: str) -> bool:
    """Render `instance.thumbnail` from its stored image, once (the worker's task; the upload
    request only stores the image). Safe to run twice or at once on two workers: the
    thumbnail is recorded only if none was, and a second one is deleted. An image that cannot
    be rendered records why in `thumbnail_error`, which the page shows instead of waiting.
    True when this call recorded a thumbnail."""
    if instance.thumbnail or instance.thumbnail_error:
        return False
    source = getattr(instance, image_field)
    model = type(instance)
    try:
        with source.storage.open(source.name, "rb") as stored:
            thumbnail = make_thumbnail(stored.read())
    except ValidationError as error:
        message = " ".join(error.messages)
    except Exception:
        logger.exception("No thumbnail for %s %s", model.__name__, instance.pk)
        message = str(_("La vignette n'a pas pu être préparée ; le fichier reste téléchargeable."))
    else:
        storage = instance.thumbnail.storage
        name = storage.save(f"{folder}/{source.name.rsplit('/', 1)[-1]}.jpg", thumbnail)
        if model.objects.filter(pk=instance.pk, thumbnail="", thumbnail_error="").update(
            thumbnail=name
        ):
            instance.thumbnail.name = name
            return True
        storage.delete(name)  # another run recorded one first
        return False
    model.objects.filter(pk=instance.pk, thumbnail="").update(thumbnail_error=message[:300])
    instance.thumbnail_error = message[:300]
    return False


def serve_private_file(
    field_file: FieldFile,
    *,
    filename: str,
    content_type: str | None = None,
    as_attachment: bool = False,
) -> FileResponse:
    """Stream a stored file to a user who may see it, under the download name `filename`.

    The caller (a view) has ALREADY checked permission: fetch the owning object through its
    scoped helper first (a user who may not see it gets 404). Works with any storage
    (file system, in-memory, S3). On S3 too the bytes pass through this response rather than
    a redirect to a signed URL: the permission is checked on every request for the file, and
    no URL that works without a login ever leaves the app (a signed URL can be forwarded and
    stays valid after the permission is withdrawn). Only images and PDFs may open in the
    browser; every other type is an attachment, and `nosniff` stops browsers from guessing a
    more dangerous type.
    """
    if not field_file or not field_file.name:
        raise Http404
    name = clean_filename(filename)
    if content_type is None:
        content_type = mimetypes.guess_type(field_file.name)[0] or "application/octet-stream"
    if content_type not in INLINE_CONTENT_TYPES:
        as_attachment = True
    try:
        handle = field_file.storage.open(field_file.name, "rb")
    except FileNotFoundError:
        raise Http404 from None
    response = FileResponse(
        handle, as_attachment=as_attachment, filename=name, content_type=content_type
    )
    response["X-Content-Type-Options"] = "nosniff"
    # Private: shared caches must not keep it; short: a revoked permission soon takes effect.
    response["Cache-Control"] = f"private, max-age={PRIVATE_MAX_AGE}"
    return response


def stale_files(storage: Storage, folder: str, *, older_than: datetime) -> Iterator[str]:
    """The names of the files under `folder` (and its sub-folders) last written before
    `older_than`, in name order. Any storage: file system, in-memory, S3.

    Object storage has no folders, only keys with a common prefix: `exists("imports")` asks
    for an object of that name and is False there, so the folder is listed directly (S3 lists
    an unknown prefix as empty; a local or in-memory storage raises FileNotFoundError)."""
    try:
        folders, files = storage.listdir(folder)
    except FileNotFoundError:
        return
    for name in sorted(files):
        path = f"{folder}/{name}"
        if storage.get_modified_time(path) < older_than:
            yield path
    for sub in sorted(folders):
        yield from stale_files(storage, f"{folder}/{sub}", older_than=older_than)


def orphan_files(*, older_than: datetime) -> Iterator[tuple[Storage, str]]:
    """(storage, name) of every stored upload no record points to, written before
    `older_than`.

    A file is stored before the transaction that records it commits; a rollback (a failed
    save, a lost race, a crash) leaves it behind, as does a record deleted outside the actions
    that delete its files. The folders are those of every FileField's `upload_to`; a file is
    kept while any row of any model names it. The age keeps an upload whose transaction is
    still running."""
    fields = [
        field
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, FileField)
    ]
    referenced: set[str] = set()
    for field in fields:
        names = field.model._base_manager.exclude(**{field.attname: ""}).values_list(
            field.attname, flat=True
        )
        referenced.update(names.iterator(chunk_size=5000))
    folders = {
        (field.storage, str(field.upload_to).strip("/").split("/")[0])
        for field in fields
        if isinstance(field.upload_to, str) and field.upload_to.strip("/")
    }
    for storage, folder in sorted(folders, key=lambda pair: pair[1]):
        for name in stale_files(storage, folder, older_than=older_than):
            if name not in referenced:
                yield storage, name


def clean_filename(
    name: str, *, default: str = "fichier", max_length: int = MAX_NAME_LENGTH
) -> str:
    """A display/download name safe to show and to put in a header.

    Keeps the base name only (no directory), drops control and bidi-override characters,
    collapses whitespace and cuts to `max_length` characters, keeping the extension.
    """
    name = unicodedata.normalize("NFC", str(name))
    name = re.split(r"[/\\]", name)[-1].replace("\t", " ")
    # Category C: control (\r\n…), format (U+202E right-to-left override…), unassigned, private.
    name = "".join(char for char in name if not unicodedata.category(char).startswith("C"))
    name = " ".join(name.split()).strip(" .")
    if len(name) > max_length:
        stem, dot, extension = name.rpartition(".")
        if dot and stem and 0 < len(extension) <= 10:
            name = f"{stem[: max_length - len(extension) - 1].rstrip()}.{extension}"
        else:
            name = name[:max_length].rstrip()
    return name or default


class CheckedFileField(forms.FileField):
    """A form file field whose cleaned value is a `CheckedUpload` (or None when left empty).

    Errors from `check_upload` show next to the field. Not for a ModelForm's model field:
    the model expects a file, so store `checked.content` in the action.
    """

    def __init__(
        self,
        *,
        allowed: Collection[UploadKind],
        max_bytes: int | None = None,
        **kwargs: Any,
    ) -> None:
        self.allowed = frozenset(allowed)
        self.max_bytes = max_bytes
        self.own_messages = dict(kwargs.get("error_messages") or {})
        super().__init__(**kwargs)

    # The form's cleaned value is the checked upload, not the raw file: forms read it as such.
    def to_python(self, data: Any) -> CheckedUpload | None:  # type: ignore[override]
        upload = super().to_python(data)
        if upload is None:
            return None
        try:
            return check_upload(upload, allowed=self.allowed, max_bytes=self.max_bytes)
        except ValidationError as error:
            # A message the form gave for one of check_upload's codes replaces its own.
            if error.code in self.own_messages:
                raise ValidationError(self.own_messages[error.code], code=error.code) from None
            raise

    def widget_attrs(self, widget: forms.Widget) -> dict[str, Any]:
        attrs = super().widget_attrs(widget)
        # Only a hint for the browser's file picker; the server decides by content.
        accept = sorted(
            {f".{EXTENSIONS[kind]}" for kind in self.allowed}
            | {f".{alias}" for kind in self.allowed for alias in _EXTENSION_ALIASES.get(kind, ())}
            | {CONTENT_TYPES[kind] for kind in self.allowed}
        )
        attrs.setdefault("accept", ",".join(accept))
        return attrs


def _too_large(limit: int) -> ValidationError:
    return ValidationError(
        _("Le fichier dépasse la taille maximale autorisée (%(limit)s)."),
        code="too_large",
        params={"limit": filesizeformat(limit)},
    )


def _unsupported(allowed: Collection[UploadKind]) -> ValidationError:
    labels = ", ".join(str(kind.label) for kind in UploadKind if kind in allowed)
    return ValidationError(
        _("Ce type de fichier n'est pas accepté. Types acceptés : %(allowed)s."),
        code="unsupported_type",
        params={"allowed": labels},
    )


def _image_too_large() -> ValidationError:
    return ValidationError(
        _("Cette image est trop grande : %(limit)s mégapixels au maximum."),
        code="image_too_large",
        params={"limit": settings.UPLOAD_MAX_MEGAPIXELS},
    )


def _corrupt() -> ValidationError:
    return ValidationError(
        _("Cette image est illisible ou incomplète."),
        code="corrupt_image",
    )


def _zip_kind(data: bytes) -> UploadKind | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            if "mimetype" in names:
                mimetype = _read_small(archive, "mimetype")
                if mimetype is not None and "META-INF/manifest.xml" in names:
                    return _ODF.get(mimetype.strip())
                return None
            if "[Content_Types].xml" in names:
                content_types = _read_small(archive, "[Content_Types].xml")
                if content_types is None:
                    return None
                for kind, (folder, main_type) in _OOXML.items():
                    if main_type in content_types and any(n.startswith(folder) for n in names):
                        return kind
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        return None
    return None


def _damaged(kind: UploadKind | None) -> ValidationError:
    if kind is None:
        return ValidationError(
            _(
                "Ce fichier est endommagé ou incomplet : enregistrez-le à nouveau depuis son "
                "application, puis réessayez."
            ),
            code="damaged",
        )
    return ValidationError(
        _(
            "Ce fichier se présente comme un fichier %(kind)s, mais il est endommagé ou "
            "incomplet : enregistrez-le à nouveau depuis son application, puis réessayez."
        ),
        code="damaged",
        params={"kind": kind.label},
    )


def _inflates_too_much() -> ValidationError:
    return ValidationError(
        _("Ce fichier est anormalement volumineux une fois décompressé : il est refusé."),
        code="too_large_unpacked",
    )


def _check_zip(data: bytes) -> None:
    """Refuse a zip that cannot be opened (a document cut off: which kind it was is lost with
    its directory), or whose members would inflate past the bounds, read from its directory
    before a single member is decompressed."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except Exception as error:  # zipfile raises many types on hostile input.
        raise _damaged(None) from error
    total = sum(member.file_size for member in members)
    packed = sum(member.compress_size for member in members) or 1
    if total > MAX_UNCOMPRESSED_BYTES or total / packed > MAX_COMPRESSION_RATIO:
        raise _inflates_too_much()


def _check_pdf(data: bytes) -> None:
    """A PDF that ends with %%EOF, whose cross-reference and page tree parse, with a page."""
    tail = data[-_PDF_TAIL:]
    end = tail.rfind(b"%%EOF")
    if end < 0 or tail[end + 5 :].strip(_PDF_PADDING):
        raise _damaged(UploadKind.PDF)
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        encrypted = reader.is_encrypted and not reader.decrypt("")
    except Exception as error:  # pypdf raises many types on hostile input.
        raise _damaged(UploadKind.PDF) from error
    if encrypted:
        raise ValidationError(
            _(
                "Ce PDF est protégé par un mot de passe : enregistrez-en une copie sans mot de "
                "passe, puis réessayez."
            ),
            code="encrypted",
        )
    try:
        pages = reader.pages
        if not len(pages):
            raise _damaged(UploadKind.PDF)
        for page in pages:
            page.mediabox  # noqa: B018 - each page resolves to a page object with a size
    except ValidationError:
        raise
    except Exception as error:
        raise _damaged(UploadKind.PDF) from error


def _check_package(data: bytes, kind: UploadKind) -> None:
    """An Office/OpenDocument zip, complete and alone, within bounds, its XML well formed."""
    end = data.rfind(_ZIP_END, max(0, len(data) - _ZIP_END_SEARCH))
    comment_length = int.from_bytes(data[end + 20 : end + 22], "little") if end >= 0 else -1
    # Anything after the archive (an HTML page, a second file) makes a polyglot.
    if end < 0 or end + 22 + comment_length != len(data):
        raise _damaged(kind)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            names = {member.filename for member in members}
            if not _main_part_present(archive, names, kind):
                raise _damaged(kind)
            for member in members:
                if not member.is_dir():
                    _read_member(archive, member)
    except ValidationError:
        raise
    except Exception as error:  # zipfile, zlib and expat raise many types on hostile input.
        raise _damaged(kind) from error


def _main_part_present(archive: zipfile.ZipFile, names: set[str], kind: UploadKind) -> bool:
    if kind in _OOXML:
        content_types = _read_small(archive, "[Content_Types].xml")
        if content_types is None:
            return False
        main_type = _OOXML[kind][1].decode()
        parts = [
            element.get("PartName", "")
            for element in DefusedET.fromstring(content_types)
            if element.tag.endswith("}Override") and element.get("ContentType") == main_type
        ]
        return bool(parts) and all(part.lstrip("/") in names for part in parts)
    # OpenDocument: the mimetype comes first (it is how the type is told) and content.xml.
    return archive.infolist()[0].filename == "mimetype" and "content.xml" in names


def _read_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> None:
    """Read a member to its end (zipfile checks its CRC-32 there); parse XML as it comes."""
    is_xml = member.filename.lower().endswith((".xml", ".rels"))
    parser = _xml_parser() if is_xml else None
    with archive.open(member) as stream:
        while chunk := stream.read(1 << 16):
            if parser is not None:
                parser.Parse(chunk, False)
    if parser is not None:
        parser.Parse(b"", True)


def _xml_parser() -> Any:
    """An expat parser that checks well-formedness, namespaces included, and refuses any
    DTD: Office and OpenDocument parts never have one, and entities are how XML bombs work."""
    parser = expat.ParserCreate(namespace_separator=" ")

    def refuse(*args: Any) -> None:
        raise ValueError("A document type declaration is not accepted.")

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    return parser


def _read_small(archive: zipfile.ZipFile, name: str) -> bytes | None:
    info = archive.getinfo(name)
    if info.file_size > _MAX_MANIFEST_BYTES:
        return None
    with archive.open(info) as entry:
        return entry.read(_MAX_MANIFEST_BYTES + 1)[:_MAX_MANIFEST_BYTES]


def _has_macros(data: bytes) -> bool:
    # VBA projects in Office files, Basic/script libraries in OpenDocument files.
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for name in archive.namelist():
                lowered = name.lower()
                if lowered.endswith("vbaproject.bin") or lowered.startswith(("basic/", "scripts/")):
                    return True
    except (zipfile.BadZipFile, OSError, ValueError):
        return True
    return False


class _WatchedBytes(io.BytesIO):
    """Image bytes that note when a decoder asks for data past their end.

    Importing WeasyPrint sets `PIL.ImageFile.LOAD_TRUNCATED_IMAGES = True` for the whole
    process (weasyprint/images.py): Pillow then pads a truncated JPEG with a fake end marker
    instead of raising. Watching the reads tells a truncated upload apart without touching
    that global, which PDF rendering relies on.
    """

    ran_out = False

    def read(self, size: int | None = -1, /) -> bytes:
        data = super().read(size)
        if not data and size != 0:
            self.ran_out = True
        return data


def _open_image(data: bytes, *, formats: list[str]) -> tuple[Image.Image, _WatchedBytes]:
    """Open an image and check its declared size BEFORE any pixel is decoded."""
    source = _WatchedBytes(data)
    try:
        # Local only: the global Image.MAX_IMAGE_PIXELS stays untouched. The explicit
        # megapixel check below is the real bound; this turns Pillow's bomb warning into a
        # refusal instead of a log line.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(source, formats=formats)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _image_too_large() from None
    except Exception as error:  # Pillow raises many types on hostile input.
        raise _corrupt() from error
    if image.width * image.height > settings.UPLOAD_MAX_MEGAPIXELS * 1_000_000:
        raise _image_too_large()
    source.ran_out = False  # Only reads made while decoding pixels count.
    return image, source


def _decode(image: Image.Image, source: _WatchedBytes) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()  # Corrupt data fails here (truncated data too, by default).
    except Exception as error:
        raise _corrupt() from error
    if source.ran_out:
        raise _corrupt()


def _png_is_complete(data: bytes) -> bool:
    """Every chunk is whole with a valid CRC, up to IEND: no truncation, no bit rot."""
    view = memoryview(data)
    position = 8
    while position + 12 <= len(data):
        length = int.from_bytes(view[position : position + 4], "big")
        end = position + 12 + length
        if end > len(data):
            return False
        if zlib.crc32(view[position + 4 : end - 4]) != int.from_bytes(view[end - 4 : end], "big"):
            return False
        if bytes(view[position + 4 : position + 8]) == b"IEND":
            return True
        position = end
    return False


def _upright(image: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(image)
    except Exception:
        # Broken EXIF on a readable photo: keep the pixels as they are rather than refuse it.
        logger.info("Ignoring unreadable EXIF orientation", exc_info=True)
        return image


def _clean_image(data: bytes, kind: UploadKind) -> tuple[bytes, int, int]:
    """Decode the image fully, turn it upright and re-encode it without any metadata."""
    image, source = _open_image(data, formats=[_PIL_FORMATS[kind]])
    if kind is UploadKind.PNG and not _png_is_complete(data):
        raise _corrupt()
    _decode(image, source)
    image = _upright(image)
    icc_profile = image.info.get("icc_profile")
    transparency = image.info.get("transparency")
    # Dropping `info` drops EXIF (GPS, camera serial), XMP, comments and PNG text chunks:
    # the encoders below write only what they are explicitly given.
    image.info = {}
    out = io.BytesIO()
    try:
        if kind is UploadKind.JPEG:
            if image.mode not in ("RGB", "L"):
                # CMYK/YCCK: the colour profile no longer matches the converted pixels.
                image, icc_profile = image.convert("RGB"), None
            image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, icc_profile=icc_profile)
        elif kind is UploadKind.PNG:
            params: dict[str, Any] = {"optimize": True}
            if icc_profile:
                params["icc_profile"] = icc_profile
            if transparency is not None:
                params["transparency"] = transparency
            try:
                image.save(out, "PNG", **params)
            except (OSError, ValueError):
                # A mode PNG cannot write back as is (e.g. 16-bit variants): keep it visible.
                out = io.BytesIO()
                image.convert("RGBA").save(out, "PNG", optimize=True)
        else:
            if image.mode not in ("RGB", "RGBA"):
                image = image.convert("RGBA" if image.has_transparency_data else "RGB")
            image.save(out, "WEBP", quality=WEBP_QUALITY, icc_profile=icc_profile or "")
    except Exception as error:
        raise _corrupt() from error
    return out.getvalue(), image.width, image.height


def _display_name(name: str, kind: UploadKind) -> str:
    extension = EXTENSIONS[kind]
    cleaned = clean_filename(name, default=f"fichier.{extension}")
    stem, dot, current = cleaned.rpartition(".")
    known = {extension} | _EXTENSION_ALIASES.get(kind, frozenset())
    if dot and stem and current.lower() in known:
        return cleaned
    # The name lied about the type (or had no extension): show the real one.
    return clean_filename(f"{cleaned}.{extension}")
