"""The objection is seen everywhere (issue 18, RGPD art. 21): the mark "Ne pas contacter"
wherever an objecting person appears, and the predicate a notifier will use."""

from __future__ import annotations

import io

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook
from pypdf import PdfReader

from crm import actions
from crm.models import Contact, Organisation, User
from projects import actions as project_actions
from prospects import actions as lead_actions
from tests.factories import (
    ContactFactory,
    InteractionFactory,
    LeadFactory,
    OrganisationFactory,
    ProjectFactory,
)
from tests.helpers import client_for

pytestmark = pytest.mark.django_db

MARK = "Ne pas contacter"


@pytest.fixture
def objecting(staff: User, officer: User) -> Contact:
    """A person who objects, holder contact of a project and contact of a lead, with an
    exchange logged before she objected."""
    organisation = OrganisationFactory(name="Invest Nord", kind=Organisation.Kind.INVESTOR)
    contact = ContactFactory(organisation=organisation, first_name="Louise", last_name="Berthe")
    lead = LeadFactory(organisation=organisation, owner=officer)
    lead_actions.save_lead(
        lead=lead,
        by=officer,
        seen_version=lead.version,
        contacts=[contact],
        target_sites=[],
        shared_with=[],
    )
    project = ProjectFactory(holder=organisation, holder_contact=contact)
    InteractionFactory(
        organisation=organisation, contact=contact, author=officer, lead=lead, project=project
    )
    actions.set_objection(contact=contact, objects=True, by=staff)
    contact.refresh_from_db()
    return contact


# The predicate a notifier starts from --------------------------------------------------------


def test_contactable_leaves_out_objecting_and_anonymised_people(
    staff: User, objecting: Contact
) -> None:
    willing = ContactFactory()
    erased = ContactFactory()
    actions.anonymise_contact(contact=erased, by=staff)

    assert list(Contact.objects.contactable()) == [willing]
    assert willing.may_be_contacted
    assert not objecting.may_be_contacted


# The mark, wherever she appears -------------------------------------------------------------


def pages(contact: Contact) -> list[str]:
    lead = contact.leads.get()
    project = contact.projects.get()
    return [
        contact.get_absolute_url(),
        contact.organisation.get_absolute_url(),  # contacts, timeline, interaction picker
        lead.get_absolute_url(),  # contacts, timeline, interaction picker
        reverse("prospects:lead_edit", args=[lead.pk]),  # the contacts picker
        reverse("prospects:lead_create"),
        project.get_absolute_url(),  # holder contact, timeline
        reverse("projects:project_edit", args=[project.pk]),  # the holder contact picker
        reverse("crm:contact_log_interaction", args=[contact.pk]),
        reverse("crm:organisation_log_interaction", args=[contact.organisation_id]),
        reverse("crm:contact_list"),
        reverse("crm:privacy_review"),
        reverse("crm:dashboard"),  # recent exchanges
    ]


def test_every_page_she_appears_on_shows_the_mark(staff: User, objecting: Contact) -> None:
    Contact.objects.filter(pk=objecting.pk).update(
        last_interaction_at=timezone.now() - timezone.timedelta(days=4 * 366),
        created_at=timezone.now() - timezone.timedelta(days=5 * 366),
    )
    client = client_for(staff)

    for url in pages(objecting):
        html = client.get(url).content.decode()
        assert MARK in html, url
        assert "Louise Berthe" in html, url


def test_the_pickers_mark_her_choice(staff: User, objecting: Contact) -> None:
    client = client_for(staff)
    lead = objecting.leads.get()
    project = objecting.projects.get()

    for url, field in [
        (reverse("crm:organisation_log_interaction", args=[objecting.organisation_id]), "contact"),
        (reverse("prospects:lead_edit", args=[lead.pk]), "contacts"),
        (reverse("projects:project_edit", args=[project.pk]), "holder_contact"),
    ]:
        form = client.get(url).context["form"]
        labels = {str(value): label for value, label in form.fields[field].choices}
        assert labels[str(objecting.pk)] == f"Louise Berthe — {MARK}", url


def test_the_timelines_mark_her_exchanges(officer: User, objecting: Contact) -> None:
    client = client_for(officer)

    for url in (
        objecting.organisation.get_absolute_url(),
        objecting.leads.get().get_absolute_url(),
        objecting.projects.get().get_absolute_url(),
    ):
        # The entries themselves, not the interaction form's picker above them.
        timeline = client.get(url).content.decode().split('<ol class="timeline">')[1]
        assert MARK in timeline.split("</ol>")[0], url


def test_the_project_sheet_and_specification_say_it(staff: User, objecting: Contact) -> None:
    project = objecting.projects.get()
    client = client_for(staff)

    for url in (
        reverse("projects:project_sheet", args=[project.pk]),
        reverse("projects:specification_preview", args=[project.pk]),
    ):
        response = client.get(url)
        data = b"".join(response.streaming_content) if response.streaming else response.content
        text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
        assert "Louise Berthe" in " ".join(text.split()), url
        assert MARK in " ".join(text.split()), url


def test_an_issued_specification_without_objection_keeps_its_snapshot(staff: User) -> None:
    from projects.pdf import specification_snapshot

    contact = ContactFactory()
    project = ProjectFactory(holder=contact.organisation, holder_contact=contact)
    specification = project_actions.specification_for(project)

    assert "holder_contact_objects" not in specification_snapshot(specification)
    actions.set_objection(contact=contact, objects=True, by=staff)
    assert specification_snapshot(specification)["holder_contact_objects"] is True


def test_the_contact_list_export_has_an_objection_column(staff: User, objecting: Contact) -> None:
    willing = ContactFactory(last_name="Adam")
    response = client_for(staff).get(reverse("crm:contact_export"))

    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    rows = list(book.active.iter_rows(values_only=True))
    header = list(rows[0])
    mark, since = header.index(MARK), header.index("Opposition depuis le")
    by_name = {row[0]: row for row in rows[1:]}
    assert by_name["Berthe"][mark] is True
    assert by_name["Berthe"][since] is not None
    assert by_name[willing.last_name][mark] is False
