"""Every URL pattern of the project, walked as every role against records they may and may not see.

The table `RULES` holds one rule per URL name. A pattern without a rule fails the walk, and so does
a rule naming a URL that no longer exists: a new URL can't ship without saying who may open it.

Targets: `seen` is the world around project P (designer and holder account on its team, its
holder organisation and contact, a confidential lead of `officer`, a site with a photo, an event);
`other` is the world around project Q (another team, `holder_other` its holder account, a
confidential lead of `other_officer`). Each request runs in a savepoint rolled back afterwards;
a refused request (4xx, or the login redirect) must leave the database as it was. Every HTML page
a role gets (or part of one, for htmx) must also be valid HTML (`tests.helpers.html_problems`).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from django.apps import apps
from django.core.files.base import ContentFile
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from crm import mail, notifications
from crm.models import Job, Role, User
from tests.factories import (
    ContactFactory,
    InteractionFactory,
    LeadFactory,
    ProjectFactory,
    PromotionEventFactory,
    SiteFactory,
    UserFactory,
    approved_deliverable,
    issued_specification,
)
from tests.helpers import html_problems

pytestmark = pytest.mark.django_db

ROLES = (
    "staff",
    "designer",
    "designer_off",
    "officer",
    "other_officer",
    "holder",
    "holder_other",
    "anonymous",
)
# The admin has its own walk (tests/test_admin.py: every model's pages as staff) and Django's
# own permission checks; it is left out here.
EXCLUDED_NAMESPACES = {"admin"}


# The world ------------------------------------------------------------------------------------


def png_bytes() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "#c00").save(buffer, "PNG")
    return buffer.getvalue()


@dataclass
class World:
    users: dict[str, User]
    ids: dict[str, dict[str, Any]] = field(default_factory=dict)


def build_world() -> World:
    from projects.models import ProjectMember
    from prospects.models import CalendarToken, SitePhoto

    users = {
        "staff": UserFactory(username="staff", role=Role.STAFF),
        "designer": UserFactory(username="designer", role=Role.DESIGNER),
        "designer_off": UserFactory(username="designer-off", role=Role.DESIGNER),
        "officer": UserFactory(username="officer", role=Role.OFFICER),
        "other_officer": UserFactory(username="other-officer", role=Role.OFFICER),
        "holder": UserFactory(username="holder", role=Role.HOLDER),
        "holder_other": UserFactory(username="holder-other", role=Role.HOLDER),
    }
    world = World(users=users)
    site = SiteFactory()
    photo = SitePhoto(site=site, content_type="image/png", width=8, height=8)
    photo.uploaded_by = users["staff"]
    photo.image.save("photo.png", ContentFile(png_bytes()), save=False)
    photo.thumbnail.save("thumb.png", ContentFile(png_bytes()), save=False)
    photo.save()
    event = PromotionEventFactory()
    feed = CalendarToken.objects.create(user=users["officer"], token="a" * 40)

    for target, designer, holder, owner in (
        ("seen", users["designer"], users["holder"], users["officer"]),
        ("other", None, users["holder_other"], users["other_officer"]),
    ):
        project = ProjectFactory(state="listen", designers=[designer] if designer else [])
        ProjectMember.objects.create(project=project, user=holder, role=ProjectMember.Role.HOLDER)
        contact = ContactFactory(organisation=project.holder)
        InteractionFactory(organisation=project.holder, contact=contact)
        deliverable = approved_deliverable(project, "trend_board")
        issued_specification(project)
        lead = LeadFactory(owner=owner, confidential=True)
        job = Job.objects.create(
            kind="list_export",
            label="Export des pistes : 1 ligne",
            owner=owner,
            params={"list": "leads", "query": ""},
            status=Job.Status.DONE,
            filename="pistes.xlsx",
            expires_at=timezone.now() + timedelta(days=1),
        )
        job.file.save("pistes.xlsx", ContentFile(b"PK fake workbook"))
        told = notifications.notify(
            kind="lead_shared", record=lead, by=users["staff"], recipients=[owner.pk]
        )
        world.ids[target] = {
            "job": str(job.pk),
            "notification": told.notifications.get().pk,
            "unsubscribe": (
                mail.unsubscribe_token(owner, "lead_shared") if target == "seen" else "x"
            ),
            "project": project.pk,
            "version": deliverable.versions.get().pk,
            "organisation": project.holder.pk,
            "contact": contact.pk,
            "lead": lead.pk,
            "site": site.pk,
            "photo": photo.pk,
            "event": event.pk,
            "officer": owner.pk,
            "token": feed.feed_secret() if target == "seen" else "b" * 64,
        }
    return world


def fingerprint() -> str:
    """A digest of every row of the project's own apps: what a refused request must not change."""
    digest = hashlib.sha256()
    for label in ("crm", "projects", "prospects"):
        for model in apps.get_app_config(label).get_models():
            for row in model._default_manager.order_by("pk").values_list():
                digest.update(repr(row).encode())
    return digest.hexdigest()


# The rules ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """Who gets which status. `seen`/`other`: role → status for the two worlds (`other` absent
    when the URL takes no record). `kwargs` builds the URL's arguments from a world's ids."""

    seen: dict[str, int]
    other: dict[str, int] | None = None
    kwargs: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    method: str = "GET"
    data: dict[str, Any] = field(default_factory=dict)
    # "target:role" pairs not requested: PDFs render for real, one 200 is enough.
    skip: frozenset[str] = frozenset()
    # Roles that may change rows with this request; every other role must change nothing.
    writers: frozenset[str] = frozenset()
    xfail: str = ""


def statuses(default: int, **by_role: int) -> dict[str, int]:
    """`default` for every signed-in role, 302 (to the login page) for anonymous, then
    the exceptions."""
    result = {role: default for role in ROLES}
    result["anonymous"] = 302
    result.update(by_role)
    return result


def pk(name: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda ids: {"pk": ids[name]}


def kw(**names: str | int) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """URL kwargs from a world's ids: a string names an id, a number is used as is."""
    return lambda ids: {k: ids[v] if isinstance(v, str) else v for k, v in names.items()}


SIGNED_IN = statuses(200)
STAFF_ONLY = statuses(404, staff=200)
PROSPECTING = statuses(404, staff=200, officer=200, other_officer=200)
# The whole CRM for staff and officers; lists are scoped, so designers get their (short) list.
CRM_LISTS = statuses(200, holder=404, holder_other=404)
NOT_POST = statuses(405)  # a POST-only view asked with GET
EVERYONE = {role: 200 for role in ROLES}


def project_readers(status: int = 200) -> tuple[dict[str, int], dict[str, int]]:
    """Staff and officers read every project; a designer and a holder account their own."""
    seen = statuses(404, staff=status, designer=status, officer=status, other_officer=status)
    seen["holder"] = status
    other = statuses(404, staff=status, officer=status, other_officer=status)
    other["holder_other"] = status
    return seen, other


def project_team(status: int = 200) -> tuple[dict[str, int], dict[str, int]]:
    """Staff and the designers on the project's team."""
    return statuses(404, staff=status, designer=status), statuses(404, staff=status)


def crm_readers() -> tuple[dict[str, int], dict[str, int]]:
    """Staff and officers read the whole CRM; a designer reads the holders of their projects."""
    return statuses(404, staff=200, designer=200, officer=200, other_officer=200), PROSPECTING


def lead_readers(status: int = 200) -> tuple[dict[str, int], dict[str, int]]:
    """A confidential lead: staff and its owner only."""
    return statuses(404, staff=status, officer=status), statuses(
        404, staff=status, other_officer=status
    )


def job_owner(status: int = 200) -> tuple[dict[str, int], dict[str, int]]:
    """A job and its file: the person who asked for it, nobody else (not even staff)."""
    return statuses(404, officer=status), statuses(404, other_officer=status)


def rule(pair: tuple[dict[str, int], dict[str, int]], kwargs: Any, **options: Any) -> Rule:
    return Rule(seen=pair[0], other=pair[1], kwargs=kwargs, **options)


def post_only(kwargs: Any) -> Rule:
    return Rule(seen=NOT_POST, other=NOT_POST, kwargs=kwargs)


PROJECT = pk("project")
VERSION = kw(pk="project", version_pk="version")
SPEC_V1 = kw(pk="project", number=1)
ORG = pk("organisation")
CONTACT = pk("contact")
LEAD = pk("lead")
SITE = pk("site")
PHOTO = kw(pk="site", photo_pk="photo")
TOKEN = kw(token="token")
JOB = pk("job")

RULES: dict[str, Rule] = {
    # Public views, and the account views.
    "login": Rule(seen=statuses(302, anonymous=200)),  # a signed-in user is sent on
    "logout": Rule(seen=statuses(302), method="POST"),
    "set_language": Rule(seen=statuses(302), method="POST", data={"language": "en"}),
    "healthz": Rule(seen=EVERYONE),
    "favicon": Rule(seen={role: 301 for role in ROLES}),
    # The feed's secret stands for the login: the right one answers, a wrong one is 404.
    "prospects:calendar_feed": Rule(
        seen=EVERYONE,
        other={role: 404 for role in ROLES},
        kwargs=kw(user_id="officer", token="token"),
    ),
    # CRM.
    "crm:dashboard": Rule(seen=SIGNED_IN),
    "crm:organisation_list": Rule(seen=CRM_LISTS),
    "crm:organisation_export": Rule(seen=CRM_LISTS),
    "crm:organisation_create": Rule(seen=PROSPECTING, method="POST"),
    "crm:organisation_detail": rule(crm_readers(), ORG),
    "crm:organisation_edit": rule((PROSPECTING, PROSPECTING), ORG, method="POST"),
    # No logo in the world: 404 for everyone, the scoping is walked on the detail page.
    "crm:organisation_logo": Rule(seen=statuses(404), other=statuses(404), kwargs=ORG),
    "crm:organisation_log_interaction": rule(crm_readers(), ORG, method="POST"),
    "crm:contact_list": Rule(seen=CRM_LISTS),
    "crm:contact_export": Rule(seen=CRM_LISTS),
    "crm:contact_create": Rule(seen=PROSPECTING, method="POST"),
    # A contact picker's options (htmx): what the person may see of the CRM, nothing else.
    "crm:contact_options": Rule(seen=CRM_LISTS),
    "crm:contact_detail": rule(crm_readers(), CONTACT),
    "crm:contact_edit": rule((PROSPECTING, PROSPECTING), CONTACT, method="POST"),
    "crm:contact_log_interaction": rule(crm_readers(), CONTACT, method="POST"),
    # Personal data (GDPR): the mission team only.
    "crm:contact_objection": Rule(
        seen=statuses(404, staff=302),
        other=statuses(404, staff=302),
        kwargs=CONTACT,
        method="POST",
        data={"objects": "1"},
        writers=frozenset({"staff"}),
    ),
    "crm:contact_personal_data": Rule(
        seen=STAFF_ONLY,
        other=STAFF_ONLY,
        kwargs=lambda ids: {"pk": ids["contact"], "file_format": "json"},
    ),
    "crm:contact_anonymise": Rule(
        seen=statuses(404, staff=302),
        other=statuses(404, staff=302),
        kwargs=CONTACT,
        method="POST",
        writers=frozenset({"staff"}),
    ),
    "crm:privacy_review": Rule(seen=STAFF_ONLY),
    "crm:funders_report": Rule(seen=STAFF_ONLY),
    # Built by the worker: staff are sent to the job's page.
    "crm:funders_workbook": Rule(seen=statuses(404, staff=302), kwargs=kw(year=2026)),
    # Staff import anything, officers import leads; an empty POST is a form error (400).
    "crm:import_start": Rule(
        seen=statuses(404, staff=400, officer=400, other_officer=400), method="POST"
    ),
    # An import is its starter's alone: an unknown token is 404 for everyone.
    "crm:import_map": Rule(seen=statuses(404), kwargs=TOKEN, method="POST"),
    "crm:import_preview": Rule(seen=statuses(404), kwargs=TOKEN),
    "crm:import_apply": Rule(seen=statuses(404), kwargs=TOKEN, method="POST"),
    "crm:import_discard": Rule(seen=statuses(404), kwargs=TOKEN, method="POST"),
    "crm:import_errors": Rule(seen=statuses(404), kwargs=TOKEN),
    "crm:import_rows_to_fix": Rule(seen=statuses(404), kwargs=TOKEN),
    # Projects.
    "projects:project_list": Rule(seen=SIGNED_IN),
    "projects:project_export": Rule(seen=SIGNED_IN),
    "projects:project_board": Rule(seen=SIGNED_IN),
    "projects:project_create": Rule(seen=STAFF_ONLY, method="POST"),
    "projects:project_detail": rule(project_readers(), PROJECT),
    "projects:project_edit": rule((STAFF_ONLY, STAFF_ONLY), PROJECT, method="POST"),
    "projects:project_transition": rule(
        project_readers(302),
        PROJECT,
        method="POST",
        data={"name": "advance", "state": "listen"},
        # Designers move steps inside a phase (listen → impulse is one).
        writers=frozenset({"staff", "designer"}),
    ),
    "projects:board_card_moves": rule(project_readers(), PROJECT),
    "projects:project_log_interaction": rule(project_team(), PROJECT, method="POST"),
    "projects:deliverable_upload": rule(project_team(400), PROJECT, method="POST"),
    # Deliverables: the team, and officers (who read every project); not the holder account.
    "projects:version_file": rule(
        (statuses(404, staff=200, designer=200, officer=200, other_officer=200), PROSPECTING),
        VERSION,
    ),
    # The world's deliverable is a PDF, which has no thumbnail.
    "projects:version_thumbnail": Rule(seen=statuses(404), other=statuses(404), kwargs=VERSION),
    # What stands for the thumbnail (a placeholder here): whoever reads the version's file.
    "projects:version_thumbnail_slot": rule(
        (statuses(404, staff=200, designer=200, officer=200, other_officer=200), PROSPECTING),
        VERSION,
    ),
    "projects:version_review": rule(
        (statuses(404, staff=302), statuses(404, staff=302)),
        VERSION,
        method="POST",
        data={"decision": "return", "comment": "À reprendre."},
        writers=frozenset({"staff"}),
    ),
    # PDFs render for real: staff and the designer make them, the others must get 404.
    "projects:project_sheet": rule(
        project_readers(),
        PROJECT,
        skip=frozenset(
            {"seen:designer", "seen:officer", "seen:other_officer", "seen:holder"}
            | {"other:staff", "other:officer", "other:other_officer", "other:holder_other"}
        ),
    ),
    "projects:specification_edit": rule(project_team(400), PROJECT, method="POST"),
    # The preview answers with the page of the job that renders it.
    "projects:specification_preview": rule(
        project_team(302), PROJECT, skip=frozenset({"seen:designer", "other:staff"})
    ),
    "projects:specification_issue": rule(
        (statuses(404, staff=302), statuses(404, staff=302)),
        PROJECT,
        method="POST",
        writers=frozenset({"staff"}),
        skip=frozenset({"other:staff"}),
    ),
    "projects:specification_version_file": rule(project_readers(), SPEC_V1),
    # Only the project's holder account answers its specification.
    "projects:specification_answer": Rule(
        seen=statuses(404, holder=302),
        other=statuses(404, holder_other=302),
        kwargs=SPEC_V1,
        method="POST",
        data={"decision": "approve"},
        writers=frozenset({"holder", "holder_other"}),
    ),
    # Prospects.
    "prospects:lead_list": Rule(seen=PROSPECTING),
    "prospects:lead_export": Rule(seen=PROSPECTING),
    "prospects:lead_board": Rule(seen=PROSPECTING),
    "prospects:lead_create": Rule(seen=PROSPECTING, method="POST"),
    "prospects:my_day": Rule(seen=PROSPECTING),
    "prospects:pipeline_report": Rule(seen=PROSPECTING),
    "prospects:lead_detail": rule(lead_readers(), LEAD),
    "prospects:lead_edit": rule(lead_readers(), LEAD, method="POST"),
    "prospects:lead_transition": rule(lead_readers(302), LEAD, method="POST"),
    "prospects:board_card_moves": rule(lead_readers(), LEAD),
    "prospects:lead_log_interaction": rule(lead_readers(), LEAD, method="POST"),
    "prospects:site_list": Rule(seen=PROSPECTING),
    "prospects:site_export": Rule(seen=PROSPECTING),
    "prospects:site_create": Rule(seen=PROSPECTING, method="POST"),
    # Sites and events are shared by every prospecting user: one target is enough.
    "prospects:site_detail": Rule(seen=PROSPECTING, kwargs=SITE),
    "prospects:site_edit": Rule(seen=PROSPECTING, kwargs=SITE, method="POST"),
    "prospects:site_sheet": Rule(
        seen=PROSPECTING, kwargs=SITE, skip=frozenset({"seen:officer", "seen:other_officer"})
    ),
    "prospects:site_photo_upload": Rule(
        seen=statuses(404, staff=302, officer=302, other_officer=302), kwargs=SITE, method="POST"
    ),
    "prospects:site_photo": Rule(seen=PROSPECTING, kwargs=PHOTO),
    "prospects:site_photo_thumbnail": Rule(seen=PROSPECTING, kwargs=PHOTO),
    "prospects:site_photo_thumbnail_slot": Rule(seen=PROSPECTING, kwargs=PHOTO),
    "prospects:event_list": Rule(seen=PROSPECTING),
    "prospects:event_export": Rule(seen=PROSPECTING),
    "prospects:event_detail": Rule(seen=PROSPECTING, kwargs=pk("event")),
    # Officers and staff record promotion events.
    "prospects:event_create": Rule(seen=PROSPECTING, method="POST"),
    "prospects:event_edit": Rule(seen=PROSPECTING, kwargs=pk("event"), method="POST"),
    # Background jobs and their files: their owner's alone.
    "crm:job_list": Rule(seen=SIGNED_IN),
    # Notifications: each person's own; opening one leads to its record (302).
    "crm:notification_list": Rule(seen=SIGNED_IN),
    "crm:notification_bell": Rule(seen=SIGNED_IN),
    "crm:notification_preferences": Rule(seen=SIGNED_IN),
    "crm:notification_read_all": Rule(
        seen=statuses(302), method="POST", writers=frozenset({"officer", "other_officer"})
    ),
    "crm:notification_open": rule(job_owner(302), pk("notification")),
    # The e-mails' unsubscribe link: its signed token stands for the login.
    "crm:unsubscribe": Rule(
        seen=EVERYONE, other={role: 404 for role in ROLES}, kwargs=kw(token="unsubscribe")
    ),
    "crm:job_detail": rule(job_owner(), JOB),
    "crm:job_download": rule(job_owner(), JOB),
    "crm:job_retry": rule(job_owner(302), JOB, method="POST"),
    "prospects:calendar_settings": Rule(
        seen=statuses(404, staff=302, officer=302, other_officer=302),
        method="POST",
        writers=frozenset({"staff", "officer", "other_officer"}),
    ),
}


# The walk -------------------------------------------------------------------------------------


def url_names(resolver: URLResolver | None = None, namespace: str = "") -> Iterator[str]:
    for pattern in (resolver or get_resolver()).url_patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace in EXCLUDED_NAMESPACES:
                continue
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from url_names(pattern, inner)
        elif isinstance(pattern, URLPattern):
            assert pattern.name, f"unnamed URL pattern {pattern.pattern}"
            yield f"{namespace}{pattern.name}"


def test_every_url_pattern_has_a_rule() -> None:
    names = set(url_names())

    assert sorted(names - RULES.keys()) == [], "URL patterns without an access rule"
    assert sorted(RULES.keys() - names) == [], "rules for URLs that no longer exist"


def clients(world: World) -> dict[str, Client]:
    result = {"anonymous": Client()}
    for role, user in world.users.items():
        result[role] = Client()
        result[role].force_login(user)
    return result


def observe(world: World, name: str, rule: Rule) -> dict[str, dict[str, int]]:
    """The status each role gets for each target; refused requests must change nothing."""
    by_client = clients(world)
    # Every request is rolled back, so the state before each one is this one.
    before = fingerprint() if rule.method == "POST" else ""
    observed: dict[str, dict[str, int]] = {}
    for target in ("seen", "other") if rule.other is not None else ("seen",):
        kwargs = rule.kwargs(world.ids[target]) if rule.kwargs else {}
        url = reverse(name, kwargs=kwargs)
        observed[target] = {}
        for role in ROLES:
            if f"{target}:{role}" in rule.skip:
                continue
            with transaction.atomic():
                client = by_client[role]
                send = client.post if rule.method == "POST" else client.get
                response = send(url, rule.data) if rule.method == "POST" else send(url)
                status = response.status_code
                if rule.method == "POST" and role not in rule.writers:
                    assert fingerprint() == before, f"{name} {target} {role}: changed rows"
                if status == 200 and response.get("Content-Type", "").startswith("text/html"):
                    # Every page each role gets is valid HTML (DESIGN §8).
                    problems = html_problems(response.content.decode())
                    assert not problems, f"{name} {target} {role}: invalid HTML: {problems}"
                if role == "anonymous" and status == 302 and name not in PUBLIC:
                    assert response.url.startswith(reverse("login")), (name, response.url)  # type: ignore[attr-defined]  # a redirect says where
                transaction.set_rollback(True)
            observed[target][role] = status
    return observed


PUBLIC = {
    "login",
    "set_language",
    "healthz",
    "favicon",
    "prospects:calendar_feed",
    "crm:unsubscribe",
}


def expected(rule: Rule) -> dict[str, dict[str, int]]:
    result = {"seen": {r: s for r, s in rule.seen.items() if f"seen:{r}" not in rule.skip}}
    if rule.other is not None:
        result["other"] = {r: s for r, s in rule.other.items() if f"other:{r}" not in rule.skip}
    return result


def rule_params() -> list[Any]:
    params = []
    for name, rule in sorted(RULES.items()):
        marks = [pytest.mark.xfail(strict=True, reason=rule.xfail)] if rule.xfail else []
        params.append(pytest.param(name, marks=marks, id=name))
    return params


@pytest.mark.parametrize("name", rule_params())
def test_access(name: str) -> None:
    rule = RULES[name]
    world = build_world()

    assert observe(world, name, rule) == expected(rule)
