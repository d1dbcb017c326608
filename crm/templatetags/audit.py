"""`{% audit_entries record as entries %}`: the record's latest audit entries for the page.

A tag rather than a context variable so that every detail page (organisation, contact,
project, lead) shows the same section with a one-line include, in one query; None for users
who may not read the audit trail (the section is then not shown).
"""

from __future__ import annotations

from typing import Any

from django import template
from django.db import models

from crm.audit import entries_for
from crm.models import AuditEntry

register = template.Library()


@register.simple_tag(takes_context=True)
def audit_entries(context: dict[str, Any], record: models.Model) -> list[AuditEntry] | None:
    request = context.get("request")
    if request is None or record is None or record.pk is None:
        return None
    return entries_for(record, request.user)
