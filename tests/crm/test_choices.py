"""Choice labels and filter options, made cheap for list pages without changing what they show."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from crm.models import Organisation, User
from prospects.models import Lead, Stage
from tests.factories import LeadFactory, OrganisationFactory, TerritoryFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("language", ["fr", "en"])
def test_display_labels_are_djangos_in_the_active_language(language: str) -> None:
    lead = LeadFactory(stage=Stage.NEGOTIATION, sector=Lead.Sector.HOTEL)
    organisation = OrganisationFactory(kind=Organisation.Kind.ASSOCIATION)

    with translation.override(language):
        for record, name in [(lead, "stage"), (lead, "sector"), (organisation, "kind")]:
            field = record._meta.get_field(name)
            expected = str(dict(field.flatchoices)[getattr(record, name)])
            assert getattr(record, f"get_{name}_display")() == expected
    with translation.override("en"):
        assert lead.get_stage_display() == "Negotiation"
    with translation.override("fr"):
        assert lead.get_stage_display() == "Négociation"


def test_a_value_outside_the_choices_is_shown_as_it_is() -> None:
    lead = LeadFactory.build(stage="retired-stage")

    assert lead.get_stage_display() == "retired-stage"


def test_filter_options_come_from_plain_queries(staff: User) -> None:
    """On PostgreSQL, Django would read each select's options through a server-side cursor
    (DECLARE, FETCH, CLOSE); the list reads them with one query each."""
    TerritoryFactory(name="Lens-Liévin")
    client = Client()
    client.force_login(staff)

    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("prospects:lead_list"))

    html = response.content.decode()
    assert response.status_code == 200
    assert '<select name="territory" id="id_territory">' in html
    assert ">Lens-Liévin</option>" in html
    assert not [q["sql"] for q in queries.captured_queries if "CURSOR" in q["sql"]]
