"""The private iCalendar feed of a user's next actions, written by hand (RFC 5545).

A few lines of text: each open lead with a due next action is an all-day event on its due
date. Text values are escaped (backslash, semicolon, comma, newline) and lines are folded at
75 octets, without ever cutting a UTF-8 character in two.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, timedelta
from urllib.parse import urljoin

from django.utils import timezone
from django.utils.translation import gettext as _

from prospects.models import Lead

PRODID = "-//Carreau//Prospection//FR"
MAX_LINE_OCTETS = 75


def escape_text(value: str) -> str:
    """A TEXT value (RFC 5545 §3.3.11): backslash, semicolon, comma and newlines escaped."""
    value = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    value = value.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")
    # Other control characters have no place in a content line.
    return "".join(char for char in value if char >= " " or char == "\t")


def fold(line: str) -> str:
    """Fold a content line into chunks of at most 75 octets, continuation lines starting
    with a space (RFC 5545 §3.1)."""
    encoded = line.encode()
    if len(encoded) <= MAX_LINE_OCTETS:
        return line
    parts: list[str] = []
    current = ""
    size = 0
    limit = MAX_LINE_OCTETS
    for char in line:
        width = len(char.encode())
        if size + width > limit:
            parts.append(current)
            current, size = "", 0
            limit = MAX_LINE_OCTETS - 1  # the leading space counts
        current += char
        size += width
    parts.append(current)
    return "\r\n ".join(parts)


def next_actions_ics(leads: Iterable[Lead], *, base_url: str) -> str:
    """The calendar as text, CRLF line ends, one all-day VEVENT per lead."""
    stamp = timezone.now().astimezone(UTC)
    dtstamp = f"{stamp:%Y%m%dT%H%M%SZ}"
    host = base_url.split("//", 1)[-1].split("/", 1)[0] or "carreau"
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{escape_text(_('Carreau — prochaines actions'))}",
    ]
    for lead in leads:
        due = lead.next_action_due
        summary = lead.next_action or _("Prochaine action")
        url = urljoin(base_url, lead.get_absolute_url())
        lines += [
            "BEGIN:VEVENT",
            f"UID:lead-{lead.pk}-next-action@{host}",
            f"DTSTAMP:{dtstamp}",
            f"DTSTART;VALUE=DATE:{due:%Y%m%d}",
            f"DTEND;VALUE=DATE:{due + timedelta(days=1):%Y%m%d}",
            f"SUMMARY:{escape_text(f'{summary} — {lead.title}')}",
            "DESCRIPTION:"
            + escape_text(f"{lead.organisation.name}\n{lead.get_stage_display()}\n{url}"),
            f"URL:{url}",
            "TRANSP:TRANSPARENT",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(f"{fold(line)}\r\n" for line in lines)
