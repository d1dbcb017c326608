"""The project state machine against DESIGN §3: every transition × step × role."""

from __future__ import annotations

import pytest

from crm.fsm import TransitionRefused
from crm.models import Role, User
from projects.actions import ProjectChanged
from projects.models import Deliverable, Project, ProjectTransition, Step
from tests.factories import (
    ProjectFactory,
    UserFactory,
    approved_deliverable,
    issued_specification,
)

pytestmark = pytest.mark.django_db

NINE = [
    "listen",
    "impulse",
    "involve",
    "orient",
    "steer",
    "create",
    "experiment",
    "evaluate",
    "implement",
]

# The specification, written out by hand rather than derived from the code under test.
SOURCES = {
    "accept_watch": {"intake"},
    "accept_concept": {"intake"},
    "accept_implementation": {"intake"},
    "advance": {"listen", "impulse", "orient", "steer", "experiment", "evaluate"},
    "enter_conceptualisation": {"involve"},
    "enter_implementation": {"create"},
    "deliver": {"implement"},
    "rework": set(NINE) - {"listen"},
    "suspend": set(NINE),
    "resume": {"suspended"},
    "abandon": set(NINE) | {"suspended"},
    "decline": {"intake"},
}
TARGETS = {
    "accept_watch": lambda s: "listen",
    "accept_concept": lambda s: "orient",
    "accept_implementation": lambda s: "experiment",
    "advance": lambda s: NINE[NINE.index(s) + 1],
    "enter_conceptualisation": lambda s: "orient",
    "enter_implementation": lambda s: "experiment",
    "deliver": lambda s: "delivered",
    "rework": lambda s: NINE[NINE.index(s) - 1],
    "suspend": lambda s: "suspended",
    "resume": lambda s: "steer",  # the matrix suspends its projects at "steer"
    "abandon": lambda s: "abandoned",
    "decline": lambda s: "declined",
}
GATE_DELIVERABLES = {
    "enter_conceptualisation": Deliverable.Kind.TREND_BOARD,
    "enter_implementation": Deliverable.Kind.CONCEPT_SKETCH,
    "deliver": Deliverable.Kind.EVALUATION_REPORT,
}
ROLES = ["staff", "team_designer", "other_designer", "officer", "holder"]


def may(role: str, name: str, state: str) -> bool:
    if role == "staff":
        return True
    if role == "team_designer":
        return name == "advance" or (name == "rework" and state not in {"orient", "experiment"})
    return False


@pytest.fixture
def people(db: None) -> dict[str, User]:
    return {
        "staff": UserFactory(username="m-staff", role=Role.STAFF),
        "team_designer": UserFactory(username="m-designer", role=Role.DESIGNER),
        "other_designer": UserFactory(username="m-outsider", role=Role.DESIGNER),
        "officer": UserFactory(username="m-officer", role=Role.OFFICER),
        "holder": UserFactory(username="m-holder", role=Role.HOLDER),
    }


def test_transition_names_are_the_design() -> None:
    assert sorted(Project.machine.names) == sorted(SOURCES)
    assert set(Step.values) == {"intake", *NINE, "delivered", "abandoned", "declined", "suspended"}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("state", Step.values)
@pytest.mark.parametrize("name", Project.machine.names)
def test_matrix(name: str, state: str, role: str, people: dict[str, User]) -> None:
    project = ProjectFactory(
        state=state,
        suspended_from="steer" if state == "suspended" else "",
        designers=[people["team_designer"]],
    )
    if name in GATE_DELIVERABLES:
        approved_deliverable(project, GATE_DELIVERABLES[name])
    if name == "enter_conceptualisation":
        issued_specification(project)
    user = people[role]
    allowed = state in SOURCES[name] and may(role, name, state)

    if allowed:
        project.machine.run(name=name, by=user, comment="Parce que.")
        project.refresh_from_db()
        log = ProjectTransition.objects.get(project=project)
        assert project.state == TARGETS[name](state)
        assert (log.source, log.target, log.by, log.comment) == (
            state,
            project.state,
            user,
            "Parce que.",
        )
    else:
        with pytest.raises(TransitionRefused) as refused:
            project.machine.run(name=name, by=user, comment="Parce que.")
        project.refresh_from_db()
        assert project.state == state
        assert not ProjectTransition.objects.exists()
        expected = "n'est pas possible à l'étape" if state not in SOURCES[name] else "rôle"
        assert expected in refused.value.reasons[0]


@pytest.mark.parametrize(
    ("name", "state", "message"),
    [
        ("enter_conceptualisation", "involve", "planche de tendances approuvée"),
        ("enter_implementation", "create", "carnet d'idées ou une esquisse de concept"),
        ("deliver", "implement", "rapport d'évaluation approuvé"),
    ],
)
def test_gates_say_what_is_missing(name: str, state: str, message: str, people) -> None:
    project = ProjectFactory(state=state)

    with pytest.raises(TransitionRefused) as refused:
        project.machine.run(name=name, by=people["staff"])

    assert any(message in reason for reason in refused.value.reasons)
    project.refresh_from_db()
    assert project.state == state


def test_a_gate_needs_the_latest_version_approved(people) -> None:
    from django.core.files.base import ContentFile

    from projects.models import DeliverableVersion

    project = ProjectFactory(state="involve")
    issued_specification(project)
    deliverable = approved_deliverable(project, Deliverable.Kind.TREND_BOARD)
    newer = DeliverableVersion(
        deliverable=deliverable,
        number=2,
        original_name="v2.pdf",
        content_type="application/pdf",
        size=8,
        uploaded_by=people["team_designer"],
    )
    newer.file.save("v2.pdf", ContentFile(b"%PDF-1.4"), save=False)
    newer.save()

    assert project.machine.refusal_reasons("enter_conceptualisation", people["staff"]) == [
        "Il manque une planche de tendances approuvée."
    ]


def test_a_watch_note_does_not_open_gate_one(people) -> None:
    project = ProjectFactory(state="involve")
    approved_deliverable(project, Deliverable.Kind.WATCH_NOTE)

    assert project.machine.refusal_reasons("enter_conceptualisation", people["staff"])


@pytest.mark.parametrize("name", ["rework", "abandon"])
def test_rework_and_abandon_need_a_comment(name: str, people) -> None:
    project = ProjectFactory(state="steer")

    with pytest.raises(TransitionRefused, match="commentaire"):
        project.machine.run(name=name, by=people["staff"], comment="   ")

    project.refresh_from_db()
    assert project.state == "steer"


def test_decline_needs_a_reason(people) -> None:
    project = ProjectFactory(state="intake")

    with pytest.raises(TransitionRefused, match="commentaire"):
        project.machine.run(name="decline", by=people["staff"])


def test_suspend_then_resume_returns_to_the_step(people) -> None:
    project = ProjectFactory(state="evaluate")

    project.machine.run(name="suspend", by=people["staff"])
    project.machine.run(name="resume", by=people["staff"])

    project.refresh_from_db()
    assert project.state == "evaluate"
    assert project.suspended_from == ""
    assert list(ProjectTransition.objects.order_by("at", "pk").values_list("source", "target")) == [
        ("evaluate", "suspended"),
        ("suspended", "evaluate"),
    ]


def test_unknown_transition_name_is_refused(people) -> None:
    project = ProjectFactory(state="intake")

    with pytest.raises(TransitionRefused):
        project.machine.run(name="delete", by=people["staff"])


def test_a_stale_copy_loses_and_leaves_no_log(people) -> None:
    project = ProjectFactory(state="listen")
    stale = Project.objects.get(pk=project.pk)

    project.machine.run(name="advance", by=people["staff"])
    with pytest.raises(ProjectChanged):
        stale.machine.run(name="advance", by=people["staff"])

    project.refresh_from_db()
    assert project.state == "impulse"
    assert ProjectTransition.objects.count() == 1


def test_the_state_cannot_be_assigned_directly() -> None:
    project = ProjectFactory(state="intake")

    with pytest.raises(AttributeError):
        project.state = "delivered"


@pytest.mark.parametrize(
    ("state", "phase"),
    [
        ("intake", "intake"),
        ("listen", "watch"),
        ("involve", "watch"),
        ("orient", "concept"),
        ("create", "concept"),
        ("experiment", "implementation"),
        ("implement", "implementation"),
        ("delivered", "ended"),
        ("declined", "ended"),
        ("suspended", "suspended"),
    ],
)
def test_the_phase_is_derived_from_the_step(state: str, phase: str) -> None:
    assert ProjectFactory.build(state=state).phase == phase
