"""The specification ("cahier des charges"): draft, PDF, issue, the holder's answer, the gate,
and the project sheet (issue 4, DESIGN §3 and §5)."""

from __future__ import annotations

import hashlib
import html
import io
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from pypdf import PdfReader

from crm.models import Job, Role, User
from crm.pdf import ProjectURLFetcher
from projects import actions
from projects.models import (
    MAX_SECTION_LINES,
    SECTION_FIELDS,
    Deliverable,
    DeliverableVersion,
    Milestone,
    Project,
    ProjectMember,
    ProjectTransition,
    Specification,
    SpecificationVersion,
)
from tests.factories import (
    ProjectFactory,
    UserFactory,
    approved_deliverable,
    issued_specification,
)
from tests.helpers import client_for

pytestmark = pytest.mark.django_db


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def body(response: Any) -> bytes:
    """The PDF a response gives: its own body, or the file of the job it started (jobs run
    at once in tests)."""
    if response.status_code == 302 and response["Location"].startswith("/files/"):
        response = response.client.get(response["Location"] + "download/")
        assert response.status_code == 200
    if response.streaming:
        return response.getvalue()
    return response.content


@pytest.fixture
def holder_account(db: None) -> User:
    return UserFactory(username="porteuse", role=Role.HOLDER, first_name="Sophie")


@pytest.fixture
def project(designer: User, holder_account: User) -> Project:
    project = ProjectFactory(
        title="Hôtel dans les corons", state="involve", designers=[designer], budget=120000
    )
    ProjectMember.objects.create(
        project=project, user=holder_account, role=ProjectMember.Role.HOLDER
    )
    project.funding_lines.create(funder="Région Hauts-de-France", amount=48000)
    return project


def write(project: Project, **sections: str) -> Specification:
    specification = actions.specification_for(project)
    for name, text in sections.items():
        setattr(specification, name, text)
    specification.save()
    return specification


FULL = {
    "context": "Une rangée de maisons de mineurs rachetée par la porteuse.",
    "objectives": "Vérifier la viabilité de l'offre.",
    "target_visitors": "Visiteurs du Louvre-Lens en court séjour.",
    "design_scope": "Parcours du client, chambres, accueil.",
    "deliverables_watch": "Planche de tendances.",
    "deliverables_concept": "Carnet d'idées.",
    "deliverables_implementation": "Chambre témoin.",
    "evaluation_criteria": "Taux de remplissage la première année.",
}


# The PDF --------------------------------------------------------------------------------------


def test_preview_is_a_draft_with_every_section(designer: User, project: Project) -> None:
    write(project, **FULL)

    response = client_for(designer).get(
        reverse("projects:specification_preview", args=[project.pk])
    )

    data = body(response)
    text = pdf_text(data)
    reader = PdfReader(io.BytesIO(data))
    # Rendered by the worker: the request answers with the job's page, which counted the
    # pages laid out then drawn, and the file is downloaded from there.
    job = Job.objects.get()
    assert response.status_code == 302
    assert response["Location"] == job.get_absolute_url()
    assert (job.kind, job.status, job.unit) == ("specification_preview", "done", "pages produites")
    assert job.done == job.total == len(reader.pages)
    assert job.filename.endswith("-brouillon.pdf")
    page = client_for(designer).get(job.get_absolute_url()).content.decode()
    assert f"{job.total} sur {job.total} pages produites" in page
    assert data.startswith(b"%PDF")
    assert len(reader.pages) >= 4  # cover, contents, then the sections
    for heading in [
        "Sommaire",
        "Contexte et porteur",
        "Besoin précis",
        "Objectifs",
        "Publics visés",
        "Périmètre design",
        "Livrables attendus par phase",
        "Jalons",
        "Budget et cofinancements",
        "Critères d'évaluation",
        "Équipe",
        "Signatures",
    ]:
        assert heading in text, heading
    assert "BROUILLON" in text
    assert "Version 1 — brouillon" in text
    assert project.reference in text
    assert "Région Hauts-de-France" in text
    assert "Taux de remplissage la première année." in text
    assert f"page 2 / {len(reader.pages)}" in text


def test_pdf_is_tagged_with_embedded_fonts(staff: User, project: Project) -> None:
    write(project, **FULL)

    data = body(client_for(staff).get(reverse("projects:specification_preview", args=[project.pk])))

    reader = PdfReader(io.BytesIO(data))
    catalog = reader.trailer["/Root"]
    assert "/StructTreeRoot" in catalog  # tagged: screen readers can follow the structure
    assert catalog["/MarkInfo"]["/Marked"]
    fonts = {
        str(font.get_object()["/BaseFont"])
        for page in reader.pages
        for font in page["/Resources"]["/Font"].values()
    }
    assert any("SourceSans" in name or "Carreau" in name for name in fonts), fonts
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            descriptor = font.get_object()["/DescendantFonts"][0].get_object()["/FontDescriptor"]
            assert any(key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3"))


def test_table_of_contents_has_page_numbers(staff: User, project: Project) -> None:
    write(project, **FULL)

    data = body(client_for(staff).get(reverse("projects:specification_preview", args=[project.pk])))

    contents = PdfReader(io.BytesIO(data)).pages[1].extract_text()
    assert "Sommaire" in contents
    # "1. Contexte et porteur ........ 3": the section starts on page 3, after the contents.
    line = next(line for line in contents.splitlines() if "Contexte et porteur" in line)
    assert line.rstrip().endswith("3")


def test_english_user_gets_an_english_draft(staff: User, project: Project) -> None:
    write(project, **FULL)

    data = body(
        client_for(staff, "en").get(reverse("projects:specification_preview", args=[project.pk]))
    )

    text = pdf_text(data)
    assert "DRAFT" in text
    assert "Contents" in text
    assert "Signatures" in text


def test_french_typography_in_user_text(project: Project) -> None:
    from django.utils import translation

    from projects.pdf import specification_html, specification_snapshot

    text = "Pourquoi ? Pour « habiter » le coron : vite ; bien ! https://x.fr 10:30"
    specification = write(project, objectives=text)
    content = specification_snapshot(specification)

    with translation.override("fr"):
        french = specification_html(content, number=1, draft=True)
    with translation.override("en"):
        english = specification_html(content, number=1, draft=True)

    # The HTML WeasyPrint lays out: no line may start with "?", "»" or ":".
    expected = "Pourquoi\u202f? Pour «\u00a0habiter\u00a0» le coron\u00a0: vite\u202f; bien\u202f!"
    assert expected in french
    assert "https://x.fr 10:30" in french  # only typed spaces change: URLs and times stay
    assert "Pourquoi ? Pour « habiter »" in english


def test_approved_images_are_embedded_small(staff: User, project: Project) -> None:
    from PIL import Image

    from tests.projects.test_views import jpeg

    for n in range(5):
        deliverable = approved_deliverable(project, Deliverable.Kind.TREND_BOARD)
        version = deliverable.versions.get()
        big = Image.new("RGB", (480, 320), (20 * n, 40, 80))
        out = io.BytesIO()
        big.save(out, "JPEG")
        version.thumbnail.save(f"thumb-{n}.jpg", ContentFile(out.getvalue()))
    assert callable(jpeg)  # the helper the views tests use for uploads
    write(project, **FULL)

    data = body(client_for(staff).get(reverse("projects:specification_preview", args=[project.pk])))

    reader = PdfReader(io.BytesIO(data))
    # Pages share their resources: count the distinct images.
    assert len({image.data for page in reader.pages for image in page.images}) == 5
    assert "Références visuelles" in pdf_text(data)
    assert len(data) < 400_000


# Bad input --------------------------------------------------------------------------------

MARKUP = (
    '<img src="file:///etc/passwd"> <b>gras</b> <script>alert(1)</script> '
    "http://example.com/x.png @import url(http://evil.test/x.css); "
    "<style>@import 'http://evil.test/a.css';</style> "
    '<link rel="stylesheet" href="http://evil.test/b.css"> '
    " שלום עולם مرحبا بالعالم 🎨🏭 "
)
HOSTILE = MARKUP + "A" * 10_000
# A 10,000-character word takes WeasyPrint a few seconds to break: three sections carry it,
# the others the markup, URLs, right-to-left text and emoji.
LONG_WORD_SECTIONS = {"context", "objectives", "team_notes"}


def test_hostile_text_renders_as_text_and_fetches_nothing(
    staff: User, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetched: list[str] = []
    original = ProjectURLFetcher.fetch

    def recording(self: ProjectURLFetcher, url: str, headers: Any = None) -> Any:
        fetched.append(url)
        return original(self, url, headers)

    monkeypatch.setattr(ProjectURLFetcher, "fetch", recording)
    specification = write(
        project,
        **{name: HOSTILE if name in LONG_WORD_SECTIONS else MARKUP for name in SECTION_FIELDS},
    )
    Milestone.objects.create(
        specification=specification, due_date="2027-03-01", label=HOSTILE[:300]
    )
    project.title = '<img src="file:///etc/passwd">'
    project.save()

    response = client_for(staff).get(reverse("projects:specification_preview", args=[project.pk]))

    # Fallback fonts (for Hebrew, Arabic) make pypdf interleave NULs: read past them.
    text = pdf_text(body(response)).replace("\x00", "").replace("\n", "")
    assert response.status_code == 302  # to the job's page, then its file
    assert '<img src="file:///etc/passwd">' in text
    assert "@import url(http://evil.test/x.css)" in text
    assert "root:x:0:0" not in text
    # Only the document's own stylesheet and fonts were asked for.
    assert fetched
    assert all(url.startswith("https://carreau.invalid/static/") for url in fetched), fetched


def test_issuing_twice_quickly_makes_one_version(staff: User, project: Project) -> None:
    write(project, **FULL)
    client = client_for(staff)
    url = reverse("projects:specification_issue", args=[project.pk])

    first = client.post(url, {"confirm": "1"}, follow=True)
    second = client.post(url, {"confirm": "1"}, follow=True)

    assert SpecificationVersion.objects.count() == 1
    assert "Version 1 du cahier des charges émise" in first.content.decode()
    assert "La version 1 dit déjà exactement cela" in second.content.decode()


def test_a_holder_answering_another_projects_specification_gets_404(
    holder_account: User, project: Project
) -> None:
    other = ProjectFactory(state="involve")
    version = issued_specification(other)

    response = client_for(holder_account).post(
        reverse("projects:specification_answer", args=[other.pk, version.number]),
        {"decision": "approve"},
    )

    version.refresh_from_db()
    assert response.status_code == 404
    assert version.approval == "pending"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("milestones-0-due_date", "9999-01-01", "Choisissez une date entre 2000 et 2100."),
        ("milestones-0-due_date", "pas une date", "Saisissez une date valide."),
        ("objectives", "x" * 20_001, "Assurez-vous que cette valeur comporte au plus"),
        # Short lines cost a PDF line each: 251 of them are refused, whatever their length.
        ("objectives", "Atelier\n" * 251, "Ce texte occuperait environ 251 lignes"),
        ("revision", "abc", "Ce formulaire est incomplet : rechargez la page"),
    ],
)
def test_bad_input_changes_nothing(
    designer: User, project: Project, field: str, value: str, message: str
) -> None:
    specification = write(project, objectives="Avant.")
    data = {
        **{name: "" for name in SECTION_FIELDS},
        "objectives": "Après.",
        "revision": "0",
        "milestones-TOTAL_FORMS": "1",
        "milestones-INITIAL_FORMS": "0",
        "milestones-0-due_date": "2027-01-01",
        "milestones-0-label": "Atelier",
        field: value,
    }

    response = client_for(designer).post(
        reverse("projects:specification_edit", args=[project.pk]), data
    )

    specification.refresh_from_db()
    assert response.status_code == 400
    assert message in response.content.decode()
    assert specification.objectives == "Avant."
    assert not Milestone.objects.exists()


# The work one preview or issue may ask for ------------------------------------------------------


def test_a_draft_too_long_to_lay_out_is_neither_previewed_nor_issued(
    staff: User, project: Project
) -> None:
    """A draft saved before the bound (or through the admin) is refused with the sections to
    shorten, and nothing is rendered or stored."""
    write(project, **{**FULL, "objectives": "Atelier\n" * 400})
    client = client_for(staff)

    preview = client.get(reverse("projects:specification_preview", args=[project.pk]), follow=True)
    issue = client.post(reverse("projects:specification_issue", args=[project.pk]), follow=True)

    for response in (preview, issue):
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/html")
        assert "Trop long pour être mis en page : raccourcissez « objectifs »" in html.unescape(
            response.content.decode()
        )
    assert not SpecificationVersion.objects.exists()
    with pytest.raises(actions.SpecificationTooLong):
        actions.issue_specification(project=project, by=staff, language="fr")


def test_the_longest_draft_the_form_accepts_renders_in_bounded_time(project: Project) -> None:
    """Every section at its bound, in the two shapes that cost WeasyPrint the most: lines
    that fill the section's line budget, and one word that never breaks (eleven such words
    took over a minute to lay out, 26 times the prose of the same length, before they got
    break opportunities). Each costs about what prose at the bound costs, measured side by
    side so that a busy machine slows all three alike."""
    import time

    from projects.pdf import render_specification, specification_snapshot

    shapes = {
        "prose": ("Les corons accueillent des visiteurs venus du monde entier. " * 330)[:20_000],
        "lines": "Une ligne courte du cahier des charges.\n" * MAX_SECTION_LINES,
        "word": "x" * 20_000,
    }
    seconds, pages = {}, {}
    for shape, text in shapes.items():
        specification = write(project, **{name: text for name in SECTION_FIELDS})
        assert specification.too_long_sections() == []
        started = time.perf_counter()
        pdf = render_specification(
            specification_snapshot(specification), number=1, draft=True, language="fr"
        )
        seconds[shape], pages[shape] = time.perf_counter() - started, pdf.page_count

    assert max(pages.values()) < 80  # about 65 pages at most: a bounded amount of work
    assert seconds["lines"] < 3 * seconds["prose"], seconds
    assert seconds["word"] < 3 * seconds["prose"], seconds


# Draft, issue, versions -------------------------------------------------------------------------


def edit_data(specification: Specification, **sections: str) -> dict[str, str]:
    return {
        **{name: getattr(specification, name) for name in SECTION_FIELDS},
        **sections,
        "revision": str(specification.revision),
        "milestones-TOTAL_FORMS": "0",
        "milestones-INITIAL_FORMS": "0",
    }


def test_designer_writes_the_draft_with_milestones(designer: User, project: Project) -> None:
    specification = actions.specification_for(project)
    data = edit_data(specification, objectives="Ouvrir l'hôtel en 2028.")
    data.update(
        {
            "milestones-TOTAL_FORMS": "1",
            "milestones-0-due_date": "2027-06-01",
            "milestones-0-label": "Week-end test",
        }
    )

    response = client_for(designer).post(
        reverse("projects:specification_edit", args=[project.pk]), data, follow=True
    )

    specification.refresh_from_db()
    assert "Brouillon du cahier des charges enregistré." in response.content.decode()
    assert specification.objectives == "Ouvrir l'hôtel en 2028."
    assert specification.revision == 1
    assert specification.updated_by == designer
    assert list(specification.milestones.values_list("label", flat=True)) == ["Week-end test"]
    # The draft starts from the project's need.
    assert specification.need == project.need


def test_two_editors_at_once_lose_nothing(designer: User, staff: User, project: Project) -> None:
    specification = actions.specification_for(project)
    url = reverse("projects:specification_edit", args=[project.pk])
    opened_by_both = edit_data(specification)
    client_for(staff).post(url, {**opened_by_both, "objectives": "Texte de la mission."})

    late = client_for(designer).post(url, {**opened_by_both, "objectives": "Texte du designer."})

    specification.refresh_from_db()
    page = late.content.decode()
    assert late.status_code == 400
    assert specification.objectives == "Texte de la mission."
    assert "pendant que vous le modifiiez" in page
    assert "Texte du designer." in page  # what the designer typed is still in the form
    # Saving again, knowingly, replaces the text.
    retry = {**opened_by_both, "objectives": "Texte du designer.", "revision": "1"}
    client_for(designer).post(url, retry)
    specification.refresh_from_db()
    assert specification.objectives == "Texte du designer."


@pytest.mark.storage
def test_issued_versions_are_frozen_and_downloadable_byte_for_byte(
    staff: User, officer: User, project: Project
) -> None:
    write(project, **FULL)
    client = client_for(staff)
    client.post(reverse("projects:specification_issue", args=[project.pk]), {"confirm": "1"})
    first = SpecificationVersion.objects.get()

    # Editing afterwards makes the draft of version 2; version 1 stays as it was.
    edit = client.get(reverse("projects:specification_edit", args=[project.pk])).content.decode()
    write(project, objectives="Objectifs revus avec l'exploitant.")
    after_edit = client.get(
        reverse("projects:specification_edit", args=[project.pk])
    ).content.decode()
    client.post(reverse("projects:specification_issue", args=[project.pk]), {"confirm": "1"})
    second = SpecificationVersion.objects.get(number=2)

    url = reverse("projects:specification_version_file", args=[project.pk, 1])
    downloads = [body(client_for(user).get(url)) for user in (staff, officer, staff)]
    assert "Le brouillon dit exactement ce que dit la version 1" in edit
    assert "Émettre la version 2" not in edit
    assert "Émettre la version 2" in after_edit
    assert "Brouillon de la version 2" in edit
    assert {hashlib.sha256(data).hexdigest() for data in downloads} == {first.sha256}
    assert first.size == len(downloads[0])
    text = pdf_text(downloads[0])
    assert "BROUILLON" not in text
    assert "Version 1 — émise le" in text
    assert "Objectifs revus" not in text
    assert len(PdfReader(io.BytesIO(downloads[0])).pages) == first.page_count
    assert (first.issued_by, first.approval, first.language) == (staff, "pending", "fr")
    second_text = pdf_text(
        body(client.get(reverse("projects:specification_version_file", args=[project.pk, 2])))
    )
    assert "Objectifs revus avec l'exploitant." in second_text
    assert second.sha256 != first.sha256


def test_issued_versions_are_listed_on_the_project(staff: User, project: Project) -> None:
    issued_specification(project, by=staff)

    page = client_for(staff).get(project.get_absolute_url()).content.decode()

    assert "Cahier des charges" in page
    assert reverse("projects:specification_version_file", args=[project.pk, 1]) in page
    assert "En attente du porteur" in page


# The holder ---------------------------------------------------------------------------------


def test_holder_sees_only_their_project_and_its_issued_specification(
    holder_account: User, project: Project, designer: User
) -> None:
    other = ProjectFactory(title="Projet d'un autre porteur")
    version = issued_specification(project)
    approved_deliverable(project, Deliverable.Kind.TREND_BOARD, by=designer)
    project.interactions.model.objects.create(
        organisation=project.holder,
        project=project,
        author=designer,
        kind="note",
        summary="Note interne de l'équipe",
        occurred_at=version.issued_at,
    )
    client = client_for(holder_account)

    listing = client.get(reverse("projects:project_list")).content.decode()
    detail = client.get(project.get_absolute_url()).content.decode()

    assert "Hôtel dans les corons" in listing
    assert "Projet d'un autre porteur" not in listing
    assert client.get(other.get_absolute_url()).status_code == 404
    assert reverse("projects:specification_version_file", args=[project.pk, 1]) in detail
    assert "Approuver cette version" in detail
    # The team's files and internal notes are not the holder's.
    assert "Note interne de l'équipe" not in detail
    assert "Livrables" not in detail
    file_version = DeliverableVersion.objects.get()
    assert (
        client.get(reverse("projects:version_file", args=[project.pk, file_version.pk])).status_code
        == 404
    )
    preview = client.get(reverse("projects:specification_preview", args=[project.pk]))
    assert preview.status_code == 404


def test_holder_approves_and_it_shows_in_the_timeline(
    holder_account: User, project: Project
) -> None:
    version = issued_specification(project)

    response = client_for(holder_account).post(
        reverse("projects:specification_answer", args=[project.pk, 1]),
        {"decision": "approve"},
        follow=True,
    )

    version.refresh_from_db()
    page = response.content.decode()
    assert version.approval == "approved"
    assert version.answered_by == holder_account
    assert "Votre réponse sur le cahier des charges est enregistrée." in page
    assert "Version 1 : approuvée par le porteur" in page


def test_holder_returns_with_a_comment_only(holder_account: User, project: Project) -> None:
    version = issued_specification(project)
    url = reverse("projects:specification_answer", args=[project.pk, 1])
    client = client_for(holder_account)

    without = client.post(url, {"decision": "return"}, follow=True)
    version.refresh_from_db()
    assert version.approval == "pending"
    assert "Dites ce qu'il faut changer" in html.unescape(without.content.decode())

    client.post(url, {"decision": "return", "comment": "Le budget est à revoir."})
    version.refresh_from_db()
    assert (version.approval, version.answer_comment) == ("returned", "Le budget est à revoir.")


def test_holder_answers_the_latest_version_only(holder_account: User, project: Project) -> None:
    old = issued_specification(project)
    issued_specification(project)

    response = client_for(holder_account).post(
        reverse("projects:specification_answer", args=[project.pk, 1]),
        {"decision": "approve"},
        follow=True,
    )

    old.refresh_from_db()
    assert old.approval == "pending"
    assert "Une version plus récente a été émise" in response.content.decode()


@pytest.mark.parametrize("role", ["staff", "designer", "officer"])
def test_only_the_holder_answers(role: str, personas: dict[str, User], project: Project) -> None:
    version = issued_specification(project)

    response = client_for(personas[role]).post(
        reverse("projects:specification_answer", args=[project.pk, 1]), {"decision": "approve"}
    )

    version.refresh_from_db()
    assert response.status_code == 404
    assert version.approval == "pending"


# Gate 1 → 2 ----------------------------------------------------------------------------------


def gate_reasons(project: Project, staff: User) -> list[str]:
    return project.machine.refusal_reasons("enter_conceptualisation", staff)


def test_gate_needs_an_issued_specification(staff: User, project: Project) -> None:
    approved_deliverable(project, Deliverable.Kind.TREND_BOARD)

    assert gate_reasons(project, staff) == ["Le cahier des charges n'a pas encore été émis."]


def test_gate_waits_for_the_holders_approval(staff: User, project: Project) -> None:
    approved_deliverable(project, Deliverable.Kind.TREND_BOARD)
    version = issued_specification(project)

    assert gate_reasons(project, staff) == [
        "Le porteur n'a pas encore approuvé la dernière version émise du cahier des charges."
    ]
    SpecificationVersion.objects.filter(pk=version.pk).update(approval="approved")

    log = project.machine.run(name="enter_conceptualisation", by=staff)
    assert (log.source, log.target) == ("involve", "orient")


def test_gate_without_holder_account_needs_the_issue_only(staff: User) -> None:
    project = ProjectFactory(state="involve")
    approved_deliverable(project, Deliverable.Kind.TREND_BOARD)
    issued_specification(project)

    assert gate_reasons(project, staff) == []


def test_refused_gate_says_so_on_the_page(staff: User, project: Project) -> None:
    approved_deliverable(project, Deliverable.Kind.TREND_BOARD)

    response = client_for(staff).post(
        reverse("projects:project_transition", args=[project.pk]),
        {"name": "enter_conceptualisation", "state": "involve"},
        follow=True,
    )

    project.refresh_from_db()
    assert project.state == "involve"
    assert "Le cahier des charges n&#x27;a pas encore été émis." in response.content.decode()
    assert not ProjectTransition.objects.exists()


# Who may do what ----------------------------------------------------------------------------

SPEC_PAGES = [
    ("get", "projects:specification_edit", False),
    ("get", "projects:specification_preview", False),
    ("get", "projects:specification_version_file", True),
    ("get", "projects:project_sheet", False),
    ("get", "projects:project_detail", False),
    ("post", "projects:specification_issue", False),
]
MAY = {
    "staff": {name for _m, name, _v in SPEC_PAGES},
    "designer": {
        "projects:specification_edit",
        "projects:specification_preview",
        "projects:specification_version_file",
        "projects:project_sheet",
        "projects:project_detail",
    },
    "officer": {
        "projects:specification_version_file",
        "projects:project_sheet",
        "projects:project_detail",
    },
    "holder_account": {
        "projects:specification_version_file",
        "projects:project_sheet",
        "projects:project_detail",
    },
    "other_designer": set(),
    "other_holder": set(),
}


@pytest.mark.parametrize("role", list(MAY))
@pytest.mark.parametrize(("method", "url_name", "versioned"), SPEC_PAGES)
def test_role_matrix(
    role: str,
    method: str,
    url_name: str,
    versioned: bool,
    personas: dict[str, User],
    holder_account: User,
    project: Project,
) -> None:
    users = {
        **personas,
        "holder_account": holder_account,
        "other_designer": UserFactory(role=Role.DESIGNER),
        "other_holder": personas["holder"],
    }
    write(project, **FULL)
    issued_specification(project)
    args = [project.pk, 1] if versioned else [project.pk]

    response = getattr(client_for(users[role]), method)(reverse(url_name, args=args))

    # The preview answers with the page of the job rendering it.
    answer = 302 if method == "post" or url_name == "projects:specification_preview" else 200
    expected = answer if url_name in MAY[role] else 404
    assert response.status_code == expected
    if expected == 404 and url_name == "projects:specification_issue":
        assert SpecificationVersion.objects.count() == 1


# The project sheet ----------------------------------------------------------------------------


def test_project_sheet(officer: User, project: Project, designer: User) -> None:
    response = client_for(officer).get(reverse("projects:project_sheet", args=[project.pk]))

    data = body(response)
    reader = PdfReader(io.BytesIO(data))
    text = pdf_text(data)
    assert response.status_code == 200
    assert 1 <= len(reader.pages) <= 2
    assert "Fiche projet" in text
    assert "Hôtel dans les corons" in text
    assert "Impliquer" in text  # the current step
    assert str(designer.get_full_name() or designer.username) in text
    assert "120 000,00 €" in text
    assert f'filename="{project.reference}-fiche-projet.pdf"' in response["Content-Disposition"]


def test_project_form_links_holder_accounts(staff: User, project: Project) -> None:
    newcomer = UserFactory(role=Role.HOLDER, username="nouveau-porteur")
    form = client_for(staff).get(reverse("projects:project_edit", args=[project.pk]))
    assert "Comptes du porteur" in form.content.decode()

    actions.save_project(
        project=project,
        by=staff,
        thematics=[],
        designers=[],
        lead=None,
        holder_accounts=[newcomer],
    )

    assert project.is_holder_account(newcomer)
    assert Project.objects.visible_to(newcomer).get() == project


# Issuing runs in the worker -------------------------------------------------------------------


def test_issuing_queues_a_job_that_makes_one_version(
    staff: User, project: Project, settings
) -> None:
    from crm import jobs
    from crm.models import Job

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    write(project, **FULL)
    client = client_for(staff)

    response = client.post(
        reverse("projects:specification_issue", args=[project.pk]), {"confirm": "1"}
    )

    job = Job.objects.get()
    assert response["Location"] == job.get_absolute_url()
    assert job.label == f"{project.reference} : émission de la version 1 du cahier des charges"
    assert not SpecificationVersion.objects.exists()  # the request rendered nothing
    jobs.run(str(job.pk))
    jobs.run(str(job.pk))  # delivered twice: done once
    job.refresh_from_db()
    assert job.status == "done"
    assert job.message.startswith("Version 1 du cahier des charges émise (")
    assert job.result_url == reverse("projects:specification_edit", args=[project.pk])
    page = client.get(job.get_absolute_url()).content.decode()
    assert "Voir le résultat" in page and "Télécharger" not in page
    # A second job for the same text (a worker that died after recording the version and
    # was run again) issues nothing more.
    again = jobs.start(
        kind="specification_issue",
        owner=staff,
        label="Encore",
        params={"project": project.pk, "language": "fr"},
    )
    jobs.run(str(again.pk))
    again.refresh_from_db()
    assert again.message == "La version 1 dit déjà exactement cela : aucune nouvelle version émise."
    assert SpecificationVersion.objects.count() == 1


@pytest.mark.parametrize("same_text", [True, False])
def test_an_issue_overtaken_while_it_renders_follows_the_other(
    staff: User, project: Project, monkeypatch, same_text: bool
) -> None:
    """The PDF renders with no lock held: if another issue recorded a version meanwhile, the
    same text issues nothing, another text is rendered again under the next number."""
    from projects import pdf

    write(project, **FULL)
    real = pdf.render_specification
    numbers: list[int] = []

    def rendering(content, **options):
        numbers.append(options["number"])
        if len(numbers) == 1:
            SpecificationVersion.objects.create(
                specification=project.specification,
                number=1,
                file="specifications/other.pdf",
                sha256="0" * 64,
                size=1,
                page_count=1,
                language="fr",
                content=content if same_text else {**content, "objectives": "Autre."},
                issued_by=staff,
            )
        return real(content, **options)

    monkeypatch.setattr(pdf, "render_specification", rendering)

    if same_text:
        with pytest.raises(actions.NothingToIssue):
            actions.issue_specification(project=project, by=staff, language="fr")
        assert numbers == [1]
        assert SpecificationVersion.objects.count() == 1
    else:
        version = actions.issue_specification(project=project, by=staff, language="fr")
        assert numbers == [1, 2]
        assert version.number == 2
        assert "Version 2" in pdf_text(version.file.read())


# Issuing asks first, and refuses while a required section is empty ---------------------------


def test_issuing_asks_for_confirmation_first(staff: User, project: Project) -> None:
    write(project, **FULL)
    client = client_for(staff)
    page = client.get(reverse("projects:specification_edit", args=[project.pk])).content.decode()
    assert "Oui, émettre la version 1" in page
    assert 'name="confirm" value="1"' in page

    response = client.post(reverse("projects:specification_issue", args=[project.pk]), follow=True)

    assert "Rien n'est émis sans votre confirmation" in html.unescape(response.content.decode())
    assert not SpecificationVersion.objects.exists()


def test_issuing_with_empty_required_sections_says_which(staff: User, project: Project) -> None:
    write(project, **{**FULL, "context": "", "objectives": "  "})
    client = client_for(staff)
    page = client.get(reverse("projects:specification_edit", args=[project.pk])).content.decode()
    assert "Oui, émettre" not in page
    assert "Avant d'émettre, rédigez les sections" in html.unescape(page)

    response = client.post(
        reverse("projects:specification_issue", args=[project.pk]), {"confirm": "1"}, follow=True
    )

    text = html.unescape(response.content.decode())
    assert "Rien n'est émis tant que les sections « contexte et porteur » et « objectifs »" in text
    assert not SpecificationVersion.objects.exists()


def test_the_action_refuses_an_incomplete_specification_too(staff: User, project) -> None:
    write(project, **{**FULL, "objectives": ""})
    with pytest.raises(actions.SpecificationIncomplete) as refused:
        actions.issue_specification(project=project, by=staff, language="fr")
    assert refused.value.sections == ["objectifs"]
    assert "« objectifs » est vide" in refused.value.message
    assert not SpecificationVersion.objects.exists()
