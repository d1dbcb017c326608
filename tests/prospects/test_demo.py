"""seed_demo's prospects: the sites of DESIGN §7, fictional investors, leads at their stages."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from crm.models import Event, Interaction, Notification
from prospects.models import Lead, LeadTransition, PromotionEvent, Site

pytestmark = pytest.mark.django_db

# Written out by hand from the fixture's intent, not read from the file under test.
EXPECTED_STAGES = {
    "Hôtel-design sur la base 11/19": "proposal",
    "Parc de loisirs sur le terril": "site_visit",
    "Resort confidentiel en lisière de forêt": "negotiation",
    "Location de vélos au 9-9bis": "won",
    "Appart-hôtel près du Louvre-Lens": "contacted",
    "Restaurant panoramique": "lost",
    "Glamping pour la clientèle japonaise": "dormant",
    "Boutique de produits du bassin minier": "identified",
}


@pytest.fixture(autouse=True)
def development(settings) -> None:
    settings.DEBUG = True


def seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_sites_events_and_leads_are_loaded_at_their_stages() -> None:
    seed()

    sites = set(Site.objects.values_list("name", flat=True))
    assert {"Base 11/19", "9-9bis", "Arenberg Creative Mine"} <= sites
    assert PromotionEvent.objects.count() == 2
    assert dict(Lead.objects.values_list("title", "stage")) == EXPECTED_STAGES
    assert all(lead.is_demo for lead in Lead.objects.all())
    assert all("fictif" in lead.organisation.name for lead in Lead.objects.all())
    assert Lead.objects.values("origin_market").distinct().count() >= 5
    secret = Lead.objects.get(confidential=True)
    assert secret.owner.username == "officer2"

    # The log is one the application could have written.
    for lead in Lead.objects.all():
        moves = list(lead.transitions.order_by("at", "pk").values_list("source", "target"))
        stage = "identified"
        for source, target in moves:
            assert source == stage
            stage = target
        assert stage == lead.stage
        assert all(t.at >= lead.created_at for t in lead.transitions.all())
    won = Lead.objects.get(stage="won")
    assert won.target_sites.exists() and won.estimated_investment > 0
    assert Lead.objects.get(stage="lost").lost_reason


def test_a_second_run_changes_nothing() -> None:
    seed()
    before = {
        model: list(model.objects.order_by("pk").values())
        for model in (Site, PromotionEvent, Lead, LeadTransition)
    }

    output = seed()

    assert "Prospects demo data:" in output
    for model, rows in before.items():
        assert list(model.objects.order_by("pk").values()) == rows, model


def test_notifications_are_dated_when_what_they_tell_of_happened() -> None:
    loading = timezone.now()
    seed()
    events = Event.objects.filter(record_type="prospects.Lead")
    shared = events.filter(kind="lead_shared")
    logged = events.filter(kind="interaction_logged")
    assert shared.exists() and logged.exists()

    for event in shared:
        assert event.created_at == Lead.objects.get(pk=event.record_id).created_at
    for event in logged:
        assert event.created_at in set(
            Interaction.objects.filter(lead_id=event.record_id).values_list(
                "occurred_at", flat=True
            )
        )
    notes = Notification.objects.filter(event__in=events).select_related("event")
    assert all(note.created_at == note.event.created_at < loading for note in notes)
