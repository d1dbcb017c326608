"""The Django admin opens every model's list and change pages, transitions included."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from crm.models import User
from tests.factories import ContactFactory, InteractionFactory, ProjectFactory, approved_deliverable

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_with_data(staff: User) -> Client:
    project = ProjectFactory(state="listen")
    ContactFactory(organisation=project.holder)
    InteractionFactory(organisation=project.holder)
    approved_deliverable(project, "trend_board")
    client = Client()
    client.force_login(staff)
    return client


@pytest.mark.parametrize(
    "model", list(admin.site._registry), ids=lambda m: f"{m._meta.app_label}.{m._meta.model_name}"
)
def test_every_admin_page_opens_for_staff(admin_client_with_data: Client, model) -> None:
    opts = model._meta
    changelist = admin_client_with_data.get(
        reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    )
    assert changelist.status_code == 200
    instance = model._default_manager.first()
    if instance is not None:
        change = admin_client_with_data.get(
            reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[instance.pk])
        )
        assert change.status_code == 200


def test_project_admin_offers_the_transitions(admin_client_with_data: Client) -> None:
    from projects.models import Project

    project = Project.objects.get()
    html = admin_client_with_data.get(
        reverse("admin:projects_project_change", args=[project.pk])
    ).content.decode()

    assert "Passer à l&#x27;étape suivante" in html or "advance" in html


def test_admin_transition_buttons_go_through_the_logged_action(staff: User) -> None:
    from django.contrib.messages.storage.fallback import FallbackStorage
    from django.test import RequestFactory

    from projects.models import Project, ProjectTransition

    project = ProjectFactory(state="listen")
    request = RequestFactory().post("/admin/")
    request.user = staff
    request.session = {}
    request._messages = FallbackStorage(request)
    project_admin = admin.site._registry[Project]

    moved = project_admin._apply_fsm_transition(
        obj=project, transition_name="advance", request=request
    )
    refused = project_admin._apply_fsm_transition(
        obj=project, transition_name="deliver", request=request
    )

    project.refresh_from_db()
    assert (moved, refused) == (True, False)
    assert project.state == "impulse"
    log = ProjectTransition.objects.get()
    assert (log.source, log.target, log.by) == ("listen", "impulse", staff)


def test_admin_review_buttons_record_the_reviewer(staff: User) -> None:
    from django.contrib.messages.storage.fallback import FallbackStorage
    from django.test import RequestFactory

    from projects.models import DeliverableVersion

    version = approved_deliverable(ProjectFactory(), "trend_board").versions.get()
    DeliverableVersion.objects.filter(pk=version.pk).update(review_state="submitted")
    version.refresh_from_db()
    request = RequestFactory().post("/admin/")
    request.user = staff
    request.session = {}
    request._messages = FallbackStorage(request)

    admin.site._registry[DeliverableVersion]._apply_fsm_transition(
        obj=version, transition_name="approve", request=request
    )

    version.refresh_from_db()
    assert (version.review_state, version.reviewed_by) == ("approved", staff)
