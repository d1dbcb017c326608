"""seed_demo's projects: the mission's real projects, at their steps, with a believable history."""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from PIL import Image
from pypdf import PdfReader

from crm.demo import Outcome, SeedReport
from crm.models import Event, Notification, User
from projects.demo import PROJECTS_FIXTURE, seed_projects
from projects.models import (
    Deliverable,
    DeliverableVersion,
    FundingLine,
    Project,
    ProjectMember,
    ProjectTransition,
    SpecificationVersion,
)

pytestmark = pytest.mark.django_db

# Written out by hand from the brief (DESIGN §7), not read from the fixture under test.
EXPECTED_STEPS = {
    "Hôtel 4 étoiles dans d'anciens corons": "steer",
    "Aménagement des gîtes de la Cité des Électriciens": "delivered",
    "Maison d'hôtes dans une ancienne caserne": "listen",
    "Terrasse et signalétique de la ferme": "experiment",
    "Produits « Made in local » de la marque ALL": "create",
    "Fêtes de la Sainte-Barbe : un temps fort événementiel": "intake",
    "Rénovation de l'office de tourisme de Lens-Liévin": "involve",
    "Aménagement de l'office de tourisme Cœur d'Ostrevent": "evaluate",
    "Co-branding pour le marché japonais": "orient",
    "Hébergement, restauration et camping du parc d'Olhain": "implement",
    "Les « Repas noirs » du carnet culinaire": "impulse",
    "Vestiaire de l'Arena Trail à Noyelles-sous-Lens": "suspended",
}
# What each gate needs (DESIGN §3), again by hand.
GATE_KINDS = {
    "enter_conceptualisation": {Deliverable.Kind.TREND_BOARD},
    "enter_implementation": {Deliverable.Kind.IDEA_NOTEBOOK, Deliverable.Kind.CONCEPT_SKETCH},
    "deliver": {Deliverable.Kind.EVALUATION_REPORT},
}
COUNTED = [Project, ProjectTransition, Deliverable, DeliverableVersion, ProjectMember, FundingLine]


@pytest.fixture(autouse=True)
def development(settings) -> None:
    # pytest-django runs with DEBUG off; seed_demo is a development command.
    settings.DEBUG = True


def digest(version: DeliverableVersion) -> str:
    with version.file.open("rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_the_real_projects_are_created_at_their_steps() -> None:
    seed()

    projects = {project.title: project for project in Project.objects.all()}
    assert {title: project.state for title, project in projects.items()} == EXPECTED_STEPS
    staff = User.objects.get(username="staff")
    for project in projects.values():
        assert re.fullmatch(r"DS-20\d\d-\d{3}", project.reference), project.reference
        assert project.is_demo
        assert project.need
        assert project.funding_lines.exists(), project
        assert project.memberships.filter(user=staff, role=ProjectMember.Role.LEAD).exists()
        if project.holder_contact is not None:
            assert project.holder_contact.organisation_id == project.holder_id
    suspended = projects["Vestiaire de l'Arena Trail à Noyelles-sous-Lens"]
    assert suspended.suspended_from == "create"
    assert projects["Produits « Made in local » de la marque ALL"].holder.name == (
        "Mission Autour du Louvre-Lens"
    )
    # Some open projects are late, so the dashboard and the board have something to flag.
    assert Project.objects.overdue().count() >= 2


def test_each_transition_log_is_a_consistent_chain() -> None:
    seed()
    now = timezone.now()

    for project in Project.objects.all():
        logs = list(project.transitions.order_by("at", "pk"))
        if project.state == "intake":
            assert logs == []
            continue
        assert logs[0].source == "intake", project
        for before, after in itertools.pairwise(logs):
            assert before.target == after.source, project
            assert before.at < after.at, project
        assert logs[-1].target == project.state, project
        assert project.created_at <= logs[0].at <= now
        assert project.start_date == timezone.localdate(logs[0].at)
    # The demo shows more than the happy path: a rework with its reason, a suspension.
    rework = ProjectTransition.objects.get(name="rework")
    assert rework.comment
    assert ProjectTransition.objects.filter(name="suspend").exists()


def test_gates_were_passed_only_with_approved_deliverables() -> None:
    seed()

    gates = ProjectTransition.objects.filter(name__in=GATE_KINDS)
    assert set(gates.values_list("name", flat=True)) == set(GATE_KINDS)
    for gate in gates:
        approved_before = DeliverableVersion.objects.filter(
            deliverable__project=gate.project_id,
            deliverable__kind__in=GATE_KINDS[gate.name],
            review_state=DeliverableVersion.Review.APPROVED,
            reviewed_at__lte=gate.at,
        )
        assert approved_before.exists(), (gate.project, gate.name)


def test_reviews_show_every_state() -> None:
    seed()

    states = set(DeliverableVersion.objects.values_list("review_state", flat=True))
    assert states == set(DeliverableVersion.Review.values)
    for version in DeliverableVersion.objects.exclude(review_state="submitted"):
        assert version.reviewed_by.username == "staff"
        assert version.uploaded_at <= version.reviewed_at
    asked = DeliverableVersion.objects.filter(review_state="changes_requested")
    assert all(version.review_comment for version in asked)


def test_running_twice_changes_nothing() -> None:
    seed()
    counts = {model: model._default_manager.count() for model in COUNTED}
    projects = list(Project.objects.order_by("pk").values())

    output = seed()

    assert {model: model._default_manager.count() for model in COUNTED} == counts
    assert list(Project.objects.order_by("pk").values()) == projects
    assert "Projects demo data:" in output
    assert output.count("nothing new: already loaded") == 3  # CRM, projects, prospects


def test_a_changed_file_updates_the_project_without_replaying_its_history(tmp_path) -> None:
    seed()
    counts = {model: model._default_manager.count() for model in COUNTED}
    data = json.loads(PROJECTS_FIXTURE.read_text(encoding="utf-8"))
    row = next(r for r in data["projects"] if r["title"].startswith("Hôtel 4 étoiles"))
    row["need"] = "Un besoin précisé après le premier comité."
    changed = tmp_path / "demo_projects.json"
    changed.write_text(json.dumps(data), encoding="utf-8")
    report = SeedReport(title="Projects demo data")

    seed_projects(report=report, path=changed)

    assert report.counts["projects"][Outcome.UPDATED] == 1
    assert report.counts["projects"][Outcome.UNCHANGED] == len(EXPECTED_STEPS) - 1
    hotel = Project.objects.get(title=row["title"])
    assert hotel.need == row["need"]
    assert hotel.state == "steer"
    assert {model: model._default_manager.count() for model in COUNTED} == counts


def test_a_project_entered_by_hand_is_left_alone() -> None:
    seed()
    hand_made = Project.objects.get(title="Co-branding pour le marché japonais")
    Project.objects.filter(pk=hand_made.pk).update(is_demo=False, need="Saisi à la main.")
    report = SeedReport(title="Projects demo data")

    seed_projects(report=report)

    assert report.counts["projects"][Outcome.KEPT] == 1
    assert Project.objects.get(pk=hand_made.pk).need == "Saisi à la main."


def test_the_demo_designer_is_on_several_projects() -> None:
    seed()
    designer = User.objects.get(username="designer")

    on = Project.objects.filter(
        memberships__user=designer, memberships__role=ProjectMember.Role.DESIGNER
    )
    assert on.count() >= 5
    # ...but not on all of them, so the designer's restricted view shows.
    assert Project.objects.visible_to(designer).count() < Project.objects.count()
    assert not Project.objects.visible_to(User.objects.get(username="designer2")).exists()


def test_files_are_real_images_with_thumbnails_and_real_pdfs() -> None:
    seed()

    images = [version for version in DeliverableVersion.objects.all() if version.is_image]
    pdfs = DeliverableVersion.objects.filter(content_type="application/pdf")
    assert images
    assert pdfs.exists()
    for version in images:
        assert (version.width, version.height) == (1200, 800)
        assert version.thumbnail.name, version
        with version.thumbnail.open("rb") as handle:
            thumbnail = Image.open(handle)
            assert max(thumbnail.size) <= 480
    # Distinct drawings, so the thumbnails on a page do not all look alike.
    assert len({digest(version) for version in images}) == len(images)
    for version in pdfs:
        with version.file.open("rb") as handle:
            text = PdfReader(handle).pages[0].extract_text()
        assert version.deliverable.title in text


def test_the_demo_designer_has_a_deliverable_to_upload_and_a_step_to_move() -> None:
    from crm.workqueue import items_for

    seed()
    designer = User.objects.get(username="designer")

    texts = [item.text for item in items_for(designer)]

    expected = [text for text in texts if text.startswith("Livrable attendu : ")]
    steps = [text for text in texts if text.startswith("Étape à faire avancer : ")]
    assert len(expected) == len(steps) == 1
    assert expected[0].startswith("Livrable attendu : Carnet d'idées — ")
    assert expected[0].endswith("Hôtel 4 étoiles dans d'anciens corons")
    assert steps[0].startswith("Étape à faire avancer : Impulser → Impliquer — ")
    assert steps[0].endswith("Les « Repas noirs » du carnet culinaire")


def test_notifications_are_dated_when_what_they_tell_of_happened() -> None:
    loading = timezone.now()
    seed()
    events = Event.objects.filter(record_type="projects.Project")
    told: dict[str, list] = {}
    for event in events:
        told.setdefault(event.kind, []).append(event)

    # Each kind the demo's history makes, at the time of the record it is about (nobody is
    # told of what they did themselves: not every upload or review has its event).
    assert told["version_submitted"]
    for event in told["version_submitted"]:
        version = DeliverableVersion.objects.get(
            deliverable__project_id=event.record_id,
            deliverable__title=event.params["deliverable"],
            number=event.params["number"],
        )
        assert event.created_at == version.uploaded_at
    for event in told["version_approved"] + told["version_changes_requested"]:
        version = DeliverableVersion.objects.get(
            deliverable__project_id=event.record_id,
            deliverable__title=event.params["deliverable"],
            number=event.params["number"],
        )
        assert event.created_at == version.reviewed_at
    assert told["specification_issued"]
    for event in told["specification_issued"]:
        issued = SpecificationVersion.objects.get(
            specification__project_id=event.record_id, number=event.params["number"]
        )
        assert event.created_at == issued.issued_at
    assert told["project_moved"]
    for event in told["project_moved"]:
        transitions = ProjectTransition.objects.filter(
            project_id=event.record_id, source=event.params["source"], target=event.params["target"]
        )
        assert event.created_at in {transition.at for transition in transitions}
    # The bell and its page read the notifications' own time: the same, days before the load.
    notes = Notification.objects.filter(event__in=events).select_related("event")
    assert notes.exists()
    assert all(note.created_at == note.event.created_at < loading for note in notes)
    assert any(note.created_at < loading - timedelta(days=7) for note in notes)
