"""The site sheet for investors, as a PDF in French or English (DESIGN §4, §5).

It goes through the shared renderer (`crm.pdf.render_pdf`), which fetches nothing outside the
project: photos are embedded from storage through `media_url`, never from a URL.
"""

from __future__ import annotations

from math import cos, radians
from typing import Any

from django.http import HttpResponse
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.text import slugify

from crm.pdf import RenderProgress, media_url, pdf_response, render_pdf_document
from prospects.models import Site, Town

# One page: a main photo and two beside the facts at most, a description of a few paragraphs.
SHEET_PHOTO_LIMIT = 3
SHEET_DESCRIPTION_CHARS = 900
LOCATOR_WIDTH = 300
LOCATOR_MARGIN = 0.12  # of the drawn area, on each side, so that labels stay inside
LABEL_CHAR_WIDTH = 6.0  # an 11-unit label's average character, to keep labels apart


def locator(site: Site, towns: list[Town]) -> dict[str, Any] | None:
    """The site among the destination's main towns, as points of an SVG drawing (no map
    tiles: positions only, from the coordinates Carreau stores). None when the site has no
    coordinates or there are no towns to place it among."""
    placed = [town for town in towns if town.on_locator]
    if site.point is None or not placed:
        return None
    points = [town.point for town in placed] + [site.point]
    middle = (min(p[0] for p in points) + max(p[0] for p in points)) / 2
    # Equirectangular: a degree of longitude is cos(latitude) as long as a degree of latitude.
    squeeze = cos(radians(middle))

    def plane(point: tuple[float, float]) -> tuple[float, float]:
        return (point[1] * squeeze, -point[0])

    xs, ys = zip(*(plane(p) for p in points), strict=True)
    span_x = max(max(xs) - min(xs), 0.05)
    span_y = max(max(ys) - min(ys), 0.05)
    left, top = min(xs) - span_x * LOCATOR_MARGIN, min(ys) - span_y * LOCATOR_MARGIN
    scale = LOCATOR_WIDTH / (span_x * (1 + 2 * LOCATOR_MARGIN))
    height = round(span_y * (1 + 2 * LOCATOR_MARGIN) * scale)

    def place(point: tuple[float, float]) -> tuple[float, float]:
        x, y = plane(point)
        return (round((x - left) * scale, 1), round((y - top) * scale, 1))

    site_xy = place(site.point)
    town_xy = [place(town.point) for town in placed]
    # Each label takes the first side of its point where it overlaps no point and no label
    # already placed (close towns, the site's mark), and stays inside the drawing.
    obstacles = [_box(x, y, 4, 4) for x, y in town_xy] + [_box(*site_xy, 8, 8)]
    drawn = []
    for town, (x, y) in zip(placed, town_xy, strict=True):
        width = LABEL_CHAR_WIDTH * len(town.name)
        candidates = [
            (x + 6, y + 4, "start", (x + 5, y - 6, x + 7 + width, y + 6)),
            (x - 6, y + 4, "end", (x - 7 - width, y - 6, x - 5, y + 6)),
            (x, y - 7, "middle", (x - width / 2, y - 17, x + width / 2, y - 5)),
            (x, y + 15, "middle", (x - width / 2, y + 5, x + width / 2, y + 17)),
        ]
        inside = [c for c in candidates if _within(c[3], LOCATOR_WIDTH, height)] or candidates
        free = [c for c in inside if not any(_overlap(c[3], o) for o in obstacles)]
        label_x, label_y, anchor, box = (free or inside)[0]
        obstacles.append(box)
        drawn.append(
            {
                "name": town.name,
                "x": x,
                "y": y,
                "label_x": label_x,
                "label_y": label_y,
                "anchor": anchor,
            }
        )
    return {
        "width": LOCATOR_WIDTH,
        "height": height,
        "towns": drawn,
        "site": {"x": site_xy[0], "y": site_xy[1]},
    }


Box = tuple[float, float, float, float]


def _box(x: float, y: float, half_width: float, half_height: float) -> Box:
    return (x - half_width, y - half_height, x + half_width, y + half_height)


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _within(box: Box, width: float, height: float) -> bool:
    return box[0] >= 0 and box[1] >= 0 and box[2] <= width and box[3] <= height


def site_sheet_pdf(
    site: Site, *, language: str, on_progress: RenderProgress | None = None
) -> bytes:
    """The sheet of `site` in `language` ("fr" or "en"); the caller checked the user may see
    the site. Only the site's own facts are shown: never a lead. `on_progress` hears how far
    the render has got: the photos read, then the page (`crm.pdf.render_pdf_document`)."""
    html = site_sheet_html(site, language=language)
    return render_pdf_document(html, on_progress=on_progress).data


def site_sheet_html(site: Site, *, language: str) -> str:
    """The sheet's HTML: one A4 page for an investor (photo, location and locator, surface,
    availability, owner, access and distances, the officer to contact)."""
    photos = [
        {
            # The first photo is shown large: the full image; the others are thumbnails.
            "url": media_url(
                photo.image.name if index == 0 else (photo.thumbnail.name or photo.image.name)
            ),
            "caption": photo.caption,
        }
        for index, photo in enumerate(list(site.photos.all())[:SHEET_PHOTO_LIMIT])
    ]
    towns = list(Town.objects.all())
    with translation.override(language):
        description = (
            (site.description_en or site.description) if language == "en" else (site.description)
        )
        html = render_to_string(
            "prospects/pdf/site_sheet.html",
            {
                "site": site,
                "photos": photos,
                "description": description,
                "description_limit": SHEET_DESCRIPTION_CHARS,
                "distances": site.distances(towns),
                "locator": locator(site, towns),
                "officer": site.contact_officer,
                "language": language,
                "today": timezone.localdate(),
            },
        )
    return html


def site_sheet_response(site: Site, data: bytes, *, language: str) -> HttpResponse:
    return pdf_response(data, filename=f"{slugify(site.name) or 'site'}-{language}.pdf")
