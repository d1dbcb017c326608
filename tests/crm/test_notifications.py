"""Notifications, the bell, e-mail and its preferences (DESIGN §9), as people meet them."""

from __future__ import annotations

import io
from datetime import time, timedelta
from typing import Any

import pytest
from django.core import mail as django_mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.mail import EmailMultiAlternatives
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from crm import mail, notifications
from crm.actions import log_interaction
from crm.models import Event, Notification, NotificationPreference, OutboxMessage, Role, User
from projects import actions as project_actions
from projects.models import DeliverableVersion, Project, ProjectMember
from prospects import actions as lead_actions
from tests.factories import LeadFactory, ProjectFactory, UserFactory, issued_specification
from tests.helpers import client_for, count_queries


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), "navy").save(buffer, "JPEG")
    return buffer.getvalue()


def upload(client: Client, project: Project) -> None:
    response = client.post(
        reverse("projects:deliverable_upload", args=[project.pk]),
        {"kind": "trend_board", "title": "Planche", "file": SimpleUploadedFile("p.jpg", jpeg())},
    )
    assert response.status_code == 302


def bell(client: Client) -> str:
    response = client.get(reverse("crm:notification_bell"))
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def lead_member(db: None) -> User:
    return UserFactory(username="lead", role=Role.STAFF, first_name="Léa", last_name="Roussel")


@pytest.fixture
def project(designer: User, holder: User) -> Project:
    project = ProjectFactory(title="Hôtel dans les corons", state="listen", designers=[designer])
    ProjectMember.objects.create(project=project, user=holder, role=ProjectMember.Role.HOLDER)
    return project


# In the app ----------------------------------------------------------------------------------


def test_an_upload_tells_staff_not_the_uploader(
    staff: User, designer: User, holder: User, project: Project
) -> None:
    upload(client_for(designer), project)

    assert "bell__count" in bell(client_for(staff))
    assert ">1<" in bell(client_for(staff)).replace(" ", "")
    assert "bell__count" not in bell(client_for(designer))
    assert "bell__count" not in bell(client_for(holder))
    page = client_for(staff).get(reverse("crm:notification_list")).content.decode()
    assert "Hugo Marchal a déposé « Planche » (version 1)" in page
    assert project.reference in page


def test_fan_out_to_a_team_is_one_insert(staff: User, designer: User, project: Project) -> None:
    for index in range(6):
        ProjectMember.objects.create(
            project=project,
            user=UserFactory(role=Role.DESIGNER, username=f"team{index}"),
            role=ProjectMember.Role.DESIGNER,
        )
    ProjectMember.objects.create(
        project=project, user=UserFactory(role=Role.STAFF), role=ProjectMember.Role.LEAD
    )
    with CaptureQueriesContext(connection) as queries:
        notifications.notify_followers(kind="interaction_logged", record=project, by=staff)

    inserts = [
        q["sql"]
        for q in queries
        if q["sql"].startswith("INSERT") and 'INTO "crm_notification"' in q["sql"]
    ]
    assert len(inserts) == 1
    assert Notification.objects.count() == 8  # six designers, the first one, the lead


def test_the_action_records_the_event_and_the_worker_writes_the_notifications(
    settings: Any, staff: User, designer: User, project: Project
) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    with CaptureQueriesContext(connection) as queries:
        event = notifications.notify_followers(kind="interaction_logged", record=project, by=staff)

    assert event is not None
    written = [q["sql"].split('"')[1] for q in queries if q["sql"].startswith("INSERT")]
    assert written == ["crm_event"]  # and the task (kept in memory by this test's queue)
    assert event.recipients == [designer.pk]
    assert not Notification.objects.exists()  # nothing yet: the worker has not run

    assert notifications.deliver(event.pk) == 1
    assert notifications.deliver(event.pk) == 0  # run twice: written once
    assert list(Notification.objects.values_list("recipient", flat=True)) == [designer.pk]
    event.refresh_from_db()
    assert event.delivered_at is not None


def test_recover_jobs_queues_again_the_events_a_dead_worker_left(
    settings: Any, staff: User, designer: User, project: Project
) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    stale = notifications.notify_followers(kind="interaction_logged", record=project, by=staff)
    assert stale is not None
    Event.objects.filter(pk=stale.pk).update(created_at=timezone.now() - timedelta(hours=1))
    notifications.notify_followers(kind="interaction_logged", record=project, by=staff)
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    out = io.StringIO()

    call_command("recover_jobs", stdout=out)

    assert "1 undelivered event(s) queued again." in out.getvalue()
    # The old one is delivered; the fresh one is left to the worker that has it.
    assert list(Notification.objects.values_list("event", flat=True)) == [stale.pk]
    assert Event.objects.filter(delivered_at__isnull=True).exclude(pk=stale.pk).count() == 1


def test_opening_marks_read_and_leads_to_the_record(
    staff: User, designer: User, project: Project
) -> None:
    upload(client_for(designer), project)
    notification = Notification.objects.get(recipient=staff)

    response = client_for(staff).get(reverse("crm:notification_open", args=[notification.pk]))

    assert response.status_code == 302
    assert response["Location"].startswith(project.get_absolute_url())
    notification.refresh_from_db()
    assert notification.read_at is not None
    assert "bell__count" not in bell(client_for(staff))


def test_someone_elses_notification_answers_404(
    staff: User, designer: User, officer: User, project: Project
) -> None:
    upload(client_for(designer), project)
    notification = Notification.objects.get(recipient=staff)

    response = client_for(officer).get(reverse("crm:notification_open", args=[notification.pk]))

    assert response.status_code == 404


def test_mark_all_read(staff: User, designer: User, project: Project) -> None:
    upload(client_for(designer), project)
    upload(client_for(designer), project)
    client = client_for(staff)

    response = client.post(reverse("crm:notification_read_all"), follow=True)

    assert "Toutes vos notifications sont marquées comme lues" in response.content.decode()
    assert not Notification.objects.filter(recipient=staff, read_at__isnull=True).exists()


def test_a_lost_access_hides_the_notifications(
    staff: User, designer: User, project: Project
) -> None:
    upload(client_for(designer), project)
    project_actions.review_version(
        version=DeliverableVersion.objects.get(), approve=False, by=staff, comment="Plus grand"
    )
    client = client_for(designer)
    assert "Modifications demandées" not in bell(client)  # the bell shows a count only
    assert "demande des modifications" in client.get(reverse("crm:notification_list")).text
    notification = Notification.objects.get(recipient=designer)

    ProjectMember.objects.filter(project=project, user=designer).delete()
    designer = User.objects.get(pk=designer.pk)
    client = client_for(designer)

    assert "bell__count" not in bell(client)
    assert "demande des modifications" not in client.get(reverse("crm:notification_list")).text
    assert client.get(reverse("crm:notification_open", args=[notification.pk])).status_code == 404


def test_the_notifications_page_is_paginated_newest_first(
    staff: User, designer: User, project: Project
) -> None:
    for _index in range(notifications_page_size() + 2):
        notifications.notify_followers(kind="interaction_logged", record=project, by=staff)
    client = client_for(designer)

    first = client.get(reverse("crm:notification_list")).content.decode()
    second = client.get(reverse("crm:notification_list") + "?page=2").content.decode()

    assert first.count('class="notifications__item') == notifications_page_size()
    assert second.count('class="notifications__item') == 2


def notifications_page_size() -> int:
    from crm.views import NOTIFICATIONS_PAGE

    return NOTIFICATIONS_PAGE


def test_the_person_who_acted_is_never_told(staff: User, project: Project) -> None:
    event = notifications.notify(
        kind="interaction_logged", record=project, by=staff, recipients=[staff.pk]
    )
    assert event is None
    assert not Event.objects.exists()


def test_an_interaction_tells_the_followers_of_a_lead(officer: User, other_officer: User) -> None:
    lead = LeadFactory(owner=officer, shared_with=[other_officer])

    log_interaction(
        organisation=lead.organisation,
        by=officer,
        kind="call",
        occurred_at=timezone.now(),
        summary="Appel de suivi",
        lead=lead,
    )

    assert list(Notification.objects.values_list("recipient", flat=True)) == [other_officer.pk]


def test_a_gate_tells_the_team(staff: User, designer: User, project: Project) -> None:
    project = ProjectFactory(state="intake", designers=[designer])
    project.machine.run(name="accept_watch", by=staff)

    text = client_for(designer).get(reverse("crm:notification_list")).content.decode()
    assert "Demande reçue → Écouter" in text


# E-mail (Django's locmem backend) --------------------------------------------------------------


def test_changes_requested_is_emailed_at_once_with_unsubscribe(
    staff: User, designer: User, project: Project
) -> None:
    upload(client_for(designer), project)
    django_mail.outbox.clear()

    project_actions.review_version(
        version=DeliverableVersion.objects.get(), approve=False, by=staff, comment="Plus grand"
    )

    [message] = django_mail.outbox
    assert isinstance(message, EmailMultiAlternatives)
    assert message.to == [designer.email]
    assert "demande des modifications" in message.subject
    assert f"http://testserver{project.get_absolute_url()}#deliverables" in message.body or (
        project.get_absolute_url() in message.body
    )
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/unsubscribe/" in message.extra_headers["List-Unsubscribe"]
    assert message.alternatives[0][1] == "text/html"
    assert OutboxMessage.objects.get(recipient=designer).status == OutboxMessage.Status.SENT


def test_one_email_per_event_and_person_even_run_twice(
    staff: User, designer: User, project: Project
) -> None:
    upload(client_for(designer), project)
    event = Event.objects.get()

    mail.queue_event(event.pk)
    mail.queue_event(event.pk)

    assert OutboxMessage.objects.filter(recipient=staff, event=event).count() == 1
    assert len([m for m in django_mail.outbox if m.to == [staff.email]]) == 1


def test_approved_waits_for_the_digest(staff: User, designer: User, project: Project) -> None:
    upload(client_for(designer), project)
    django_mail.outbox.clear()

    project_actions.review_version(version=DeliverableVersion.objects.get(), approve=True, by=staff)

    assert django_mail.outbox == []
    assert Notification.objects.filter(recipient=designer).count() == 1


def test_english_speakers_get_english(staff: User, designer: User, project: Project) -> None:
    designer.language = "en"
    designer.save()
    upload(client_for(designer), project)
    django_mail.outbox.clear()

    project_actions.review_version(
        version=DeliverableVersion.objects.get(), approve=False, by=staff, comment="Bigger"
    )

    [message] = django_mail.outbox
    assert "asks for changes" in message.subject
    assert "Open in Carreau" in message.body


def test_a_confidential_lead_is_its_reference_outside(officer: User, other_officer: User) -> None:
    lead = LeadFactory(owner=officer, confidential=True, title="Hôtel secret à Loos")

    lead_actions.save_lead(
        lead=lead,
        by=officer,
        seen_version=lead.version,
        contacts=[],
        target_sites=[],
        shared_with=[other_officer],
    )

    [message] = django_mail.outbox
    assert isinstance(message, EmailMultiAlternatives)
    assert lead.reference in message.subject
    assert "secret" not in message.subject + message.body
    assert "secret" not in message.alternatives[0][0]
    page = client_for(other_officer).get(reverse("crm:notification_list")).content.decode()
    assert "Hôtel secret à Loos" in page


def test_assigning_a_lead_tells_the_new_owner(staff: User, officer: User) -> None:
    lead = LeadFactory(owner=staff)
    lead.owner = officer

    lead_actions.save_lead(
        lead=lead, by=staff, seen_version=lead.version, contacts=[], target_sites=[], shared_with=[]
    )

    [message] = django_mail.outbox
    assert message.to == [officer.email]
    assert "vous a confié la piste" in message.subject


def test_holder_is_emailed_when_a_specification_is_issued(
    staff: User, holder: User, project: Project
) -> None:
    specification = project_actions.specification_for(project)
    specification.context = "Une rangée de maisons de mineurs."
    specification.need = "Un hébergement pour les visiteurs du musée."
    specification.objectives = "Ouvrir en 2028."
    specification.save()
    project_actions.issue_specification(project=project, by=staff, language="fr")

    [message] = [m for m in django_mail.outbox if m.to == [holder.email]]
    assert "attend votre réponse" in message.subject
    assert f"{project.get_absolute_url()}#specification" in message.body
    home = client_for(holder).get(reverse("crm:dashboard")).content.decode()
    assert "Répondre au cahier des charges v1" in home


# Preferences and unsubscribe ------------------------------------------------------------------


def test_preferences_page_sets_each_kind(designer: User) -> None:
    client = client_for(designer)
    page = client.get(reverse("crm:notification_preferences")).content.decode()
    assert "Des modifications sont demandées sur un livrable" in page

    data = {f"kind_{key}": kind.default_delivery for key, kind in notifications.KINDS.items()}
    data.update(
        kind_version_changes_requested="off",
        language="en",
        digest_enabled="on",
        digest_time="08:15",
    )
    response = client.post(reverse("crm:notification_preferences"), data)

    assert response.status_code == 302
    designer.refresh_from_db()
    assert designer.language == "en"
    assert designer.digest_time == time(8, 15)
    stored = NotificationPreference.objects.get(user=designer, kind="version_changes_requested")
    assert stored.delivery == "off"
    assert notifications.delivery_for(designer, "version_changes_requested") == "off"


def test_preferences_refuse_a_bad_choice(designer: User) -> None:
    response = client_for(designer).post(
        reverse("crm:notification_preferences"),
        {"kind_version_approved": "fax", "digest_time": "25:99"},
    )
    assert response.status_code == 200
    assert not NotificationPreference.objects.exists()


def test_turned_off_means_no_email(staff: User, designer: User, project: Project) -> None:
    NotificationPreference.objects.create(
        user=designer, kind="version_changes_requested", delivery="off"
    )
    upload(client_for(designer), project)
    django_mail.outbox.clear()

    project_actions.review_version(
        version=DeliverableVersion.objects.get(), approve=False, by=staff, comment="Non"
    )

    assert django_mail.outbox == []
    assert Notification.objects.filter(recipient=designer).exists()  # the bell still tells


def test_one_click_unsubscribe_changes_only_that_preference(designer: User) -> None:
    NotificationPreference.objects.create(user=designer, kind="version_approved", delivery="digest")
    token = mail.unsubscribe_token(designer, "version_changes_requested")
    anonymous = Client(enforce_csrf_checks=True)

    confirm = anonymous.get(reverse("crm:unsubscribe", args=[token]))
    assert confirm.status_code == 200
    assert "Me désabonner" in confirm.content.decode()
    assert not NotificationPreference.objects.filter(kind="version_changes_requested").exists()

    done = anonymous.post(
        reverse("crm:unsubscribe", args=[token]), {"List-Unsubscribe": "One-Click"}
    )

    assert done.status_code == 200
    prefs = dict(NotificationPreference.objects.values_list("kind", "delivery"))
    assert prefs == {"version_approved": "digest", "version_changes_requested": "off"}
    designer.refresh_from_db()
    assert designer.digest_enabled


def test_a_tampered_unsubscribe_link_changes_nothing(designer: User) -> None:
    token = mail.unsubscribe_token(designer, "version_approved")

    response = Client().post(reverse("crm:unsubscribe", args=[token[:-2] + "xx"]))

    assert response.status_code == 404
    assert not NotificationPreference.objects.exists()


def test_digest_unsubscribe(designer: User) -> None:
    Client().post(reverse("crm:unsubscribe", args=[mail.unsubscribe_token(designer, "digest")]))
    designer.refresh_from_db()
    assert not designer.digest_enabled


# The morning digest ---------------------------------------------------------------------------


def at_paris(hour: int, minute: int = 0):
    local = timezone.localtime().replace(hour=hour, minute=minute, second=0, microsecond=0)
    return local


def test_digest_gathers_due_items_and_unread_notifications(
    staff: User, officer: User, designer: User, project: Project
) -> None:
    today = timezone.localdate()
    LeadFactory(owner=officer, next_action="Rappeler", next_action_due=today - timedelta(days=1))
    LeadFactory(owner=officer, next_action="Trop tard", next_action_due=today - timedelta(days=9))
    LeadFactory(owner=officer, next_action="Plus tard", next_action_due=today + timedelta(days=9))
    upload(client_for(designer), project)
    project_actions.review_version(version=DeliverableVersion.objects.get(), approve=True, by=staff)
    django_mail.outbox.clear()

    assert mail.queue_digests(at_paris(7, 0)) == 0  # before 07:30 nobody's is due
    assert mail.queue_digests(at_paris(7, 31)) == 2  # the officer's and the designer's
    mail.send_due()
    assert mail.queue_digests(at_paris(9, 0)) == 0  # once a day

    by_person = {m.to[0]: m for m in django_mail.outbox}
    officer_mail = by_person[officer.email]
    assert "Rappeler" in officer_mail.body
    assert "Trop tard" not in officer_mail.body and "Plus tard" not in officer_mail.body
    assert "a approuvé « Planche »" in by_person[designer.email].body
    assert by_person[designer.email].extra_headers["List-Unsubscribe-Post"]
    assert staff.email not in by_person  # nothing for them: no digest


def test_digest_respects_the_persons_time(officer: User) -> None:
    officer.digest_time = time(9, 0)
    officer.save()
    LeadFactory(owner=officer, next_action="Rappeler", next_action_due=timezone.localdate())

    assert mail.queue_digests(at_paris(8, 0)) == 0
    assert mail.queue_digests(at_paris(9, 5)) == 1


def test_send_digests_command(officer: User) -> None:
    LeadFactory(owner=officer, next_action="Rappeler", next_action_due=timezone.localdate())
    out = io.StringIO()

    call_command("send_digests", stdout=out)

    assert "e-mail(s) sent" in out.getvalue()


def test_outbox_in_admin(staff: User, designer: User, project: Project) -> None:
    staff.is_superuser = True
    staff.save()
    upload(client_for(designer), project)

    page = client_for(staff).get(reverse("admin:crm_outboxmessage_changelist"))

    assert page.status_code == 200
    assert staff.email in page.content.decode()


def test_spec_version_waiting_for_holder_only_latest(
    staff: User, holder: User, project: Project
) -> None:
    issued_specification(project, approval="returned", by=staff)
    issued_specification(project, by=staff)

    home = client_for(holder).get(reverse("crm:dashboard")).content.decode()

    assert "Répondre au cahier des charges v2" in home
    assert "v1" not in home.split("À faire")[1].split("</section>")[0]


def test_digest_queries_do_not_grow_with_people(officer: User, other_officer: User) -> None:
    today = timezone.localdate()

    def people(count: int, start: int) -> None:
        for index in range(count):
            person = UserFactory(username=f"digest-{start + index}", role=Role.OFFICER)
            LeadFactory(owner=person, next_action="Rappeler", next_action_due=today)
            LeadFactory(
                owner=other_officer,
                shared_with=[person],
                next_action="Visiter",
                next_action_due=today,
            )

    people(3, 0)
    with CaptureQueriesContext(connection) as few:
        assert mail.queue_digests(at_paris(8, 0)) == 4  # and other_officer's
    OutboxMessage.objects.all().delete()
    people(12, 100)
    with CaptureQueriesContext(connection) as many:
        assert mail.queue_digests(at_paris(8, 0)) == 16

    assert len(few) == len(many)


def test_notifications_page_query_count_is_fixed(
    staff: User, designer: User, officer: User, project: Project
) -> None:
    lead = LeadFactory(owner=officer, shared_with=[designer])
    client = client_for(designer)

    def add(count: int) -> None:
        for _index in range(count):
            notifications.notify_followers(kind="interaction_logged", record=project, by=staff)
            notifications.notify_followers(kind="interaction_logged", record=lead, by=officer)

    add(2)
    few = count_queries(client, reverse("crm:notification_list"))
    add(20)
    many = count_queries(client, reverse("crm:notification_list"))

    assert few == many
