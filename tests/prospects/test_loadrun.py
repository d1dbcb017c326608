"""The load run's parts that need no server: sessions, addresses, figures and their table."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from crm.models import Role, User
from prospects.management.commands.loadrun import Visitor, report, summarise, visitor_for
from tests.factories import LeadFactory, OrganisationFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("role", [Role.STAFF, Role.OFFICER])
def test_every_address_a_visitor_browses_answers_200_in_its_session(role: str) -> None:
    user = UserFactory(username=f"bench-{role}", role=role)
    OrganisationFactory.create_batch(3)
    ProjectFactory()
    LeadFactory(**({"owner": user} if role == Role.OFFICER else {}))

    visitor = visitor_for(user, seed=1)

    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = visitor.cookie
    assert any("/prospects/" in url for url in visitor.urls)
    assert len(visitor.urls) == len(set(visitor.urls)) >= 9
    for url in visitor.urls:
        assert client.get(url).status_code == 200, url


def test_a_designer_is_not_sent_to_prospecting() -> None:
    designer = UserFactory(username="bench-designer", role=Role.DESIGNER)

    assert not any("prospects" in url for url in visitor_for(designer, seed=1).urls)


def test_the_figures_and_their_table() -> None:
    visitors = [
        Visitor("a", "x", [], results=[(200, 0.1), (200, 0.2), (200, 0.3)]),
        Visitor("b", "y", [], results=[(200, 0.4), (500, 0.05), (0, 0.0)]),
    ]

    figures = summarise(visitors, elapsed=2.0)

    assert figures["requests"] == 6
    assert figures["per_second"] == 3.0
    assert figures["median_ms"] == pytest.approx(250.0)
    assert figures["p95_ms"] == pytest.approx(400.0)
    assert figures["errors"] == {500: 1, 0: 1}
    fast = {**figures, "think": 1.0, "errors": {}}
    table = report([{**figures, "think": 1.0}, fast, {**figures, "think": 0.0}], {"workers": 2})
    assert "| 1 s on average | 6 | 3.0 | 250 | 400 | 400 | 2 (no answer: 1, 500: 1) | ✗ |" in table
    assert "| 1 s on average | 6 | 3.0 | 250 | 400 | 400 | 0 | ✓ |" in table
    # Flat out measures capacity: it has no time goal, but errors still fail it.
    flat_out = "| none (flat out) | 6 | 3.0 | 250 | 400 | 400 | 2 (no answer: 1, 500: 1) |"
    assert f"{flat_out} ✗ errors |" in table


def test_no_bench_data_is_a_clear_error() -> None:
    from django.core.management import CommandError, call_command

    User.objects.filter(username__startswith="bench-").delete()
    with pytest.raises(CommandError, match="make bench"):
        call_command("loadrun", seconds=1)


def test_the_mixed_run_counts_only_the_requests_made_while_jobs_ran() -> None:
    from prospects.management.commands.loadrun import mixed_report

    visitor = Visitor(
        "a",
        "x",
        [],
        results=[(200, 0.01), (200, 0.05), (500, 0.2), (200, 0.9)],
        started=[1.0, 10.0, 11.0, 30.0],
    )

    figures = summarise([visitor], elapsed=10.0, between=(5.0, 15.0))

    assert figures["requests"] == 2
    assert figures["errors"] == {500: 1}
    assert figures["max_ms"] == pytest.approx(50.0)
    jobs = {
        "list_export": {"status": "done", "error": "", "total": 100_000, "seconds": 61.2},
        "specification_preview": {"status": "failed", "error": "Trop long.", "total": None},
    }
    text = mixed_report({**figures, "think": 1.0, "jobs": jobs})
    assert "- Export of the organisation list: 100,000 rows in 61.2 s" in text
    assert "- Specification preview: failed Trop long." in text
    assert "| 1 s on average | 2 | 0.2 | 50 | 50 | 50 | 1 (500: 1) | ✗ |" in text


def test_the_mixed_run_meets_its_goal_only_with_both_jobs_done_and_fast_pages() -> None:
    from prospects.management.commands.loadrun import mixed_report

    figures = summarise([Visitor("a", "x", [], results=[(200, 0.04)], started=[2.0])], 1.0)
    jobs = {
        "list_export": {"status": "done", "error": "", "total": 10, "seconds": 1.0},
        "specification_preview": {"status": "done", "error": "", "total": 101, "seconds": 50.0},
    }

    text = mixed_report({**figures, "think": 1.0, "jobs": jobs})

    assert "- Specification preview: 101 pages in 50.0 s" in text
    assert text.rstrip().endswith("| 0 | ✓ |")


def test_the_long_specification_fills_every_section_to_its_bound() -> None:
    from projects.models import MAX_SECTION_LINES, SECTION_FIELDS, pdf_lines
    from prospects.management.commands.loadrun import long_specification

    ProjectFactory()

    specification = long_specification(milestones=5)

    for name in SECTION_FIELDS:
        assert pdf_lines(getattr(specification, name)) == MAX_SECTION_LINES
    assert not specification.too_long_sections()
    assert specification.milestones.count() == 5


def mixed_figures(*, pages: int) -> dict:
    figures = summarise([Visitor("a", "x", [], results=[(200, 0.04)], started=[2.0])], 1.0)
    jobs = {
        "list_export": {"status": "done", "error": "", "total": 100_000, "seconds": 60.0},
        "specification_preview": {"status": "done", "error": "", "total": pages, "seconds": 50.0},
    }
    return {**figures, "think": 1.0, "jobs": jobs, "milestones": 1200}


def test_a_specification_shorter_than_asked_fails_the_mixed_goal() -> None:
    from prospects.management.commands.loadrun import mixed_report

    text = mixed_report(mixed_figures(pages=86), spec_pages=100)

    assert "- Specification preview: 86 pages in 50.0 s (shorter than the 100 pages" in text
    assert text.rstrip().endswith("| 0 | ✗ |")
    assert mixed_report(mixed_figures(pages=104), spec_pages=100).rstrip().endswith("| 0 | ✓ |")


def test_the_mixed_run_is_a_section_of_its_own(tmp_path) -> None:
    from django.db import connection

    from prospects.management.commands.loadrun import write_reports

    path = tmp_path / "benchmarks.md"
    browsing = [{**summarise([Visitor("a", "x", [], results=[(200, 0.02)])], 1.0), "think": 1.0}]
    options = {"workers": 2, "spec_pages": 100}

    write_reports(path, browsing, mixed_figures(pages=104), options)
    write_reports(path, browsing, None, options)  # a later run with --no-mixed

    text = path.read_text(encoding="utf-8")
    vendor = connection.vendor
    assert text.count(f"<!-- load:{vendor} -->") == text.count(f"<!-- /load:{vendor} -->") == 1
    mixed = text.split(f"<!-- load:{vendor}:mixed -->\n", 1)[1].split(f"<!-- /load:{vendor}:mixed")[
        0
    ]
    assert mixed.startswith("## Load run while the worker exports and renders")
    assert "- Export of the organisation list: 100,000 rows in 60.0 s" in mixed
    assert "- Specification preview: 104 pages in 50.0 s" in mixed
    assert "1,200 milestones" in mixed
    assert "## Load run (" not in mixed
