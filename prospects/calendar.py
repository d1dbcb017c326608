"""The private iCalendar feed of a user's next actions (RFC 5545), written with `icalendar`.

Each open lead with a due next action is an all-day event on its due date. The package escapes
text values (backslash, semicolon, comma, newline) and folds lines at 75 octets without cutting
a UTF-8 character in two.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, timedelta
from urllib.parse import urljoin

from django.utils import timezone
from django.utils.translation import gettext as _
from icalendar import Calendar, Event

from prospects.models import Lead

PRODID = "-//Carreau//Prospection//FR"


def printable(value: str) -> str:
    """`value` without control characters other than tab and newline: a TEXT value may not
    hold them (RFC 5545 §3.3.11), and `icalendar` writes them as they are."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(char for char in value if char >= " " or char in "\t\n")


def next_actions_ics(leads: Iterable[Lead], *, base_url: str) -> str:
    """The calendar as text, CRLF line ends, one all-day VEVENT per lead."""
    stamp = timezone.now().astimezone(UTC)
    host = base_url.split("//", 1)[-1].split("/", 1)[0] or "carreau"
    calendar = Calendar()
    calendar.add("version", "2.0")
    calendar.add("prodid", PRODID)
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", printable(_("Carreau — prochaines actions")))
    for lead in leads:
        due = lead.next_action_due
        assert due is not None  # the feed lists leads with a next action date
        summary = lead.next_action or _("Prochaine action")
        url = urljoin(base_url, lead.get_absolute_url())
        event = Event()
        event.add("uid", f"lead-{lead.pk}-next-action@{host}")
        event.add("dtstamp", stamp)
        event.add("dtstart", due)
        event.add("dtend", due + timedelta(days=1))
        event.add("summary", printable(f"{summary} — {lead.title}"))
        event.add(
            "description",
            printable(f"{lead.organisation.name}\n{lead.get_stage_display()}\n{url}"),
        )
        event.add("url", url)
        event.add("transp", "TRANSPARENT")
        calendar.add_component(event)
    ical: bytes = calendar.to_ical()
    return ical.decode()
