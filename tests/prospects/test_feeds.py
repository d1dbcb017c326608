"""The private calendar feed of next actions, and the site sheet PDF in French or English."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from icalendar import Calendar
from pypdf import PdfReader

from crm.models import User
from prospects.actions import calendar_token_for
from tests.factories import LeadFactory, SiteFactory
from tests.helpers import client_for

pytestmark = pytest.mark.django_db


def feed_url(user: User) -> str:
    secret = calendar_token_for(user).feed_secret()
    return reverse("prospects:calendar_feed", args=[user.pk, secret])


def test_the_feed_answers_without_a_login_with_one_event_per_due_action(officer: User) -> None:
    due = timezone.localdate() + timedelta(days=2)
    lead = LeadFactory(owner=officer, next_action="Rappeler; ensuite, écrire", next_action_due=due)
    LeadFactory(owner=officer, next_action="Sans date")
    LeadFactory(owner=officer, stage="lost", next_action_due=due, next_action="Perdue")

    response = Client().get(feed_url(officer))

    body = response.content.decode()
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert body.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n")
    assert body.endswith("END:VCALENDAR\r\n")
    assert body.count("BEGIN:VEVENT") == 1
    assert f"DTSTART;VALUE=DATE:{due:%Y%m%d}" in body
    assert f"UID:lead-{lead.pk}-next-action@" in body
    unfolded = body.replace("\r\n ", "")
    assert "SUMMARY:Rappeler\\; ensuite\\, écrire — " in unfolded
    assert all(len(line.encode()) <= 75 for line in body.split("\r\n"))


@pytest.mark.parametrize("token", ["", "x", "A" * 43, "../../etc"])
def test_a_wrong_secret_answers_404(officer: User, token: str) -> None:
    calendar_token_for(officer)

    response = Client().get(f"/prospects/calendar/{officer.pk}/{token}.ics")

    assert response.status_code == 404


def test_regenerating_the_secret_retires_the_old_address(officer: User) -> None:
    old = feed_url(officer)
    client = client_for(officer)

    client.post(reverse("prospects:calendar_settings"))

    assert Client().get(old).status_code == 404
    assert Client().get(feed_url(officer)).status_code == 200
    assert feed_url(officer) in client.get(reverse("prospects:calendar_settings")).content.decode()


def test_the_feed_dies_with_the_role(officer: User) -> None:
    url = feed_url(officer)
    officer.groups.clear()

    assert Client().get(url).status_code == 404


def test_another_users_id_with_my_secret_answers_404(officer: User, other_officer) -> None:
    mine = calendar_token_for(officer).feed_secret()
    calendar_token_for(other_officer)

    response = Client().get(reverse("prospects:calendar_feed", args=[other_officer.pk, mine]))

    assert response.status_code == 404


def test_the_stored_value_alone_does_not_open_the_feed(officer: User) -> None:
    """Someone holding a copy of the database, without SECRET_KEY, cannot build the address."""
    stored = calendar_token_for(officer).token

    leaked = Client().get(reverse("prospects:calendar_feed", args=[officer.pk, stored]))

    assert leaked.status_code == 404
    assert stored not in feed_url(officer)


def test_a_rotated_secret_key_keeps_the_feed_while_it_is_a_fallback(
    officer: User, settings
) -> None:
    url = feed_url(officer)
    old_key = settings.SECRET_KEY

    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "a-new-key-" + "x" * 50, [old_key]
    during = Client().get(url).status_code
    settings.SECRET_KEY_FALLBACKS = []
    after = Client().get(url).status_code

    assert (during, after) == (200, 404)
    assert Client().get(feed_url(officer)).status_code == 200  # the address built with the new key


def feed_body(user: User) -> str:
    response = Client().get(feed_url(user))
    assert response.status_code == 200
    return response.content.decode()


def test_commas_semicolons_and_newlines_in_a_lead_title_are_escaped(officer: User) -> None:
    title = "Hôtel, spa; séminaires\r\nphase 2\nsuite\\bis\x07"
    due = timezone.localdate()
    LeadFactory(owner=officer, title=title, next_action="Appeler", next_action_due=due)

    body = feed_body(officer)

    unfolded = body.replace("\r\n ", "")
    assert "SUMMARY:Appeler — Hôtel\\, spa\\; séminaires\\nphase 2\\nsuite\\\\bis\r\n" in unfolded
    # A calendar app reads the title back with its line breaks, less the control character.
    event = Calendar.from_ical(body).walk("VEVENT")[0]
    assert str(event["SUMMARY"]) == "Appeler — Hôtel, spa; séminaires\nphase 2\nsuite\\bis"


def test_a_long_line_is_folded_at_75_octets_without_cutting_a_character(officer: User) -> None:
    LeadFactory(
        owner=officer, title="é" * 60, next_action="Relancer", next_action_due=timezone.localdate()
    )

    body = feed_body(officer)

    lines = body.split("\r\n")  # the body decoded: no character was cut in two
    assert any(line.startswith(" é") for line in lines)  # a continuation line
    assert all(len(line.encode()) <= 75 for line in lines)
    assert f"SUMMARY:Relancer — {'é' * 60}\r\n" in body.replace("\r\n ", "")


# Site sheet ----------------------------------------------------------------------------------


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


@pytest.mark.parametrize(
    ("language", "shown_as", "description"),
    [
        ("fr", "fr", "Ancien carreau de fosse"),
        ("en", "en", "Former pithead yard"),
        ("xx", "fr", "Ancien carreau de fosse"),  # an unknown language falls back to French
    ],
)
def test_the_site_sheet_in_the_chosen_language(
    officer: User, language: str, shown_as: str, description: str
) -> None:
    from django.utils import formats, translation

    site = SiteFactory(
        name="Base 11/19",
        description="Ancien carreau de fosse.",
        description_en="Former pithead yard.",
    )

    response = client_for(officer).get(
        reverse("prospects:site_sheet", args=[site.pk]), {"language": language}
    )

    assert response.status_code == 200
    assert response.content.startswith(b"%PDF")
    text = pdf_text(response.content)
    assert "Base 11/19" in text
    assert description in text
    with translation.override(shown_as):
        today = formats.date_format(timezone.localdate(), "DATE_FORMAT")
    assert today in text
    assert response["Content-Disposition"] == f'inline; filename="base-1119-{shown_as}.pdf"'
