"""PDF rendering with WeasyPrint that never fetches anything outside the project (DESIGN §5).

WeasyPrint's own URL fetcher opens whatever a document points at: `file:///etc/passwd`, cloud
metadata endpoints, any web server. `render_pdf` swaps it for `ProjectURLFetcher`, which serves
exactly three kinds of URL and refuses every other one:

- this project's static files, under `settings.STATIC_URL`: `{% static "css/pdf.css" %}` gives
  "/static/css/pdf.css", which resolves against the internal base URL
  (`https://carreau.invalid/`, a host that can never exist) and is read through the
  staticfiles finders, then from `STATIC_ROOT` (hashed names in production);
- files of the default storage, through the internal scheme `carreau-media:<storage name>`,
  e.g. "carreau-media:deliverables/3f2a….jpg" (build it with `media_url(name)`): the view that
  renders the PDF has already checked the user may see those files;
- `data:` URLs up to `settings.PDF_MAX_DATA_URL_BYTES` decoded bytes.

Images, `<link>` stylesheets, `@import`, `url()` in CSS, `@font-face` sources, SVG references
and attachments all go through the same fetcher. A refused resource is logged and skipped, as
WeasyPrint does for a missing one: the rest of the document still renders.
"""

from __future__ import annotations

import base64
import binascii
import logging
import mimetypes
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import SplitResult, unquote, unquote_to_bytes, urljoin, urlsplit

from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import default_storage
from django.http import HttpResponse
from django.utils._os import safe_join
from django.utils.http import content_disposition_header
from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

from crm.uploads import clean_filename

logger = logging.getLogger(__name__)

# RFC 2606 reserves ".invalid": this origin can never reach a real host, and being http(s) it
# makes urljoin resolve "/static/…", "../img/x.png" and CSS-relative URLs the usual way.
INTERNAL_ORIGIN = "https://carreau.invalid"
INTERNAL_BASE_URL = f"{INTERNAL_ORIGIN}/"
MEDIA_SCHEME = "carreau-media"

_MIME_RE = re.compile(r"^[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+$")
_CHARSET_RE = re.compile(r"^[A-Za-z0-9_.:-]+$")
# WeasyPrint options that take file names or URLs (see `_confine_sources`).
_SOURCE_OPTIONS = ("stylesheets", "attachments", "xmp_metadata")


class ResourceRefused(ValueError):
    """A document pointed at something outside the project; WeasyPrint logs it and skips it."""


class ProjectURLFetcher(URLFetcher):
    """WeasyPrint URL fetcher that serves static files, storage files and small `data:` URLs.

    It subclasses `URLFetcher` because WeasyPrint expects that interface, but never calls the
    parent's urllib opener: every URL is answered here or refused with `ResourceRefused`.
    """

    def __init__(self) -> None:
        # Belt and braces: should a code path ever reach the parent's opener, no protocol is
        # allowed there and redirects are not followed.
        super().__init__(allowed_protocols=(), allow_redirects=False, fail_on_errors=False)

    def fetch(self, url: str, headers: Mapping[str, str] | None = None) -> URLFetcherResponse:
        """Answer `url` from inside the project, or raise `ResourceRefused`."""
        scheme = url.partition(":")[0].lower() if ":" in url else ""
        if scheme == "data":
            return _fetch_data_url(url)
        if scheme == MEDIA_SCHEME:
            return _fetch_media(url)
        static_path = _static_path(url)
        if static_path is not None:
            return _fetch_static(url, static_path)
        raise _refuse(url, "outside the project")


def media_url(name: str) -> str:
    """The URL that embeds the default-storage file `name` in a PDF: "carreau-media:<name>"."""
    _check_relative_path(name, url=name)
    return f"{MEDIA_SCHEME}:{name}"


@dataclass(frozen=True)
class RenderedPdf:
    data: bytes
    page_count: int


# What every document of the product asks of WeasyPrint: a tagged PDF that screen readers can
# read (PDF/UA-1), images no finer than print needs, and fonts subset rather than whole.
DOCUMENT_OPTIONS: dict[str, Any] = {
    "pdf_variant": "pdf/ua-1",
    "dpi": 150,
    "optimize_images": True,
    "jpeg_quality": 85,
}


def render_pdf(html: str, *, base_url: str | None = None, **write_options: Any) -> bytes:
    """Render `html` to PDF bytes, fetching only what `ProjectURLFetcher` serves.

    `base_url` resolves the relative URLs of the document; it defaults to the internal origin,
    so "/static/css/pdf.css" reads the static file. A relative `base_url` such as
    "/static/projects/pdf/" is taken inside that origin; one outside it raises ValueError.
    `write_options` go to WeasyPrint's `write_pdf` (e.g. `pdf_variant="pdf/ua-1"`,
    `stylesheets=["/static/css/pdf.css"]`: strings there are URLs resolved like the document's).
    """
    return render_pdf_document(html, base_url=base_url, **write_options).data


def render_pdf_document(
    html: str,
    *,
    base_url: str | None = None,
    on_layout: Callable[[int], object] | None = None,
    **write_options: Any,
) -> RenderedPdf:
    """`render_pdf`, also telling how many pages the document has. `on_layout(pages)` is
    called once the pages are laid out, before the PDF is written (a job's progress)."""
    base = urljoin(INTERNAL_BASE_URL, base_url or "")
    if _static_path(base) is None and not _is_internal_origin(urlsplit(base)):
        raise ValueError(f"base_url must stay inside the project, got {base_url!r}.")
    if "target" in write_options:
        raise TypeError("render_pdf returns the PDF; do not pass target=.")
    fetcher = ProjectURLFetcher()
    options = _confine_sources(write_options, base)
    document = HTML(string=html, base_url=base, url_fetcher=fetcher).render(**options)
    if on_layout is not None:
        on_layout(len(document.pages))
    pdf = document.write_pdf(**options)
    return RenderedPdf(data=pdf, page_count=len(document.pages))


def pdf_response(pdf: bytes, *, filename: str, inline: bool = True) -> HttpResponse:
    """An `application/pdf` response with a safe Content-Disposition for `filename`.

    The caller has already checked that the user may see the document (DESIGN §1).
    """
    name = clean_filename(filename, default="document.pdf")
    if not name.lower().endswith(".pdf"):
        name = f"{name}.pdf"
    response = HttpResponse(pdf, content_type="application/pdf")
    disposition = content_disposition_header(not inline, name)
    assert disposition is not None  # there is always a file name
    response["Content-Disposition"] = disposition
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _confine_sources(options: dict[str, Any], base: str) -> dict[str, Any]:
    # WeasyPrint takes a relative string there as a file name and opens it directly; make it an
    # absolute URL instead so that it goes through the fetcher like everything else.
    confined = dict(options)
    for key in _SOURCE_OPTIONS:
        sources = confined.get(key)
        if sources:
            confined[key] = [
                urljoin(base, source) if isinstance(source, str) else source for source in sources
            ]
    return confined


def _refuse(url: str, reason: str) -> ResourceRefused:
    shown = url if len(url) <= 200 else f"{url[:200]}…"
    logger.warning("PDF resource refused (%s): %s", reason, shown)
    return ResourceRefused(f"Resource refused ({reason}): {shown}")


def _is_internal_origin(parts: SplitResult) -> bool:
    return parts.scheme == "https" and parts.netloc.lower() == urlsplit(INTERNAL_ORIGIN).netloc


def _static_path(url: str) -> str | None:
    """The path below STATIC_URL that `url` points at, or None if it is not a static URL."""
    # settings.STATIC_URL already carries the script prefix ("/static/"); it may also be an
    # absolute CDN URL, in which case `{% static %}` URLs are still served from disk here.
    prefix = urlsplit(urljoin(INTERNAL_BASE_URL, settings.STATIC_URL))
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if (parts.scheme.lower(), parts.netloc.lower()) != (
        prefix.scheme.lower(),
        prefix.netloc.lower(),
    ):
        return None
    if not parts.path.startswith(prefix.path):
        return None
    return parts.path[len(prefix.path) :]


def _check_relative_path(path: str, *, url: str) -> str:
    """Refuse anything but a plain relative path: no "..", no absolute path, no drive."""
    segments = path.split("/")
    if (
        not path
        or path.startswith("/")
        or "\\" in path
        or "\x00" in path
        or ":" in path
        or any(segment in ("", ".", "..") for segment in segments)
    ):
        raise _refuse(url, "unsafe path")
    return path


def _fetch_static(url: str, quoted_path: str) -> URLFetcherResponse:
    path = _check_relative_path(unquote(quoted_path), url=url)
    try:
        found = finders.find(path)
        if not found and settings.STATIC_ROOT:
            candidate = Path(safe_join(settings.STATIC_ROOT, path))
            found = str(candidate) if candidate.is_file() else None
    except SuspiciousFileOperation:
        raise _refuse(url, "unsafe path") from None
    if not found:
        raise _refuse(url, "no such static file")
    body: IO[bytes] = open(found, "rb")  # noqa: SIM115 - WeasyPrint closes the response.
    return URLFetcherResponse(url, body, headers={"Content-Type": _guess_type(path)})


def _fetch_media(url: str) -> URLFetcherResponse:
    parts = urlsplit(url)
    if parts.netloc:
        raise _refuse(url, "unsafe path")
    name = _check_relative_path(unquote(parts.path), url=url)
    try:
        body = default_storage.open(name, "rb")
    except (OSError, SuspiciousFileOperation) as error:
        raise _refuse(url, "no such stored file") from error
    return URLFetcherResponse(url, body, headers={"Content-Type": _guess_type(name)})


def _fetch_data_url(url: str) -> URLFetcherResponse:
    limit = settings.PDF_MAX_DATA_URL_BYTES
    header, comma, payload = url[len("data:") :].partition(",")
    if not comma:
        raise _refuse(url, "malformed data URL")
    # Even fully percent-encoded base64 decodes to at least a quarter of its length: refuse
    # obviously oversized payloads before decoding anything.
    if len(payload) > 4 * limit + 16:
        raise _refuse(url, "data URL too large")
    params = [param.strip() for param in header.split(";")]
    is_base64 = params[-1].lower() == "base64"
    if is_base64:
        params.pop()
    try:
        raw = unquote_to_bytes(payload)
        data = base64.b64decode(raw) if is_base64 else raw
    except (binascii.Error, ValueError):
        raise _refuse(url, "malformed data URL") from None
    if len(data) > limit:
        raise _refuse(url, "data URL too large")
    mime = params[0].lower() if params and _MIME_RE.match(params[0]) else "text/plain"
    content_type = mime
    for param in params[1:]:
        key, _equals, value = param.partition("=")
        if key.strip().lower() == "charset" and _CHARSET_RE.match(value.strip()):
            content_type = f"{mime}; charset={value.strip()}"
    return URLFetcherResponse(url, data, headers={"Content-Type": content_type})


def _guess_type(name: str) -> str:
    content_type, _encoding = mimetypes.guess_type(name)
    return content_type or "application/octet-stream"
