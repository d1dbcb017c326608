"""Imports in progress: the uploaded workbook and where its starter left off, kept in the
database (`crm.models.StagedImport`) rather than the session, so that they survive it, show
in their starter's work queue and can be discarded or purged with their file.

The row and its file go together: the file is stored before the row is written (a failed
write leaves a file no row names, which `purge` deletes), and a row is deleted before its
file (a failed deletion leaves, again, only a file no row names), so no row ever names a
file that is gone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import IO

from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.imports.kinds import kinds_for
from crm.imports.plan import STAGING_FOLDER
from crm.models import Job, StagedImport, User
from crm.uploads import stale_files
from crm.workqueue import Item

# Lines of started imports at most on a home page.
PER_KIND = 50


def stage_import(
    *, owner: User, kind: str, content: IO[bytes], original_name: str, headers: list[str]
) -> StagedImport:
    """Store the uploaded workbook and record the import it starts."""
    staged = StagedImport(owner=owner, kind=kind, original_name=original_name, headers=headers)
    content.seek(0)
    staged.stored_name = default_storage.save(f"{STAGING_FOLDER}/{staged.token}.xlsx", content)
    staged.save(force_insert=True)
    return staged


def save_mapping(*, staged: StagedImport, mapping: dict[int, str]) -> None:
    """The columns as the person confirmed them: the dry run is next."""
    staged.mapping = {str(index): name for index, name in mapping.items()}
    staged.updated_at = timezone.now()
    staged.save(update_fields=["mapping", "updated_at"])


def start_apply(*, staged: StagedImport, leave_bad: bool, language: str) -> Job:
    """Queue the job that applies the import, and link it: until it ends, the import is
    being applied (its pages lead to the job, the work queue leaves it out)."""
    from crm import jobs

    with transaction.atomic():
        job = jobs.start(
            kind="import_apply",
            owner=staged.owner,
            label=_("Import de « %(file)s »") % {"file": staged.original_name},
            params={
                "kind": staged.kind,
                "name": staged.stored_name,
                "mapping": staged.mapping,
                "original": staged.original_name,
                "token": staged.token,
                "language": language,
                "leave_bad": leave_bad,
            },
        )
        StagedImport.objects.filter(pk=staged.pk, applied_at__isnull=True).update(
            job=job, updated_at=timezone.now()
        )
    staged.job = job
    return job


def discard_import(*, staged: StagedImport) -> None:
    """Forget the import and delete its workbook (once the row is gone)."""
    name = staged.stored_name
    with transaction.atomic():
        StagedImport.objects.filter(pk=staged.pk).delete()
        if name:
            transaction.on_commit(lambda: default_storage.delete(name))


def forget_files(names: list[str]) -> int:
    """Delete the imports whose workbooks are `names` (the caller deletes the files, after
    its transaction): how many there were."""
    if not names:
        return 0
    deleted, _per_model = StagedImport.objects.filter(stored_name__in=names).delete()
    return deleted


@dataclass
class Purge:
    """What `purge` deleted, or would delete: the rows, and the files (theirs and those no
    row names)."""

    imports: list[StagedImport] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


def purge(*, older_than: datetime, dry_run: bool = False) -> Purge:
    """Delete the imports left untouched since `older_than` (applied or not; one being applied
    is left to its job) with their workbooks, and the workbooks no import names that were
    written before then (an upload whose row was never written, a session-era import)."""
    stale = list(StagedImport.objects.stale(older_than=older_than).order_by("updated_at", "pk"))
    if not dry_run:
        # Asked again as they are deleted: one touched meanwhile stays, and so does its file.
        StagedImport.objects.stale(older_than=older_than).filter(
            pk__in=[staged.pk for staged in stale]
        ).delete()
    remaining = StagedImport.objects.exclude(stored_name="")
    if dry_run:
        remaining = remaining.exclude(pk__in=[staged.pk for staged in stale])
    named = set(remaining.values_list("stored_name", flat=True))
    candidates = {staged.stored_name for staged in stale if staged.stored_name}
    candidates.update(stale_files(default_storage, STAGING_FOLDER, older_than=older_than))
    files = sorted(candidates - named)
    if not dry_run:
        for name in files:
            default_storage.delete(name)
    return Purge(imports=stale, files=files)


# The work queue -----------------------------------------------------------------------------


def started_imports(user: User) -> list[Item]:
    """The imports the person started and did not apply, oldest first, each linking to the
    step where they stopped; one being applied is not listed (its job's page follows it).
    One query, whatever the number of imports; none for someone who may import nothing."""
    allowed = {key for key, _label in kinds_for(user)}
    if not allowed:
        return []
    waiting = (
        StagedImport.objects.of(user)
        .waiting()
        .filter(kind__in=allowed)
        .select_related("job")
        .order_by("created_at", "pk")[:PER_KIND]
    )
    items = []
    for staged in waiting:
        words = {"file": staged.original_name}
        failed = staged.job is not None and staged.job.status == Job.Status.FAILED
        if failed:
            text = _("Import « %(file)s » : l'application a échoué, à reprendre") % words
        else:
            text = _("Import « %(file)s » commencé, pas appliqué") % words
        items.append(
            Item(
                text=text,
                url=staged.resume_url(),
                since=staged.created_at,
                action=_("À terminer"),
            )
        )
    return items
