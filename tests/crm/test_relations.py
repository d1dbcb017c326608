"""An organisation's page shows its projects, leads and sites, a contact's page its projects
and leads: each scoped to the person, counted, with a link to create one more, prefilled."""

from __future__ import annotations

import pytest
from django.urls import reverse

from crm.models import Organisation
from tests.factories import (
    ContactFactory,
    LeadFactory,
    OrganisationFactory,
    ProjectFactory,
    SiteFactory,
)
from tests.helpers import client_for, count_queries

pytestmark = pytest.mark.django_db


@pytest.fixture
def investor() -> Organisation:
    return OrganisationFactory(name="Exemple Capital", kind=Organisation.Kind.INVESTOR)


def page(user, record) -> str:
    name = "crm:organisation_detail" if isinstance(record, Organisation) else "crm:contact_detail"
    response = client_for(user).get(reverse(name, args=[record.pk]))
    assert response.status_code == 200
    return response.content.decode()


def section(html: str, key: str) -> str:
    start = html.index(f'aria-labelledby="related-{key}"')
    return html[start : html.index("</section>", start)]


def test_staff_see_projects_leads_and_sites_counted_with_create_links(staff, investor):
    ProjectFactory.create_batch(2, holder=investor, title="Hôtel des mineurs")
    LeadFactory(organisation=investor, title="Hôtel-design")
    SiteFactory(owner_organisation=investor, name="Base 11/19")
    html = page(staff, investor)

    projects = section(html, "projects")
    assert "Projets portés" in projects and '<span class="badge">2</span>' in projects
    assert "Hôtel des mineurs" in projects
    assert f'href="{reverse("projects:project_create")}?holder={investor.pk}"' in projects
    leads = section(html, "leads")
    assert "Hôtel-design" in leads and '<span class="badge">1</span>' in leads
    assert f'href="{reverse("prospects:lead_create")}?organisation={investor.pk}"' in leads
    sites = section(html, "sites")
    assert "Base 11/19" in sites
    assert f"?owner_organisation={investor.pk}" in sites


def test_a_confidential_lead_of_another_officer_is_neither_shown_nor_counted(
    officer, other_officer, investor
):
    LeadFactory(organisation=investor, title="Secrète", confidential=True, owner=other_officer)
    LeadFactory(organisation=investor, title="Ouverte", owner=other_officer)
    leads = section(page(officer, investor), "leads")
    assert "Ouverte" in leads and "Secrète" not in leads
    assert '<span class="badge">1</span>' in leads


def test_a_designer_sees_only_their_projects_and_no_prospecting(designer):
    holder = OrganisationFactory()
    ProjectFactory(holder=holder, title="Le mien", designers=[designer])
    ProjectFactory(holder=holder, title="Pas le mien")
    LeadFactory(organisation=holder)
    html = page(designer, holder)
    projects = section(html, "projects")
    assert "Le mien" in projects and "Pas le mien" not in projects
    assert 'related-leads"' not in html and 'related-sites"' not in html
    assert "Nouvelle demande" not in html  # designers do not create projects


def test_empty_sections_say_what_to_do(staff, investor):
    html = page(staff, investor)
    assert "Cette organisation ne porte aucun projet de design" in section(html, "projects")
    assert "Une piste se crée depuis ici" in section(html, "leads")


def test_contact_page_shows_its_projects_and_leads(staff, investor):
    contact = ContactFactory(organisation=investor)
    ProjectFactory(holder=investor, holder_contact=contact, title="Suivi par elle")
    ProjectFactory(holder=investor, title="Sans elle")
    lead = LeadFactory(organisation=investor, title="Avec elle")
    lead.contacts.add(contact)
    html = page(staff, contact)
    projects = section(html, "projects")
    assert "Suivi par elle" in projects and "Sans elle" not in projects
    assert f"?holder_contact={contact.pk}" in projects
    leads = section(html, "leads")
    assert "Avec elle" in leads and f"?contact={contact.pk}" in leads


def test_prefilled_lead_from_a_contact_selects_it_and_its_organisation(staff, investor):
    contact = ContactFactory(organisation=investor)
    url = reverse("prospects:lead_create") + f"?contact={contact.pk}"
    html = client_for(staff).get(url).content.decode()
    assert f'<option value="{investor.pk}" selected>' in html
    assert f'<option value="{contact.pk}" selected>' in html


def test_prefilled_project_from_a_contact_selects_its_organisation(staff, investor):
    contact = ContactFactory(organisation=investor)
    url = reverse("projects:project_create") + f"?holder_contact={contact.pk}"
    html = client_for(staff).get(url).content.decode()
    assert f'<option value="{investor.pk}" selected>' in html
    assert f'<option value="{contact.pk}" selected>' in html


@pytest.mark.parametrize("value", ["abc", "-1", "99999999999999999999999", "0"])
def test_prefill_ignores_what_is_not_an_id(staff, value):
    for name, param in [
        ("projects:project_create", "holder"),
        ("projects:project_create", "holder_contact"),
        ("prospects:lead_create", "contact"),
        ("prospects:site_create", "owner_organisation"),
    ]:
        assert client_for(staff).get(reverse(name) + f"?{param}={value}").status_code == 200


def test_prefill_of_a_contact_the_designer_may_not_see_selects_nothing(designer):
    hidden = ContactFactory()
    ProjectFactory(designers=[designer])
    url = reverse("projects:project_create") + f"?holder_contact={hidden.pk}"
    # Designers may not create projects at all: the page does not exist for them.
    assert client_for(designer).get(url).status_code == 404


def test_organisation_page_query_count_is_bounded(staff, investor):
    url = reverse("crm:organisation_detail", args=[investor.pk])
    ProjectFactory.create_batch(3, holder=investor)
    LeadFactory.create_batch(3, organisation=investor)
    few = count_queries(client_for(staff), url)
    ProjectFactory.create_batch(30, holder=investor)
    LeadFactory.create_batch(30, organisation=investor)
    SiteFactory.create_batch(12, owner_organisation=investor)
    many = count_queries(client_for(staff), url)
    # One query per section, and one count for each section with more rows than it shows.
    assert few == 13
    assert many == few + 3


def test_contact_page_query_count_is_bounded(staff, investor):
    contact = ContactFactory(organisation=investor)
    url = reverse("crm:contact_detail", args=[contact.pk])
    few = count_queries(client_for(staff), url)
    for lead in LeadFactory.create_batch(15, organisation=investor):
        lead.contacts.add(contact)
    ProjectFactory.create_batch(15, holder=investor, holder_contact=contact)
    many = count_queries(client_for(staff), url)
    assert few == 11
    assert many == few + 2
