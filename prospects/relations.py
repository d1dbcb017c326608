"""The leads of an investor or operator and of its contacts, and the sites an organisation
owns, on their CRM pages (`crm.relations`: the CRM never imports this app)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode

from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from crm import relations
from crm.models import Contact, Organisation, User

if TYPE_CHECKING:
    from prospects.models import Lead, Site


def _leads(user: User, **lookup: object) -> models.QuerySet[Lead]:
    from prospects.models import Lead

    return (
        Lead.objects.visible_to(user)
        .filter(**lookup)
        .only("pk", "reference", "title", "stage", "confidential", "estimated_investment")
        .order_by("-last_activity_at", "-pk")
    )


def _sites(user: User, **lookup: object) -> models.QuerySet[Site]:
    from prospects.models import Site

    return (
        Site.objects.visible_to(user)
        .filter(**lookup)
        .only("pk", "name", "commune", "availability")
        .order_by("name", "pk")
    )


def _url(name: str, **params: object) -> str:
    return f"{reverse(name)}?{urlencode(params)}"


def register_sections() -> None:
    relations.register(
        Organisation,
        relations.RelatedSection(
            key="leads",
            title=_("Pistes"),
            perm="prospects.view_lead",
            rows=lambda user, organisation: _leads(user, organisation=organisation),
            template="prospects/includes/_related_lead.html",
            empty=_(
                "Aucune piste avec cette organisation comme investisseur ou opérateur. "
                "Une piste se crée depuis ici, l'organisation déjà choisie."
            ),
            add_label=_("Nouvelle piste"),
            add_perm="prospects.add_lead",
            add_url=lambda organisation: _url(
                "prospects:lead_create", organisation=organisation.pk
            ),
        ),
    )
    relations.register(
        Organisation,
        relations.RelatedSection(
            key="sites",
            title=_("Sites en propriété"),
            perm="prospects.view_site",
            rows=lambda user, organisation: _sites(user, owner_organisation=organisation),
            template="prospects/includes/_related_site.html",
            empty=_(
                "Aucun site rattaché à cette organisation. Sur la fiche d'un site, "
                "« Organisation propriétaire » l'y rattache."
            ),
            add_label=_("Nouveau site"),
            add_perm="prospects.add_site",
            add_url=lambda organisation: _url(
                "prospects:site_create", owner_organisation=organisation.pk
            ),
        ),
    )
    relations.register(
        Contact,
        relations.RelatedSection(
            key="leads",
            title=_("Pistes"),
            perm="prospects.view_lead",
            rows=lambda user, contact: _leads(user, contacts=contact),
            template="prospects/includes/_related_lead.html",
            empty=_("Cette personne n'est le contact d'aucune piste."),
            add_label=_("Nouvelle piste"),
            add_perm="prospects.add_lead",
            add_url=lambda contact: _url("prospects:lead_create", contact=contact.pk),
        ),
    )
