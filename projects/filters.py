from __future__ import annotations

import django_filters
from django.db.models import Exists, OuterRef
from django.utils.translation import gettext_lazy as _

from crm.filters import RecordFilter, SearchFilterSet, StableOrderingFilter
from crm.models import Role, Territory, Thematic, User, search_filter
from projects.models import Phase, Project, ProjectMember, ProjectQuerySet, Step


class ProjectFilter(SearchFilterSet):
    state = django_filters.ChoiceFilter(label=_("Étape"), choices=Step.choices)
    phase = django_filters.ChoiceFilter(
        label=_("Phase"), choices=Phase.choices, method="filter_phase"
    )
    territory = RecordFilter(label=_("Territoire"), queryset=Territory.objects.all())
    thematic = RecordFilter(
        label=_("Thématique"), field_name="thematics", queryset=Thematic.objects.all()
    )
    designer = RecordFilter(
        label=_("Designer"),
        queryset=User.objects.filter(groups__name=Role.DESIGNER).order_by("last_name"),
        method="filter_designer",
    )
    # A text filter, not a list: thousands of holders would make the page heavy to render.
    holder = django_filters.CharFilter(label=_("Porteur"), method="filter_holder", max_length=200)
    overdue = django_filters.ChoiceFilter(
        label=_("En retard"),
        choices=[("yes", _("Oui")), ("no", _("Non"))],
        method="filter_overdue",
    )
    ordering = StableOrderingFilter(
        label=_("Trier par"),
        fields=(
            ("created_at", "created"),
            ("reference", "reference"),
            ("title", "title"),
            ("target_date", "target"),
        ),
        field_labels={
            "created": _("Date de création"),
            "reference": _("Référence"),
            "title": _("Intitulé"),
            "target": _("Échéance"),
        },
    )

    class Meta:
        model = Project
        fields = ["q", "phase", "state", "territory", "thematic", "designer", "holder", "overdue"]

    def filter_phase(self, queryset: ProjectQuerySet, name: str, value: str) -> ProjectQuerySet:
        return queryset.in_phase(value)

    def filter_holder(self, queryset: ProjectQuerySet, name: str, value: str) -> ProjectQuerySet:
        return queryset.filter(search_filter("holder__search_text", value))

    def filter_designer(self, queryset: ProjectQuerySet, name: str, value: User) -> ProjectQuerySet:
        return queryset.filter(
            Exists(ProjectMember.objects.filter(project=OuterRef("pk"), user=value))
        )

    def filter_overdue(self, queryset: ProjectQuerySet, name: str, value: str) -> ProjectQuerySet:
        overdue = queryset.overdue()
        return overdue if value == "yes" else queryset.exclude(pk__in=overdue.values("pk"))
