"""The audit trail: every change to an organisation, contact, project or lead is recorded field
by field (who, when, old → new), shown to staff on the record's page, and never editable."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.db.models import Model
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm import actions
from crm.audit import AUDIT_SHOWN, record
from crm.fsm import TransitionRefused
from crm.models import AuditEntry, Contact, Organisation, User
from projects import actions as project_actions
from prospects import actions as lead_actions
from tests.factories import (
    ContactFactory,
    LeadFactory,
    OrganisationFactory,
    ProjectFactory,
    SiteFactory,
    ThematicFactory,
    UserFactory,
)
from tests.helpers import client_for

pytestmark = pytest.mark.django_db


def changes(record_obj: Model) -> dict[str, tuple[str, str, str]]:
    """field -> (action, old, new) of the record's entries."""
    return {
        entry.field: (entry.action, entry.old_value, entry.new_value)
        for entry in AuditEntry.objects.for_record(record_obj)
    }


# Organisations and contacts, through their pages ---------------------------------------------


def test_organisation_edit_records_each_changed_field(staff: User) -> None:
    organisation = OrganisationFactory(name="Gîtes du Terril", city="Loos-en-Gohelle", siret="")
    data = {
        "name": "Gîtes du 11/19",
        "kind": "association",
        "sector": "private",
        "city": "Loos-en-Gohelle",
        "country": "FR",
        "territory": organisation.territory_id,
    }

    response = client_for(staff).post(
        reverse("crm:organisation_edit", args=[organisation.pk]), data
    )

    assert response.status_code == 302
    recorded = changes(organisation)
    assert recorded["name"] == ("changed", "Gîtes du Terril", "Gîtes du 11/19")
    assert recorded["kind"] == ("changed", "Entreprise", "Association")
    assert "city" not in recorded  # unchanged fields are not recorded
    entry = AuditEntry.objects.get(field="name")
    assert entry.by == staff
    assert entry.record_type == "crm.organisation"


def test_organisation_creation_is_recorded(staff: User) -> None:
    response = client_for(staff).post(
        reverse("crm:organisation_create"),
        {"name": "Brasserie des Mineurs", "kind": "business", "sector": "private", "country": "FR"},
    )

    organisation = Organisation.objects.get(name="Brasserie des Mineurs")
    assert response.status_code == 302
    recorded = changes(organisation)
    assert recorded["name"] == ("created", "", "Brasserie des Mineurs")
    assert "siret" not in recorded  # empty at creation: nothing to say


def test_contact_create_and_edit_are_recorded(staff: User) -> None:
    organisation = OrganisationFactory()
    client = client_for(staff)
    client.post(
        reverse("crm:contact_create"),
        {
            "organisation": organisation.pk,
            "first_name": "Jeanne",
            "last_name": "Exemple",
            "legal_basis": "legitimate_interest",
        },
    )
    contact = Contact.objects.get(last_name="Exemple")
    assert contact.created_by == staff

    client.post(
        reverse("crm:contact_edit", args=[contact.pk]),
        {
            "organisation": organisation.pk,
            "first_name": "Jeanne",
            "last_name": "Exemple",
            "email": "jeanne@example.org",
            "legal_basis": "legitimate_interest",
        },
    )

    recorded = changes(contact)
    assert recorded["last_name"] == ("created", "", "Exemple")
    assert recorded["email"] == ("changed", "", "jeanne@example.org")
    assert AuditEntry.objects.filter(field="email").get().by == staff


def test_saving_without_change_writes_nothing(staff: User) -> None:
    organisation = OrganisationFactory()

    actions.save_organisation(organisation=organisation, by=staff)

    assert not AuditEntry.objects.exists()


def test_one_save_is_one_insert(staff: User) -> None:
    organisation = OrganisationFactory(name="Avant", city="Lens")
    organisation.name, organisation.city, organisation.phone = "Après", "Liévin", "0321000000"

    with CaptureQueriesContext(connection) as queries:
        actions.save_organisation(organisation=organisation, by=staff)

    inserts = [q for q in queries if q["sql"].startswith('INSERT INTO "crm_auditentry"')]
    assert len(inserts) == 1
    assert AuditEntry.objects.count() == 3


# Projects ------------------------------------------------------------------------------------


def test_project_edit_records_fields_and_relations(staff: User, designer: User) -> None:
    project = ProjectFactory(title="Gîtes", budget=Decimal("1000.00"))
    gastronomy = ThematicFactory(name="Gastronomie")
    project.title = "Gîtes de la Cité"
    project.budget = Decimal("2500.50")

    project_actions.save_project(
        project=project, by=staff, thematics=[gastronomy], designers=[designer], lead=None
    )

    recorded = changes(project)
    assert recorded["title"] == ("changed", "Gîtes", "Gîtes de la Cité")
    assert recorded["budget"] == ("changed", "1000.00", "2500.50")
    assert recorded["thematics"] == ("changed", "", "Gastronomie")
    assert recorded["team"][0] == "changed"
    assert recorded["team"][2] == f"{designer} (Designer)"


def test_project_creation_is_recorded_once(staff: User) -> None:
    project = ProjectFactory.build(title="Trail", holder=OrganisationFactory())
    project.territory.save()
    project.territory_id = project.territory.pk

    project_actions.save_project(
        project=project,
        by=staff,
        thematics=[ThematicFactory(name="Sport")],
        designers=[],
        lead=None,
    )

    entries = AuditEntry.objects.for_record(project)
    assert {entry.action for entry in entries} == {"created"}
    assert [entry.field for entry in entries].count("title") == 1
    assert changes(project)["thematics"][2] == "Sport"


def test_project_transition_is_recorded(staff: User) -> None:
    project = ProjectFactory(state="intake")

    project.machine.run(name="accept_watch", by=staff)

    entry = AuditEntry.objects.for_record(project).get()
    assert (entry.action, entry.field, entry.old_value, entry.new_value) == (
        "transition",
        "state",
        "Demande reçue",
        "Écouter",
    )
    assert entry.by == staff


def test_refused_transition_records_nothing(staff: User) -> None:
    project = ProjectFactory(state="involve")

    with pytest.raises(TransitionRefused):
        project.machine.run(name="enter_conceptualisation", by=staff)

    assert not AuditEntry.objects.exists()


# Leads ---------------------------------------------------------------------------------------


def test_lead_edit_records_fields_and_relations(officer: User, other_officer: User) -> None:
    lead = LeadFactory(owner=officer, title="Hôtel", estimated_jobs=10)
    contact = ContactFactory(organisation=lead.organisation, first_name="Ann", last_name="Lee")
    site = SiteFactory(name="Carreau 9-9bis")
    lead.title = "Hôtel des mineurs"
    lead.estimated_jobs = 25

    lead_actions.save_lead(
        lead=lead,
        by=officer,
        seen_version=lead.version,
        contacts=[contact],
        target_sites=[site],
        shared_with=[other_officer],
    )

    recorded = changes(lead)
    assert recorded["title"] == ("changed", "Hôtel", "Hôtel des mineurs")
    assert recorded["estimated_jobs"] == ("changed", "10", "25")
    assert recorded["contacts"] == ("changed", "", "Ann Lee")
    assert recorded["target_sites"][2] == "Carreau 9-9bis"
    assert recorded["shared_with"][2] == str(other_officer)
    assert "stage" not in recorded


def test_stale_lead_edit_records_nothing(officer: User) -> None:
    lead = LeadFactory(owner=officer)
    lead.title = "Autre"

    with pytest.raises(lead_actions.LeadChanged):
        lead_actions.save_lead(
            lead=lead,
            by=officer,
            seen_version=lead.version + 5,
            contacts=[],
            target_sites=[],
            shared_with=[],
        )

    assert not AuditEntry.objects.exists()


def test_lead_transition_is_recorded(officer: User) -> None:
    lead = LeadFactory(owner=officer, stage="identified")

    lead.machine.run(name="advance", by=officer)
    lead.machine.run(name="lose", by=officer, comment="Trop cher.")

    entries = list(AuditEntry.objects.for_record(lead))
    assert [(e.action, e.field, e.old_value, e.new_value) for e in entries] == [
        ("transition", "stage", "Contactée", "Perdue"),
        ("transition", "stage", "Identifiée", "Contactée"),
    ]
    assert entries[0].detail == "Trop cher."


# The section on each page ---------------------------------------------------------------------


@pytest.fixture
def records(officer: User) -> dict[str, Any]:
    lead = LeadFactory(owner=officer)
    contact = ContactFactory(organisation=lead.organisation)
    project = ProjectFactory(holder=lead.organisation, holder_contact=contact)
    return {
        "crm:organisation_detail": lead.organisation,
        "crm:contact_detail": contact,
        "projects:project_detail": project,
        "prospects:lead_detail": lead,
    }


def url_of(name: str, obj: Model) -> str:
    return reverse(name, args=[obj.pk])


@pytest.mark.parametrize(
    "page",
    [
        "crm:organisation_detail",
        "crm:contact_detail",
        "projects:project_detail",
        "prospects:lead_detail",
    ],
)
def test_section_shown_to_staff_only(
    page: str, records: dict[str, Any], staff: User, officer: User
) -> None:
    obj = records[page]
    record(
        instance=obj, action="changed", by=staff, field="", old_value="avant-x", new_value="après-y"
    )

    shown = client_for(staff).get(url_of(page, obj))
    hidden = client_for(officer).get(url_of(page, obj))

    assert "Journal des modifications" in shown.content.decode()
    assert "après-y" in shown.content.decode()
    assert hidden.status_code == 200
    assert "Journal des modifications" not in hidden.content.decode()


def test_section_is_newest_first_and_bounded(staff: User) -> None:
    organisation = OrganisationFactory()
    AuditEntry.objects.bulk_create(
        AuditEntry(
            record_type="crm.organisation",
            record_id=organisation.pk,
            action="changed",
            field="name",
            new_value=f"valeur-{n:03d}",
            by=staff,
        )
        for n in range(AUDIT_SHOWN + 10)
    )

    response = client_for(staff).get(url_of("crm:organisation_detail", organisation))

    html = response.content.decode()
    assert html.count("valeur-") == AUDIT_SHOWN
    assert "valeur-059" in html
    assert "valeur-000" not in html
    assert html.index("valeur-059") < html.index("valeur-058")


@pytest.mark.parametrize(
    "page",
    [
        "crm:organisation_detail",
        "crm:contact_detail",
        "projects:project_detail",
        "prospects:lead_detail",
    ],
)
def test_section_query_count_is_fixed(page: str, records: dict[str, Any], staff: User) -> None:
    obj = records[page]
    client = client_for(staff)
    url = url_of(page, obj)

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    def add(n: int) -> None:
        for _ in range(n):
            record(instance=obj, action="changed", by=UserFactory(), field="", new_value="x")

    add(3)
    with_3 = count()
    add(80)
    with_83 = count()

    assert with_3 == with_83


# None of it is editable --------------------------------------------------------------------


def test_staff_may_read_but_not_edit_in_the_admin(staff: User) -> None:
    entry = record(instance=OrganisationFactory(), action="changed", by=staff)
    superuser = UserFactory(username="root", is_superuser=True, is_staff=True)
    client = client_for(superuser)

    listing = client_for(staff).get(reverse("admin:crm_auditentry_changelist"))
    add = client.get(reverse("admin:crm_auditentry_add"))
    delete = client.post(reverse("admin:crm_auditentry_delete", args=[entry.pk]), {"post": "yes"})
    change = client.post(reverse("admin:crm_auditentry_change", args=[entry.pk]), {"field": "x"})

    assert listing.status_code == 200
    assert add.status_code == 403
    assert delete.status_code == 403
    assert change.status_code in (200, 403)
    entry.refresh_from_db()
    assert entry.field == ""
    assert AuditEntry.objects.count() == 1


def test_officer_has_no_access_in_the_app_or_permission(officer: User, staff: User) -> None:
    assert staff.has_perm("crm.view_auditentry")
    assert not officer.has_perm("crm.view_auditentry")
    assert not staff.has_perm("crm.change_auditentry")
    assert not staff.has_perm("crm.delete_auditentry")


# As people read it --------------------------------------------------------------------------


def journal_rows(html: str) -> list[tuple[str, str, str]]:
    """(field, before, after) of each row of the page's audit journal."""
    from tinyhtml5.parser import HTMLParser

    document = HTMLParser().parse(html, full_tree=True)
    xhtml = "{http://www.w3.org/1999/xhtml}"
    section = next(e for e in document.iter(f"{xhtml}section") if e.get("id") == "audit")
    rows = []
    for row in section.iter(f"{xhtml}tr"):
        cells = ["".join(cell.itertext()).strip() for cell in row.findall(f"{xhtml}td")]
        if cells:
            field, before, after = cells[3:6]
            rows.append((field, before, after))
    return rows


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "fr",
            {
                ("Investissement estimé (€)", "—", "4\u00a0200\u00a0000\u00a0€"),
                ("Échéance de la prochaine action", "—", "2 décembre 2026"),
                ("Secteur", "—", "Hébergement"),
                ("Confidentielle", "—", "oui"),
            },
        ),
        (
            "en",
            {
                ("Estimated investment (€)", "—", "4,200,000\u00a0€"),
                ("Next action due date", "—", "Dec. 2, 2026"),
                ("Sector", "—", "Accommodation"),
                ("Confidential", "—", "yes"),
            },
        ),
    ],
)
def test_the_journal_shows_money_dates_and_choices_in_words(
    staff: User, language: str, expected: set[tuple[str, str, str]]
) -> None:
    import datetime

    from prospects.models import Lead

    lead = LeadFactory(
        owner=staff,
        sector=Lead.Sector.ACCOMMODATION,
        confidential=True,
        estimated_investment=Decimal("4200000"),
        next_action="Rappeler",
        next_action_due=datetime.date(2026, 12, 2),
    )
    # What creating the lead through its form records.
    from crm.audit import record_changes

    record_changes(before={}, instance=lead, by=staff)

    page = client_for(staff, language=language).get(lead.get_absolute_url()).content.decode()

    assert expected <= set(journal_rows(page)), journal_rows(page)
