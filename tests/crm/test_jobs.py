"""Long work off the request (DESIGN §10): large exports run as jobs, followed on their page,
downloaded through a permission-checked view, run once however often they are asked to, and
picked up again after a worker is killed."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook
from pytest_django.fixtures import Settings as SettingsWrapper

from crm import jobs
from crm.models import Job, Organisation, User
from tests.factories import LeadFactory, OrganisationFactory
from tests.helpers import client_for

pytestmark = [pytest.mark.django_db, pytest.mark.storage]

DATABASE_QUEUE = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


@pytest.fixture
def small_threshold(settings: SettingsWrapper) -> SettingsWrapper:
    settings.EXPORT_SYNC_MAX_ROWS = 3
    return settings


def workbook_rows(data: bytes) -> list[tuple]:
    sheet = load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
    return list(sheet.iter_rows(values_only=True))


def body(response) -> bytes:
    return response.getvalue()


def export_as_job(client, url: str) -> Job:
    response = client.get(url)
    assert response.status_code == 302
    job = Job.objects.get()
    assert response["Location"] == job.get_absolute_url()
    return job


def test_a_small_export_answers_at_once(staff: User, small_threshold) -> None:
    OrganisationFactory.create_batch(3)

    response = client_for(staff).get(reverse("crm:organisation_export"))

    assert response.status_code == 200
    assert len(workbook_rows(body(response))) == 4
    assert not Job.objects.exists()


def test_a_large_export_is_a_job_with_exactly_the_filtered_rows(
    staff: User, small_threshold
) -> None:
    for n in range(5):
        OrganisationFactory(name=f"Gîtes du terril {n}")
    OrganisationFactory.create_batch(2, name="Brasserie")
    client = client_for(staff)

    job = export_as_job(client, reverse("crm:organisation_export") + "?q=terril")

    job.refresh_from_db()
    assert (job.status, job.done, job.total, job.unit) == ("done", 5, 5, "lignes")
    assert job.label == "Export des organisations : 5 lignes"
    page = client.get(job.get_absolute_url()).content.decode()
    assert "Terminé" in page and "Télécharger organisations-" in page
    assert "every 1s" not in page  # finished: the page stops asking
    download = client.get(reverse("crm:job_download", args=[job.pk]))
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment")
    rows = workbook_rows(body(download))
    assert len(rows) == 6
    assert {row[0] for row in rows[1:]} == {f"Gîtes du terril {n}" for n in range(5)}
    listed = client.get(reverse("crm:job_list")).content.decode()
    assert "Export des organisations : 5 lignes" in listed


@pytest.mark.parametrize("name", ["crm:job_detail", "crm:job_download", "crm:job_retry"])
def test_someone_elses_job_does_not_exist(
    name: str, staff: User, officer: User, small_threshold
) -> None:
    OrganisationFactory.create_batch(4)
    job = export_as_job(client_for(staff), reverse("crm:organisation_export"))
    client = client_for(officer)

    response = (
        client.post(reverse(name, args=[job.pk]))
        if "retry" in name
        else client.get(reverse(name, args=[job.pk]))
    )

    assert response.status_code == 404
    assert client_for(staff).get(reverse("crm:job_list")).status_code == 200
    assert client.get(reverse("crm:job_detail", args=["pas-un-uuid"])).status_code == 404


def test_a_confidential_lead_stays_out_of_an_export_job(
    officer: User, other_officer: User, small_threshold
) -> None:
    LeadFactory.create_batch(4, owner=officer)
    LeadFactory(owner=other_officer, confidential=True, title="Secret de l'autre")

    job = export_as_job(client_for(officer), reverse("prospects:lead_export"))

    rows = workbook_rows(body(client_for(officer).get(reverse("crm:job_download", args=[job.pk]))))
    assert len(rows) == 5
    assert "Secret de l'autre" not in str(rows)


def test_someone_who_lost_access_gets_no_file(officer: User, small_threshold) -> None:
    LeadFactory.create_batch(4, owner=officer)
    job = export_as_job(client_for(officer), reverse("prospects:lead_export"))
    officer.groups.clear()

    response = client_for(officer).get(reverse("crm:job_download", args=[job.pk]))

    assert response.status_code == 404


def test_a_job_whose_owner_lost_access_before_it_ran_says_so(
    officer: User, settings: SettingsWrapper, small_threshold
) -> None:
    settings.TASKS = DATABASE_QUEUE
    LeadFactory.create_batch(4, owner=officer)
    job = export_as_job(client_for(officer), reverse("prospects:lead_export"))
    officer.groups.clear()

    jobs.run(str(job.pk))

    job.refresh_from_db()
    assert job.status == "failed"
    assert job.error == "Vous n'avez plus accès à ces données : rien n'a été produit."
    assert not job.file


def test_the_request_only_queues_the_job(
    staff: User, settings: SettingsWrapper, small_threshold
) -> None:
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = DATABASE_QUEUE
    OrganisationFactory.create_batch(4)
    client = client_for(staff)

    job = export_as_job(client, reverse("crm:organisation_export"))

    assert job.status == "queued"
    assert DBTaskResult.objects.get().args_kwargs == {"args": [str(job.pk)], "kwargs": {}}
    page = client.get(job.get_absolute_url()).content.decode()
    assert "En attente" in page
    assert 'hx-trigger="every 1s"' in page
    assert "Rafraîchir" in page  # without JavaScript
    # htmx asks for the status panel alone.
    panel = client.get(job.get_absolute_url(), headers={"HX-Request": "true"}).content.decode()
    assert panel.lstrip().startswith('<section class="card job"')
    assert client.get(reverse("crm:job_download", args=[job.pk])).status_code == 404

    jobs.run(str(job.pk))
    jobs.run(str(job.pk))  # the task delivered twice: the second finds it done

    job.refresh_from_db()
    assert (job.status, job.attempts) == ("done", 1)
    assert client.get(reverse("crm:job_download", args=[job.pk])).status_code == 200


def test_a_failed_job_says_why_and_can_be_retried(
    staff: User, settings: SettingsWrapper, small_threshold, monkeypatch
) -> None:
    settings.TASKS = DATABASE_QUEUE
    OrganisationFactory.create_batch(4)
    client = client_for(staff)
    job = export_as_job(client, reverse("crm:organisation_export"))

    def broken(*args, **kwargs):
        raise RuntimeError("disque plein")

    with monkeypatch.context() as patched:
        patched.setattr(jobs.ListExportJob, "perform", broken)
        jobs.run(str(job.pk))
    job.refresh_from_db()
    assert job.status == "failed"
    page = client.get(job.get_absolute_url()).content.decode()
    assert "Une erreur inattendue a interrompu ce travail" in page
    assert "disque plein" not in page  # the details are for the logs

    client.post(reverse("crm:job_retry", args=[job.pk]))
    job.refresh_from_db()
    assert job.status == "queued"
    jobs.run(str(job.pk))
    job.refresh_from_db()
    assert (job.status, job.attempts, job.error) == ("done", 2, "")


def test_an_interrupted_job_is_queued_again_and_done_once(
    staff: User, settings: SettingsWrapper, small_threshold
) -> None:
    settings.TASKS = DATABASE_QUEUE
    OrganisationFactory.create_batch(4)
    job = export_as_job(client_for(staff), reverse("crm:organisation_export"))
    # A worker claimed it, then was killed: running, silent for longer than the bound.
    long_ago = timezone.now() - timedelta(seconds=django_settings.JOB_STALE_SECONDS + 1)
    Job.objects.filter(pk=job.pk).update(status="running", heartbeat_at=long_ago, attempts=1)
    assert jobs.recover() == [Job.objects.get(pk=job.pk)]
    assert jobs.recover() == []  # queued now: not stale any more

    jobs.run(str(job.pk))

    job.refresh_from_db()
    assert (job.status, job.attempts) == ("done", 2)
    assert job.file.name == f"jobs/{job.pk}-2.xlsx"


def test_expired_files_leave_the_list_and_the_storage(staff: User, small_threshold) -> None:
    from django.core.management import call_command

    OrganisationFactory.create_batch(4)
    job = export_as_job(client_for(staff), reverse("crm:organisation_export"))
    job.refresh_from_db()
    storage = job.file.storage
    assert storage.exists(job.file.name)
    Job.objects.filter(pk=job.pk).update(expires_at=timezone.now() - timedelta(minutes=1))

    assert (
        "Export des organisations"
        not in client_for(staff).get(reverse("crm:job_list")).content.decode()
    )
    assert client_for(staff).get(reverse("crm:job_download", args=[job.pk])).status_code == 404
    call_command("purge_jobs", stdout=io.StringIO())

    assert not storage.exists(job.file.name)
    assert not Job.objects.exists()


# A real worker process, on PostgreSQL (the worker is another process: it must see the test's
# committed rows, which SQLite's in-memory test database cannot share).


def worker(tmp_path: Path, *args: str, **variables: str) -> subprocess.Popen:
    database = connection.settings_dict
    env = {
        **variables,
        **os.environ,
        "DATABASE_URL": (
            f"postgres://{database['USER']}:{database['PASSWORD']}@{database['HOST']}:"
            f"{database['PORT']}/{database['NAME']}"
        ),
        "MEDIA_ROOT": str(tmp_path),
        "TASKS_BACKEND": "database",
    }
    return subprocess.Popen(  # noqa: S603 - our own manage.py
        [sys.executable, "manage.py", *args],
        cwd=django_settings.BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.fixture
def real_worker_settings(settings: SettingsWrapper, tmp_path: Path) -> SettingsWrapper:
    if connection.vendor != "postgresql":
        pytest.skip("The worker process needs a database it can share: PostgreSQL.")
    settings.TASKS = DATABASE_QUEUE
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path)},
        },
    }
    settings.EXPORT_SYNC_MAX_ROWS = 3
    return settings


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_the_job_and_survives_being_killed(
    role_groups: None, real_worker_settings: SettingsWrapper, tmp_path: Path, staff: User
) -> None:
    # role_groups first: an earlier transactional test's flush emptied the groups.
    territory = OrganisationFactory().territory
    Organisation.objects.bulk_create(
        Organisation(
            name=f"Organisation {n:05d}",
            kind=Organisation.Kind.BUSINESS,
            sector=Organisation.Sector.PRIVATE,
            territory=territory,
        )
        for n in range(30_000)
    )
    client = client_for(staff)
    job = export_as_job(client, reverse("crm:organisation_export"))

    # Killed while it writes: the job stays "running", nothing is offered for download.
    first = worker(tmp_path, "db_worker", "--no-reload", "--no-startup-delay", "--interval", "0.1")
    deadline = time.monotonic() + 60
    while Job.objects.get(pk=job.pk).done == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    killed = Job.objects.get(pk=job.pk)
    assert killed.status == "running" and 0 < killed.done < 30_001
    assert not killed.file
    assert client.get(reverse("crm:job_download", args=[job.pk])).status_code == 404

    # The next worker starts by queueing interrupted jobs again (here: any silent one).
    time.sleep(0.01)
    recover = worker(tmp_path, "recover_jobs", JOB_STALE_SECONDS="0")
    assert recover.wait(timeout=60) == 0, recover.stderr.read().decode()
    second = worker(tmp_path, "db_worker", "--batch", "--no-startup-delay")
    assert second.wait(timeout=120) == 0, second.stderr.read().decode()

    job.refresh_from_db()
    assert (job.status, job.attempts, job.done) == ("done", 2, 30_001)
    rows = workbook_rows(body(client.get(reverse("crm:job_download", args=[job.pk]))))
    assert len(rows) == 30_002
    stored = sorted(path.name for path in (tmp_path / "jobs").iterdir())
    assert stored == [f"{job.pk}-2.xlsx"]  # the killed attempt stored nothing


def staged_import(client, header: list[str], row: list[str]) -> str:
    """An organisations import uploaded and mapped (name, then city or SIRET): its token."""
    from django.core.files.uploadedfile import SimpleUploadedFile
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.active.append(header)
    workbook.active.append(row)
    data = io.BytesIO()
    workbook.save(data)
    start = client.post(
        reverse("crm:import_start"),
        {"kind": "organisations", "file": SimpleUploadedFile("liste.xlsx", data.getvalue())},
    )
    token = start["Location"].split("/")[-3]
    second = "city" if header[1] == "Commune" else "siret"
    client.post(reverse("crm:import_map", args=[token]), {"column_0": "name", "column_1": second})
    return token


def test_applying_an_import_is_a_job_that_applies_once(staff: User, settings) -> None:
    settings.TASKS = DATABASE_QUEUE
    client = client_for(staff)
    token = staged_import(client, ["Nom", "Commune"], ["Gîtes du Terril", "Loos-en-Gohelle"])

    response = client.post(reverse("crm:import_apply", args=[token]))

    job = Job.objects.get()
    assert response["Location"] == job.get_absolute_url()
    assert not Organisation.objects.exists()  # the request wrote nothing
    jobs.run(str(job.pk))
    job.refresh_from_db()
    assert job.message == "Import terminé : 1 créé(s), 0 mis à jour, 0 inchangé(s)."
    assert Organisation.objects.get().city == "Loos-en-Gohelle"
    # Applied, asked again, the import leads to its job and starts no other (and the same
    # task delivered twice finds its job done).
    assert client.post(reverse("crm:import_apply", args=[token]))["Location"] == (
        job.get_absolute_url()
    )
    jobs.run(str(job.pk))
    assert Organisation.objects.count() == 1 and Job.objects.count() == 1


def test_an_import_with_a_bad_row_applies_nothing_and_leads_back_to_its_dry_run(
    staff: User,
) -> None:
    client = client_for(staff)
    token = staged_import(client, ["Nom", "SIRET"], ["Gîtes du Terril", "123"])

    page = client.post(reverse("crm:import_apply", args=[token]), follow=True).content.decode()

    job = Job.objects.get()
    assert job.status == "failed"
    assert "1 problème(s) dans le fichier : rien n&#x27;a été importé." in page
    assert f'href="{reverse("crm:import_preview", args=[token])}"' in page
    assert "Relancer" not in page  # the file must change first: retrying would fail again
    assert not Organisation.objects.exists()


def test_my_files_and_a_job_page_run_a_bounded_number_of_queries(staff: User) -> None:
    from tests.helpers import count_queries

    def make(count: int) -> None:
        for n in range(count):
            Job.objects.create(kind="list_export", label=f"Export {n}", owner=staff)

    client = client_for(staff)
    make(2)
    few = count_queries(client, reverse("crm:job_list"))
    make(20)
    many = count_queries(client, reverse("crm:job_list"))
    job = Job.objects.first()

    assert few == many
    assert count_queries(client, job.get_absolute_url()) <= few


def test_a_contact_list_export_run_as_a_job_is_logged_like_one_at_once(
    staff: User, small_threshold
) -> None:
    from crm.models import AuditEntry
    from tests.factories import ContactFactory

    ContactFactory.create_batch(4, last_name="Dupont")

    export_as_job(client_for(staff), reverse("crm:contact_export") + "?q=dupont")

    entry = AuditEntry.objects.get(action=AuditEntry.Action.EXPORTED)
    assert entry.by == staff
    assert entry.detail == "Liste des contacts (XLSX), filtre : Recherche : dupont ; 4 ligne(s)."


@pytest.mark.parametrize(
    ("done", "total", "unit", "shown", "bar"),
    [
        (2, 5, "images chargées", "2 sur 5 images chargées", 'value="40"'),
        (12, None, "pages mises en page", "12 pages mises en page jusqu'ici", "<progress aria"),
        (30, 104, "pages produites", "30 sur 104 pages produites", 'value="28"'),
    ],
)
def test_a_running_job_page_shows_what_it_has_counted(
    staff: User, done: int, total: int | None, unit: str, shown: str, bar: str
) -> None:
    job = Job.objects.create(
        kind="project_sheet",
        owner=staff,
        label="DS-2026-001 : fiche projet",
        status=Job.Status.RUNNING,
        started_at=timezone.now(),
        heartbeat_at=timezone.now(),
        done=done,
        total=total,
        unit=unit,
    )

    page = client_for(staff).get(job.get_absolute_url()).content.decode()

    assert shown in page
    assert bar in page
    assert 'hx-trigger="every 1s"' in page  # still followed
