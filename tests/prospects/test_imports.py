"""Excel import of leads (issue 6): officers import their leads, re-importing the same file or
the exported list changes nothing, a reference updates only a lead the person may work on, and
every change lands in the audit trail."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

import openpyxl
import pytest
from django.urls import reverse
from django.utils import timezone

from crm import imports
from crm.models import AuditEntry, Organisation, User
from prospects.models import Lead, Stage
from tests.crm.test_imports import run_import, start, token_of, workbook
from tests.factories import (
    LeadFactory,
    OrganisationFactory,
    PromotionEventFactory,
    TerritoryFactory,
)
from tests.helpers import client_for

pytestmark = pytest.mark.django_db

HEADERS = [
    "Intitulé",
    "Investisseur",
    "Secteur",
    "Territoire",
    "Source",
    "Marché d'origine",
    "Investissement",
    "Emplois",
    "Échéance",
    "Confidentielle",
]


@pytest.fixture
def world(db: None) -> dict[str, Any]:
    return {
        "territory": TerritoryFactory(name="Lens-Liévin", slug="lens-lievin"),
        "investor": OrganisationFactory(name="Groupe Hôtelier du Nord", kind="investor"),
    }


def leads_file(*rows: list[Any], headers: list[str] = HEADERS) -> bytes:
    return workbook([headers, *rows])


ROW = [
    "Hôtel de 80 chambres",
    "Groupe Hôtelier du Nord",
    "Hôtellerie",
    "Lens-Liévin",
    "Réseau",
    "Belgique",
    "4 200 000 €",
    "35",
    "15/01/2027",
    "non",
]


def test_an_officer_imports_leads_and_reimporting_changes_nothing(
    officer: User, world: dict[str, Any]
) -> None:
    client = client_for(officer)
    gite = [
        "Gîte de groupe",
        "Groupe Hôtelier du Nord",
        "Hébergement",
        "lens-lievin",
        "Réseau",
        "FR",
        "",
        "",
        "",
        "oui",
    ]
    data = leads_file(ROW, gite)

    token, preview = run_import(client, data, kind="leads")
    assert preview.context["plan"].created == 2
    assert not Lead.objects.exists()
    applied = client.post(reverse("crm:import_apply", args=[token]), follow=True)

    assert "2 créé(s), 0 mis à jour, 0 inchangé(s)" in applied.content.decode()
    # Applied by the worker: its page says how it went and leads to the list.
    assert f'href="{reverse("prospects:lead_list")}"' in applied.content.decode()
    hotel = Lead.objects.get(title="Hôtel de 80 chambres")
    year = timezone.localdate().year
    assert hotel.reference.startswith(f"PI-{year}-")
    assert (hotel.owner, hotel.stage, hotel.origin_market) == (officer, Stage.IDENTIFIED, "BE")
    assert (hotel.estimated_investment, hotel.estimated_jobs) == (Decimal("4200000.00"), 35)
    assert hotel.next_action_due.isoformat() == "2027-01-15"
    assert Lead.objects.get(title="Gîte de groupe").confidential is True
    assert sorted(Lead.objects.values_list("reference", flat=True)) == [
        f"PI-{year}-0001",
        f"PI-{year}-0002",
    ]
    # Found by the search as by its reference.
    assert list(Lead.objects.search(hotel.reference.lower())) == [hotel]

    token, again = run_import(client, data, kind="leads")
    plan = again.context["plan"]
    assert (plan.created, plan.updated, plan.unchanged) == (0, 0, 2)
    client.post(reverse("crm:import_apply", args=[token]))
    assert Lead.objects.count() == 2


def test_the_exported_list_imports_back_unchanged_then_updates_by_reference(
    staff: User, officer: User, world: dict[str, Any]
) -> None:
    event = PromotionEventFactory(name="MIPIM 2026")
    lead = LeadFactory(
        owner=officer,
        organisation=world["investor"],
        territory=world["territory"],
        source="promotion_event",
        promotion_event=event,
        estimated_investment=Decimal("1500000"),
        next_action="Relancer",
    )
    old_title = lead.title
    exported = client_for(staff).get(reverse("prospects:lead_export")).getvalue()

    plan = imports.plan_import("leads", io.BytesIO(exported), _mapping(exported, staff), by=staff)
    assert (plan.created, plan.updated, plan.unchanged, plan.errors) == (0, 0, 1, [])

    book = openpyxl.load_workbook(io.BytesIO(exported))
    sheet = book.active
    header = [cell.value for cell in sheet[1]]
    sheet.cell(row=2, column=header.index("Prochaine action") + 1, value="Visite du site")
    sheet.cell(row=2, column=header.index("Intitulé") + 1, value="Hôtel, nouveau nom")
    edited = io.BytesIO()
    book.save(edited)

    edited.seek(0)
    plan = imports.apply_import(
        "leads", edited, _mapping(edited.getvalue(), staff), by=staff, source="pistes.xlsx"
    )

    assert (plan.created, plan.updated) == (0, 1)
    lead.refresh_from_db()
    assert (lead.title, lead.next_action, lead.version) == (
        "Hôtel, nouveau nom",
        "Visite du site",
        2,
    )
    changes = AuditEntry.objects.filter(record_type="prospects.lead", record_id=lead.pk)
    assert {(entry.field, entry.old_value, entry.new_value) for entry in changes} == {
        ("title", old_title, "Hôtel, nouveau nom"),
        ("next_action", "Relancer", "Visite du site"),
    }
    assert {entry.detail for entry in changes} == {"Import du fichier « pistes.xlsx »"}


def _mapping(data: bytes, user: User) -> dict[int, str]:
    headers = imports.read_headers(io.BytesIO(data))
    return imports.guess_mapping(imports.get_kind("leads", by=user), headers)


def test_a_reference_updates_only_a_lead_the_person_works_on(
    officer: User, other_officer: User, world: dict[str, Any]
) -> None:
    theirs = LeadFactory(owner=other_officer, organisation=world["investor"])
    secret = LeadFactory(owner=other_officer, confidential=True)
    untouched = LeadFactory(owner=other_officer, organisation=world["investor"])
    rows = [
        [theirs.reference, "Nouveau titre", "Groupe Hôtelier du Nord"],
        [secret.reference, "Nouveau titre", "Groupe Hôtelier du Nord"],
        ["PI-1999-0001", "Nouveau titre", "Groupe Hôtelier du Nord"],
        # Someone else's lead, as the export wrote it: unchanged, so no error.
        [untouched.reference, untouched.title, "Groupe Hôtelier du Nord"],
    ]
    data = workbook([["Référence", "Intitulé", "Investisseur"], *rows])
    mapping = {0: "reference", 1: "title", 2: "organisation"}
    plan = imports.plan_import("leads", io.BytesIO(data), mapping, by=officer)
    assert plan.unchanged == 1
    assert {row for row, _column, _reason in plan.errors} == {2, 3, 4}

    with pytest.raises(imports.NotApplied) as refused:
        imports.apply_import(
            "leads", io.BytesIO(data), {0: "reference", 1: "title", 2: "organisation"}, by=officer
        )

    reasons = {(row, reason) for row, _column, reason in refused.value.plan.errors}
    assert (
        2,
        f"La piste {theirs.reference} n'est ni à vous ni partagée avec vous : seul·e sa ou "
        "son chargé·e, ou l'équipe de la mission, la modifie.",
    ) in reasons
    # A confidential lead of someone else is not even named: it does not exist for them.
    assert (3, f"Aucune piste « {secret.reference} » parmi celles que vous voyez.") in reasons
    assert (4, "Aucune piste « PI-1999-0001 » parmi celles que vous voyez.") in reasons
    assert not Lead.objects.filter(title="Nouveau titre").exists()


def test_bad_cells_are_row_errors_and_nothing_is_written(
    officer: User, world: dict[str, Any]
) -> None:
    bad = [
        ["Piste A", "Inconnue SA", "Hôtellerie", "Lens-Liévin", "Réseau", "BE", "", "", "", ""],
        ["Piste B", *ROW[1:6], "beaucoup", "-3", "demain", "peut-être"],
        ["Piste C", *ROW[1:4], "Salon ou événement de promotion", *ROW[5:]],
        ["Piste D", *ROW[1:3], "Artois", "Réseau", "Atlantide", *ROW[6:]],
    ]
    data = leads_file(ROW, *bad)

    with pytest.raises(imports.NotApplied) as refused:
        imports.apply_import("leads", io.BytesIO(data), _mapping(data, officer), by=officer)

    errors = refused.value.plan.errors
    assert {row for row, _column, _reason in errors} == {3, 4, 5, 6}
    by_row = {(row, column): reason for row, column, reason in errors}
    assert by_row[(3, "Investisseur")].startswith("Organisation inconnue : « Inconnue SA »")
    assert by_row[(4, "Investissement")] == "Nombre attendu."
    assert by_row[(4, "Emplois")].startswith("Nombre entre 0 et")
    assert by_row[(4, "Échéance")] == "Date illisible : écrivez-la JJ/MM/AAAA."
    assert by_row[(4, "Confidentielle")] == "Répondez oui ou non."
    assert "Indiquez l'événement de promotion" in by_row[(5, "Événement de promotion")]
    assert by_row[(6, "Territoire")] == "Territoire inconnu : « Artois »."
    assert by_row[(6, "Marché d'origine")].startswith("Valeur inconnue.")
    assert not Lead.objects.exists()  # the good first row was not written either


def test_owner_and_event_columns(staff: User, officer: User, world: dict[str, Any]) -> None:
    PromotionEventFactory(name="MIPIM 2026")
    headers = [*HEADERS[:5], "Événement", "Marché d'origine", "Chargé·e de la piste"]
    rows = [
        [*ROW[:4], "Salon ou événement de promotion", "mipim 2026", "UK", "officer"],
        [*ROW[:4], "Réseau", "", "UK", "personne@example.org"],
    ]
    data = workbook([headers, *rows])
    plan = imports.plan_import("leads", io.BytesIO(data), _mapping(data, staff), by=staff)

    assert plan.errors == [
        (
            3,
            "Chargé·e de la piste",
            "Personne inconnue parmi les chargé·es de mission : « personne@example.org ».",
        )
    ]
    planned = next(row.instance for row in plan.to_write)
    assert (planned.owner, planned.promotion_event.name) == (officer, "MIPIM 2026")


@pytest.mark.parametrize("role", ["designer", "holder"])
def test_designers_and_holders_import_nothing(role: str, personas: dict[str, User]) -> None:
    assert client_for(personas[role]).get(reverse("crm:import_start")).status_code == 404


def test_an_officer_is_offered_leads_only(officer: User, world: dict[str, Any]) -> None:
    client = client_for(officer)
    form = client.get(reverse("crm:import_start")).context["form"]
    assert [key for key, _label in form.fields["kind"].choices] == ["leads"]

    refused = start(client, workbook([["Nom"], ["Gîtes"]]), kind="organisations")

    assert refused.status_code == 400
    assert not Organisation.objects.filter(name="Gîtes").exists()
    token = token_of(start(client, leads_file(ROW), kind="leads"))
    assert client.get(reverse("crm:import_map", args=[token])).status_code == 200


def test_an_officer_imports_back_the_whole_exported_list(
    officer: User, other_officer: User, world: dict[str, Any]
) -> None:
    """Their list holds other officers' leads too: unchanged, they are no error."""
    LeadFactory(owner=officer)
    LeadFactory(owner=other_officer)
    exported = client_for(officer).get(reverse("prospects:lead_export")).getvalue()

    plan = imports.plan_import(
        "leads", io.BytesIO(exported), _mapping(exported, officer), by=officer
    )

    assert (plan.rows, plan.unchanged, plan.errors) == (2, 2, [])
