"""Trigram indexes for the lead and site searches on PostgreSQL (see crm/search.py)."""

from django.db import migrations

from crm.search import trigram_index


class Migration(migrations.Migration):
    dependencies = [
        ("prospects", "0003_lead_reference"),
    ]

    operations = [
        trigram_index("prospects_lead", "prospects_lead_search_trgm"),
        trigram_index("prospects_site", "prospects_site_search_trgm"),
    ]
