"""Lead actions: multi-model work with side effects, each in one transaction.

A lead's moves are run by its machine (`lead.machine.run`, `crm.fsm`)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from crm import audit, notifications
from crm.actions import record_contact_despite_objection
from crm.models import Contact, User, fold
from crm.references import save_with_reference
from crm.uploads import CheckedUpload
from prospects.models import (
    LEAD_REFERENCE_PREFIX,
    CalendarToken,
    Lead,
    LeadChanged,
    Site,
    SitePhoto,
)

__all__ = [
    "LeadChanged",
    "save_lead",
]


UNTOUCHED_BY_EDIT = {"stage", "lost_reason", "created_by"}


@transaction.atomic
def save_lead(
    *,
    lead: Lead,
    by: User,
    seen_version: int | None,
    contacts: Iterable[Contact],
    target_sites: Iterable[Site],
    shared_with: Iterable[User],
    objection_reason: str = "",
) -> Lead:
    """Create or update a lead with its contacts, sites and sharing.

    An edit carries the version the form was opened at: if the lead was saved since, nothing
    is written and `LeadChanged` is raised (optimistic check, one conditional UPDATE).
    Adding a person who objects to being contacted needs `objection_reason`, logged on their
    record; without it `ObjectionNotConfirmed` is raised and nothing is written.
    """
    contacts = list(contacts)
    current = set(lead.contacts.values_list("pk", flat=True)) if lead.pk else set()
    objecting = [c for c in contacts if c.objects_to_contact and c.pk not in current]
    before = audit.stored_snapshot(lead)
    was_owner, was_shared = None, set()
    if lead.pk is not None:
        was_owner = Lead.objects.filter(pk=lead.pk).values_list("owner_id", flat=True).first()
        was_shared = set(lead.shared_with.values_list("pk", flat=True))
    if lead.pk is None:
        lead.created_by = by
        lead.version = 1
        lead.full_clean(exclude=["stage", "reference"])
        save_with_reference(lead, prefix=LEAD_REFERENCE_PREFIX, digits=4)
    else:
        lead.full_clean(exclude=["stage"])
        # One conditional UPDATE of what the form edits: the stage and the loss reason belong
        # to the transitions, which may have run since the form was opened.
        values = {
            f.attname: getattr(lead, f.attname)
            for f in Lead._meta.concrete_fields
            if f.editable and not f.primary_key and f.name not in UNTOUCHED_BY_EDIT
        }
        organisation = lead.organisation.name if lead.organisation_id else ""
        values["search_text"] = fold(f"{lead.title} {organisation}")
        values["updated_at"] = timezone.now()
        # An edit without the version it was opened at (None) matches no row: overtaken.
        updated = Lead.objects.filter(pk=lead.pk, version=seen_version).update(  # type: ignore[misc]
            version=F("version") + 1, **values
        )
        if not updated:
            raise LeadChanged
        lead.refresh_from_db(fields=["version", "updated_at", "search_text"])
    lead.contacts.set(contacts)
    lead.target_sites.set(list(target_sites))
    now_shared = {user.pk for user in shared_with if user.pk != lead.owner_id}
    lead.shared_with.set(now_shared)
    if lead.owner_id != was_owner:
        notifications.notify(kind="lead_assigned", record=lead, by=by, recipients=[lead.owner_id])
    notifications.notify(kind="lead_shared", record=lead, by=by, recipients=now_shared - was_shared)
    audit.record_changes(
        before=before, instance=lead, by=by, ignore=UNTOUCHED_BY_EDIT if before else ()
    )
    record_contact_despite_objection(
        contacts=objecting,
        by=by,
        reason=objection_reason,
        what=_("Ajout à la piste %(reference)s") % {"reference": lead.reference},
        data={"lead": lead.pk},
    )
    return lead


@transaction.atomic
def add_site_photo(*, site: Site, upload: CheckedUpload, caption: str, by: User) -> SitePhoto:
    """Store a checked image as a photo of the site; the worker renders its thumbnail."""
    photo = SitePhoto(
        site=site,
        caption=caption.strip(),
        content_type=upload.content_type,
        width=upload.width,
        height=upload.height,
        uploaded_by=by,
    )
    photo.image.name = photo.image.storage.save(upload.storage_name("sites"), upload.content)
    photo.save()
    from prospects.tasks import make_photo_thumbnail

    # Rendered by the worker, not in the upload request; queued in this transaction, so a
    # photo is never left without its task. The page shows a placeholder meanwhile.
    make_photo_thumbnail.enqueue(photo.pk)
    return photo


def calendar_token_for(user: User) -> CalendarToken:
    """The user's calendar secret, made on first use."""
    token, _created = CalendarToken.objects.get_or_create(
        user=user, defaults={"token": secrets.token_urlsafe(32)}
    )
    return token


def regenerate_calendar_token(*, user: User) -> CalendarToken:
    """A new secret: the old feed URL stops working at once."""
    token, _created = CalendarToken.objects.update_or_create(
        user=user, defaults={"token": secrets.token_urlsafe(32), "created_at": timezone.now()}
    )
    return token
