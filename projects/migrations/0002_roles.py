"""Give the role groups their permissions on projects (DESIGN §1).

Row scoping (a designer sees only the projects of their team) is in ProjectQuerySet.visible_to;
transitions check their own permission rules in projects.models.
"""

from django.db import migrations

CRUD = ("add", "change", "delete", "view")
MODELS = ("project", "projectmember", "fundingline", "projecttransition", "deliverable",
          "deliverableversion")

ROLE_PERMISSIONS = {
    "staff": [f"{action}_{model}" for model in MODELS for action in CRUD],
    "designer": [
        "view_project", "view_projectmember", "view_fundingline", "view_projecttransition",
        "view_deliverable", "add_deliverable", "view_deliverableversion",
        "add_deliverableversion",
    ],
    "officer": ["view_project", "view_projectmember", "view_fundingline",
                "view_projecttransition", "view_deliverable", "view_deliverableversion"],
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
    Permission = apps.get_model("auth", "Permission")
    for group in apps.get_model("auth", "Group").objects.filter(name__in=ROLE_PERMISSIONS):
        group.permissions.remove(*Permission.objects.filter(content_type__app_label="projects"))


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0001_initial"),
        ("crm", "0002_roles"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
