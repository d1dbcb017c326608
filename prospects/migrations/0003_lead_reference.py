"""Leads get a reference (PI-2026-0007) that re-imported spreadsheets match on.

Existing leads are numbered per year of creation, oldest first, before the column becomes
unique and required.
"""

from django.db import migrations, models


def number_existing_leads(apps, schema_editor):
    Lead = apps.get_model("prospects", "Lead")
    counters: dict[int, int] = {}
    batch = []
    for lead in Lead.objects.order_by("created_at", "pk").only("pk", "created_at").iterator():
        year = lead.created_at.year
        counters[year] = counters.get(year, 0) + 1
        lead.reference = f"PI-{year}-{counters[year]:04d}"
        batch.append(lead)
        if len(batch) == 2000:
            Lead.objects.bulk_update(batch, ["reference"])
            batch = []
    Lead.objects.bulk_update(batch, ["reference"])


class Migration(migrations.Migration):
    dependencies = [
        ("prospects", "0002_roles"),
    ]

    operations = [
        migrations.AddField(
            model_name="lead",
            name="reference",
            field=models.CharField(
                editable=False, max_length=20, null=True, verbose_name="référence"
            ),
        ),
        migrations.RunPython(number_existing_leads, migrations.RunPython.noop, elidable=True),
        migrations.AlterField(
            model_name="lead",
            name="reference",
            field=models.CharField(
                editable=False, max_length=20, unique=True, verbose_name="référence"
            ),
        ),
    ]
