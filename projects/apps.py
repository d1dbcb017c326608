from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProjectsConfig(AppConfig):
    name = "projects"
    verbose_name = _("Projets design")

    def ready(self) -> None:
        from projects.relations import register_sections

        register_sections()
