from __future__ import annotations

from datetime import date, datetime, time
from typing import Any, Protocol

import django_filters
from django import forms
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_filters.constants import EMPTY_VALUES
from django_filters.fields import ModelChoiceField

from crm.forms import OneQueryChoices
from crm.models import Contact, Organisation, Territory


class OneQueryModelChoiceField(ModelChoiceField):
    # django-filter's stubs narrow the iterator to their own class; Django takes any
    # ModelChoiceIterator, and OneQueryChoices yields the filter's null option itself.
    iterator = OneQueryChoices  # type: ignore[assignment]


class RecordFilter(django_filters.ModelChoiceFilter):
    """`ModelChoiceFilter` whose options cost one query (see `OneQueryChoices`): every list's
    filter on a record (territory, thematic, person, event, site) uses it."""

    field_class = OneQueryModelChoiceField


class StableOrderingFilter(django_filters.OrderingFilter):
    """Ordering with the primary key as the last key, so pagination never repeats a row.

    `then_by` adds secondary keys to a field ({"last_name": ["first_name"]}), so the ORDER BY
    matches the composite index and the database reads rows in order instead of sorting.
    """

    def __init__(
        self, *args: Any, then_by: dict[str, list[str]] | None = None, **kwargs: Any
    ) -> None:
        self.then_by = then_by or {}
        super().__init__(*args, **kwargs)

    def filter(self, qs: QuerySet[Any], value: list[str] | None) -> QuerySet[Any]:
        if not value:
            return qs
        keys: list[str] = []
        for param in value:
            if param in EMPTY_VALUES:
                continue
            key = self.get_ordering_value(param)
            keys.append(key)
            descending = key.startswith("-")
            for extra in self.then_by.get(key.lstrip("-"), []):
                keys.append(f"-{extra}" if descending else extra)
        return qs.order_by(*keys, "-pk" if keys and keys[0].startswith("-") else "pk")


class SearchableQuerySet(Protocol):
    def search(self, text: str) -> QuerySet[Any]: ...


class SearchFilterSet(django_filters.FilterSet):
    """A FilterSet with a free-text `q` delegated to the QuerySet's `search()` method."""

    q = django_filters.CharFilter(label=_("Recherche"), method="filter_search", max_length=200)

    def filter_search(self, queryset: SearchableQuerySet, name: str, value: str) -> QuerySet[Any]:
        return queryset.search(value)


class OrganisationFilter(SearchFilterSet):
    kind = django_filters.ChoiceFilter(label=_("Type"), choices=Organisation.Kind.choices)
    sector = django_filters.ChoiceFilter(label=_("Statut"), choices=Organisation.Sector.choices)
    territory = RecordFilter(label=_("Territoire"), queryset=Territory.objects.all())
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

    def filter_has_siret(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        return queryset.exclude(siret="") if value == "yes" else queryset.filter(siret="")


class ContactFilter(SearchFilterSet):
    organisation_kind = django_filters.ChoiceFilter(
        label=_("Type d'organisation"),
        field_name="organisation__kind",
        choices=Organisation.Kind.choices,
    )
    territory = RecordFilter(
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
        then_by={"last_name": ["first_name"]},
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

    def filter_no_interaction_since(
        self, queryset: QuerySet[Any], name: str, value: date
    ) -> QuerySet[Any]:
        # Compare with the start of that day in the user's time zone rather than applying a
        # date function to the column, so the database can use the index.
        start = timezone.make_aware(datetime.combine(value, time.min))
        return queryset.filter(
            Q(last_interaction_at__isnull=True) | Q(last_interaction_at__lt=start)
        )
