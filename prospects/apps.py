from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProspectsConfig(AppConfig):
    name = "prospects"
    verbose_name = _("Prospection")

    def ready(self) -> None:
        from prospects.relations import register_sections

        register_sections()
