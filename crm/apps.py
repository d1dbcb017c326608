from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = _("CRM")

    def ready(self) -> None:
        # The base app fills its own registries as the apps built on it do theirs.
        from crm import imports, workqueue

        workqueue.register(imports.started_imports)
