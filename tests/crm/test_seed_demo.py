"""seed_demo: the demo data loads, is idempotent, obeys the model rules and stays fictional."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.db.models import Max
from django.utils import timezone

from crm.demo import CRM_FIXTURE, Outcome, load_fixture, seed_crm
from crm.models import (
    Contact,
    Interaction,
    Organisation,
    Role,
    Territory,
    Thematic,
    User,
    validate_siret,
)

pytestmark = pytest.mark.django_db

MODELS = [User, Group, Territory, Thematic, Organisation, Contact, Interaction]
PASSWORD = "carreau-demo"
EXAMPLE_DOMAINS = ("@example.org", "@example.com")


@pytest.fixture(autouse=True)
def development(settings) -> None:
    # pytest-django runs with DEBUG off; seed_demo is a development command.
    settings.DEBUG = True


def seed(*args: str) -> str:
    out = io.StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def snapshot() -> dict[type, list[dict]]:
    return {model: list(model._default_manager.order_by("pk").values()) for model in MODELS}


def test_seed_creates_the_destination_and_one_login_per_role() -> None:
    output = seed()

    assert set(Territory.objects.values_list("name", flat=True)) >= {
        "Béthune-Bruay",
        "Arras",
        "Lens-Liévin",
        "Douai",
        "Cœur d'Ostrevent",
        "Porte du Hainaut",
        "Valenciennes",
    }
    assert set(Thematic.objects.values_list("slug", flat=True)) == {
        "gastronomie",
        "espaces",
        "evenementiel",
        "hospitalite",
        "culture",
        "sport-nature",
    }
    for name in [
        "Mission Autour du Louvre-Lens",
        "Office de tourisme de Lens-Liévin",
        "Office de tourisme Cœur d'Ostrevent",
        "Hôtel Louvre-Lens (projet en cités minières)",
        "Gîtes de la Cité des Électriciens",
        "Les Béthunoises, maison d'hôtes",
        "Les Chevrettes du Terril",
        "Parc départemental d'Olhain",
        "Arena Trail (association)",
        "Comité des Fêtes de la Sainte-Barbe (démo)",
    ]:
        assert Organisation.objects.filter(name=name, is_demo=True).exists(), name
    assert Organisation.objects.filter(kind="tourist_office", territory__isnull=False).count() >= 7
    assert not Organisation.objects.filter(is_demo=False).exists()
    assert not Contact.objects.filter(is_demo=False).exists()

    for role in Role:
        user = User.objects.get(username=role.value)
        assert user.roles == [role]
        assert authenticate(username=role.value, password=PASSWORD) == user
        assert role.value in output
    assert User.objects.get(username="staff").is_staff
    assert not User.objects.filter(is_staff=True).exclude(username="staff").exists()
    assert "DEMO LOGINS" in output
    assert PASSWORD in output


def test_running_twice_changes_nothing() -> None:
    seed()
    before = snapshot()

    output = seed()

    assert "nothing new: already loaded" in output
    after = snapshot()
    for model in MODELS:
        assert len(after[model]) == len(before[model]), model
        assert after[model] == before[model], model


def test_a_changed_file_updates_the_demo_rows_in_place(tmp_path: Path) -> None:
    seed_crm()
    counts = {model: model._default_manager.count() for model in MODELS}
    data = load_fixture()
    office = next(r for r in data["organisations"] if r.get("name") == "Office de tourisme d'Arras")
    office["notes"] = "Nouvelle note de démonstration."
    changed = tmp_path / "demo_crm.json"
    changed.write_text(json.dumps(data), encoding="utf-8")

    report = seed_crm(path=changed)

    assert report.counts["organisations"][Outcome.UPDATED] == 1
    assert report.total(Outcome.CREATED) == 0
    assert Organisation.objects.get(name="Office de tourisme d'Arras").notes == office["notes"]
    assert {model: model._default_manager.count() for model in MODELS} == counts


def test_rows_entered_by_hand_are_left_alone() -> None:
    arras = Organisation.objects.create(
        name="Office de tourisme d'Arras", kind="tourist_office", city="Arras (saisi à la main)"
    )

    report = seed_crm()

    arras.refresh_from_db()
    assert arras.city == "Arras (saisi à la main)"
    assert not arras.is_demo
    assert Organisation.objects.filter(name="Office de tourisme d'Arras").count() == 1
    assert report.counts["organisations"][Outcome.KEPT] == 1


def test_contacts_last_interaction_matches_their_interactions() -> None:
    seed()

    contacts = Contact.objects.annotate(latest=Max("interactions__occurred_at"))
    assert any(contact.latest for contact in contacts)  # type: ignore[attr-defined]  # annotated by the query above
    for contact in contacts:
        assert contact.last_interaction_at == contact.latest, contact  # type: ignore[attr-defined]  # annotated by the query above


def test_demo_data_obeys_the_model_rules() -> None:
    seed()

    for model in [User, Territory, Thematic, Organisation, Contact, Interaction]:
        for instance in model._default_manager.all():
            instance.full_clean()
    sirets = list(Organisation.objects.exclude(siret="").values_list("siret", flat=True))
    assert sirets
    for siret in sirets:
        validate_siret(siret)
        # Obviously fake: SIREN 000000999 belongs to nobody.
        assert siret.startswith("000000999")
    # One contact has been silent for over three years: the privacy review has something to show.
    three_years_ago = timezone.now() - timedelta(days=3 * 365)
    assert Contact.objects.filter(last_interaction_at__lt=three_years_ago).exists()


def test_demo_people_and_investors_are_fictional() -> None:
    seed()

    emails = [
        *User.objects.values_list("email", flat=True),
        *Contact.objects.values_list("email", flat=True),
        *Organisation.objects.exclude(email="").values_list("email", flat=True),
    ]
    assert emails
    for email in emails:
        assert email.endswith(EXAMPLE_DOMAINS), email
    investors = Organisation.objects.filter(kind__in=["investor", "operator"])
    assert investors.count() >= 2
    for organisation in investors:
        assert "(fictif)" in organisation.name


def test_the_fixture_file_has_no_real_siret_or_address() -> None:
    text = CRM_FIXTURE.read_text(encoding="utf-8")
    data = json.loads(text)

    for row in data["organisations"]:
        if row.get("siret"):
            assert "(fictif)" in row["name"], row["name"]
    assert "@" not in text.replace("@example.org", "").replace("@example.com", "")


def test_refuses_without_debug(settings) -> None:
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DJANGO_DEBUG=false"):
        seed()
    assert not User.objects.exists()
    assert not Organisation.objects.exists()


def test_force_seeds_without_debug(settings) -> None:
    settings.DEBUG = False

    output = seed("--force", "--quiet")

    assert output == ""
    assert User.objects.filter(username="staff").exists()
