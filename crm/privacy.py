"""Privacy (CNIL, DESIGN §6): what Carreau stores about one person, for their right of access.

`personal_data(contact)` gathers it once, as plain values; the JSON and the workbook are two
renderings of the same dictionary, so they can never disagree.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import FileResponse, HttpResponse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.audit import as_text
from crm.exports import Column, Sheet, workbook_response
from crm.models import AuditEntry, Contact

CONTACT_FIELDS = (
    "first_name",
    "last_name",
    "role",
    "email",
    "phone",
    "legal_basis",
    "consent_given_at",
    "objected_at",
    "notes",
    "last_interaction_at",
    "anonymised_at",
    "created_at",
    "updated_at",
)


def personal_data(contact: Contact) -> dict[str, Any]:
    """Everything stored about the person: their fields, their organisation, the exchanges
    recorded with them, the leads and projects that name them and the history of their record.
    A fixed number of queries."""
    fields = {}
    for name in CONTACT_FIELDS:
        field = Contact._meta.get_field(name)
        value = (
            getattr(contact, f"get_{name}_display")() if field.choices else getattr(contact, name)
        )
        fields[name] = {"label": str(field.verbose_name), "value": as_text(value)}
    fields["organisation"] = {
        "label": str(Contact._meta.get_field("organisation").verbose_name),
        "value": contact.organisation.name,
    }
    interactions = [
        {
            "date": as_text(interaction.occurred_at),
            "kind": interaction.get_kind_display(),
            "organisation": interaction.organisation.name,
            "author": str(interaction.author),
            "summary": interaction.summary,
            "project": interaction.project.reference if interaction.project else "",
            "lead": interaction.lead.title if interaction.lead else "",
        }
        for interaction in contact.interactions.select_related(
            "organisation", "author", "project", "lead"
        ).order_by("-occurred_at", "-pk")
    ]
    leads = [
        {
            "title": lead.title,
            "organisation": lead.organisation.name,
            "stage": lead.get_stage_display(),
            "owner": str(lead.owner),
        }
        for lead in contact.leads.select_related("organisation", "owner").order_by("pk")
    ]
    projects = [
        {
            "reference": project.reference,
            "title": project.title,
            "step": project.get_state_display(),
        }
        for project in contact.projects.order_by("pk")
    ]
    history = [
        {
            "date": as_text(entry.at),
            "action": entry.get_action_display(),
            "field": entry.field_label,
            "old_value": entry.old_value,
            "new_value": entry.new_value,
            "by": str(entry.by) if entry.by else "",
        }
        for entry in AuditEntry.objects.for_record(contact)
    ]
    return {
        "contact": fields,
        "interactions": interactions,
        "leads": leads,
        "projects": projects,
        "history": history,
        "exported_at": as_text(timezone.now()),
    }


def _filename(contact: Contact, extension: str) -> str:
    return f"donnees-contact-{contact.pk}-{timezone.localdate().isoformat()}.{extension}"


def json_response(contact: Contact, data: dict[str, Any]) -> HttpResponse:
    response = HttpResponse(
        json.dumps(data, ensure_ascii=False, indent=2),
        content_type="application/json; charset=utf-8",
    )
    response["Content-Disposition"] = content_disposition_header(True, _filename(contact, "json"))
    return response


def _rows_sheet(title: Any, rows: list[dict[str, Any]], columns: list[tuple[str, Any]]) -> Sheet:
    return Sheet(
        str(title),
        rows,
        [Column(label, lambda row, key=key: row[key]) for key, label in columns],
    )


def xlsx_response(contact: Contact, data: dict[str, Any]) -> FileResponse:
    """The same data as the JSON, one sheet per kind (the shared, formula-safe writer)."""
    sheets = [
        Sheet(
            gettext("Contact"),
            list(data["contact"].values()),
            [
                Column(_("Champ"), lambda row: row["label"], width=30),
                Column(_("Valeur"), lambda row: row["value"], width=60),
            ],
        ),
        _rows_sheet(
            _("Interactions"),
            data["interactions"],
            [
                ("date", _("Date")),
                ("kind", _("Type")),
                ("organisation", _("Organisation")),
                ("author", _("Auteur")),
                ("summary", _("Résumé")),
                ("project", _("Projet")),
                ("lead", _("Piste")),
            ],
        ),
        _rows_sheet(
            _("Pistes"),
            data["leads"],
            [
                ("title", _("Intitulé")),
                ("organisation", _("Organisation")),
                ("stage", _("Étape")),
                ("owner", _("Chargé·e")),
            ],
        ),
        _rows_sheet(
            _("Projets"),
            data["projects"],
            [("reference", _("Référence")), ("title", _("Intitulé")), ("step", _("Étape"))],
        ),
        _rows_sheet(
            _("Journal"),
            data["history"],
            [
                ("date", _("Date")),
                ("action", _("Action")),
                ("field", _("Champ")),
                ("old_value", _("Ancienne valeur")),
                ("new_value", _("Nouvelle valeur")),
                ("by", _("Par")),
            ],
        ),
    ]
    return workbook_response(sheets, filename=_filename(contact, "xlsx").removesuffix(".xlsx"))
