"""Dashboard figures: counts per phase and territory, average days per step from the log."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from crm.models import User
from projects.models import Project, ProjectTransition
from tests.factories import ProjectFactory, TerritoryFactory

pytestmark = pytest.mark.django_db


def test_average_days_by_step_comes_from_the_log(staff: User) -> None:
    start = timezone.now() - timedelta(days=30)
    for days_in_listen in (4, 6):
        project = ProjectFactory(state="impulse")
        Project.objects.filter(pk=project.pk).update(created_at=start)
        ProjectTransition.objects.create(
            project=project,
            name="accept_watch",
            source="intake",
            target="listen",
            by=staff,
            at=start + timedelta(days=2),
        )
        ProjectTransition.objects.create(
            project=project,
            name="advance",
            source="listen",
            target="impulse",
            by=staff,
            at=start + timedelta(days=2 + days_in_listen),
        )

    days = ProjectTransition.objects.average_days_by_step()

    assert days["intake"] == pytest.approx(2.0, abs=0.01)
    assert days["listen"] == pytest.approx(5.0, abs=0.01)


def test_counts_by_phase_and_territory(staff: User) -> None:
    lens = TerritoryFactory(name="Lens-Liévin", slug="lens")
    for state in ["listen", "involve", "orient", "delivered"]:
        ProjectFactory(state=state, territory=lens)

    by_phase = dict((phase, n) for phase, _label, n in Project.objects.count_by_phase())

    assert by_phase["watch"] == 2
    assert by_phase["concept"] == 1
    assert by_phase["ended"] == 1
    assert Project.objects.count_open_by_territory() == [("Lens-Liévin", 3)]


def test_dashboard_shows_the_charts_with_their_figures(staff: User, designer: User) -> None:
    ProjectFactory(state="listen", designers=[designer])
    ProjectFactory(state="orient")
    client = Client()
    client.force_login(designer)

    html = client.get(reverse("crm:dashboard")).content.decode()

    assert "Projets par phase" in html
    assert "1 projet accompagné" in html  # the designer's own project only
    assert "Durée moyenne par étape" in html


def test_durations_are_cached_per_scope(staff: User, designer: User) -> None:
    from django.core.cache import cache

    from projects.views import dashboard_figures

    ProjectFactory(state="listen", designers=[designer])
    dashboard_figures(staff)
    dashboard_figures(designer)

    assert cache.get("projects:days-by-step:all") is not None
    assert cache.get(f"projects:days-by-step:user-{designer.pk}") is not None


def test_the_mission_figures_follow_every_change_to_a_project(staff: User) -> None:
    from projects.views import dashboard_figures

    def by_phase() -> dict[str, int]:
        figures = dashboard_figures(staff)
        assert figures is not None
        return {str(bar["label"]): bar["amount"] for bar in figures["by_phase"]}  # type: ignore[attr-defined]

    project = ProjectFactory(state="listen")
    assert by_phase()["1 · Veille"] == 1
    ProjectFactory(state="listen")  # a new project
    assert by_phase()["1 · Veille"] == 2
    # A move saves the project, and so touches its last change.
    Project.objects.filter(pk=project.pk).update(
        state="orient", updated_at=timezone.now() + timedelta(seconds=1)
    )
    assert by_phase()["1 · Veille"] == 1
