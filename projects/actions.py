"""Project actions: multi-model work with side effects, each in one transaction.

A project's moves are run by its machine (`project.machine.run`, `crm.fsm`)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django_fsm import ConcurrentTransition

from crm import audit, notifications
from crm.fsm import TransitionRefused
from crm.models import AuditEntry, Thematic, User
from crm.references import save_with_reference
from crm.uploads import IMAGE_KINDS, CheckedUpload
from projects import notifications as project_notifications
from projects.models import (
    DEFAULT_EXPECTED,
    Deliverable,
    DeliverableVersion,
    Project,
    ProjectMember,
    Specification,
    SpecificationVersion,
)
from projects.models import (
    ProjectChanged as ProjectChanged,  # raised by the actions: callers catch it from here
)

if TYPE_CHECKING:
    from crm.pdf import RenderProgress


@transaction.atomic
def save_project(
    *,
    project: Project,
    by: User,
    thematics: Iterable[Thematic],
    designers: Iterable[User],
    lead: User | None,
    holder_accounts: Iterable[User] = (),
) -> Project:
    """Create or update a project with its thematics and team (designers, a lead, and the
    holder's accounts, who read the project and answer its specification)."""
    before = audit.stored_snapshot(project)
    created = project.pk is None
    try:
        if created:
            create_project(project=project, by=by)
            # Its fields are recorded as created; the relations set below complete the entry.
            before = audit.snapshot(project, relations=False)
        else:
            project.save()
    except ConcurrentTransition as error:
        raise ProjectChanged from error
    project.thematics.set(thematics)
    wanted = {user.pk: ProjectMember.Role.HOLDER for user in holder_accounts}
    wanted.update({user.pk: ProjectMember.Role.DESIGNER for user in designers})
    if lead is not None:
        wanted[lead.pk] = ProjectMember.Role.LEAD
    project.memberships.exclude(user_id__in=wanted).delete()
    for user_id, role in wanted.items():
        ProjectMember.objects.update_or_create(
            project=project, user_id=user_id, defaults={"role": role}
        )
    audit.record_changes(
        before=before,
        instance=project,
        by=by,
        action=AuditEntry.Action.CREATED if created else AuditEntry.Action.CHANGED,
    )
    return project


@transaction.atomic
def create_project(
    *, project: Project, by: User, thematics: list[Thematic] | None = None
) -> Project:
    """Save a new project with the next reference of the year (DS-2026-014)."""
    project.created_by = by
    save_with_reference(project, prefix="DS", digits=3)
    if thematics is not None:
        project.thematics.set(thematics)
    audit.record_changes(before={}, instance=project, by=by)
    return project


@transaction.atomic
def add_deliverable_version(
    *,
    project: Project,
    kind: str,
    title: str,
    upload: CheckedUpload,
    by: User,
) -> DeliverableVersion:
    """Store an upload as the next version of the project's deliverable (created if new)."""
    deliverable, _created = Deliverable.objects.get_or_create(
        project=project, kind=kind, title=title.strip(), defaults={"created_by": by}
    )
    # Lock the deliverable so two uploads at once get versions n and n+1, not two n.
    Deliverable.objects.select_for_update().filter(pk=deliverable.pk).first()
    number = (deliverable.versions.aggregate(last=Max("number"))["last"] or 0) + 1
    version = DeliverableVersion(
        deliverable=deliverable,
        number=number,
        original_name=upload.original_name,
        content_type=upload.content_type,
        size=upload.size,
        width=upload.width,
        height=upload.height,
        uploaded_by=by,
    )
    version.file.name = version.file.storage.save(
        upload.storage_name("deliverables"), upload.content
    )
    version.save()
    if upload.kind in IMAGE_KINDS:
        from projects.tasks import make_version_thumbnail

        # Rendered by the worker, not in the upload request; queued in this transaction, so
        # a version is never left without its task. The page shows a placeholder meanwhile.
        make_version_thumbnail.enqueue(version.pk)
    notifications.notify(
        kind="version_submitted",
        record=project,
        by=by,
        recipients=project_notifications.staff() + project_notifications.mission_leads(project),
        params={"deliverable": deliverable.title, "number": number},
        url=f"{project.get_absolute_url()}#deliverables",
    )
    return version


def review_version(
    *, version: DeliverableVersion, approve: bool, by: User, comment: str = ""
) -> DeliverableVersion:
    """Approve a version, or ask for changes (a comment is then required)."""
    comment = comment.strip()
    method = version.approve if approve else version.request_changes
    meta = method._django_fsm  # type: ignore[attr-defined]  # django-fsm's mark on a transition
    if not meta.has_transition(version.review_state):
        raise TransitionRefused([_("Cette version a déjà été revue.")])
    if not meta.has_transition_perm(version, version.review_state, by):
        raise PermissionDenied
    newer = version.newer_number()
    if newer is not None:
        raise TransitionRefused(
            [
                _(
                    "La version %(number)s a été remplacée par la version %(newer)s : c'est "
                    "celle-ci qui se revoit."
                )
                % {"number": version.number, "newer": newer}
            ]
        )
    if not approve and not comment:
        raise TransitionRefused([_("Dites ce qu'il faut modifier dans un commentaire.")])
    try:
        with transaction.atomic():
            method()
            version.reviewed_by = by
            version.reviewed_at = timezone.now()
            version.review_comment = comment
            # Only the review's fields: the worker may have recorded the thumbnail meanwhile.
            version.save(
                update_fields=["review_state", "reviewed_by", "reviewed_at", "review_comment"]
            )
            deliverable = version.deliverable
            notifications.notify(
                kind="version_approved" if approve else "version_changes_requested",
                record=deliverable.project,
                by=by,
                recipients=[version.uploaded_by_id],
                params={"deliverable": deliverable.title, "number": version.number},
                url=f"{deliverable.project.get_absolute_url()}#deliverables",
            )
    except ConcurrentTransition as error:
        raise ProjectChanged from error
    return version


# The specification --------------------------------------------------------------------------


class SpecificationChanged(Exception):
    """Someone saved the specification since this form was opened; nothing was saved."""


class NothingToIssue(Exception):
    """The draft says exactly what the last issued version says."""

    def __init__(self, number: int) -> None:
        super().__init__(f"Version {number} already says this.")
        self.number = number


class SpecificationTooLong(Exception):
    """Sections of the draft are too long to lay out (`Specification.too_long_sections`)."""

    def __init__(self, sections: list[str]) -> None:
        super().__init__(f"Too long to render: {', '.join(sections)}.")
        self.sections = sections


class SpecificationIncomplete(Exception):
    """Sections the specification cannot be issued without are empty."""

    def __init__(self, sections: list[str]) -> None:
        super().__init__(f"Empty: {', '.join(sections)}.")
        self.sections = sections

    @property
    def message(self) -> str:
        """The refusal as the person reads it, naming the sections to write."""
        from crm.forms import join_names

        return ngettext(
            "Rien n'est émis tant que la section %(sections)s est vide : rédigez-la, puis émettez.",
            "Rien n'est émis tant que les sections %(sections)s sont vides : rédigez-les, puis "
            "émettez.",
            len(self.sections),
        ) % {"sections": join_names([f"« {name} »" for name in self.sections])}


def check_issuable(specification: Specification) -> None:
    """Raise `SpecificationIncomplete` while a required section is empty, then
    `SpecificationTooLong` unless every section fits its bound."""
    if empty := specification.empty_required_sections():
        raise SpecificationIncomplete(empty)
    check_renderable(specification)


def check_renderable(specification: Specification) -> None:
    """Raise `SpecificationTooLong` unless every section fits the bound on its length."""
    if too_long := specification.too_long_sections():
        raise SpecificationTooLong(too_long)


@transaction.atomic
def specification_for(project: Project) -> Specification:
    """The project's specification. One started now takes the project's need and expects
    what the phase gates need (`DEFAULT_EXPECTED`), so the designer's work queue says from
    the start what is to upload; the team ticks the rest."""
    specification, created = Specification.objects.get_or_create(
        project=project, defaults={"need": project.need}
    )
    if created:
        specification.replace_expected(DEFAULT_EXPECTED)
    return specification


@transaction.atomic
def save_specification(
    *,
    specification: Specification,
    by: User,
    seen_revision: int,
    expected: dict[str, list[str]] | None = None,
) -> Specification:
    """Save the draft's sections (already set on `specification` by the form) and, when
    given, the kinds of deliverable expected per phase, unless someone else saved since
    revision `seen_revision` was read: then `SpecificationChanged`, and nothing is written."""
    stored = Specification.objects.select_for_update().get(pk=specification.pk)
    if stored.revision != seen_revision:
        raise SpecificationChanged
    specification.revision = stored.revision + 1
    specification.updated_by = by
    specification.save()
    if expected is not None:
        specification.replace_expected(expected)
    return specification


def issue_specification(
    *,
    project: Project,
    by: User,
    language: str,
    at: datetime | None = None,
    on_progress: RenderProgress | None = None,
) -> SpecificationVersion:
    """Freeze the draft as the next version: render the PDF (without the DRAFT mark), store it
    with its SHA-256 and page count, and keep the snapshot it was rendered from.

    Only staff issue; a draft with a required section empty raises `SpecificationIncomplete`,
    one with a section too long to lay out `SpecificationTooLong`. Issuing what the last
    version already says raises `NothingToIssue`, so a double click (or a job run twice)
    makes one version.

    The PDF is rendered with no lock held; the version is then recorded under the
    specification's row lock, if the version it follows is still the latest. When another
    issue got there first, its text decides: the same text is `NothingToIssue`, another one
    is rendered again under the next number (the number is printed in the PDF). Two issues at
    the very same moment are told apart by the (specification, number) constraint. `at` is
    the issue time (now; the demo data replays past dates); `on_progress` hears how far the
    render has got (`crm.pdf.render_pdf_document`)."""
    # Imported here: rendering pulls in WeasyPrint, which most requests never need.
    from projects.pdf import render_specification, specification_snapshot

    if not by.has_perm("projects.add_specificationversion"):
        raise PermissionDenied
    specification = specification_for(project)
    storage = SpecificationVersion._meta.get_field("file").storage
    for _attempt in range(ISSUE_ATTEMPTS):
        specification.refresh_from_db()
        check_issuable(specification)
        latest = specification.versions.order_by("-number").first()
        content = specification_snapshot(specification)
        if latest is not None and latest.content == content:
            raise NothingToIssue(latest.number)
        number = latest.number + 1 if latest else 1
        issued_at = at or timezone.now()
        pdf = render_specification(
            content,
            number=number,
            draft=False,
            language=language,
            issued_on=timezone.localdate(issued_at),
            on_progress=on_progress,
        )
        digest = hashlib.sha256(pdf.data).hexdigest()
        stored_name = storage.save(
            f"specifications/{project.reference}-v{number}-{digest[:12]}.pdf",
            ContentFile(pdf.data),
        )
        try:
            with transaction.atomic():
                Specification.objects.select_for_update().filter(pk=specification.pk).get()
                now_latest = specification.versions.order_by("-number").first()
                if (now_latest.number if now_latest else 0) != number - 1:
                    if now_latest is not None and now_latest.content == content:
                        raise NothingToIssue(now_latest.number)
                    raise _Overtaken
                version = SpecificationVersion.objects.create(
                    specification=specification,
                    number=number,
                    file=stored_name,
                    sha256=digest,
                    size=len(pdf.data),
                    page_count=pdf.page_count,
                    language=language,
                    content=content,
                    issued_by=by,
                    issued_at=issued_at,
                )
                notifications.notify(
                    kind="specification_issued",
                    record=project,
                    by=by,
                    recipients=project_notifications.holders(project),
                    params={"number": number},
                    url=f"{project.get_absolute_url()}#specification",
                )
                return version
        except _Overtaken:
            storage.delete(stored_name)
            continue
        except IntegrityError as error:
            storage.delete(stored_name)
            latest = specification.versions.order_by("-number").first()
            raise NothingToIssue(latest.number if latest else 0) from error
        except BaseException:
            storage.delete(stored_name)
            raise
    latest = specification.versions.order_by("-number").first()
    assert latest is not None  # every attempt was overtaken by a version issued meanwhile
    raise NothingToIssue(latest.number)


# Renders of one issue at most, when other issues keep getting there first.
ISSUE_ATTEMPTS = 3


class _Overtaken(Exception):
    """Another version was issued while this one rendered: render again under the next
    number."""


def answer_specification(
    *, version: SpecificationVersion, approve: bool, by: User, comment: str = ""
) -> SpecificationVersion:
    """The holder approves the latest issued version, or returns it with a comment."""
    comment = comment.strip()
    method = version.approve if approve else version.return_to_mission
    meta = method._django_fsm  # type: ignore[attr-defined]  # django-fsm's mark on a transition
    if not meta.has_transition_perm(version, version.approval, by):
        raise PermissionDenied
    if not meta.has_transition(version.approval):
        raise TransitionRefused([_("Vous avez déjà répondu sur cette version.")])
    latest = (
        SpecificationVersion.objects.filter(specification=version.specification_id)
        .order_by("-number")
        .values_list("number", flat=True)
        .first()
    )
    if latest != version.number:
        raise TransitionRefused(
            [_("Une version plus récente a été émise : répondez sur la version %s.") % latest]
        )
    if not approve and not comment:
        raise TransitionRefused([_("Dites ce qu'il faut changer dans un commentaire.")])
    try:
        with transaction.atomic():
            method()
            version.answered_by = by
            version.answered_at = timezone.now()
            version.answer_comment = comment
            version.save()
            project = version.specification.project
            notifications.notify(
                kind="specification_approved" if approve else "specification_returned",
                record=project,
                by=by,
                recipients=project_notifications.mission_leads(project) or [version.issued_by_id],
                params={"number": version.number},
                url=reverse("projects:specification_edit", args=[project.pk]),
            )
    except ConcurrentTransition as error:
        raise ProjectChanged from error
    return version
