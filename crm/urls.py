"""Root URLconf. The CRM's own pages live under the `crm` namespace."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from crm import views
from prospects import funders

crm_patterns = [
    path("", views.dashboard, name="dashboard"),
    path("organisations/", views.organisation_list, name="organisation_list"),
    path("organisations/export.xlsx", views.organisation_export, name="organisation_export"),
    path("organisations/new/", views.organisation_create, name="organisation_create"),
    path("organisations/<int:pk>/", views.organisation_detail, name="organisation_detail"),
    path("organisations/<int:pk>/edit/", views.organisation_edit, name="organisation_edit"),
    path("organisations/<int:pk>/logo/", views.organisation_logo, name="organisation_logo"),
    path(
        "organisations/<int:pk>/interactions/new/",
        views.organisation_log_interaction,
        name="organisation_log_interaction",
    ),
    path("reports/funders/", funders.funders_report, name="funders_report"),
    path("reports/funders/<int:year>.xlsx", funders.funders_workbook, name="funders_workbook"),
    path("imports/", views.import_start, name="import_start"),
    path("imports/<str:token>/columns/", views.import_map, name="import_map"),
    path("imports/<str:token>/preview/", views.import_preview, name="import_preview"),
    path("imports/<str:token>/apply/", views.import_apply, name="import_apply"),
    path("imports/<str:token>/discard/", views.import_discard, name="import_discard"),
    path("imports/<str:token>/errors.xlsx", views.import_errors, name="import_errors"),
    path(
        "imports/<str:token>/rows-to-fix.xlsx",
        views.import_rows_to_fix,
        name="import_rows_to_fix",
    ),
    path("contacts/", views.contact_list, name="contact_list"),
    path("contacts/export.xlsx", views.contact_export, name="contact_export"),
    path("contacts/new/", views.contact_create, name="contact_create"),
    path("contacts/options/", views.contact_options, name="contact_options"),
    path("contacts/<int:pk>/", views.contact_detail, name="contact_detail"),
    path("contacts/<int:pk>/edit/", views.contact_edit, name="contact_edit"),
    path(
        "contacts/<int:pk>/interactions/new/",
        views.contact_log_interaction,
        name="contact_log_interaction",
    ),
    path("contacts/<int:pk>/objection/", views.contact_objection, name="contact_objection"),
    path(
        "contacts/<int:pk>/personal-data.<str:file_format>",
        views.contact_personal_data,
        name="contact_personal_data",
    ),
    path("contacts/<int:pk>/anonymise/", views.contact_anonymise, name="contact_anonymise"),
    path("privacy/review/", views.privacy_review, name="privacy_review"),
    path("notifications/", views.notification_list, name="notification_list"),
    path("notifications/bell/", views.notification_bell, name="notification_bell"),
    path("notifications/read/", views.notification_read_all, name="notification_read_all"),
    path(
        "notifications/preferences/",
        views.notification_preferences,
        name="notification_preferences",
    ),
    path("notifications/<int:pk>/", views.notification_open, name="notification_open"),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("files/", views.job_list, name="job_list"),
    path("files/<str:pk>/", views.job_detail, name="job_detail"),
    path("files/<str:pk>/download/", views.job_download, name="job_download"),
    path("files/<str:pk>/retry/", views.job_retry, name="job_retry"),
]

urlpatterns = [
    path("", include((crm_patterns, "crm"))),
    path("projects/", include("projects.urls")),
    path("prospects/", include("prospects.urls")),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # The language switcher also works on the login page.
    path("i18n/setlang/", views.set_language, name="set_language"),
    path("healthz", views.healthz, name="healthz"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("admin/", admin.site.urls),
]
