"""The kinds of deliverable a specification expects per phase: ticked on the specification's
page beside each phase's text, saved with the draft, shown on the project and in the PDF."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.urls import reverse
from pypdf import PdfReader

from crm.models import Role, User
from projects import actions
from projects.models import (
    SECTION_FIELDS,
    ExpectedDeliverable,
    Project,
    ProjectMember,
    Specification,
)
from projects.pdf import render_specification, specification_snapshot
from projects.views import _draft_unchanged
from tests.factories import ProjectFactory, UserFactory, approved_deliverable
from tests.helpers import client_for

pytestmark = pytest.mark.django_db


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


@pytest.fixture
def project(designer: User) -> Project:
    return ProjectFactory(title="Gîtes de la cité", state="orient", designers=[designer])


def rows(specification: Specification) -> set[tuple[str, str]]:
    return set(specification.expected_deliverables.values_list("phase", "kind"))


def edit_data(specification: Specification, **values: Any) -> dict[str, Any]:
    """The page's form as it was opened: sections, ticked kinds and revision."""
    data: dict[str, Any] = {name: getattr(specification, name) for name in SECTION_FIELDS}
    for phase, kinds in specification.expected_kinds().items():
        data[f"expected_{phase}"] = kinds
    data.update(
        {
            "revision": str(specification.revision),
            "milestones-TOTAL_FORMS": "0",
            "milestones-INITIAL_FORMS": "0",
        }
    )
    data.update(values)
    return data


def test_a_new_specification_expects_what_the_gates_need(project: Project) -> None:
    specification = actions.specification_for(project)

    assert specification.expected_kinds() == {
        "watch": ["trend_board"],
        "concept": ["idea_notebook", "concept_sketch"],
        "implementation": ["evaluation_report"],
    }
    # Asked again, it is the same specification: nothing added twice.
    actions.specification_for(project)
    assert ExpectedDeliverable.objects.count() == 4


def test_the_page_ticks_the_expected_kinds_beside_each_phase(
    designer: User, project: Project
) -> None:
    actions.specification_for(project)

    page = (
        client_for(designer)
        .get(reverse("projects:specification_edit", args=[project.pk]))
        .content.decode()
    )

    assert "Types de livrables attendus — phase 1 (Veille)" in page
    assert 'name="expected_watch" value="trend_board"' in page
    watch = page.split('name="deliverables_watch"')[1].split('name="deliverables_concept"')[0]
    assert 'value="trend_board" id="id_expected_watch_0" checked' in watch
    assert 'name="expected_watch" value="watch_note"' in watch  # offered, not ticked
    assert 'value="other"' not in page  # "Autre" is nothing anyone could check


def test_ticked_kinds_are_saved_with_the_draft(designer: User, project: Project) -> None:
    specification = actions.specification_for(project)
    data = edit_data(
        specification,
        expected_watch=["watch_note", "trend_board"],
        expected_concept=["plan"],
        expected_implementation=[],
        objectives="Ouvrir les gîtes en 2027.",
    )

    response = client_for(designer).post(
        reverse("projects:specification_edit", args=[project.pk]), data, follow=True
    )

    specification.refresh_from_db()
    assert "Brouillon du cahier des charges enregistré." in response.content.decode()
    assert specification.revision == 1
    assert specification.objectives == "Ouvrir les gîtes en 2027."
    assert rows(specification) == {
        ("watch", "trend_board"),
        ("watch", "watch_note"),
        ("concept", "plan"),
    }


def test_a_save_from_an_older_revision_changes_nothing(
    designer: User, staff: User, project: Project
) -> None:
    specification = actions.specification_for(project)
    url = reverse("projects:specification_edit", args=[project.pk])
    opened_by_both = edit_data(specification)
    client_for(staff).post(url, {**opened_by_both, "expected_concept": ["plan"]})
    saved_by_staff = rows(Specification.objects.get(pk=specification.pk))

    late = client_for(designer).post(
        url, {**opened_by_both, "expected_watch": [], "objectives": "Texte du designer."}
    )

    specification.refresh_from_db()
    page = late.content.decode()
    assert late.status_code == 400
    assert "pendant que vous le modifiiez" in page
    assert rows(specification) == saved_by_staff
    assert ("concept", "plan") in saved_by_staff
    assert specification.objectives == ""
    # What the designer ticked is still what the page shows: nothing in phase 1.
    watch = page.split('name="deliverables_watch"')[1].split('name="deliverables_concept"')[0]
    assert "checked" not in watch


@pytest.mark.parametrize("value", ["pas-un-type", "other"])
def test_a_kind_that_is_not_offered_is_refused(
    designer: User, project: Project, value: str
) -> None:
    specification = actions.specification_for(project)
    before = rows(specification)

    response = client_for(designer).post(
        reverse("projects:specification_edit", args=[project.pk]),
        edit_data(specification, expected_watch=[value], objectives="Changé."),
    )

    specification.refresh_from_db()
    assert response.status_code == 400
    assert "Sélectionnez un choix valide" in response.content.decode()
    assert rows(specification) == before
    assert specification.objectives == ""
    assert specification.revision == 0


def test_a_designer_off_the_team_cannot_tick_anything(project: Project) -> None:
    specification = actions.specification_for(project)
    outsider = UserFactory(role=Role.DESIGNER)

    response = client_for(outsider).post(
        reverse("projects:specification_edit", args=[project.pk]),
        edit_data(specification, expected_watch=[]),
    )

    assert response.status_code == 404
    assert ("watch", "trend_board") in rows(specification)


def test_the_pdf_names_the_expected_kinds_in_its_language(project: Project) -> None:
    specification = actions.specification_for(project)
    specification.replace_expected({"watch": ["watch_note"], "concept": ["concept_sketch"]})
    content = specification_snapshot(specification)

    french = pdf_text(render_specification(content, number=1, draft=True, language="fr").data)
    english = pdf_text(render_specification(content, number=1, draft=True, language="en").data)

    assert content["expected_deliverables"] == {
        "watch": ["watch_note"],
        "concept": ["concept_sketch"],
    }
    assert "Types de livrables attendus : Note de veille" in french
    assert "Esquisse de concept" in french
    assert (
        "Rapport d'évaluation"
        not in french.split("Livrables attendus par phase")[-1].split("Jalons")[0]
    )
    assert "Watch note" in english


def test_an_issued_version_keeps_the_kinds_it_was_issued_with(
    staff: User, project: Project
) -> None:
    specification = actions.specification_for(project)
    for name in ("context", "need", "objectives"):
        setattr(specification, name, "Rédigé.")
    specification.save()
    version = actions.issue_specification(project=project, by=staff, language="fr")
    assert version.content["expected_deliverables"]["watch"] == ["trend_board"]
    assert _draft_unchanged(specification, version)

    specification.replace_expected({"watch": ["watch_note"]})

    version.refresh_from_db()
    assert version.content["expected_deliverables"]["watch"] == ["trend_board"]
    assert not _draft_unchanged(specification, version)  # a new version is there to issue
    with version.file.open("rb") as issued:
        assert "Planche de tendances" in pdf_text(issued.read())


def test_a_version_issued_before_kinds_existed_stays_unchanged(staff: User) -> None:
    project = ProjectFactory()
    specification = Specification.objects.create(
        project=project, context="Rédigé.", need="Rédigé.", objectives="Rédigé."
    )
    version = actions.issue_specification(project=project, by=staff, language="fr")

    assert "expected_deliverables" not in version.content
    assert _draft_unchanged(specification, version)


def test_the_project_page_shows_the_expected_kinds_to_the_team(
    designer: User, holder: User, project: Project
) -> None:
    ProjectMember.objects.create(project=project, user=holder, role=ProjectMember.Role.HOLDER)
    actions.specification_for(project)
    approved_deliverable(project, "concept_sketch", by=designer)

    page = client_for(designer).get(project.get_absolute_url()).content.decode()
    for_holder = client_for(holder).get(project.get_absolute_url()).content.decode()

    section = page.split('id="specification-title"')[1].split("</section>")[0]
    assert "Types de livrables attendus" in section
    assert "phase en cours" in section
    assert 'Esquisse de concept — <span class="muted">fichier déposé</span>' in section
    assert "Carnet d&#x27;idées — <strong>à déposer</strong>" in section
    assert "Planche de tendances" in section  # another phase: listed, not checked
    assert "Types de livrables attendus" not in for_holder
