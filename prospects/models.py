"""Investor prospecting: sites, promotion events and leads as a guarded pipeline (DESIGN §4).

The transition graph on `Lead` is the domain logic: who may move a lead, from which stage, to
which stage, on what conditions. `Lead.machine` (a `crm.fsm.Machine`) derives the rest from
it: the moves offered, their refusals, and `lead.machine.run(...)`, which runs a move with its
log row in one database transaction.
"""

from __future__ import annotations

import datetime
import hmac
from collections.abc import Mapping
from decimal import Decimal
from math import asin, cos, radians, sin, sqrt
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Case, F, Q, Value, When
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _
from django_fsm import RETURN_VALUE, FSMField

from crm.fsm import (
    ConcurrentTransitionMixin,
    Condition,
    Machine,
    TransitionLog,
    transition,
)
from crm.models import (
    ChoiceLabels,
    Contact,
    Organisation,
    Role,
    Territory,
    User,
    fold,
    search_filter,
)
from crm.permissions import Access

# Sane bounds for what people type: a tourism investment in the basin is counted in millions,
# never in thousands of billions; a due date is in this decade, not in year 9999.
MAX_INVESTMENT = Decimal("5000000000")  # 5 bn €
MAX_JOBS = 20_000
# Lead references: PI-2026-0007 (piste d'investissement), numbered per year.
LEAD_REFERENCE_PREFIX = "PI"
MIN_DUE_YEAR = 2000
DUE_YEARS_AHEAD = 10


def validate_due_date(value: datetime.date) -> None:
    """A next action is due within a plausible window: not before 2000, at most ten years on."""
    latest = timezone.localdate().year + DUE_YEARS_AHEAD
    if value.year < MIN_DUE_YEAR or value.year > latest:
        raise ValidationError(
            _("L'échéance doit tomber entre %(first)s et %(last)s.")
            % {"first": MIN_DUE_YEAR, "last": latest},
            code="due_date_range",
        )


class Stage(models.TextChoices):
    """The pipeline stages of a lead: exactly those of DESIGN §4."""

    IDENTIFIED = "identified", _("Identifiée")
    CONTACTED = "contacted", _("Contactée")
    QUALIFIED = "qualified", _("Qualifiée")
    SITE_VISIT = "site_visit", _("Visite de site")
    PROPOSAL = "proposal", _("Proposition")
    NEGOTIATION = "negotiation", _("Négociation")
    WON = "won", _("Gagnée")
    LOST = "lost", _("Perdue")
    DORMANT = "dormant", _("En sommeil")


# The open stages in pipeline order; `won`, `lost` and `dormant` are outside the funnel.
PIPELINE: list[str] = [
    Stage.IDENTIFIED,
    Stage.CONTACTED,
    Stage.QUALIFIED,
    Stage.SITE_VISIT,
    Stage.PROPOSAL,
    Stage.NEGOTIATION,
]
OPEN_STAGES = PIPELINE
CLOSED_STAGES: list[str] = [Stage.WON, Stage.LOST]
FUNNEL: list[str] = [*PIPELINE, Stage.WON]
# Moving on one stage; from negotiation the next stage is reached by `win`, which has conditions.
NEXT_STAGE: dict[str, str] = {PIPELINE[i]: PIPELINE[i + 1] for i in range(len(PIPELINE) - 1)}
PREVIOUS_STAGE: dict[str, str] = {PIPELINE[i]: PIPELINE[i - 1] for i in range(1, len(PIPELINE))}


class LeadChanged(Exception):
    """Someone else changed the lead first; nothing was saved."""


# Default probability of closing, per stage (percent); a lead may override it.
STAGE_PROBABILITY: dict[str, int] = {
    Stage.IDENTIFIED: 5,
    Stage.CONTACTED: 10,
    Stage.QUALIFIED: 25,
    Stage.SITE_VISIT: 40,
    Stage.PROPOSAL: 60,
    Stage.NEGOTIATION: 80,
    Stage.WON: 100,
    Stage.LOST: 0,
    Stage.DORMANT: 0,
}


# Sites ------------------------------------------------------------------------------------


def sees_prospects(user: User) -> bool:
    """Staff and officers work the prospecting side; designers and holders see none of it."""
    if not user.is_authenticated or not user.is_active:
        return False
    return user.is_mission_staff or user.has_role(Role.OFFICER)


class SiteQuerySet(models.QuerySet["Site"]):
    def visible_to(self, user: User) -> SiteQuerySet:
        """Sites are offered to every investor: all prospecting users see them all."""
        return self.all() if sees_prospects(user) else self.none()

    def search(self, text: str) -> SiteQuerySet:
        return self.filter(search_filter("search_text", text))

    def for_list(self) -> SiteQuerySet:
        return self.select_related("territory").defer("description", "search_text")

    def for_detail(self) -> SiteQuerySet:
        return self.select_related("territory", "contact_officer")


def _latitude(*, optional: bool) -> models.DecimalField[Any, Any]:
    return models.DecimalField(
        _("latitude"),
        max_digits=8,
        decimal_places=5,
        null=optional,
        blank=optional,
        validators=[MinValueValidator(Decimal("-90")), MaxValueValidator(Decimal("90"))],
        help_text=_("En degrés décimaux, par exemple 50.43201.") if optional else "",
    )


def _longitude(*, optional: bool) -> models.DecimalField[Any, Any]:
    return models.DecimalField(
        _("longitude"),
        max_digits=8,
        decimal_places=5,
        null=optional,
        blank=optional,
        validators=[MinValueValidator(Decimal("-180")), MaxValueValidator(Decimal("180"))],
        help_text=_("En degrés décimaux, par exemple 2.83330.") if optional else "",
    )


EARTH_RADIUS_KM = 6371.0


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """The great-circle distance between two (latitude, longitude) points, in kilometres."""
    lat1, lon1, lat2, lon2 = map(radians, (*a, *b))
    h = sin((lat2 - lat1) / 2) ** 2 + cos(lat1) * cos(lat2) * sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * asin(sqrt(h))


class Town(models.Model):
    """A main town of the destination and around it, placed by its coordinates: the site
    sheet draws the site among the towns `on_locator` and gives its distance to the towns
    that are a `distance_reference` (Lens, Lille, Paris)."""

    name = models.CharField(_("nom"), max_length=120, unique=True)
    latitude = _latitude(optional=False)
    longitude = _longitude(optional=False)
    on_locator = models.BooleanField(_("sur la carte de situation"), default=True)
    distance_reference = models.BooleanField(_("distance indiquée sur la fiche"), default=False)

    class Meta:
        ordering = ["name"]
        verbose_name = _("ville repère")
        verbose_name_plural = _("villes repères")

    def __str__(self) -> str:
        return self.name

    @property
    def point(self) -> tuple[float, float]:
        return (float(self.latitude), float(self.longitude))


class Site(ChoiceLabels, models.Model):
    """A place offered to investors: a former pit site, a wasteland, a heritage building..."""

    class Kind(models.TextChoices):
        PIT_SITE = "pit_site", _("Ancien site minier")
        WASTELAND = "wasteland", _("Friche")
        HERITAGE = "heritage", _("Bâtiment patrimonial")
        LAND = "land", _("Terrain")
        OTHER = "other", _("Autre")

    class Availability(models.TextChoices):
        AVAILABLE = "available", _("Disponible")
        UNDER_STUDY = "under_study", _("À l'étude")
        RESERVED = "reserved", _("Réservé")
        UNAVAILABLE = "unavailable", _("Indisponible")

    class OwnerKind(models.TextChoices):
        LOCAL_AUTHORITY = "local_authority", _("Collectivité")
        PUBLIC_BODY = "public_body", _("Établissement public")
        SOCIAL_LANDLORD = "social_landlord", _("Bailleur social")
        PRIVATE = "private", _("Propriétaire privé")

    name = models.CharField(_("nom"), max_length=200, unique=True)
    kind = models.CharField(_("type"), max_length=20, choices=Kind.choices)
    commune = models.CharField(_("commune"), max_length=120)
    territory = models.ForeignKey(
        Territory, verbose_name=_("territoire"), on_delete=models.PROTECT, related_name="sites"
    )
    surface_m2 = models.PositiveIntegerField(
        _("surface (m²)"),
        null=True,
        blank=True,
        validators=[MaxValueValidator(100_000_000)],
    )
    owner = models.CharField(_("propriétaire"), max_length=200, blank=True)
    owner_kind = models.CharField(
        _("type de propriétaire"), max_length=20, choices=OwnerKind.choices, blank=True
    )
    latitude = _latitude(optional=True)
    longitude = _longitude(optional=True)
    road_access = models.CharField(
        _("accès routier"),
        max_length=300,
        blank=True,
        help_text=_("Par exemple : A21, sortie 6, à 2 km."),
    )
    rail_access = models.CharField(
        _("accès ferroviaire"),
        max_length=300,
        blank=True,
        help_text=_("Par exemple : gare de Lens à 5 km, TGV vers Paris."),
    )
    contact_officer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("chargé·e à contacter"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="contact_sites",
        help_text=_("Nommé·e sur la fiche pour les investisseurs."),
    )
    # The owner as a record of the CRM when it is one (a commune, a public body, a landlord):
    # the organisation's page then lists the site.
    owner_organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("organisation propriétaire"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="owned_sites",
        help_text=_("Si le propriétaire est une organisation enregistrée dans Carreau."),
    )
    availability = models.CharField(
        _("disponibilité"),
        max_length=20,
        choices=Availability.choices,
        default=Availability.AVAILABLE,
    )
    available_from = models.DateField(_("disponible à partir du"), null=True, blank=True)
    description = models.TextField(_("description"), max_length=10_000, blank=True)
    description_en = models.TextField(
        _("description (anglais)"),
        max_length=10_000,
        blank=True,
        help_text=_("Pour la fiche en anglais ; la description française sert sinon."),
    )
    projects = models.ManyToManyField(
        "projects.Project", verbose_name=_("projets liés"), related_name="sites", blank=True
    )
    search_text = models.TextField(editable=False, default="")
    is_demo = models.BooleanField(_("donnée de démonstration"), default=False, editable=False)
    created_at = models.DateTimeField(_("créé le"), auto_now_add=True)
    updated_at = models.DateTimeField(_("modifié le"), auto_now=True)

    objects = SiteQuerySet.as_manager()

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = _("site")
        verbose_name_plural = _("sites")
        constraints = [
            models.CheckConstraint(
                condition=Q(latitude__isnull=True, longitude__isnull=True)
                | Q(latitude__isnull=False, longitude__isnull=False),
                name="prospects_site_both_coordinates",
                violation_error_message=_("Indiquez la latitude et la longitude, ou aucune."),
            ),
        ]
        indexes = [
            models.Index(fields=["territory", "name"], name="prospects_site_territory_idx"),
            models.Index(fields=["availability", "name"], name="prospects_site_avail_idx"),
            models.Index(fields=["kind", "name"], name="prospects_site_kind_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        # A derived copy for accent-insensitive search, as for organisations.
        self.search_text = fold(f"{self.name} {self.commune} {self.owner}")
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("prospects:site_detail", args=[self.pk])

    @property
    def point(self) -> tuple[float, float] | None:
        if self.latitude is None or self.longitude is None:
            return None
        return (float(self.latitude), float(self.longitude))

    def distances(self, towns: list[Town]) -> list[tuple[Town, int]]:
        """As the crow flies, in whole kilometres, to each reference town; none without the
        site's coordinates."""
        if self.point is None:
            return []
        return [
            (town, round(distance_km(self.point, town.point)))
            for town in towns
            if town.distance_reference
        ]


class SitePhoto(models.Model):
    """A photo of a site, checked and cleaned on upload; served only through a checked view."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="photos")
    image = models.ImageField(_("photo"), upload_to="sites/")
    thumbnail = models.ImageField(_("vignette"), upload_to="sites/thumbnails/", blank=True)
    # Why the worker could not render the thumbnail, if it could not.
    thumbnail_error = models.CharField(_("vignette : erreur"), max_length=300, blank=True)
    caption = models.CharField(_("légende"), max_length=200, blank=True)
    content_type = models.CharField(max_length=100)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField(_("déposée le"), default=timezone.now)

    class Meta:
        ordering = ["site", "uploaded_at", "pk"]
        verbose_name = _("photo de site")
        verbose_name_plural = _("photos de site")

    def __str__(self) -> str:
        return self.caption or f"{self.site} #{self.pk}"

    @property
    def thumbnail_pending(self) -> bool:
        """A photo whose thumbnail the worker has not rendered yet."""
        return not self.thumbnail and not self.thumbnail_error


# Promotion events ---------------------------------------------------------------------------


class PromotionEventQuerySet(models.QuerySet["PromotionEvent"]):
    def visible_to(self, user: User) -> PromotionEventQuerySet:
        return self.all() if sees_prospects(user) else self.none()

    def with_figures(self, leads: models.QuerySet[Lead]) -> PromotionEventQuerySet:
        """What each event brought, counting only `leads` (the leads the user may see):
        leads, won leads, won investment and won jobs, as aggregates in the query."""
        scope = Q(leads__in=leads.values("pk"))
        won = scope & Q(leads__stage=Stage.WON)
        return self.annotate(
            lead_count=models.Count("leads", filter=scope),
            won_count=models.Count("leads", filter=won),
            won_investment=Coalesce(
                models.Sum("leads__estimated_investment", filter=won),
                Value(Decimal("0")),
                output_field=_MONEY,
            ),
            won_jobs=Coalesce(models.Sum("leads__estimated_jobs", filter=won), Value(0)),
        )


class PromotionEvent(ChoiceLabels, models.Model):
    """A trade show or promotion moment where officers meet investors and operators."""

    class Kind(models.TextChoices):
        TRADE_SHOW = "trade_show", _("Salon professionnel")
        MISSION = "mission", _("Mission de prospection")
        FAM_TRIP = "fam_trip", _("Éductour")
        CONFERENCE = "conference", _("Conférence ou rencontre")

    name = models.CharField(_("nom"), max_length=200)
    kind = models.CharField(_("type"), max_length=20, choices=Kind.choices)
    starts_on = models.DateField(_("début"))
    ends_on = models.DateField(_("fin"), null=True, blank=True)
    city = models.CharField(_("ville"), max_length=120, blank=True)
    country = models.CharField(_("pays"), max_length=2, default="FR")
    description = models.TextField(_("description"), max_length=5_000, blank=True)
    is_demo = models.BooleanField(_("donnée de démonstration"), default=False, editable=False)

    objects = PromotionEventQuerySet.as_manager()

    class Meta:
        ordering = ["-starts_on", "name"]
        verbose_name = _("événement de promotion")
        verbose_name_plural = _("événements de promotion")
        constraints = [
            models.UniqueConstraint(fields=["name", "starts_on"], name="prospects_event_unique"),
            models.CheckConstraint(
                condition=Q(ends_on__isnull=True) | Q(ends_on__gte=F("starts_on")),
                name="prospects_event_dates_ordered",
                violation_error_message=_("La fin ne peut pas précéder le début."),
            ),
        ]
        indexes = [models.Index(fields=["-starts_on"], name="prospects_event_start_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.starts_on:%Y})"

    def get_absolute_url(self) -> str:
        return reverse("prospects:event_detail", args=[self.pk])


# Leads --------------------------------------------------------------------------------------


def probability_expression() -> Coalesce:
    """The lead's probability in percent: its own override, else its stage's default."""
    by_stage = Case(
        *(When(stage=stage, then=Value(p)) for stage, p in STAGE_PROBABILITY.items()),
        default=Value(0),
        output_field=models.IntegerField(),
    )
    return Coalesce("probability", by_stage, output_field=models.IntegerField())


def weighted_expression() -> Any:
    """Estimated investment × probability, in the database (a missing amount counts 0)."""
    amount = Coalesce("estimated_investment", Value(Decimal("0")), output_field=_MONEY)
    return models.ExpressionWrapper(
        amount * probability_expression() / Value(Decimal("100")), output_field=_MONEY
    )


_MONEY: models.DecimalField[Any, Decimal] = models.DecimalField(max_digits=16, decimal_places=2)


def _shared_ids(user: User) -> models.QuerySet[Any, Mapping[str, object]]:
    # Not correlated: the database reads the user's few shared leads once, rather than
    # probing the sharing table for every confidential row.
    return Lead.shared_with.through.objects.filter(user=user).values("lead_id")


class LeadQuerySet(models.QuerySet["Lead"]):
    def visible_to(self, user: User) -> LeadQuerySet:
        """Staff see every lead; officers see the non-confidential ones and the confidential
        ones they own or that are shared with them; designers and holders see none."""
        if not sees_prospects(user):
            return self.none()
        if user.is_mission_staff:
            return self.all()
        return self.filter(Q(confidential=False) | Q(owner=user) | Q(pk__in=_shared_ids(user)))

    def hidden_from(self, user: User) -> LeadQuerySet:
        """The leads `user` may not see (the complement of `visible_to`), for exclusions."""
        if not sees_prospects(user):
            return self.all()
        if user.is_mission_staff:
            return self.none()
        return self.filter(confidential=True).exclude(owner=user).exclude(pk__in=_shared_ids(user))

    def open(self) -> LeadQuerySet:
        return self.filter(stage__in=OPEN_STAGES)

    def followed_by(self, user: User) -> LeadQuerySet:
        """Leads the user owns or that are shared with them."""
        return self.filter(Q(owner=user) | Q(pk__in=_shared_ids(user)))

    def search(self, text: str) -> LeadQuerySet:
        reference = text.strip().upper()
        if reference.startswith(f"{LEAD_REFERENCE_PREFIX}-"):
            return self.filter(reference__startswith=reference)
        return self.filter(search_filter("search_text", text))

    def with_weighted_value(self) -> LeadQuerySet:
        return self.annotate(
            effective_probability=probability_expression(), weighted_value=weighted_expression()
        )

    def for_list(self) -> LeadQuerySet:
        return (
            self.select_related("organisation", "owner", "territory")
            .defer("search_text", "organisation__notes", "organisation__search_text")
            .with_weighted_value()
        )

    def for_cards(self) -> LeadQuerySet:
        """What a board card or a row of "Ma journée" shows, and nothing else (a title, an
        investor, an amount, a next action): the board draws up to ninety of them, and the
        full rows of `for_list` cost six times as much to read."""
        return self.select_related("organisation").only(
            "pk",
            "title",
            "confidential",
            "stage",
            "estimated_investment",
            "next_action",
            "next_action_due",
            "last_activity_at",
            "organisation__name",
        )

    def for_detail(self) -> LeadQuerySet:
        return self.select_related(
            "organisation", "owner", "territory", "promotion_event", "project", "created_by"
        ).with_weighted_value()

    def for_export(self) -> LeadQuerySet:
        return self.for_list().select_related("promotion_event")

    # Report figures: each one grouped query, whatever the number of leads ------------------

    def totals(self) -> dict[str, Any]:
        """Leads, open leads, weighted open value, won leads, won investment and won jobs."""
        won = Q(stage=Stage.WON)
        return self.order_by().aggregate(
            leads=models.Count("pk"),
            open=models.Count("pk", filter=Q(stage__in=OPEN_STAGES)),
            weighted=Coalesce(
                models.Sum(weighted_expression(), filter=Q(stage__in=OPEN_STAGES)),
                Value(Decimal("0")),
                output_field=_MONEY,
            ),
            won=models.Count("pk", filter=won),
            won_investment=Coalesce(
                models.Sum("estimated_investment", filter=won),
                Value(Decimal("0")),
                output_field=_MONEY,
            ),
            won_jobs=Coalesce(models.Sum("estimated_jobs", filter=won), Value(0)),
        )

    def by_stage(self) -> dict[str, dict[str, Any]]:
        """stage → {count, investment, weighted}: one grouped query."""
        rows = (
            self.order_by()
            .values("stage")
            .annotate(
                count=models.Count("pk"),
                investment=Coalesce(
                    models.Sum("estimated_investment"), Value(Decimal("0")), output_field=_MONEY
                ),
                weighted=Coalesce(
                    models.Sum(weighted_expression()), Value(Decimal("0")), output_field=_MONEY
                ),
            )
        )
        return {row["stage"]: row for row in rows}

    def breakdown(self, field: str) -> list[dict[str, Any]]:
        """Per value of `field` (source, sector, territory__name...): leads, open, weighted
        open value, won, won investment and jobs; largest first."""
        won = Q(stage=Stage.WON)
        is_open = Q(stage__in=OPEN_STAGES)
        # People are grouped by id and shown by name: the name columns join the grouping.
        names = (
            ["owner__first_name", "owner__last_name", "owner__username"] if field == "owner" else []
        )
        return list(
            self.order_by()
            .values(*names, key=F(field))
            .annotate(
                leads=models.Count("pk"),
                open=models.Count("pk", filter=is_open),
                weighted=Coalesce(
                    models.Sum(weighted_expression(), filter=is_open),
                    Value(Decimal("0")),
                    output_field=_MONEY,
                ),
                won=models.Count("pk", filter=won),
                won_investment=Coalesce(
                    models.Sum("estimated_investment", filter=won),
                    Value(Decimal("0")),
                    output_field=_MONEY,
                ),
                won_jobs=Coalesce(models.Sum("estimated_jobs", filter=won), Value(0)),
            )
            .order_by("-leads", "key")
        )

    def weighted_by_month(self, since: datetime.date) -> list[tuple[datetime.date, Decimal]]:
        """Weighted value of the leads opened each month since `since`, oldest first."""
        rows = (
            # A bound on the column itself, not on its date: the index can serve it.
            self.filter(
                created_at__gte=timezone.make_aware(
                    datetime.datetime.combine(since, datetime.time.min)
                )
            )
            .order_by()
            .annotate(month=models.functions.TruncMonth("created_at"))
            .values("month")
            .annotate(weighted=models.Sum(weighted_expression()))
            .order_by("month")
            .values_list("month", "weighted")
        )
        return [(_as_date(month), weighted or Decimal("0")) for month, weighted in rows]


def _as_date(value: datetime.date | datetime.datetime) -> datetime.date:
    return value.date() if isinstance(value, datetime.datetime) else value


class Lead(ConcurrentTransitionMixin, ChoiceLabels, models.Model):
    """An investor or operator the officers court for a site of the territory."""

    class Sector(models.TextChoices):
        HOTEL = "hotel", _("Hôtellerie")
        ACCOMMODATION = "accommodation", _("Hébergement")
        FOOD = "food", _("Restauration")
        LEISURE = "leisure", _("Loisirs, sport et nature")
        CYCLING = "cycling", _("Services vélo et itinérance")
        CULTURE = "culture", _("Culture et événements")
        RETAIL = "retail", _("Commerce")

    class Source(models.TextChoices):
        PROMOTION_EVENT = "promotion_event", _("Salon ou événement de promotion")
        NETWORK = "network", _("Réseau")
        INBOUND = "inbound", _("Demande entrante")
        PARTNER_AGENCY = "partner_agency", _("Agence partenaire")

    class Market(models.TextChoices):
        FR = "FR", _("France")
        UK = "UK", _("Royaume-Uni")
        BE = "BE", _("Belgique")
        NL = "NL", _("Pays-Bas")
        DE = "DE", _("Allemagne")
        LU = "LU", _("Luxembourg")
        CH = "CH", _("Suisse")
        ES = "ES", _("Espagne")
        IT = "IT", _("Italie")
        US = "US", _("États-Unis")
        JP = "JP", _("Japon")
        CN = "CN", _("Chine")
        OTHER = "other", _("Autre")

    # PI-2026-0007: given on creation, never changed; what a re-imported spreadsheet matches on.
    reference = models.CharField(_("référence"), max_length=20, unique=True, editable=False)
    title = models.CharField(_("intitulé"), max_length=200)
    organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("investisseur ou opérateur"),
        on_delete=models.PROTECT,
        related_name="leads",
    )
    contacts = models.ManyToManyField(
        Contact, verbose_name=_("contacts"), related_name="leads", blank=True
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("chargé·e de la piste"),
        on_delete=models.PROTECT,
        related_name="owned_leads",
    )
    shared_with = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("partagée avec"),
        related_name="shared_leads",
        blank=True,
    )
    sector = models.CharField(_("secteur"), max_length=20, choices=Sector.choices)
    territory = models.ForeignKey(
        Territory, verbose_name=_("territoire"), on_delete=models.PROTECT, related_name="leads"
    )
    target_sites = models.ManyToManyField(
        Site, verbose_name=_("sites visés"), related_name="leads", blank=True
    )
    project = models.ForeignKey(
        "projects.Project",
        verbose_name=_("projet de design lié"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="leads",
    )
    estimated_investment = models.DecimalField(
        _("investissement estimé (€)"),
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(MAX_INVESTMENT)],
    )
    estimated_jobs = models.PositiveIntegerField(
        _("emplois estimés"), null=True, blank=True, validators=[MaxValueValidator(MAX_JOBS)]
    )
    source = models.CharField(_("source"), max_length=20, choices=Source.choices)
    promotion_event = models.ForeignKey(
        PromotionEvent,
        verbose_name=_("événement de promotion"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="leads",
    )
    origin_market = models.CharField(_("marché d'origine"), max_length=5, choices=Market.choices)
    confidential = models.BooleanField(
        _("confidentielle"),
        default=False,
        help_text=_(
            "Visible seulement de son ou sa chargé·e, des personnes avec qui elle est "
            "partagée et de l'équipe de la mission."
        ),
    )
    next_action = models.CharField(_("prochaine action"), max_length=200, blank=True)
    next_action_due = models.DateField(
        _("échéance de la prochaine action"),
        null=True,
        blank=True,
        validators=[validate_due_date],
    )
    probability = models.PositiveSmallIntegerField(
        _("probabilité (%)"),
        null=True,
        blank=True,
        validators=[MaxValueValidator(100)],
        help_text=_("Laisser vide pour la probabilité habituelle de l'étape."),
    )
    stage = FSMField(
        _("étape"), max_length=20, choices=Stage.choices, default=Stage.IDENTIFIED, protected=True
    )
    # Where a dormant lead wakes up.
    dormant_from = models.CharField(
        max_length=20, choices=Stage.choices, blank=True, editable=False
    )
    lost_reason = models.TextField(_("raison de la perte"), max_length=5_000, blank=True)
    notes = models.TextField(_("notes"), max_length=10_000, blank=True)
    # Optimistic edit check: the form carries the version it was opened at.
    version = models.PositiveIntegerField(default=1, editable=False)
    last_activity_at = models.DateTimeField(
        _("dernière activité"), default=timezone.now, editable=False
    )
    search_text = models.TextField(editable=False, default="")
    is_demo = models.BooleanField(_("donnée de démonstration"), default=False, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("créée par"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("créée le"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("modifiée le"), auto_now=True)

    objects = LeadQuerySet.as_manager()
    machine = Machine(
        field="stage",
        log="prospects.LeadTransition",
        changed=LeadChanged,
        url="prospects:lead_transition",
        board="prospects:lead_board",
        title="title",
        targets={
            "advance": NEXT_STAGE,
            "step_back": PREVIOUS_STAGE,
            "revive": lambda lead: lead.dormant_from or Stage.IDENTIFIED,
        },
        save="save_move",
        not_here=lambda stage: (
            _("Cette action n'est pas possible à l'étape « %(stage)s ».") % {"stage": stage}
        ),
        role=_(
            "Seuls la personne chargée de la piste, celles avec qui elle est partagée "
            "et l'équipe de la mission peuvent la faire avancer."
        ),
        stale=lambda stage: (
            _(
                "Cette piste vient de changer (elle est maintenant à l'étape « %(stage)s ») : "
                "rien n'a été modifié, vérifiez avant de recommencer."
            )
            % {"stage": stage}
        ),
        overtaken=_(
            "Quelqu'un d'autre vient de déplacer cette piste : rien n'a été modifié, "
            "voici son état actuel."
        ),
        board_comment=_("Commentaire (obligatoire pour revenir en arrière ou perdre la piste)"),
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("piste")
        verbose_name_plural = _("pistes")
        indexes = [
            models.Index(fields=["stage", "next_action_due"], name="prospects_lead_stage_idx"),
            models.Index(fields=["owner", "next_action_due"], name="prospects_lead_owner_idx"),
            models.Index(fields=["organisation"], name="prospects_lead_org_idx"),
            models.Index(fields=["territory", "stage"], name="prospects_lead_territory_idx"),
            models.Index(fields=["sector", "stage"], name="prospects_lead_sector_idx"),
            models.Index(fields=["source", "stage"], name="prospects_lead_source_idx"),
            models.Index(fields=["origin_market", "stage"], name="prospects_lead_market_idx"),
            models.Index(fields=["promotion_event", "stage"], name="prospects_lead_event_idx"),
            models.Index(fields=["confidential", "owner"], name="prospects_lead_conf_idx"),
            models.Index(fields=["next_action_due"], name="prospects_lead_due_idx"),
            models.Index(fields=["estimated_investment"], name="prospects_lead_invest_idx"),
            models.Index(fields=["last_activity_at"], name="prospects_lead_activity_idx"),
            # The report's and the board's stamp read the last change from its end.
            models.Index(fields=["updated_at"], name="prospects_lead_updated_idx"),
            models.Index(fields=["-created_at", "-id"], name="prospects_lead_created_idx"),
            models.Index(fields=["title", "id", "search_text"], name="prospects_lead_title_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(stage__in=Stage.values), name="prospects_lead_stage_valid"
            ),
            models.CheckConstraint(
                condition=Q(estimated_investment__isnull=True)
                | Q(estimated_investment__gte=0, estimated_investment__lte=MAX_INVESTMENT),
                name="prospects_lead_investment_range",
            ),
            models.CheckConstraint(
                condition=Q(estimated_jobs__isnull=True) | Q(estimated_jobs__lte=MAX_JOBS),
                name="prospects_lead_jobs_range",
            ),
            models.CheckConstraint(
                condition=Q(probability__isnull=True) | Q(probability__lte=100),
                name="prospects_lead_probability_range",
            ),
            models.CheckConstraint(
                condition=Q(next_action_due__isnull=True)
                | Q(next_action_due__gte=datetime.date(MIN_DUE_YEAR, 1, 1)),
                name="prospects_lead_due_not_ancient",
            ),
            models.CheckConstraint(
                condition=Q(promotion_event__isnull=True) | Q(source="promotion_event"),
                name="prospects_lead_event_is_source",
                violation_error_message=_(
                    "Un événement de promotion ne s'indique que pour la source « salon ou "
                    "événement de promotion »."
                ),
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def save(self, *args: Any, **kwargs: Any) -> None:
        organisation = self.organisation.name if self.organisation_id else ""
        self.search_text = fold(f"{self.title} {organisation}")
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("prospects:lead_detail", args=[self.pk])

    def clean(self) -> None:
        if self.source == self.Source.PROMOTION_EVENT and not self.promotion_event_id:
            raise ValidationError(
                {"promotion_event": _("Indiquez l'événement de promotion qui a amené la piste.")}
            )
        if self.promotion_event_id and self.source != self.Source.PROMOTION_EVENT:
            raise ValidationError(
                {
                    "promotion_event": _(
                        "Un événement de promotion ne s'indique que pour la source « salon ou "
                        "événement de promotion »."
                    )
                }
            )

    # Derived facts ------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self.stage in OPEN_STAGES

    @property
    def is_overdue(self) -> bool:
        return bool(
            self.next_action_due and self.is_open and self.next_action_due < timezone.localdate()
        )

    @property
    def probability_percent(self) -> int:
        if self.probability is not None:
            return self.probability
        return STAGE_PROBABILITY[self.stage]

    # Who may do what -----------------------------------------------------------------------

    def is_followed_by(self, user: User) -> bool:
        """The lead's owner, or someone it is shared with (as `LeadQuerySet.followed_by`)."""
        return self.owner_id == user.pk or self.is_shared_with(user)

    def access_for(self, user: User) -> Access:
        """What `user`, who sees this lead, may do with it: the mission team manages every
        lead; its owner and the officers it is shared with work on it (move, edit, log
        exchanges); the other officers read it."""
        if not user.is_authenticated or not user.is_active:
            return Access.READ
        if user.is_mission_staff:
            return Access.MANAGE
        if user.has_role(Role.OFFICER) and self.is_followed_by(user):
            return Access.CONTRIBUTE
        return Access.READ

    def may_work_on(self, user: User) -> bool:
        return self.access_for(user) >= Access.CONTRIBUTE

    def is_shared_with(self, user: User) -> bool:
        cached = getattr(self, "_prefetched_objects_cache", {}).get("shared_with")
        if cached is not None:
            return any(person.pk == user.pk for person in cached)
        return self.shared_with.filter(pk=user.pk).exists()

    def has_target_site(self) -> bool:
        return self.target_sites.exists()

    def has_investment(self) -> bool:
        return bool(self.estimated_investment and self.estimated_investment > 0)

    # Transitions --------------------------------------------------------------------------
    # In the order the pages offer them. Each carries `custom` metadata for the pages (its
    # label, whether it needs a comment, the words of that comment: see `crm.fsm.Machine`).

    @transition(
        field=stage,
        source=list(NEXT_STAGE),
        target=RETURN_VALUE(*NEXT_STAGE.values()),
        permission=may_work_on,
        custom={"label": _("Passer à l'étape suivante")},
    )
    def advance(self) -> str:
        """One stage further along the pipeline (up to negotiation)."""
        return NEXT_STAGE[self.stage]

    @transition(
        field=stage,
        source=list(PREVIOUS_STAGE),
        target=RETURN_VALUE(*PREVIOUS_STAGE.values()),
        permission=may_work_on,
        custom={"label": _("Revenir à l'étape précédente"), "needs_comment": True},
    )
    def step_back(self) -> str:
        """One stage back (the investor cooled down); a comment says why."""
        return PREVIOUS_STAGE[self.stage]

    @transition(
        field=stage,
        source=Stage.NEGOTIATION,
        target=Stage.WON,
        permission=may_work_on,
        conditions=[
            Condition(
                _("Indiquez au moins un site visé avant de gagner la piste."),
                lambda lead: lead.has_target_site(),
            ),
            Condition(
                _("Indiquez le montant de l'investissement avant de gagner la piste."),
                lambda lead: lead.has_investment(),
            ),
        ],
        custom={"label": _("Gagnée : l'investisseur s'engage")},
    )
    def win(self) -> None:
        """The investor commits: needs a target site and the investment amount."""

    @transition(
        field=stage,
        source=[*OPEN_STAGES, Stage.DORMANT],
        target=Stage.LOST,
        permission=may_work_on,
        custom={
            "label": _("Perdue"),
            "needs_comment": True,
            "danger": True,
            "comment_label": _("Raison de la perte (obligatoire)"),
            "comment_placeholder": _("Pourquoi est-elle perdue ? (obligatoire)"),
            "comment_missing": _("Dites pourquoi la piste est perdue : la raison est obligatoire."),
        },
    )
    def lose(self) -> None:
        """The lead is lost; the reason is required (kept in `lost_reason`)."""
        self.dormant_from = ""

    @transition(
        field=stage,
        source=OPEN_STAGES,
        target=Stage.DORMANT,
        permission=may_work_on,
        custom={"label": _("Mettre en sommeil")},
    )
    def put_to_sleep(self) -> None:
        """Pause the lead; it wakes up at the stage it left."""
        self.dormant_from = self.stage

    @transition(
        field=stage,
        source=Stage.DORMANT,
        target=RETURN_VALUE(*OPEN_STAGES),
        permission=may_work_on,
        custom={"label": _("Réveiller la piste")},
    )
    def revive(self) -> str:
        """Back to the stage the lead was put to sleep at."""
        stage, self.dormant_from = self.machine.target_of("revive"), ""
        return stage

    def save_move(self, *, name: str, comment: str, at: datetime.datetime) -> None:
        """Save what a move changed, and only that: the stage, where it sleeps, the loss
        reason (the comment of `lose`) and the activity; closing the lead (won, lost) also
        settles its next action, which no longer waits in anyone's day (a dormant lead keeps
        its own, for when it wakes up). The rest belongs to the lead's form, which may have
        saved since this copy was read."""
        fields = ["stage", "dormant_from", "lost_reason", "last_activity_at", "updated_at"]
        if name == "lose":
            self.lost_reason = comment
        elif self.stage != Stage.LOST:
            self.lost_reason = ""
        if self.stage in CLOSED_STAGES:
            self.next_action, self.next_action_due = "", None
            fields += ["next_action", "next_action_due"]
        self.last_activity_at = at
        self.save(update_fields=fields)


class LeadTransitionQuerySet(models.QuerySet["LeadTransition"]):
    def visible_to(self, user: User) -> LeadTransitionQuerySet:
        return self.filter(lead__in=Lead.objects.visible_to(user))

    def reached_by_stage(self) -> dict[str, int]:
        """stage → how many distinct leads were ever moved into it, from the log."""
        return dict(
            self.order_by()
            .values_list("target")
            .annotate(leads=models.Count("lead", distinct=True))
        )


class LeadTransition(TransitionLog):
    """The log of every move of a lead: who, when, from, to, and why."""

    subject_field = "lead"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="transitions")
    source = models.CharField(_("de"), max_length=20, choices=Stage.choices)
    target = models.CharField(_("vers"), max_length=20, choices=Stage.choices)

    objects = LeadTransitionQuerySet.as_manager()

    class Meta(TransitionLog.Meta):
        verbose_name = _("changement d'étape de piste")
        verbose_name_plural = _("changements d'étape de piste")
        indexes = [
            models.Index(fields=["lead", "-at", "-id"], name="prospects_transition_idx"),
            models.Index(fields=["target", "lead"], name="prospects_trans_target_idx"),
        ]


class CalendarToken(models.Model):
    """The secret of a user's private calendar feed of next actions; regenerable.

    The address carries `feed_secret()`, a keyed hash of the stored random `token` and the
    user: someone who reads the database (a leaked backup) cannot rebuild anyone's feed
    address without SECRET_KEY. Rotating SECRET_KEY with the old key in SECRET_KEY_FALLBACKS
    keeps the addresses working until the fallback is removed."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_token"
    )
    token = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("jeton de calendrier")
        verbose_name_plural = _("jetons de calendrier")

    def __str__(self) -> str:
        return str(self.user)

    def feed_secret(self, key: str | bytes | None = None) -> str:
        """The secret of the feed's address, with SECRET_KEY (or `key`)."""
        return salted_hmac(
            "prospects.CalendarToken.feed_secret",
            f"{self.user_id}:{self.token}",
            secret=key,
            algorithm="sha256",
        ).hexdigest()

    def opens_with(self, secret: str) -> bool:
        """Whether `secret` is this feed's, under the current key or a fallback; in constant
        time for each key."""
        keys = [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
        matches = [
            hmac.compare_digest(self.feed_secret(key).encode(), secret.encode()) for key in keys
        ]
        return any(matches)


def interactions_of_hidden_leads(user: User) -> Q:
    """The interactions of the leads `user` may not see: a confidential lead's exchanges stay
    with its owner, the people it is shared with and staff, on every timeline."""
    return Q(lead__in=Lead.objects.hidden_from(user))
