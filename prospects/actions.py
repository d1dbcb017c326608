"""Lead actions: multi-model work with side effects, each in one transaction."""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from crm import audit, fsm
from crm.actions import record_contact_despite_objection
from crm.fsm import TransitionOption, TransitionRefused, fsm_meta
from crm.models import Contact, User, fold
from crm.references import save_with_reference
from crm.uploads import CheckedUpload, make_thumbnail
from prospects.models import (
    LEAD_REFERENCE_PREFIX,
    NEXT_STAGE,
    PREVIOUS_STAGE,
    TRANSITIONS,
    CalendarToken,
    Lead,
    LeadTransition,
    Site,
    SitePhoto,
    Stage,
)

__all__ = [
    "LeadChanged",
    "run_transition",
    "save_lead",
]


UNTOUCHED_BY_EDIT = {"stage", "lost_reason", "created_by"}


class LeadChanged(Exception):
    """Someone else changed the lead first; nothing was saved."""


def target_of(lead: Lead, name: str) -> str:
    """The stage transition `name` would lead to from the lead's current stage."""
    if name == "advance":
        return NEXT_STAGE[lead.stage]
    if name == "step_back":
        return PREVIOUS_STAGE[lead.stage]
    if name == "revive":
        return lead.dormant_from or Stage.IDENTIFIED
    return str(fsm_meta(lead, name).get_transition(lead.stage).target)


def refusal_reasons(lead: Lead, name: str, user: User) -> list[str]:
    """Why `user` may not run transition `name` on `lead` now; empty when they may."""
    if name not in TRANSITIONS:
        return [_("Cette action n'existe pas.")]
    meta = fsm_meta(lead, name)
    if not meta.has_transition(lead.stage):
        return [
            _("Cette action n'est pas possible à l'étape « %(stage)s ».")
            % {"stage": Stage(lead.stage).label}
        ]
    if not meta.has_transition_perm(lead, lead.stage, user):
        return [
            _(
                "Seuls la personne chargée de la piste, celles avec qui elle est partagée "
                "et l'équipe de la mission peuvent la faire avancer."
            )
        ]
    return fsm.unmet_conditions(lead, name, lead.stage)


def transition_options(
    lead: Lead, user: User, *, check_conditions: bool = True
) -> list[TransitionOption]:
    """The moves from the lead's stage that the user may make, with what blocks each one.

    The board passes `check_conditions=False`: conditions cost a query each, and
    `run_transition` checks them anyway when the move is made."""
    return fsm.transition_options(
        lead,
        user,
        names=TRANSITIONS,
        state=lead.stage,
        target_of=target_of,
        refusal_reasons=refusal_reasons,
        check_conditions=check_conditions,
    )


def run_transition(*, lead: Lead, name: str, by: User, comment: str = "") -> LeadTransition:
    """Run transition `name` and log it, in one transaction.

    Refused transitions raise `TransitionRefused` with the reasons (losing needs a reason);
    if someone else moved the lead since it was read, `LeadChanged` is raised and nothing
    (log included) is written.
    """
    comment = comment.strip()
    reasons = refusal_reasons(lead, name, by)
    if (
        not reasons
        and fsm_meta(lead, name).get_transition(lead.stage).custom.get("needs_comment")
        and not comment
    ):
        if name == "lose":
            reasons = [_("Dites pourquoi la piste est perdue : la raison est obligatoire.")]
        else:
            reasons = [_("Un commentaire est nécessaire pour cette action : dites pourquoi.")]
    if reasons:
        raise TransitionRefused(reasons)
    now = timezone.now()

    def save() -> None:
        # The transition has set the stage: keep the loss reason with it, and the activity.
        if name == "lose":
            lead.lost_reason = comment
        elif lead.stage != Stage.LOST:
            lead.lost_reason = ""
        lead.last_activity_at = now
        lead.save(
            update_fields=["stage", "dormant_from", "lost_reason", "last_activity_at", "updated_at"]
        )

    return fsm.run_logged(
        lead,
        name=name,
        by=by,
        comment=comment,
        log_model=LeadTransition,
        changed=LeadChanged,
        save=save,
        at=now,
    )


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
        updated = Lead.objects.filter(pk=lead.pk, version=seen_version).update(
            version=F("version") + 1, **values
        )
        if not updated:
            raise LeadChanged
        lead.refresh_from_db(fields=["version", "updated_at", "search_text"])
    lead.contacts.set(contacts)
    lead.target_sites.set(list(target_sites))
    lead.shared_with.set([user for user in shared_with if user.pk != lead.owner_id])
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
    """Store a checked image as a photo of the site, with its thumbnail."""
    photo = SitePhoto(
        site=site,
        caption=caption.strip(),
        content_type=upload.content_type,
        width=upload.width,
        height=upload.height,
        uploaded_by=by,
    )
    storage = photo.image.storage
    photo.image.name = storage.save(upload.storage_name("sites"), upload.content)
    upload.content.seek(0)
    thumbnail = make_thumbnail(upload.content.read())
    photo.thumbnail.name = storage.save(
        f"sites/thumbnails/{photo.image.name.rsplit('/', 1)[1]}.jpg", thumbnail
    )
    photo.save()
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
