"""PDFs that take seconds are rendered by the worker: the specification preview always, the
project and site sheets when they embed many images. Small sheets answer at once."""

from __future__ import annotations

import io

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from PIL import Image
from pypdf import PdfReader
from pytest_django.fixtures import Settings as SettingsWrapper

from crm import jobs
from crm.models import Job, Role, User
from projects.models import Deliverable, Project, ProjectMember
from prospects.models import SitePhoto
from tests.factories import ProjectFactory, SiteFactory, UserFactory, approved_deliverable
from tests.helpers import client_for

pytestmark = [pytest.mark.django_db, pytest.mark.storage]

DATABASE_QUEUE = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


@pytest.fixture
def project(designer: User) -> Project:
    return ProjectFactory(title="Hôtel dans les corons", state="listen", designers=[designer])


def jpeg() -> ContentFile:
    out = io.BytesIO()
    Image.new("RGB", (480, 320), "teal").save(out, "JPEG")
    return ContentFile(out.getvalue())


def with_images(project: Project, count: int) -> None:
    """`count` approved image deliverables with their thumbnails, as the sheet shows them."""
    for _n in range(count):
        version = approved_deliverable(project, Deliverable.Kind.PLAN).versions.get()
        version.content_type = "image/jpeg"
        version.thumbnail.save("vignette.jpg", jpeg(), save=False)
        version.save()


def download(client, job: Job) -> bytes:
    response = client.get(reverse("crm:job_download", args=[job.pk]))
    assert response.status_code == 200
    return b"".join(response.streaming_content)


def test_the_preview_is_a_job_whose_page_counts_the_pages(designer: User, project: Project) -> None:
    client = client_for(designer)

    response = client.get(reverse("projects:specification_preview", args=[project.pk]))

    job = Job.objects.get()
    assert response.status_code == 302
    assert response["Location"] == job.get_absolute_url()
    assert "aperçu du cahier des charges" in job.label
    data = download(client, job)
    pages = len(PdfReader(io.BytesIO(data)).pages)
    assert job.done == job.total == pages
    assert f"{pages} sur {pages} pages" in client.get(job.get_absolute_url()).content.decode()
    assert job in Job.objects.of(designer).listed()


def test_a_preview_queued_then_made_too_long_fails_in_words(
    staff: User, project: Project, settings: SettingsWrapper
) -> None:
    settings.TASKS = DATABASE_QUEUE
    client = client_for(staff)
    client.get(reverse("projects:specification_preview", args=[project.pk]))
    job = Job.objects.get()
    assert job.status == Job.Status.QUEUED
    specification = project.specification
    specification.objectives = "Atelier\n" * 400  # saved meanwhile, e.g. through the admin
    specification.save()

    jobs.run(str(job.pk))

    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert "Trop long pour être mis en page" in job.error
    assert job.result_url == reverse("projects:specification_edit", args=[project.pk])
    page = client.get(job.get_absolute_url()).content.decode()
    assert "Trop long pour être mis en page" in page
    assert not job.file


def test_a_designer_taken_off_the_team_loses_the_preview(
    designer: User, project: Project, settings: SettingsWrapper
) -> None:
    client = client_for(designer)
    client.get(reverse("projects:specification_preview", args=[project.pk]))
    done = Job.objects.get()
    settings.TASKS = DATABASE_QUEUE
    client.get(reverse("projects:specification_preview", args=[project.pk]))
    queued = Job.objects.exclude(pk=done.pk).get()

    ProjectMember.objects.filter(project=project, user=designer).delete()
    jobs.run(str(queued.pk))

    assert client.get(reverse("crm:job_download", args=[done.pk])).status_code == 404
    queued.refresh_from_db()
    assert queued.status == Job.Status.FAILED
    assert "plus accès" in queued.error
    assert (
        client.get(reverse("projects:specification_preview", args=[project.pk])).status_code == 404
    )


def test_a_small_project_sheet_answers_at_once(officer: User, project: Project, settings) -> None:
    with_images(project, settings.SHEET_SYNC_MAX_IMAGES)

    response = client_for(officer).get(reverse("projects:project_sheet", args=[project.pk]))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert not Job.objects.exists()


def test_a_project_sheet_with_many_images_is_a_job(
    officer: User, project: Project, settings
) -> None:
    with_images(project, settings.SHEET_SYNC_MAX_IMAGES + 1)
    client = client_for(officer)

    response = client.get(reverse("projects:project_sheet", args=[project.pk]))

    job = Job.objects.get()
    assert response.status_code == 302
    assert response["Location"] == job.get_absolute_url()
    assert (job.kind, job.status) == ("project_sheet", Job.Status.DONE)
    data = download(client, job)
    reader = PdfReader(io.BytesIO(data))
    assert job.done == job.total == len(reader.pages)
    assert "Hôtel dans les corons" in " ".join(page.extract_text() for page in reader.pages)
    assert job.filename == f"{project.reference}-fiche-projet.pdf"
    outsider = client_for(UserFactory(username="designer-off", role=Role.DESIGNER))
    assert outsider.get(reverse("projects:project_sheet", args=[project.pk])).status_code == 404
    assert outsider.get(reverse("crm:job_download", args=[job.pk])).status_code == 404


def photo(site, *, thumbnail: bool) -> SitePhoto:
    result = SitePhoto(site=site, content_type="image/jpeg", uploaded_by=UserFactory())
    result.image.save("photo.jpg", jpeg(), save=False)
    if thumbnail:
        result.thumbnail.save("vignette.jpg", jpeg(), save=False)
    result.save()
    return result


def test_a_site_sheet_with_few_ready_photos_answers_at_once(officer: User) -> None:
    site = SiteFactory(name="9-9bis")
    photo(site, thumbnail=True)

    response = client_for(officer).get(reverse("prospects:site_sheet", args=[site.pk]))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert not Job.objects.exists()


@pytest.mark.parametrize("why", ["many photos", "an original without its thumbnail"])
def test_a_heavy_site_sheet_is_a_job(officer: User, designer: User, settings, why: str) -> None:
    site = SiteFactory(name="9-9bis")
    if why == "many photos":
        for _n in range(settings.SHEET_SYNC_MAX_IMAGES + 1):
            photo(site, thumbnail=True)
    else:
        photo(site, thumbnail=False)
    client = client_for(officer)

    response = client.get(reverse("prospects:site_sheet", args=[site.pk]), {"language": "en"})

    job = Job.objects.get()
    assert response.status_code == 302
    assert (job.kind, job.status, job.params["sheet"]) == ("site_sheet", "done", "en")
    assert job.filename == "9-9bis-en.pdf"
    assert download(client, job).startswith(b"%PDF")
    assert (
        client_for(designer).get(reverse("prospects:site_sheet", args=[site.pk])).status_code == 404
    )


@pytest.fixture
def stages(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int, int | None]]:
    """What the running jobs record, step by step (each also written to the job's row)."""
    heard: list[tuple[str, int, int | None]] = []
    record = jobs.Progress.stage

    def spy(self: jobs.Progress, unit: str, done: int, total: int | None) -> None:
        record(self, unit, done, total)
        row = Job.objects.get(pk=self.job.pk)
        heard.append((row.unit, row.done, row.total))

    monkeypatch.setattr(jobs.Progress, "stage", spy)
    return heard


def test_a_project_sheet_job_counts_its_images_then_its_pages(
    officer: User, project: Project, settings, stages: list
) -> None:
    count = settings.SHEET_SYNC_MAX_IMAGES + 1
    with_images(project, count)
    client = client_for(officer)

    client.get(reverse("projects:project_sheet", args=[project.pk]))

    job = Job.objects.get()
    pages = len(PdfReader(io.BytesIO(download(client, job))).pages)
    assert stages[: count + 1] == [("images chargées", n, count) for n in range(count + 1)]
    assert ("pages mises en page", 1, None) in stages
    assert stages[-(pages + 1) :] == [("pages produites", n, pages) for n in range(pages + 1)]
    assert (job.unit, job.done, job.total) == ("pages produites", pages, pages)
    assert (
        f"{pages} sur {pages} pages produites"
        in client.get(job.get_absolute_url()).content.decode()
    )


def test_a_site_sheet_job_counts_its_photos_then_its_page(
    officer: User, settings, stages: list
) -> None:
    site = SiteFactory(name="9-9bis")
    for _n in range(settings.SHEET_SYNC_MAX_IMAGES + 1):
        photo(site, thumbnail=True)
    client = client_for(officer)

    client.get(reverse("prospects:site_sheet", args=[site.pk]), {"language": "en"})

    job = Job.objects.get()
    photos = settings.SHEET_SYNC_MAX_IMAGES + 1
    # Counted in the officer's words, though the sheet is in English.
    assert stages[: photos + 1] == [("images chargées", n, photos) for n in range(photos + 1)]
    assert stages[-2:] == [("pages produites", 0, 1), ("pages produites", 1, 1)]
    assert (job.unit, job.done, job.total) == ("pages produites", 1, 1)
    assert "1 sur 1 pages produites" in client.get(job.get_absolute_url()).content.decode()
    assert job.filename == "9-9bis-en.pdf"


def test_the_preview_counts_the_pages_laid_out_before_it_knows_how_many(
    designer: User, project: Project, stages: list
) -> None:
    client = client_for(designer)

    client.get(reverse("projects:specification_preview", args=[project.pk]))

    job = Job.objects.get()
    laid_out = [done for unit, done, total in stages if unit == "pages mises en page"]
    assert laid_out == list(range(1, job.total + 1))
    assert all(total is None for unit, _done, total in stages if unit == "pages mises en page")
    assert (job.unit, job.done) == ("pages produites", job.total)
