from __future__ import annotations

from typing import Any

from axes.admin import AccessAttemptAdmin, AccessFailureLogAdmin, AccessLogAdmin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db import models
from django.db.models import QuerySet
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django_tasks_db.admin import DBTaskResultAdmin
from django_tasks_db.models import DBTaskResult

from crm import audit
from crm.models import (
    AuditEntry,
    Contact,
    Event,
    Interaction,
    Job,
    Notification,
    Organisation,
    OutboxMessage,
    Territory,
    Thematic,
    User,
)

# The mark of an audit entry written from the admin rather than from the app's pages.
ADMIN_DETAIL = "Administration"


def editor_of(request: HttpRequest) -> User:
    """Who is working in the admin: the admin site lets in signed-in staff only."""
    user = request.user
    assert isinstance(user, User), "the admin site serves signed-in users only"
    return user


class AuditedAdmin(admin.ModelAdmin):
    """An admin whose changes land in the audit trail like the app's own, marked
    "Administration": Django's LogEntry only says that something changed, the trail says which
    field, from what to what. Inlines of audited models (an organisation's contacts) are
    recorded on their own records, deletions with one entry each and none of their values.
    The admins of the audited records (organisation, contact, project, lead) derive from it."""

    def save_model(self, request: HttpRequest, obj: Any, form: ModelForm, change: bool) -> None:
        obj._audit_before = audit.stored_snapshot(obj)
        super().save_model(request, obj, form, change)

    def save_related(
        self, request: HttpRequest, form: ModelForm, formsets: list, change: bool
    ) -> None:
        super().save_related(request, form, formsets, change)
        # After the many-to-many fields and the inlines: a project's team is part of its record.
        audit.record_changes(
            before=form.instance._audit_before,
            instance=form.instance,
            by=editor_of(request),
            detail=ADMIN_DETAIL,
        )

    def save_formset(
        self, request: HttpRequest, form: ModelForm, formset: BaseInlineFormSet, change: bool
    ) -> None:
        # An inline is audited when its own model's admin is (a contact, under an organisation).
        if not isinstance(self.admin_site._registry.get(formset.model), AuditedAdmin):
            super().save_formset(request, form, formset, change)
            return
        before = {
            id(inline.instance): (inline.instance.pk, audit.stored_snapshot(inline.instance))
            for inline in formset.initial_forms
        }
        super().save_formset(request, form, formset, change)
        for obj in formset.new_objects:
            audit.record_changes(
                before={}, instance=obj, by=editor_of(request), detail=ADMIN_DETAIL
            )
        for obj, _fields in formset.changed_objects:
            audit.record_changes(
                before=before[id(obj)][1], instance=obj, by=editor_of(request), detail=ADMIN_DETAIL
            )
        audit.record_deleted(
            formset.model,
            [before[id(obj)][0] for obj in formset.deleted_objects],
            by=editor_of(request),
            detail=ADMIN_DETAIL,
        )

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        pk = obj.pk
        super().delete_model(request, obj)
        audit.record_deleted(type(obj), [pk], by=editor_of(request), detail=ADMIN_DETAIL)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        super().delete_queryset(request, queryset)
        audit.record_deleted(queryset.model, ids, by=editor_of(request), detail=ADMIN_DETAIL)


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ["username", "first_name", "last_name", "email", "is_active", "last_login"]
    list_filter = ["groups", "is_active", "is_staff", "is_superuser"]


@admin.register(Territory, Thematic)
class NamedAdmin(admin.ModelAdmin):
    list_display = ["name", "slug"]
    search_fields = ["name"]
    prepopulated_fields = {"slug": ["name"]}


class ContactInline(admin.TabularInline):
    model = Contact
    fields = ["first_name", "last_name", "role", "email", "phone", "legal_basis"]
    extra = 0
    show_change_link = True


@admin.register(Organisation)
class OrganisationAdmin(AuditedAdmin):
    # Django 6 makes https the default scheme of URL fields; say it now, as the app's forms do.
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ["name", "kind", "sector", "siret", "city", "territory", "is_demo"]
    list_filter = ["kind", "sector", "territory", "is_demo"]
    list_select_related = ["territory"]
    search_fields = ["name", "siret", "city"]
    # The logo is checked and cleaned on upload: it comes through the organisation's page.
    readonly_fields = ["logo", "created_by", "created_at", "updated_at"]
    inlines = [ContactInline]


@admin.register(Contact)
class ContactAdmin(AuditedAdmin):
    list_display = [
        "last_name",
        "first_name",
        "organisation",
        "email",
        "last_interaction_at",
        "objects_to_contact",
    ]
    list_filter = ["legal_basis", "organisation__kind", "organisation__territory"]
    list_select_related = ["organisation"]
    search_fields = ["last_name", "first_name", "email", "organisation__name"]
    autocomplete_fields = ["organisation"]
    # The objection and the erasure are recorded from the contact's page, with their logs.
    readonly_fields = [
        "last_interaction_at",
        "objected_at",
        "anonymised_at",
        "created_by",
        "created_at",
        "updated_at",
    ]

    @admin.display(boolean=True, description=_("Ne pas contacter"), ordering="objected_at")
    def objects_to_contact(self, contact: Contact) -> bool:
        return contact.objects_to_contact


@admin.register(Interaction)
class InteractionAdmin(admin.ModelAdmin):
    list_display = ["occurred_at", "kind", "organisation", "contact", "author"]
    list_filter = ["kind"]
    list_select_related = ["organisation", "contact", "author"]
    search_fields = ["summary", "organisation__name"]
    autocomplete_fields = ["organisation", "contact", "author"]
    date_hierarchy = "occurred_at"


# The login log (django-axes): every staff member reads it, nobody edits it. Only a superuser may
# delete an AccessAttempt, which is how a locked account is unlocked before its cool-off ends.
class _LoginLogAdmin:
    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return request.user.is_active and request.user.is_superuser


for _model, _base in [
    (AccessAttempt, AccessAttemptAdmin),
    (AccessLog, AccessLogAdmin),
    (AccessFailureLog, AccessFailureLogAdmin),
]:
    admin.site.unregister(_model)
    admin.site.register(_model, type(_base.__name__, (_LoginLogAdmin, _base), {}))


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """The audit trail, read-only for everyone (superusers included): only `crm.audit` writes."""

    list_display = ["at", "record_type", "record_id", "action", "field_label", "by"]
    list_filter = ["action", "record_type"]
    list_select_related = ["by"]
    search_fields = ["=record_id", "field", "by__username"]
    date_hierarchy = "at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


# Background jobs and the worker's queue: staff read them (what ran, what failed, and why);
# only the worker writes them.
admin.site.unregister(DBTaskResult)
admin.site.register(
    DBTaskResult, type("DBTaskResultAdmin", (_LoginLogAdmin, DBTaskResultAdmin), {})
)


@admin.register(Job)
class JobAdmin(_LoginLogAdmin, admin.ModelAdmin):
    list_display = ["created_at", "label", "owner", "status", "attempts", "finished_at"]
    list_filter = ["status", "kind"]
    list_select_related = ["owner"]
    search_fields = ["label", "owner__username"]
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in Job._meta.fields]


class _MissionReadAdmin:
    """What the mission's staff read in the admin without a model permission of their own:
    the outbox and the events behind it."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return request.user.is_active and request.user.is_superuser


@admin.register(OutboxMessage)
class OutboxMessageAdmin(_MissionReadAdmin, admin.ModelAdmin):
    """The e-mails waiting for the mail server, sent, and given up: read, and sent again
    by putting a failed one back in the queue."""

    list_display = ["to", "subject", "status", "attempts", "next_attempt_at", "sent_at"]
    list_filter = ["status"]
    search_fields = ["to", "subject"]
    date_hierarchy = "created_at"
    readonly_fields = [
        f.name for f in OutboxMessage._meta.fields if f.name not in {"status", "next_attempt_at"}
    ]
    actions = ["queue_again"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return request.user.is_active and request.user.is_mission_staff

    @admin.action(description=_("Remettre en file d'envoi"))
    def queue_again(self, request: HttpRequest, queryset: QuerySet[OutboxMessage]) -> None:
        from django.utils import timezone

        count = queryset.exclude(status=OutboxMessage.Status.SENT).update(
            status=OutboxMessage.Status.PENDING, next_attempt_at=timezone.now()
        )
        self.message_user(request, _("%(count)s e-mail(s) remis en file.") % {"count": count})


@admin.register(Event)
class EventAdmin(_MissionReadAdmin, admin.ModelAdmin):
    list_display = ["kind", "record_name", "actor", "created_at", "delivered_at"]
    list_filter = ["kind"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Notification)
class NotificationAdmin(_MissionReadAdmin, admin.ModelAdmin):
    list_display = ["recipient", "event", "created_at", "read_at"]
    raw_id_fields = ["event", "recipient"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
