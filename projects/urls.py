from __future__ import annotations

from django.urls import path

from projects import views

app_name = "projects"

urlpatterns = [
    path("", views.project_list, name="project_list"),
    path("export.xlsx", views.project_export, name="project_export"),
    path("board/", views.project_board, name="project_board"),
    path("new/", views.project_create, name="project_create"),
    path("<int:pk>/", views.project_detail, name="project_detail"),
    path("<int:pk>/edit/", views.project_edit, name="project_edit"),
    path("<int:pk>/transition/", views.project_transition, name="project_transition"),
    path("<int:pk>/moves/", views.board_card_moves, name="board_card_moves"),
    path(
        "<int:pk>/interactions/new/",
        views.project_log_interaction,
        name="project_log_interaction",
    ),
    path("<int:pk>/deliverables/new/", views.deliverable_upload, name="deliverable_upload"),
    path("<int:pk>/versions/<int:version_pk>/", views.version_file, name="version_file"),
    path(
        "<int:pk>/versions/<int:version_pk>/thumbnail/",
        views.version_thumbnail,
        name="version_thumbnail",
    ),
    path(
        "<int:pk>/versions/<int:version_pk>/thumbnail/slot/",
        views.version_thumbnail_slot,
        name="version_thumbnail_slot",
    ),
    path("<int:pk>/versions/<int:version_pk>/review/", views.version_review, name="version_review"),
    path("<int:pk>/sheet.pdf", views.project_sheet, name="project_sheet"),
    path("<int:pk>/specification/", views.specification_edit, name="specification_edit"),
    path(
        "<int:pk>/specification/preview.pdf",
        views.specification_preview,
        name="specification_preview",
    ),
    path("<int:pk>/specification/issue/", views.specification_issue, name="specification_issue"),
    path(
        "<int:pk>/specification/v<int:number>.pdf",
        views.specification_version_file,
        name="specification_version_file",
    ),
    path(
        "<int:pk>/specification/v<int:number>/answer/",
        views.specification_answer,
        name="specification_answer",
    ),
]
