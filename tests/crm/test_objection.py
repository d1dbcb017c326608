"""The objection is seen everywhere, and respected (issue 18, RGPD art. 21): the mark
"Ne pas contacter" wherever an objecting person appears, a confirmation with its reason before
a call, an e-mail or a lead reaches them, and the predicate a notifier will use. And a list
export of contacts is logged like the export of one person."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook
from pypdf import PdfReader

from crm import actions
from crm.models import AuditEntry, Contact, Interaction, Organisation, User
from projects import actions as project_actions
from prospects import actions as lead_actions
from prospects.models import Lead
from tests.factories import (
    ContactFactory,
    InteractionFactory,
    LeadFactory,
    OrganisationFactory,
    ProjectFactory,
    TerritoryFactory,
)
from tests.helpers import client_for
from tests.prospects.test_views import edit_data, lead_data

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


def now() -> str:
    return timezone.localtime().strftime("%Y-%m-%dT%H:%M")


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
        last_interaction_at=timezone.now() - timedelta(days=4 * 366),
        created_at=timezone.now() - timedelta(days=5 * 366),
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
        if response.status_code == 302:  # the preview is rendered by the worker
            response = client.get(response["Location"] + "download/")
        data = response.getvalue()  # a file's response (streamed) or a page's
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

    book = load_workbook(io.BytesIO(response.getvalue()), read_only=True)
    rows = list(book.active.iter_rows(values_only=True))
    header = list(rows[0])
    mark, since = header.index(MARK), header.index("Opposition depuis le")
    by_name = {row[0]: row for row in rows[1:]}
    assert by_name["Berthe"][mark] is True
    assert by_name["Berthe"][since] is not None
    assert by_name[willing.last_name][mark] is False


# Reaching her anyway asks why, and logs it -------------------------------------------------


def test_a_call_to_her_asks_for_confirmation_first(staff: User, objecting: Contact) -> None:
    url = reverse("crm:organisation_log_interaction", args=[objecting.organisation_id])
    data = {"kind": "call", "occurred_at": now(), "contact": objecting.pk, "summary": "Relance."}
    before = Interaction.objects.count()
    client = client_for(staff)

    asked = client.post(url, data)

    assert asked.status_code == 200
    html = asked.content.decode()
    assert "s'oppose à être contacté·e" in html
    assert 'name="objection_confirmed"' in html  # the question is in the page, no script needed
    assert Interaction.objects.count() == before
    assert not AuditEntry.objects.filter(action="despite_objection").exists()

    reason = "Elle nous a appelés pour une question."
    done = client.post(url, {**data, "objection_confirmed": "on", "objection_reason": reason})

    assert done.status_code == 302
    assert Interaction.objects.count() == before + 1
    entry = AuditEntry.objects.for_record(objecting).get(action="despite_objection")
    assert (entry.by, entry.detail, entry.new_value) == (staff, reason, "Appel")
    assert entry.data == {"interaction": Interaction.objects.latest("pk").pk}


def test_a_reason_is_needed_besides_the_tick(staff: User, objecting: Contact) -> None:
    url = reverse("crm:contact_log_interaction", args=[objecting.pk])
    data = {"kind": "email", "occurred_at": now(), "contact": objecting.pk, "summary": "Envoi."}

    response = client_for(staff).post(url, {**data, "objection_confirmed": "on"})

    assert response.status_code == 200
    assert response.context["form"].errors["objection_reason"]
    assert not Interaction.objects.filter(summary="Envoi.").exists()


def test_her_page_asks_the_question_before_the_first_post(staff: User, objecting: Contact) -> None:
    html = client_for(staff).get(objecting.get_absolute_url()).content.decode()

    assert 'name="objection_reason"' in html


def test_a_meeting_or_a_note_needs_no_confirmation(staff: User, objecting: Contact) -> None:
    url = reverse("crm:contact_log_interaction", args=[objecting.pk])
    data = {"kind": "note", "occurred_at": now(), "contact": objecting.pk, "summary": "Note."}

    assert client_for(staff).post(url, data).status_code == 302
    assert not AuditEntry.objects.filter(action="despite_objection").exists()


def test_a_call_logged_from_a_lead_or_project_page_asks_too(
    officer: User, staff: User, objecting: Contact
) -> None:
    lead = objecting.leads.get()
    project = objecting.projects.get()
    data = {"kind": "call", "occurred_at": now(), "contact": objecting.pk, "summary": "Appel."}

    for client, url in (
        (client_for(officer), reverse("prospects:lead_log_interaction", args=[lead.pk])),
        (client_for(staff), reverse("projects:project_log_interaction", args=[project.pk])),
    ):
        assert client.post(url, data).status_code == 200, url
        confirmed = {**data, "objection_confirmed": "on", "objection_reason": "À sa demande."}
        assert client.post(url, confirmed).status_code == 302, url

    assert AuditEntry.objects.filter(action="despite_objection").count() == 2


def test_the_action_refuses_an_unconfirmed_call(staff: User, objecting: Contact) -> None:
    with pytest.raises(actions.ObjectionNotConfirmed):
        actions.log_interaction(
            organisation=objecting.organisation,
            contact=objecting,
            by=staff,
            kind="call",
            occurred_at=timezone.now(),
            summary="Sans confirmation.",
        )


def test_adding_her_to_a_lead_asks_for_confirmation(officer: User, objecting: Contact) -> None:
    url = reverse("prospects:lead_create")
    data = lead_data(
        objecting.organisation,
        TerritoryFactory(),
        owner=officer.pk,
        contacts=[objecting.pk],
        title="Hôtel du terril",
    )
    client = client_for(officer)

    asked = client.post(url, data)

    assert asked.status_code == 400
    assert "s'oppose à être contacté·e" in asked.content.decode()
    assert not Lead.objects.filter(title="Hôtel du terril").exists()

    done = client.post(
        url,
        {**data, "objection_confirmed": "on", "objection_reason": "Elle a demandé un rendez-vous."},
    )

    assert done.status_code == 302
    lead = Lead.objects.get(title="Hôtel du terril")
    entry = AuditEntry.objects.for_record(objecting).get(action="despite_objection")
    assert (entry.by, entry.detail, entry.data) == (
        officer,
        "Elle a demandé un rendez-vous.",
        {"lead": lead.pk},
    )


def test_editing_a_lead_she_is_already_on_asks_nothing(officer: User, objecting: Contact) -> None:
    lead = objecting.leads.get()

    response = client_for(officer).post(
        reverse("prospects:lead_edit", args=[lead.pk]),
        edit_data(lead, contacts=[objecting.pk], next_action="Signer"),
    )

    assert response.status_code == 302
    assert not AuditEntry.objects.filter(action="despite_objection").exists()


# A list export is an export of personal data ----------------------------------------------


def test_a_contact_list_export_is_logged_with_its_filter_and_count(
    officer: User, objecting: Contact
) -> None:
    ContactFactory.create_batch(2, last_name="Berthier")

    response = client_for(officer).get(reverse("crm:contact_export"), {"q": "berth"})

    assert response.status_code == 200
    entry = AuditEntry.objects.get(action="exported")
    assert (entry.record_type, entry.record_id, entry.by) == ("crm.contact", None, officer)
    assert entry.data == {"rows": 3, "format": "xlsx"}
    assert "berth" in entry.detail
    assert "3 ligne(s)" in entry.detail


def test_an_unfiltered_export_says_so(staff: User) -> None:
    ContactFactory()

    client_for(staff).get(reverse("crm:contact_export"))

    entry = AuditEntry.objects.get(action="exported")
    assert "filtre : aucun" in entry.detail
    assert entry.data["rows"] == 1
