"""Project pages as each role sees them: access, moves, uploads, files, exports, query counts."""

from __future__ import annotations

import io
from datetime import date, timedelta

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.urls import reverse
from PIL import Image

from crm.models import Role, User
from projects.models import Deliverable, DeliverableVersion, Project, ProjectTransition
from tests.factories import (
    ProjectFactory,
    UserFactory,
    approved_deliverable,
    issued_specification,
)
from tests.helpers import client_for, count_queries

pytestmark = pytest.mark.django_db


@pytest.fixture
def outsider(db: None) -> User:
    return UserFactory(username="designer-off", role=Role.DESIGNER)


@pytest.fixture
def project(designer: User) -> Project:
    return ProjectFactory(title="Hôtel dans les corons", state="listen", designers=[designer])


@pytest.fixture
def version(project: Project, designer: User) -> DeliverableVersion:
    deliverable = approved_deliverable(project, Deliverable.Kind.TREND_BOARD, by=designer)
    return deliverable.versions.get()


def jpeg(size: tuple[int, int] = (120, 80)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "yellow").save(buffer, "JPEG")
    return buffer.getvalue()


# Access matrix ---------------------------------------------------------------------------

PAGES = [
    ("projects:project_list", None),
    ("projects:project_board", None),
    ("projects:project_export", None),
    ("projects:project_create", None),
    ("projects:project_detail", "project"),
    ("projects:project_edit", "project"),
    ("projects:deliverable_upload", "project"),
    ("projects:version_file", "version"),
]
ALLOWED = {
    "staff": {name for name, _ in PAGES},
    "designer": {name for name, _ in PAGES} - {"projects:project_create", "projects:project_edit"},
    "outsider": {"projects:project_list", "projects:project_board", "projects:project_export"},
    "officer": {name for name, _ in PAGES}
    - {"projects:project_create", "projects:project_edit", "projects:deliverable_upload"},
    # This holder account is on no project: lists are empty, every record answers 404.
    "holder": {"projects:project_list", "projects:project_board", "projects:project_export"},
}


@pytest.mark.parametrize("role", list(ALLOWED))
@pytest.mark.parametrize(("url_name", "target"), PAGES)
def test_role_access_matrix(
    role: str, url_name: str, target: str | None, personas, outsider, project, version
) -> None:
    user = outsider if role == "outsider" else personas[role]
    if target == "project":
        args = [project.pk]
    elif target == "version":
        args = [project.pk, version.pk]
    else:
        args = []

    response = client_for(user).get(reverse(url_name, args=args))

    assert response.status_code == (200 if url_name in ALLOWED[role] else 404)


def test_outsider_sees_nothing_of_the_project(outsider: User, project: Project, version) -> None:
    client = client_for(outsider)

    listing = client.get(reverse("projects:project_list"), {"q": "corons"}).content.decode()
    board = client.get(reverse("projects:project_board")).content.decode()
    export = client.get(reverse("projects:project_export"))
    rows = list(openpyxl.load_workbook(io.BytesIO(export.getvalue())).active.values)
    thumbnail = client.get(reverse("projects:version_thumbnail", args=[project.pk, version.pk]))

    assert "Hôtel dans les corons" not in listing
    assert "Hôtel dans les corons" not in board
    assert len(rows) == 1
    assert thumbnail.status_code == 404


def test_a_version_of_another_project_answers_404(staff: User, project: Project, version) -> None:
    other = ProjectFactory()

    response = client_for(staff).get(reverse("projects:version_file", args=[other.pk, version.pk]))

    assert response.status_code == 404


# Lists, board, detail: fixed query counts ------------------------------------------------


# Session, user, groups and permissions, counts per step, then the fourteen columns' first
# cards (the three closed ones folded): one UNION ALL where the database takes it
# (PostgreSQL), else one query per column.
BOARD_QUERIES = 7 if connection.features.supports_slicing_ordering_in_compound else 20


@pytest.mark.parametrize(
    ("url_name", "expected"),
    [("projects:project_list", 13), ("projects:project_board", BOARD_QUERIES)],
)
def test_list_and_board_query_counts_are_fixed(
    staff: User, designer: User, url_name: str, expected: int
) -> None:
    client = client_for(staff)
    steps = ["intake", "listen", "involve", "create", "implement", "suspended", "delivered"]
    for n in range(3):
        ProjectFactory(state=steps[n % len(steps)], designers=[designer])
    with_3 = count_queries(client, reverse(url_name))
    for n in range(57):
        ProjectFactory(state=steps[n % len(steps)], designers=[designer])
    with_60 = count_queries(client, reverse(url_name))

    assert with_3 == with_60 == expected


def test_detail_query_count_is_fixed(staff: User, designer: User) -> None:
    client = client_for(staff)
    project = ProjectFactory(state="involve", designers=[designer])
    url = reverse("projects:project_detail", args=[project.pk])
    for kind in ["trend_board", "watch_note", "other"]:
        approved_deliverable(project, kind)
    issued_specification(project, approval="returned")
    with_3 = count_queries(client, url)
    for n in range(57):
        approved_deliverable(project, "other" if n % 2 else "plan")
    for _n in range(5):
        issued_specification(project, approval="returned")
    with_60 = count_queries(client, url)

    assert with_3 == with_60 == 21  # + the audit trail (staff), the expected kinds


def test_list_filters(staff: User, designer: User) -> None:
    ProjectFactory(title="Gîtes", state="listen", designers=[designer])
    ProjectFactory(title="Trail", state="orient")
    ProjectFactory(title="Retard", state="steer", target_date="2020-01-01")
    client = client_for(staff)

    def titles(**params: str) -> list[str]:
        response = client.get(reverse("projects:project_list"), params)
        return sorted(p.title for p in response.context["object_list"])

    assert titles(phase="watch") == ["Gîtes"]
    assert titles(phase="concept") == ["Retard", "Trail"]
    assert titles(designer=str(designer.pk)) == ["Gîtes"]
    assert titles(overdue="yes") == ["Retard"]
    assert titles(q="gites") == ["Gîtes"]
    assert titles(state="orient") == ["Trail"]
    holder = Project.objects.get(title="Trail").holder.name
    assert titles(holder=holder.upper()) == ["Trail"]


def test_export_holds_the_filtered_rows(staff: User, designer: User) -> None:
    ProjectFactory(title="Gîtes", state="listen", designers=[designer], budget="12000.50")
    ProjectFactory(title="Trail", state="orient")

    response = client_for(staff).get(reverse("projects:project_export"), {"phase": "watch"})
    sheet = openpyxl.load_workbook(io.BytesIO(response.getvalue())).active
    rows = list(sheet.values)

    assert rows[0][:3] == ("Référence", "Intitulé", "Porteur")
    assert [row[1] for row in rows[1:]] == ["Gîtes"]
    assert rows[1][6] == "Écouter"
    assert rows[1][7] == str(designer)
    assert rows[1][10] == 12000.5


# Moves -------------------------------------------------------------------------------------


def move(client: Client, project: Project, name: str, **extra: str):
    data = {"name": name, "state": project.state, **extra}
    return client.post(reverse("projects:project_transition", args=[project.pk]), data, follow=True)


def test_designer_advances_inside_the_phase(designer: User, project: Project) -> None:
    response = move(client_for(designer), project, "advance")

    project.refresh_from_db()
    assert project.state == "impulse"
    assert "Écouter → Impulser" in response.content.decode()
    assert ProjectTransition.objects.get().by == designer


def test_refused_gate_says_what_is_missing(staff: User) -> None:
    project = ProjectFactory(state="involve")

    response = move(client_for(staff), project, "enter_conceptualisation")

    project.refresh_from_db()
    assert project.state == "involve"
    assert "Il manque une planche de tendances approuvée." in response.content.decode()


def test_designer_cannot_cross_a_gate(designer: User) -> None:
    project = ProjectFactory(state="involve", designers=[designer])
    approved_deliverable(project, Deliverable.Kind.TREND_BOARD)

    response = move(client_for(designer), project, "enter_conceptualisation")

    project.refresh_from_db()
    assert project.state == "involve"
    assert "Votre rôle ne permet pas" in response.content.decode()


def test_a_move_on_a_stale_page_is_refused(staff: User, project: Project) -> None:
    response = client_for(staff).post(
        reverse("projects:project_transition", args=[project.pk]),
        {"name": "advance", "state": "intake"},
        follow=True,
    )

    project.refresh_from_db()
    assert project.state == "listen"
    assert "Ce projet vient de changer" in response.content.decode()
    assert not ProjectTransition.objects.exists()


@pytest.mark.parametrize(
    "data",
    [
        {"name": "advance"},
        {"state": "listen"},
        {"name": "x" * 100, "state": "listen"},
        {"name": "delete", "state": "listen"},
        {"name": "advance", "state": "delivered"},
    ],
)
def test_forged_moves_change_nothing(staff: User, project: Project, data: dict) -> None:
    response = client_for(staff).post(
        reverse("projects:project_transition", args=[project.pk]), data, follow=True
    )

    project.refresh_from_db()
    assert response.status_code == 200
    assert project.state == "listen"
    assert not ProjectTransition.objects.exists()


def test_rework_without_comment_is_refused(staff: User) -> None:
    project = ProjectFactory(state="steer")

    response = move(client_for(staff), project, "rework", comment="  ")

    project.refresh_from_db()
    assert project.state == "steer"
    assert "commentaire est nécessaire" in response.content.decode()


def test_outsider_cannot_move_a_project(outsider: User, project: Project) -> None:
    response = client_for(outsider).post(
        reverse("projects:project_transition", args=[project.pk]),
        {"name": "advance", "state": "listen"},
    )

    assert response.status_code == 404


def test_board_card_moves_load_on_demand(staff: User, project: Project) -> None:
    client = client_for(staff)

    board = client.get(reverse("projects:project_board")).content.decode()
    url = reverse("projects:board_card_moves", args=[project.pk])
    moves = client.get(url, HTTP_HX_REQUEST="true").content.decode()

    assert f'href="{project.get_absolute_url()}moves/"' in board
    assert 'value="advance" data-target="impulse"' in moves
    assert f'name="next" value="/projects/board/#card-{project.pk}"' in moves
    assert "<html" not in moves  # the card's part only


def test_board_card_moves_opened_as_an_address_are_a_whole_page(staff: User, project) -> None:
    page = client_for(staff).get(reverse("projects:board_card_moves", args=[project.pk]))
    html = page.content.decode()

    assert html.lstrip().startswith("<!DOCTYPE html>")
    assert f"Déplacer {project.machine.title}" in html
    assert "Étape actuelle : Écouter" in html
    assert 'value="advance" data-target="impulse"' in html


def test_board_folds_the_closed_steps_with_their_counts(staff: User) -> None:
    ProjectFactory(title="Livré un", state="delivered")
    ProjectFactory(title="Abandonné un", state="abandoned")
    html = client_for(staff).get(reverse("projects:project_board")).content.decode()
    strip = html[html.index('<details class="board__closed"') :]
    strip = strip[: strip.index("</details>")]
    assert "Livré un" in strip and "Abandonné un" in strip
    assert 'data-step="declined"' in strip


def test_board_card_moves_are_scoped(outsider: User, project: Project) -> None:
    response = client_for(outsider).get(reverse("projects:board_card_moves", args=[project.pk]))

    assert response.status_code == 404


def test_dropping_on_a_column_runs_the_move_that_leads_there(staff: User, project) -> None:
    response = client_for(staff).post(
        reverse("projects:project_transition", args=[project.pk]),
        {"target": "impulse", "state": "listen", "next": "/projects/board/"},
    )

    project.refresh_from_db()
    assert response["Location"] == "/projects/board/"
    assert project.state == "impulse"


def test_dropping_on_an_unreachable_column_says_so(staff: User, project) -> None:
    response = client_for(staff).post(
        reverse("projects:project_transition", args=[project.pk]),
        {"target": "implement", "state": "listen"},
        follow=True,
    )

    project.refresh_from_db()
    assert project.state == "listen"
    assert "pas possible depuis cette étape" in response.content.decode()


def test_next_cannot_redirect_elsewhere(staff: User, project: Project) -> None:
    response = client_for(staff).post(
        reverse("projects:project_transition", args=[project.pk]),
        {"name": "advance", "state": "listen", "next": "https://evil.example/"},
    )

    assert response["Location"] == project.get_absolute_url()


# Deliverables ------------------------------------------------------------------------------


def upload(client: Client, project: Project, name: str, content: bytes, **extra: str):
    return client.post(
        reverse("projects:deliverable_upload", args=[project.pk]),
        {
            "kind": "trend_board",
            "title": "Planche",
            "file": SimpleUploadedFile(name, content),
            **extra,
        },
    )


@pytest.mark.storage
def test_designer_uploads_versions_with_thumbnails(designer: User, project: Project) -> None:
    client = client_for(designer)

    first = upload(client, project, "planche.jpg", jpeg())
    second = upload(client, project, "planche-v2.jpg", jpeg((60, 90)))

    versions = list(DeliverableVersion.objects.order_by("number"))
    assert first.status_code == second.status_code == 302
    assert [v.number for v in versions] == [1, 2]
    assert all(v.thumbnail for v in versions)
    assert versions[1].review_state == "submitted"
    thumb = client.get(reverse("projects:version_thumbnail", args=[project.pk, versions[1].pk]))
    assert thumb["Content-Type"] == "image/jpeg"


@pytest.mark.storage
def test_htmx_upload_answers_with_a_status_and_a_message(designer: User, project: Project) -> None:
    response = client_for(designer).post(
        reverse("projects:deliverable_upload", args=[project.pk]),
        {"kind": "trend_board", "title": "Planche", "file": SimpleUploadedFile("p.jpg", jpeg())},
        headers={"HX-Request": "true"},
    )
    refused = client_for(designer).post(
        reverse("projects:deliverable_upload", args=[project.pk]),
        {"kind": "trend_board", "title": "Planche", "file": SimpleUploadedFile("x.svg", b"<svg/>")},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 201
    assert "version 1" in response.content.decode()
    assert refused.status_code == 400
    assert "Types acceptés" in refused.content.decode()


def _bomb() -> bytes:
    buffer = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("vide.pdf", b"", "vide"),
        (
            "dessin.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg"><script/></svg>',
            "Types acceptés",
        ),
        ("photo.jpg", b"MZ\x90\x00 not a photo", "Types acceptés"),
        ("page.png", b"<html><body>hi</body></html>", "Types acceptés"),
        ("bombe.png", None, "trop grande"),
    ],
)
def test_bad_uploads_are_refused_with_a_message(
    designer: User, project: Project, name: str, content: bytes | None, message: str
) -> None:
    response = upload(client_for(designer), project, name, _bomb() if content is None else content)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert not DeliverableVersion.objects.exists()


def test_too_large_upload_is_refused(designer: User, project: Project, settings) -> None:
    settings.UPLOAD_MAX_BYTES = 1000

    response = upload(client_for(designer), project, "planche.jpg", jpeg((400, 400)) + b"0" * 2000)

    assert response.status_code == 400
    assert not DeliverableVersion.objects.exists()


@pytest.mark.storage
def test_a_path_in_the_name_never_reaches_storage(designer: User, project: Project) -> None:
    upload(client_for(designer), project, "../../etc/cron.d/planche.jpg", jpeg())

    version = DeliverableVersion.objects.get()
    assert version.file.name.startswith("deliverables/")
    assert ".." not in version.file.name
    assert "/" not in version.original_name


@pytest.mark.storage
def test_download_has_a_safe_disposition(designer: User, project: Project) -> None:
    upload(client_for(designer), project, 'pla"nche\r\n.jpg', jpeg())
    version = DeliverableVersion.objects.get()

    response = client_for(designer).get(
        reverse("projects:version_file", args=[project.pk, version.pk]), {"download": "1"}
    )

    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "\r" not in disposition and "\n" not in disposition
    assert response["X-Content-Type-Options"] == "nosniff"


def test_officer_cannot_upload(officer: User, project: Project) -> None:
    response = upload(client_for(officer), project, "planche.jpg", jpeg())

    assert response.status_code == 404
    assert not DeliverableVersion.objects.exists()


# Review ------------------------------------------------------------------------------------


def review(client: Client, project: Project, version: DeliverableVersion, **data: str):
    return client.post(
        reverse("projects:version_review", args=[project.pk, version.pk]), data, follow=True
    )


def test_staff_requests_changes_with_a_comment(staff: User, designer: User, project) -> None:
    upload(client_for(designer), project, "planche.jpg", jpeg())
    version = DeliverableVersion.objects.get()

    without = review(client_for(staff), project, version, decision="changes")
    version.refresh_from_db()
    assert version.review_state == "submitted"
    assert "Dites ce qu" in without.content.decode()

    review(client_for(staff), project, version, decision="changes", comment="Plus de noir.")
    version.refresh_from_db()
    assert version.review_state == "changes_requested"
    assert version.review_comment == "Plus de noir."
    assert version.reviewed_by == staff


def test_designer_cannot_review(designer: User, project: Project) -> None:
    upload(client_for(designer), project, "planche.jpg", jpeg())
    version = DeliverableVersion.objects.get()

    response = review(client_for(designer), project, version, decision="approve")

    version.refresh_from_db()
    assert response.status_code == 404
    assert version.review_state == "submitted"


def test_approved_trend_board_opens_gate_one(staff: User, designer: User) -> None:
    project = ProjectFactory(state="involve", designers=[designer])
    issued_specification(project)
    upload(client_for(designer), project, "planche.jpg", jpeg())
    review(client_for(staff), project, DeliverableVersion.objects.get(), decision="approve")

    move(client_for(staff), project, "enter_conceptualisation")

    project.refresh_from_db()
    assert project.state == "orient"


# Create and edit ---------------------------------------------------------------------------


def test_staff_registers_a_request(staff: User, designer: User) -> None:
    from tests.factories import ContactFactory, OrganisationFactory, TerritoryFactory

    holder = OrganisationFactory(name="Les Béthunoises")
    contact = ContactFactory(organisation=holder)
    territory = TerritoryFactory()

    response = client_for(staff).post(
        reverse("projects:project_create"),
        {
            "title": "Maison d'hôtes dans une caserne",
            "holder": holder.pk,
            "holder_contact": contact.pk,
            "territory": territory.pk,
            "need": "Transformer une ancienne caserne en maison d'hôtes.",
            "designers": [designer.pk],
            "lead": staff.pk,
            "budget": "15000",
            "funding-TOTAL_FORMS": "2",
            "funding-INITIAL_FORMS": "0",
            "funding-0-funder": "Région Hauts-de-France",
            "funding-0-amount": "5000",
            "funding-1-funder": "",
            "funding-1-amount": "",
        },
    )

    project = Project.objects.get()
    assert response.status_code == 302
    assert project.state == "intake"
    assert project.reference.startswith("DS-")
    assert project.has_designer(designer)
    assert project.memberships.get(user=staff).role == "lead"
    assert [(line.funder, line.amount) for line in project.funding_lines.all()] == [
        ("Région Hauts-de-France", 5000)
    ]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"budget": "-5"}, "supérieure ou égale à 0"),
        ({"holder": "999999"}, "Sélectionnez un choix valide"),
        ({"title": ""}, "Ce champ est obligatoire"),
        ({"start_date": "2026-05-01", "target_date": "2026-01-01"}, "ne peut pas précéder"),
        ({"funding-0-funder": "Région", "funding-0-amount": "-1"}, "supérieure ou égale à 0"),
        ({"funding-TOTAL_FORMS": "5000"}, "Veuillez soumettre au plus 20 formulaires"),
    ],
)
def test_bad_project_input(staff: User, overrides: dict[str, str], message: str) -> None:
    from tests.factories import OrganisationFactory, TerritoryFactory

    data = {
        "title": "Projet",
        "holder": OrganisationFactory().pk,
        "territory": TerritoryFactory().pk,
        "need": "Besoin",
        "funding-TOTAL_FORMS": "1",
        "funding-INITIAL_FORMS": "0",
        **overrides,
    }

    response = client_for(staff).post(reverse("projects:project_create"), data)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Project.objects.exists()


def test_references_follow_each_other(staff: User) -> None:
    from projects.actions import create_project
    from tests.factories import OrganisationFactory, TerritoryFactory

    made = [
        create_project(
            project=Project(
                title=f"P{n}", holder=OrganisationFactory(), territory=TerritoryFactory(), need="x"
            ),
            by=staff,
        ).reference
        for n in range(3)
    ]

    assert [ref.rsplit("-", 1)[1] for ref in made] == ["001", "002", "003"]


# Interactions on the project's timeline ----------------------------------------------------


def test_team_designer_notes_an_exchange_on_the_timeline(designer: User, project: Project) -> None:
    from crm.models import Interaction

    response = client_for(designer).post(
        reverse("projects:project_log_interaction", args=[project.pk]),
        {"kind": "note", "occurred_at": "2026-01-15T10:00", "summary": "Atelier avec le porteur."},
    )

    interaction = Interaction.objects.get()
    assert response.status_code == 302
    assert (interaction.project, interaction.organisation) == (project, project.holder)
    page = client_for(designer).get(project.get_absolute_url()).content.decode()
    assert "Atelier avec le porteur." in page


@pytest.mark.parametrize("role", ["officer", "outsider"])
def test_others_cannot_note_on_the_project(role: str, personas, outsider, project) -> None:
    from crm.models import Interaction

    user = outsider if role == "outsider" else personas[role]
    response = client_for(user).post(
        reverse("projects:project_log_interaction", args=[project.pk]),
        {"kind": "note", "occurred_at": "2026-01-15T10:00", "summary": "x"},
    )

    assert response.status_code == 404
    assert not Interaction.objects.exists()


def test_board_columns_show_their_first_cards_by_target_date(staff: User) -> None:
    start = date(2027, 1, 1)
    for n in range(12):
        ProjectFactory(
            reference=f"DS-2027-{n:03d}",
            state="listen",
            target_date=None if n < 2 else start + timedelta(days=n),
        )
    ProjectFactory(reference="DS-2027-900", state="create", target_date=start)

    response = client_for(staff).get(reverse("projects:project_board"))

    columns = {column["step"]: column for column in response.context["columns"]}
    # Target dates first, soonest first; projects without one last; ten cards, and the count.
    listen = columns["listen"]
    assert [p.reference for p in listen["projects"]] == [f"DS-2027-{n:03d}" for n in range(2, 12)]
    assert listen["count"] == 12
    assert [p.reference for p in columns["create"]["projects"]] == ["DS-2027-900"]
    assert columns["implement"]["projects"] == [] and columns["implement"]["count"] == 0
    assert "Voir les 12 projets" in response.content.decode()


# Reviews on the timeline, superseded versions, words ------------------------------------------


def _version(project: Project, *, number: int, title: str = "Planche de tendances"):
    from django.core.files.base import ContentFile

    deliverable, _created = Deliverable.objects.get_or_create(
        project=project,
        title=title,
        defaults={"kind": "trend_board", "created_by": UserFactory()},
    )
    version = DeliverableVersion(
        deliverable=deliverable,
        number=number,
        original_name=f"IMG_{number:04}.pdf",
        content_type="application/pdf",
        size=10,
        uploaded_by=UserFactory(),
    )
    version.file.save(f"v{number}.pdf", ContentFile(b"%PDF-1.7"), save=False)
    version.save()
    return version


def test_review_decisions_appear_on_the_timeline(staff: User, project: Project) -> None:
    from projects import actions

    first = _version(project, number=1)
    actions.review_version(version=first, approve=False, by=staff, comment="Plus de couleurs.")
    html = client_for(staff).get(project.get_absolute_url()).content.decode()

    assert "Planche de tendances, version 1 : modifications demandées" in html
    assert "« Plus de couleurs. »" in html


def test_a_superseded_version_is_marked_and_can_no_longer_be_reviewed(
    staff: User, project: Project
) -> None:
    from crm.fsm import TransitionRefused
    from projects import actions

    first = _version(project, number=1)
    _version(project, number=2)
    html = client_for(staff).get(project.get_absolute_url()).content.decode()
    assert "Remplacée par la version 2" in html
    assert html.count('class="review-form"') == 1  # only the latest is offered for review
    assert "IMG_0001.pdf" not in html  # no raw file names

    with pytest.raises(TransitionRefused, match="remplacée par la version 2"):
        actions.review_version(version=first, approve=True, by=staff)
    response = client_for(staff).post(
        reverse("projects:version_review", args=[project.pk, first.pk]),
        {"decision": "approve"},
        follow=True,
    )
    assert "remplacée par la version 2" in response.content.decode()
    first.refresh_from_db()
    assert first.review_state == "submitted"


def test_a_deliverable_heading_does_not_repeat_its_kind(staff: User, project: Project) -> None:
    _version(project, number=1, title="Planche de tendances")
    html = client_for(staff).get(project.get_absolute_url()).content.decode()
    assert '<small class="muted">Planche de tendances</small>' not in html


def test_holder_answers_read_as_sentences(staff: User, project: Project) -> None:
    from django.utils import timezone

    version = issued_specification(project, approval="approved")
    version.answered_at = timezone.now()
    version.save()
    html = client_for(staff).get(project.get_absolute_url()).content.decode()
    assert "Version 1 : approuvée par le porteur" in html


def test_a_designer_on_no_project_is_told_what_comes_next(db: None) -> None:
    loner = UserFactory(role=Role.DESIGNER)
    html = client_for(loner).get(reverse("crm:dashboard")).content.decode()
    assert "Vous n'êtes encore dans l'équipe d'aucun projet" in html.replace("&#x27;", "'")
