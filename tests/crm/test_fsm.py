"""The state-machine spine (`crm.fsm.Machine`) both machines are declared on."""

from __future__ import annotations

import dataclasses

import pytest
from django.core.exceptions import ImproperlyConfigured

from projects.models import Project
from prospects.models import Lead


def test_the_moves_come_in_the_order_the_model_declares_them() -> None:
    assert Lead.machine.names == ["advance", "step_back", "win", "lose", "put_to_sleep", "revive"]
    assert Project.machine.names[:4] == [
        "accept_watch",
        "accept_concept",
        "accept_implementation",
        "advance",
    ]


def test_a_computed_target_without_its_rule_is_refused() -> None:
    # rework and resume compute their targets too
    incomplete = dataclasses.replace(Project.machine, targets={"advance": {}})
    incomplete.__set_name__(Project, "machine")

    with pytest.raises(ImproperlyConfigured, match="rework"):
        incomplete.names  # noqa: B018 - computing them is the check
