"""An import in progress is kept in the database, not the session: it survives logging out,
shows in its starter's work queue ("À faire") until applied or discarded, is nobody else's,
and goes with its workbook when discarded or purged."""

from __future__ import annotations

import io
from datetime import timedelta
from unittest import mock

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from crm import jobs
from crm.models import Job, Organisation, Role, StagedImport, User
from tests.crm.test_imports import ORGANISATIONS, run_import, start, token_of, workbook
from tests.factories import TerritoryFactory, UserFactory
from tests.helpers import client_for

pytestmark = [pytest.mark.django_db, pytest.mark.storage]

DATABASE_QUEUE = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


@pytest.fixture(autouse=True)
def lens(db: None):
    return TerritoryFactory(name="Lens-Liévin", slug="lens-lievin")


def todo_of(client: Client) -> str:
    page = client.get(reverse("crm:dashboard")).content.decode()
    return page.split('id="todo-title"')[1].split("</section>")[0]


def test_an_import_started_waits_in_the_queue_and_resumes_after_logging_out(staff: User) -> None:
    client = client_for(staff)
    token = token_of(start(client, workbook(ORGANISATIONS), name="structures.xlsx"))

    # Uploaded, columns not confirmed yet: the queue leads back to the columns.
    todo = todo_of(client)
    assert "Import « structures.xlsx » commencé, pas appliqué" in todo
    assert "À terminer" in todo
    assert f'href="{reverse("crm:import_map", args=[token])}"' in todo

    token, _preview = run_import(client, workbook(ORGANISATIONS))
    client.logout()
    again = Client()  # another browser, a new session
    again.force_login(staff)

    todo = todo_of(again)
    preview = reverse("crm:import_preview", args=[token])
    assert f'href="{preview}"' in todo  # columns confirmed: back to the dry run
    resumed = again.get(preview)
    assert resumed.status_code == 200
    assert resumed.context["plan"].created == 2
    applied = again.post(reverse("crm:import_apply", args=[token]), follow=True)
    assert "2 créé(s)" in applied.content.decode()
    assert Organisation.objects.count() == 2


def test_the_queue_lists_the_oldest_first_and_only_the_persons_own(staff: User) -> None:
    other = UserFactory(username="autre-mission", role=Role.STAFF)
    client = client_for(staff)
    token_of(start(client, workbook(ORGANISATIONS), name="premier.xlsx"))
    second = token_of(start(client, workbook(ORGANISATIONS), name="second.xlsx"))
    StagedImport.objects.filter(pk=second).update(created_at=timezone.now() - timedelta(days=2))
    token_of(start(client_for(other), workbook(ORGANISATIONS), name="celui-d-un-autre.xlsx"))

    todo = todo_of(client)

    assert todo.index("second.xlsx") < todo.index("premier.xlsx")
    assert "depuis 2" in todo
    assert "celui-d-un-autre.xlsx" not in todo


@pytest.mark.parametrize("who", ["other_staff", "officer", "designer", "holder"])
def test_someone_elses_import_is_404_on_every_step(
    who: str, staff: User, personas: dict[str, User]
) -> None:
    token, _preview = run_import(client_for(staff), workbook(ORGANISATIONS))
    person = UserFactory(role=Role.STAFF) if who == "other_staff" else personas[who]
    client = client_for(person)

    for name in ["import_map", "import_preview", "import_errors", "import_rows_to_fix"]:
        assert client.get(reverse(f"crm:{name}", args=[token])).status_code == 404, name
    for name in ["import_map", "import_apply", "import_discard"]:
        assert client.post(reverse(f"crm:{name}", args=[token])).status_code == 404, name
    staged = StagedImport.objects.get()
    assert (staged.applied_at, staged.job, staged.mapping != {}) == (None, None, True)
    assert default_storage.exists(staged.stored_name)
    assert not Job.objects.exists()


def test_a_token_that_is_not_one_is_404(staff: User) -> None:
    client = client_for(staff)

    for token in ["token", "0" * 32, "../../etc"]:
        assert client.get(f"/imports/{token}/preview/").status_code == 404


def test_discarding_deletes_the_workbook_and_the_import(
    staff: User, django_capture_on_commit_callbacks
) -> None:
    client = client_for(staff)
    token, preview = run_import(client, workbook(ORGANISATIONS))
    name = StagedImport.objects.get().stored_name
    assert "Abandonner cet import" in preview.content.decode()
    assert 'action="{}"'.format(reverse("crm:import_discard", args=[token])) in (
        preview.content.decode()
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("crm:import_discard", args=[token]), follow=True)

    assert response.redirect_chain[-1][0] == reverse("crm:import_start") + "?kind=organisations"
    assert "Import « liste.xlsx » abandonné : le classeur déposé est effacé." in (
        response.content.decode()
    )
    assert not StagedImport.objects.exists()
    assert not default_storage.exists(name)
    assert "liste.xlsx" not in todo_of(client)
    assert client.get(reverse("crm:import_preview", args=[token])).status_code == 404
    assert not Organisation.objects.exists()


def test_the_columns_page_offers_to_discard_too(staff: User) -> None:
    client = client_for(staff)
    token = token_of(start(client, workbook(ORGANISATIONS)))

    page = client.get(reverse("crm:import_map", args=[token])).content.decode()

    assert 'form="import-discard"' in page
    assert 'id="import-discard"' in page
    assert client.post(reverse("crm:import_discard", args=[token])).status_code == 302
    assert not StagedImport.objects.exists()


def test_an_applied_import_leaves_the_queue_and_its_pages_lead_to_its_job(staff: User) -> None:
    client = client_for(staff)
    token, _preview = run_import(client, workbook(ORGANISATIONS))

    client.post(reverse("crm:import_apply", args=[token]))

    staged = StagedImport.objects.select_related("job").get()
    assert staged.applied_at is not None
    assert staged.job == Job.objects.get() and staged.job.status == "done"
    assert staged.stored_name == ""  # its workbook is deleted
    assert "liste.xlsx" not in todo_of(client)
    for name in ["import_preview", "import_map"]:
        again = client.get(reverse(f"crm:{name}", args=[token]), follow=True)
        assert again.redirect_chain[-1][0] == staged.job.get_absolute_url()
        assert "L&#x27;import « liste.xlsx » est déjà appliqué." in again.content.decode()
    # Applying again starts no second job.
    assert client.post(reverse("crm:import_apply", args=[token]))["Location"] == (
        staged.job.get_absolute_url()
    )
    assert Job.objects.count() == 1 and Organisation.objects.count() == 2


def test_a_failed_apply_leaves_the_import_in_the_queue(staff: User) -> None:
    client = client_for(staff)
    rows = [ORGANISATIONS[0], ["Sans type", "Licorne", "", "Lens", "Lens-Liévin", ""]]
    token, _preview = run_import(client, workbook(rows))

    client.post(reverse("crm:import_apply", args=[token]))

    staged = StagedImport.objects.select_related("job").get()
    assert staged.job is not None and staged.job.status == "failed"
    assert staged.applied_at is None and default_storage.exists(staged.stored_name)
    todo = todo_of(client)
    assert "Import « liste.xlsx » : l&#x27;application a échoué, à reprendre" in todo
    assert f'href="{reverse("crm:import_preview", args=[token])}"' in todo
    assert client.get(reverse("crm:import_preview", args=[token])).status_code == 200


def test_an_import_being_applied_is_not_listed_and_cannot_be_discarded(
    staff: User, settings
) -> None:
    settings.TASKS = DATABASE_QUEUE
    client = client_for(staff)
    token, _preview = run_import(client, workbook(ORGANISATIONS))

    client.post(reverse("crm:import_apply", args=[token]))

    job = Job.objects.get()
    assert job.status == "queued"
    assert "liste.xlsx" not in todo_of(client)
    refused = client.post(reverse("crm:import_discard", args=[token]), follow=True)
    assert refused.redirect_chain[-1][0] == job.get_absolute_url()
    assert "est en cours d&#x27;application" in refused.content.decode()
    assert StagedImport.objects.exists()
    jobs.run(str(job.pk))
    assert Organisation.objects.count() == 2
    assert StagedImport.objects.get().applied_at is not None


def test_a_job_run_again_does_not_apply_twice(staff: User, settings) -> None:
    settings.TASKS = DATABASE_QUEUE
    client = client_for(staff)
    token, _preview = run_import(client, workbook(ORGANISATIONS))
    client.post(reverse("crm:import_apply", args=[token]))
    job = Job.objects.get()
    jobs.run(str(job.pk))
    applied_at = StagedImport.objects.get().applied_at
    Organisation.objects.update(city="Changée depuis")

    # The task delivered once more after a crash (the job queued again) finds it applied.
    Job.objects.filter(pk=job.pk).update(status=Job.Status.QUEUED)
    jobs.run(str(job.pk))

    job.refresh_from_db()
    assert job.status == "done"
    assert "déjà appliqué" in job.message
    assert set(Organisation.objects.values_list("city", flat=True)) == {"Changée depuis"}
    assert StagedImport.objects.get().applied_at == applied_at


def test_an_erasure_deletes_the_imports_of_the_workbooks_it_deletes(
    staff: User, django_capture_on_commit_callbacks
) -> None:
    from crm import actions
    from tests.factories import ContactFactory, OrganisationFactory

    organisation = OrganisationFactory(name="Gîtes du Terril")
    person = ContactFactory(
        organisation=organisation, first_name="Jeanne", last_name="Delacroix-Test"
    )
    client = client_for(staff)
    header = ["Organisation", "Prénom", "Nom", "E-mail"]
    named = token_of(
        start(
            client,
            workbook([header, [organisation.name, "Jeanne", "Delacroix-Test", "j@example.org"]]),
            kind="contacts",
        )
    )
    other = token_of(
        start(client, workbook([header, [organisation.name, "Paul", "Autre", "p@example.org"]]))
    )

    with django_capture_on_commit_callbacks(execute=True):
        actions.anonymise_contact(contact=person, by=staff)

    assert [staged.token for staged in StagedImport.objects.all()] == [other]
    assert not default_storage.exists(f"imports/{named}.xlsx")


@pytest.mark.usefixtures("own_storage")
def test_the_purge_deletes_untouched_imports_with_their_files(staff: User, settings) -> None:
    client = client_for(staff)
    old = token_of(start(client, workbook(ORGANISATIONS), name="ancien.xlsx"))
    fresh = token_of(start(client, workbook(ORGANISATIONS), name="recent.xlsx"))
    applied, _preview = run_import(client, workbook(ORGANISATIONS))
    client.post(reverse("crm:import_apply", args=[applied]))
    settings.TASKS = DATABASE_QUEUE
    applying, _preview = run_import(client, workbook(ORGANISATIONS))
    client.post(reverse("crm:import_apply", args=[applying]))
    a_day_and_more = timezone.now() - timedelta(hours=30)
    StagedImport.objects.exclude(pk=fresh).update(updated_at=a_day_and_more)
    loose = default_storage.save("imports/sans-import.xlsx", ContentFile(b"xlsx"))
    files_before = {f"imports/{token}.xlsx" for token in (old, fresh, applying)} | {loose}

    def modified(name: str):
        # Every workbook was written long ago; only the rows say which imports are alive.
        return a_day_and_more

    with mock.patch.object(default_storage, "get_modified_time", side_effect=modified):
        out = io.StringIO()
        call_command("purge_imports", dry_run=True, stdout=out)
        assert "2 import(s) untouched for 24 h would be deleted." in out.getvalue()
        assert "2 import file(s) older than 24 h would be deleted." in out.getvalue()
        assert all(default_storage.exists(name) for name in files_before)
        assert StagedImport.objects.count() == 4
        out = io.StringIO()
        call_command("purge_imports", stdout=out)

    assert f"deleted import {old} (ancien.xlsx, not applied)" in out.getvalue()
    assert f"deleted import {applied} (liste.xlsx, applied)" in out.getvalue()
    remaining = {staged.token for staged in StagedImport.objects.all()}
    assert remaining == {fresh, applying}
    assert not default_storage.exists(f"imports/{old}.xlsx")
    assert not default_storage.exists(loose)
    # No import left names a file that is gone.
    for staged in StagedImport.objects.all():
        assert default_storage.exists(staged.stored_name)
    assert client.get(reverse("crm:import_map", args=[old])).status_code == 404
    assert client.get(reverse("crm:import_map", args=[fresh])).status_code == 200
    assert "ancien.xlsx" not in todo_of(client) and "recent.xlsx" in todo_of(client)


def test_an_import_whose_workbook_vanished_is_forgotten_with_a_word(staff: User) -> None:
    client = client_for(staff)
    token = token_of(start(client, workbook(ORGANISATIONS)))
    default_storage.delete(StagedImport.objects.get().stored_name)

    response = client.get(reverse("crm:import_map", args=[token]), follow=True)

    assert response.redirect_chain[-1][0] == reverse("crm:import_start")
    assert "n&#x27;est plus là : déposez-le à nouveau." in response.content.decode()
    assert not StagedImport.objects.exists()
