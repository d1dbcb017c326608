"""A trigram index for the project search on PostgreSQL (see crm/search.py)."""

from django.db import migrations

from crm.search import trigram_index


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0004_specification_roles"),
    ]

    operations = [
        trigram_index("projects_project", "projects_project_search_trgm"),
    ]
