"""Trigram indexes for the organisation and contact searches on PostgreSQL (see crm/search.py)."""

from django.db import migrations

from crm.search import trigram_index


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0007_import_mapping"),
    ]

    operations = [
        trigram_index("crm_organisation", "crm_organisation_search_trgm"),
        trigram_index("crm_contact", "crm_contact_search_trgm"),
    ]
