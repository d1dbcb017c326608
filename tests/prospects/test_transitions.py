"""The lead pipeline against DESIGN §4: every transition × stage × role."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from crm.fsm import TransitionRefused
from crm.models import Role, User
from prospects.actions import LeadChanged
from prospects.models import Lead, LeadTransition, Stage
from tests.factories import LeadFactory, SiteFactory, UserFactory

pytestmark = pytest.mark.django_db

PIPELINE = ["identified", "contacted", "qualified", "site_visit", "proposal", "negotiation"]

# The specification, written out by hand rather than derived from the code under test.
SOURCES = {
    "advance": {"identified", "contacted", "qualified", "site_visit", "proposal"},
    "step_back": {"contacted", "qualified", "site_visit", "proposal", "negotiation"},
    "win": {"negotiation"},
    "lose": set(PIPELINE) | {"dormant"},
    "put_to_sleep": set(PIPELINE),
    "revive": {"dormant"},
}
TARGETS = {
    "advance": lambda s: PIPELINE[PIPELINE.index(s) + 1],
    "step_back": lambda s: PIPELINE[PIPELINE.index(s) - 1],
    "win": lambda s: "won",
    "lose": lambda s: "lost",
    "put_to_sleep": lambda s: "dormant",
    "revive": lambda s: "qualified",  # the matrix puts its dormant leads to sleep at "qualified"
}
ROLES = ["owner", "shared", "other_officer", "staff", "designer"]
MAY_MOVE = {"owner", "shared", "staff"}


@pytest.fixture
def people(db: None) -> dict[str, User]:
    return {
        "owner": UserFactory(username="m-owner", role=Role.OFFICER),
        "shared": UserFactory(username="m-shared", role=Role.OFFICER),
        "other_officer": UserFactory(username="m-other", role=Role.OFFICER),
        "staff": UserFactory(username="m-staff", role=Role.STAFF),
        "designer": UserFactory(username="m-designer", role=Role.DESIGNER),
    }


def make_lead(stage: str, people: dict[str, User], **extra: object) -> Lead:
    defaults: dict[str, object] = {
        "stage": stage,
        "dormant_from": "qualified" if stage == "dormant" else "",
        "owner": people["owner"],
        "shared_with": [people["shared"]],
        "target_sites": [SiteFactory()],
        "estimated_investment": Decimal("2500000"),
    }
    return LeadFactory(**{**defaults, **extra})


def test_stages_and_transitions_are_the_design() -> None:
    assert Stage.values == [*PIPELINE, "won", "lost", "dormant"]
    assert sorted(Lead.machine.names) == sorted(SOURCES)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("stage", Stage.values)
@pytest.mark.parametrize("name", sorted(SOURCES))
def test_matrix(name: str, stage: str, role: str, people: dict[str, User]) -> None:
    lead = make_lead(stage, people)
    user = people[role]
    allowed = stage in SOURCES[name] and role in MAY_MOVE

    if allowed:
        lead.machine.run(name=name, by=user, comment="Parce que.")
        lead.refresh_from_db()
        log = LeadTransition.objects.get(lead=lead)
        assert lead.stage == TARGETS[name](stage)
        assert (log.name, log.source, log.target, log.by, log.comment) == (
            name,
            stage,
            lead.stage,
            user,
            "Parce que.",
        )
    else:
        with pytest.raises(TransitionRefused) as refused:
            lead.machine.run(name=name, by=user, comment="Parce que.")
        lead.refresh_from_db()
        assert lead.stage == stage
        assert not LeadTransition.objects.exists()
        expected = "n'est pas possible à l'étape" if stage not in SOURCES[name] else "chargée"
        assert expected in refused.value.reasons[0]


@pytest.mark.parametrize("role", ROLES)
def test_options_offer_exactly_the_allowed_moves(role: str, people: dict[str, User]) -> None:
    lead = make_lead("negotiation", people)

    names = {option.name for option in lead.machine.options(people[role])}

    expected = {"step_back", "win", "lose", "put_to_sleep"} if role in MAY_MOVE else set()
    assert names == expected


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ({"target_sites": []}, "au moins un site visé"),
        ({"estimated_investment": None}, "montant de l'investissement"),
        ({"estimated_investment": Decimal("0")}, "montant de l'investissement"),
    ],
)
def test_winning_says_what_is_missing(missing: dict, message: str, people) -> None:
    lead = make_lead("negotiation", people, **missing)

    with pytest.raises(TransitionRefused) as refused:
        lead.machine.run(name="win", by=people["owner"])

    assert message in " ".join(refused.value.reasons)
    lead.refresh_from_db()
    assert lead.stage == "negotiation"
    assert not LeadTransition.objects.exists()


def test_winning_without_site_nor_amount_gives_both_reasons(people) -> None:
    lead = make_lead("negotiation", people, target_sites=[], estimated_investment=None)

    assert len(lead.machine.refusal_reasons("win", people["staff"])) == 2


@pytest.mark.parametrize("comment", ["", "   "])
def test_losing_needs_a_reason(comment: str, people) -> None:
    lead = make_lead("proposal", people)

    with pytest.raises(TransitionRefused, match="raison est obligatoire"):
        lead.machine.run(name="lose", by=people["owner"], comment=comment)

    lead.refresh_from_db()
    assert (lead.stage, lead.lost_reason) == ("proposal", "")


def test_the_loss_reason_is_kept(people) -> None:
    lead = make_lead("qualified", people)

    lead.machine.run(name="lose", by=people["owner"], comment="A choisi Lille.")

    lead.refresh_from_db()
    assert (lead.stage, lead.lost_reason) == ("lost", "A choisi Lille.")


@pytest.mark.parametrize(
    ("name", "comment", "kept"),
    [("win", "", False), ("lose", "Parti ailleurs.", False), ("put_to_sleep", "", True)],
)
def test_closing_settles_the_next_action_and_sleeping_keeps_it(
    name: str, comment: str, kept: bool, people
) -> None:
    due = timezone.localdate() + timedelta(days=3)
    lead = make_lead("negotiation", people, next_action="Envoyer le bail", next_action_due=due)

    lead.machine.run(name=name, by=people["owner"], comment=comment)

    lead.refresh_from_db()
    expected = ("Envoyer le bail", due) if kept else ("", None)
    assert (lead.next_action, lead.next_action_due) == expected


def test_stepping_back_needs_a_comment(people) -> None:
    lead = make_lead("proposal", people)

    with pytest.raises(TransitionRefused, match="commentaire"):
        lead.machine.run(name="step_back", by=people["owner"])


def test_sleep_then_revive_returns_to_the_stage(people) -> None:
    lead = make_lead("site_visit", people)

    lead.machine.run(name="put_to_sleep", by=people["owner"])
    lead.machine.run(name="revive", by=people["shared"])

    lead.refresh_from_db()
    assert (lead.stage, lead.dormant_from) == ("site_visit", "")
    assert list(LeadTransition.objects.order_by("at", "pk").values_list("source", "target")) == [
        ("site_visit", "dormant"),
        ("dormant", "site_visit"),
    ]


def test_a_transition_counts_as_activity(people) -> None:
    lead = make_lead("identified", people)
    Lead.objects.filter(pk=lead.pk).update(last_activity_at="2020-01-01T00:00:00Z")
    lead.refresh_from_db()

    lead.machine.run(name="advance", by=people["owner"])

    lead.refresh_from_db()
    assert lead.last_activity_at.year > 2020


def test_unknown_transition_name_is_refused(people) -> None:
    lead = make_lead("identified", people)

    with pytest.raises(TransitionRefused):
        lead.machine.run(name="delete", by=people["staff"])


def test_a_stale_copy_loses_and_leaves_no_log(people) -> None:
    lead = make_lead("contacted", people)
    stale = Lead.objects.get(pk=lead.pk)

    lead.machine.run(name="advance", by=people["owner"])
    with pytest.raises(LeadChanged):
        stale.machine.run(name="put_to_sleep", by=people["shared"])

    lead.refresh_from_db()
    assert lead.stage == "qualified"
    assert LeadTransition.objects.count() == 1


def test_the_stage_cannot_be_assigned_directly(people) -> None:
    lead = make_lead("identified", people)

    with pytest.raises(AttributeError):
        lead.stage = "won"


def test_the_database_refuses_a_forged_stage(people) -> None:
    from django.db import IntegrityError, transaction

    lead = make_lead("identified", people)

    with pytest.raises(IntegrityError), transaction.atomic():
        Lead.objects.filter(pk=lead.pk).update(stage="signed")
