"""CRM actions: work with side effects, run in one transaction, called by views."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import Q

from crm.models import Contact, Interaction, Organisation, User
from crm.uploads import CheckedUpload

if TYPE_CHECKING:
    from projects.models import Project
    from prospects.models import Lead


@transaction.atomic
def save_organisation(
    *,
    organisation: Organisation,
    by: User,
    new_logo: CheckedUpload | None = None,
    remove_logo: bool = False,
) -> Organisation:
    """Save an organisation from its form, storing a new logo under a server-made name.

    The replaced logo file is deleted only once the transaction has committed, so a failed
    save never leaves the record pointing at a deleted file.
    """
    if organisation.pk is None:
        organisation.created_by = by
    old_name = organisation.logo.name if organisation.logo else ""
    if new_logo is not None:
        storage = organisation.logo.storage
        organisation.logo.name = storage.save(
            new_logo.storage_name("organisations/logos"), new_logo.content
        )
    elif remove_logo:
        organisation.logo.name = ""
    organisation.full_clean()
    organisation.save()
    if old_name and old_name != organisation.logo.name:
        storage = organisation.logo.storage
        transaction.on_commit(lambda: storage.delete(old_name))
    return organisation


@transaction.atomic
def log_interaction(
    *,
    organisation: Organisation,
    by: User,
    kind: Interaction.Kind | str,
    occurred_at: datetime,
    summary: str,
    contact: Contact | None = None,
    project: Project | None = None,
    lead: Lead | None = None,
) -> Interaction:
    """Record an interaction and move the contact's `last_interaction_at` (and the lead's
    `last_activity_at`) forward.

    The updates are conditional in SQL so that logging an older interaction, or two people
    logging at once, never moves the date backwards.
    """
    interaction = Interaction(
        organisation=organisation,
        contact=contact,
        project=project,
        lead=lead,
        author=by,
        kind=kind,
        occurred_at=occurred_at,
        summary=summary,
    )
    interaction.full_clean()
    interaction.save()
    if contact is not None:
        Contact.objects.filter(pk=contact.pk).filter(
            Q(last_interaction_at__isnull=True) | Q(last_interaction_at__lt=occurred_at)
        ).update(last_interaction_at=occurred_at)
    if lead is not None:
        # An update, not a save: the lead's version (its optimistic edit check) must not move.
        type(lead).objects.filter(pk=lead.pk, last_activity_at__lt=occurred_at).update(
            last_activity_at=occurred_at
        )
    return interaction
