"""Excel import of leads (DESIGN §5), on the framework of `crm.imports.kinds`.

Officers and staff import the lead lists they keep today. A row with a reference
(PI-2026-0007, as the lead list export writes it) updates that lead, which the person must be
allowed to work on; a row without one matches a lead of the same investor with the same title,
else creates a lead at the first stage, owned by the person importing unless the row names
another owner. The stage is never imported: moving a lead is a logged transition, done on the
board. Contacts, target sites and sharing are set on the lead's page, not by the import.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.imports.cells import (
    CellError,
    boolean,
    choice,
    date_value,
    decimal_value,
    integer,
    text,
)
from crm.imports.kinds import (
    BATCH_SIZE,
    ImportKind,
    OrganisationNames,
    RowPlan,
    Target,
    TerritoryNames,
    assign,
)
from crm.models import Role, User, fold
from crm.references import last_number, year_prefix
from prospects.models import (
    LEAD_REFERENCE_PREFIX,
    MAX_INVESTMENT,
    MAX_JOBS,
    Lead,
    PromotionEvent,
    sees_prospects,
)

# Columns naming another record, stored as `<name>_id`.
RELATIONS = {"organisation", "territory", "owner", "promotion_event"}


class LeadImport(ImportKind):
    key = "leads"
    label = gettext_lazy("Pistes")
    model = Lead
    list_url = "prospects:lead_list"

    @staticmethod
    def allowed(user: User) -> bool:
        """Officers import their leads; staff import anyone's."""
        return sees_prospects(user) and user.has_perm("prospects.add_lead")

    def __init__(self, *, by: User) -> None:
        super().__init__(by=by)
        self.organisations = OrganisationNames(
            by=by, label=gettext_lazy("Investisseur ou opérateur (SIRET ou nom)")
        )
        self.territories = TerritoryNames()
        self.events = {fold(event.name): event for event in PromotionEvent.objects.all()}
        self.event_objects = {event.pk: event for event in self.events.values()}
        # Who may own a lead: officers and the mission team, by username or e-mail.
        people = User.objects.filter(
            Q(groups__name=Role.OFFICER) | Q(groups__name=Role.STAFF) | Q(is_superuser=True),
            is_active=True,
        ).distinct()
        self.owner_objects = {person.pk: person for person in people}
        self.owners = {fold(person.username): person.pk for person in people} | {
            fold(person.email): person.pk for person in people if person.email
        }
        self.owner_objects.setdefault(by.pk, by)
        self.by_reference: dict[str, Lead] = {}
        self.by_title: dict[tuple[int, str], Lead] = {}
        self.workable: set[int] = set()
        self.targets = [
            Target(
                "reference",
                gettext_lazy("Référence"),
                self.reference,
                ("reference", "ref", "n° de piste", "numero de piste", "lead reference"),
            ),
            Target(
                "title",
                gettext_lazy("Intitulé"),
                text(200),
                ("intitule", "titre", "piste", "title", "lead", "projet"),
                required=True,
            ),
            Target(
                "organisation",
                self.organisations.label,
                self.organisations.parse,
                (
                    "investisseur ou operateur",
                    "investisseur",
                    "operateur",
                    "organisation",
                    "societe",
                    "company",
                    "investor",
                ),
                required=True,
            ),
            Target(
                "sector",
                gettext_lazy("Secteur"),
                choice(Lead.Sector.choices),
                ("secteur", "sector", "activite"),
                required=True,
            ),
            Target(
                "territory",
                gettext_lazy("Territoire"),
                self.territories.parse,
                ("territoire", "territory", "zone"),
                required=True,
            ),
            Target(
                "source",
                gettext_lazy("Source"),
                choice(Lead.Source.choices),
                ("source", "origine de la piste", "lead source"),
                required=True,
            ),
            Target(
                "promotion_event",
                gettext_lazy("Événement de promotion"),
                self.event,
                ("evenement", "salon", "evenement de promotion", "event", "trade fair"),
            ),
            Target(
                "origin_market",
                gettext_lazy("Marché d'origine"),
                choice(Lead.Market.choices),
                ("marche", "marche d'origine", "pays", "country", "market", "origin market"),
                required=True,
            ),
            Target(
                "estimated_investment",
                gettext_lazy("Investissement estimé (€)"),
                decimal_value(int(MAX_INVESTMENT)),
                ("investissement", "montant", "investment", "amount", "investissement estime"),
            ),
            Target(
                "estimated_jobs",
                gettext_lazy("Emplois estimés"),
                integer(MAX_JOBS),
                ("emplois", "jobs", "emplois estimes", "etp"),
            ),
            Target(
                "probability",
                gettext_lazy("Probabilité (%)"),
                integer(100),
                ("probabilite", "probability", "probabilite (%)", "%"),
            ),
            Target(
                "next_action",
                gettext_lazy("Prochaine action"),
                text(200),
                ("prochaine action", "next action", "action"),
            ),
            Target(
                "next_action_due",
                gettext_lazy("Échéance"),
                date_value,
                ("echeance", "date", "due", "due date", "echeance de la prochaine action"),
            ),
            Target(
                "confidential",
                gettext_lazy("Confidentielle"),
                boolean,
                ("confidentielle", "confidentiel", "confidential"),
            ),
            Target(
                "owner",
                gettext_lazy("Chargé·e de la piste (identifiant ou e-mail)"),
                self.owner,
                (
                    "identifiant du ou de la charge·e",
                    "charge·e de la piste",
                    "responsable",
                    "owner",
                    "suivi par",
                ),
            ),
            Target(
                "notes",
                gettext_lazy("Notes"),
                text(10_000),
                ("notes", "remarques", "commentaire", "comments"),
            ),
        ]

    # Cells --------------------------------------------------------------------------------

    @staticmethod
    def reference(value: Any) -> str:
        reference = str(value).strip().upper()
        if not reference.startswith(f"{LEAD_REFERENCE_PREFIX}-") or len(reference) > 20:
            raise CellError(_("Référence de piste attendue, comme PI-2026-0007."))
        return reference

    def event(self, value: Any) -> int:
        found = self.events.get(fold(str(value)))
        if found is None:
            raise CellError(_("Événement inconnu : « %(name)s ».") % {"name": value})
        return found.pk

    def owner(self, value: Any) -> int:
        found = self.owners.get(fold(str(value)))
        if found is None:
            raise CellError(
                _("Personne inconnue parmi les chargé·es de mission : « %(name)s ».")
                % {"name": value}
            )
        return found

    # Matching ------------------------------------------------------------------------------

    def prepare(self, rows: list[RowPlan]) -> None:
        self.organisations.load(rows)
        references = {row.values["reference"] for row in rows if row.values.get("reference")}
        titles = {row.values["title"] for row in rows if row.values.get("title")}
        organisations = {
            found.pk
            for row in rows
            if (name := row.values.get("organisation")) and (found := self.organisations.find(name))
        }
        visible = Lead.objects.visible_to(self.by)
        for lead in visible.filter(reference__in=references):
            self.by_reference[lead.reference] = lead
        # Rows without a reference match a lead of the same investor with the same title.
        for lead in visible.filter(organisation__in=organisations, title__in=titles):
            self.by_title.setdefault((lead.organisation_id, fold(lead.title)), lead)
        # (`found`, above, is the comprehension's: its walrus binds in this scope.)
        matched = [lead.pk for lead in [*self.by_reference.values(), *self.by_title.values()]]
        if self.by.is_mission_staff:
            self.workable.update(matched)
        else:
            self.workable.update(
                Lead.objects.filter(pk__in=matched)
                .filter(Q(owner=self.by) | Q(shared_with=self.by))
                .values_list("pk", flat=True)
            )

    def resolve(self, row: RowPlan) -> None:
        self.organisations.resolve(row, row.column(self, "organisation"))
        reference = row.values.get("reference")
        if reference and reference not in self.by_reference:
            row.errors.append(
                (
                    row.column(self, "reference"),
                    _("Aucune piste « %(reference)s » parmi celles que vous voyez.")
                    % {"reference": reference},
                )
            )

    def refuse_change(self, existing: Lead) -> str | None:
        if existing.pk in self.workable:
            return None
        return _(
            "La piste %(reference)s n'est ni à vous ni partagée avec vous : seul·e sa ou son "
            "chargé·e, ou l'équipe de la mission, la modifie."
        ) % {"reference": existing.reference}

    def key_of(self, row: RowPlan) -> tuple[str, str] | None:
        if row.values.get("reference"):
            return (str(self.target("reference").label), row.values["reference"])
        if row.values.get("title") and row.values.get("organisation_id"):
            return (
                _("intitulé et investisseur"),
                f"{row.values['organisation_id']}:{fold(row.values['title'])}",
            )
        return None

    def match(self, row: RowPlan) -> Lead | None:
        if row.values.get("reference"):
            return self.by_reference.get(row.values["reference"])
        organisation_id = row.values.get("organisation_id")
        if organisation_id is None:  # no investor: no lead matches by title
            return None
        return self.by_title.get((organisation_id, fold(row.values.get("title", ""))))

    def build(self, row: RowPlan, *, by: User) -> Lead:
        values = {name: value for name, value in row.values.items() if name != "reference"}
        lead = Lead(created_by=by, owner_id=by.pk, version=1, last_activity_at=timezone.now())
        assign(lead, self.model_values(values))
        return lead

    def model_values(self, values: dict[str, Any]) -> dict[str, Any]:
        return {
            (f"{name}_id" if name in RELATIONS else name): value for name, value in values.items()
        }

    def attach(self, instance: Lead) -> None:
        self.organisations.attach(instance)
        self.territories.attach(instance)
        if instance.owner_id in self.owner_objects:
            instance.owner = self.owner_objects[instance.owner_id]
        if instance.promotion_event_id:
            instance.promotion_event = self.event_objects[instance.promotion_event_id]

    # Writing -------------------------------------------------------------------------------

    def save(self, instances: list[Lead], *, created: bool) -> None:
        for lead in instances:
            lead.search_text = fold(f"{lead.title} {lead.organisation.name}")
        if created:
            # Consecutive references after the year's last; the unique constraint refuses
            # the whole import (nothing written) if someone took one meanwhile.
            start = year_prefix(LEAD_REFERENCE_PREFIX)
            number = last_number(Lead, start)
            for lead in instances:
                number += 1
                lead.reference = f"{start}{number:04d}"
            Lead.objects.bulk_create(instances, batch_size=BATCH_SIZE)
        else:
            for lead in instances:
                lead.version += 1
            fields = [
                f"{t.name}_id" if t.name in RELATIONS else t.name
                for t in self.targets
                if t.name != "reference"
            ]
            Lead.objects.bulk_update(
                instances,
                [*fields, "search_text", "version", "updated_at"],
                batch_size=BATCH_SIZE,
            )
