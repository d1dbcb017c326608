from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy
from django_fsm.admin import FSMAdminMixin

from crm.admin import AuditedAdmin
from crm.fsm import TransitionAdminMixin, TransitionLogAdminMixin, TransitionLogInlineMixin
from prospects.models import (
    Lead,
    LeadTransition,
    PromotionEvent,
    Site,
    SitePhoto,
    Town,
)


class PhotoInline(admin.TabularInline):
    model = SitePhoto
    extra = 0
    # Shown, never edited (one tuple serves both).
    fields = readonly_fields = ("caption", "uploaded_by", "uploaded_at")
    can_delete = True

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # Photos are checked and cleaned on upload: they come through the site page.
        return False


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "commune", "territory", "availability", "surface_m2"]
    list_filter = ["kind", "availability", "territory"]
    list_select_related = ["territory"]
    search_fields = ["name", "commune", "owner"]
    filter_horizontal = ["projects"]
    inlines = [PhotoInline]
    raw_id_fields = ["contact_officer"]


@admin.register(Town)
class TownAdmin(admin.ModelAdmin):
    list_display = ["name", "latitude", "longitude", "on_locator", "distance_reference"]
    list_filter = ["on_locator", "distance_reference"]


@admin.register(PromotionEvent)
class PromotionEventAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "starts_on", "ends_on", "city", "country"]
    list_filter = ["kind", "country"]
    search_fields = ["name", "city"]
    date_hierarchy = "starts_on"


class TransitionInline(TransitionLogInlineMixin, admin.TabularInline):
    model = LeadTransition


@admin.register(Lead)
class LeadAdmin(TransitionAdminMixin, FSMAdminMixin, AuditedAdmin):
    fsm_fields = ["stage"]
    changed_message = gettext_lazy("Cette piste vient de changer : rien n'a été modifié.")
    list_display = ["title", "organisation", "stage", "owner", "confidential", "next_action_due"]
    list_filter = ["stage", "confidential", "sector", "source", "origin_market", "territory"]
    list_select_related = ["organisation", "owner"]
    search_fields = ["title", "organisation__name"]
    autocomplete_fields = ["organisation", "contacts", "owner", "project"]
    filter_horizontal = ["shared_with", "target_sites"]
    readonly_fields = ["lost_reason", "version", "last_activity_at", "created_by", "created_at"]
    inlines = [TransitionInline]


@admin.register(LeadTransition)
class LeadTransitionAdmin(TransitionLogAdminMixin, admin.ModelAdmin):
    list_display = ["lead", "source", "target", "by", "at"]
    list_select_related = ["lead", "by"]
