"""Page plumbing shared by every app's views: where to go back after a POST, and the rows of
the server-drawn bar charts (`templates/includes/_bar_chart.html`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.http import HttpRequest
from django.utils.formats import number_format
from django.utils.http import url_has_allowed_host_and_scheme


def safe_next(request: HttpRequest, default: str) -> str:
    """The page the form asked to go back to (its `next` field), if it is on this site;
    otherwise `default`."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def bars(rows: Sequence[tuple[str, Any]], *, whole_numbers: bool = False) -> list[dict[str, Any]]:
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
