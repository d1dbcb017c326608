"""The prospecting tasks the worker runs: thin, they load what they need by id and call the
shared code (STYLE: background jobs)."""

from __future__ import annotations

from datetime import datetime

from django_tasks import task

from crm.uploads import store_thumbnail
from prospects.models import SitePhoto


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
