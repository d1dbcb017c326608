"""What can be imported: each kind of record says which fields a column can go to, how rows
are matched to what is stored, and how they are written.

A kind is an `ImportKind`: its `targets`, who may import it, and the hooks the plan calls
(`prepare` a batch, `resolve` references, `key_of` / `match`, `build`, `attach`, `save`).
Columns naming another record are components a kind holds (`TerritoryNames`,
`OrganisationNames`), not classes it inherits from.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm import audit
from crm.imports.cells import CellError, choice, date_value, digits, text
from crm.models import Contact, Organisation, Territory, User, fold

BATCH_SIZE = 1000


@dataclass(frozen=True)
class Target:
    """A field a column can be mapped to."""

    name: str
    label: Any
    parse: Callable[[Any], Any]
    synonyms: tuple[str, ...] = ()
    required: bool = False


@dataclass
class RowPlan:
    number: int  # the row number in the sheet, as the person sees it
    action: str  # "create", "update", "unchanged" or "error"
    values: dict[str, Any] = field(default_factory=dict)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (column header, reason)
    instance: Any = None
    before: audit.Snapshot = field(default_factory=dict)  # what an updated record held
    columns: dict[str, str] = field(default_factory=dict)  # field → its header in the file
    cells: tuple[Any, ...] = ()  # the row as read, kept while it is planned
    changed: list[str] = field(default_factory=list)  # what an update changes (labels)

    def column(self, kind: ImportKind, name: str) -> str:
        """The header the person gave the column of field `name`, for error messages."""
        return self.columns.get(name) or str(kind.target(name).label)


class ImportKind:
    """How one kind of record is read, matched and written, on behalf of `by`."""

    key: str
    label: Promise
    model: type
    targets: list[Target]
    list_url: str  # where the person lands once the import is applied

    def __init__(self, *, by: User) -> None:
        self.by = by

    @staticmethod
    def allowed(user: User) -> bool:
        """Organisations and contacts are the mission team's to import."""
        return user.is_authenticated and user.is_mission_staff

    def target(self, name: str) -> Target:
        return next(target for target in self.targets if target.name == name)

    def prepare(self, rows: list[RowPlan]) -> None:
        """Load what matching needs for these rows (a few queries per batch)."""

    def resolve(self, row: RowPlan) -> None:
        """Turn the row's references to other records into ids, or add the row's error."""

    def refuse_change(self, existing: Any) -> str | None:
        """Why this person may not change `existing` (None when they may). Asked only when
        the row would change it: an unchanged row of someone else's record is no error."""
        return None

    def model_values(self, values: dict[str, Any]) -> dict[str, Any]:
        """Row values under the model's attribute names (a territory is `territory_id`)."""
        return {
            ("territory_id" if name == "territory" else name): value
            for name, value in values.items()
        }

    def attach(self, instance: Any) -> None:
        """Fill the instance's foreign-key caches from what `prepare` loaded, so that the
        audit trail's text of the record costs no query per row."""

    def key_of(self, row: RowPlan) -> tuple[str, str] | None:
        raise NotImplementedError

    def check(self, row: RowPlan, instance: Any) -> None:
        """Rules the database enforces with constraints, checked here without a query."""

    def match(self, row: RowPlan) -> Any:
        raise NotImplementedError

    def build(self, row: RowPlan, *, by: User) -> Any:
        raise NotImplementedError

    def save(self, instances: list[Any], *, created: bool) -> None:
        raise NotImplementedError


def assign(instance: Any, values: dict[str, Any]) -> list[str]:
    """Set the non-empty values on `instance`; the names of those that changed (empty when
    nothing did)."""
    changed = []
    for name, value in values.items():
        if value in ("", None):
            continue  # an empty cell never erases a stored value
        if getattr(instance, name) != value:
            setattr(instance, name, value)
            changed.append(name)
    return changed


def unknown_organisation(name: str, by: User) -> str:
    """Why a row naming an unknown organisation is refused, and what this person can do."""
    if OrganisationImport.allowed(by):
        how = _("Importez-la d'abord (import « Organisations ») ou créez-la, puis réimportez.")
    elif by.has_perm("crm.add_organisation"):
        how = _(
            "Créez-la d'abord (Organisations › Nouvelle organisation), puis réimportez les "
            "lignes à corriger."
        )
    else:
        how = _(
            "Demandez à l'équipe de la mission de la créer, puis réimportez les lignes à corriger."
        )
    return _("Organisation inconnue : « %(name)s ».") % {"name": name} + " " + how


class TerritoryNames:
    """A column naming a territory by its name or its slug (there are a handful: loaded once
    per import)."""

    def __init__(self) -> None:
        self.objects = {territory.pk: territory for territory in Territory.objects.all()}
        self.ids = {
            fold(key): territory.pk
            for territory in self.objects.values()
            for key in (territory.name, territory.slug)
        }

    def parse(self, value: Any) -> int:
        found = self.ids.get(fold(str(value)))
        if found is None:
            raise CellError(_("Territoire inconnu : « %(name)s ».") % {"name": value})
        return found

    def attach(self, instance: Any) -> None:
        if instance.territory_id:
            instance.territory = self.objects[instance.territory_id]


class OrganisationNames:
    """A column naming an organisation by its SIRET or its exact name, resolved per batch."""

    def __init__(self, *, by: User, label: Any = None) -> None:
        self.by = by
        self.label = label or gettext_lazy("Organisation (SIRET ou nom)")
        self.by_key: dict[str, Organisation] = {}
        self.objects: dict[int, Organisation] = {}

    @staticmethod
    def parse(value: Any) -> str:
        return digits(value) if digits(value).isdigit() else str(value).strip()

    def load(self, rows: list[RowPlan]) -> None:
        wanted = {row.values["organisation"] for row in rows if row.values.get("organisation")}
        fields = ("pk", "name", "siret")
        for organisation in Organisation.objects.filter(name__in=wanted).only(*fields):
            self.by_key.setdefault(fold(organisation.name), organisation)
            self.objects[organisation.pk] = organisation
        for organisation in Organisation.objects.filter(siret__in=wanted).only(*fields):
            self.by_key[organisation.siret] = organisation
            self.objects[organisation.pk] = organisation

    def find(self, reference: str) -> Organisation | None:
        return self.by_key.get(reference if reference.isdigit() else fold(reference))

    def resolve(self, row: RowPlan, column: str) -> None:
        """Replace the row's organisation name by its id, or add the row's error."""
        reference = row.values.pop("organisation", None)
        if not reference:
            return
        found = self.find(reference)
        if found is None:
            row.errors.append(
                (
                    column,
                    unknown_organisation(reference, self.by),
                )
            )
        else:
            row.values["organisation_id"] = found.pk

    def attach(self, instance: Any) -> None:
        if instance.organisation_id in self.objects:
            instance.organisation = self.objects[instance.organisation_id]


class OrganisationImport(ImportKind):
    key = "organisations"
    label = gettext_lazy("Organisations")
    model = Organisation
    list_url = "crm:organisation_list"

    def __init__(self, *, by: User) -> None:
        super().__init__(by=by)
        self.territories = TerritoryNames()
        self.targets = [
            Target(
                "name",
                gettext_lazy("Nom"),
                text(200),
                ("nom", "name", "raison sociale", "organisation", "structure", "denomination"),
                required=True,
            ),
            Target(
                "kind",
                gettext_lazy("Type"),
                choice(Organisation.Kind.choices),
                ("type", "kind", "categorie", "type d'organisation"),
            ),
            Target("siret", gettext_lazy("SIRET"), digits, ("siret", "n° siret", "numero siret")),
            Target("address", gettext_lazy("Adresse"), text(255), ("adresse", "address", "rue")),
            Target(
                "postcode",
                gettext_lazy("Code postal"),
                text(10),
                ("code postal", "cp", "postcode", "zip", "postal code"),
            ),
            Target(
                "city", gettext_lazy("Commune"), text(120), ("commune", "ville", "city", "town")
            ),
            Target(
                "territory",
                gettext_lazy("Territoire"),
                self.territories.parse,
                ("territoire", "territory", "office de tourisme", "zone"),
            ),
            Target(
                "website",
                gettext_lazy("Site web"),
                text(200),
                ("site web", "site", "website", "url", "web"),
            ),
            Target(
                "email", gettext_lazy("E-mail"), text(254), ("e-mail", "email", "mail", "courriel")
            ),
            Target("phone", gettext_lazy("Téléphone"), text(30), ("telephone", "tel", "phone")),
            Target(
                "notes",
                gettext_lazy("Notes"),
                text(10_000),
                ("notes", "remarques", "commentaire", "comments"),
            ),
        ]
        self.by_siret: dict[str, Organisation] = {}
        self.by_name: dict[str, Organisation] = {}

    def prepare(self, rows: list[RowPlan]) -> None:
        sirets = {row.values["siret"] for row in rows if row.values.get("siret")}
        names = {fold(row.values["name"]) for row in rows if row.values.get("name")}
        for organisation in Organisation.objects.filter(siret__in=sirets):
            self.by_siret[organisation.siret] = organisation
        # Name matches only for rows without a SIRET.
        candidates = Organisation.objects.filter(
            name__in={row.values["name"] for row in rows if row.values.get("name")}
        )
        for organisation in candidates:
            if fold(organisation.name) in names:
                self.by_name.setdefault(fold(organisation.name), organisation)

    def key_of(self, row: RowPlan) -> tuple[str, str] | None:
        if row.values.get("siret"):
            return ("SIRET", row.values["siret"])
        if row.values.get("name"):
            return (_("nom"), fold(row.values["name"]))
        return None

    def match(self, row: RowPlan) -> Organisation | None:
        if row.values.get("siret"):
            return self.by_siret.get(row.values["siret"])
        return self.by_name.get(fold(row.values.get("name", "")))

    def build(self, row: RowPlan, *, by: User) -> Organisation:
        values = dict(row.values)
        territory = values.pop("territory", None)
        organisation = Organisation(created_by=by, kind=Organisation.Kind.BUSINESS)
        assign(organisation, values)
        if territory:
            organisation.territory_id = territory
        return organisation

    def attach(self, instance: Organisation) -> None:
        self.territories.attach(instance)

    def save(self, instances: list[Organisation], *, created: bool) -> None:
        for organisation in instances:
            organisation.refresh_search_text()
        if created:
            Organisation.objects.bulk_create(instances, batch_size=BATCH_SIZE)
        else:
            fields = [t.name if t.name != "territory" else "territory_id" for t in self.targets]
            Organisation.objects.bulk_update(
                instances, [*fields, "search_text", "updated_at"], batch_size=BATCH_SIZE
            )


class ContactImport(ImportKind):
    key = "contacts"
    label = gettext_lazy("Contacts")
    model = Contact
    list_url = "crm:contact_list"

    def __init__(self, *, by: User) -> None:
        super().__init__(by=by)
        self.organisations = OrganisationNames(by=by)
        self.targets = [
            Target(
                "last_name",
                gettext_lazy("Nom"),
                text(100),
                ("nom", "last name", "surname", "nom de famille"),
                required=True,
            ),
            Target(
                "first_name",
                gettext_lazy("Prénom"),
                text(100),
                ("prenom", "first name", "given name"),
            ),
            Target(
                "email",
                gettext_lazy("E-mail"),
                self.email,
                ("e-mail", "email", "mail", "courriel"),
                required=True,
            ),
            Target(
                "phone",
                gettext_lazy("Téléphone"),
                text(30),
                ("telephone", "tel", "phone", "mobile", "portable"),
            ),
            Target(
                "role",
                gettext_lazy("Fonction"),
                text(150),
                ("fonction", "poste", "role", "job title", "title"),
            ),
            Target(
                "organisation",
                self.organisations.label,
                self.organisations.parse,
                ("organisation", "structure", "societe", "entreprise", "company", "siret"),
                required=True,
            ),
            Target(
                "legal_basis",
                gettext_lazy("Base légale"),
                choice(Contact.LegalBasis.choices),
                ("base legale", "legal basis"),
            ),
            Target(
                "consent_given_at",
                gettext_lazy("Consentement le"),
                self.consent_date,
                ("consentement le", "date du consentement", "consent date", "consent given"),
            ),
            Target(
                "notes",
                gettext_lazy("Notes"),
                text(10_000),
                ("notes", "remarques", "commentaire", "comments"),
            ),
        ]
        self.by_email: dict[str, Contact] = {}

    @staticmethod
    def email(value: Any) -> str:
        from django.core.validators import validate_email

        address = str(value).strip().lower()
        try:
            validate_email(address)
        except ValidationError:
            raise CellError(_("Adresse e-mail invalide.")) from None
        return address

    @staticmethod
    def consent_date(value: Any) -> datetime.datetime:
        day = date_value(value)
        return timezone.make_aware(datetime.datetime.combine(day, datetime.time(12)))

    def prepare(self, rows: list[RowPlan]) -> None:
        self.organisations.load(rows)
        emails = {row.values["email"] for row in rows if row.values.get("email")}
        for contact in Contact.objects.filter(email__in=emails).select_related("organisation"):
            self.by_email.setdefault(contact.email.lower(), contact)
            self.organisations.objects.setdefault(contact.organisation_id, contact.organisation)

    def resolve(self, row: RowPlan) -> None:
        self.organisations.resolve(row, row.column(self, "organisation"))

    def attach(self, instance: Contact) -> None:
        self.organisations.attach(instance)

    def key_of(self, row: RowPlan) -> tuple[str, str] | None:
        return (_("e-mail"), row.values["email"]) if row.values.get("email") else None

    def check(self, row: RowPlan, instance: Contact) -> None:
        if instance.legal_basis == Contact.LegalBasis.CONSENT and instance.consent_given_at is None:
            row.errors.append(
                (
                    row.column(self, "consent_given_at"),
                    _(
                        "Indiquez la date du consentement lorsque la base légale est le "
                        "consentement."
                    ),
                )
            )

    def match(self, row: RowPlan) -> Contact | None:
        return self.by_email.get(row.values.get("email", ""))

    def build(self, row: RowPlan, *, by: User) -> Contact:
        contact = Contact(created_by=by)
        assign(contact, row.values)
        return contact

    def save(self, instances: list[Contact], *, created: bool) -> None:
        for contact in instances:
            contact.refresh_search_text()
        if created:
            Contact.objects.bulk_create(instances, batch_size=BATCH_SIZE)
        else:
            fields = [t.name for t in self.targets if t.name != "organisation"]
            Contact.objects.bulk_update(
                instances,
                [*fields, "organisation_id", "search_text", "updated_at"],
                batch_size=BATCH_SIZE,
            )


# Dotted paths, imported when used; the apps built on crm add theirs in `AppConfig.ready()`
# (leads: prospects).
KINDS: dict[str, str] = {
    "organisations": "crm.imports.kinds.OrganisationImport",
    "contacts": "crm.imports.kinds.ContactImport",
}


def kind_class(key: str) -> type[ImportKind]:
    kind: type[ImportKind] = import_string(KINDS[key])
    return kind


def get_kind(key: str, *, by: User) -> ImportKind:
    return kind_class(key)(by=by)


def kinds_for(user: User) -> list[tuple[str, Any]]:
    """(key, label) of what `user` may import."""
    return [(key, cls.label) for key in KINDS if (cls := kind_class(key)).allowed(user)]
