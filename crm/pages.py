"""Page plumbing shared by every app's views: where to go back after a POST, and the rows of
the server-drawn bar charts (`templates/includes/_bar_chart.html`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.http import HttpRequest
from django.utils.formats import number_format
from django.utils.http import url_has_allowed_host_and_scheme

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

# A return address is a path on this site, as the forms themselves write it
# (`request.get_full_path()`, `reverse()`): printable ASCII, already percent-encoded.
_PATH = re.compile(r"/(?![/\\])[\x21-\x7e]*")
MAX_PATH_LENGTH = 2000


def local_path(value: str | None) -> str | None:
    """`value` if it is a path on this site ("/projects/12/?tab=files"), else None.

    Anything else — a view name, a scheme or host ("//evil.example", "/\\evil.example"),
    a control character, a NUL byte, text the browser sent as invalid UTF-8 (now U+FFFD) — is
    refused here, so `redirect()` never tries to reverse it as a view name nor sends it as a
    header."""
    if not value or len(value) > MAX_PATH_LENGTH or not _PATH.fullmatch(value):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme or parts.netloc:
        return None
    if not url_has_allowed_host_and_scheme(value, allowed_hosts=None):
        return None
    return value


def safe_next(request: HttpRequest, default: str) -> str:
    """The page the form asked to go back to (its `next` field) if it is a path on this site,
    otherwise `default`. Every view that takes a return address reads it through here."""
    return local_path(request.POST.get("next")) or default


def bars(
    rows: Sequence[tuple[StrOrPromise, Any]], *, whole_numbers: bool = False
) -> list[dict[str, Any]]:
    """Rows for a server-drawn bar chart: each bar's share of the longest, in percent.

    `value` is what the chart prints beside the bar: the figure itself (the template localises
    it), or with `whole_numbers` the figure rounded and grouped in the user's locale, as for
    amounts in euros; `amount` always keeps the figure itself."""
    longest = max((value for _label, value in rows), default=0) or 1
    return [
        {
            "label": label,
            "value": (
                number_format(round(value), 0, use_l10n=True, force_grouping=True)
                if whole_numbers
                else value
            ),
            "amount": value,
            "percent": round(100 * float(value) / float(longest), 1),
        }
        for label, value in rows
    ]


def prefilled_ids(request: HttpRequest, *names: str) -> dict[str, int]:
    """The ids a "create" link prefills (`?organisation=12`), those that are ids at all. The
    form they go to still offers only what the person may see, and validates what is posted."""
    ids = {}
    for name in names:
        raw = request.GET.get(name, "").strip()
        if raw.isdigit() and 0 < int(raw) <= 2**63 - 1:
            ids[name] = int(raw)
    return ids
