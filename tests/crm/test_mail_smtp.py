"""E-mail through a real SMTP server on loopback (aiosmtpd): what the mail server receives,
its headers, one message per event, the digest, unsubscribe, and a retry after the server
was down."""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.test import Client
from django.utils import timezone

from crm import mail, notifications
from crm.models import NotificationPreference, OutboxMessage, Role, User
from projects import actions as project_actions
from projects.models import DeliverableVersion, Project, ProjectMember
from prospects import actions as lead_actions
from tests.factories import LeadFactory, ProjectFactory, UserFactory, approved_deliverable


@dataclass
class Inbox:
    """What the SMTP server received, parsed."""

    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[Any] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        self.messages.append(
            email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        )
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address in m["To"]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SMTPServer:
    def __init__(self, port: int) -> None:
        self.inbox = Inbox()
        self.port = port
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp(settings: Any) -> Iterator[SMTPServer]:
    server = SMTPServer(free_port())
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = server.port
    settings.EMAIL_TIMEOUT = 5
    settings.CARREAU_BASE_URL = "https://carreau.example.org"
    server.start()
    yield server
    server.stop()


def text_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def unsubscribe_link(message: EmailMessage) -> str:
    return str(message["List-Unsubscribe"]).strip().strip("<>")


def html_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


@pytest.fixture
def project(designer: User) -> Project:
    return ProjectFactory(title="Gîtes de la Cité", state="listen", designers=[designer])


def submitted_version(project: Project, designer: User) -> DeliverableVersion:
    deliverable = approved_deliverable(project, "trend_board", by=designer)
    version = deliverable.versions.get()
    DeliverableVersion.objects.filter(pk=version.pk).update(review_state="submitted")
    return DeliverableVersion.objects.get(pk=version.pk)


def test_the_server_receives_one_message_per_event_with_its_headers(
    smtp: SMTPServer, staff: User, designer: User, project: Project
) -> None:
    version = submitted_version(project, designer)

    project_actions.review_version(version=version, approve=False, by=staff, comment="Plus net")

    [message] = smtp.inbox.to(designer.email)
    assert len(smtp.inbox.messages) == 1
    assert "demande des modifications" in message["Subject"]
    assert message["From"] == "carreau@localhost"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = unsubscribe_link(message)
    assert unsubscribe.startswith("https://carreau.example.org/unsubscribe/")
    body = text_of(message)
    assert f"https://carreau.example.org{project.get_absolute_url()}#deliverables" in body
    assert "Gîtes de la Cité" in body
    assert "Ouvrir dans Carreau" in html_of(message)

    # Running the event's task again sends nothing more.
    event_id = OutboxMessage.objects.get().event_id
    assert event_id is not None
    mail.queue_event(event_id)
    assert len(smtp.inbox.messages) == 1


def test_unsubscribe_from_the_received_link(
    smtp: SMTPServer, staff: User, designer: User, project: Project
) -> None:
    project_actions.review_version(
        version=submitted_version(project, designer), approve=False, by=staff, comment="Non"
    )
    [message] = smtp.inbox.messages
    path = unsubscribe_link(message).removeprefix("https://carreau.example.org")

    # What a mail client's one-click does (RFC 8058): a POST, no session, no CSRF token.
    response = Client(enforce_csrf_checks=True).post(
        path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 200
    assert dict(NotificationPreference.objects.values_list("kind", "delivery")) == {
        "version_changes_requested": "off"
    }
    project_actions.review_version(
        version=submitted_version(project, designer), approve=False, by=staff, comment="Encore"
    )
    assert len(smtp.inbox.messages) == 1


def test_confidential_lead_by_reference_only(
    smtp: SMTPServer, officer: User, other_officer: User
) -> None:
    lead = LeadFactory(owner=officer, confidential=True, title="Resort discret Arenberg")

    lead_actions.save_lead(
        lead=lead,
        by=officer,
        seen_version=lead.version,
        contacts=[],
        target_sites=[],
        shared_with=[other_officer],
    )

    [message] = smtp.inbox.messages
    raw = smtp.inbox.envelopes[0].original_content.decode("utf-8", "replace")
    assert lead.reference in message["Subject"]
    assert "discret" not in raw


def test_digest_received(smtp: SMTPServer, officer: User) -> None:
    today = timezone.localdate()
    LeadFactory(owner=officer, next_action="Envoyer la plaquette", next_action_due=today)
    later = timezone.localtime().replace(hour=8, minute=0)

    assert mail.queue_digests(later) == 1
    assert mail.send_due() == 1

    [message] = smtp.inbox.messages
    assert "récapitulatif" in message["Subject"]
    assert "Envoyer la plaquette" in text_of(message)
    assert "Envoyer la plaquette" in html_of(message)
    assert unsubscribe_link(message).startswith("https://carreau.example.org/")


def test_retry_after_the_server_was_down(
    smtp: SMTPServer, staff: User, designer: User, project: Project
) -> None:
    smtp.stop()

    project_actions.review_version(
        version=submitted_version(project, designer), approve=False, by=staff, comment="Non"
    )

    message = OutboxMessage.objects.get()
    assert message.status == OutboxMessage.Status.PENDING
    assert message.attempts == 1
    assert message.last_error
    assert message.next_attempt_at > timezone.now()
    # Not due yet: nothing is tried.
    assert mail.send_due() == 0

    smtp.start()
    assert mail.send_due(timezone.now() + timedelta(minutes=2)) == 1

    message.refresh_from_db()
    assert message.status == OutboxMessage.Status.SENT
    assert message.attempts == 2
    assert len(smtp.inbox.to(designer.email)) == 1
    assert mail.send_due(timezone.now() + timedelta(hours=1)) == 0


def test_given_up_after_the_last_attempt(
    smtp: SMTPServer, staff: User, designer: User, project: Project
) -> None:
    smtp.stop()
    project_actions.review_version(
        version=submitted_version(project, designer), approve=False, by=staff, comment="Non"
    )
    when = timezone.now()
    for _attempt in range(mail.MAX_ATTEMPTS):
        when += timedelta(hours=2)
        mail.send_due(when)

    message = OutboxMessage.objects.get()
    assert message.status == OutboxMessage.Status.FAILED
    assert message.attempts == mail.MAX_ATTEMPTS


def test_a_team_upload_mails_staff_and_the_mission_lead(
    smtp: SMTPServer, staff: User, designer: User, project: Project
) -> None:
    mission_lead = UserFactory(username="mission-lead", role=Role.OFFICER)
    ProjectMember.objects.create(project=project, user=mission_lead, role=ProjectMember.Role.LEAD)
    deliverable = approved_deliverable(project, "trend_board", by=designer)

    notifications.notify(
        kind="version_submitted",
        record=project,
        by=designer,
        recipients=[staff.pk, mission_lead.pk, designer.pk],
        params={"deliverable": deliverable.title, "number": 2},
    )

    assert {m["To"] for m in smtp.inbox.messages} == {staff.email, mission_lead.email}
