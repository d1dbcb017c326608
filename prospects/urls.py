from __future__ import annotations

from django.urls import path

from prospects import views

app_name = "prospects"

urlpatterns = [
    path("", views.lead_list, name="lead_list"),
    path("export.xlsx", views.lead_export, name="lead_export"),
    path("board/", views.lead_board, name="lead_board"),
    path("new/", views.lead_create, name="lead_create"),
    path("my-day/", views.my_day, name="my_day"),
    path("report/", views.pipeline_report, name="pipeline_report"),
    path("<int:pk>/", views.lead_detail, name="lead_detail"),
    path("<int:pk>/edit/", views.lead_edit, name="lead_edit"),
    path("<int:pk>/transition/", views.lead_transition, name="lead_transition"),
    path("<int:pk>/moves/", views.board_card_moves, name="board_card_moves"),
    path("<int:pk>/interactions/new/", views.lead_log_interaction, name="lead_log_interaction"),
    path("sites/", views.site_list, name="site_list"),
    path("sites/export.xlsx", views.site_export, name="site_export"),
    path("sites/new/", views.site_create, name="site_create"),
    path("sites/<int:pk>/", views.site_detail, name="site_detail"),
    path("sites/<int:pk>/edit/", views.site_edit, name="site_edit"),
    path("sites/<int:pk>/sheet.pdf", views.site_sheet, name="site_sheet"),
    path("sites/<int:pk>/photos/new/", views.site_photo_upload, name="site_photo_upload"),
    path("sites/<int:pk>/photos/<int:photo_pk>/", views.site_photo, name="site_photo"),
    path(
        "sites/<int:pk>/photos/<int:photo_pk>/thumbnail/",
        views.site_photo_thumbnail,
        name="site_photo_thumbnail",
    ),
    path(
        "sites/<int:pk>/photos/<int:photo_pk>/thumbnail/slot/",
        views.site_photo_thumbnail_slot,
        name="site_photo_thumbnail_slot",
    ),
    path("events/", views.event_list, name="event_list"),
    path("events/export.xlsx", views.event_export, name="event_export"),
    path("events/new/", views.event_create, name="event_create"),
    path("events/<int:pk>/", views.event_detail, name="event_detail"),
    path("events/<int:pk>/edit/", views.event_edit, name="event_edit"),
    path("calendar/", views.calendar_settings, name="calendar_settings"),
    path("calendar/<int:user_id>/<str:token>.ics", views.calendar_feed, name="calendar_feed"),
]
