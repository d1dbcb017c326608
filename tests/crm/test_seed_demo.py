"""seed_demo: the demo data loads, is idempotent, obeys the model rules and stays fictional."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.db.models import Max

from crm.demo import load_fixture
from crm.models import Contact, Interaction, Organisation, Role, Territory, Thematic, User

pytestmark = pytest.mark.django_db

MODELS = [User, Territory, Thematic, Organisation, Contact, Interaction]


@pytest.fixture(autouse=True)
def development(settings) -> None:
    # pytest-django runs with DEBUG off; seed_demo is a development command.
    settings.DEBUG = True


def seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_seed_creates_the_destination_and_one_login_per_role() -> None:
    output = seed()

    assert Territory.objects.filter(name="Lens-Liévin").exists()
    assert Thematic.objects.count() == 6
    for name in [
        "Office de tourisme de Lens-Liévin",
        "Parc départemental d'Olhain",
        "Les Chevrettes du Terril",
        "Gîtes de la Cité des Électriciens",
    ]:
        assert Organisation.objects.filter(name=name, is_demo=True).exists()
    for role in Role:
        user = User.objects.get(username=role.value)
        assert user.has_role(role)
        assert authenticate(username=role.value, password="carreau-demo") == user
        assert f"{role.value}" in output
    assert User.objects.get(username="staff").is_staff
    assert "carreau-demo" in output


def test_running_twice_changes_nothing() -> None:
    seed()
    before = {model: list(model.objects.order_by("pk").values()) for model in MODELS}

    output = seed()

    assert "nothing new" in output
    for model in MODELS:
        assert list(model.objects.order_by("pk").values()) == before[model], model


def test_contacts_last_interaction_matches_their_interactions() -> None:
    seed()

    for contact in Contact.objects.annotate(latest=Max("interactions__occurred_at")):
        assert contact.last_interaction_at == contact.latest


def test_demo_data_obeys_the_model_rules_and_is_fictional() -> None:
    seed()
    data = load_fixture()

    for organisation in Organisation.objects.all():
        organisation.full_clean()
    for contact in Contact.objects.all():
        contact.full_clean()
        assert contact.email.endswith(("@example.org", "@example.com"))
    for user in data["users"]:
        assert user["email"].endswith("@example.org")
    investors = Organisation.objects.filter(kind__in=["investor", "operator"])
    assert investors.exists()
    assert all("fictif" in organisation.name for organisation in investors)


def test_refuses_without_debug(settings) -> None:
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DJANGO_DEBUG=false"):
        call_command("seed_demo", stdout=io.StringIO())
    assert not User.objects.exists()


def test_force_seeds_without_debug(settings) -> None:
    settings.DEBUG = False

    call_command("seed_demo", "--force", "--quiet", stdout=io.StringIO())

    assert User.objects.filter(username="staff").exists()
