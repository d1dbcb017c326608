"""Thumbnails of uploaded images are rendered by the worker, not by the upload request: the
page shows a placeholder until they are ready, then the thumbnail, or why there is none."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from PIL import Image
from pytest_django.fixtures import Settings as SettingsWrapper

from crm import jobs
from crm.models import Role, User
from projects.models import DeliverableVersion, Project
from projects.tasks import make_version_thumbnail
from prospects.models import SitePhoto
from prospects.tasks import make_photo_thumbnail
from tests.factories import ProjectFactory, SiteFactory, UserFactory
from tests.helpers import client_for

pytestmark = [pytest.mark.django_db, pytest.mark.storage]

DATABASE_QUEUE = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
PENDING = "Vignette en préparation…"


@pytest.fixture
def queued(settings: SettingsWrapper) -> SettingsWrapper:
    """Tasks wait in the database queue, as in production, instead of running at once."""
    settings.TASKS = DATABASE_QUEUE
    return settings


@pytest.fixture
def project(designer: User) -> Project:
    return ProjectFactory(title="Hôtel dans les corons", state="listen", designers=[designer])


def jpeg(size: tuple[int, int] = (1200, 800)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, "teal").save(out, "JPEG")
    return out.getvalue()


def upload_image(client, project: Project) -> DeliverableVersion:
    response = client.post(
        reverse("projects:deliverable_upload", args=[project.pk]),
        {"kind": "plan", "title": "Plan", "file": SimpleUploadedFile("plan.jpg", jpeg())},
    )
    assert response.status_code == 302
    return DeliverableVersion.objects.get()


def slot_url(project: Project, version: DeliverableVersion) -> str:
    return reverse("projects:version_thumbnail_slot", args=[project.pk, version.pk])


def thumbnail_url(project: Project, version: DeliverableVersion) -> str:
    return reverse("projects:version_thumbnail", args=[project.pk, version.pk])


def queued_tasks(name: str) -> int:
    return DBTaskResult.objects.filter(task_path=name, status="READY").count()


def test_the_upload_queues_the_thumbnail_and_the_page_waits_for_it(
    designer: User, project: Project, queued
) -> None:
    client = client_for(designer)

    version = upload_image(client, project)

    assert not version.thumbnail  # the request did not render it
    assert queued_tasks("projects.tasks.make_version_thumbnail") == 1
    page = client.get(project.get_absolute_url()).content.decode()
    assert PENDING in page
    assert f'hx-get="{slot_url(project, version)}"' in page
    assert f'src="{thumbnail_url(project, version)}"' not in page
    assert client.get(thumbnail_url(project, version)).status_code == 404
    slot = client.get(slot_url(project, version), headers={"HX-Request": "true"})
    assert PENDING in slot.content.decode()

    make_version_thumbnail.call(version.pk)  # what the worker does

    version.refresh_from_db()
    assert version.thumbnail.name.startswith("deliverables/thumbnails/")
    shown = client.get(slot_url(project, version), headers={"HX-Request": "true"}).content.decode()
    assert f'src="{thumbnail_url(project, version)}"' in shown
    assert PENDING not in shown
    thumbnail = client.get(thumbnail_url(project, version))
    assert thumbnail["Content-Type"] == "image/jpeg"
    assert Image.open(io.BytesIO(thumbnail.getvalue())).size == (480, 320)
    assert PENDING not in client.get(project.get_absolute_url()).content.decode()


def test_a_thumbnail_rendered_twice_is_recorded_once(
    designer: User, project: Project, queued, own_storage
) -> None:
    version = upload_image(client_for(designer), project)
    storage = version.thumbnail.storage

    make_version_thumbnail.call(version.pk)
    first = DeliverableVersion.objects.get().thumbnail.name
    make_version_thumbnail.call(version.pk)

    assert DeliverableVersion.objects.get().thumbnail.name == first
    assert storage.listdir("deliverables/thumbnails")[1] == [first.rsplit("/", 1)[1]]


def test_an_image_that_cannot_be_rendered_says_so_instead_of_waiting(
    designer: User, project: Project, queued
) -> None:
    client = client_for(designer)
    version = upload_image(client, project)
    storage = version.file.storage
    storage.delete(version.file.name)
    storage.save(version.file.name, ContentFile(b"\xff\xd8\xff not a picture"))

    make_version_thumbnail.call(version.pk)

    version.refresh_from_db()
    assert not version.thumbnail
    assert version.thumbnail_error
    slot = client.get(slot_url(project, version)).content.decode()
    assert "Pas de vignette" in slot
    assert version.thumbnail_error.split(" ")[0] in slot
    assert "hx-get" not in slot  # no more polling
    page = client.get(project.get_absolute_url()).content.decode()
    assert "Pas de vignette" in page
    assert PENDING not in page
    # The file itself stays downloadable.
    file_url = reverse("projects:version_file", args=[project.pk, version.pk])
    assert client.get(file_url).status_code == 200


def test_only_those_who_see_the_project_reach_its_thumbnails(
    designer: User, project: Project, queued
) -> None:
    version = upload_image(client_for(designer), project)
    make_version_thumbnail.call(version.pk)
    outsider = client_for(UserFactory(username="designer-off", role=Role.DESIGNER))

    assert outsider.get(slot_url(project, version)).status_code == 404
    assert outsider.get(thumbnail_url(project, version)).status_code == 404
    other = ProjectFactory(designers=[UserFactory(username="designer-other", role=Role.DESIGNER)])
    wrong = reverse("projects:version_thumbnail_slot", args=[other.pk, version.pk])
    assert client_for(designer).get(wrong).status_code == 404


def test_a_review_does_not_undo_the_thumbnail_the_worker_recorded(
    designer: User, staff: User, project: Project, queued
) -> None:
    version = upload_image(client_for(designer), project)
    stale = DeliverableVersion.objects.get(pk=version.pk)  # loaded before the worker's turn
    make_version_thumbnail.call(version.pk)

    from projects import actions

    actions.review_version(version=stale, approve=True, by=staff)

    version.refresh_from_db()
    assert version.review_state == "approved"
    assert version.thumbnail


def test_a_site_photo_waits_for_its_thumbnail_too(officer: User, queued) -> None:
    site = SiteFactory(name="9-9bis")
    client = client_for(officer)
    response = client.post(
        reverse("prospects:site_photo_upload", args=[site.pk]),
        {"image": SimpleUploadedFile("chevalement.jpg", jpeg()), "caption": "Le chevalement"},
    )
    assert response.status_code == 302
    photo = SitePhoto.objects.get()
    slot = reverse("prospects:site_photo_thumbnail_slot", args=[site.pk, photo.pk])
    thumbnail = reverse("prospects:site_photo_thumbnail", args=[site.pk, photo.pk])

    assert not photo.thumbnail
    page = client.get(site.get_absolute_url()).content.decode()
    assert PENDING in page
    assert f'hx-get="{slot}"' in page

    make_photo_thumbnail.call(photo.pk)

    assert f'src="{thumbnail}"' in client.get(slot).content.decode()
    assert client.get(thumbnail)["Content-Type"] == "image/jpeg"
    assert f'src="{thumbnail}"' in client.get(site.get_absolute_url()).content.decode()


def test_recovery_queues_again_the_thumbnails_a_killed_worker_lost(
    designer: User, project: Project, queued
) -> None:
    version = upload_image(client_for(designer), project)
    DBTaskResult.objects.all().delete()  # the task was lost with its worker
    later = timezone.now() + timedelta(seconds=5)

    assert jobs.recover_thumbnails(now=later) == 0  # too recent: its task may still run
    DeliverableVersion.objects.filter(pk=version.pk).update(
        uploaded_at=timezone.now() - timedelta(hours=1)
    )
    assert jobs.recover_thumbnails() == 1
    assert queued_tasks("projects.tasks.make_version_thumbnail") == 1

    DeliverableVersion.objects.filter(pk=version.pk).update(thumbnail_error="Endommagée.")
    DBTaskResult.objects.all().delete()
    assert jobs.recover_thumbnails() == 0  # a failed one is not retried forever
