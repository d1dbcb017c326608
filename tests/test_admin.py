"""The Django admin opens every model's list and change pages, transitions included."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from crm.models import User
from projects.admin import ProjectAdmin
from tests.factories import ContactFactory, InteractionFactory, ProjectFactory, approved_deliverable

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_with_data(staff: User) -> Client:
    project = ProjectFactory(state="listen")
    ContactFactory(organisation=project.holder)
    InteractionFactory(organisation=project.holder)
    approved_deliverable(project, "trend_board")
    client = Client()
    client.force_login(staff)
    return client


@pytest.mark.parametrize(
    "model", list(admin.site._registry), ids=lambda m: f"{m._meta.app_label}.{m._meta.model_name}"
)
def test_every_admin_page_opens_for_staff(admin_client_with_data: Client, model) -> None:
    opts = model._meta
    changelist = admin_client_with_data.get(
        reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    )
    assert changelist.status_code == 200
    instance = model._default_manager.first()
    if instance is not None:
        change = admin_client_with_data.get(
            reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[instance.pk])
        )
        assert change.status_code == 200


def test_project_admin_offers_the_transitions(admin_client_with_data: Client) -> None:
    from projects.models import Project

    project = Project.objects.get()
    html = admin_client_with_data.get(
        reverse("admin:projects_project_change", args=[project.pk])
    ).content.decode()

    assert "Passer à l&#x27;étape suivante" in html or "advance" in html


def test_admin_transition_buttons_go_through_the_logged_action(staff: User) -> None:
    from django.contrib.messages.storage.fallback import FallbackStorage
    from django.test import RequestFactory

    from projects.models import Project, ProjectTransition

    project = ProjectFactory(state="listen")
    request = RequestFactory().post("/admin/")
    request.user = staff
    request.session = {}  # type: ignore[assignment]  # a request as the session middleware leaves it
    request._messages = FallbackStorage(request)  # type: ignore[attr-defined]  # as the messages middleware leaves it
    project_admin = admin.site._registry[Project]
    assert isinstance(project_admin, ProjectAdmin)

    moved = project_admin._apply_fsm_transition(
        obj=project, transition_name="advance", request=request
    )
    refused = project_admin._apply_fsm_transition(
        obj=project, transition_name="deliver", request=request
    )

    project.refresh_from_db()
    assert (moved, refused) == (True, False)
    assert project.state == "impulse"
    log = ProjectTransition.objects.get()
    assert (log.source, log.target, log.by) == ("listen", "impulse", staff)


def test_admin_review_buttons_record_the_reviewer(staff: User) -> None:
    from django.contrib.messages.storage.fallback import FallbackStorage
    from django.test import RequestFactory

    from projects.models import DeliverableVersion

    version = approved_deliverable(ProjectFactory(), "trend_board").versions.get()
    DeliverableVersion.objects.filter(pk=version.pk).update(review_state="submitted")
    version.refresh_from_db()
    request = RequestFactory().post("/admin/")
    request.user = staff
    request.session = {}  # type: ignore[assignment]  # a request as the session middleware leaves it
    request._messages = FallbackStorage(request)  # type: ignore[attr-defined]  # as the messages middleware leaves it

    admin.site._registry[DeliverableVersion]._apply_fsm_transition(  # type: ignore[attr-defined]  # the registered DeliverableVersionAdmin
        obj=version, transition_name="approve", request=request
    )

    version.refresh_from_db()
    assert (version.review_state, version.reviewed_by) == ("approved", staff)


# Changes made in the admin are in the audit trail (issue 6: every change, wherever made).


def change_form_data(response, **changes: object) -> dict[str, object]:
    """The POST data of an admin change page as it stands (its form and inlines), with
    `changes` (prefixed names) applied: what a person submitting the page sends."""
    from django.forms import FileField, MultiWidget

    def fields_of(form) -> dict[str, object]:
        data: dict[str, object] = {}
        for name, field in form.fields.items():
            value = form[name].value()
            key = form.add_prefix(name)
            if isinstance(field, FileField):
                continue  # no upload keeps the stored file
            if isinstance(field.widget, MultiWidget):
                for index, part in enumerate(field.widget.decompress(value)):  # type: ignore[arg-type]  # a MultiWidget decompresses to a list
                    data[f"{key}_{index}"] = "" if part is None else part
            elif isinstance(value, bool):
                if value:
                    data[key] = "on"
            elif isinstance(value, list | tuple):
                data[key] = [str(item) for item in value]
            else:
                data[key] = "" if value is None else value
        return data

    data = fields_of(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        data.update(fields_of(formset.management_form))
        for form in formset.forms:
            data.update(fields_of(form))
    data.update(changes)
    return data


def admin_change(client: Client, instance, **changes: object):
    opts = instance._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[instance.pk])
    response = client.post(url, change_form_data(client.get(url), **changes))
    assert response.status_code == 302, response.context["adminform"].form.errors
    return response


def test_an_organisation_and_its_inline_contact_changed_in_the_admin_are_audited(
    staff: User,
) -> None:
    from crm.models import AuditEntry, Contact
    from tests.factories import OrganisationFactory

    organisation = OrganisationFactory(name="Gîtes du Terril", city="Lens")
    contact = ContactFactory(organisation=organisation, role="Gérante")
    client = Client()
    client.force_login(staff)

    admin_change(client, organisation, city="Liévin", **{"contacts-0-role": "Directrice"})

    city = AuditEntry.objects.for_record(organisation).get()
    assert (city.field, city.old_value, city.new_value) == ("city", "Lens", "Liévin")
    assert (city.action, city.by, city.detail) == ("changed", staff, "Administration")
    role = AuditEntry.objects.for_record(Contact.objects.get(pk=contact.pk)).get()
    assert (role.field, role.old_value, role.new_value) == ("role", "Gérante", "Directrice")


def test_a_lead_shared_in_the_admin_is_audited(staff: User, officer: User) -> None:
    from crm.models import AuditEntry
    from tests.factories import LeadFactory

    lead = LeadFactory(owner=officer)
    client = Client()
    client.force_login(staff)

    admin_change(client, lead, shared_with=[str(staff.pk)])

    entry = AuditEntry.objects.for_record(lead).get()
    assert (entry.field, entry.old_value, entry.new_value) == ("shared_with", "", str(staff))


def test_an_unchanged_admin_save_writes_no_entry(staff: User) -> None:
    from crm.models import AuditEntry

    project = ProjectFactory(state="listen")
    client = Client()
    client.force_login(staff)

    admin_change(client, project)

    assert not AuditEntry.objects.exists()


def test_admin_deletions_are_audited_without_the_values(db: None) -> None:
    from crm.models import AuditEntry, Contact
    from tests.factories import OrganisationFactory, UserFactory

    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    organisation = OrganisationFactory()
    contacts = [ContactFactory(organisation=organisation, last_name=f"Secret{n}") for n in range(2)]
    client = Client()
    client.force_login(root)

    client.post(
        reverse("admin:crm_contact_changelist"),
        {"action": "delete_selected", "_selected_action": [contacts[0].pk], "post": "yes"},
    )
    client.post(reverse("admin:crm_contact_delete", args=[contacts[1].pk]), {"post": "yes"})

    assert not Contact.objects.exists()
    entries = AuditEntry.objects.filter(record_type="crm.contact").order_by("record_id")
    assert [(e.record_id, e.action, e.by, e.detail) for e in entries] == [
        (contact.pk, "deleted", root, "Administration") for contact in contacts
    ]
    assert not AuditEntry.objects.filter(old_value__startswith="Secret").exists()
