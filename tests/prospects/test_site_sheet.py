"""The site sheet is what an investor needs on one page: photo, location and a locator drawn
from stored coordinates, surface, availability, owner, access and distances, the officer to
contact; in French or entirely in English."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from PIL import Image
from pypdf import PdfReader

from crm.models import Role, User
from crm.pdf import render_pdf_document
from prospects.models import Site, SitePhoto, Town, distance_km
from prospects.pdf import locator, site_sheet_html
from tests.factories import SiteFactory, UserFactory
from tests.helpers import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def sheets_at_once(settings) -> None:
    """These tests read the sheet's content: with its three photos it is answered in the
    request, not by the worker (tests/projects/test_pdf_jobs.py covers the job)."""
    settings.SHEET_SYNC_MAX_IMAGES = 3


def pdf_text(data: bytes) -> str:
    """The PDF's words, whatever the line breaks."""
    text = " ".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)
    return " ".join(text.split())


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (1200, 800), "#556b2f").save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.fixture
def site(officer: User) -> Site:
    contact = UserFactory(
        username="ines", first_name="Inès", last_name="Fictive", role=Role.OFFICER
    )
    site = SiteFactory(
        name="Base 11/19",
        commune="Loos-en-Gohelle",
        surface_m2=42000,
        owner="Communauté d'agglomération",
        owner_kind=Site.OwnerKind.LOCAL_AUTHORITY,
        availability=Site.Availability.UNDER_STUDY,
        latitude=Decimal("50.44580"),
        longitude=Decimal("2.79250"),
        road_access="A21, sortie 6, à 2 km",
        rail_access="Gare de Lens à 5 km",
        contact_officer=contact,
        description="Ancien carreau de fosse. " * 400,
        description_en="Former pithead yard. " * 400,
    )
    for number in range(4):
        photo = SitePhoto(site=site, content_type="image/jpeg", width=1200, height=800)
        photo.uploaded_by = officer
        photo.image.save(f"photo{number}.jpg", ContentFile(jpeg()), save=False)
        photo.thumbnail.save(f"thumb{number}.jpg", ContentFile(jpeg()), save=False)
        photo.save()
    return site


def test_the_main_towns_come_with_the_database() -> None:
    towns = {town.name: town for town in Town.objects.all()}

    assert {"Lens", "Liévin", "Béthune", "Arras", "Douai", "Lille", "Paris"} <= towns.keys()
    assert sorted(name for name, town in towns.items() if town.distance_reference) == [
        "Lens",
        "Lille",
        "Paris",
    ]
    assert not towns["Paris"].on_locator  # far off the destination's map


def test_distances_are_computed_from_coordinates(site) -> None:
    towns = list(Town.objects.all())

    assert {town.name: km for town, km in site.distances(towns)} == {
        "Lens": 3,
        "Lille": 28,
        "Paris": 180,
    }
    # Lens to Paris, town hall to town hall: about 178 km as the crow flies.
    assert round(distance_km(towns[0].point, towns[0].point)) == 0
    site.latitude = site.longitude = None
    assert site.distances(towns) == []


def test_the_locator_places_the_site_among_the_towns_with_labels_apart(site) -> None:
    drawing = locator(site, list(Town.objects.all()))

    assert drawing["width"] == 300 and 100 < drawing["height"] < 300
    names = [town["name"] for town in drawing["towns"]]
    assert "Paris" not in names and "Lens" in names
    points = {town["name"]: (town["x"], town["y"]) for town in drawing["towns"]}
    # North is up, east is right.
    assert points["Lille"][1] < points["Arras"][1]
    assert points["Béthune"][0] < points["Valenciennes"][0]
    site_x, site_y = drawing["site"]["x"], drawing["site"]["y"]
    assert 0 <= site_x <= drawing["width"] and 0 <= site_y <= drawing["height"]
    # Close towns (Lens, Liévin) get their labels on different sides.
    sides = {town["name"]: town["anchor"] for town in drawing["towns"]}
    assert sides["Lens"] != sides["Liévin"] or points["Lens"][1] != points["Liévin"][1]


def test_no_locator_without_coordinates(site) -> None:
    site.latitude = site.longitude = None

    assert locator(site, list(Town.objects.all())) is None


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_sheet_fits_on_one_page_whatever_the_description(site, language: str) -> None:
    document = render_pdf_document(site_sheet_html(site, language=language))

    assert document.page_count == 1
    assert document.data.startswith(b"%PDF")


def test_the_french_sheet_says_what_an_investor_needs(site, officer: User) -> None:
    response = client_for(officer).get(reverse("prospects:site_sheet", args=[site.pk]))

    text = pdf_text(response.content)
    for expected in (
        "Base 11/19",
        "Loos-en-Gohelle",
        "42 000 m²",
        "À l'étude",
        "Collectivité · Communauté d'agglomération",
        "A21, sortie 6, à 2 km",
        "Gare de Lens à 5 km",
        "Lens 3 km · Lille 28 km · Paris 180 km",
        "Votre contact",
        "Inès Fictive",
        "ines@example.org",
    ):
        assert expected.lower() in text.lower(), expected
    html = site_sheet_html(site, language="fr")
    assert "<svg" in html and "Carreau Sans" in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_the_english_sheet_is_english_throughout(site, officer: User) -> None:
    response = client_for(officer).get(
        reverse("prospects:site_sheet", args=[site.pk]), {"language": "en"}
    )

    text = pdf_text(response.content)
    for expected in (
        "Investor site sheet",
        "Former mining site",
        "42,000 m²",
        "Under review",
        "Local authority",
        "In short",
        "Access",
        "Road",
        "Rail",
        "as the crow flies",
        "Your contact",
        "Former pithead yard",
    ):
        assert expected.lower() in text.lower(), expected
    for french in ("Collectivité", "En bref", "Accès", "Votre contact", "à vol d'oiseau"):
        assert french.lower() not in text.lower(), french


def test_the_site_form_takes_coordinates_access_and_contact(officer: User) -> None:
    from tests.factories import TerritoryFactory

    territory = TerritoryFactory()
    data = {
        "name": "Friche du 4",
        "kind": "wasteland",
        "commune": "Liévin",
        "territory": territory.pk,
        "availability": "available",
        "owner_kind": "private",
        "latitude": "50.41900",
        "longitude": "2.76100",
        "road_access": "A21, sortie 7",
        "rail_access": "Gare de Lens à 6 km",
        "contact_officer": officer.pk,
    }
    client = client_for(officer)

    assert client.post(reverse("prospects:site_create"), data).status_code == 302
    site = Site.objects.get(name="Friche du 4")
    assert (site.owner_kind, site.latitude, site.contact_officer) == (
        "private",
        Decimal("50.41900"),
        officer,
    )
    page = client.get(site.get_absolute_url()).content.decode()
    assert "A21, sortie 7" in page and "Propriétaire privé" in page

    half = client.post(
        reverse("prospects:site_create"), {**data, "name": "Moitié", "longitude": ""}
    )
    assert half.status_code == 400
    assert "Indiquez la latitude et la longitude, ou aucune." in half.content.decode()
    wrong = client.post(
        reverse("prospects:site_create"), {**data, "name": "Loin", "latitude": "95"}
    )
    assert wrong.status_code == 400
    assert not Site.objects.filter(name__in=["Moitié", "Loin"]).exists()
