"""The projects an organisation holds and a contact follows, on their CRM pages
(`crm.relations`: the CRM never imports this app)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode

from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from crm import relations
from crm.models import Contact, Organisation, User

if TYPE_CHECKING:
    from projects.models import Project


def _projects(user: User, **lookup: object) -> models.QuerySet[Project]:
    from projects.models import Project

    return (
        Project.objects.visible_to(user)
        .filter(**lookup)
        .only("pk", "reference", "title", "state", "target_date")
        .order_by("-created_at", "-pk")
    )


def _create(**params: object) -> str:
    return f"{reverse('projects:project_create')}?{urlencode(params)}"


def register_sections() -> None:
    relations.register(
        Organisation,
        relations.RelatedSection(
            key="projects",
            title=_("Projets portés"),
            perm="projects.view_project",
            rows=lambda user, organisation: _projects(user, holder=organisation),
            template="projects/includes/_related_project.html",
            empty=_(
                "Cette organisation ne porte aucun projet de design. Une demande se crée "
                "depuis ici, le porteur déjà choisi."
            ),
            add_label=_("Nouvelle demande"),
            add_perm="projects.add_project",
            add_url=lambda organisation: _create(holder=organisation.pk),
        ),
    )
    relations.register(
        Contact,
        relations.RelatedSection(
            key="projects",
            title=_("Projets suivis"),
            perm="projects.view_project",
            rows=lambda user, contact: _projects(user, holder_contact=contact),
            template="projects/includes/_related_project.html",
            empty=_("Cette personne n'est le contact d'aucun projet."),
            add_label=_("Nouvelle demande"),
            add_perm="projects.add_project",
            add_url=lambda contact: _create(holder_contact=contact.pk),
        ),
    )
