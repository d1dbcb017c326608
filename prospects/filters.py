from __future__ import annotations

import django_filters
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.filters import RecordFilter, SearchFilterSet, StableOrderingFilter
from crm.models import Territory, User
from prospects.forms import prospect_people
from prospects.models import OPEN_STAGES, Lead, PromotionEvent, Site, Stage


def _people(request: object) -> QuerySet[User]:
    return prospect_people()


class LeadFilter(SearchFilterSet):
    stage = django_filters.ChoiceFilter(label=_("Étape"), choices=Stage.choices)
    status = django_filters.ChoiceFilter(
        label=_("Statut"),
        choices=[("open", _("En cours")), ("closed", _("Gagnées ou perdues"))],
        method="filter_status",
    )
    sector = django_filters.ChoiceFilter(label=_("Secteur"), choices=Lead.Sector.choices)
    source = django_filters.ChoiceFilter(label=_("Source"), choices=Lead.Source.choices)
    origin_market = django_filters.ChoiceFilter(
        label=_("Marché d'origine"), choices=Lead.Market.choices
    )
    territory = RecordFilter(label=_("Territoire"), queryset=Territory.objects.all())
    # django-filter calls a callable `queryset` with the request; the stubs know only QuerySets.
    owner = RecordFilter(label=_("Chargé·e"), queryset=_people)  # type: ignore[arg-type]
    promotion_event = RecordFilter(label=_("Événement"), queryset=PromotionEvent.objects.all())
    site = RecordFilter(
        label=_("Site visé"), queryset=Site.objects.only("pk", "name"), method="filter_site"
    )
    confidential = django_filters.ChoiceFilter(
        label=_("Confidentielle"),
        choices=[("yes", _("Oui")), ("no", _("Non"))],
        method="filter_confidential",
    )
    overdue = django_filters.ChoiceFilter(
        label=_("Action en retard"),
        choices=[("yes", _("Oui")), ("no", _("Non"))],
        method="filter_overdue",
    )
    ordering = StableOrderingFilter(
        label=_("Trier par"),
        fields=(
            ("created_at", "created"),
            ("title", "title"),
            ("next_action_due", "due"),
            ("estimated_investment", "investment"),
        ),
        field_labels={
            "created": _("Date de création"),
            "title": _("Intitulé"),
            "due": _("Échéance de l'action"),
            "investment": _("Investissement"),
        },
    )

    class Meta:
        model = Lead
        fields = [
            "q",
            "status",
            "stage",
            "sector",
            "source",
            "origin_market",
            "territory",
            "owner",
            "promotion_event",
            "site",
            "confidential",
            "overdue",
        ]

    def filter_status(self, queryset: QuerySet[Lead], name: str, value: str) -> QuerySet[Lead]:
        if value == "open":
            return queryset.filter(stage__in=OPEN_STAGES)
        return queryset.filter(stage__in=[Stage.WON, Stage.LOST])

    def filter_site(self, queryset: QuerySet[Lead], name: str, value: Site) -> QuerySet[Lead]:
        through = Lead.target_sites.through
        return queryset.filter(Exists(through.objects.filter(lead=OuterRef("pk"), site=value)))

    def filter_confidential(
        self, queryset: QuerySet[Lead], name: str, value: str
    ) -> QuerySet[Lead]:
        return queryset.filter(confidential=value == "yes")

    def filter_overdue(self, queryset: QuerySet[Lead], name: str, value: str) -> QuerySet[Lead]:
        overdue = queryset.filter(stage__in=OPEN_STAGES, next_action_due__lt=timezone.localdate())
        return overdue if value == "yes" else queryset.exclude(pk__in=overdue.values("pk"))


class SiteFilter(SearchFilterSet):
    kind = django_filters.ChoiceFilter(label=_("Type"), choices=Site.Kind.choices)
    availability = django_filters.ChoiceFilter(
        label=_("Disponibilité"), choices=Site.Availability.choices
    )
    territory = RecordFilter(label=_("Territoire"), queryset=Territory.objects.all())
    ordering = StableOrderingFilter(
        label=_("Trier par"),
        fields=(("name", "name"), ("surface_m2", "surface"), ("commune", "commune")),
        field_labels={"name": _("Nom"), "surface": _("Surface"), "commune": _("Commune")},
    )

    class Meta:
        model = Site
        fields = ["q", "kind", "availability", "territory"]
