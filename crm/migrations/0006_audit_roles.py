"""Staff read the audit trail (issue 6). Nobody adds, changes or deletes its entries: the
admin refuses those whatever the permissions, and only `crm.audit` writes them."""

from django.db import migrations


def grant(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    crm = apps.get_app_config("crm")
    crm.models_module = True
    create_permissions(crm, apps=apps, verbosity=0)
    crm.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    Group.objects.get(name="staff").permissions.add(
        *Permission.objects.filter(content_type__app_label="crm", codename="view_auditentry")
    )


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    for group in apps.get_model("auth", "Group").objects.filter(name="staff"):
        group.permissions.remove(
            *Permission.objects.filter(content_type__app_label="crm", codename="view_auditentry")
        )


class Migration(migrations.Migration):
    dependencies = [("crm", "0005_audit_privacy")]

    operations = [migrations.RunPython(grant, revoke)]
