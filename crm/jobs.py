"""Background jobs: long work off the request, run by the worker (DESIGN §10).

A view that has long work to do calls `start(...)`: it creates a `Job` row and enqueues the
`crm.tasks.run_job` task in the same transaction (the database backend stores the task in a
table of the same database), then sends the person to the job's page, which follows the
progress. The worker (`manage.py db_worker`) runs `run(job_id)`:

- it claims the job with one conditional UPDATE, so a job already done, or being run by a
  live worker, is not run twice (a duplicate task, a retry clicked twice);
- it checks again that the owner may still see what the job reads (`JobKind.allowed`);
- the kind's `perform` writes its file to a temporary file, reporting progress; the file is
  stored under a fresh name and recorded on the job in one step once it is complete, so a
  half-written file is never offered (a crash leaves at most an unreferenced file, which
  `purge_orphan_files` deletes);
- a failure is recorded in words; the person may retry.

A worker killed mid-job (SIGKILL, a lost machine) leaves its job "running" with an old
heartbeat: `recover_jobs` (run when a worker starts, and by `make run`) queues it again.
Downloads re-check the owner's access, as the job did when it started.

Kinds are registered by dotted path in `JOB_KINDS`, and list exports in `LIST_EXPORTS`, so
that the base app never imports the apps built on it.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO, TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.http import HttpResponseBase, QueryDict
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import override

from crm.exports import ListExport
from crm.http import AuthenticatedRequest
from crm.models import Job, StagedImport, User

if TYPE_CHECKING:
    from crm.pdf import RenderProgress

logger = logging.getLogger(__name__)

# Dotted paths, imported when used. The apps built on crm add their own in their
# `AppConfig.ready()`.
JOB_KINDS: dict[str, str] = {
    "list_export": "crm.jobs.ListExportJob",
    "import_apply": "crm.jobs.ApplyImportJob",
}
# Each names a function that returns the list's `crm.exports.ListExport`.
LIST_EXPORTS: dict[str, str] = {
    "organisations": "crm.exports.organisation_list_export",
    "contacts": "crm.exports.contact_list_export",
}
# Each names a function(older_than=...) that queues again the thumbnails still missing for
# images uploaded before then (a worker killed mid-task loses its task), and says how many.
# Filled by the apps that store images (their AppConfig.ready()).
THUMBNAIL_RECOVERY: list[str] = []
# Rows between two progress reports: one UPDATE of the job row each time.
PROGRESS_EVERY = 1000


class JobFailed(Exception):
    """The job cannot do its work; the message says why, for the person, and `url` is where
    to go to put it right (an import's dry run), if anywhere."""

    def __init__(self, message: str, *, url: str = "") -> None:
        super().__init__(message)
        self.url = url


class Progress:
    """What a running job reports: how much is done (and of how much), and that it is alive."""

    def __init__(self, job: Job) -> None:
        self.job = job

    def __call__(self, done: int, total: int | None = None) -> None:
        fields: dict[str, Any] = {"done": done, "heartbeat_at": timezone.now()}
        if total is not None:
            fields["total"] = total
        Job.objects.filter(pk=self.job.pk).update(**fields)

    def stage(self, unit: str, done: int, total: int | None) -> None:
        """A step that counts something else than the last one: its unit ("pages mises en
        page"), how much is done, and of how much (None while it is not known)."""
        Job.objects.filter(pk=self.job.pk).update(
            unit=unit,
            done=done,
            total=total,
            heartbeat_at=timezone.now(),
        )

    def rendering(self) -> RenderProgress:
        """What a PDF job reports as `crm.pdf.render_pdf_document` goes: the images read,
        the pages laid out, then the pages drawn, each counted in its own words (in the
        job's language, active while it runs)."""
        # Imported here: it pulls in WeasyPrint, which the requests that start jobs never need.
        from crm.pdf import RenderStage

        units = {
            RenderStage.IMAGES: _("images chargées"),
            RenderStage.LAYOUT: _("pages mises en page"),
            RenderStage.PAGES: _("pages produites"),
        }
        return lambda stage, done, total: self.stage(units[stage], done, total)

    def counting(self, rows: Iterable[Any], *, every: int = PROGRESS_EVERY) -> Iterator[Any]:
        """`rows` as they come, reporting every `every` rows."""
        count = 0
        for count, row in enumerate(rows, start=1):
            if count % every == 0:
                self(count)
            yield row
        self(count)


@dataclass(frozen=True)
class Output:
    """What a finished job leaves: a file (its bytes in `file`, rewound, and the name it
    downloads under), or a message and the address of a result stored elsewhere."""

    file: IO[bytes] | None = None
    filename: str = ""
    message: str = ""
    url: str = ""


def written(write: Callable[[IO[bytes]], Any], *, filename: str) -> Output:
    """An `Output` whose file `write(fileobj)` fills: a temporary file on disk, not memory,
    rewound, closed by `run` once stored."""
    tmp = tempfile.TemporaryFile()  # noqa: SIM115 - closed by `run`.
    try:
        write(tmp)
        tmp.seek(0)
    except BaseException:
        tmp.close()
        raise
    return Output(file=tmp, filename=filename)


class JobKind:
    """One kind of job. Subclasses say who may run it (checked when it starts and again at
    download) and do the work."""

    def allowed(self, user: User, params: dict[str, Any]) -> bool:
        raise NotImplementedError

    def perform(self, job: Job, progress: Progress) -> Output:
        raise NotImplementedError


def kind_of(key: str) -> JobKind:
    kind: JobKind = import_string(JOB_KINDS[key])()
    return kind


# Starting, running, recovering --------------------------------------------------------------


def start(*, kind: str, owner: User, label: str, params: dict[str, Any], unit: str = "") -> Job:
    """Create the job and queue its task, in one transaction."""
    from crm.tasks import run_job

    if not kind_of(kind).allowed(owner, params):
        raise PermissionDenied
    with transaction.atomic():
        job = Job.objects.create(kind=kind, owner=owner, label=label, params=params, unit=unit)
        run_job.enqueue(str(job.pk))
    return job


def retry(job: Job) -> Job:
    """Queue a failed (or interrupted) job again."""
    from crm.tasks import run_job

    with transaction.atomic():
        updated = Job.objects.filter(
            pk=job.pk, status__in=[Job.Status.FAILED, Job.Status.RUNNING]
        ).update(status=Job.Status.QUEUED, error="", result_url="", done=0, total=None)
        if updated:
            run_job.enqueue(str(job.pk))
    job.refresh_from_db()
    return job


def stale_after() -> timedelta:
    return timedelta(seconds=settings.JOB_STALE_SECONDS)


def recover(*, now: datetime | None = None) -> list[Job]:
    """Queue again the running jobs whose worker stopped reporting (killed mid-job)."""
    now = now or timezone.now()
    stale = list(Job.objects.stale(older_than=now - stale_after()))
    return [retry(job) for job in stale]


def recover_thumbnails(*, now: datetime | None = None) -> int:
    """Queue again the thumbnails that should have been rendered by now."""
    older_than = (now or timezone.now()) - stale_after()
    return sum(import_string(path)(older_than=older_than) for path in THUMBNAIL_RECOVERY)


def run(job_id: str) -> None:
    """Run one job (the worker's task). Safe to call twice: only one run claims it."""
    now = timezone.now()
    # Only a queued job is claimed: a finished one is not run again, and one that a live
    # worker runs is left to it (`recover` queues again those whose worker died).
    claimed = Job.objects.filter(pk=job_id, status=Job.Status.QUEUED).update(
        status=Job.Status.RUNNING,
        started_at=now,
        heartbeat_at=now,
        attempts=F("attempts") + 1,
    )
    if not claimed:
        return
    job = Job.objects.select_related("owner").get(pk=job_id)
    kind = kind_of(job.kind)
    language = job.params.get("language") or settings.LANGUAGE_CODE
    with override(language):
        try:
            if not job.owner.is_active or not kind.allowed(job.owner, job.params):
                raise JobFailed(_("Vous n'avez plus accès à ces données : rien n'a été produit."))
            output = kind.perform(job, Progress(job))
        except (JobFailed, ValidationError) as error:
            _fail(
                job,
                " ".join(getattr(error, "messages", [str(error)])),
                url=getattr(error, "url", ""),
            )
            return
        except Exception:
            logger.exception("Job %s (%s) failed", job.pk, job.kind)
            _fail(
                job,
                _(
                    "Une erreur inattendue a interrompu ce travail. Réessayez ; si elle "
                    "revient, prévenez l'équipe."
                ),
            )
            return
    try:
        _finish(job, output)
    finally:
        if output.file is not None:
            output.file.close()


def _fail(job: Job, message: str, *, url: str = "") -> None:
    Job.objects.filter(pk=job.pk).update(
        status=Job.Status.FAILED, error=message, result_url=url, finished_at=timezone.now()
    )


def _finish(job: Job, output: Output) -> None:
    field = Job._meta.get_field("file")
    name = ""
    if output.file is not None:
        extension = output.filename.rsplit(".", 1)[-1] if "." in output.filename else "bin"
        # A fresh name per attempt: a file from an interrupted attempt is never reused.
        name = field.storage.save(
            f"jobs/{job.pk}-{job.attempts}.{extension}", File(output.file, name=output.filename)
        )
    now = timezone.now()
    done = Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(
        status=Job.Status.DONE,
        file=name,
        filename=output.filename,
        message=output.message,
        result_url=output.url,
        finished_at=now,
        heartbeat_at=now,
        expires_at=now + timedelta(days=settings.JOB_FILE_DAYS),
        done=Coalesce(F("total"), F("done")),
    )
    if not done and name:  # retried or recovered meanwhile: the other run owns the job now
        field.storage.delete(name)


# List exports -------------------------------------------------------------------------------


def list_export(key: str) -> ListExport:
    export: ListExport = import_string(LIST_EXPORTS[key])()
    return export


def export_list(request: AuthenticatedRequest, key: str) -> HttpResponseBase:
    """The list's export: the file at once up to `EXPORT_SYNC_MAX_ROWS` rows, else a job
    whose page follows its progress."""
    spec = list_export(key)
    filterset = spec.filterset_for(request.user, request.GET)
    count = filterset.qs.count()
    if count <= settings.EXPORT_SYNC_MAX_ROWS:
        return spec.response(request.user, filterset)
    job = start(
        kind="list_export",
        owner=request.user,
        label=_("%(list)s : %(count)s lignes") % {"list": spec.label, "count": count},
        params={
            "list": key,
            "query": request.GET.urlencode(),
            "language": request.LANGUAGE_CODE,
        },
        unit=_("lignes"),
    )
    return redirect(job)


class ListExportJob(JobKind):
    def allowed(self, user: User, params: dict[str, Any]) -> bool:
        return params.get("list") in LIST_EXPORTS and user.has_perm(
            list_export(params["list"]).perm
        )

    def perform(self, job: Job, progress: Progress) -> Output:
        spec = list_export(job.params["list"])
        filterset = spec.filterset_for(job.owner, QueryDict(job.params.get("query", "")))
        rows = filterset.qs
        progress(0, rows.count())

        def write(fileobj: IO[bytes]) -> None:
            rows_written = progress.counting(spec.for_writing(rows).iterator(chunk_size=2000))
            spec.exported(job.owner, filterset, spec.write(rows_written, fileobj))

        stem = slugify(spec.filename) or "export"
        return written(write, filename=f"{stem}-{timezone.localdate().isoformat()}.xlsx")


# Imports ----------------------------------------------------------------------------------


def _uuid_or_none(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


class ApplyImportJob(JobKind):
    """Apply a checked import: all rows or none, in one transaction, which also marks the
    staged import applied (`crm.models.StagedImport`). Run again, it finds the import applied
    and writes nothing; a job from before imports were kept finds the rows it wrote and
    changes nothing (rows match existing records), so an import is never applied twice. A
    refused apply leaves the import waiting for its starter."""

    def allowed(self, user: User, params: dict[str, Any]) -> bool:
        from crm import imports

        return params.get("kind") in imports.KINDS and imports.kind_class(params["kind"]).allowed(
            user
        )

    def perform(self, job: Job, progress: Progress) -> Output:
        from django.core.files.storage import default_storage

        from crm import imports

        params = job.params
        mapping = {int(index): name for index, name in params["mapping"].items()}
        list_url = reverse(imports.kind_class(params["kind"]).list_url)
        # The import this job applies; none for a job queued before imports were kept.
        token = _uuid_or_none(params.get("token"))
        staged = (
            StagedImport.objects.of(job.owner).filter(pk=token)
            if token
            else StagedImport.objects.none()
        )
        applied = Output(
            message=_("Cet import était déjà appliqué : rien n'a été écrit une seconde fois."),
            url=list_url,
        )
        if staged.filter(applied_at__isnull=False).exists():
            return applied
        if not default_storage.exists(params["name"]):
            raise JobFailed(
                _(
                    "Le fichier de cet import n'est plus là (déjà appliqué, ou effacé) : rien "
                    "n'a été importé."
                )
            )
        try:
            with transaction.atomic():
                # Locked, so that a second job for the same import (two clicks) waits for
                # this one and then finds it applied.
                if any(row.applied_at for row in staged.select_for_update()):
                    return applied
                with default_storage.open(params["name"], "rb") as stored:
                    plan = imports.apply_import(
                        params["kind"],
                        stored,
                        mapping,
                        by=job.owner,
                        source=params["original"],
                        leave_bad=bool(params.get("leave_bad")),
                    )
                staged.filter(applied_at__isnull=True).update(
                    applied_at=timezone.now(), job=job, stored_name="", updated_at=timezone.now()
                )
        except imports.NotApplied as refused:
            raise JobFailed(
                _(
                    "%(count)s problème(s) dans le fichier : rien n'a été importé. Corrigez-les "
                    "depuis l'essai à blanc, puis importez à nouveau."
                )
                % {"count": len(refused.plan.errors)},
                url=reverse("crm:import_preview", args=[params["token"]]),
            ) from None
        except imports.ImportFileError as error:
            raise JobFailed(str(error)) from None
        default_storage.delete(params["name"])
        message = _(
            "Import terminé : %(created)s créé(s), %(updated)s mis à jour, "
            "%(unchanged)s inchangé(s)."
        ) % {"created": plan.created, "updated": plan.updated, "unchanged": plan.unchanged}
        if not plan.bad_rows:
            return Output(message=message, url=list_url)
        # The rows left aside come back as the file to fix, with what to fix in each.
        output = written(
            lambda fileobj: imports.rows_to_fix(plan, fileobj),
            filename=imports.rows_to_fix_name(params["original"]),
        )
        left = _(
            "%(count)s ligne(s) laissée(s) de côté : téléchargez-les, corrigez-les et "
            "importez ce fichier à nouveau."
        ) % {"count": len(plan.bad_rows)}
        return dataclasses.replace(output, message=f"{message} {left}", url=list_url)
