"""CRM actions: work with side effects, run in one transaction, called by views."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime, time
from typing import Any

from django.core.files.storage import default_storage
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from crm import audit, imports, notifications, privacy
from crm.models import (
    AuditEntry,
    Contact,
    Interaction,
    NotificationPreference,
    Organisation,
    User,
)
from crm.uploads import CheckedUpload


@transaction.atomic
def _delete_files(names: Iterable[str]) -> None:
    for name in names:
        default_storage.delete(name)


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
    before = audit.stored_snapshot(organisation)
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
    audit.record_changes(before=before, instance=organisation, by=by)
    if old_name and old_name != organisation.logo.name:
        storage = organisation.logo.storage
        transaction.on_commit(lambda: storage.delete(old_name))
    return organisation


@transaction.atomic
def save_contact(*, contact: Contact, by: User) -> Contact:
    """Create or update a contact from its form (already validated), with its audit entries."""
    before = audit.stored_snapshot(contact)
    if contact.pk is None:
        contact.created_by = by
    contact.save()
    audit.record_changes(before=before, instance=contact, by=by)
    return contact


@transaction.atomic
def set_objection(*, contact: Contact, objects: bool, by: User) -> Contact:
    """Record that the person objects to being contacted (dated), or that they withdrew it."""
    if objects == contact.objects_to_contact:
        return contact
    old = audit.as_text(contact.objected_at)
    contact.objected_at = timezone.now() if objects else None
    contact.save(update_fields=["objected_at", "updated_at"])
    audit.record(
        instance=contact,
        action=AuditEntry.Action.OBJECTION,
        by=by,
        field="objected_at",
        old_value=old,
        new_value=audit.as_text(contact.objected_at),
    )
    return contact


# What an anonymised contact keeps in place of the personal text of its exchanges: their kind,
# date, organisation, author and links stay, so every count and figure stays right.
ERASED_SUMMARY = "Résumé effacé (contact anonymisé)."
ERASED_VALUE = "[effacé]"
PERSONAL_FIELDS = privacy.PERSONAL_FIELDS
anonymised_name = privacy.anonymised_name


@transaction.atomic
def anonymise_contact(
    *, contact: Contact, by: User | None, redact_surnames: Collection[str] = ()
) -> Contact:
    """Erase what identifies a person, wherever Carreau holds it, and keep the row (DESIGN §6,
    RGPD art. 17). `crm.privacy.erasure_plan` finds it all first; this carries the plan out
    and stores its report (what was blanked, what was kept and why) in the log row.

    - The contact keeps its organisation, legal basis, dates and links; its name becomes
      "Contact anonymisé n°<id>", its role, e-mail, phone and notes are cleared.
    - Its interactions keep kind, date, organisation, author, project and lead; their
      summaries (free text that may describe the person) are replaced.
    - Its own history loses the old and new values of those fields.
    - Everywhere else (other records' text and history, the admin's log), every full name it
      ever had, its e-mails and phones become its anonymised label; so does its last name
      alone where staff chose so (`redact_surnames`: keys of `ErasurePlan.to_judge`).
    - Imports waiting to be applied whose workbook names it are deleted (once committed).
    - Kept, and said so: issued specifications (frozen contractual documents), the login log
      until its retention ends, login accounts, exports already downloaded.

    `by` is None when the retention command runs.
    """
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    if contact.anonymised_at is not None:
        return contact
    plan = privacy.erasure_plan(contact, redacted_surnames=redact_surnames)
    contact.first_name = ""
    contact.last_name = privacy.anonymised_name(contact)
    for name in ("role", "email", "phone", "notes"):
        setattr(contact, name, "")
    contact.anonymised_at = timezone.now()
    contact.save()
    summaries = Interaction.objects.filter(contact=contact).update(summary=ERASED_SUMMARY)
    own = AuditEntry.objects.filter(
        record_type=Contact._meta.label_lower, record_id=contact.pk, field__in=PERSONAL_FIELDS
    )
    own.update(old_value=ERASED_VALUE, new_value=ERASED_VALUE)
    privacy.redact_mentions(plan.mentions, plan.identity, surnames=plan.redacted_surnames)
    names = [staged.name for staged in plan.import_files]
    # The imports these workbooks belong to go with them: none is left naming a lost file.
    imports.forget_files(names)
    if names:
        transaction.on_commit(lambda: _delete_files(names))
    report = plan.report()
    kept = report["kept"]
    audit.record(
        instance=contact,
        action=AuditEntry.Action.ANONYMISED,
        by=by,
        detail=(
            f"{summaries} résumé(s) d'interaction effacé(s), "
            f"{len(report['blanked']['texts'])} autre(s) fiche(s) corrigée(s), "
            f"{len(names)} fichier(s) d'import supprimé(s) ; gardés : "
            f"{len(kept['specification_versions'])} cahier(s) des charges émis, "
            f"{kept['login_log']} tentative(s) de connexion, "
            f"{len(kept['surnames'])} mention(s) du nom de famille seul à relire."
        ),
        data=report,
    )
    return contact


def record_personal_data_export(*, contact: Contact, by: User, file_format: str) -> AuditEntry:
    """Log that someone downloaded everything stored about this person."""
    return audit.record(
        instance=contact, action=AuditEntry.Action.EXPORTED, by=by, detail=file_format.upper()
    )


def record_contact_list_export(
    *, by: User, filters: str, rows: int, file_format: str = "xlsx"
) -> AuditEntry:
    """Log an export of the contact list: personal data too, so who, when, with which filter
    (as the person chose it: "Recherche : dupont · Territoire : Lens") and how many rows."""
    shown = filters or "aucun"
    return audit.record_list_event(
        model=Contact,
        action=AuditEntry.Action.EXPORTED,
        by=by,
        detail=f"Liste des contacts ({file_format.upper()}), filtre : {shown} ; {rows} ligne(s).",
        data={"rows": rows, "format": file_format},
    )


class ObjectionNotConfirmed(ValueError):
    """A call or e-mail logged to, or a lead given, a person who objects to being contacted,
    without a confirmation and its reason."""

    def __init__(self, contacts: list[Contact]) -> None:
        super().__init__(", ".join(str(contact) for contact in contacts))
        self.contacts = contacts


def record_contact_despite_objection(
    *, contacts: list[Contact], by: User, reason: str, what: str, data: dict[str, Any]
) -> list[AuditEntry]:
    """Log, on each objecting person's record, that someone confirmed contacting them anyway,
    with their reason. Raises `ObjectionNotConfirmed` without a reason."""
    reason = reason.strip()
    if contacts and not reason:
        raise ObjectionNotConfirmed(contacts)
    return [
        audit.record(
            instance=contact,
            action=AuditEntry.Action.DESPITE_OBJECTION,
            by=by,
            new_value=what,
            detail=reason,
            data=data,
        )
        for contact in contacts
    ]


@transaction.atomic
def log_interaction(
    *,
    organisation: Organisation,
    by: User,
    kind: Interaction.Kind | str,
    occurred_at: datetime,
    summary: str,
    contact: Contact | None = None,
    project: models.Model | None = None,
    lead: models.Model | None = None,
    objection_reason: str = "",
) -> Interaction:
    """Record an interaction and move the contact's `last_interaction_at` (and the lead's
    `last_activity_at`) forward.

    A call or an e-mail to a person who objects to being contacted needs `objection_reason`
    (the person called us, answered a request of theirs...): it is logged on their record, or
    `ObjectionNotConfirmed` is raised and nothing is written.

    The updates are conditional in SQL so that logging an older interaction, or two people
    logging at once, never moves the date backwards.
    """
    # crm may not name Project or Lead (the apps are built on it); Django refuses a record of
    # another model when it is assigned to the foreign key.
    interaction = Interaction(  # type: ignore[misc]
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
    if contact is not None and contact.objects_to_contact and kind in Interaction.CONTACTING:
        record_contact_despite_objection(
            contacts=[contact],
            by=by,
            reason=objection_reason,
            what=interaction.get_kind_display(),
            data={"interaction": interaction.pk},
        )
    if contact is not None:
        Contact.objects.filter(pk=contact.pk).filter(
            Q(last_interaction_at__isnull=True) | Q(last_interaction_at__lt=occurred_at)
        ).update(last_interaction_at=occurred_at)
    if lead is not None:
        # An update, not a save: the lead's version (its optimistic edit check) must not move.
        type(lead)._default_manager.filter(pk=lead.pk, last_activity_at__lt=occurred_at).update(
            last_activity_at=occurred_at
        )
    # Those who follow the record hear of the exchange (a project's team, a lead's people).
    for record in (project, lead):
        if record is not None and record._meta.label in notifications.RECORDS:
            notifications.notify_followers(
                kind="interaction_logged", record=record, by=by, params={}
            )
    return interaction


@transaction.atomic
def save_notification_preferences(
    *,
    user: User,
    language: str,
    digest_enabled: bool,
    digest_time: time,
    deliveries: dict[str, str],
) -> None:
    """Save how the person hears of each kind of event, their e-mails' language and digest."""
    User.objects.filter(pk=user.pk).update(
        language=language, digest_enabled=digest_enabled, digest_time=digest_time
    )
    user.language, user.digest_enabled, user.digest_time = language, digest_enabled, digest_time
    NotificationPreference.objects.filter(user=user).exclude(kind__in=deliveries).delete()
    for kind, delivery in deliveries.items():
        NotificationPreference.objects.update_or_create(
            user=user, kind=kind, defaults={"delivery": delivery}
        )
