from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProspectsConfig(AppConfig):
    name = "prospects"
    verbose_name = _("Prospection")

    def ready(self) -> None:
        # crm is the base layer and never imports this app: what crm shows or runs of it is
        # registered here.
        from crm import demo, imports, jobs
        from crm.models import INTERACTIONS_HIDDEN
        from prospects.models import interactions_of_hidden_leads

        if interactions_of_hidden_leads not in INTERACTIONS_HIDDEN:
            INTERACTIONS_HIDDEN.append(interactions_of_hidden_leads)
        imports.KINDS["leads"] = "prospects.imports.LeadImport"
        jobs.JOB_KINDS["funders_workbook"] = "prospects.funders.FundersWorkbookJob"
        jobs.JOB_KINDS["site_sheet"] = "prospects.tasks.SiteSheetJob"
        if "prospects.tasks.recover_photo_thumbnails" not in jobs.THUMBNAIL_RECOVERY:
            jobs.THUMBNAIL_RECOVERY.append("prospects.tasks.recover_photo_thumbnails")
        jobs.LIST_EXPORTS["leads"] = "prospects.exports.lead_list_export"
        jobs.LIST_EXPORTS["sites"] = "prospects.exports.site_list_export"
        if "prospects.demo.seed" not in demo.SEEDERS:
            demo.SEEDERS.append("prospects.demo.seed")

        from prospects import notifications

        notifications.register()

        from prospects.relations import register_sections

        register_sections()
