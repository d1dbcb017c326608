"""The kinds of deliverable a specification expects per phase, and who may read and tick them
(as for the specification's milestones: staff and the team's designers write, officers read).
Specifications that exist already expect nothing until someone ticks: their issued versions
stay as they were, and the draft does not seem changed."""

import django.db.models.deletion
from django.db import migrations, models


# Who may read and tick the expected kinds: as for the specification's milestones.
CRUD = ("add", "change", "delete", "view")
ROLE_PERMISSIONS = {
    "staff": [f"{action}_expecteddeliverable" for action in CRUD],
    "designer": [f"{action}_expecteddeliverable" for action in CRUD],
    "officer": ["view_expecteddeliverable"],
}


def grant(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    projects = apps.get_app_config("projects")
    projects.models_module = True
    create_permissions(projects, apps=apps, verbosity=0)
    projects.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in ROLE_PERMISSIONS.items():
        group = Group.objects.get(name=role)
        group.permissions.add(
            *Permission.objects.filter(content_type__app_label="projects", codename__in=codenames)
        )


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in ROLE_PERMISSIONS.items():
        group = Group.objects.get(name=role)
        group.permissions.remove(
            *Permission.objects.filter(content_type__app_label="projects", codename__in=codenames)
        )


class Migration(migrations.Migration):

    dependencies = [
        ('projects', '0008_project_updated_index'),
        ('crm', '0002_roles'),
    ]

    operations = [
        migrations.CreateModel(
            name='ExpectedDeliverable',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('phase', models.CharField(choices=[('watch', '1 · Veille'), ('concept', '2 · Conceptualisation'), ('implementation', '3 · Mise en œuvre')], max_length=20, verbose_name='phase')),
                ('kind', models.CharField(choices=[('trend_board', 'Planche de tendances'), ('watch_note', 'Note de veille'), ('idea_notebook', "Carnet d'idées"), ('concept_sketch', 'Esquisse de concept'), ('plan', 'Plan'), ('prototype_photo', 'Photo de prototype'), ('evaluation_report', "Rapport d'évaluation"), ('other', 'Autre')], max_length=30, verbose_name='type de livrable')),
                ('specification', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='expected_deliverables', to='projects.specification')),
            ],
            options={
                'verbose_name': 'livrable attendu',
                'verbose_name_plural': 'livrables attendus',
                'ordering': ['specification', 'phase', 'kind'],
                'constraints': [models.UniqueConstraint(fields=('specification', 'phase', 'kind'), name='projects_expected_unique'), models.CheckConstraint(condition=models.Q(('phase__in', ['watch', 'concept', 'implementation'])), name='projects_expected_phase_valid')],
            },
        ),
        migrations.RunPython(grant, revoke),
    ]
