"""The site sheet for investors, as a PDF in French or English (DESIGN §4, §5).

It goes through the shared renderer (`crm.pdf.render_pdf`), which fetches nothing outside the
project: photos are embedded from storage through `media_url`, never from a URL.
"""

from __future__ import annotations

from django.http import HttpResponse
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.text import slugify

from crm.pdf import media_url, pdf_response, render_pdf
from prospects.models import Site

SHEET_PHOTO_LIMIT = 4


def site_sheet_pdf(site: Site, *, language: str) -> bytes:
    """The sheet of `site` in `language` ("fr" or "en"); the caller checked the user may see
    the site. Only the site's own facts are shown: never a lead."""
    photos = [
        {"url": media_url(photo.thumbnail.name or photo.image.name), "caption": photo.caption}
        for photo in list(site.photos.all())[:SHEET_PHOTO_LIMIT]
    ]
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
                "language": language,
                "today": timezone.localdate(),
            },
        )
    return render_pdf(html)


def site_sheet_response(site: Site, data: bytes, *, language: str) -> HttpResponse:
    return pdf_response(data, filename=f"{slugify(site.name) or 'site'}-{language}.pdf")
