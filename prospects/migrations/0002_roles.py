"""Give the role groups their permissions on prospects (DESIGN §1).

Staff and officers read and write leads, sites and promotion events; designers and holders get
nothing of prospects. Row scoping (confidential leads) is in LeadQuerySet.visible_to;
transitions check their own permission rules in prospects.models.
"""

from django.db import migrations

WORK = ("add", "change", "view")
MODELS = ("lead", "site", "promotionevent", "sitephoto")

ROLE_PERMISSIONS = {
    "staff": [
        *(f"{action}_{model}" for model in MODELS for action in WORK),
        "view_leadtransition",
        "delete_sitephoto",
    ],
    "officer": [
        *(f"{action}_{model}" for model in MODELS for action in WORK),
        "view_leadtransition",
    ],
    "designer": [],
    "holder": [],
}


def grant(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    prospects = apps.get_app_config("prospects")
    prospects.models_module = True
    create_permissions(prospects, apps=apps, verbosity=0)
    prospects.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in ROLE_PERMISSIONS.items():
        group = Group.objects.get(name=role)
        group.permissions.add(
            *Permission.objects.filter(content_type__app_label="prospects", codename__in=codenames)
        )


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    for group in apps.get_model("auth", "Group").objects.filter(name__in=ROLE_PERMISSIONS):
        group.permissions.remove(*Permission.objects.filter(content_type__app_label="prospects"))


class Migration(migrations.Migration):
    dependencies = [
        ("prospects", "0001_initial"),
        ("crm", "0002_roles"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
