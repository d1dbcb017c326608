"""Permissions on the specification (DESIGN §1 and §3).

Staff do everything; the team's designers write the draft; officers read issued versions;
holders read their own project and its issued versions and answer them (the transition's own
rule checks that they are the project's holder account; rows are scoped by `visible_to`).
"""

from django.db import migrations

CRUD = ("add", "change", "delete", "view")
MODELS = ("specification", "milestone", "specificationversion")

ROLE_PERMISSIONS = {
    "staff": [f"{action}_{model}" for model in MODELS for action in CRUD],
    "designer": [
        "view_specification", "change_specification", "view_milestone", "add_milestone",
        "change_milestone", "delete_milestone", "view_specificationversion",
    ],
    "officer": ["view_specification", "view_milestone", "view_specificationversion"],
    "holder": ["view_project", "view_specificationversion", "change_specificationversion"],
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
        ("projects", "0003_specification"),
        ("crm", "0002_roles"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
