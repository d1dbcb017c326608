"""The content rules the access walk checks on every page (`tests.helpers.html_problems`), shown
on small pieces of HTML, and the filter that writes `<time datetime>` values."""

from __future__ import annotations

import datetime
import zoneinfo

import pytest
from django.template import Context, Template
from django.utils import timezone

from tests.helpers import html_problems

PAGE = "<!DOCTYPE html><html lang=fr><head><title>t</title></head><body>{}</body></html>"


@pytest.mark.parametrize(
    "value",
    ["2026-12-01", "2026-12-01T13:05:09+01:00", "2026-12-01T13:05:09.123Z", "2026-12-01T13:05"],
)
def test_readable_datetime_values_pass(value: str) -> None:
    assert html_problems(PAGE.format(f'<time datetime="{value}">x</time>')) == []


@pytest.mark.parametrize("value", ["2026-12-01T13:05:09.123456+01:00", "01/12/2026", ""])
def test_unreadable_datetime_values_are_reported(value: str) -> None:
    problems = html_problems(PAGE.format(f'<time datetime="{value}">x</time>'))
    assert problems == [f"<time datetime={value!r}> is not a valid date or time"]


def test_a_summary_takes_only_phrasing_content() -> None:
    good = "<details><summary><span>Journal</span> <span class=badge>3</span></summary></details>"
    bad = "<details><summary><h2>Journal</h2> (3)</summary></details>"

    assert html_problems(PAGE.format(good)) == []
    assert html_problems(PAGE.format(bad)) == ["<h2> inside <summary> (only phrasing content)"]


def test_the_datetime_filter_writes_seconds_in_local_time(settings) -> None:
    settings.TIME_ZONE = "Europe/Paris"
    template = Template("{% load machine %}{{ when|datetime_attr }}|{{ day|datetime_attr }}")
    when = datetime.datetime(2026, 12, 1, 12, 5, 9, 123456, tzinfo=zoneinfo.ZoneInfo("UTC"))

    with timezone.override("Europe/Paris"):
        text = template.render(Context({"when": when, "day": datetime.date(2026, 12, 1)}))

    assert text == "2026-12-01T13:05:09+01:00|2026-12-01"
