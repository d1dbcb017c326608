"""Privacy (CNIL, DESIGN §6): objection to being contacted, the retention review, the
anonymisation command, a person's data export and erasure — staff only, each one logged."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Count, Sum
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from crm import actions
from crm.models import AuditEntry, Contact, Interaction, Organisation, User
from prospects import actions as lead_actions
from prospects.models import Lead
from tests.factories import (
    ContactFactory,
    InteractionFactory,
    LeadFactory,
    OrganisationFactory,
    ProjectFactory,
)
from tests.helpers import client_for

pytestmark = pytest.mark.django_db


def years_ago(years: float) -> datetime:
    return timezone.now() - timedelta(days=round(365.25 * years))


def make_old(contact: Contact, *, years: float = 4) -> Contact:
    Contact.objects.filter(pk=contact.pk).update(
        last_interaction_at=years_ago(years), created_at=years_ago(years + 1)
    )
    contact.refresh_from_db()
    return contact


@pytest.fixture
def person(officer: User) -> Contact:
    """A prospect contact with a lead, a project and two exchanges, silent for four years."""
    organisation = OrganisationFactory(name="Invest Nord", kind="investor")
    contact = ContactFactory(
        organisation=organisation,
        first_name="Jeanne",
        last_name="Dupont",
        email="jeanne.dupont@example.org",
        phone="0321000000",
        role="Directrice",
        notes="Préfère être appelée le matin.",
    )
    lead = LeadFactory(
        organisation=organisation, owner=officer, estimated_investment=Decimal("2000000")
    )
    lead_actions.save_lead(
        lead=lead,
        by=officer,
        seen_version=lead.version,
        contacts=[contact],
        target_sites=[],
        shared_with=[],
    )
    ProjectFactory(holder=organisation, holder_contact=contact, title="Hôtel des corons")
    for summary in ["Appel avec Jeanne Dupont sur son projet.", "Visite du 9-9bis."]:
        InteractionFactory(
            organisation=organisation, contact=contact, author=officer, summary=summary, lead=lead
        )
    InteractionFactory(organisation=organisation, author=officer, summary="Sans contact.")
    return make_old(contact)


# Who may do what ---------------------------------------------------------------------------


def privacy_requests(contact: Contact) -> list[tuple[str, str, dict[str, str]]]:
    return [
        ("get", reverse("crm:privacy_review"), {}),
        ("post", reverse("crm:contact_objection", args=[contact.pk]), {"objects": "1"}),
        ("get", reverse("crm:contact_personal_data", args=[contact.pk, "xlsx"]), {}),
        ("get", reverse("crm:contact_personal_data", args=[contact.pk, "json"]), {}),
        ("get", reverse("crm:contact_anonymise", args=[contact.pk]), {}),
        ("post", reverse("crm:contact_anonymise", args=[contact.pk]), {}),
    ]


@pytest.mark.parametrize("role", ["designer", "officer", "holder"])
def test_privacy_pages_and_actions_are_staff_only(
    role: str, personas: dict[str, User], person: Contact
) -> None:
    client = client_for(personas[role])
    before = AuditEntry.objects.count()

    for method, url, data in privacy_requests(person):
        assert getattr(client, method)(url, data).status_code == 404, url

    person.refresh_from_db()
    assert person.objected_at is None
    assert person.anonymised_at is None
    assert AuditEntry.objects.count() == before


def test_staff_reach_every_privacy_page(staff: User, person: Contact) -> None:
    client = client_for(staff)
    statuses = [
        getattr(client, method)(url, data).status_code
        for method, url, data in privacy_requests(person)
    ]

    assert statuses == [200, 302, 200, 200, 200, 302]


def test_unknown_export_format_is_404(staff: User, person: Contact) -> None:
    url = reverse("crm:contact_personal_data", args=[person.pk, "csv"])

    assert client_for(staff).get(url).status_code == 404


def test_contact_page_shows_privacy_actions_to_staff_only(
    staff: User, officer: User, person: Contact
) -> None:
    url = person.get_absolute_url()

    assert "Exporter ses données" in client_for(staff).get(url).content.decode()
    assert "Exporter ses données" not in client_for(officer).get(url).content.decode()


# Objection ----------------------------------------------------------------------------------


def test_objection_is_recorded_dated_and_logged(staff: User, person: Contact) -> None:
    client = client_for(staff)
    url = reverse("crm:contact_objection", args=[person.pk])

    client.post(url, {"objects": "1"})
    person.refresh_from_db()
    assert person.objected_at is not None
    client.post(url, {"objects": "0"})
    person.refresh_from_db()

    assert person.objected_at is None
    entries = AuditEntry.objects.for_record(person).filter(action="objection")
    assert entries.count() == 2
    assert {entry.by for entry in entries} == {staff}


def test_objection_is_refused_on_get(staff: User, person: Contact) -> None:
    response = client_for(staff).get(reverse("crm:contact_objection", args=[person.pk]))

    assert response.status_code == 405


def test_objection_is_shown_wherever_the_contact_appears(
    staff: User, officer: User, person: Contact
) -> None:
    actions.set_objection(contact=person, objects=True, by=staff)
    lead = person.leads.get()
    pages = [
        person.get_absolute_url(),
        person.organisation.get_absolute_url(),
        lead.get_absolute_url(),
        reverse("crm:contact_list"),
        reverse("crm:privacy_review"),
    ]

    for url in pages:
        user = staff if "privacy" in url else officer
        assert "Ne pas contacter" in client_for(user).get(url).content.decode(), url


# The review page ----------------------------------------------------------------------------


def test_review_lists_silent_contacts_only(staff: User, person: Contact) -> None:
    recent = ContactFactory(last_name="Récent")
    Contact.objects.filter(pk=recent.pk).update(last_interaction_at=years_ago(1))
    never = make_old(ContactFactory(last_name="Jamais"))
    Contact.objects.filter(pk=never.pk).update(last_interaction_at=None)
    new = ContactFactory(last_name="Nouveau")  # never contacted, recorded today
    gone = make_old(ContactFactory(last_name="Parti"))
    actions.anonymise_contact(contact=gone, by=staff)

    response = client_for(staff).get(reverse("crm:privacy_review"))

    listed = {contact.pk for contact in response.context["object_list"]}
    assert listed == {person.pk, never.pk}
    assert recent.pk not in listed and new.pk not in listed
    assert person.get_absolute_url() in response.content.decode()


def test_review_period_comes_from_the_setting(staff: User, settings, person: Contact) -> None:
    settings.PRIVACY_RETENTION_YEARS = 5

    response = client_for(staff).get(reverse("crm:privacy_review"))

    assert response.context["object_list"] == []


def test_review_query_count_is_fixed(staff: User) -> None:
    client = client_for(staff)
    url = reverse("crm:privacy_review")

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    for contact in ContactFactory.create_batch(3):
        make_old(contact)
    with_3 = count()
    for contact in ContactFactory.create_batch(57):
        make_old(contact)
    with_60 = count()

    assert with_3 == with_60


# The command --------------------------------------------------------------------------------


def figures() -> dict[str, Any]:
    """What the mission reports: counts per organisation and lead figures."""
    return {
        "interactions": dict(
            Interaction.objects.values_list("organisation").annotate(n=Count("pk")).order_by()
        ),
        "contacts": dict(
            Contact.objects.values_list("organisation").annotate(n=Count("pk")).order_by()
        ),
        "leads": Lead.objects.aggregate(n=Count("pk"), investment=Sum("estimated_investment")),
        "lead_contacts": Lead.contacts.through.objects.count(),
        "kinds": sorted(Interaction.objects.values_list("kind", "occurred_at")),
    }


def run_command(*args: str) -> str:
    out = io.StringIO()
    call_command("anonymise_contacts", *args, stdout=out)
    return out.getvalue()


def test_dry_run_changes_nothing(person: Contact) -> None:
    recent = ContactFactory(last_name="Récent")
    Contact.objects.filter(pk=recent.pk).update(last_interaction_at=years_ago(1))

    output = run_command("--dry-run")

    person.refresh_from_db()
    assert person.last_name == "Dupont"
    assert person.anonymised_at is None
    assert f"#{person.pk}" in output
    assert f"#{recent.pk}" not in output
    assert "1 contact(s) would be anonymised" in output
    assert not AuditEntry.objects.filter(action="anonymised").exists()


def test_command_anonymises_and_keeps_aggregates(person: Contact) -> None:
    recent = ContactFactory(last_name="Récent", email="recent@example.org")
    Contact.objects.filter(pk=recent.pk).update(last_interaction_at=years_ago(1))
    before = figures()

    output = run_command()

    person.refresh_from_db()
    recent.refresh_from_db()
    assert figures() == before
    assert person.full_name == f"Contact anonymisé n°{person.pk}"
    assert (person.email, person.phone, person.role, person.notes) == ("", "", "", "")
    assert person.anonymised_at is not None
    assert "dupont" not in person.search_text
    assert person.organisation.name == "Invest Nord"
    assert recent.email == "recent@example.org"
    entry = AuditEntry.objects.for_record(person).get(action="anonymised")
    assert entry.by is None
    assert "1 contact(s) anonymised" in output
    # Running it again finds nothing left to do.
    assert "0 contact(s) anonymised" in run_command()


def test_command_years_option(person: Contact) -> None:
    assert "0 contact(s)" in run_command("--dry-run", "--years", "10")


# Erasure from the contact page --------------------------------------------------------------


def test_anonymise_asks_for_confirmation_first(staff: User, person: Contact) -> None:
    response = client_for(staff).get(reverse("crm:contact_anonymise", args=[person.pk]))

    assert response.status_code == 200
    assert "Anonymiser définitivement" in response.content.decode()
    person.refresh_from_db()
    assert person.anonymised_at is None


def test_anonymise_erases_personal_data_everywhere(staff: User, person: Contact) -> None:
    person.email = "nouvelle@example.org"
    actions.save_contact(contact=person, by=staff)  # an audit entry holding personal values
    before = figures()

    response = client_for(staff).post(reverse("crm:contact_anonymise", args=[person.pk]))

    assert response.status_code == 302
    person.refresh_from_db()
    assert person.last_name == f"Contact anonymisé n°{person.pk}"
    assert figures() == before
    summaries = set(person.interactions.values_list("summary", flat=True))
    assert summaries == {actions.ERASED_SUMMARY}
    assert Interaction.objects.filter(summary="Sans contact.").exists()
    # No personal value survives in the audit trail, here or on the lead that named her.
    for entry in AuditEntry.objects.all():
        text = f"{entry.old_value} {entry.new_value} {entry.detail}"
        assert "Dupont" not in text
        assert "example.org" not in text
    lead_entry = AuditEntry.objects.get(record_type="prospects.lead", field="contacts")
    assert lead_entry.new_value == f"Contact anonymisé n°{person.pk}"
    anonymised = AuditEntry.objects.for_record(person).get(action="anonymised")
    assert anonymised.by == staff


def test_anonymising_twice_changes_nothing(staff: User, person: Contact) -> None:
    actions.anonymise_contact(contact=person, by=staff)

    response = client_for(staff).post(reverse("crm:contact_anonymise", args=[person.pk]))

    assert response.status_code == 302
    assert AuditEntry.objects.filter(action="anonymised").count() == 1


# Export of a person's data ------------------------------------------------------------------


def test_json_export_holds_everything_and_is_logged(staff: User, person: Contact) -> None:
    response = client_for(staff).get(reverse("crm:contact_personal_data", args=[person.pk, "json"]))

    assert response["Content-Type"].startswith("application/json")
    assert "attachment" in response["Content-Disposition"]
    data = json.loads(response.content)
    assert data["contact"]["last_name"]["value"] == "Dupont"
    assert data["contact"]["email"]["value"] == "jeanne.dupont@example.org"
    assert data["contact"]["organisation"]["value"] == "Invest Nord"
    assert sorted(i["summary"] for i in data["interactions"]) == [
        "Appel avec Jeanne Dupont sur son projet.",
        "Visite du 9-9bis.",
    ]
    assert [lead["organisation"] for lead in data["leads"]] == ["Invest Nord"]
    assert [project["title"] for project in data["projects"]] == ["Hôtel des corons"]
    entry = AuditEntry.objects.for_record(person).get(action="exported")
    assert (entry.by, entry.detail) == (staff, "JSON")


def test_xlsx_export_holds_everything_and_is_logged(staff: User, person: Contact) -> None:
    response = client_for(staff).get(reverse("crm:contact_personal_data", args=[person.pk, "xlsx"]))

    workbook = load_workbook(io.BytesIO(response.getvalue()), read_only=True)
    assert workbook.sheetnames == [
        "Contact",
        "Interactions",
        "Pistes",
        "Projets",
        "Journal",
        # What names the person elsewhere (tests/crm/test_erasure.py fills each of them).
        "Mentions",
        "Autres journaux",
        "Administration",
        "Cahiers des charges",
        "Connexions",
        "Comptes",
        "Imports en attente",
    ]
    fields = {
        row[0]: row[1] if len(row) > 1 else None
        for row in workbook["Contact"].iter_rows(min_row=2, values_only=True)
    }
    assert fields["nom"] == "Dupont"
    assert fields["e-mail"] == "jeanne.dupont@example.org"
    summaries = [row[4] for row in workbook["Interactions"].iter_rows(min_row=2, values_only=True)]
    assert sorted(summaries) == ["Appel avec Jeanne Dupont sur son projet.", "Visite du 9-9bis."]  # type: ignore[type-var]  # the summaries are text
    projects = list(workbook["Projets"].iter_rows(min_row=2, values_only=True))
    assert [row[1] for row in projects] == ["Hôtel des corons"]
    assert AuditEntry.objects.for_record(person).filter(action="exported", detail="XLSX").exists()


def test_anonymised_contact_export_holds_no_personal_data(staff: User, person: Contact) -> None:
    actions.anonymise_contact(contact=person, by=staff)

    response = client_for(staff).get(reverse("crm:contact_personal_data", args=[person.pk, "json"]))

    # The team's own names (who logged, who owns, who changed) stay: they are not the person's
    # data, and the factories pick them at random, so they are left out of the search.
    def about_the_person(value: object, key: str = "") -> list[str]:
        if key in {"author", "owner", "by"}:
            return []
        if isinstance(value, dict):
            return [text for k, v in value.items() for text in about_the_person(v, k)]
        if isinstance(value, list):
            return [text for v in value for text in about_the_person(v)]
        return [str(value).lower()]

    texts = about_the_person(response.json())
    assert texts
    for trace in ("jeanne", "dupont", "0321000000"):
        assert not [text for text in texts if trace in text], trace


def test_organisation_count_unchanged_by_erasure(staff: User, person: Contact) -> None:
    organisations = Organisation.objects.count()

    actions.anonymise_contact(contact=person, by=staff)

    assert Organisation.objects.count() == organisations
    assert Contact.objects.filter(pk=person.pk).exists()
