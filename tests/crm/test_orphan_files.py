"""Stored uploads that no record points to are deleted by `purge_orphan_files`."""

from __future__ import annotations

import io
from datetime import timedelta
from unittest import mock

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.utils import timezone

from projects.models import DeliverableVersion
from tests.factories import OrganisationFactory, ProjectFactory, approved_deliverable

pytestmark = [pytest.mark.django_db, pytest.mark.storage, pytest.mark.usefixtures("own_storage")]


@pytest.fixture
def stored() -> dict[str, str]:
    """Files in every upload folder, each with an age: some recorded, some left behind."""
    version = approved_deliverable(ProjectFactory(), "trend_board").versions.get()
    version.thumbnail.save("vignette.jpg", ContentFile(b"jpeg"), save=True)
    organisation = OrganisationFactory()
    organisation.logo.save("logo.png", ContentFile(b"png"), save=True)
    return {
        "recorded": version.file.name,
        "recorded_thumbnail": version.thumbnail.name,
        "recorded_logo": organisation.logo.name,
        "orphan": default_storage.save("deliverables/perdu.pdf", ContentFile(b"x" * 2048)),
        "orphan_thumbnail": default_storage.save(
            "deliverables/thumbnails/perdu.jpg", ContentFile(b"jpeg")
        ),
        "orphan_photo": default_storage.save("sites/perdu.jpg", ContentFile(b"jpeg")),
        "orphan_pdf": default_storage.save("specifications/DS-perdu.pdf", ContentFile(b"%PDF")),
        "recent_orphan": default_storage.save("deliverables/en-cours.pdf", ContentFile(b"x")),
        "import": default_storage.save("imports/abandon.xlsx", ContentFile(b"xlsx")),
        "elsewhere": default_storage.save("autre/fichier.txt", ContentFile(b"txt")),
    }


def purge(*, dry_run: bool = False, **options: object) -> str:
    """Run the command with every file two days old, except the recent orphan."""
    recent = default_storage.get_modified_time("deliverables/en-cours.pdf")

    def modified(name: str):
        if name == "deliverables/en-cours.pdf":
            return recent
        return timezone.now() - timedelta(days=2)

    out = io.StringIO()
    with mock.patch.object(default_storage, "get_modified_time", side_effect=modified):
        call_command("purge_orphan_files", dry_run=dry_run, stdout=out, **options)
    return out.getvalue()


def test_a_dry_run_lists_the_orphans_and_deletes_nothing(stored: dict[str, str]) -> None:
    output = purge(dry_run=True)

    assert "would delete deliverables/perdu.pdf (2.0\xa0KB)" in output
    assert "4 orphan file(s) older than 24 h" in output
    assert all(default_storage.exists(name) for name in stored.values())


def test_orphans_are_deleted_and_everything_else_kept(stored: dict[str, str]) -> None:
    output = purge()

    deleted = {"orphan", "orphan_thumbnail", "orphan_photo", "orphan_pdf"}
    for key, name in stored.items():
        assert default_storage.exists(name) is (key not in deleted), key
    assert "4 orphan file(s) older than 24 h" in output
    assert DeliverableVersion.objects.get().file.read() == b"%PDF-1.4"


def test_a_file_recorded_on_any_model_is_kept(stored: dict[str, str]) -> None:
    # The orphan becomes a record's file: it is no longer an orphan.
    version = DeliverableVersion.objects.get()
    version.file.name = stored["orphan"]
    version.save()

    purge()

    assert default_storage.exists(stored["orphan"])
    assert not default_storage.exists(stored["recorded"])  # that one is now the orphan


def test_hours_must_leave_time_for_an_upload_in_progress(stored: dict[str, str]) -> None:
    err = io.StringIO()

    with pytest.raises(SystemExit) as exit_:
        call_command("purge_orphan_files", hours=0, stderr=err)

    assert exit_.value.code == 2
    assert "at least 1" in err.getvalue()
    assert all(default_storage.exists(name) for name in stored.values())
