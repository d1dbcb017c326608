"""Two people acting on the same lead at once: exactly one wins, the other is told, nothing
is half-written or silently overwritten.

Real transactions and threads need a real server: these run on PostgreSQL (CI's second pass).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection, connections

from crm.models import Role
from prospects.actions import LeadChanged, save_lead
from prospects.models import Lead, LeadTransition
from tests.factories import LeadFactory, SiteFactory, UserFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("role_groups"),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="needs PostgreSQL's row locks and threads"
    ),
]


def race(workers: list[Callable[[], object]]) -> list[str]:
    """Run each worker in its own thread, all released at once; "won" or "changed" each."""
    barrier = threading.Barrier(len(workers))
    results = [""] * len(workers)

    def run(index: int, work: Callable[[], None]) -> None:
        try:
            barrier.wait(timeout=10)
            work()
            results[index] = "won"
        except LeadChanged:
            results[index] = "changed"
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, w)) for i, w in enumerate(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_two_moves_at_once_one_wins_and_the_log_matches() -> None:
    owner = UserFactory(username="race-owner", role=Role.OFFICER)
    lead = LeadFactory(
        owner=owner,
        stage="negotiation",
        target_sites=[SiteFactory()],
        estimated_investment=5_000_000,
    )
    copies = [Lead.objects.get(pk=lead.pk), Lead.objects.get(pk=lead.pk)]

    results = race(
        [
            lambda: copies[0].machine.run(name="win", by=owner),
            lambda: copies[1].machine.run(name="lose", by=owner, comment="Perdue."),
        ]
    )

    lead.refresh_from_db()
    log = LeadTransition.objects.get(lead=lead)
    assert sorted(results) == ["changed", "won"]
    assert (log.source, log.target) == ("negotiation", lead.stage)
    assert lead.stage in {"won", "lost"}
    assert (lead.lost_reason == "Perdue.") == (lead.stage == "lost")


def test_two_saves_of_the_same_form_at_once_one_wins_nothing_is_merged() -> None:
    owner = UserFactory(username="race-editor", role=Role.OFFICER)
    lead = LeadFactory(owner=owner, next_action="Avant")

    def edit(text: str) -> Callable[[], None]:
        def work() -> None:
            copy = Lead.objects.get(pk=lead.pk)
            copy.next_action = text
            save_lead(
                lead=copy, by=owner, seen_version=1, contacts=[], target_sites=[], shared_with=[]
            )

        return work

    results = race([edit("Version A"), edit("Version B")])

    lead.refresh_from_db()
    assert sorted(results) == ["changed", "won"]
    assert lead.version == 2
    winner = "Version A" if results[0] == "won" else "Version B"
    assert lead.next_action == winner
