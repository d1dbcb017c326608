"""Demo design-support projects, loaded idempotently from `fixtures/demo_projects.json`.

Runs after `crm.demo.seed_crm` (see `crm.demo.SEEDERS`): holders, contacts, territories,
thematics and users are looked up in what the CRM seeder loaded.

A demo project is made the way a person would make it: `create_project` gives it its
DS-YYYY-NNN reference, then its `history` is replayed through `project.machine.run`, with the
deliverables uploaded through `check_upload` / `add_deliverable_version` and reviewed through
`review_version` in between. So the demo's transition log is one the application could have
written, and a fixture that tries to open a gate without its approved deliverable fails to
load. Only afterwards are the timestamps moved back to the fixture's relative dates.

A project already present (matched on its title) keeps its history: a demo user may have moved
it since, and replaying would make a second log. Its plain fields, thematics, team and
co-financing are brought in line with the file.
"""

from __future__ import annotations

import functools
import io
import json
import random
import textwrap
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import models, transaction
from django.utils import timezone
from django.utils.text import slugify
from PIL import Image, ImageDraw, ImageFont

from crm.demo import Outcome, SeedReport, assign, dated_events, pick, rows
from crm.fsm import TransitionRefused
from crm.models import Contact, Organisation, Territory, Thematic, User
from crm.uploads import DOCUMENT_KINDS, IMAGE_KINDS, check_upload
from projects.actions import (
    add_deliverable_version,
    answer_specification,
    create_project,
    issue_specification,
    review_version,
    specification_for,
)
from projects.models import (
    EXPECTING_PHASES,
    SECTION_FIELDS,
    Deliverable,
    DeliverableVersion,
    FundingLine,
    Milestone,
    Project,
    ProjectMember,
    ProjectTransition,
    SpecificationVersion,
)

PROJECTS_FIXTURE = Path(settings.BASE_DIR) / "fixtures" / "demo_projects.json"

# Every demo project is led by the mission's demo staff member, who also runs the gates.
LEAD_USERNAME = "staff"

PROJECT_FIELDS: dict[str, Any] = {"title": "", "need": "", "description": "", "budget": None}
PROJECT_OTHER_KEYS = {
    "holder",
    "holder_contact",
    "territory",
    "thematics",
    "funding",
    "designers",
    "started_days_ago",
    "target_in_days",
    "state",
    "history",
    "deliverables",
    "holder_accounts",
    "specification",
}

# The destination's black identity, with its yellow and white.
BLACK = (17, 17, 17)
WHITE = (250, 250, 247)
YELLOW = (255, 214, 0)
GREY = (120, 120, 116)
BOARD_SIZE = (1200, 800)


def seed(*, stdout: TextIO | None = None) -> SeedReport:
    """The `crm.demo.Seeder` entry point listed in `crm.demo.SEEDERS`."""
    report = SeedReport(title="Projects demo data")
    seed_projects(report=report)
    report.write(stdout)
    return report


@transaction.atomic
def seed_projects(*, report: SeedReport, path: Path = PROJECTS_FIXTURE) -> None:
    """Create the demo projects at their steps, or bring existing demo projects in line."""
    data = json.loads(path.read_text(encoding="utf-8"))
    users = _demo_users(data)
    # One "now" for the whole load, so that the relative dates of one run agree.
    now = timezone.now()
    for row in rows(data["projects"]):
        found = Project.objects.filter(title=row["title"]).order_by("pk").first()
        if found is not None and not found.is_demo:
            # Someone entered a project with this title by hand: it is theirs, not the demo's.
            report.record("projects", Outcome.KEPT)
        elif found is None:
            _create(row, users=users, now=now, report=report)
        else:
            _update(found, row, users=users, now=now, report=report)


def _demo_users(data: dict[str, Any]) -> dict[str, User]:
    wanted = {LEAD_USERNAME}
    for row in rows(data["projects"]):
        wanted.update(row.get("designers", []))
        wanted.update(row.get("holder_accounts", []))
        wanted.update(event.get("by", LEAD_USERNAME) for event in row.get("history", []))
        wanted.update(
            version["by"]
            for deliverable in row.get("deliverables", [])
            for version in deliverable["versions"]
            if "by" in version
        )
    users = {user.username: user for user in User.objects.filter(username__in=wanted)}
    missing = wanted - users.keys()
    if missing:
        raise ValueError(f"Demo users {sorted(missing)} are missing: run seed_crm first.")
    return users


# Project fields -------------------------------------------------------------------------------


def _plain_values(row: dict[str, Any]) -> dict[str, Any]:
    """The model values of a fixture row, except the dates, which are fixed at creation."""
    values = pick(row, PROJECT_FIELDS, other=PROJECT_OTHER_KEYS)
    if values["budget"] is not None:
        values["budget"] = Decimal(values["budget"])
    holder = Organisation.objects.get(name=row["holder"])
    values["holder"] = holder
    values["holder_contact"] = (
        Contact.objects.get(organisation=holder, email__iexact=row["holder_contact"])
        if row.get("holder_contact")
        else None
    )
    values["territory"] = Territory.objects.get(slug=row["territory"])
    return values


def _thematics(row: dict[str, Any]) -> list[Thematic]:
    slugs = row.get("thematics", [])
    thematics = list(Thematic.objects.filter(slug__in=slugs))
    if len(thematics) != len(slugs):
        raise ValueError(f"Unknown thematics in demo project {row['title']!r}: {slugs}")
    return thematics


def _team(row: dict[str, Any], users: dict[str, User]) -> dict[int, str]:
    """user id → role: the lead and the designers of the file."""
    team: dict[int, str] = {
        users[name].pk: ProjectMember.Role.HOLDER for name in row.get("holder_accounts", [])
    }
    team.update({users[name].pk: ProjectMember.Role.DESIGNER for name in row.get("designers", [])})
    team[users[LEAD_USERNAME].pk] = ProjectMember.Role.LEAD
    return team


def _funding(row: dict[str, Any]) -> list[tuple[str, Decimal]]:
    return [(line["funder"], Decimal(line["amount"])) for line in row.get("funding", [])]


def _first_event_days(row: dict[str, Any]) -> int | None:
    days = [event["days_ago"] for event in row.get("history", [])]
    return max(days) if days else None


def _create(
    row: dict[str, Any], *, users: dict[str, User], now: datetime, report: SeedReport
) -> None:
    lead = users[LEAD_USERNAME]
    today = timezone.localdate(now)
    accepted = _first_event_days(row)
    project = Project(
        **_plain_values(row),
        # Support starts when the request is accepted; a request still in intake has no start.
        start_date=today - timedelta(days=accepted) if accepted is not None else None,
        target_date=today + timedelta(days=row["target_in_days"]),
    )
    project.is_demo = True  # not editable in forms
    # The reference is allocated on save; the step is protected (it moves by transitions only).
    project.full_clean(exclude=["reference", "state"])
    create_project(project=project, by=lead, thematics=_thematics(row))
    report.record("projects", Outcome.CREATED)

    ProjectMember.objects.bulk_create(
        ProjectMember(project=project, user_id=user_id, role=role)
        for user_id, role in _team(row, users).items()
    )
    for funder, amount in _funding(row):
        FundingLine.objects.create(project=project, funder=funder, amount=amount)
        report.record("funding lines", Outcome.CREATED)

    _replay(project, row, users=users, now=now, report=report)
    if project.state != row["state"]:
        raise ValueError(
            f"Demo project {row['title']!r} ends at {project.state!r}, "
            f"not at {row['state']!r}: check its history."
        )


def _update(
    project: Project,
    row: dict[str, Any],
    *,
    users: dict[str, User],
    now: datetime,
    report: SeedReport,
) -> None:
    values = _plain_values(row)
    if project.target_date is None:
        values["target_date"] = timezone.localdate(now) + timedelta(days=row["target_in_days"])
    changed = assign(project, values)
    if changed:
        project.full_clean(exclude=["state"])
        project.save()

    thematics = _thematics(row)
    if set(project.thematics.values_list("pk", flat=True)) != {t.pk for t in thematics}:
        project.thematics.set(thematics)
        changed = True

    team = _team(row, users)
    if dict(project.memberships.values_list("user_id", "role")) != team:
        project.memberships.exclude(user_id__in=team).delete()
        for user_id, role in team.items():
            ProjectMember.objects.update_or_create(
                project=project, user_id=user_id, defaults={"role": role}
            )
        changed = True

    funding = _funding(row)
    if list(project.funding_lines.values_list("funder", "amount")) != funding:
        project.funding_lines.all().delete()
        for funder, amount in funding:
            FundingLine.objects.create(project=project, funder=funder, amount=amount)
        changed = True

    report.record("projects", Outcome.UPDATED if changed else Outcome.UNCHANGED)


# The history -----------------------------------------------------------------------------------

# On the same day a file comes before its review, a review before the specification is issued
# and answered, and all of them before the gate they open.
UPLOAD, REVIEW, ISSUE, ANSWER, TRANSITION = 0, 1, 2, 3, 4


@dataclass(frozen=True)
class _Event:
    days_ago: int
    order: int  # UPLOAD, REVIEW or TRANSITION
    payload: dict[str, Any]  # the history entry, or the deliverable version
    deliverable: dict[str, Any] = field(default_factory=dict)
    version: int = 0  # the version's number, for uploads and reviews


HISTORY_KEYS = {"days_ago", "run", "by", "comment"}
DELIVERABLE_KEYS = {"kind", "title", "format", "versions"}
VERSION_KEYS = {"days_ago", "review", "comment", "reviewed_days_ago", "by"}
SPECIFICATION_KEYS = {"sections", "expected", "milestones", "issued_days_ago", "answer"}
ANSWER_KEYS = {"days_ago", "by", "approve", "comment"}


def _check_keys(item: dict[str, Any], allowed: set[str], title: str) -> None:
    # A typo ("comments") would otherwise be dropped without a word.
    unknown = {key for key in item if not key.startswith("_")} - allowed
    if unknown:
        raise ValueError(f"Unknown keys {sorted(unknown)} in demo project {title!r}: {item}")


def _timeline(row: dict[str, Any]) -> list[_Event]:
    """The project's transitions, uploads and reviews, oldest first."""
    events: list[_Event] = []
    for event in rows(row.get("history", [])):
        _check_keys(event, HISTORY_KEYS, row["title"])
        events.append(_Event(event["days_ago"], TRANSITION, event))
    for deliverable in rows(row.get("deliverables", [])):
        _check_keys(deliverable, DELIVERABLE_KEYS, row["title"])
        for number, version in enumerate(rows(deliverable["versions"]), start=1):
            _check_keys(version, VERSION_KEYS, row["title"])
            events.append(_Event(version["days_ago"], UPLOAD, version, deliverable, number))
            if version["review"] != DeliverableVersion.Review.SUBMITTED:
                reviewed = version.get("reviewed_days_ago", version["days_ago"] - 1)
                if not 0 <= reviewed <= version["days_ago"]:
                    raise ValueError(f"Review before upload in demo project {row['title']!r}")
                events.append(_Event(reviewed, REVIEW, version, deliverable, number))
    specification = row.get("specification")
    if specification:
        _check_keys(specification, SPECIFICATION_KEYS, row["title"])
        if "issued_days_ago" in specification:
            events.append(_Event(specification["issued_days_ago"], ISSUE, specification))
        answer = specification.get("answer")
        if answer:
            _check_keys(answer, ANSWER_KEYS, row["title"])
            if answer["days_ago"] > specification["issued_days_ago"]:
                raise ValueError(f"Answer before issue in demo project {row['title']!r}")
            events.append(_Event(answer["days_ago"], ANSWER, answer))
    # Oldest first; `sorted` is stable, so same-day events of one kind keep the file's order.
    events = sorted(events, key=lambda event: (-event.days_ago, event.order))
    if events and events[0].days_ago > row["started_days_ago"]:
        raise ValueError(f"Demo project {row['title']!r} has events before its request.")
    return events


def _replay(
    project: Project,
    row: dict[str, Any],
    *,
    users: dict[str, User],
    now: datetime,
    report: SeedReport,
) -> None:
    """Run the project's history through the real actions, then date it as the file says."""
    events = _timeline(row)
    lead = users[LEAD_USERNAME]
    designers = [users[name] for name in row.get("designers", [])]
    uploader = designers[0] if designers else lead

    def moment(days_ago: int, sequence: int) -> datetime:
        # A minute apart within a day, so the log keeps its order, and never in the future.
        return now - timedelta(days=days_ago, minutes=len(events) + 1 - sequence)

    # Timestamps are moved back once everything is written: actions save whole rows, and a
    # save after an early `update()` would write "now" back over it.
    stamps: list[tuple[type[models.Model], int, dict[str, datetime]]] = []
    versions: dict[tuple[str, int], DeliverableVersion] = {}
    _write_specification(project, row.get("specification"), by=lead)
    spec_version: SpecificationVersion | None = None
    for index, event in enumerate(events, start=1):
        at = moment(event.days_ago, index)
        # What the action tells others is dated as the action is, not as the load is.
        with dated_events(project, at):
            if event.order == TRANSITION:
                by = users[event.payload.get("by", LEAD_USERNAME)]
                try:
                    log = project.machine.run(
                        name=event.payload["run"],
                        by=by,
                        comment=event.payload.get("comment", ""),
                    )
                except TransitionRefused as error:
                    raise ValueError(
                        f"Demo project {row['title']!r}: {event.payload['run']} refused: {error}"
                    ) from error
                stamps.append((ProjectTransition, log.pk, {"at": at}))
                report.record("transitions", Outcome.CREATED)
            elif event.order == ISSUE:
                issued = issue_specification(project=project, by=lead, language="fr", at=at)
                spec_version = issued
                stamps.append((SpecificationVersion, issued.pk, {"issued_at": at}))
                report.record("specification versions", Outcome.CREATED)
            elif event.order == ANSWER:
                assert spec_version is not None, "the demo answers a specification once issued"
                answer_specification(
                    version=spec_version,
                    approve=event.payload["approve"],
                    by=users[event.payload["by"]],
                    comment=event.payload.get("comment", ""),
                )
                stamps.append((SpecificationVersion, spec_version.pk, {"answered_at": at}))
            elif event.order == UPLOAD:
                spec = event.deliverable
                version = add_deliverable_version(
                    project=project,
                    kind=spec["kind"],
                    title=spec["title"],
                    upload=_demo_upload(project, spec, event.version),
                    by=users[event.payload["by"]] if "by" in event.payload else uploader,
                )
                versions[spec["title"], event.version] = version
                stamps.append((DeliverableVersion, version.pk, {"uploaded_at": at}))
                if event.version == 1:
                    stamps.append((Deliverable, version.deliverable_id, {"created_at": at}))
                    report.record("deliverables", Outcome.CREATED)
                report.record("deliverable versions", Outcome.CREATED)
            else:
                version = versions[event.deliverable["title"], event.version]
                review_version(
                    version=version,
                    approve=event.payload["review"] == DeliverableVersion.Review.APPROVED,
                    by=lead,
                    comment=event.payload.get("comment", ""),
                )
                stamps.append((DeliverableVersion, version.pk, {"reviewed_at": at}))

    created = now - timedelta(days=row["started_days_ago"], minutes=len(events) + 1)
    last = moment(events[-1].days_ago, len(events)) if events else created
    stamps.append((Project, project.pk, {"created_at": created, "updated_at": last}))
    for model, pk, values in stamps:
        model._default_manager.filter(pk=pk).update(**values)


def _write_specification(project: Project, data: dict[str, Any] | None, *, by: User) -> None:
    """The draft's sections and milestones, as the team would have written them."""
    if not data:
        return
    specification = specification_for(project)
    for name, text in data.get("sections", {}).items():
        if name not in SECTION_FIELDS:
            raise ValueError(f"Unknown section {name!r} in demo project {project.title!r}")
        setattr(specification, name, text)
    specification.updated_by = by
    specification.full_clean()
    specification.save()
    if "expected" in data:
        # Phase → kinds; without the key the draft keeps what a new one expects.
        expected = data["expected"]
        for phase, kinds in expected.items():
            if phase not in EXPECTING_PHASES or not set(kinds) <= set(Deliverable.Kind.values):
                raise ValueError(
                    f"Unknown phase or kind {phase!r}: {kinds} in demo project {project.title!r}"
                )
        specification.replace_expected(expected)
    start = project.start_date or timezone.localdate()
    for milestone in data.get("milestones", []):
        Milestone.objects.create(
            specification=specification,
            due_date=start + timedelta(days=milestone["after_days"]),
            label=milestone["label"],
        )


# Demo files ------------------------------------------------------------------------------------


def _demo_upload(project: Project, spec: dict[str, Any], number: int) -> Any:
    """A drawn file for a deliverable version, checked like any upload."""
    kind_label = Deliverable.Kind(spec["kind"]).label
    name = f"{slugify(spec['title'])}-v{number}"
    if spec["format"] == "pdf":
        data = demo_pdf(
            str(spec["title"]),
            [
                f"{project.reference} — {project.title}",
                f"{kind_label}, version {number}",
                "",
                *textwrap.wrap(project.need, 90),
                "",
                "Document de démonstration de Carreau : contenu fictif.",
            ],
        )
        upload = SimpleUploadedFile(f"{name}.pdf", data, content_type="application/pdf")
        return check_upload(upload, allowed=DOCUMENT_KINDS)
    image_format = {"png": "PNG", "jpeg": "JPEG"}[spec["format"]]
    data = demo_board(
        title=spec["title"],
        subtitle=f"{project.reference} · {project.title}",
        label=f"{kind_label} · v{number}",
        seed=f"{project.title}/{spec['title']}/{number}",
        image_format=image_format,
    )
    upload = SimpleUploadedFile(f"{name}.{spec['format']}", data)
    return check_upload(upload, allowed=IMAGE_KINDS)


# Pillow's built-in font has no accents; a common system font has. Without one, the text is
# folded to ASCII rather than drawn with empty boxes.
SYSTEM_FONTS = ("DejaVuSans.ttf", "LiberationSans-Regular.ttf", "Arial.ttf")


@functools.cache
def _font(size: int) -> tuple[ImageFont.FreeTypeFont | ImageFont.ImageFont, bool]:
    """A font of `size` pixels, and whether it draws French accents."""
    for name in SYSTEM_FONTS:
        try:
            return ImageFont.truetype(name, size), True
        except OSError:
            continue
    try:
        return ImageFont.load_default(size=size), False
    except ImportError:  # Pillow without FreeType: small bitmap text is still text
        return ImageFont.load_default(), False


def _draw_text(
    draw: ImageDraw.ImageDraw, xy: tuple[int, int], text: str, size: int, fill: tuple[int, ...]
) -> None:
    font, accents = _font(size)
    if not accents:
        text = text.translate(ASCII_PUNCTUATION).replace("œ", "oe").replace("Œ", "OE")
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    draw.text(xy, text, font=font, fill=fill)


ASCII_PUNCTUATION = str.maketrans({"—": "-", "–": "-", "«": '"', "»": '"', "’": "'", "·": "-"})


def demo_board(
    *, title: str, subtitle: str, label: str, seed: str, image_format: str = "PNG"
) -> bytes:
    """A 1200×800 "trend board" in black, white and yellow, laid out from `seed`.

    Distinct per project and version, so the demo's thumbnails do not all look alike.
    """
    rng = random.Random(seed)  # noqa: S311 - a layout, not a secret
    image = Image.new("RGB", BOARD_SIZE, BLACK)
    draw = ImageDraw.Draw(image)
    # A loose grid of swatches and "photos", as on a pinned-up board.
    for _ in range(rng.randint(5, 8)):
        left = rng.randrange(40, 860)
        top = rng.randrange(230, 560)
        width = rng.randrange(120, 320)
        height = rng.randrange(90, 220)
        box = (left, top, min(left + width, 1160), min(top + height, 760))
        style = rng.choice(["yellow", "white", "outline", "grey"])
        if style == "yellow":
            draw.rectangle(box, fill=YELLOW)
        elif style == "white":
            draw.rectangle(box, fill=WHITE)
        elif style == "grey":
            draw.rectangle(box, fill=GREY)
        else:
            draw.rectangle(box, outline=WHITE, width=6)
    draw.rectangle((0, 0, BOARD_SIZE[0], 24), fill=YELLOW)
    _draw_text(draw, (40, 50), label.upper(), 28, YELLOW)
    for index, line in enumerate(textwrap.wrap(title, 42)[:2]):
        _draw_text(draw, (40, 92 + index * 56), line, 48, WHITE)
    _draw_text(draw, (40, 760), subtitle[:90], 22, WHITE)
    out = io.BytesIO()
    image.save(out, image_format, **({"quality": 85} if image_format == "JPEG" else {}))
    return out.getvalue()


def _pdf_text(text: str) -> bytes:
    # Standard Type 1 fonts with WinAnsiEncoding (cp1252) cover French; escape string syntax.
    encoded = text.encode("cp1252", errors="replace")
    return encoded.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def demo_pdf(title: str, lines: list[str]) -> bytes:
    """A one-page A4 PDF with a yellow band, a title and a few lines of text.

    Written by hand rather than through WeasyPrint: a few hundred bytes, instantly, which keeps
    `seed_demo` fast; the readers and `check_upload` see an ordinary PDF.
    """
    body = [b"1 0.84 0 rg 0 812 595 30 re f", b"0.07 0.07 0.07 rg"]
    body.append(b"BT /F2 18 Tf 56 770 Td (" + _pdf_text(title) + b") Tj ET")
    body.append(b"BT /F1 11 Tf 15 TL 56 740 Td")
    body.extend(b"(" + _pdf_text(line) + b") '" for line in lines)
    body.append(b"ET")
    stream = b"\n".join(body)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R /F2 5 0 R >> >> /Contents 6 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, content in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + content + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)
