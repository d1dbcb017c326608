"""PDF rendering: it works, and it never fetches anything outside the project (DESIGN §5)."""

from __future__ import annotations

import base64
import io
import logging
import socket
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import weasyprint
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.templatetags.static import static
from PIL import Image
from pypdf import PdfReader
from pytest_django.fixtures import Settings
from weasyprint.urls import URLFetchingError

from crm.pdf import (
    INTERNAL_BASE_URL,
    ProjectURLFetcher,
    ResourceRefused,
    _pages_laid_out,
    media_url,
    pdf_response,
    render_pdf,
    render_pdf_document,
)

HOSTILE_URLS = [
    "file:///etc/passwd",
    "http://169.254.169.254/latest/meta-data/",
    "https://example.org/x.png",
    "ftp://example.org/x.css",
    "gopher://example.org/x",
]

HOSTILE_HTML = """<!doctype html>
<html lang="fr"><head>
<link rel="stylesheet" href="file:///etc/passwd">
<link rel="stylesheet" href="https://example.org/x.css">
<style>
  @import url("file:///etc/passwd");
  @import "ftp://example.org/x.css";
  @font-face { font-family: Distante; src: url(https://example.org/font.woff2); }
  body { background: url(http://169.254.169.254/latest/meta-data/); }
  li { list-style-image: url("gopher://example.org/x"); }
</style>
</head><body>
<h1>Cahier des charges</h1>
<img src="file:///etc/passwd" alt="">
<img src="http://169.254.169.254/latest/meta-data/" alt="">
<img src="https://example.org/x.png" alt="">
<svg width="10" height="10"><image href="file:///etc/passwd" width="10" height="10"/></svg>
<ul><li>Objectifs</li></ul>
<a rel="attachment" href="https://example.org/x.png">pièce jointe</a>
</body></html>
"""


def png_bytes(size: tuple[int, int] = (8, 8), color: str = "#c00") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def text_of(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def image_count(pdf: bytes) -> int:
    return sum(len(page.images) for page in PdfReader(io.BytesIO(pdf)).pages)


class Network:
    """Records every attempt to open a URL or a socket; none is allowed to proceed."""

    def __init__(self) -> None:
        self.attempts: list[str] = []

    def record(self, target: Any) -> OSError:
        self.attempts.append(getattr(target, "full_url", None) or str(target))
        return OSError("network and file access are disabled in tests")


@pytest.fixture
def network(monkeypatch: pytest.MonkeyPatch) -> Network:
    """Patch every opener WeasyPrint's default fetcher would use: urllib and raw sockets."""
    recorder = Network()

    def director_open(director: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        raise recorder.record(request)

    def urlopen(request: Any, *args: Any, **kwargs: Any) -> Any:
        raise recorder.record(request)

    def connect(address: Any, *args: Any, **kwargs: Any) -> Any:
        raise recorder.record(f"socket:{address}")

    monkeypatch.setattr(urllib.request.OpenerDirector, "open", director_open)
    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    monkeypatch.setattr(socket, "getaddrinfo", connect)
    monkeypatch.setattr(socket, "create_connection", connect)
    return recorder


@pytest.fixture
def fetched(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Every URL our fetcher is asked for, with what it did: "served" or "refused"."""
    outcomes: dict[str, str] = {}
    original = ProjectURLFetcher.fetch

    def spy(self: ProjectURLFetcher, url: str, headers: Any = None) -> Any:
        try:
            response = original(self, url, headers)
        except ResourceRefused:
            outcomes[url] = "refused"
            raise
        outcomes[url] = "served"
        return response

    monkeypatch.setattr(ProjectURLFetcher, "fetch", spy)
    return outcomes


@pytest.fixture
def static_dir(tmp_path: Path, settings: Settings) -> Iterator[Path]:
    """A static folder of our own, with a stylesheet and an image, plus a secret beside it."""
    root = tmp_path / "static"
    (root / "css").mkdir(parents=True)
    (root / "img").mkdir()
    (root / "css" / "test-pdf.css").write_text('h1::after { content: " STATIQUE-OK"; }')
    (root / "css" / "imports.css").write_text('@import "test-pdf.css";')
    (root / "img" / "logo.png").write_bytes(png_bytes())
    (tmp_path / "secret.css").write_text('h1::after { content: " SECRET"; }')
    settings.STATICFILES_DIRS = [root]
    settings.STATIC_ROOT = tmp_path / "collected"
    yield root


def test_renders_a_pdf_with_the_expected_text() -> None:
    pdf = render_pdf('<html lang="fr"><body><h1>Hôtel Louvre-Lens</h1></body></html>')

    assert pdf.startswith(b"%PDF")
    assert "Hôtel Louvre-Lens" in text_of(pdf)


def test_remote_and_local_urls_are_never_opened(network: Network, fetched: dict[str, str]) -> None:
    pdf = render_pdf(HOSTILE_HTML)

    assert pdf.startswith(b"%PDF")
    assert "Cahier des charges" in text_of(pdf)
    assert image_count(pdf) == 0
    # Every hostile URL reached our fetcher and was refused there...
    for url in HOSTILE_URLS:
        assert fetched.get(url) == "refused", url
    assert set(fetched.values()) == {"refused"}
    # ...and nothing ever reached a real opener.
    assert network.attempts == []


def test_the_default_fetcher_would_have_opened_them(network: Network) -> None:
    # Control for the test above: with WeasyPrint's own fetcher the same document does try
    # to open the file and the remote hosts, so the recorder is able to see it.
    weasyprint.HTML(string=HOSTILE_HTML, base_url=INTERNAL_BASE_URL).write_pdf()

    assert "file:///etc/passwd" in network.attempts
    assert "http://169.254.169.254/latest/meta-data/" in network.attempts
    assert "https://example.org/x.png" in network.attempts


def test_a_base_element_cannot_move_the_document_outside(
    network: Network, fetched: dict[str, str]
) -> None:
    html = '<html><head><base href="file:///etc/"></head><body><img src="passwd"></body></html>'

    render_pdf(html)

    assert fetched == {"file:///etc/passwd": "refused"}
    assert network.attempts == []


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_the_fetcher_refuses_foreign_urls(url: str, network: Network) -> None:
    with pytest.raises(ResourceRefused):
        ProjectURLFetcher().fetch(url)
    assert network.attempts == []


def test_a_small_data_url_image_is_embedded() -> None:
    without = render_pdf("<p>Logo</p>")
    with_image = render_pdf(f'<p>Logo</p><img src="{data_url(png_bytes())}" alt="logo">')

    assert image_count(without) == 0
    assert image_count(with_image) == 1
    assert len(with_image) > len(without)


def test_an_oversized_data_url_is_refused(settings: Settings, fetched: dict[str, str]) -> None:
    settings.PDF_MAX_DATA_URL_BYTES = 200
    big = data_url(png_bytes((300, 300), color="#123456") + b"\0" * 300)
    small = data_url(png_bytes((2, 2)))

    pdf = render_pdf(f'<img src="{big}" alt=""><img src="{small}" alt="">')

    assert image_count(pdf) == 1
    assert fetched[big] == "refused"
    assert fetched[small] == "served"


def test_an_oversized_data_url_is_refused_before_decoding(settings: Settings) -> None:
    settings.PDF_MAX_DATA_URL_BYTES = 10
    with pytest.raises(ResourceRefused, match="too large"):
        ProjectURLFetcher().fetch("data:text/plain;base64," + "QUFB" * 1000)
    with pytest.raises(ResourceRefused, match="too large"):
        ProjectURLFetcher().fetch("data:text/plain," + "A" * 11)


def test_data_urls_keep_their_type_and_charset() -> None:
    response = ProjectURLFetcher().fetch("data:text/css;charset=utf-8,h1%7Bcolor:red%7D")

    assert response.read() == b"h1{color:red}"
    assert response.content_type == "text/css"
    assert response.charset == "utf-8"


def test_static_files_are_fetched(static_dir: Path, fetched: dict[str, str]) -> None:
    html = f"""<html><head>
    <link rel="stylesheet" href="{static("css/test-pdf.css")}">
    </head><body><h1>Titre</h1><img src="/static/img/logo.png" alt="logo"></body></html>"""

    pdf = render_pdf(html)

    assert "STATIQUE-OK" in text_of(pdf)
    assert image_count(pdf) == 1
    assert fetched["https://carreau.invalid/static/css/test-pdf.css"] == "served"


def test_css_imports_and_relative_urls_resolve_inside_static(static_dir: Path) -> None:
    pdf = render_pdf('<link rel="stylesheet" href="/static/css/imports.css"><h1>Titre</h1>')

    assert "STATIQUE-OK" in text_of(pdf)


def test_a_relative_base_url_is_taken_inside_the_project(static_dir: Path) -> None:
    pdf = render_pdf(
        '<link rel="stylesheet" href="test-pdf.css"><h1>Titre</h1>', base_url="/static/css/"
    )

    assert "STATIQUE-OK" in text_of(pdf)


def test_a_base_url_outside_the_project_is_an_error() -> None:
    with pytest.raises(ValueError, match="inside the project"):
        render_pdf("<p>x</p>", base_url="file:///etc/")
    with pytest.raises(ValueError, match="inside the project"):
        render_pdf("<p>x</p>", base_url="https://example.org/")


def test_stylesheet_option_strings_are_urls_not_file_names(
    static_dir: Path, network: Network
) -> None:
    pdf = render_pdf("<h1>Titre</h1>", stylesheets=["/static/css/test-pdf.css"])
    assert "STATIQUE-OK" in text_of(pdf)

    # WeasyPrint would open "/etc/passwd" as a file name; here it is a refused URL.
    with pytest.raises(URLFetchingError, match="refused"):
        render_pdf("<h1>Titre</h1>", stylesheets=["/etc/passwd"])
    assert network.attempts == []


def test_static_root_serves_collected_files(static_dir: Path, settings: Settings) -> None:
    collected = Path(settings.STATIC_ROOT) / "css"
    collected.mkdir(parents=True)
    (collected / "pdf.4f3a2b.css").write_text('h1::after { content: " COLLECTE-OK"; }')

    pdf = render_pdf('<link rel="stylesheet" href="/static/css/pdf.4f3a2b.css"><h1>T</h1>')

    assert "COLLECTE-OK" in text_of(pdf)


@pytest.mark.parametrize(
    "href",
    [
        "/static/../secret.css",
        "/static/../../etc/passwd",
        "/static/%2e%2e/secret.css",
        "/static/css/..%2f..%2fsecret.css",
        "/static/css/%2e%2e%2f%2e%2e%2fsecret.css",
        "/static/css/..%5c..%5csecret.css",
        "/static//etc/passwd",
        "https://carreau.invalid/static/css/../../secret.css",
        "https://carreau.invalid@example.org/static/css/test-pdf.css",
    ],
)
def test_path_traversal_out_of_static_is_refused(
    href: str, static_dir: Path, fetched: dict[str, str], network: Network
) -> None:
    pdf = render_pdf(f'<link rel="stylesheet" href="{href}"><h1>Titre</h1>')

    assert "SECRET" not in text_of(pdf)
    assert set(fetched.values()) == {"refused"}
    assert network.attempts == []


def test_the_absolute_traversal_url_really_points_outside(static_dir: Path) -> None:
    # Guard for the case above: that URL is not normalised on the way to the fetcher.
    with pytest.raises(ResourceRefused, match="unsafe path"):
        ProjectURLFetcher().fetch("https://carreau.invalid/static/css/../../secret.css")


def test_stored_files_are_embedded_through_the_media_scheme(fetched: dict[str, str]) -> None:
    name = default_storage.save("deliverables/planche.png", ContentFile(png_bytes()))

    pdf = render_pdf(f'<img src="{media_url(name)}" alt="planche">')

    assert image_count(pdf) == 1
    assert fetched[f"carreau-media:{name}"] == "served"


@pytest.mark.parametrize(
    "url",
    [
        "carreau-media:../etc/passwd",
        "carreau-media:deliverables/../../etc/passwd",
        "carreau-media:/etc/passwd",
        "carreau-media:%2Fetc%2Fpasswd",
        "carreau-media://example.org/x.png",
        "carreau-media:C:/Windows/win.ini",
        "carreau-media:deliverables/absent.png",
    ],
)
def test_unsafe_or_missing_media_names_are_refused(url: str) -> None:
    with pytest.raises(ResourceRefused):
        ProjectURLFetcher().fetch(url)


def test_media_url_refuses_unsafe_names() -> None:
    assert media_url("deliverables/a.png") == "carreau-media:deliverables/a.png"
    with pytest.raises(ResourceRefused):
        media_url("../a.png")


def test_pdf_ua_variant_renders_a_tagged_pdf() -> None:
    pdf = render_pdf(
        '<html lang="fr"><body><h1>Accessible</h1></body></html>', pdf_variant="pdf/ua-1"
    )

    assert pdf.startswith(b"%PDF")
    root = PdfReader(io.BytesIO(pdf)).trailer["/Root"]
    assert "/StructTreeRoot" in root
    assert "Accessible" in text_of(pdf)


def test_a_refused_colour_profile_fails_closed(network: Network) -> None:
    # WeasyPrint does not catch fetch errors for @color-profile (with any fetcher): rendering
    # stops. What matters here is that nothing was opened.
    html = "<style>@color-profile --p { src: url(file:///etc/passwd) }</style><p>x</p>"

    with pytest.raises(URLFetchingError, match="refused"):
        render_pdf(html)
    assert network.attempts == []


def test_pdf_response_is_inline_with_a_safe_name() -> None:
    response = pdf_response(b"%PDF-1.7 test", filename='Cahier "DS-2026-014"\r\n')

    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == ('inline; filename="Cahier \\"DS-2026-014\\".pdf"')
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response.content == b"%PDF-1.7 test"


def test_pdf_response_can_be_an_attachment_with_a_unicode_name() -> None:
    response = pdf_response(b"%PDF", filename="Fiche site ../Arenberg Wallers.pdf", inline=False)

    # Only the last path segment of a name survives.
    assert response["Content-Disposition"] == 'attachment; filename="Arenberg Wallers.pdf"'
    accented = pdf_response(b"%PDF", filename="Cité des Électriciens.pdf", inline=False)
    assert accented["Content-Disposition"] == (
        "attachment; filename*=utf-8''Cit%C3%A9%20des%20%C3%89lectriciens.pdf"
    )


def test_a_render_counts_the_images_read_the_pages_laid_out_then_the_pages_drawn() -> None:
    names = [
        default_storage.save(f"deliverables/planche-{n}.png", ContentFile(png_bytes()))
        for n in range(2)
    ]
    images = "".join(f'<img src="{media_url(name)}" alt="">' for name in names)
    pages = "".join('<p style="break-after: page">Page</p>' for _n in range(4))
    heard: list[tuple[str, int, int | None]] = []

    rendered = render_pdf_document(
        f"{images}{images}{pages}",  # each image twice: read once
        on_progress=lambda stage, done, total: heard.append((stage.value, done, total)),
    )

    count = rendered.page_count
    assert count == len(PdfReader(io.BytesIO(rendered.data)).pages) >= 4
    assert heard == [
        ("images", 0, 2),
        ("images", 1, 2),
        ("images", 2, 2),
        *(("layout", page, None) for page in range(1, count + 1)),
        *(("pages", page, count) for page in range(count + 1)),
    ]


def test_a_render_hears_only_its_own_pages_not_another_threads() -> None:
    heard: list[int] = []

    def elsewhere() -> None:
        logging.getLogger("weasyprint.progress").info("Step 5 - Creating layout - Page %d", 9)

    with _pages_laid_out(heard.append):
        other = threading.Thread(target=elsewhere)
        other.start()
        other.join()
        logging.getLogger("weasyprint.progress").info("Step 5 - Creating layout - Page %d", 1)
        logging.getLogger("weasyprint.progress").info("Step 5 - Creating layout - Page %d", 2)
        logging.getLogger("weasyprint.progress").info("Step 5 - Creating layout - Repagination #1")
        logging.getLogger("weasyprint.progress").info(
            "Step 5 - Creating layout - Page %d (up-to-date)", 1
        )

    assert heard == [1, 2]
