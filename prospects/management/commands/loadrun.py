"""`make load`: simulated people browsing a production-like server on loopback.

Starts gunicorn (2 workers by default) with production settings (DEBUG off, collected static
files) on the database DATABASE_URL names, on a free port of 127.0.0.1, then has `--users`
people (threads, each with its own keep-alive connection and its own session) browse the lists
and record pages for `--seconds`: the organisation, contact, project, lead lists, the two
boards, the dashboard, and the details of records each person may see.

Twice: first as people do, reading each page before the next click (`--think` seconds on
average, drawn between half and one and a half times that, as locust's `between()`); then
flat out, each asking for the next page as soon as the last arrived, which measures what the
server can take. For each it reports requests per second, median and p95 time as the client
measured it (server and network on loopback), and every answer that is not 200, and writes
them to docs/benchmarks.md. Goals, for the people reading: no error, p95 under 500 ms.

Then, unless `--no-mixed`, the mixed scenario: a worker (`db_worker`) beside the servers runs
the export of the whole organisation list (100,000 rows on the data `make bench` makes) and
the preview of a specification of at least 100 pages (`--milestones` says its length,
`--spec-pages` the length it must reach) while the same people browse, reading each page; the
page times of the requests made while a job ran are reported beside the jobs' own figures (the
rows written, the pages rendered), against DESIGN §8 (p95 < 100 ms over HTTP; no error). That
report is a section of its own in docs/benchmarks.md (`load:<database>:mixed`), so that a run
with `--no-mixed` keeps the last mixed figures.

Meant for the data `make bench` generated (it logs in as its bench users, through sessions
created in the database: no password is involved):

    make bench BENCH_DATABASE_URL=postgres://...     # fill and measure
    make load BENCH_DATABASE_URL=postgres://...      # then the load run
"""

from __future__ import annotations

import http.client
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, load_backend
from django.contrib.sessions.backends.db import SessionStore
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from crm.models import Organisation, User
from prospects.management.commands.bench import VENDORS, p95, write_section

LIST_PAGES = [
    "crm:dashboard",
    "crm:organisation_list",
    "crm:contact_list",
    "projects:project_list",
    "projects:project_board",
    "prospects:lead_list",
    "prospects:lead_board",
]
DETAILS_PER_KIND = 40
# The mixed run's specification: every section at its bound, and this many milestones
# (about 27 a page). Laid out on 2026-12-01: 600 made 86 pages, 1,000 made 101, 1,200 made
# 108, so a project's own facts (title, team, funding) cannot bring it under 100. The job
# counts the pages it rendered; fewer than `--spec-pages` fails the run's goal.
MIXED_MILESTONES = 1200
MIXED_PAGES = 100
# How long the mixed run waits for its jobs at most.
MIXED_TIMEOUT = 900


@dataclass
class Visitor:
    """One simulated person: their session cookie and the addresses they browse."""

    username: str
    cookie: str
    urls: list[str]
    results: list[tuple[int, float]] = field(default_factory=list)  # (status, seconds)
    started: list[float] = field(default_factory=list)  # time.monotonic() of each request


class Command(BaseCommand):
    help = "Serve the app with gunicorn on loopback and browse it as N people for S seconds."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--users", type=int, default=20)
        parser.add_argument("--seconds", type=int, default=60)
        parser.add_argument("--workers", type=int, default=2)
        parser.add_argument(
            "--think",
            type=float,
            default=1.0,
            help="Average seconds a person reads a page before the next click (0: flat out only).",
        )
        parser.add_argument(
            "--output", default=str(Path(settings.BASE_DIR, "docs", "benchmarks.md"))
        )
        parser.add_argument(
            "--no-mixed",
            dest="mixed",
            action="store_false",
            help="Skip the run with an export and a specification rendering in the worker.",
        )
        parser.add_argument(
            "--milestones",
            type=int,
            default=MIXED_MILESTONES,
            help="Milestones of the specification rendered in the mixed run (its length: "
            "every section is filled to its bound, the milestones make the rest).",
        )
        parser.add_argument(
            "--spec-pages",
            type=int,
            default=MIXED_PAGES,
            help="Pages the mixed run's specification must have at least: fewer fails its goal.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        people = list(User.objects.filter(username__startswith="bench-").order_by("username"))
        if not people or not Organisation.objects.exists():
            raise CommandError("No bench data here: run `make bench` on this database first.")
        visitors = [visitor_for(people[n % len(people)], seed=n) for n in range(options["users"])]
        mixed = None
        with tempfile.TemporaryDirectory() as static_root:
            server = serve(workers=options["workers"], static_root=static_root, stdout=self.stdout)
            with server as port:
                runs = []
                for think in sorted({options["think"], 0.0}, reverse=True):
                    self.stdout.write(
                        f"{len(visitors)} people browsing http://127.0.0.1:{port} "
                        f"for {options['seconds']} s, {think:g} s between pages..."
                    )
                    for visitor in visitors:
                        visitor.results, visitor.started = [], []
                    elapsed = browse(visitors, port=port, seconds=options["seconds"], think=think)
                    runs.append({**summarise(visitors, elapsed), "think": think})
                if options["mixed"]:
                    mixed = mixed_run(
                        visitors,
                        port=port,
                        env=server.env,
                        think=options["think"] or 1.0,
                        milestones=options["milestones"],
                        stdout=self.stdout,
                    )
        SessionStore().model.objects.filter(
            session_key__in=[visitor.cookie for visitor in visitors]
        ).delete()
        self.stdout.write("\n" + write_reports(Path(options["output"]), runs, mixed, options))


def write_reports(
    path: Path, runs: list[dict[str, Any]], mixed: dict[str, Any] | None, options: dict[str, Any]
) -> str:
    """Write the browsing runs to their section of `path` and the mixed run, when there was
    one, to its own: a run without it keeps the last mixed figures. Returns what was written."""
    text = report(runs, options)
    write_section(path, f"load:{connection.vendor}", text)
    if mixed:
        extra = mixed_report(
            {**mixed, "workers": options["workers"]},
            spec_pages=options.get("spec_pages", MIXED_PAGES),
        )
        write_section(path, f"load:{connection.vendor}:mixed", extra)
        text += "\n" + extra
    return text


def visitor_for(user: User, *, seed: int) -> Visitor:
    """A logged-in session for `user` and the pages they will browse, in a random order."""
    from projects.models import Project
    from prospects.models import Lead, sees_prospects

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    # The backend that loads users back from the session (the throttling one only checks).
    session[BACKEND_SESSION_KEY] = next(
        path for path in settings.AUTHENTICATION_BACKENDS if hasattr(load_backend(path), "get_user")
    )
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    rng = random.Random(seed)  # noqa: S311 - a reproducible browsing order, not a secret
    names = [name for name in LIST_PAGES if sees_prospects(user) or "prospects:" not in name]
    urls = [reverse(name) for name in names]
    details = [
        ("crm:organisation_detail", Organisation.objects.visible_to(user)),
        ("projects:project_detail", Project.objects.visible_to(user)),
    ]
    if sees_prospects(user):
        details.append(("prospects:lead_detail", Lead.objects.visible_to(user)))
    for name, queryset in details:
        # A spread of records, not only the first ones: ids drawn from the whole table.
        ids = list(queryset.order_by("pk").values_list("pk", flat=True)[::97][:DETAILS_PER_KIND])
        urls += [reverse(name, args=[pk]) for pk in ids]
    rng.shuffle(urls)
    assert session.session_key is not None  # created above
    return Visitor(username=user.username, cookie=session.session_key, urls=urls)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class serve:
    """gunicorn with production settings on a free loopback port, stopped on exit."""

    def __init__(self, *, workers: int, static_root: str, stdout: Any) -> None:
        self.workers, self.static_root, self.stdout = workers, static_root, stdout
        self.process: subprocess.Popen[bytes] | None = None
        self.env: dict[str, str] = {}

    def __enter__(self) -> int:
        port = free_port()
        self.env = env = {
            **os.environ,
            "DJANGO_DEBUG": "false",
            # The sessions were signed with this process's key: the server must share it.
            "SECRET_KEY": settings.SECRET_KEY,
            "ALLOWED_HOSTS": "127.0.0.1",
            "STATIC_ROOT": self.static_root,
            "LOG_LEVEL": "WARNING",
        }
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
            cwd=settings.BASE_DIR,
            env=env,
            check=True,
        )
        self.process = subprocess.Popen(  # noqa: S603 - as above
            [
                sys.executable,
                "-m",
                "gunicorn",
                "crm.wsgi",
                "--workers",
                str(self.workers),
                "--bind",
                f"127.0.0.1:{port}",
                "--log-level",
                "warning",
            ],
            cwd=settings.BASE_DIR,
            env=env,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise CommandError("gunicorn stopped at start; see the messages above.")
            try:
                status, _seconds = fetch(port, "/healthz", cookie="")
            except OSError:
                time.sleep(0.2)
                continue
            if status == 200:
                return port
        self.__exit__(None, None, None)
        raise CommandError("gunicorn did not answer /healthz within 30 s.")

    def __exit__(self, *exc: object) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)  # gunicorn's graceful stop
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def fetch(
    port: int, path: str, *, cookie: str, conn: http.client.HTTPConnection | None = None
) -> tuple[int, float]:
    """GET `path` as the session `cookie`; (status, seconds until the whole body is read)."""
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {
        "Host": "127.0.0.1",
        # The server is configured as behind a TLS proxy, as in production.
        "X-Forwarded-Proto": "https",
        "Cookie": f"{settings.SESSION_COOKIE_NAME}={cookie}" if cookie else "",
        "Accept-Language": "fr",
    }
    started = time.perf_counter()
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status, time.perf_counter() - started
    finally:
        if own:
            conn.close()


def browse(
    visitors: list[Visitor],
    *,
    port: int,
    seconds: int,
    think: float = 0.0,
    until: threading.Event | None = None,
) -> float:
    """Every visitor in its own thread, one request after the other until time is up (or,
    with `until`, until it is set), reading each page between 0.5 × and 1.5 × `think`
    seconds before the next."""
    stop = time.monotonic() + seconds

    def going() -> bool:
        return not until.is_set() if until is not None else time.monotonic() < stop

    def walk(visitor: Visitor, rng: random.Random) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        index = 0
        while going():
            if think and index:
                time.sleep(rng.uniform(0.5 * think, 1.5 * think))
            path = visitor.urls[index % len(visitor.urls)]
            index += 1
            visitor.started.append(time.monotonic())
            try:
                visitor.results.append(fetch(port, path, cookie=visitor.cookie, conn=conn))
            except (OSError, http.client.HTTPException):
                visitor.results.append((0, 0.0))  # a dropped connection counts as an error
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.close()

    started = time.monotonic()
    threads = [
        threading.Thread(target=walk, args=(visitor, random.Random(n)))  # noqa: S311
        for n, visitor in enumerate(visitors)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.monotonic() - started


def summarise(
    visitors: list[Visitor], elapsed: float, *, between: tuple[float, float] | None = None
) -> dict[str, Any]:
    """The run's figures; with `between`, of the requests started in that window only."""
    results = [
        result
        for visitor in visitors
        for started, result in zip(
            visitor.started or [0.0] * len(visitor.results), visitor.results, strict=True
        )
        if between is None or between[0] <= started <= between[1]
    ]
    timings = [seconds * 1000 for status, seconds in results if status == 200]
    errors = Counter(status for status, _seconds in results if status != 200)
    return {
        "users": len(visitors),
        "seconds": elapsed,
        "requests": len(results),
        "per_second": len(results) / elapsed if elapsed else 0.0,
        "median_ms": statistics.median(timings) if timings else 0.0,
        "p95_ms": p95(timings) if timings else 0.0,
        "max_ms": max(timings, default=0.0),
        "errors": dict(errors),
    }


def report(runs: list[dict[str, Any]], options: dict[str, Any]) -> str:
    """The load run's table: one row per run (people reading, then flat out)."""
    vendor = VENDORS.get(connection.vendor, connection.vendor)
    first = runs[0]
    lines = [
        f"## Load run ({vendor})",
        "",
        f"Measured {timezone.localtime():%Y-%m-%d %H:%M %Z}: gunicorn with "
        f"{options['workers']} workers, production settings, on loopback; {first['users']} "
        f"simulated people (bench users: staff and officers) browsing lists, boards, the "
        f"dashboard and record pages for {first['seconds']:.0f} s, first reading each page "
        "(the pause drawn between half and one and a half times the average), then flat out "
        "(the next request as soon as the last answer arrived: what the server can take). "
        "Time as the client measured it. Goals, for people reading: no error, p95 < 500 ms.",
        "",
        "| between pages | requests | requests/s | median (ms) | p95 (ms) | max (ms) | errors "
        "| goal |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for figures in runs:
        errors = sum(figures["errors"].values())
        by_status = ", ".join(
            f"{status or 'no answer'}: {count}"
            for status, count in sorted(figures["errors"].items())
        )
        if figures["think"]:
            pause = f"{figures['think']:g} s on average"
            goal = "✓" if not errors and figures["p95_ms"] < 500 else "✗"
        else:
            pause = "none (flat out)"
            goal = "—" if not errors else "✗ errors"
        lines.append(
            f"| {pause} | {figures['requests']:,} | {figures['per_second']:.1f} | "
            f"{figures['median_ms']:.0f} | {figures['p95_ms']:.0f} | {figures['max_ms']:.0f} | "
            f"{errors}{f' ({by_status})' if errors else ''} | {goal} |"
        )
    return "\n".join(lines) + "\n"


# The mixed scenario: browsing while the worker renders ---------------------------------------


def long_specification(*, milestones: int) -> Any:
    """The first project's specification made about a hundred pages long: every section filled
    to its bound with lines of prose, then `milestones` dated milestones."""
    from datetime import timedelta

    from projects.actions import specification_for
    from projects.models import (
        LINE_CHARACTERS,
        MAX_SECTION_LINES,
        SECTION_FIELDS,
        Milestone,
        Project,
    )

    project = Project.objects.order_by("pk").first()
    if project is None:
        raise CommandError("No project to render a specification for.")
    specification = specification_for(project)
    line = (
        "Le lieu accueillera les visiteurs venus de toute la région découvrir les corons, "
        "leurs jardins"
    )[:LINE_CHARACTERS]
    for name in SECTION_FIELDS:
        setattr(specification, name, "\n".join([line] * MAX_SECTION_LINES))
    specification.save()
    specification.milestones.all().delete()
    today = timezone.localdate()
    Milestone.objects.bulk_create(
        Milestone(
            specification=specification,
            due_date=today + timedelta(days=n),
            label=f"Jalon {n + 1} : réunion de suivi avec le porteur et l'équipe de design",
        )
        for n in range(milestones)
    )
    return specification


def mixed_run(
    visitors: list[Visitor],
    *,
    port: int,
    env: dict[str, str],
    think: float,
    milestones: int,
    stdout: Any,
) -> dict[str, Any]:
    """The people browse, reading each page, while one worker exports the whole organisation
    list and previews a long specification; the figures of the requests made meanwhile."""
    from crm import jobs
    from crm.models import Job

    staff = User.objects.get(username="bench-staff")
    specification = long_specification(milestones=milestones)
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "db_worker", "--no-startup-delay", "--no-reload"],
        cwd=settings.BASE_DIR,
        env=env,
    )
    for visitor in visitors:
        visitor.results, visitor.started = [], []
    done = threading.Event()
    elapsed: list[float] = []
    browsing = threading.Thread(
        target=lambda: elapsed.append(
            browse(visitors, port=port, seconds=0, think=think, until=done)
        )
    )
    try:
        browsing.start()
        time.sleep(2 * think)  # everyone browsing before the jobs start
        started = time.monotonic()
        queued = [
            jobs.start(
                kind="list_export",
                owner=staff,
                label="loadrun: organisations",
                params={"list": "organisations", "query": "", "language": "fr"},
                unit="lignes",
            ),
            jobs.start(
                kind="specification_preview",
                owner=staff,
                label="loadrun: specification",
                params={"project": specification.project_id, "language": "fr"},
                unit="pages",
            ),
        ]
        stdout.write(
            f"{len(visitors)} people browsing, {think:g} s between pages, while the worker "
            "exports the organisations and previews a long specification..."
        )
        deadline = started + MIXED_TIMEOUT
        while time.monotonic() < deadline:
            states = Job.objects.filter(pk__in=[job.pk for job in queued])
            if all(job.is_finished for job in states):
                break
            time.sleep(0.5)
        finished = time.monotonic()
    finally:
        done.set()
        browsing.join()
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    results = {job.kind: job for job in Job.objects.filter(pk__in=[job.pk for job in queued])}
    figures = summarise(visitors, finished - started, between=(started, finished))
    for job in results.values():
        if job.file:
            job.file.delete(save=False)
        job.delete()
    outcomes = {
        kind: {
            "status": job.status,
            "error": job.error,
            "total": job.total,
            "seconds": (job.finished_at - job.started_at).total_seconds()
            if job.finished_at and job.started_at
            else None,
        }
        for kind, job in results.items()
    }
    # What the jobs measured, as soon as they are done: the rows written, the pages rendered.
    for line in job_lines(outcomes):
        stdout.write(line)
    return {
        **figures,
        "think": think,
        "milestones": milestones,
        "measured": timezone.localtime(),
        "jobs": outcomes,
    }


def job_lines(jobs: dict[str, dict[str, Any]]) -> list[str]:
    """One line per job of the mixed run: how much it did and in how long, or why not."""

    def line(name: str, job: dict[str, Any], unit: str) -> str:
        if job.get("status") != "done":
            return f"- {name}: {job.get('status', 'not run')} {job.get('error', '')}".rstrip()
        return f"- {name}: {job['total'] or 0:,} {unit} in {job['seconds']:.1f} s"

    return [
        line("Export of the organisation list", jobs.get("list_export", {}), "rows"),
        line("Specification preview", jobs.get("specification_preview", {}), "pages"),
    ]


def mixed_report(figures: dict[str, Any], *, spec_pages: int = MIXED_PAGES) -> str:
    """The mixed run's section: the jobs, then the page times of the people meanwhile. Its
    goal holds only when both jobs finished, the specification had at least `spec_pages`
    pages, and the pages kept DESIGN §8's time with no error."""
    vendor = VENDORS.get(connection.vendor, connection.vendor)
    export = figures["jobs"].get("list_export", {})
    spec = figures["jobs"].get("specification_preview", {})

    errors = sum(figures["errors"].values())
    by_status = ", ".join(
        f"{status or 'no answer'}: {count}" for status, count in sorted(figures["errors"].items())
    )
    pages = spec.get("total") or 0
    jobs_done = export.get("status") == "done" and spec.get("status") == "done"
    goal = "✓" if jobs_done and not errors and figures["p95_ms"] < 100 else "✗"
    short = ""
    if spec.get("status") == "done" and pages < spec_pages:
        goal, short = "✗", f" (shorter than the {spec_pages} pages asked: raise `--milestones`)"
    measured = figures.get("measured") or timezone.localtime()
    export_line, spec_line = job_lines(figures["jobs"])
    return "\n".join(
        [
            f"## Load run while the worker exports and renders ({vendor})",
            "",
            f"Measured {measured:%Y-%m-%d %H:%M %Z}: gunicorn with {figures.get('workers', 2)} "
            f"workers as in the load run, {figures['users']} simulated people reading each "
            "page, while one `db_worker` beside the servers runs (one after the other, as one "
            "worker does) the Excel export of the whole organisation list and the preview of "
            "a long specification (every section at its bound and "
            f"{figures.get('milestones', 0):,} milestones). Only the requests started while a "
            "job ran count. Goal (DESIGN §8): no error, p95 < 100 ms, with both jobs done and "
            f"a specification of at least {spec_pages} pages.",
            "",
            export_line,
            spec_line + short,
            "",
            "| between pages | requests | requests/s | median (ms) | p95 (ms) | max (ms) "
            "| errors | goal |",
            "|---|---:|---:|---:|---:|---:|---:|---|",
            f"| {figures['think']:g} s on average | {figures['requests']:,} | "
            f"{figures['per_second']:.1f} | {figures['median_ms']:.0f} | "
            f"{figures['p95_ms']:.0f} | {figures['max_ms']:.0f} | "
            f"{errors}{f' ({by_status})' if errors else ''} | {goal} |",
            "",
        ]
    )
