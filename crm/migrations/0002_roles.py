"""Create the four role groups of DESIGN §1 with their CRM permissions.

Later apps add their own permissions to these groups in their own migrations.
"""

from django.db import migrations

CRUD = ("add", "change", "delete", "view")

ROLE_PERMISSIONS = {
    "staff": [
        *(f"{action}_{model}" for model in ("organisation", "contact", "interaction",
                                            "territory", "thematic", "user") for action in CRUD),
    ],
    "officer": [
        "view_organisation", "add_organisation", "change_organisation",
        "view_contact", "add_contact", "change_contact",
        "view_interaction", "add_interaction",
        "view_territory", "view_thematic",
    ],
    "designer": [
        "view_organisation", "view_contact", "view_interaction", "add_interaction",
        "view_territory", "view_thematic",
    ],
    "holder": [],
}


def create_roles(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after all migrations; make sure ours exist now.
    crm = apps.get_app_config("crm")
    crm.models_module = True
    create_permissions(crm, apps=apps, verbosity=0)
    crm.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(
            *Permission.objects.filter(content_type__app_label="crm", codename__in=codenames)
        )
    # Staff manage accounts in the admin: they must see the groups to give a user a role.
    auth = apps.get_app_config("auth")
    auth.models_module = True
    create_permissions(auth, apps=apps, verbosity=0)
    auth.models_module = None
    Group.objects.get(name="staff").permissions.add(
        *Permission.objects.filter(content_type__app_label="auth", codename="view_group")
    )


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLE_PERMISSIONS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
