"""Erasure reaches every copy (issue 18, RGPD art. 17).

A person's data is planted with unique markers through every path the team uses (the app's
forms, the admin, an applied import and an abandoned one, exports, a lead, a project whose
holder contact they are and its issued specification, exchanges about them, login attempts with
their e-mail as username), then the person is erased; every text column of every table and
every stored file is searched for the markers afterwards. They may remain only in the places
the erasure's report lists as kept, with its reason.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.apps import apps
from django.contrib.sessions.models import Session
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import models
from django.db.models import Q
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from crm import actions, privacy
from crm.models import AuditEntry, Contact, Organisation, Role, User
from projects import actions as project_actions
from prospects import actions as lead_actions
from tests.crm.test_imports import run_import, start, token_of, workbook
from tests.factories import (
    ContactFactory,
    InteractionFactory,
    LeadFactory,
    OrganisationFactory,
    ProjectFactory,
    UserFactory,
)
from tests.helpers import client_for
from tests.test_admin import admin_change

pytestmark = pytest.mark.django_db

FIRST = "Zephyrine"
FORMER_LAST = "Oldmarkson"
LAST = "Quarkwell"
FORMER_EMAIL = "zq.old@marker-test.example"
EMAIL = "zephyrine.quarkwell@marker-test.example"
PHONE = "03 99 88 77 66"
MARKERS = (FIRST, FORMER_LAST, LAST, "marker-test", "99 88 77 66", "99.88.77.66", "9988776")


# Searching everything ------------------------------------------------------------------------


def text_columns() -> Iterator[tuple[type[models.Model], list[models.Field[Any, Any]]]]:
    text = models.CharField | models.TextField | models.JSONField
    for model in apps.get_models():
        fields: list[models.Field[Any, Any]] = [
            f for f in model._meta.concrete_fields if isinstance(f, text)
        ]
        if fields:
            yield model, fields


def rows_with_markers() -> set[tuple[str, object]]:
    """(model, pk) of every row of every table with a marker in a text column; sessions are
    searched decoded."""
    found: set[tuple[str, object]] = set()
    for model, fields in text_columns():
        query = Q()
        for field in fields:
            for marker in MARKERS:
                query |= Q(**{f"{field.name}__icontains": marker})
        for pk in model._base_manager.filter(query).values_list("pk", flat=True):
            found.add((model._meta.label_lower, pk))
    for session in Session.objects.all():
        decoded = json.dumps(session.get_decoded(), ensure_ascii=False).casefold()
        if any(marker.casefold() in decoded for marker in MARKERS):
            found.add(("sessions.session", session.pk))
    return found


def stored_names(folder: str = "") -> Iterator[str]:
    folders, files = default_storage.listdir(folder)
    for name in files:
        yield f"{folder}/{name}" if folder else name
    for sub in folders:
        yield from stored_names(f"{folder}/{sub}" if folder else sub)


def text_of_file(data: bytes) -> str:
    """What a reader of the file could find: a PDF's text, every part of a zip (xlsx), or
    the bytes as text."""
    if data.startswith(b"%PDF"):
        return " ".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)
    if data.startswith(b"PK"):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return " ".join(archive.read(n).decode("utf-8", "ignore") for n in archive.namelist())
    return data.decode("utf-8", "ignore")


def files_with_markers(names: set[str]) -> set[str]:
    found = set()
    for name in names:
        if not default_storage.exists(name):
            continue
        with default_storage.open(name, "rb") as stored:
            text = text_of_file(stored.read()).casefold()
        # The PDF's text may break a name at a line end: look for each marker's first half.
        if any(marker.casefold()[:6] in text for marker in MARKERS):
            found.add(name)
    return found


# Planting ------------------------------------------------------------------------------------


@pytest.fixture
def planted(staff: User, officer: User) -> dict[str, Any]:
    """The person, used for a few weeks as the team would, through every path."""
    # The in-memory storage outlives each test: imports left by earlier ones are not ours.
    for name in stored_names("imports") if default_storage.exists("imports") else ():
        default_storage.delete(name)
    before_files = set(stored_names())
    client = client_for(staff)
    organisation = OrganisationFactory(name="Gîtes du Terril", kind=Organisation.Kind.INVESTOR)
    elsewhere = OrganisationFactory(name="Office de tourisme de Lens")

    # Created and edited in the app, under a name and an e-mail she later changed.
    client.post(
        reverse("crm:contact_create"),
        {
            "organisation": organisation.pk,
            "first_name": FIRST,
            "last_name": FORMER_LAST,
            "email": FORMER_EMAIL,
            "phone": PHONE,
            "role": "Gérante",
            "legal_basis": "legitimate_interest",
            "notes": f"Préfère le matin. Adresse perso : {FORMER_EMAIL}",
        },
    )
    person = Contact.objects.get(last_name=FORMER_LAST)

    # A lead names her under her first name, with notes about her.
    lead = LeadFactory(organisation=organisation, owner=officer)
    lead.notes = f"Rencontrée au salon : {FIRST} {FORMER_LAST} ({FORMER_EMAIL})."
    lead_actions.save_lead(
        lead=lead,
        by=officer,
        seen_version=lead.version,
        contacts=[person],
        target_sites=[],
        shared_with=[],
    )

    client.post(
        reverse("crm:contact_edit", args=[person.pk]),
        {
            "organisation": organisation.pk,
            "first_name": FIRST,
            "last_name": LAST,
            "email": EMAIL,
            "phone": PHONE,
            "role": "Gérante",
            "legal_basis": "legitimate_interest",
            "notes": "Préfère le matin.",
        },
    )
    person.refresh_from_db()
    assert person.last_name == LAST
    lead.refresh_from_db()
    lead.notes += f" Relancer {FIRST} {LAST} en juin."
    lead_actions.save_lead(
        lead=lead,
        by=officer,
        seen_version=lead.version,
        contacts=[person],
        target_sites=[],
        shared_with=[],
    )

    lead.machine.run(name="advance", by=officer, comment=f"Premier appel de {FIRST} {LAST}.")
    lead.refresh_from_db()

    # Edited in the admin: on her own record, and as an inline of her organisation.
    admin_change(client, person, role="Directrice générale")
    admin_change(client, organisation, **{"contacts-0-role": "Présidente"})

    # The holder contact of a project, named in its specification, which is issued.
    project = ProjectFactory(holder=organisation, title="Gîtes des corons")
    project.holder_contact = person
    project_actions.save_project(project=project, by=staff, thematics=[], designers=[], lead=None)
    specification = project_actions.specification_for(project)
    specification.context = f"Porté par {FIRST} {LAST}, joignable au {PHONE}."
    specification.objectives = "Ouvrir les gîtes à la location."
    project_actions.save_specification(
        specification=specification, by=staff, seen_revision=specification.revision
    )
    specification.milestones.create(
        due_date=timezone.localdate(), label=f"Visite des gîtes avec {FIRST} {LAST}"
    )
    version = project_actions.issue_specification(project=project, by=staff, language="fr")

    # Exchanges: with her, and about her elsewhere.
    now = timezone.localtime().strftime("%Y-%m-%dT%H:%M")
    client.post(
        reverse("crm:contact_log_interaction", args=[person.pk]),
        {"kind": "meeting", "occurred_at": now, "contact": person.pk, "summary": "Sur place."},
    )
    client.post(
        reverse("crm:organisation_log_interaction", args=[organisation.pk]),
        {
            "kind": "note",
            "occurred_at": now,
            "summary": f"{FIRST} {LAST} rappellera au 03.99.88.77.66, ou écrire à {EMAIL}.",
        },
    )
    for summary in (f"Mme {LAST} nous a recommandé ce lieu.", f"Famille {LAST} : homonymes."):
        client.post(
            reverse("crm:organisation_log_interaction", args=[elsewhere.pk]),
            {"kind": "note", "occurred_at": now, "summary": summary},
        )

    # She objects; a call is logged anyway, confirmed with its reason.
    client.post(reverse("crm:contact_objection", args=[person.pk]), {"objects": "1"})
    client.post(
        reverse("crm:contact_log_interaction", args=[person.pk]),
        {
            "kind": "call",
            "occurred_at": now,
            "contact": person.pk,
            "summary": "Rappel.",
            "objection_confirmed": "on",
            "objection_reason": f"{FIRST} {LAST} a demandé à être rappelée.",
        },
    )

    # Exports: her data, and the contact list searched for her name.
    assert client.get(reverse("crm:contact_personal_data", args=[person.pk, "json"])).status_code
    client.get(reverse("crm:contact_personal_data", args=[person.pk, "xlsx"]))
    client.get(reverse("crm:contact_export"), {"q": LAST})

    # An import applied (it changes her role), and one abandoned halfway.
    header = ["Organisation", "Prénom", "Nom", "E-mail", "Fonction", "Téléphone"]
    row = [organisation.name, FIRST, LAST, EMAIL, "Directrice", PHONE]
    token, _preview = run_import(client, workbook([header, row]), kind="contacts")
    assert client.post(reverse("crm:import_apply", args=[token])).status_code == 302
    staged = token_of(start(client, workbook([header, row]), kind="contacts"))

    # Someone typed her e-mail address on the login page; a holder account uses it.
    Client().post(reverse("login"), {"username": EMAIL, "password": "not-hers"})
    account = UserFactory(username="gites-terril", email=EMAIL, role=Role.HOLDER)

    person.refresh_from_db()
    return {
        "person": person,
        "lead": lead,
        "project": project,
        "version": version,
        "staged": staged,
        "account": account,
        "files": set(stored_names()) - before_files,
    }


def test_every_path_planted_the_markers(planted: dict[str, Any]) -> None:
    # Guards the search below: each path left its copy where the walk found them.
    places = {model for model, _pk in rows_with_markers()}
    for model in (
        "crm.contact",
        "crm.interaction",
        "crm.auditentry",
        "admin.logentry",
        "prospects.lead",
        "prospects.leadtransition",
        "projects.milestone",
        "projects.specification",
        "projects.specificationversion",
        "axes.accessattempt",
        "axes.accessfailurelog",
        "crm.user",
    ):
        assert model in places, model
    files = files_with_markers(planted["files"])
    assert any(name.startswith("imports/") for name in files)
    assert planted["version"].file.name in files


def test_erasure_leaves_the_markers_only_where_its_report_says_why(
    staff: User, planted: dict[str, Any], django_capture_on_commit_callbacks
) -> None:
    person: Contact = planted["person"]
    client = client_for(staff)
    page = client.get(reverse("crm:contact_anonymise", args=[person.pk]))
    html = page.content.decode()
    # Before anything runs, the page says what it will blank and keep, and asks about the
    # last name alone.
    assert "Sera effacé" in html and "Sera gardé, et pourquoi" in html
    assert "RGPD art. 17.3 e" in html
    asked = {item["excerpt"]: item["mention"].key for item in page.context["to_judge"]}
    homonyms = next(key for excerpt, key in asked.items() if "homonymes" in excerpt)
    assert any("recommandé" in excerpt for excerpt in asked)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("crm:contact_anonymise", args=[person.pk]),
            {"redact": [key for key in asked.values() if key != homonyms]},
        )

    assert response.status_code == 302
    entry = AuditEntry.objects.for_record(person).get(action="anonymised")
    kept = entry.data["kept"]
    allowed = {("projects.specificationversion", v["id"]) for v in kept["specification_versions"]}
    allowed |= {(place["model"], place["id"]) for place in kept["surnames"]}
    allowed |= {(account["model"], account["id"]) for account in kept["accounts"]}
    found = rows_with_markers()
    login_log = {place for place in found if place[0].startswith("axes.")}
    assert len(login_log) == kept["login_log"] == 2
    assert found - login_log == allowed
    # What is kept, each for its reason: the issued specification, the homonyms' note (staff
    # said it is someone else), the holder's login account, the login log until its purge.
    version = planted["version"]
    assert [v["id"] for v in kept["specification_versions"]] == [version.pk]
    assert [place["model"] for place in kept["surnames"]] == ["crm.interaction"]
    assert [account["id"] for account in kept["accounts"]] == [planted["account"].pk]
    # Files: the abandoned import's workbook is gone; only the frozen specification remains.
    assert files_with_markers(planted["files"]) == {version.file.name}
    assert entry.data["blanked"]["import_files"] == 1
    # The log row says the same as the page: nothing in it names her.
    text = json.dumps(entry.data, ensure_ascii=False) + entry.detail
    assert not any(marker.casefold() in text.casefold() for marker in MARKERS)


def test_the_report_is_on_the_contact_page_and_in_the_export(
    staff: User, planted: dict[str, Any]
) -> None:
    person: Contact = planted["person"]
    actions.anonymise_contact(contact=person, by=staff)
    client = client_for(staff)

    html = client.get(person.get_absolute_url()).content.decode()
    data = client.get(reverse("crm:contact_personal_data", args=[person.pk, "json"])).json()

    assert "Effacement du" in html
    assert f"{planted['project'].reference} v1" in html
    assert "purge_login_log" in html
    kept = " ".join(row["what"] + row["why"] for row in data["kept_after_erasure"])
    assert f"{planted['project'].reference} v1" in kept
    assert "tentatives de connexion" in kept
    # Run without anyone to judge them, the last name alone stays everywhere it was, listed.
    assert "Son nom de famille seul" in kept


def test_the_command_erases_the_same_way(planted: dict[str, Any]) -> None:
    person: Contact = planted["person"]
    Contact.objects.filter(pk=person.pk).update(
        last_interaction_at=timezone.now() - timedelta(days=4 * 366),
        created_at=timezone.now() - timedelta(days=5 * 366),
    )
    out = io.StringIO()

    call_command("anonymise_contacts", stdout=out)

    person.refresh_from_db()
    assert person.anonymised_at is not None
    assert "last-name mention(s) left to review" in out.getvalue()
    entry = AuditEntry.objects.for_record(person).get(action="anonymised")
    assert entry.by is None
    assert len(entry.data["kept"]["surnames"]) >= 2
    found = rows_with_markers()
    assert ("projects.specificationversion", planted["version"].pk) in found
    assert not any(model in ("prospects.lead", "admin.logentry") for model, _pk in found)


# The export holds everything that names her --------------------------------------------------


@pytest.mark.storage
def test_the_export_holds_every_record_that_names_her(staff: User, planted: dict[str, Any]) -> None:
    person: Contact = planted["person"]

    data = privacy.personal_data(person)

    mentions = " ".join(row["text"] for row in data["mentions"])
    assert "rappellera au 03.99.88.77.66" in mentions  # an exchange on her organisation
    assert "Relancer" in mentions  # the lead's notes
    assert "Porté par" in mentions  # the specification's draft
    assert {row["match"] for row in data["mentions"]} == {
        "nom complet, e-mail ou téléphone",
        "nom de famille seul",
    }
    elsewhere = " ".join(
        f"{row['old_value']} {row['new_value']}" for row in data["history_elsewhere"]
    )
    assert f"{FIRST} {FORMER_LAST}" in elsewhere  # the lead's contacts, under her former name
    assert f"{FIRST} {LAST}" in elsewhere  # the project's holder contact
    assert {row["object"] for row in data["admin_log"]} >= {f"{FIRST} {LAST}"}
    assert [row["version"] for row in data["specification_versions"]] == [1]
    assert "17.3 e" in data["specification_versions"][0]["why"]
    assert {row["username"] for row in data["login_attempts"]} == {EMAIL}
    assert all("180" in row["why"] for row in data["login_attempts"])
    assert [row["username"] for row in data["accounts"]] == ["gites-terril"]
    assert [row["file"] for row in data["import_files"]] == [f"imports/{planted['staged']}.xlsx"]
    assert all(
        row["why"] for section in data.values() if isinstance(section, list) for row in section
    )


def test_the_workbook_export_has_a_sheet_for_each_place(
    staff: User, planted: dict[str, Any]
) -> None:
    from openpyxl import load_workbook

    person: Contact = planted["person"]
    response = client_for(staff).get(reverse("crm:contact_personal_data", args=[person.pk, "xlsx"]))

    book = load_workbook(io.BytesIO(response.getvalue()), read_only=True)
    rows = {
        name: list(book[name].iter_rows(min_row=1, values_only=True)) for name in book.sheetnames
    }
    assert rows["Cahiers des charges"][0][-1] == "Pourquoi c'est gardé"
    assert rows["Cahiers des charges"][1][0] == planted["project"].reference
    assert rows["Connexions"][1][2] == EMAIL
    assert len(rows["Mentions"]) > 3


# Someone else of the same name is not her ----------------------------------------------------


@pytest.fixture
def namesakes(staff: User, officer: User) -> dict[str, Any]:
    """Her, a Pierre of the same last name at another organisation (on a lead, in notes), and
    a namesake with her very name at a third one."""
    her = ContactFactory(first_name=FIRST, last_name=LAST, email=EMAIL)
    pierre = ContactFactory(first_name="Pierre", last_name=LAST, email="p.quarkwell@other.test")
    lead = LeadFactory(organisation=pierre.organisation, owner=officer)
    lead.notes = f"Appel de Pierre {LAST} (p.quarkwell@other.test). {LAST} Pierre rappellera."
    lead_actions.save_lead(
        lead=lead,
        by=officer,
        seen_version=lead.version,
        contacts=[pierre],
        target_sites=[],
        shared_with=[],
    )
    InteractionFactory(organisation=her.organisation, author=staff, summary=f"Mme {LAST} ravie.")
    InteractionFactory(organisation=pierre.organisation, author=staff, summary=f"Les {LAST}.")
    return {"her": her, "pierre": pierre, "lead": lead}


def test_another_persons_full_name_is_never_hers(
    staff: User, namesakes: dict[str, Contact]
) -> None:
    her, pierre, lead = namesakes["her"], namesakes["pierre"], namesakes["lead"]

    plan = privacy.erasure_plan(her)

    judged = {m.record._meta.label_lower for m in plan.to_judge}
    assert judged == {"crm.interaction"}  # "Mme Quarkwell", "Les Quarkwell": maybe her
    assert not [m for m in plan.mentions if m.record == lead]
    actions.anonymise_contact(contact=her, by=staff)
    lead.refresh_from_db()
    pierre.refresh_from_db()
    assert lead.notes.startswith(f"Appel de Pierre {LAST} (p.quarkwell@other.test).")
    assert (pierre.first_name, pierre.last_name) == ("Pierre", LAST)
    entry = AuditEntry.objects.for_record(lead).get(field="contacts")
    assert entry.new_value == f"Pierre {LAST}"


def test_the_page_proposes_what_is_about_her_organisation(
    staff: User, namesakes: dict[str, Contact]
) -> None:
    her = namesakes["her"]

    page = client_for(staff).get(reverse("crm:contact_anonymise", args=[her.pk]))

    proposed = {item["excerpt"]: item["proposed"] for item in page.context["to_judge"]}
    assert proposed == {f"Mme {LAST} ravie.": True, f"Les {LAST}.": False}
    html = page.content.decode()
    assert html.count('name="redact"') == 2
    assert html.count(" checked>") == 1


def test_a_full_name_someone_else_bears_is_asked_not_redacted(
    staff: User, namesakes: dict[str, Contact]
) -> None:
    her = namesakes["her"]
    namesake = ContactFactory(first_name=FIRST, last_name=LAST, email="autre@other.test")
    note = InteractionFactory(
        organisation=namesake.organisation, author=staff, summary=f"Vu {FIRST} {LAST} au salon."
    )

    plan = privacy.erasure_plan(her)
    actions.anonymise_contact(contact=her, by=staff)

    assert note.pk in {m.record.pk for m in plan.to_judge}
    note.refresh_from_db()
    assert note.summary == f"Vu {FIRST} {LAST} au salon."
    entry = AuditEntry.objects.for_record(her).get(action="anonymised")
    assert [d["id"] for d in entry.data["kept"]["duplicates"]] == [namesake.pk]
    namesake.refresh_from_db()
    assert namesake.last_name == LAST


def test_an_address_with_her_last_name_is_not_her_name() -> None:
    identity = privacy.Identity(
        contact_id=1,
        label="Contact anonymisé n°1",
        last_names=(LAST,),
        names=(f"{FIRST} {LAST}", f"{LAST} {FIRST}"),
    )

    assert not identity.names_maybe(f"écrire à p.{LAST.lower()}@other.test ou {LAST}-Bâtiment")
    assert identity.names_maybe(f"Mme {LAST}, gérante.")
    assert identity.redact(f"{LAST.upper()} {FIRST.upper()} a rappelé") == (
        "Contact anonymisé n°1 a rappelé"
    )


def test_a_lead_form_opened_before_cannot_write_her_name_back(
    staff: User, officer: User, planted: dict[str, Any]
) -> None:
    from tests.prospects.test_views import edit_data

    lead = planted["lead"]
    lead.refresh_from_db()
    stale = edit_data(lead, contacts=[], notes=lead.notes)  # opened before the erasure

    actions.anonymise_contact(contact=planted["person"], by=staff)
    response = client_for(officer).post(reverse("prospects:lead_edit", args=[lead.pk]), stale)

    assert response.status_code == 409
    lead.refresh_from_db()
    assert LAST not in lead.notes
    assert "Contact anonymisé" in lead.notes


def test_a_name_staff_judge_hers_goes_from_the_search_copy_too(
    staff: User, namesakes: dict[str, Contact]
) -> None:
    her = namesakes["her"]
    lead = LeadFactory(organisation=her.organisation, title=f"Gîte {LAST}")
    assert LAST.lower() in lead.search_text

    plan = privacy.erasure_plan(her)
    asked = [m.key for m in plan.to_judge if m.record == lead]
    actions.anonymise_contact(contact=her, by=staff, redact_surnames=asked)

    assert asked == [f"prospects.lead:{lead.pk}:title"]
    lead.refresh_from_db()
    assert lead.title == f"Gîte Contact anonymisé n°{her.pk}"
    assert LAST.lower() not in lead.search_text
    assert "contact anonymise" in lead.search_text
