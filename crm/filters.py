from __future__ import annotations

import django_filters
from django import forms
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from crm.models import Contact, Organisation, Territory


class StableOrderingFilter(django_filters.OrderingFilter):
    """Ordering with the primary key as the last key, so pagination never repeats a row."""

    def filter(self, qs: QuerySet, value: list[str] | None) -> QuerySet:
        qs = super().filter(qs, value)
        if value:
            qs = qs.order_by(*qs.query.order_by, "pk")
        return qs


class SearchFilterSet(django_filters.FilterSet):
    """A FilterSet with a free-text `q` delegated to the QuerySet's `search()` method."""

    q = django_filters.CharFilter(label=_("Recherche"), method="filter_search", max_length=200)

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.search(value)


class OrganisationFilter(SearchFilterSet):
    kind = django_filters.ChoiceFilter(label=_("Type"), choices=Organisation.Kind.choices)
    sector = django_filters.ChoiceFilter(label=_("Statut"), choices=Organisation.Sector.choices)
    territory = django_filters.ModelChoiceFilter(
        label=_("Territoire"), queryset=Territory.objects.all()
    )
    has_siret = django_filters.ChoiceFilter(
        label=_("SIRET renseigné"),
        choices=[("yes", _("Oui")), ("no", _("Non"))],
        method="filter_has_siret",
    )
    ordering = StableOrderingFilter(
        label=_("Trier par"),
        fields=(("name", "name"), ("city", "city"), ("created_at", "created_at")),
        field_labels={"name": _("Nom"), "city": _("Commune"), "created_at": _("Date de création")},
    )

    class Meta:
        model = Organisation
        fields = ["q", "kind", "sector", "territory", "has_siret"]

    def filter_has_siret(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.exclude(siret="") if value == "yes" else queryset.filter(siret="")


class ContactFilter(SearchFilterSet):
    organisation_kind = django_filters.ChoiceFilter(
        label=_("Type d'organisation"),
        field_name="organisation__kind",
        choices=Organisation.Kind.choices,
    )
    territory = django_filters.ModelChoiceFilter(
        label=_("Territoire"),
        field_name="organisation__territory",
        queryset=Territory.objects.all(),
    )
    legal_basis = django_filters.ChoiceFilter(
        label=_("Base légale"), choices=Contact.LegalBasis.choices
    )
    no_interaction_since = django_filters.DateFilter(
        label=_("Sans interaction depuis le"),
        method="filter_no_interaction_since",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    ordering = StableOrderingFilter(
        label=_("Trier par"),
        fields=(
            ("last_name", "name"),
            ("organisation__name", "organisation"),
            ("last_interaction_at", "last_interaction"),
        ),
        field_labels={
            "name": _("Nom"),
            "organisation": _("Organisation"),
            "last_interaction": _("Dernière interaction"),
        },
    )

    class Meta:
        model = Contact
        fields = ["q", "organisation_kind", "territory", "legal_basis", "no_interaction_since"]

    def filter_no_interaction_since(self, queryset: QuerySet, name: str, value: object) -> QuerySet:
        return queryset.filter(
            Q(last_interaction_at__isnull=True) | Q(last_interaction_at__date__lt=value)
        )
