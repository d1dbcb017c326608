"""CRM actions: work with side effects, run in one transaction, called by views."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import Q

from crm.models import Contact, Interaction, Organisation, User


@transaction.atomic
def log_interaction(
    *,
    organisation: Organisation,
    by: User,
    kind: Interaction.Kind | str,
    occurred_at: datetime,
    summary: str,
    contact: Contact | None = None,
) -> Interaction:
    """Record an interaction and move the contact's `last_interaction_at` forward.

    The update is conditional in SQL so that logging an older interaction, or two people
    logging at once, never moves the date backwards.
    """
    interaction = Interaction(
        organisation=organisation,
        contact=contact,
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
    return interaction
