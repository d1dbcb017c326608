"""The audit trail of record changes: who changed which field of a project, lead, organisation
or contact, when, from what to what.

Actions call these helpers explicitly (no signals, no `save()` override):

    before = audit.stored_snapshot(organisation)   # what the database holds, before the save
    organisation.save()
    audit.record_changes(before=before, instance=organisation, by=user)

Values are kept as text, as the user saw them (choice labels, names of related records), so an
entry stays readable after the related record is renamed or deleted. One save writes its rows
with a single `bulk_create`.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Collection, Mapping
from decimal import Decimal
from typing import Any

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models.fields.files import FieldFile
from django.utils import formats, timezone, translation
from django.utils.text import capfirst
from django.utils.translation import gettext

from crm.models import AuditEntry, User

Action = AuditEntry.Action

# A snapshot: field name -> (label, value as text).
Snapshot = dict[str, tuple[str, str]]

# Derived, technical or bookkeeping columns that say nothing a reader of the history needs.
SKIPPED = {
    "search_text",
    "is_demo",
    "created_at",
    "updated_at",
    "created_by",
    "version",
    "last_activity_at",
    "last_interaction_at",
}

# Relations whose text is not simply the list of related names, per model label: the apps add
# theirs in `AppConfig.ready()` (a project's team carries each member's role).
SPECIAL_RELATIONS: dict[str, dict[str, Callable[[Any], list[str]]]] = {}


def as_text(value: Any) -> str:
    """A field value as the history shows it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return gettext("oui") if value else gettext("non")
    if isinstance(value, datetime.datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value.tzinfo else str(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, FieldFile):
        return value.name or ""
    return str(value)


def _tracked_fields(instance: models.Model) -> list[models.Field[Any, Any]]:
    return [
        field
        for field in instance._meta.concrete_fields
        if field.editable and not field.primary_key and field.name not in SKIPPED
    ]


def snapshot(instance: models.Model, *, relations: bool = True) -> Snapshot:
    """The record's tracked fields as text. Many-to-many relations cost one query each."""
    values: Snapshot = {}
    for field in _tracked_fields(instance):
        if field.choices:
            value: Any = getattr(instance, f"get_{field.name}_display")()
        elif field.is_relation:
            value = getattr(instance, field.name)
        else:
            value = getattr(instance, field.attname)
        values[field.name] = (str(field.verbose_name), as_text(value))
    if relations and instance.pk is not None:
        special = SPECIAL_RELATIONS.get(instance._meta.label_lower, {})
        for field in instance._meta.many_to_many:
            if field.name in special:
                names = special[field.name](instance)
            else:
                names = [str(related) for related in getattr(instance, field.name).all()]
            values[field.name] = (str(field.verbose_name), ", ".join(sorted(names)))
    return values


def stored_snapshot(instance: models.Model) -> Snapshot:
    """The snapshot of what the database holds for `instance` (empty for a new record).

    Forms write their values onto the instance before the action runs, so the "before" of an
    edit is read back from the database."""
    if instance.pk is None:
        return {}
    model = type(instance)
    relations = [
        field.name for field in _tracked_fields(instance) if field.many_to_one or field.one_to_one
    ]
    stored = model._base_manager.select_related(*relations).filter(pk=instance.pk).first()
    return snapshot(stored) if stored is not None else {}


def _entries(
    before: Mapping[str, tuple[str, str]],
    after: Mapping[str, tuple[str, str]],
    instance: models.Model,
    *,
    action: str,
    by: User | None,
    detail: str,
    at: datetime.datetime,
) -> list[AuditEntry]:
    """One unsaved entry per field whose text differs between `before` and `after`."""
    return [
        AuditEntry(
            record_type=instance._meta.label_lower,
            record_id=instance.pk,
            action=action,
            field=name,
            field_label=label,
            old_value=before.get(name, ("", ""))[1],
            new_value=value,
            detail=detail,
            by=by,
            at=at,
        )
        for name, (label, value) in after.items()
        if before.get(name, ("", ""))[1] != value
    ]


def record_changes(
    *,
    before: Mapping[str, tuple[str, str]],
    instance: models.Model,
    by: User | None,
    action: str = "",
    detail: str = "",
    after: Mapping[str, tuple[str, str]] | None = None,
    ignore: Collection[str] = (),
) -> list[AuditEntry]:
    """One entry per field whose text changed between `before` and `instance` now.

    An empty `before` means the record was just created: its non-empty fields are recorded
    as created. Fields in `ignore` belong to another action (a form never moves the stage).
    Nothing changed, nothing written."""
    after = snapshot(instance) if after is None else after
    action = action or (Action.CHANGED if before else Action.CREATED)
    entries = _entries(
        before, after, instance, action=action, by=by, detail=detail, at=timezone.now()
    )
    entries = [entry for entry in entries if entry.field not in ignore]
    return AuditEntry.objects.bulk_create(entries)


def record_many(
    changes: list[tuple[Snapshot, models.Model]], *, by: User | None, detail: str = ""
) -> int:
    """`record_changes` for many records at once (an import): their entries in batched
    inserts. Many-to-many fields are left out (imports do not set them), and foreign keys
    must already be cached on the instances, or each costs a query."""
    now = timezone.now()
    entries = [
        entry
        for before, instance in changes
        for entry in _entries(
            before,
            snapshot(instance, relations=False),
            instance,
            action=Action.CHANGED if before else Action.CREATED,
            by=by,
            detail=detail,
            at=now,
        )
    ]
    AuditEntry.objects.bulk_create(entries, batch_size=2000)
    return len(entries)


def record(
    *,
    instance: models.Model,
    action: str,
    by: User | None,
    detail: str = "",
    field: str = "",
    old_value: str = "",
    new_value: str = "",
    data: dict[str, Any] | None = None,
) -> AuditEntry:
    """One entry for an event on the record (a transition, an export, an anonymisation...)."""
    # `field` names one of the record's tracked fields, which have a verbose name.
    label = str(instance._meta.get_field(field).verbose_name) if field else ""  # type: ignore[union-attr]
    return AuditEntry.objects.create(
        record_type=instance._meta.label_lower,
        record_id=instance.pk,
        action=action,
        field=field,
        field_label=label,
        old_value=old_value,
        new_value=new_value,
        detail=detail,
        data=data or {},
        by=by,
    )


def record_list_event(
    *,
    model: type[models.Model],
    action: str,
    by: User | None,
    detail: str = "",
    data: dict[str, Any] | None = None,
) -> AuditEntry:
    """One entry for an event on a whole list of `model` rather than one record (an export of
    the filtered contact list): its `record_id` is empty."""
    return AuditEntry.objects.create(
        record_type=model._meta.label_lower,
        record_id=None,
        action=action,
        detail=detail,
        data=data or {},
        by=by,
    )


def record_deleted(
    model: type[models.Model], ids: Collection[int], *, by: User | None, detail: str = ""
) -> list[AuditEntry]:
    """One entry per deleted record. Its values are not copied here: a deletion must not
    keep, in the trail, the personal data it removed."""
    return AuditEntry.objects.bulk_create(
        AuditEntry(
            record_type=model._meta.label_lower,
            record_id=pk,
            action=Action.DELETED,
            detail=detail,
            by=by,
        )
        for pk in ids
    )


AUDIT_SHOWN = 50


def entries_for(record: models.Model, user: User) -> list[AuditEntry] | None:
    """The latest entries of `record` for the page, in one query; None when the user may not
    read the audit trail (the section is then not shown). Each entry carries `shown_label`,
    `shown_old` and `shown_new`: its values as people read them (`readable()`)."""
    if not user.has_perm("crm.view_auditentry"):
        return None
    entries = list(AuditEntry.objects.for_record(record)[:AUDIT_SHOWN])
    for entry in entries:
        field = _model_field(entry)
        entry.shown_label = capfirst(str(field.verbose_name)) if field else entry.field_label
        entry.shown_old = readable(entry.old_value, field)
        entry.shown_new = readable(entry.new_value, field)
    return entries


def _model_field(entry: AuditEntry) -> models.Field[Any, Any] | None:
    try:
        field = apps.get_model(entry.record_type)._meta.get_field(entry.field)
    except (LookupError, ValueError, FieldDoesNotExist):
        return None
    # Entries are written for a record's own fields, never for a relation's other side.
    return field if isinstance(field, models.Field) else None


def readable(text: str, field: models.Field[Any, Any] | None) -> str:
    """A stored value (`as_text()`: ISO dates, plain decimals, French words) as the reader's
    language writes it: "150 000 €", "2 décembre 2026", "Identifiée" / "Identified". Text that
    no longer fits the field (the field changed since) is shown as it was stored."""
    if not text or field is None or not hasattr(field, "get_internal_type"):
        return text
    kind = field.get_internal_type()
    try:
        if field.choices:
            return _choice_label(text, field)
        if kind == "BooleanField":
            with translation.override("fr"):
                words = {gettext("oui"): True, gettext("non"): False}
            return (gettext("oui") if words[text] else gettext("non")) if text in words else text
        if kind == "DecimalField":
            amount = Decimal(text)
            places = 0 if amount == amount.to_integral_value() else 2
            return f"{formats.number_format(amount, places, force_grouping=True)}\u00a0€"
        if kind in {"IntegerField", "PositiveIntegerField", "PositiveSmallIntegerField"}:
            return formats.number_format(int(text), force_grouping=True)
        if kind == "DateTimeField":
            moment = datetime.datetime.strptime(text, "%Y-%m-%d %H:%M")
            return formats.date_format(moment, "DATETIME_FORMAT")
        if kind == "DateField":
            return formats.date_format(datetime.date.fromisoformat(text), "DATE_FORMAT")
    except (ArithmeticError, ValueError, KeyError):
        return text
    return text


def _choice_label(text: str, field: models.Field[Any, Any]) -> str:
    """Choices are stored by their French label: the same choice in the reader's language."""
    with translation.override("fr"):
        by_french = {str(label): value for value, label in field.flatchoices}
    value = by_french.get(text, text)
    return str(dict(field.flatchoices).get(value, text))
