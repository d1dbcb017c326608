"""docs/state-machines.md draws exactly the transitions the code has: no more, no fewer."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.db import models
from django_fsm import RETURN_VALUE

from projects.models import DeliverableVersion, Project, SpecificationVersion, Step
from prospects.models import Lead, Stage

DOC = Path(__file__).resolve().parents[2] / "docs" / "state-machines.md"

Edge = tuple[str, str, str]  # (source, target, transition name)

MERMAID_BLOCK = re.compile(r"^```mermaid\n(.*?)^```", re.MULTILINE | re.DOTALL)
MACHINE = re.compile(r"^\s*%%\s*machine:\s*(\S+)\s*$", re.MULTILINE)
ARROW = re.compile(r"^\s*(\S+)\s*-->\s*(\S+?)\s*(?::\s*(.*?))?\s*$")
TABLE_NAME = re.compile(r"^\|\s*`(\w+)`\s*\|", re.MULTILINE)


def diagram_edges() -> dict[str, set[Edge]]:
    """The named edges of each marked Mermaid block, by machine ("projects.Project.state")."""
    machines: dict[str, set[Edge]] = {}
    for block in MERMAID_BLOCK.findall(DOC.read_text(encoding="utf-8")):
        marker = MACHINE.search(block)
        assert marker, "every Mermaid block names its machine: %% machine: app.Model.field"
        edges = machines.setdefault(marker.group(1), set())
        for line in block.splitlines():
            arrow = ARROW.match(line)
            if arrow is None:
                continue
            source, target, name = arrow.groups()
            if "[*]" in (source, target):
                continue  # the start and end markers are drawing, not transitions
            assert name, f"unlabelled edge in the diagram: {line.strip()!r}"
            edges.add((source, target, name))
    return machines


def code_edges(model: type[models.Model], field_name: str) -> set[Edge]:
    """Every (source, target, name) the model's transitions allow, computed targets expanded."""
    field = model._meta.get_field(field_name)
    edges: set[Edge] = set()
    for transition in field.get_all_transitions(model):
        source = str(transition.source)
        assert source not in ("*", "+"), "wildcard sources: teach this test to expand them"
        if isinstance(transition.target, RETURN_VALUE):
            # Where the model's machine says the move leads from this source (`targets`).
            targets = model.machine.possible_targets(transition.name, source)  # type: ignore[attr-defined]  # the models with a machine
            # What the method may return must cover what the diagram says it returns.
            assert set(targets) <= {str(state) for state in transition.target.allowed_states}
        else:
            targets = [str(transition.target)]
        edges.update((source, target, transition.name) for target in targets)
    return edges


@pytest.mark.parametrize(
    ("machine", "model", "field_name"),
    [
        ("projects.Project.state", Project, "state"),
        ("projects.DeliverableVersion.review_state", DeliverableVersion, "review_state"),
        ("projects.SpecificationVersion.approval", SpecificationVersion, "approval"),
        ("prospects.Lead.stage", Lead, "stage"),
    ],
)
def test_the_diagram_matches_the_code(
    machine: str, model: type[models.Model], field_name: str
) -> None:
    drawn = diagram_edges()[machine]
    coded = code_edges(model, field_name)

    assert drawn - coded == set(), "drawn in docs/state-machines.md but not in the code"
    assert coded - drawn == set(), "in the code but missing from docs/state-machines.md"


def test_the_diagram_draws_every_state_under_its_real_value() -> None:
    drawn = diagram_edges()

    def states(machine: str) -> set[str]:
        return {state for source, target, _name in drawn[machine] for state in (source, target)}

    assert states("projects.Project.state") == set(Step.values)
    assert states("projects.DeliverableVersion.review_state") == set(
        DeliverableVersion.Review.values
    )
    assert states("projects.SpecificationVersion.approval") == set(
        SpecificationVersion.Approval.values
    )
    assert states("prospects.Lead.stage") == set(Stage.values)


def test_every_transition_has_a_row_in_the_tables() -> None:
    documented = set(TABLE_NAME.findall(DOC.read_text(encoding="utf-8")))
    names = {
        name
        for model, field_name in [
            (Project, "state"),
            (DeliverableVersion, "review_state"),
            (SpecificationVersion, "approval"),
            (Lead, "stage"),
        ]
        for _source, _target, name in code_edges(model, field_name)
    }

    assert documented == names


def test_the_parser_finds_the_edges() -> None:
    # Guard against a parser that silently finds nothing: both machines are non-trivial.
    drawn = diagram_edges()

    assert ("involve", "orient", "enter_conceptualisation") in drawn["projects.Project.state"]
    assert len(drawn["projects.Project.state"]) > 40
    assert drawn["projects.DeliverableVersion.review_state"] == {
        ("submitted", "approved", "approve"),
        ("submitted", "changes_requested", "request_changes"),
    }
