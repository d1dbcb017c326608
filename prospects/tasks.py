"""The prospecting tasks the worker runs: thin, they load what they need by id and call the
shared code (STYLE: background jobs)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils.text import slugify
from django_tasks import task

from crm.jobs import JobKind, Output, Progress, written
from crm.models import Job, User
from crm.uploads import store_thumbnail
from prospects.models import Site, SitePhoto


@task()
def make_photo_thumbnail(photo_id: int) -> None:
    """The thumbnail of an uploaded site photo (the upload request only stores the photo)."""
    photo = SitePhoto.objects.filter(pk=photo_id).first()
    if photo is not None:
        store_thumbnail(photo, image_field="image", folder="sites/thumbnails")


def recover_photo_thumbnails(*, older_than: datetime) -> int:
    """Queue again the thumbnails still missing for photos uploaded before `older_than`
    (their task was lost with a killed worker)."""
    pending = SitePhoto.objects.filter(
        thumbnail="", thumbnail_error="", uploaded_at__lt=older_than
    ).values_list("pk", flat=True)
    pks = list(pending)
    for pk in pks:
        make_photo_thumbnail.enqueue(pk)
    return len(pks)


class SiteSheetJob(JobKind):
    """A site sheet that embeds many photos, or photos whose thumbnail is not ready (the
    original is embedded then), as the view decides."""

    def allowed(self, user: User, params: dict[str, Any]) -> bool:
        site_id = params.get("site")
        return site_id is not None and Site.objects.visible_to(user).filter(pk=site_id).exists()

    def perform(self, job: Job, progress: Progress) -> Output:
        from prospects import pdf

        site = Site.objects.for_detail().prefetch_related("photos").get(pk=job.params["site"])
        # Jobs queued before the sheet's language had its own key named it "language".
        language = job.params.get("sheet", job.params["language"])
        data = pdf.site_sheet_pdf(site, language=language, on_progress=progress.rendering())
        return written(
            lambda fileobj: fileobj.write(data),
            filename=f"{slugify(site.name) or 'site'}-{language}.pdf",
        )
