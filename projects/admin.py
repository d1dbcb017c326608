from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.contrib import admin, messages
from django.db import models
from django.http import HttpRequest
from django.utils.translation import gettext, gettext_lazy
from django_fsm.admin import FSMAdminMixin

from crm.admin import AuditedAdmin, editor_of
from crm.fsm import (
    TransitionAdminMixin,
    TransitionLogAdminMixin,
    TransitionLogInlineMixin,
    TransitionRefused,
)
from projects.actions import review_version
from projects.models import (
    Deliverable,
    DeliverableVersion,
    ExpectedDeliverable,
    FundingLine,
    Milestone,
    Project,
    ProjectChanged,
    ProjectMember,
    ProjectTransition,
    Specification,
    SpecificationVersion,
)


class MemberInline(admin.TabularInline):
    model = ProjectMember
    extra = 0
    autocomplete_fields = ["user"]


class FundingInline(admin.TabularInline):
    model = FundingLine
    extra = 0


class TransitionInline(TransitionLogInlineMixin, admin.TabularInline):
    model = ProjectTransition


@admin.register(Project)
class ProjectAdmin(TransitionAdminMixin, FSMAdminMixin, AuditedAdmin):
    fsm_fields = ["state"]
    changed_message = gettext_lazy("Ce projet vient de changer : rien n'a été modifié.")
    list_display = ["reference", "title", "holder", "territory", "state", "target_date"]
    list_filter = ["state", "territory", "thematics"]
    list_select_related = ["holder", "territory"]
    search_fields = ["reference", "title", "holder__name"]
    autocomplete_fields = ["holder", "holder_contact"]
    readonly_fields = ["reference", "suspended_from", "created_by", "created_at", "updated_at"]
    inlines = [MemberInline, FundingInline, TransitionInline]


class VersionInline(admin.TabularInline):
    model = DeliverableVersion
    extra = 0
    # Shown, never edited (one tuple serves both).
    fields = readonly_fields = (
        "number",
        "original_name",
        "review_state",
        "uploaded_by",
        "uploaded_at",
    )
    can_delete = False


@admin.register(Deliverable)
class DeliverableAdmin(admin.ModelAdmin):
    list_display = ["title", "kind", "project", "created_at"]
    list_filter = ["kind"]
    list_select_related = ["project"]
    search_fields = ["title", "project__reference", "project__title"]
    inlines = [VersionInline]


@admin.register(DeliverableVersion)
class DeliverableVersionAdmin(FSMAdminMixin, admin.ModelAdmin):
    fsm_fields = ["review_state"]
    list_display = ["deliverable", "number", "review_state", "uploaded_by", "uploaded_at"]
    list_filter = ["review_state"]
    list_select_related = ["deliverable", "uploaded_by"]
    readonly_fields = ["file", "thumbnail", "original_name", "content_type", "size"]

    def _apply_fsm_transition(
        self,
        *,
        obj: models.Model,
        transition_name: str,
        request: HttpRequest,
        kwargs: Mapping[str, Any] | None = None,
    ) -> bool:
        assert isinstance(obj, DeliverableVersion)  # the admin of deliverable versions
        # As for projects: the review records who and when, through the same action.
        try:
            review_version(
                version=obj,
                approve=transition_name == "approve",
                by=editor_of(request),
                comment=gettext("Depuis l'administration."),
            )
        except (TransitionRefused, ProjectChanged) as error:
            self.message_user(request, str(error), level=messages.ERROR)
            return False
        return True


@admin.register(ProjectTransition)
class ProjectTransitionAdmin(TransitionLogAdminMixin, admin.ModelAdmin):
    list_display = ["project", "source", "target", "by", "at"]
    list_select_related = ["project", "by"]


class MilestoneInline(admin.TabularInline):
    model = Milestone
    extra = 0


class ExpectedDeliverableInline(admin.TabularInline):
    model = ExpectedDeliverable
    extra = 0


class SpecificationVersionInline(admin.TabularInline):
    model = SpecificationVersion
    extra = 0
    # Shown, never edited (one tuple serves both).
    fields = readonly_fields = (
        "number",
        "issued_by",
        "issued_at",
        "page_count",
        "sha256",
        "approval",
    )
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Specification)
class SpecificationAdmin(admin.ModelAdmin):
    """The draft; issuing freezes a PDF and goes through the project's specification page."""

    list_display = ["project", "updated_by", "updated_at"]
    list_select_related = ["project", "updated_by"]
    search_fields = ["project__reference", "project__title"]
    readonly_fields = ["project", "revision", "updated_by", "updated_at"]
    inlines = [MilestoneInline, ExpectedDeliverableInline, SpecificationVersionInline]


@admin.register(SpecificationVersion)
class SpecificationVersionAdmin(admin.ModelAdmin):
    """Issued versions are frozen: readable here, never edited (the holder answers on the
    project page)."""

    list_display = ["specification", "number", "issued_by", "issued_at", "approval"]
    list_filter = ["approval"]
    list_select_related = ["specification__project", "issued_by"]
    exclude = ["content"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
