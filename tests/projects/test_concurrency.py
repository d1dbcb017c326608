"""Two people moving the same project at once: exactly one wins, nothing is half-written.

Real transactions and threads need a real server: these run on PostgreSQL (CI's second pass).
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from crm.models import Role
from projects.actions import ProjectChanged
from projects.models import Project, ProjectTransition
from tests.factories import ProjectFactory, UserFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("role_groups"),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="needs PostgreSQL's row locks and threads"
    ),
]


def race(project_id: int, moves: list[tuple[str, str]]) -> list[str]:
    """Run each (transition, comment) in its own thread, all released at once."""
    barrier = threading.Barrier(len(moves))
    results: list[str] = [""] * len(moves)
    staff = UserFactory(username="race-staff", role=Role.STAFF)

    def worker(index: int, name: str, comment: str) -> None:
        try:
            project = Project.objects.get(pk=project_id)
            barrier.wait(timeout=10)
            project.machine.run(name=name, by=staff, comment=comment)
            results[index] = "won"
        except ProjectChanged:
            results[index] = "changed"
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=worker, args=(index, name, comment))
        for index, (name, comment) in enumerate(moves)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_two_advances_at_once_one_wins() -> None:
    project = ProjectFactory(state="listen")

    results = race(project.pk, [("advance", ""), ("advance", "")])

    project.refresh_from_db()
    assert sorted(results) == ["changed", "won"]
    assert project.state == "impulse"
    assert ProjectTransition.objects.filter(project=project).count() == 1


def test_suspend_against_advance_one_wins_and_the_log_matches() -> None:
    project = ProjectFactory(state="steer")

    results = race(project.pk, [("advance", ""), ("suspend", "")])

    project.refresh_from_db()
    log = ProjectTransition.objects.get(project=project)
    assert sorted(results) == ["changed", "won"]
    assert (log.source, log.target) == ("steer", project.state)


def test_two_issues_of_the_specification_at_once_make_one_version() -> None:
    from projects.actions import NothingToIssue, issue_specification, specification_for
    from projects.models import SpecificationVersion

    project = ProjectFactory(state="listen")
    specification = specification_for(project)
    specification.context = "Une rangée de maisons de mineurs."
    specification.need = "Un hébergement pour les visiteurs du musée."
    specification.objectives = "Ouvrir l'hôtel en 2028."
    specification.save()
    staff = [UserFactory(username=f"issuer-{n}", role=Role.STAFF) for n in range(2)]
    barrier = threading.Barrier(2)
    results: list[str] = ["", ""]

    def worker(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            issue_specification(project=project, by=staff[index], language="fr")
            results[index] = "issued"
        except NothingToIssue:
            results[index] = "nothing"
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(results) == ["issued", "nothing"]
    assert SpecificationVersion.objects.filter(specification__project=project).count() == 1
