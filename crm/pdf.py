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

A long document tells how far it has got (`render_pdf_document(on_progress=...)`), in three
steps that are each counted, not guessed: the stored images read (of those the document
embeds), the pages laid out (WeasyPrint says so page by page; how many there will be is
known only at the end), then the pages drawn into the PDF (of the pages laid out).
"""

from __future__ import annotations

import base64
import binascii
import functools
import logging
import mimetypes
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
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
    `on_media(url)` hears of each stored file it has opened (a render's progress).
    """

    def __init__(self, *, on_media: Callable[[str], object] | None = None) -> None:
        # Belt and braces: should a code path ever reach the parent's opener, no protocol is
        # allowed there and redirects are not followed.
        super().__init__(allowed_protocols=(), allow_redirects=False, fail_on_errors=False)
        self.on_media = on_media

    def fetch(self, url: str, headers: Mapping[str, str] | None = None) -> URLFetcherResponse:
        """Answer `url` from inside the project, or raise `ResourceRefused`."""
        scheme = url.partition(":")[0].lower() if ":" in url else ""
        if scheme == "data":
            return _fetch_data_url(url)
        if scheme == MEDIA_SCHEME:
            response = _fetch_media(url)
            if self.on_media is not None:
                self.on_media(url)
            return response
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


class RenderStage(StrEnum):
    """What a render counts as it goes (see `render_pdf_document`)."""

    IMAGES = "images"  # stored images read, of those the document embeds
    LAYOUT = "layout"  # pages laid out so far; the total is not known yet
    PAGES = "pages"  # pages drawn into the PDF, of the pages laid out


# on_progress(stage, done, total): total is None while it is not known.
RenderProgress = Callable[[RenderStage, int, int | None], object]

_MEDIA_URL_RE = re.compile(rf"{MEDIA_SCHEME}:[^\s\"'()<>]+")
# WeasyPrint's progress logger says "Step 5 - Creating layout - Page 12" as it lays out page
# 12 (again, "(up-to-date)", when a second pass finds it unchanged).
_LAYOUT_PAGE_RE = re.compile(r"^Step 5 - Creating layout - Page (\d+)")
PROGRESS_LOGGER = "weasyprint.progress"


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
    on_progress: RenderProgress | None = None,
    **write_options: Any,
) -> RenderedPdf:
    """`render_pdf`, also telling how many pages the document has.

    `on_progress(stage, done, total)` hears how far the render has got (a job's progress):
    `RenderStage.IMAGES`, each stored image read, of those the HTML embeds (when it embeds
    any); `LAYOUT`, each page laid out, with no total yet; then `PAGES`, each page drawn
    into the PDF, of the pages laid out. The bytes are written after the last page."""
    base = urljoin(INTERNAL_BASE_URL, base_url or "")
    if _static_path(base) is None and not _is_internal_origin(urlsplit(base)):
        raise ValueError(f"base_url must stay inside the project, got {base_url!r}.")
    if "target" in write_options:
        raise TypeError("render_pdf returns the PDF; do not pass target=.")
    options = _confine_sources(write_options, base)
    if on_progress is None:
        document = HTML(string=html, base_url=base, url_fetcher=ProjectURLFetcher()).render(
            **options
        )
        return RenderedPdf(data=document.write_pdf(**options), page_count=len(document.pages))

    report = on_progress
    embedded = set(_MEDIA_URL_RE.findall(html))
    read: set[str] = set()

    def on_media(url: str) -> None:
        if url in embedded and url not in read:
            read.add(url)
            report(RenderStage.IMAGES, len(read), len(embedded))

    if embedded:
        report(RenderStage.IMAGES, 0, len(embedded))
    fetcher = ProjectURLFetcher(on_media=on_media)
    with _pages_laid_out(lambda page: report(RenderStage.LAYOUT, page, None)):
        document = HTML(string=html, base_url=base, url_fetcher=fetcher).render(**options)
    pages = document.pages
    report(RenderStage.PAGES, 0, len(pages))
    for number, page in enumerate(pages, start=1):
        # `Page.paint` draws one page into the PDF (WeasyPrint's public API for drawing a
        # page): counting its calls counts the pages drawn, as `write_pdf` goes.
        page.paint = _then(
            page.paint, functools.partial(report, RenderStage.PAGES, number, len(pages))
        )
    pdf = document.write_pdf(**options)
    return RenderedPdf(data=pdf, page_count=len(pages))


def _then(draw: Callable[..., Any], done: Callable[[], object]) -> Callable[..., Any]:
    @functools.wraps(draw)
    def drawn(*args: Any, **kwargs: Any) -> Any:
        result = draw(*args, **kwargs)
        done()
        return result

    return drawn


class _LayoutListener(logging.Handler):
    """Hands the page numbers WeasyPrint logs as it lays out pages to one render: the one
    running in the thread that installed it (another thread may be rendering meanwhile)."""

    def __init__(self, on_page: Callable[[int], object]) -> None:
        super().__init__(level=logging.INFO)
        self.thread = threading.get_ident()
        self.on_page = on_page
        self.pages = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self.thread:
            return
        match = _LAYOUT_PAGE_RE.match(record.getMessage())
        # A second pass (page numbers, "n / N") lays out pages 1, 2... again: the count
        # does not go back.
        if match and int(match[1]) > self.pages:
            self.pages = int(match[1])
            self.on_page(self.pages)


@contextmanager
def _pages_laid_out(on_page: Callable[[int], object]) -> Iterator[None]:
    """Within the block, `on_page(n)` as WeasyPrint lays out page n. Its progress logger is
    set to INFO and does not propagate in `settings.LOGGING`: these lines are for the render
    that asked, not for the log."""
    logger = logging.getLogger(PROGRESS_LOGGER)
    listener = _LayoutListener(on_page)
    logger.addHandler(listener)
    try:
        yield
    finally:
        logger.removeHandler(listener)


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
