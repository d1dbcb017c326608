"""The work queue ("À faire") of each role's home page: what they must act on, scoped as the
records are, in a number of queries that does not grow with the records."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest
from django.core.cache import cache
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from crm import imports, notifications, workqueue
from crm.models import Job, Role, StagedImport, User
from projects.models import (
    DeliverableVersion,
    Project,
    ProjectMember,
    ProjectTransition,
    Specification,
)
from projects.notifications import project_name
from tests.factories import (
    LeadFactory,
    ProjectFactory,
    UserFactory,
    approved_deliverable,
    issued_specification,
)
from tests.helpers import client_for, count_queries


def todo_of(user: User) -> str:
    page = client_for(user).get(reverse("crm:dashboard")).content.decode()
    return page.split('id="todo-title"')[1].split("</section>")[0]


def version_in(project: Project, state: str, *, by: User) -> DeliverableVersion:
    deliverable = approved_deliverable(project, "trend_board", by=by)
    version = deliverable.versions.get()
    DeliverableVersion.objects.filter(pk=version.pk).update(
        review_state=state, reviewed_at=timezone.now()
    )
    return version


def stage(owner: User, kind: str, name: str = "liste.xlsx", **fields: object) -> StagedImport:
    """An import started by `owner` (its workbook is not needed to list it)."""
    return StagedImport.objects.create(
        owner=owner,
        kind=kind,
        stored_name=f"imports/{uuid4().hex}.xlsx",
        original_name=name,
        headers=["Nom"],
        **fields,
    )


@pytest.fixture
def project(designer: User, holder: User) -> Project:
    project = ProjectFactory(title="Chevrettes du Terril", state="listen", designers=[designer])
    ProjectMember.objects.create(project=project, user=holder, role=ProjectMember.Role.HOLDER)
    return project


def test_nothing_to_do_is_said_plainly(officer: User) -> None:
    assert "Rien ne vous attend pour l'instant" in todo_of(officer)


def test_staff_see_versions_to_review_returned_specifications_and_late_projects(
    staff: User, designer: User, project: Project
) -> None:
    version_in(project, "submitted", by=designer)
    issued_specification(project, approval="returned", by=staff)
    ProjectFactory(title="Fêtes en retard", target_date=timezone.localdate() - timedelta(days=3))

    todo = todo_of(staff)

    assert "Revoir « trend_board de test" in todo
    assert "Cahier des charges v1 renvoyé par le porteur" in todo
    assert "Date cible dépassée" in todo and "Fêtes en retard" in todo
    assert "À revoir" in todo


def test_a_mission_lead_sees_only_the_projects_they_lead(designer: User, project: Project) -> None:
    mission_lead = UserFactory(username="mission-lead", role=Role.OFFICER)
    ProjectMember.objects.create(project=project, user=mission_lead, role=ProjectMember.Role.LEAD)
    other = ProjectFactory(title="Projet d'un autre")
    version_in(project, "submitted", by=designer)
    version_in(other, "submitted", by=designer)

    todo = todo_of(mission_lead)

    assert "Chevrettes du Terril" in todo
    assert "Projet d'un autre" not in todo


def test_designer_sees_changes_requested_on_their_projects_only(
    designer: User, project: Project
) -> None:
    version_in(project, "changes_requested", by=designer)
    elsewhere = ProjectFactory(title="Pas mon projet")
    version_in(elsewhere, "changes_requested", by=UserFactory(role=Role.DESIGNER))

    todo = todo_of(designer)

    assert "Modifications demandées sur" in todo
    assert "Chevrettes du Terril" in todo
    assert "Pas mon projet" not in todo
    assert "Revoir" not in todo


def test_a_new_version_takes_it_off_the_designers_queue(designer: User, project: Project) -> None:
    version = version_in(project, "changes_requested", by=designer)
    DeliverableVersion.objects.create(
        deliverable=version.deliverable,
        number=2,
        file=version.file.name,
        original_name="v2.pdf",
        content_type="application/pdf",
        size=8,
        uploaded_by=designer,
    )

    assert "Modifications demandées" not in todo_of(designer)


def test_holder_sees_the_specification_to_answer_and_nothing_internal(
    staff: User, holder: User, project: Project
) -> None:
    issued_specification(project, by=staff)

    page = client_for(holder).get(reverse("crm:dashboard")).content.decode()

    assert "Répondre au cahier des charges v1" in page
    assert "Le CRM en chiffres" not in page
    assert "Projets par phase" not in page


def test_an_item_of_the_last_minute_reads_just_now() -> None:
    now = timezone.now()
    items = [
        workqueue.Item(text="Nouvelle piste", url="/a/", since=now),
        workqueue.Item(text="Ancienne piste", url="/b/", since=now - timedelta(hours=3)),
    ]

    todo = render_to_string("crm/includes/_todo.html", {"todo": items})

    assert todo.count("à l'instant") == 1
    assert "depuis 3" in todo
    assert "depuis 0" not in todo


def test_holder_home_lists_their_own_projects_only(holder: User, project: Project) -> None:
    ProjectFactory(title="Le projet d'un autre porteur")

    page = client_for(holder).get(reverse("crm:dashboard")).content.decode()

    assert "Vos projets" in page
    assert f"{project.reference} · {project.title}" in page
    assert "Le projet d'un autre porteur" not in page
    assert "apparaîtront ici" not in page


def test_officer_sees_next_actions_overdue_and_soon(officer: User, other_officer: User) -> None:
    today = timezone.localdate()
    LeadFactory(owner=officer, next_action="Rappeler", next_action_due=today - timedelta(days=2))
    LeadFactory(owner=officer, next_action="Visiter", next_action_due=today + timedelta(days=3))
    LeadFactory(owner=officer, next_action="Bien plus tard", next_action_due=today + timedelta(30))
    LeadFactory(owner=other_officer, next_action="Pas à moi", next_action_due=today)
    LeadFactory(
        owner=other_officer,
        shared_with=[officer],
        next_action="Partagée",
        next_action_due=today,
    )

    todo = todo_of(officer)

    assert todo.index("Rappeler") < todo.index("Visiter")  # oldest first
    assert "Partagée" in todo
    assert "Bien plus tard" not in todo and "Pas à moi" not in todo
    assert "todo__item--overdue" in todo


@pytest.mark.parametrize("persona", ["staff", "designer", "holder", "officer"])
def test_home_page_query_count_does_not_grow(
    persona: str, personas: dict[str, User], project: Project
) -> None:
    user = personas[persona]
    staff, designer = personas["staff"], personas["designer"]

    def add(count: int) -> None:
        for _index in range(count):
            extra = ProjectFactory(
                state="listen",
                designers=[designer],
                target_date=timezone.localdate() - timedelta(days=1),
            )
            ProjectMember.objects.create(
                project=extra, user=personas["holder"], role=ProjectMember.Role.HOLDER
            )
            version_in(extra, "submitted", by=designer)
            version_in(extra, "changes_requested", by=designer)
            issued_specification(extra, by=staff)
            LeadFactory(owner=personas["officer"], next_action_due=timezone.localdate())
            notifications.notify_followers(kind="interaction_logged", record=extra, by=staff)
            stage(staff, "organisations")
            stage(personas["officer"], "leads")

    client = client_for(user)
    add(2)
    cache.clear()
    few = count_queries(client, reverse("crm:dashboard"))
    add(8)
    cache.clear()
    many = count_queries(client, reverse("crm:dashboard"))

    # The imports started and not applied cost one query to those who may import; staff
    # and officers read the mission's project figures through a one-query data stamp (then,
    # with the cache emptied, the two aggregates it guards).
    pins = {"staff": 23, "designer": DESIGNER_HOME_QUERIES, "holder": 11, "officer": 22}
    assert few == many == pins[persona]


def test_imports_started_and_not_applied_wait_for_their_starter(staff: User, officer: User) -> None:
    columns = stage(staff, "organisations", name="structures.xlsx")
    mapped = stage(staff, "contacts", name="contacts.xlsx", mapping={"0": "email"})
    stage(officer, "leads", name="pistes-de-l-agence.xlsx")
    stage(staff, "contacts", name="deja-applique.xlsx", applied_at=timezone.now())
    running = Job.objects.create(kind="import_apply", label="x", owner=staff, status="running")
    stage(staff, "organisations", name="en-cours.xlsx", job=running)

    todo = todo_of(staff)

    assert "Import « structures.xlsx » commencé, pas appliqué" in todo
    assert f'href="{reverse("crm:import_map", args=[columns.token])}"' in todo
    assert f'href="{reverse("crm:import_preview", args=[mapped.token])}"' in todo
    assert todo.count("À terminer") == 2
    for elsewhere in ["pistes-de-l-agence.xlsx", "deja-applique.xlsx", "en-cours.xlsx"]:
        assert elsewhere not in todo
    assert "pistes-de-l-agence.xlsx" in todo_of(officer)


def test_an_import_of_a_kind_no_longer_allowed_is_not_listed(officer: User) -> None:
    # An officer imports leads; an organisations import (from when they were staff) is not
    # theirs to finish any more, and its pages answer 404.
    stage(officer, "organisations", name="ancien-role.xlsx")

    assert "ancien-role.xlsx" not in todo_of(officer)


def test_started_imports_cost_one_query_whatever_their_number(
    staff: User, django_assert_num_queries
) -> None:
    imports.kinds_for(staff)  # the role, read once per request by every source

    stage(staff, "organisations")
    with django_assert_num_queries(1):
        assert len(imports.started_imports(staff)) == 1
    failed = Job.objects.create(kind="import_apply", label="x", owner=staff, status="failed")
    for _index in range(4):
        stage(staff, "contacts", job=failed)
    with django_assert_num_queries(1):
        items = imports.started_imports(staff)
    assert len(items) == 5
    assert sum("l'application a échoué" in item.text for item in items) == 4


def test_those_who_may_import_nothing_pay_no_query(
    designer: User, django_assert_num_queries
) -> None:
    designer.has_perm("prospects.add_lead")  # the permissions, read once per request
    imports.kinds_for(designer)

    with django_assert_num_queries(0):
        assert imports.started_imports(designer) == []


def test_staff_see_a_gate_whose_conditions_all_hold(staff: User) -> None:
    ready = ProjectFactory(title="Prêt pour la phase 2", state="involve")
    approved_deliverable(ready, "trend_board")
    issued_specification(ready, by=staff)
    waiting = ProjectFactory(title="Attend sa planche", state="involve")
    issued_specification(waiting, by=staff)
    concept = ProjectFactory(title="Concept approuvé", state="create")
    approved_deliverable(concept, "concept_sketch")

    todo = todo_of(staff)

    assert "Prêt à passer la phase — " in todo
    assert "Prêt pour la phase 2" in todo and "Concept approuvé" in todo
    assert "Attend sa planche" not in todo


def test_a_gate_waits_for_the_holders_approval(staff: User, holder: User) -> None:
    project = ProjectFactory(title="Attend le porteur", state="involve")
    ProjectMember.objects.create(project=project, user=holder, role=ProjectMember.Role.HOLDER)
    approved_deliverable(project, "trend_board")
    issued_specification(project, by=staff)

    assert "Attend le porteur" not in todo_of(staff)


def test_officer_sees_a_lead_newly_shared_until_opened(officer: User, other_officer: User) -> None:
    lead = LeadFactory(owner=other_officer, title="Halte vélo")
    notifications.notify(kind="lead_shared", record=lead, by=other_officer, recipients=[officer.pk])

    assert "a partagé avec vous la piste" in todo_of(officer)
    note = officer.notifications.get()
    client_for(officer).get(reverse("crm:notification_open", args=[note.pk]))
    assert "a partagé avec vous la piste" not in todo_of(officer)


# A designer's expected deliverables and steps to move ------------------------------------------


def expect(project: Project, phase: str, *kinds: str) -> None:
    """The project's specification expects `kinds` in `phase` (and nothing else there)."""
    specification, _created = Specification.objects.get_or_create(project=project)
    specification.replace_expected({**specification.expected_kinds(), phase: list(kinds)})


def entered(project: Project, step: str, *, days_ago: int = 1) -> ProjectTransition:
    """The log row of the project's move into `step`, `days_ago` days ago."""
    return ProjectTransition.objects.create(
        project=project,
        name="advance",
        source="intake",
        target=step,
        by=UserFactory(role=Role.STAFF),
        at=timezone.now() - timedelta(days=days_ago),
    )


def test_designer_sees_the_expected_kinds_of_the_current_phase_not_yet_uploaded(
    designer: User, project: Project
) -> None:
    entered(project, "listen", days_ago=4)
    expect(project, "watch", "trend_board", "watch_note")
    expect(project, "concept", "idea_notebook")
    approved_deliverable(project, "watch_note", by=designer)

    todo = todo_of(designer)

    assert f"Livrable attendu : Planche de tendances — {project_name(project)}" in todo
    assert "À déposer" in todo
    upload = reverse("projects:deliverable_upload", args=[project.pk])
    assert f'href="{upload}?kind=trend_board"' in todo
    assert "depuis 4" in todo  # since the project entered its step
    assert "Note de veille" not in todo  # uploaded
    assert "Carnet d" not in todo  # another phase


def test_an_upload_of_the_kind_takes_it_off(designer: User, project: Project) -> None:
    expect(project, "watch", "trend_board")
    assert "Livrable attendu : Planche de tendances" in todo_of(designer)

    version_in(project, "submitted", by=designer)

    assert "Livrable attendu" not in todo_of(designer)


def test_the_upload_link_preselects_the_kind(designer: User, project: Project) -> None:
    url = reverse("projects:deliverable_upload", args=[project.pk])

    page = client_for(designer).get(f"{url}?kind=trend_board").content.decode()
    unknown = client_for(designer).get(f"{url}?kind=pas-un-type")

    assert '<option value="trend_board" selected>' in page
    assert unknown.status_code == 200
    assert "selected>" not in unknown.content.decode().split('name="kind"')[1].split("</select>")[0]


def test_expected_kinds_are_for_the_team_designers_of_open_working_projects(
    personas: dict[str, User], designer: User
) -> None:
    elsewhere = ProjectFactory(title="Pas mon projet", state="listen")
    expect(elsewhere, "watch", "trend_board")
    waiting = ProjectFactory(title="Encore en demande", state="intake", designers=[designer])
    expect(waiting, "watch", "trend_board")
    paused = ProjectFactory(title="En pause", state="suspended", designers=[designer])
    expect(paused, "watch", "trend_board")
    mine = ProjectFactory(title="Le mien", state="orient", designers=[designer])
    expect(mine, "watch", "trend_board")

    assert "Livrable attendu" not in todo_of(designer)
    for persona in ("staff", "holder", "officer"):
        assert "Livrable attendu" not in todo_of(personas[persona]), persona


def test_designer_may_move_a_step_once_a_version_is_approved_since_it_began(
    designer: User, project: Project
) -> None:
    entered(project, "listen", days_ago=3)
    version_in(project, "approved", by=designer)

    todo = todo_of(designer)

    assert f"Étape à faire avancer : Écouter → Impulser — {project_name(project)}" in todo
    assert "À avancer" in todo
    assert f'href="{project.get_absolute_url()}#steps-title"' in todo


def test_an_approval_before_the_step_began_does_not_count(designer: User, project: Project) -> None:
    version_in(project, "approved", by=designer)
    entered(project, "listen", days_ago=0)

    assert "Étape à faire avancer" not in todo_of(designer)


def test_moving_on_takes_the_step_off(designer: User, project: Project) -> None:
    entered(project, "listen", days_ago=3)
    version_in(project, "approved", by=designer)
    assert "Étape à faire avancer" in todo_of(designer)

    project.machine.run(name="advance", by=designer)

    assert "Étape à faire avancer" not in todo_of(designer)


@pytest.mark.parametrize("state", ["submitted", "changes_requested"])
def test_a_version_waiting_for_review_or_changes_holds_the_step(
    designer: User, project: Project, state: str
) -> None:
    entered(project, "listen", days_ago=3)
    version_in(project, "approved", by=designer)
    version_in(project, state, by=designer)

    assert "Étape à faire avancer" not in todo_of(designer)


def test_a_new_submitted_version_holds_the_step(designer: User, project: Project) -> None:
    entered(project, "listen", days_ago=3)
    version = version_in(project, "approved", by=designer)
    DeliverableVersion.objects.create(
        deliverable=version.deliverable,
        number=2,
        file=version.file.name,
        original_name="v2.pdf",
        content_type="application/pdf",
        size=8,
        uploaded_by=designer,
    )

    assert "Étape à faire avancer" not in todo_of(designer)


def test_no_step_to_move_at_a_gate_off_the_team_or_for_other_roles(
    personas: dict[str, User], designer: User
) -> None:
    at_gate = ProjectFactory(title="À la porte", state="involve", designers=[designer])
    elsewhere = ProjectFactory(title="Pas mon projet", state="listen")
    for other in (at_gate, elsewhere):
        entered(other, other.state, days_ago=3)
        version_in(other, "approved", by=designer)

    assert "Étape à faire avancer" not in todo_of(designer)
    for persona in ("staff", "holder", "officer"):
        assert "Étape à faire avancer" not in todo_of(personas[persona]), persona


@pytest.mark.parametrize("count", [1, 5])
def test_the_designers_new_lines_cost_the_same_for_one_project_or_five(
    designer: User, count: int
) -> None:
    for index in range(count):
        project = ProjectFactory(title=f"Projet {index}", state="listen", designers=[designer])
        entered(project, "listen", days_ago=2)
        expect(project, "watch", "watch_note")
        version_in(project, "approved", by=designer)

    client = client_for(designer)
    queries = count_queries(client, reverse("crm:dashboard"))
    todo = todo_of(designer)

    assert queries == DESIGNER_HOME_QUERIES
    assert todo.count("Livrable attendu : Note de veille") == count
    assert todo.count("Étape à faire avancer") == count


# Five sources of `project_work` plus the designer's two (expected kinds, steps to move).
DESIGNER_HOME_QUERIES = 20
