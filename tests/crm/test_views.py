"""CRM pages as each role sees them: access, what is shown, what is saved, query counts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm.models import Contact, Interaction, Organisation, User
from tests.factories import (
    ContactFactory,
    InteractionFactory,
    OrganisationFactory,
    TerritoryFactory,
    siret_with_key,
)
from tests.helpers import client_for, count_queries

pytestmark = pytest.mark.django_db


@pytest.fixture
def organisation() -> Organisation:
    return OrganisationFactory(name="Office de tourisme de Lens-Liévin")


@pytest.fixture
def contact(organisation: Organisation) -> Contact:
    return ContactFactory(organisation=organisation, first_name="Jeanne", last_name="Exemple")


# Access matrix ---------------------------------------------------------------------------

PAGES = [
    ("crm:dashboard", None),
    ("crm:organisation_list", None),
    ("crm:organisation_export", None),
    ("crm:organisation_create", None),
    ("crm:organisation_detail", "organisation"),
    ("crm:organisation_edit", "organisation"),
    ("crm:organisation_log_interaction", "organisation"),
    ("crm:contact_list", None),
    ("crm:contact_export", None),
    ("crm:contact_create", None),
    ("crm:contact_detail", "contact"),
    ("crm:contact_edit", "contact"),
    ("crm:contact_log_interaction", "contact"),
]

# Designers see the holders of their own projects only (none exist before the projects app),
# holders see nothing of the CRM; both get 404 on records, never a hint they exist.
ALLOWED = {
    "staff": {name for name, _ in PAGES},
    "officer": {name for name, _ in PAGES},
    "designer": {
        "crm:dashboard",
        "crm:organisation_list",
        "crm:organisation_export",
        "crm:contact_list",
        "crm:contact_export",
    },
    "holder": {"crm:dashboard"},
}


@pytest.mark.parametrize("role", ["staff", "officer", "designer", "holder"])
@pytest.mark.parametrize(("url_name", "target"), PAGES)
def test_role_access_matrix(
    role: str,
    url_name: str,
    target: str | None,
    personas: dict[str, User],
    organisation: Organisation,
    contact: Contact,
) -> None:
    objects = {"organisation": organisation, "contact": contact}
    url = reverse(url_name, args=[objects[target].pk] if target else [])

    response = client_for(personas[role]).get(url)

    assert response.status_code == (200 if url_name in ALLOWED[role] else 404)


@pytest.mark.parametrize(("url_name", "target"), PAGES)
def test_anonymous_is_sent_to_login(
    url_name: str, target: str | None, organisation: Organisation, contact: Contact
) -> None:
    objects = {"organisation": organisation, "contact": contact}
    url = reverse(url_name, args=[objects[target].pk] if target else [])

    response = Client().get(url)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_designer_list_shows_no_organisation(designer: User, organisation: Organisation) -> None:
    response = client_for(designer).get(reverse("crm:organisation_list"))

    assert organisation.name not in response.content.decode()


def test_unknown_ids_answer_404(staff: User) -> None:
    client = client_for(staff)
    assert client.get(reverse("crm:organisation_detail", args=[999_999])).status_code == 404
    assert client.get("/organisations/abc/").status_code == 404


# Lists -----------------------------------------------------------------------------------


def test_organisation_list_search_and_filters(staff: User) -> None:
    arras = TerritoryFactory(name="Arras", slug="arras")
    OrganisationFactory(name="Gîtes de la Cité des Électriciens", territory=arras)
    OrganisationFactory(name="Parc d'Olhain", kind=Organisation.Kind.LOCAL_AUTHORITY)
    client = client_for(staff)

    by_text = client.get(reverse("crm:organisation_list"), {"q": "électriciens"})
    by_territory = client.get(reverse("crm:organisation_list"), {"territory": arras.pk})
    by_kind = client.get(reverse("crm:organisation_list"), {"kind": "local_authority"})

    assert "Cité des Électriciens" in by_text.content.decode()
    assert "Olhain" not in by_text.content.decode()
    assert [o.name for o in by_territory.context["object_list"]] == [
        "Gîtes de la Cité des Électriciens"
    ]
    assert [o.name for o in by_kind.context["object_list"]] == ["Parc d'Olhain"]


def test_organisation_list_filters_on_siret_presence(staff: User) -> None:
    OrganisationFactory(name="Avec SIRET")
    OrganisationFactory(name="Sans SIRET", siret="")
    client = client_for(staff)

    with_siret = client.get(reverse("crm:organisation_list"), {"has_siret": "yes"})
    without = client.get(reverse("crm:organisation_list"), {"has_siret": "no"})

    assert [o.name for o in with_siret.context["object_list"]] == ["Avec SIRET"]
    assert [o.name for o in without.context["object_list"]] == ["Sans SIRET"]


@pytest.mark.parametrize(
    "params",
    [
        {"page": "abc"},
        {"page": "-1"},
        {"page": "999999"},
        {"territory": "not-a-number"},
        {"territory": "999999"},
        {"kind": "spaceship"},
        {"ordering": "password"},
        {"q": "x" * 5000},
    ],
)
def test_organisation_list_survives_bad_query_strings(
    staff: User, organisation: Organisation, params: dict[str, str]
) -> None:
    response = client_for(staff).get(reverse("crm:organisation_list"), params)

    assert response.status_code == 200


def test_organisation_list_survives_non_utf8_query_string(staff: User) -> None:
    response = client_for(staff).get(reverse("crm:organisation_list") + "?q=%00%ED%A0%80%FF")

    assert response.status_code == 200


def test_invalid_filter_is_reported(staff: User) -> None:
    response = client_for(staff).get(reverse("crm:organisation_list"), {"kind": "spaceship"})

    assert "ont été ignorés" in response.content.decode()


def test_organisation_list_sorts_and_paginates(staff: User, settings) -> None:
    settings.PAGE_SIZE = 2
    for name in ["Charlie", "Alpha", "Bravo"]:
        OrganisationFactory(name=name)
    client = client_for(staff)

    first = client.get(reverse("crm:organisation_list"), {"ordering": "-name"})
    second = client.get(reverse("crm:organisation_list"), {"ordering": "-name", "page": 2})  # type: ignore[arg-type]  # Django sends the page number as text

    assert [o.name for o in first.context["object_list"]] == ["Charlie", "Bravo"]
    assert [o.name for o in second.context["object_list"]] == ["Alpha"]
    assert "ordering=-name&amp;page=2" in first.content.decode()


def test_a_long_filtered_list_says_more_than_the_limit(staff: User, settings) -> None:
    settings.PAGE_SIZE = 2
    settings.LIST_COUNT_LIMIT = 3
    for name in ["Gîte Alpha", "Gîte Bravo", "Gîte Charlie", "Gîte Delta", "Gîte Echo"]:
        OrganisationFactory(name=name)
    client = client_for(staff)

    first = client.get(reverse("crm:organisation_list"), {"q": "gite"})
    last = client.get(reverse("crm:organisation_list"), {"q": "gite", "page": "3"})

    html = first.content.decode()
    assert "1–2 sur plus de 3 résultats" in html
    assert 'aria-current="page">Page 1</span>' in html
    assert "q=gite&amp;page=2" in html
    assert [o.name for o in last.context["object_list"]] == ["Gîte Echo"]
    assert 'rel="next"' not in last.content.decode()
    assert "5–5 sur plus de 3 résultats" in last.content.decode()


def test_htmx_filter_returns_only_the_results(staff: User, organisation: Organisation) -> None:
    response = client_for(staff).get(
        reverse("crm:organisation_list"), {"q": "Lens"}, headers={"HX-Request": "true"}
    )
    html = response.content.decode()

    assert html.lstrip().startswith('<section id="results"')
    assert "<header" not in html
    assert organisation.name in html


def test_contact_list_filters_by_silence(staff: User) -> None:
    recent = ContactFactory(last_name="Récent")
    Contact.objects.filter(pk=recent.pk).update(last_interaction_at=timezone.now())
    ContactFactory(last_name="Silencieux")
    cutoff = (timezone.now() - timedelta(days=30)).date().isoformat()

    response = client_for(staff).get(reverse("crm:contact_list"), {"no_interaction_since": cutoff})

    assert [c.last_name for c in response.context["object_list"]] == ["Silencieux"]


# Query counts: fixed whatever the number of rows ----------------------------------------


@pytest.mark.parametrize(
    ("url_name", "expected"), [("crm:organisation_list", 10), ("crm:contact_list", 9)]
)
def test_list_query_count_is_fixed(staff: User, url_name: str, expected: int) -> None:
    client = client_for(staff)
    ContactFactory.create_batch(3)
    with_3 = count_queries(client, reverse(url_name))
    ContactFactory.create_batch(57)
    with_60 = count_queries(client, reverse(url_name))

    assert with_3 == with_60 == expected


def test_organisation_detail_query_count_is_fixed(staff: User, organisation: Organisation) -> None:
    client = client_for(staff)
    url = reverse("crm:organisation_detail", args=[organisation.pk])
    contacts = ContactFactory.create_batch(3, organisation=organisation)
    for contact in contacts:
        InteractionFactory(organisation=organisation, contact=contact, author=staff)
    with_3 = count_queries(client, url)
    more = ContactFactory.create_batch(57, organisation=organisation)
    for contact in more:
        InteractionFactory(organisation=organisation, contact=contact, author=staff)
    with_60 = count_queries(client, url)

    assert with_3 == with_60 == 13  # + the audit trail (staff), + projects, leads, sites


def test_contact_detail_query_count_is_fixed(staff: User, contact: Contact) -> None:
    client = client_for(staff)
    url = reverse("crm:contact_detail", args=[contact.pk])
    InteractionFactory.create_batch(3, organisation=contact.organisation, contact=contact)
    with_3 = count_queries(client, url)
    InteractionFactory.create_batch(57, organisation=contact.organisation, contact=contact)
    with_60 = count_queries(client, url)

    assert with_3 == with_60 == 11  # + the audit trail (staff), + projects, leads


def test_record_pages_read_their_choices_in_one_plain_query(staff: User, contact: Contact) -> None:
    """The interaction form's contacts: no server-side cursor (DECLARE, FETCH, FETCH, CLOSE:
    four round trips on PostgreSQL for a few rows) on any record page."""
    from tests.factories import LeadFactory, ProjectFactory

    lead = LeadFactory(organisation=contact.organisation, owner=staff)
    project = ProjectFactory(holder=contact.organisation)
    client = client_for(staff)
    for url in [
        reverse("crm:organisation_detail", args=[contact.organisation.pk]),
        reverse("crm:contact_detail", args=[contact.pk]),
        lead.get_absolute_url(),
        reverse("projects:project_detail", args=[project.pk]),
    ]:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200
        assert contact.full_name in response.content.decode()
        assert not [q["sql"] for q in queries if q["sql"].startswith("DECLARE")], url


def test_dashboard_query_count_is_fixed(staff: User) -> None:
    client = client_for(staff)
    InteractionFactory.create_batch(3, author=staff)
    with_3 = count_queries(client, reverse("crm:dashboard"))
    InteractionFactory.create_batch(57)
    cache.clear()  # measure the figures computed, not read from the cache
    with_60 = count_queries(client, reverse("crm:dashboard"))

    # Nine for the figures (one the projects' data stamp), nine for the work queue ("À
    # faire": one of them the imports started and not applied), five for the session.
    assert with_3 == with_60 == 23


# Timeline ----------------------------------------------------------------------------------


def test_timeline_is_newest_first_and_paginated(staff: User, organisation: Organisation) -> None:
    now = timezone.now()
    for days in range(35):
        InteractionFactory(
            organisation=organisation,
            summary=f"Échange J-{days}",
            occurred_at=now - timedelta(days=days),
        )
    client = client_for(staff)
    url = reverse("crm:organisation_detail", args=[organisation.pk])

    first = client.get(url).content.decode()
    older = client.get(url, {"timeline_page": 2}, headers={"HX-Request": "true"}).content.decode()

    assert first.index("Échange J-0<") < first.index("Échange J-1<")
    assert "Échange J-34" not in first
    assert "Afficher les plus anciennes" in first
    assert "Échange J-34" in older
    assert "Échange J-0<" not in older


# Create and edit ---------------------------------------------------------------------------


def organisation_data(**overrides: str) -> dict[str, str]:
    return {
        "name": "Les Chevrettes du Terril",
        "kind": "business",
        "sector": "private",
        "siret": "",
        "territory": "",
        "address": "",
        "postcode": "62750",
        "city": "Loos-en-Gohelle",
        "website": "",
        "email": "",
        "phone": "",
        "notes": "",
        **overrides,
    }


def test_staff_creates_an_organisation(staff: User) -> None:
    siret = siret_with_key("7321")
    spaced = f"{siret[:3]} {siret[3:6]} {siret[6:9]} {siret[9:]}"

    response = client_for(staff).post(
        reverse("crm:organisation_create"), organisation_data(siret=spaced)
    )

    organisation = Organisation.objects.get(name="Les Chevrettes du Terril")
    assert response.status_code == 302
    assert response["Location"] == organisation.get_absolute_url()
    assert organisation.siret == siret
    assert organisation.created_by == staff


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"siret": "12345678901234"}, "clé de contrôle"),
        ({"siret": "1234"}, "14 chiffres"),
        ({"name": ""}, "Ce champ est obligatoire"),
        ({"email": "pas-un-email"}, "adresse de courriel valide"),
        ({"territory": "999999"}, "Sélectionnez un choix valide"),
        ({"kind": "spaceship"}, "Sélectionnez un choix valide"),
        ({"website": "javascript:alert(1)"}, "URL valide"),
        ({"name": "x" * 500}, "au plus 200 caractères"),
        ({"notes": "mot " * 5000}, "au plus 10000 caractères"),
        ({"name": "Nul\x00Part"}, "caractère nul"),
    ],
)
def test_bad_organisation_input_is_explained_and_nothing_saved(
    staff: User, overrides: dict[str, str], message: str
) -> None:
    response = client_for(staff).post(
        reverse("crm:organisation_create"), organisation_data(**overrides)
    )

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Organisation.objects.exists()


def test_non_utf8_form_data_is_explained_not_a_crash(staff: User) -> None:
    body = b"name=Caf%E9+du+Terril&kind=business&sector=private&siret=%FF%FE"

    response = client_for(staff).post(
        reverse("crm:organisation_create"),
        body,
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 400
    assert "mal encodé (pas en UTF-8) : rien n&#x27;a été enregistré" in response.content.decode()
    assert not Organisation.objects.exists()


def test_duplicate_siret_is_refused(staff: User) -> None:
    existing = OrganisationFactory()

    response = client_for(staff).post(
        reverse("crm:organisation_create"), organisation_data(siret=existing.siret)
    )

    assert "existe déjà" in response.content.decode()
    assert Organisation.objects.count() == 1


def test_officer_edits_an_organisation(officer: User, organisation: Organisation) -> None:
    response = client_for(officer).post(
        reverse("crm:organisation_edit", args=[organisation.pk]),
        organisation_data(name="Office de tourisme Lens-Liévin", siret=organisation.siret),
    )

    organisation.refresh_from_db()
    assert response.status_code == 302
    assert organisation.name == "Office de tourisme Lens-Liévin"


def test_designer_cannot_post_to_create(designer: User) -> None:
    response = client_for(designer).post(reverse("crm:organisation_create"), organisation_data())

    assert response.status_code == 404
    assert not Organisation.objects.exists()


def contact_data(organisation: Organisation, **overrides: str) -> dict[str, str]:
    return {
        "organisation": str(organisation.pk),
        "first_name": "Camille",
        "last_name": "Exemple",
        "role": "Directrice",
        "email": "camille@example.org",
        "phone": "",
        "legal_basis": "legitimate_interest",
        "consent_given_at": "",
        "notes": "",
        **overrides,
    }


def test_staff_creates_a_contact(staff: User, organisation: Organisation) -> None:
    response = client_for(staff).post(reverse("crm:contact_create"), contact_data(organisation))

    contact = Contact.objects.get()
    assert response.status_code == 302
    assert contact.organisation == organisation
    assert contact.created_by == staff


def test_contact_form_is_prefilled_from_the_organisation(
    staff: User, organisation: Organisation
) -> None:
    response = client_for(staff).get(
        reverse("crm:contact_create"), {"organisation": organisation.pk}
    )

    assert response.context["form"]["organisation"].value() == str(organisation.pk)


def test_consent_needs_a_date(staff: User, organisation: Organisation) -> None:
    response = client_for(staff).post(
        reverse("crm:contact_create"), contact_data(organisation, legal_basis="consent")
    )

    assert "date du consentement" in response.content.decode()
    assert not Contact.objects.exists()


def test_contact_cannot_be_attached_to_an_unknown_organisation(staff: User) -> None:
    response = client_for(staff).post(
        reverse("crm:contact_create"),
        {**contact_data(OrganisationFactory.build(pk=424242)), "organisation": "424242"},
    )

    assert "Sélectionnez un choix valide" in response.content.decode()
    assert not Contact.objects.exists()


# Interactions ------------------------------------------------------------------------------


def test_logging_an_interaction_updates_the_contact(staff: User, contact: Contact) -> None:
    when = timezone.now().replace(microsecond=0) - timedelta(days=2)

    response = client_for(staff).post(
        reverse("crm:contact_log_interaction", args=[contact.pk]),
        {
            "kind": "meeting",
            "occurred_at": timezone.localtime(when).strftime("%Y-%m-%dT%H:%M"),
            "contact": contact.pk,
            "summary": "Visite des gîtes, besoin précis à formaliser.",
        },
    )

    interaction = Interaction.objects.get()
    contact.refresh_from_db()
    assert response.status_code == 302
    assert interaction.author == staff
    assert interaction.organisation == contact.organisation
    assert contact.last_interaction_at == interaction.occurred_at
    page = client_for(staff).get(contact.get_absolute_url()).content.decode()
    assert "Visite des gîtes" in page


def test_an_older_interaction_does_not_move_the_date_back(staff: User, contact: Contact) -> None:
    recent = timezone.now() - timedelta(days=1)
    Contact.objects.filter(pk=contact.pk).update(last_interaction_at=recent)

    client_for(staff).post(
        reverse("crm:organisation_log_interaction", args=[contact.organisation.pk]),
        {"kind": "call", "occurred_at": "2024-01-15T10:00", "contact": contact.pk, "summary": "x"},
    )

    contact.refresh_from_db()
    assert Interaction.objects.count() == 1
    assert contact.last_interaction_at == recent


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"occurred_at": "2999-01-01T10:00"}, "dans le futur"),
        ({"occurred_at": "demain"}, "date et une heure valides"),
        ({"summary": ""}, "Ce champ est obligatoire"),
        ({"kind": "telepathy"}, "Sélectionnez un choix valide"),
    ],
)
def test_bad_interaction_input(
    staff: User, contact: Contact, overrides: dict[str, str], message: str
) -> None:
    data = {"kind": "call", "occurred_at": "2024-01-15T10:00", "summary": "Appel", **overrides}

    response = client_for(staff).post(
        reverse("crm:organisation_log_interaction", args=[contact.organisation.pk]), data
    )

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Interaction.objects.exists()


def test_interaction_refuses_a_contact_of_another_organisation(
    staff: User, organisation: Organisation
) -> None:
    stranger = ContactFactory()

    response = client_for(staff).post(
        reverse("crm:organisation_log_interaction", args=[organisation.pk]),
        {"kind": "call", "occurred_at": "2024-01-15T10:00", "contact": stranger.pk, "summary": "x"},
    )

    assert "Sélectionnez un choix valide" in response.content.decode()
    assert not Interaction.objects.exists()


def test_designer_cannot_log_on_an_organisation_they_cannot_see(
    designer: User, organisation: Organisation
) -> None:
    response = client_for(designer).post(
        reverse("crm:organisation_log_interaction", args=[organisation.pk]),
        {"kind": "call", "occurred_at": "2024-01-15T10:00", "summary": "x"},
    )

    assert response.status_code == 404
    assert not Interaction.objects.exists()


# Language ----------------------------------------------------------------------------------


def test_french_by_default_and_english_on_request(staff: User) -> None:
    client = client_for(staff)

    french = client.get(reverse("crm:organisation_list"))
    client.post(reverse("set_language"), {"language": "en", "next": "/organisations/"})
    english = client.get(reverse("crm:organisation_list"))

    assert french["Content-Language"] == "fr"
    assert "Nouvelle organisation" in french.content.decode()
    assert english["Content-Language"] == "en"
    assert "New organisation" in english.content.decode()
    assert '<html lang="en">' in english.content.decode()


def test_an_english_browser_still_gets_french_until_switching(staff: User) -> None:
    client = client_for(staff)

    response = client.get(reverse("crm:dashboard"), headers={"Accept-Language": "en-GB,en"})

    assert response["Content-Language"] == "fr"


def test_a_forged_language_cookie_falls_back_to_french(staff: User) -> None:
    client = client_for(staff)
    client.cookies["django_language"] = "xx-evil"

    response = client.get(reverse("crm:dashboard"))

    assert response.status_code == 200
    assert response["Content-Language"] == "fr"


def test_login_page_is_public_and_in_french() -> None:
    response = Client().get(reverse("login"))

    assert response.status_code == 200
    assert "Connexion" in response.content.decode()


def test_login_with_bad_password_explains(staff: User) -> None:
    response = Client().post(reverse("login"), {"username": "staff", "password": "wrong"})

    assert response.status_code == 200
    assert "Saisissez un nom d’utilisateur et un mot de passe valides" in response.content.decode()


# Excel exports -----------------------------------------------------------------------------


def open_export(response) -> tuple[list[tuple], Any]:
    import io

    import openpyxl

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    assert "attachment" in response["Content-Disposition"]
    workbook = openpyxl.load_workbook(io.BytesIO(response.getvalue()))
    sheet = workbook.active
    return [tuple(cell.value for cell in row) for row in sheet.iter_rows()], sheet


def test_organisation_export_holds_exactly_the_filtered_rows(staff: User) -> None:
    arras = TerritoryFactory(name="Arras", slug="arras")
    kept = OrganisationFactory(name="Les Béthunoises", territory=arras)
    ContactFactory.create_batch(2, organisation=kept)
    OrganisationFactory(name="Hors filtre")

    rows, sheet = open_export(
        client_for(staff).get(reverse("crm:organisation_export"), {"territory": arras.pk})
    )

    assert rows[0][:3] == ("Nom", "Type", "Statut")
    assert [row[0] for row in rows[1:]] == ["Les Béthunoises"]
    assert rows[1][7] == "Arras"
    assert rows[1][11] == 2
    assert sheet.freeze_panes == "A2"


def test_export_neutralises_formulas(staff: User) -> None:
    OrganisationFactory(name='=HYPERLINK("http://x","y")')

    rows, sheet = open_export(client_for(staff).get(reverse("crm:organisation_export")))

    assert rows[1][0] == '=HYPERLINK("http://x","y")'
    assert sheet["A2"].data_type == "s"


def test_contact_export_is_scoped_and_typed(staff: User, designer: User) -> None:
    contact = ContactFactory(last_name="Exemple")
    when = timezone.now() - timedelta(days=3)
    Contact.objects.filter(pk=contact.pk).update(last_interaction_at=when)

    staff_rows, _ = open_export(client_for(staff).get(reverse("crm:contact_export")))
    designer_rows, _ = open_export(client_for(designer).get(reverse("crm:contact_export")))

    assert staff_rows[1][0] == "Exemple"
    assert staff_rows[1][9].date() == timezone.localtime(when).date()
    assert len(designer_rows) == 1  # the header only


def test_export_in_english_has_english_headers(staff: User) -> None:
    client = client_for(staff)
    client.post(reverse("set_language"), {"language": "en"})

    rows, _ = open_export(client.get(reverse("crm:organisation_export")))

    assert rows[0][:2] == ("Name", "Type")


# Logo upload and private serving -----------------------------------------------------------


def image_upload(name: str = "logo.jpg", *, gps: bool = False):
    import io

    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    buffer = io.BytesIO()
    exif = Image.Exif()
    if gps:
        exif[0x8825] = {2: (50.0, 25.0, 0.0), 4: (2.0, 49.0, 0.0)}
    Image.new("RGB", (60, 40), "black").save(buffer, "JPEG", exif=exif.tobytes())
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/jpeg")


@pytest.mark.storage
def test_logo_is_stored_cleaned_and_served_only_to_who_may_see(staff: User, designer: User) -> None:
    from PIL import Image

    client_for(staff).post(
        reverse("crm:organisation_create"),
        {**organisation_data(), "new_logo": image_upload("../../etc/passwd.jpg", gps=True)},
    )
    organisation = Organisation.objects.get()
    url = reverse("crm:organisation_logo", args=[organisation.pk])

    served = client_for(staff).get(url)
    outsider = client_for(designer).get(url)

    assert organisation.logo.name.startswith("organisations/logos/")
    assert "passwd" not in organisation.logo.name
    assert served.status_code == 200
    assert served["Content-Type"] == "image/jpeg"
    assert served["X-Content-Type-Options"] == "nosniff"
    import io

    stored = Image.open(io.BytesIO(served.getvalue()))
    assert 0x8825 not in stored.getexif()
    assert outsider.status_code == 404


def test_html_disguised_as_png_is_refused(staff: User) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    fake = SimpleUploadedFile("logo.png", b"<html><script>alert(1)</script></html>", "image/png")

    response = client_for(staff).post(
        reverse("crm:organisation_create"), {**organisation_data(), "new_logo": fake}
    )

    assert response.status_code == 200
    assert "Types acceptés : image JPEG, image PNG, image WebP" in response.content.decode()
    assert not Organisation.objects.exists()


@pytest.mark.storage
def test_replacing_and_removing_the_logo(staff: User) -> None:
    client = client_for(staff)
    client.post(
        reverse("crm:organisation_create"), {**organisation_data(), "new_logo": image_upload()}
    )
    organisation = Organisation.objects.get()
    first = organisation.logo.name
    edit = reverse("crm:organisation_edit", args=[organisation.pk])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("django.db.transaction.on_commit", lambda fn, **kw: fn())
        client.post(edit, {**organisation_data(), "new_logo": image_upload()})
        organisation.refresh_from_db()
        second = organisation.logo.name
        client.post(edit, {**organisation_data(), "remove_logo": "on"})
    organisation.refresh_from_db()

    assert second != first
    assert not organisation.logo.storage.exists(first)
    assert not organisation.logo
    assert client.get(reverse("crm:organisation_logo", args=[organisation.pk])).status_code == 404


def test_organisation_without_logo_has_no_logo_url(staff: User, organisation: Organisation) -> None:
    response = client_for(staff).get(reverse("crm:organisation_logo", args=[organisation.pk]))

    assert response.status_code == 404


def test_contact_sort_by_name_uses_first_name_as_second_key(staff: User) -> None:
    for first, last in [("Zoé", "Martin"), ("Adèle", "Martin"), ("Bruno", "Caron")]:
        ContactFactory(first_name=first, last_name=last)
    client = client_for(staff)

    ascending = client.get(reverse("crm:contact_list"), {"ordering": "name"})
    descending = client.get(reverse("crm:contact_list"), {"ordering": "-name"})

    assert [c.full_name for c in ascending.context["object_list"]] == [
        "Bruno Caron",
        "Adèle Martin",
        "Zoé Martin",
    ]
    assert [c.full_name for c in descending.context["object_list"]] == [
        "Zoé Martin",
        "Adèle Martin",
        "Bruno Caron",
    ]


def test_designer_reads_the_holders_of_their_projects_only(designer: User) -> None:
    from tests.factories import ProjectFactory

    theirs = ProjectFactory(designers=[designer]).holder
    contact = ContactFactory(organisation=theirs)
    other = ProjectFactory().holder
    client = client_for(designer)

    listing = client.get(reverse("crm:organisation_list"))

    assert [o.name for o in listing.context["object_list"]] == [theirs.name]
    assert client.get(theirs.get_absolute_url()).status_code == 200
    assert client.get(contact.get_absolute_url()).status_code == 200
    assert client.get(other.get_absolute_url()).status_code == 404
    assert client.get(reverse("crm:organisation_edit", args=[theirs.pk])).status_code == 404


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="trigram indexes exist on PostgreSQL only"
)
def test_searches_have_trigram_indexes_on_postgresql() -> None:
    """`search_text LIKE '%word%'` needs a trigram index, or PostgreSQL reads every row."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE indexdef LIKE %s", ["%gin_trgm_ops%"]
        )
        names = {row[0] for row in cursor.fetchall()}

    assert names >= {
        "crm_organisation_search_trgm",
        "crm_contact_search_trgm",
        "projects_project_search_trgm",
        "prospects_lead_search_trgm",
        "prospects_site_search_trgm",
    }
