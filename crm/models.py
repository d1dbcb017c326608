"""The CRM core shared by the design-support projects and the investor prospecting."""

from __future__ import annotations

import functools
import operator
import unicodedata
import uuid
from collections.abc import Callable
from datetime import datetime, time
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_str
from django.utils.translation import gettext_lazy as _


class ChoiceLabels(models.Model):
    """Makes `get_FOO_display()` cheap on list pages and boards.

    Django's own builds a dict of every choice on each call, translating every label to hash
    it: a list of 25 leads asked about 900 catalogue lookups for its three choice columns.
    Here each field's value → label map is built once per process (the labels stay lazy, so
    each call translates one label, in the current language)."""

    class Meta:
        abstract = True

    def _get_FIELD_display(self, field: models.Field[Any, Any]) -> Any:
        value = getattr(self, field.attname)
        return force_str(_choice_labels(field).get(value, value), strings_only=True)


@functools.cache
def _choice_labels(field: models.Field[Any, Any]) -> dict[Any, Any]:
    return dict(field.flatchoices)


class Role(models.TextChoices):
    """The Django groups that carry each kind of user's permissions (DESIGN §1)."""

    STAFF = "staff", _("Équipe de la mission")
    DESIGNER = "designer", _("Designer")
    OFFICER = "officer", _("Chargé·e de développement économique")
    HOLDER = "holder", _("Porteur de projet")


def default_digest_time() -> time:
    return time(7, 30)


class User(AbstractUser):
    """A person who logs in. Their role is the group they belong to."""

    # The language of what Carreau writes to them (e-mail); empty: the site's language.
    language = models.CharField(
        _("langue"), max_length=8, choices=settings.LANGUAGES, blank=True, default=""
    )
    # The morning digest: whether they get it, and at what time (local time, TIME_ZONE).
    digest_enabled = models.BooleanField(_("recevoir le récapitulatif du matin"), default=True)
    digest_time = models.TimeField(_("heure du récapitulatif"), default=default_digest_time)

    class Meta:
        verbose_name = _("utilisateur")
        verbose_name_plural = _("utilisateurs")

    def __str__(self) -> str:
        return self.get_full_name() or self.username

    def _group_names(self) -> set[str]:
        # Cached on the instance: templates and scoping helpers ask several times per request.
        if not hasattr(self, "_carreau_groups"):
            self._carreau_groups = set(self.groups.values_list("name", flat=True))
        return self._carreau_groups

    def has_role(self, role: Role | str) -> bool:
        return str(role) in self._group_names()

    @property
    def is_mission_staff(self) -> bool:
        """Staff of the mission see everything in the CRM; superusers count as staff."""
        return self.is_superuser or self.has_role(Role.STAFF)

    @property
    def roles(self) -> list[Role]:
        names = self._group_names()
        return [role for role in Role if role.value in names]


def validate_siret(value: str) -> None:
    """A SIRET is 14 digits whose Luhn checksum is valid (La Poste's sites are the exception)."""
    if len(value) != 14 or not value.isdigit():
        raise ValidationError(_("Un SIRET compte exactement 14 chiffres."), code="siret_format")
    # La Poste's establishments (SIREN 356000000) use a digit-sum rule instead of Luhn.
    if value.startswith("356000000"):
        if sum(int(digit) for digit in value) % 5 != 0:
            raise ValidationError(
                _("Ce SIRET n'est pas valide (clé de contrôle)."), code="siret_key"
            )
        return
    total = 0
    for index, digit in enumerate(reversed(value)):
        number = int(digit)
        if index % 2 == 1:
            number *= 2
            if number > 9:
                number -= 9
        total += number
    if total % 10 != 0:
        raise ValidationError(_("Ce SIRET n'est pas valide (clé de contrôle)."), code="siret_key")


def fold(text: str) -> str:
    """Lower-case, accent-free form of `text` for searching ("Électriciens" ~ "electriciens").

    SQLite's LIKE folds ASCII letters only, so names are searched through a folded copy.
    """
    decomposed = unicodedata.normalize("NFKD", text.casefold().replace("œ", "oe"))
    stripped = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(stripped.split())


def search_filter(field: str, text: str, *, max_words: int = 6) -> Q:
    """Every word of `text` must appear in the folded `field`."""
    query = Q()
    for word in fold(text).split()[:max_words]:
        query &= Q(**{f"{field}__contains": word})
    return query


class Territory(models.Model):
    """A tourist-office area of the destination (Lens-Liévin, Arras, Douai...)."""

    name = models.CharField(_("nom"), max_length=120, unique=True)
    slug = models.SlugField(_("identifiant"), max_length=120, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("territoire")
        verbose_name_plural = _("territoires")

    def __str__(self) -> str:
        return self.name


class Thematic(models.Model):
    """A theme of the destination's offer (gastronomy, events, sport & nature...)."""

    name = models.CharField(_("nom"), max_length=120, unique=True)
    slug = models.SlugField(_("identifiant"), max_length=120, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("thématique")
        verbose_name_plural = _("thématiques")

    def __str__(self) -> str:
        return self.name


def sees_whole_crm(user: User) -> bool:
    """Staff and officers work the whole CRM; their lists need no scoping subquery."""
    if not user.is_authenticated or not user.is_active:
        return False
    return user.is_mission_staff or user.has_role(Role.OFFICER)


# What the organisation export reads (`crm.exports._organisation_columns` writes them, with
# the contact count): keep the two in step.
ORGANISATION_EXPORT_FIELDS = (
    "name",
    "kind",
    "sector",
    "siret",
    "address",
    "postcode",
    "city",
    "territory__name",
    "website",
    "email",
    "phone",
    "created_at",
)


# The apps built on the CRM say who else reads it, and what it must hide, here, from their
# `AppConfig.ready()`: the CRM itself never imports them.
#
# A role outside the whole-CRM roles -> the condition on organisations it may read (projects: a
# designer reads the holders of the projects whose team they are on).
ORGANISATIONS_READ_BY_ROLE: dict[str, Callable[[User], Q | models.Expression | models.Exists]] = {}
# Conditions on interactions that a person who sees the whole CRM may still not read
# (prospects: the exchanges of a confidential lead stay with its owner, its sharers and staff).
INTERACTIONS_HIDDEN: list[Callable[[User], Q]] = []


class OrganisationQuerySet(models.QuerySet["Organisation"]):
    def visible_to(self, user: User) -> OrganisationQuerySet:
        """The organisations this user may see; everything else answers 404.

        Staff and officers work the whole CRM (officers record investors and operators);
        designers read the holders of their projects; holders see nothing of the CRM.
        """
        if sees_whole_crm(user):
            return self.all()
        if user.is_authenticated and user.is_active:
            for role, readable in ORGANISATIONS_READ_BY_ROLE.items():
                if user.has_role(role):
                    return self.filter(readable(user))
        return self.none()

    def search(self, text: str) -> OrganisationQuerySet:
        """Name, commune, e-mail or SIRET containing every word of `text`."""
        digits = text.replace(" ", "")
        if digits.isdigit() and len(digits) >= 9:
            return self.filter(siret__startswith=digits)
        return self.filter(search_filter("search_text", text))

    def for_list(self) -> OrganisationQuerySet:
        """What the list page shows; contact counts come per page (`contact_counts`)."""
        return self.select_related("territory").defer("search_text", "notes")

    def for_export(self) -> OrganisationQuerySet:
        """Every exported row with its contact count, as a correlated subquery. Only the
        exported columns are read: at 100,000 rows, building fuller objects costs seconds."""
        contacts = (
            Contact.objects.filter(organisation=models.OuterRef("pk"))
            .order_by()
            .values("organisation")
            .annotate(total=models.Count("pk"))
            .values("total")
        )
        return (
            self.select_related("territory")
            .only(*ORGANISATION_EXPORT_FIELDS)
            .annotate(contact_count=Coalesce(models.Subquery(contacts), 0))
        )

    def for_detail(self) -> OrganisationQuerySet:
        return self.select_related("territory", "created_by")


def count_contacts(organisations: list[Organisation]) -> None:
    """Set `contact_count` on a page of organisations in one query.

    Counting after pagination keeps the list fast whatever the filter and sort: an annotation
    would be computed for every matching row before the database sorts them.
    """
    counts = dict(
        Contact.objects.filter(organisation__in=organisations)
        .order_by()
        .values_list("organisation")
        .annotate(total=models.Count("pk"))
    )
    for organisation in organisations:
        # Read by the list's template; exports annotate the same name in the query.
        organisation.contact_count = counts.get(organisation.pk, 0)  # type: ignore[attr-defined]


class Organisation(ChoiceLabels, models.Model):
    """A business, tourist office, local authority, investor, operator or association."""

    class Kind(models.TextChoices):
        BUSINESS = "business", _("Entreprise")
        TOURIST_OFFICE = "tourist_office", _("Office de tourisme")
        LOCAL_AUTHORITY = "local_authority", _("Collectivité")
        INVESTOR = "investor", _("Investisseur")
        OPERATOR = "operator", _("Opérateur")
        ASSOCIATION = "association", _("Association")

    class Sector(models.TextChoices):
        PUBLIC = "public", _("Public")
        PRIVATE = "private", _("Privé")

    name = models.CharField(_("nom"), max_length=200)
    kind = models.CharField(_("type"), max_length=20, choices=Kind.choices)
    sector = models.CharField(
        _("statut"), max_length=10, choices=Sector.choices, default=Sector.PRIVATE
    )
    siret = models.CharField(
        _("SIRET"),
        max_length=14,
        blank=True,
        validators=[validate_siret],
        help_text=_("14 chiffres, sans espace. Facultatif."),
    )
    address = models.CharField(_("adresse"), max_length=255, blank=True)
    postcode = models.CharField(_("code postal"), max_length=10, blank=True)
    city = models.CharField(_("commune"), max_length=120, blank=True)
    country = models.CharField(_("pays"), max_length=2, default="FR")
    territory = models.ForeignKey(
        Territory,
        verbose_name=_("territoire"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="organisations",
    )
    website = models.URLField(_("site web"), blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    phone = models.CharField(_("téléphone"), max_length=30, blank=True)
    notes = models.TextField(_("notes"), max_length=10_000, blank=True)
    logo = models.ImageField(_("logo"), upload_to="organisations/logos/", blank=True)
    is_demo = models.BooleanField(_("donnée de démonstration"), default=False, editable=False)
    search_text = models.TextField(editable=False, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("créée par"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("créée le"), auto_now_add=True)
    updated_at = models.DateTimeField(_("modifiée le"), auto_now=True)

    objects = OrganisationQuerySet.as_manager()

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")
        indexes = [
            # Covering the folded search text lets a search read the index in name order
            # without touching the table (DESIGN §8: lists < 100 ms at 100,000 rows).
            models.Index(fields=["name", "id", "search_text"], name="crm_org_name_idx"),
            models.Index(fields=["kind", "name"], name="crm_org_kind_idx"),
            models.Index(fields=["territory", "name"], name="crm_org_territory_idx"),
            models.Index(fields=["sector", "name"], name="crm_org_sector_idx"),
            models.Index(fields=["city"], name="crm_org_city_idx"),
            models.Index(fields=["-created_at"], name="crm_org_created_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["siret"],
                condition=~Q(siret=""),
                name="crm_organisation_siret_unique",
                violation_error_message=_("Une organisation avec ce SIRET existe déjà."),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        # A derived copy for accent- and case-insensitive search; bulk writers must call
        # `refresh_search_text()` themselves.
        self.refresh_search_text()
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("crm:organisation_detail", args=[self.pk])

    def refresh_search_text(self) -> None:
        self.search_text = fold(f"{self.name} {self.city} {self.email}")


class ContactQuerySet(models.QuerySet["Contact"]):
    def visible_to(self, user: User) -> ContactQuerySet:
        """Contacts of the organisations this user may see."""
        if sees_whole_crm(user):
            return self.all()
        return self.filter(organisation__in=Organisation.objects.visible_to(user))

    def search(self, text: str) -> ContactQuerySet:
        """Contacts whose name, e-mail or role contains every word of `text`."""
        return self.filter(search_filter("search_text", text))

    def for_list(self) -> ContactQuerySet:
        return self.select_related("organisation", "organisation__territory").defer(
            "search_text", "notes", "organisation__search_text", "organisation__notes"
        )

    def for_detail(self) -> ContactQuerySet:
        return self.select_related("organisation", "organisation__territory", "created_by")

    def contactable(self) -> ContactQuerySet:
        """The people Carreau may reach out to: not objecting (RGPD art. 21) and not anonymised.

        Whatever contacts someone on the mission's behalf (notifications, mailings, a "who to
        call" list) starts here, never from `all()`; pages that only show contacts keep showing
        objecting ones, with the "Ne pas contacter" mark."""
        return self.filter(objected_at__isnull=True, anonymised_at__isnull=True)

    def due_for_review(self, *, years: int, now: datetime | None = None) -> ContactQuerySet:
        """Contacts not yet anonymised with no interaction for `years` years (DESIGN §6).

        A contact never interacted with counts from the day it was recorded.
        """
        now = now or timezone.now()
        try:
            cutoff = now.replace(year=now.year - years)
        except ValueError:  # 29 February
            cutoff = now.replace(year=now.year - years, day=28)
        return self.filter(anonymised_at__isnull=True).filter(
            Q(last_interaction_at__lt=cutoff)
            | Q(last_interaction_at__isnull=True, created_at__lt=cutoff)
        )


class Contact(ChoiceLabels, models.Model):
    """A person at an organisation. Personal data: consent and legal basis are recorded."""

    class LegalBasis(models.TextChoices):
        CONSENT = "consent", _("Consentement")
        CONTRACT = "contract", _("Contrat ou mesures précontractuelles")
        LEGITIMATE_INTEREST = "legitimate_interest", _("Intérêt légitime")
        PUBLIC_TASK = "public_task", _("Mission d'intérêt public")

    organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("organisation"),
        on_delete=models.CASCADE,
        related_name="contacts",
    )
    first_name = models.CharField(_("prénom"), max_length=100, blank=True)
    last_name = models.CharField(_("nom"), max_length=100)
    role = models.CharField(_("fonction"), max_length=150, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    phone = models.CharField(_("téléphone"), max_length=30, blank=True)
    legal_basis = models.CharField(
        _("base légale"),
        max_length=30,
        choices=LegalBasis.choices,
        default=LegalBasis.LEGITIMATE_INTEREST,
    )
    consent_given_at = models.DateTimeField(_("consentement recueilli le"), null=True, blank=True)
    notes = models.TextField(_("notes"), max_length=10_000, blank=True)
    last_interaction_at = models.DateTimeField(
        _("dernière interaction"), null=True, blank=True, editable=False
    )
    # Set when the person objects to being contacted (RGPD art. 21); cleared if they withdraw.
    objected_at = models.DateTimeField(
        _("s'oppose à être contacté·e depuis le"), null=True, blank=True, editable=False
    )
    anonymised_at = models.DateTimeField(_("anonymisé le"), null=True, blank=True, editable=False)
    is_demo = models.BooleanField(_("donnée de démonstration"), default=False, editable=False)
    search_text = models.TextField(editable=False, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("créé par"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("créé le"), auto_now_add=True)
    updated_at = models.DateTimeField(_("modifié le"), auto_now=True)

    objects = ContactQuerySet.as_manager()

    class Meta:
        ordering = ["last_name", "first_name", "pk"]
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        indexes = [
            # See Organisation: the search text makes name-ordered searches index-only.
            models.Index(
                fields=["last_name", "first_name", "id", "search_text"],
                name="crm_contact_name_idx",
            ),
            models.Index(fields=["organisation", "last_name"], name="crm_contact_org_idx"),
            models.Index(fields=["email"], name="crm_contact_email_idx"),
            models.Index(fields=["last_interaction_at"], name="crm_contact_last_int_idx"),
            models.Index(fields=["legal_basis"], name="crm_contact_basis_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(legal_basis="consent") | Q(consent_given_at__isnull=False),
                name="crm_contact_consent_dated",
                violation_error_message=_(
                    "Indiquez la date du consentement lorsque la base légale est le consentement."
                ),
            ),
        ]

    def __str__(self) -> str:
        return self.full_name

    def save(self, *args: Any, **kwargs: Any) -> None:
        # See Organisation.save(): a derived copy for accent- and case-insensitive search.
        self.refresh_search_text()
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("crm:contact_detail", args=[self.pk])

    def refresh_search_text(self) -> None:
        self.search_text = fold(f"{self.first_name} {self.last_name} {self.email} {self.role}")

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def objects_to_contact(self) -> bool:
        return self.objected_at is not None

    @property
    def may_be_contacted(self) -> bool:
        """The instance twin of `Contact.objects.contactable()`."""
        return self.objected_at is None and self.anonymised_at is None


class InteractionQuerySet(models.QuerySet["Interaction"]):
    def visible_to(self, user: User) -> InteractionQuerySet:
        """Interactions on organisations this user may see, without those of leads they may
        not see (a confidential lead's exchanges stay with its owner, its sharers and staff)."""
        if sees_whole_crm(user):
            if user.is_mission_staff:
                return self.all()
            hidden = [hides(user) for hides in INTERACTIONS_HIDDEN]
            return self.exclude(functools.reduce(operator.or_, hidden)) if hidden else self
        return self.filter(
            organisation__in=Organisation.objects.visible_to(user), lead__isnull=True
        )

    def for_timeline(self) -> InteractionQuerySet:
        return self.select_related("author", "contact", "organisation").order_by(
            "-occurred_at", "-pk"
        )


class Interaction(ChoiceLabels, models.Model):
    """A call, e-mail, meeting, visit, event or note with an organisation."""

    class Kind(models.TextChoices):
        CALL = "call", _("Appel")
        EMAIL = "email", _("E-mail")
        MEETING = "meeting", _("Rendez-vous")
        SITE_VISIT = "site_visit", _("Visite de site")
        EVENT = "event", _("Événement")
        NOTE = "note", _("Note")

    # Reaching out to the person: logging one to someone who objects asks for a confirmation
    # and its reason (RGPD art. 21). A meeting, visit, event or note may follow their request.
    CONTACTING = frozenset({Kind.CALL, Kind.EMAIL})

    kind = models.CharField(_("type"), max_length=20, choices=Kind.choices)
    occurred_at = models.DateTimeField(_("date"), default=timezone.now)
    summary = models.TextField(_("résumé"), max_length=10_000)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("auteur"),
        on_delete=models.PROTECT,
        related_name="interactions",
    )
    organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("organisation"),
        on_delete=models.CASCADE,
        related_name="interactions",
    )
    contact = models.ForeignKey(
        Contact,
        verbose_name=_("contact"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="interactions",
    )
    project = models.ForeignKey(
        "projects.Project",
        verbose_name=_("projet"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="interactions",
    )
    lead = models.ForeignKey(
        "prospects.Lead",
        verbose_name=_("piste"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="interactions",
    )
    created_at = models.DateTimeField(_("enregistrée le"), auto_now_add=True)

    objects = InteractionQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-pk"]
        verbose_name = _("interaction")
        verbose_name_plural = _("interactions")
        indexes = [
            # Timelines sort on (occurred_at, id) newest first: the index must match the whole
            # ORDER BY, or SQLite sorts every row before applying the LIMIT.
            models.Index(fields=["organisation", "-occurred_at", "-id"], name="crm_int_org_idx"),
            models.Index(fields=["contact", "-occurred_at", "-id"], name="crm_int_contact_idx"),
            models.Index(fields=["author", "-occurred_at", "-id"], name="crm_int_author_idx"),
            models.Index(fields=["-occurred_at", "-id"], name="crm_int_date_idx"),
            models.Index(fields=["project", "-occurred_at", "-id"], name="crm_int_project_idx"),
            models.Index(fields=["lead", "-occurred_at", "-id"], name="crm_int_lead_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} — {self.organisation}"

    def clean(self) -> None:
        if (
            self.contact_id
            and self.organisation_id
            and self.contact is not None
            and (self.contact.organisation_id != self.organisation_id)
        ):
            raise ValidationError(
                {"contact": _("Ce contact n'appartient pas à cette organisation.")}
            )
        if (
            self.project_id
            and self.organisation_id
            and self.project is not None
            and (self.project.holder_id != self.organisation_id)
        ):
            raise ValidationError(
                {"project": _("Ce projet n'est pas porté par cette organisation.")}
            )
        if (
            self.lead_id
            and self.organisation_id
            and self.lead is not None
            and (self.lead.organisation_id != self.organisation_id)
        ):
            raise ValidationError({"lead": _("Cette piste ne concerne pas cette organisation.")})


class ImportMapping(models.Model):
    """How a person last mapped the columns of one kind of import: folded header → field
    ("" for a column they chose not to import). Offered first on their next import, so a
    spreadsheet kept the same way maps itself."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="import_mappings"
    )
    kind = models.CharField(_("type d'import"), max_length=20)
    columns = models.JSONField(_("colonnes"), default=dict)
    updated_at = models.DateTimeField(_("modifié le"), auto_now=True)

    class Meta:
        verbose_name = _("correspondance de colonnes")
        verbose_name_plural = _("correspondances de colonnes")
        constraints = [
            models.UniqueConstraint(fields=["user", "kind"], name="crm_importmapping_user_kind")
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.kind}"


class AuditEntryQuerySet(models.QuerySet["AuditEntry"]):
    def for_record(self, record: models.Model) -> AuditEntryQuerySet:
        """The entries of one record, newest first, with their authors."""
        return (
            self.filter(record_type=record._meta.label_lower, record_id=record.pk)
            .select_related("by")
            .order_by("-at", "-pk")
        )


class AuditEntry(ChoiceLabels, models.Model):
    """One recorded change to a project, lead, organisation or contact: who, when, which field,
    old → new, as text. Written only by `crm.audit`; never edited, in the app or the admin."""

    class Action(models.TextChoices):
        CREATED = "created", _("Création")
        CHANGED = "changed", _("Modification")
        DELETED = "deleted", _("Suppression")
        TRANSITION = "transition", _("Changement d'étape")
        OBJECTION = "objection", _("Opposition")
        # Someone logged a call or an e-mail to, or added to a lead, a person who objects: they
        # confirmed it and said why (the reason is the entry's detail).
        DESPITE_OBJECTION = "despite_objection", _("Contact malgré l'opposition")
        EXPORTED = "exported", _("Export des données personnelles")
        ANONYMISED = "anonymised", _("Anonymisation")

    # The record as "app_label.model" and its id rather than a generic foreign key: reading a
    # record's entries then needs no content-type lookup, and entries outlive their record.
    record_type = models.CharField(_("type de fiche"), max_length=60)
    # Null for an event on a whole list rather than one record (an export of the contact list).
    record_id = models.PositiveBigIntegerField(_("identifiant de la fiche"), null=True, blank=True)
    action = models.CharField(_("action"), max_length=20, choices=Action.choices)
    field = models.CharField(_("champ"), max_length=60, blank=True)
    field_label = models.CharField(_("libellé du champ"), max_length=120, blank=True)
    old_value = models.TextField(_("ancienne valeur"), blank=True)
    new_value = models.TextField(_("nouvelle valeur"), blank=True)
    detail = models.TextField(_("détail"), blank=True)
    # What a reader needs beyond one text, as plain values: a list export's row count, an
    # erasure's report (what it blanked, what it kept and why). Never the person's data.
    data = models.JSONField(_("données"), default=dict, blank=True)
    # Null for what the system does on its own (the anonymisation command).
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("par"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    at = models.DateTimeField(_("le"), default=timezone.now)

    objects = AuditEntryQuerySet.as_manager()

    # Set by `crm.audit.entries_for` for the record's page: the entry as people read it.
    shown_label: str
    shown_old: str
    shown_new: str

    class Meta:
        ordering = ["-at", "-pk"]
        verbose_name = _("entrée du journal des modifications")
        verbose_name_plural = _("journal des modifications")
        indexes = [
            models.Index(
                fields=["record_type", "record_id", "-at", "-id"], name="crm_audit_record_idx"
            ),
            models.Index(fields=["-at", "-id"], name="crm_audit_date_idx"),
        ]

    def __str__(self) -> str:
        record = (
            self.record_type if self.record_id is None else f"{self.record_type} #{self.record_id}"
        )
        return f"{record} — {self.get_action_display()}"


# Background jobs (DESIGN §10) ------------------------------------------------------------------


class JobQuerySet(models.QuerySet["Job"]):
    def of(self, user: User) -> JobQuerySet:
        """The jobs this person started: a job and its file are only ever its owner's."""
        return self.filter(owner=user)

    def listed(self) -> JobQuerySet:
        """What "Mes fichiers" shows: jobs not yet expired, newest first."""
        return self.exclude(expires_at__lt=timezone.now()).order_by("-created_at", "-pk")

    def expired(self) -> JobQuerySet:
        """Finished jobs past their expiry: their files are deleted by `purge_jobs`."""
        return self.filter(expires_at__lt=timezone.now())

    def stale(self, *, older_than: datetime) -> JobQuerySet:
        """Running jobs whose worker has not reported since `older_than`: killed mid-job."""
        return self.filter(status=Job.Status.RUNNING, heartbeat_at__lt=older_than)


class Job(models.Model):
    """Long work done by the worker for one person: a large export, a workbook, a PDF.

    The request that asks for it creates the job and its task in one transaction and answers
    at once; the worker runs it (`crm.jobs.run`), reporting progress, and stores its file
    under a fresh name only when it is complete. The person follows it on its page and gets
    the file through a permission-checked download until it expires."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("en attente")
        RUNNING = "running", _("en cours")
        DONE = "done", _("terminé")
        FAILED = "failed", _("échoué")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(_("type"), max_length=40)
    label = models.CharField(_("intitulé"), max_length=200)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("demandé par"),
        on_delete=models.CASCADE,
        related_name="jobs",
    )
    params = models.JSONField(_("paramètres"), default=dict, blank=True)
    status = models.CharField(
        _("état"), max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    done = models.PositiveIntegerField(_("fait"), default=0)
    total = models.PositiveIntegerField(_("à faire"), null=True, blank=True)
    unit = models.CharField(_("unité"), max_length=20, blank=True)
    error = models.TextField(_("erreur"), blank=True)
    # What a finished job says, and where its result is when it is not a file (an issued
    # specification version lives on its project's pages).
    message = models.TextField(_("résultat"), blank=True)
    result_url = models.CharField(_("adresse du résultat"), max_length=300, blank=True)
    attempts = models.PositiveSmallIntegerField(_("essais"), default=0)
    file = models.FileField(_("fichier"), upload_to="jobs/", blank=True)
    filename = models.CharField(_("nom du fichier"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("demandé le"), default=timezone.now)
    started_at = models.DateTimeField(_("commencé le"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("dernier signe du travail"), null=True, blank=True)
    finished_at = models.DateTimeField(_("fini le"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expire le"), null=True, blank=True)

    objects = JobQuerySet.as_manager()

    class Meta:
        verbose_name = _("tâche de fond")
        verbose_name_plural = _("tâches de fond")
        indexes = [
            models.Index(fields=["owner", "-created_at"], name="crm_job_owner_idx"),
            models.Index(fields=["status", "heartbeat_at"], name="crm_job_status_idx"),
            models.Index(fields=["expires_at"], name="crm_job_expiry_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.get_status_display()})"

    def get_absolute_url(self) -> str:
        return reverse("crm:job_detail", args=[self.pk])

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)

    @property
    def percent(self) -> int | None:
        """How far the job has gone, when it knows how much there is to do."""
        if self.status == self.Status.DONE:
            return 100
        if not self.total:
            return None
        return min(99, self.done * 100 // self.total)


# An import whose apply job is in one of these is being applied.
APPLYING = (Job.Status.QUEUED, Job.Status.RUNNING)


class StagedImportQuerySet(models.QuerySet["StagedImport"]):
    def of(self, user: User) -> StagedImportQuerySet:
        """The imports `user` started: nobody reaches another person's."""
        return self.filter(owner=user)

    def applying(self) -> StagedImportQuerySet:
        """Not applied yet, with an apply job queued or running."""
        return self.filter(applied_at__isnull=True, job__status__in=APPLYING)

    def waiting(self) -> StagedImportQuerySet:
        """Started and not applied, with no apply on its way: what waits for its starter
        (an apply that failed leaves its import waiting)."""
        return self.filter(applied_at__isnull=True).exclude(job__status__in=APPLYING)

    def stale(self, *, older_than: datetime) -> StagedImportQuerySet:
        """Left untouched since `older_than`, applied or not, except those being applied."""
        return self.filter(updated_at__lt=older_than).exclude(
            applied_at__isnull=True, job__status__in=APPLYING
        )


class StagedImport(models.Model):
    """An import started and not yet applied: the uploaded workbook (in the private storage,
    under `imports/`), its header row and the columns as mapped so far. It lives in the
    database, not the session, so it survives the session and the person finds it in their
    work queue from any browser. Applying it links the job; the job marks it applied in the
    transaction that writes the rows and deletes the workbook, so a re-run finds it done.
    `manage.py purge_imports` deletes the rows and files left untouched."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("commencé par"),
        on_delete=models.CASCADE,
        related_name="staged_imports",
    )
    kind = models.CharField(_("type d'import"), max_length=20)
    # The workbook's name in the storage; empty once applied (the file is deleted then).
    stored_name = models.CharField(_("fichier stocké"), max_length=200, blank=True)
    original_name = models.CharField(_("nom du fichier"), max_length=200)
    headers = models.JSONField(_("colonnes du classeur"), default=list)
    # Column index (as text) → field, once the person has confirmed the columns.
    mapping = models.JSONField(_("correspondance"), default=dict, blank=True)
    created_at = models.DateTimeField(_("commencé le"), default=timezone.now)
    updated_at = models.DateTimeField(_("modifié le"), default=timezone.now)
    job = models.ForeignKey(
        Job,
        verbose_name=_("application"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    applied_at = models.DateTimeField(_("appliqué le"), null=True, blank=True)

    objects = StagedImportQuerySet.as_manager()

    class Meta:
        verbose_name = _("import commencé")
        verbose_name_plural = _("imports commencés")
        indexes = [
            # The work queue: one person's imports not applied, oldest first.
            models.Index(
                fields=["owner", "created_at"],
                condition=Q(applied_at__isnull=True),
                name="crm_stagedimport_waiting_idx",
            ),
            # The purge: those left untouched.
            models.Index(fields=["updated_at"], name="crm_stagedimport_stale_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["stored_name"],
                condition=~Q(stored_name=""),
                name="crm_stagedimport_file_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.original_name} ({self.kind})"

    @property
    def token(self) -> str:
        """How its pages name it."""
        return self.id.hex

    @property
    def is_applying(self) -> bool:
        return self.applied_at is None and self.job is not None and self.job.status in APPLYING

    def columns(self) -> dict[int, str]:
        """The mapping as the import reads it: column index → field."""
        return {int(index): name for index, name in self.mapping.items()}

    def resume_url(self) -> str:
        """Where its starter left off: the columns until they are confirmed, then the dry run."""
        step = "crm:import_preview" if self.mapping else "crm:import_map"
        return reverse(step, args=[self.token])


# Notifications and e-mail (DESIGN §9) ----------------------------------------------------------


class Event(models.Model):
    """Something happened that others must hear of: recorded once, by the action that caused
    it, in its transaction (`crm.notifications.notify`), with the people it is for. The
    worker builds the rest from it: one notification per recipient (`delivered_at` says
    that is done), then the e-mails of those who want them at once.

    The record it is about is named twice: by its full name (shown inside Carreau, to people
    who may see it) and by its reference (all that a confidential lead is called outside)."""

    kind = models.CharField(_("type"), max_length=40)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("par"),
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
    )
    record_type = models.CharField(_("type de fiche"), max_length=60)
    record_id = models.PositiveBigIntegerField(_("fiche"))
    record_name = models.CharField(_("nom de la fiche"), max_length=300)
    record_reference = models.CharField(_("référence"), max_length=40, blank=True)
    confidential = models.BooleanField(_("confidentiel"), default=False)
    url = models.CharField(_("adresse"), max_length=300)
    params = models.JSONField(_("détails"), default=dict, blank=True)
    # Who must hear of it, as the action saw it (user ids; never the person who acted).
    recipients = models.JSONField(_("destinataires"), default=list, blank=True)
    created_at = models.DateTimeField(_("le"), default=timezone.now)
    delivered_at = models.DateTimeField(_("notifications écrites le"), null=True, blank=True)

    class Meta:
        verbose_name = _("événement")
        verbose_name_plural = _("événements")
        indexes = [
            models.Index(fields=["record_type", "record_id"], name="crm_event_record_idx"),
            # `recover_jobs` looks for the events a dead worker left undelivered.
            models.Index(
                fields=["created_at"],
                condition=models.Q(delivered_at__isnull=True),
                name="crm_event_undelivered_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {self.record_type} #{self.record_id}"


class NotificationQuerySet(models.QuerySet["Notification"]):
    def for_reader(self, user: User) -> NotificationQuerySet:
        """The person's notifications about records they may still see (a lost access hides
        them), newest first."""
        from crm.notifications import visible_records

        return (
            self.filter(recipient=user).filter(visible_records(user)).order_by("-created_at", "-pk")
        )

    def unread(self) -> NotificationQuerySet:
        return self.filter(read_at__isnull=True)


class Notification(models.Model):
    """One event, for one person: the bell counts the unread ones."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="notifications")
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    # Copied from the event: the bell's count and the page filter on them without a join.
    record_type = models.CharField(max_length=60)
    record_id = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(_("le"), default=timezone.now)
    read_at = models.DateTimeField(_("lu le"), null=True, blank=True)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        constraints = [
            models.UniqueConstraint(
                fields=["event", "recipient"], name="crm_notification_once_per_recipient"
            ),
        ]
        indexes = [
            models.Index(fields=["recipient", "read_at"], name="crm_notification_unread_idx"),
            models.Index(fields=["recipient", "-created_at"], name="crm_notification_list_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.recipient_id}: {self.event_id}"


class Delivery(models.TextChoices):
    """How a person hears of one kind of event, beside the bell."""

    IMMEDIATE = "immediate", _("Par e-mail, tout de suite")
    DIGEST = "digest", _("Dans le récapitulatif du matin")
    OFF = "off", _("Pas d'e-mail")


class NotificationPreference(models.Model):
    """A person's choice for one kind of event; without a row, the kind's default holds."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preferences"
    )
    kind = models.CharField(_("type"), max_length=40)
    delivery = models.CharField(_("envoi"), max_length=10, choices=Delivery.choices)

    class Meta:
        verbose_name = _("préférence de notification")
        verbose_name_plural = _("préférences de notification")
        constraints = [
            models.UniqueConstraint(fields=["user", "kind"], name="crm_preference_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.kind} → {self.delivery}"


class OutboxMessage(models.Model):
    """One e-mail to one person, kept until the mail server has taken it.

    Written by the worker, sent by it (`crm.mail`); a failure is retried later with a growing
    delay, so a mail server down for hours loses nothing. `key` says what the message is
    (an event, a day's digest): the constraint makes a second message for the same thing
    and the same person impossible."""

    class Status(models.TextChoices):
        PENDING = "pending", _("en attente")
        SENT = "sent", _("envoyé")
        FAILED = "failed", _("abandonné")

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("destinataire"),
        on_delete=models.CASCADE,
        related_name="outbox",
    )
    key = models.CharField(_("objet de l'envoi"), max_length=60)
    event = models.ForeignKey(
        Event, verbose_name=_("événement"), on_delete=models.SET_NULL, null=True, blank=True
    )
    to = models.EmailField(_("adresse"))
    subject = models.CharField(_("sujet"), max_length=300)
    body_text = models.TextField(_("texte"))
    body_html = models.TextField(_("HTML"), blank=True)
    headers = models.JSONField(_("en-têtes"), default=dict, blank=True)
    status = models.CharField(
        _("état"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("essais"), default=0)
    next_attempt_at = models.DateTimeField(_("prochain essai"), default=timezone.now)
    last_error = models.TextField(_("dernière erreur"), blank=True)
    created_at = models.DateTimeField(_("créé le"), default=timezone.now)
    sent_at = models.DateTimeField(_("envoyé le"), null=True, blank=True)

    class Meta:
        verbose_name = _("e-mail à envoyer")
        verbose_name_plural = _("e-mails à envoyer")
        constraints = [
            models.UniqueConstraint(fields=["recipient", "key"], name="crm_outbox_once"),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="crm_outbox_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.to}: {self.subject}"
