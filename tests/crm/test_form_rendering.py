"""The site's forms as people read them: sections, required fields marked and the mark
explained, empty choices in words, help under the field, errors at the top and at the field,
contact pickers that follow the organisation chosen."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from crm.models import Organisation
from projects.models import Project
from tests.factories import ContactFactory, OrganisationFactory, TerritoryFactory
from tests.helpers import client_for

pytestmark = pytest.mark.django_db


def test_project_form_has_sections_marks_and_worded_empty_choices(staff):
    html = client_for(staff).get(reverse("projects:project_create")).content.decode()
    for heading in ("Le projet", "Le porteur", "Équipe", "Calendrier et budget"):
        assert f"<legend>{heading}</legend>" in html
    assert html.count("Champ obligatoire") == 1
    assert re.search(r'<label for="id_title" class="required">', html)
    assert "---------" not in html
    assert "Choisir…" in html  # territory, required
    assert "— Aucun —" in html  # holder contact, optional


def test_help_text_comes_after_its_input(staff):
    html = client_for(staff).get(reverse("prospects:lead_create")).content.decode()
    assert html.index('id="id_probability"') < html.index('id="id_probability_helptext"')


def test_errors_are_listed_at_the_top_with_links_and_at_the_field(staff):
    response = client_for(staff).post(reverse("crm:organisation_create"), {"name": ""})
    html = response.content.decode()
    assert response.status_code == 200
    top = html.index('id="form-errors"')
    assert '<a href="#id_name">Nom</a>' in html[top:]
    assert html.index('id="id_name_error"') > top
    assert not Organisation.objects.exists()


def test_lead_owner_defaults_to_the_person_creating_it(officer):
    html = client_for(officer).get(reverse("prospects:lead_create")).content.decode()
    assert re.search(rf'<option value="{officer.pk}" selected>', html)


def test_holder_contacts_follow_the_holder_prefilled(staff):
    holder, other = OrganisationFactory(), OrganisationFactory()
    mine = ContactFactory(organisation=holder, last_name="Dupont")
    ContactFactory(organisation=other, last_name="Étranger")
    url = reverse("projects:project_create") + f"?holder={holder.pk}"
    html = client_for(staff).get(url).content.decode()
    select = html[html.index('id="id_holder_contact"') :]
    select = select[: select.index("</select>")]
    assert mine.full_name in select
    assert "Étranger" not in select
    assert f'hx-get="{reverse("crm:contact_options")}"' in html


def test_a_contact_of_another_holder_is_refused_in_words(staff):
    holder, other = OrganisationFactory(name="Gîte du Terril"), OrganisationFactory()
    stranger = ContactFactory(organisation=other, first_name="Jean", last_name="Ailleurs")
    data = {
        "title": "Gîtes",
        "holder": holder.pk,
        "holder_contact": stranger.pk,
        "territory": TerritoryFactory().pk,
        "need": "Un besoin.",
        "funding_lines-TOTAL_FORMS": "0",
        "funding_lines-INITIAL_FORMS": "0",
    }
    response = client_for(staff).post(reverse("projects:project_create"), data)
    assert response.status_code == 200
    assert "Jean Ailleurs ne fait pas partie de Gîte du Terril" in response.content.decode()
    assert not Project.objects.exists()


def test_contact_options_lists_the_organisation_contacts(staff):
    holder, other = OrganisationFactory(), OrganisationFactory()
    mine = ContactFactory(organisation=holder)
    theirs = ContactFactory(organisation=other)
    url = reverse("crm:contact_options") + f"?from=holder&holder={holder.pk}&multiple=0"
    html = client_for(staff).get(url).content.decode()
    assert f'value="{mine.pk}"' in html
    assert f'value="{theirs.pk}"' not in html
    assert "— Aucun —" in html


def test_contact_options_are_scoped(designer, staff):
    # A designer sees only the holders of their projects: another organisation lists nothing.
    contact = ContactFactory()
    url = reverse("crm:contact_options") + f"?organisation={contact.organisation_id}"
    assert f'value="{contact.pk}"' not in client_for(designer).get(url).content.decode()
    assert f'value="{contact.pk}"' in client_for(staff).get(url).content.decode()


@pytest.mark.parametrize("value", ["abc", "99999999999999999999999", ""])
def test_contact_options_bad_input_lists_nothing(staff, value):
    ContactFactory()
    response = client_for(staff).get(reverse("crm:contact_options") + f"?organisation={value}")
    assert response.status_code == 200
    assert "Choisissez d'abord l'organisation" in response.content.decode()


def test_contact_options_refuse_roles_without_contacts(holder):
    assert client_for(holder).get(reverse("crm:contact_options")).status_code == 404
