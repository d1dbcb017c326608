"""Excel exports of the prospecting lists (the shared writer lives in crm.exports)."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from django.http import FileResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.exports import Column, ListExport, choice_label, xlsx_response
from prospects.models import Lead, PromotionEvent, Site

# Headers the lead import recognises, so an exported list, edited and imported again, updates
# the same leads (matched on the reference) and changes nothing it was not asked to.
LEAD_COLUMNS = [
    Column(_("Référence"), lambda lead: lead.reference, width=14),
    Column(_("Intitulé"), lambda lead: lead.title, width=36),
    Column(_("Investisseur ou opérateur"), lambda lead: lead.organisation.name, width=32),
    Column(_("Étape"), choice_label("stage"), width=16),
    Column(_("Secteur"), choice_label("sector"), width=22),
    Column(_("Territoire"), lambda lead: lead.territory.name, width=20),
    Column(_("Sites visés"), lambda lead: ", ".join(s.name for s in lead.target_sites.all())),
    Column(_("Investissement estimé"), lambda lead: lead.estimated_investment, kind="money"),
    Column(_("Emplois estimés"), lambda lead: lead.estimated_jobs, kind="int"),
    # The stage's usual probability when none is set: not a value to import back.
    Column(_("Probabilité retenue (%)"), lambda lead: lead.effective_probability, kind="int"),
    Column(_("Valeur pondérée"), lambda lead: lead.weighted_value, kind="money"),
    Column(_("Source"), choice_label("source"), width=22),
    Column(
        _("Événement"),
        lambda lead: lead.promotion_event.name if lead.promotion_event else None,
        width=24,
    ),
    Column(_("Marché d'origine"), choice_label("origin_market"), width=16),
    Column(_("Chargé·e"), lambda lead: str(lead.owner), width=22),
    Column(_("Identifiant du ou de la chargé·e"), lambda lead: lead.owner.username, width=16),
    Column(_("Confidentielle"), lambda lead: lead.confidential, kind="bool"),
    Column(_("Prochaine action"), lambda lead: lead.next_action),
    Column(_("Échéance"), lambda lead: lead.next_action_due, kind="date"),
    Column(_("Raison de la perte"), lambda lead: lead.lost_reason),
    Column(_("Créée le"), lambda lead: lead.created_at, kind="datetime"),
]

SITE_COLUMNS = [
    Column(_("Nom"), lambda site: site.name, width=36),
    Column(_("Type"), choice_label("kind"), width=22),
    Column(_("Commune"), lambda site: site.commune, width=22),
    Column(_("Territoire"), lambda site: site.territory.name, width=20),
    Column(_("Surface (m²)"), lambda site: site.surface_m2, kind="int", width=14),
    Column(_("Propriétaire"), lambda site: site.owner, width=30),
    Column(_("Disponibilité"), choice_label("availability"), width=16),
    Column(_("Disponible à partir du"), lambda site: site.available_from, kind="date"),
]

EVENT_COLUMNS = [
    Column(_("Nom"), lambda event: event.name, width=36),
    Column(_("Type"), choice_label("kind"), width=22),
    Column(_("Début"), lambda event: event.starts_on, kind="date"),
    Column(_("Fin"), lambda event: event.ends_on, kind="date"),
    Column(_("Ville"), lambda event: event.city, width=18),
    Column(_("Pistes"), lambda event: event.lead_count, kind="int"),
    Column(_("Gagnées"), lambda event: event.won_count, kind="int"),
    Column(_("Investissement gagné"), lambda event: event.won_investment, kind="money"),
    Column(_("Emplois gagnés"), lambda event: event.won_jobs, kind="int"),
]


def events_xlsx(queryset: QuerySet[PromotionEvent]) -> FileResponse:
    """Events with the figures of the leads the user may see (annotated by the view)."""
    return xlsx_response(
        queryset.iterator(chunk_size=2000),
        EVENT_COLUMNS,
        filename="evenements",
        sheet_title=gettext("Événements"),
    )


def lead_list_export() -> ListExport:
    from prospects.filters import LeadFilter

    return ListExport(
        filterset=LeadFilter,
        queryset=Lead.objects.for_export,
        perm="prospects.view_lead",
        columns=lambda: LEAD_COLUMNS,
        filename="pistes",
        sheet_title=_("Pistes"),
        label=_("Export des pistes"),
        for_writing=lambda rows: rows.prefetch_related(
            Prefetch("target_sites", queryset=Site.objects.only("pk", "name"))
        ),
    )


def site_list_export() -> ListExport:
    from prospects.filters import SiteFilter

    return ListExport(
        filterset=SiteFilter,
        queryset=Site.objects.for_list,
        perm="prospects.view_site",
        columns=lambda: SITE_COLUMNS,
        filename="sites",
        sheet_title=_("Sites"),
        label=_("Export des sites"),
    )
