"""`make bench`: the quality bars of DESIGN §8, measured at production-like volume.

Fills the database named by DATABASE_URL (the Makefile points it at var/bench.sqlite3, or
BENCH_DATABASE_URL for PostgreSQL, never at the working database) with generated rows, then
measures, with the goal beside each figure:

- each main page through Django's test client: median and p95 server time, query count;
- the Excel export of every organisation (100,000 rows) through the product's export view,
  beside bare openpyxl write-only writing the same values from the same query: rows per
  second, their ratio, and the peak of Python memory (tracemalloc) of each;
- the specification PDF beside bare WeasyPrint on the same HTML;
- a 10,000-row import (dry run, then apply, rolled back).

It prints the tables and writes them to docs/benchmarks.md in this database's section
(SQLite and PostgreSQL each keep their own; `manage.py loadrun` adds the load run).
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import time
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm.models import (
    ORGANISATION_EXPORT_FIELDS,
    Contact,
    Interaction,
    Organisation,
    Role,
    Territory,
    User,
)

MARKER = "bench-"
# The generated volume at scale 1 (DESIGN §8's figures); `--scale` multiplies each.
VOLUMES = [
    ("organisations", 100_000),
    ("contacts", 100_000),
    ("interactions", 500_000),
    ("projects", 10_000),
    ("leads", 20_000),
]
PAGES: list[tuple[str, str, dict[str, str]]] = [
    ("Organisations, page 1", "crm:organisation_list", {}),
    ("Organisations, page 200", "crm:organisation_list", {"page": "200"}),
    ("Organisations, search", "crm:organisation_list", {"q": "terril"}),
    (
        "Organisations, territory + sort",
        "crm:organisation_list",
        {"territory": "{territory}", "ordering": "-created_at"},
    ),
    ("Contacts, page 1", "crm:contact_list", {}),
    ("Contacts, search", "crm:contact_list", {"q": "martin"}),
    ("Contacts, silent since a year", "crm:contact_list", {"no_interaction_since": "{year_ago}"}),
    ("Organisation detail", "crm:organisation_detail", {}),
    ("Contact detail", "crm:contact_detail", {}),
    ("Projects, page 1", "projects:project_list", {}),
    (
        "Projects, phase + territory",
        "projects:project_list",
        {"phase": "concept", "territory": "{territory}"},
    ),
    ("Projects, search", "projects:project_list", {"q": "terril"}),
    ("Projects board", "projects:project_board", {}),
    ("Project detail", "projects:project_detail", {}),
    ("Dashboard", "crm:dashboard", {}),
    ("Notifications", "crm:notification_list", {}),
    ("Leads, page 1", "prospects:lead_list", {}),
    (
        "Leads, stage + territory",
        "prospects:lead_list",
        {"stage": "proposal", "territory": "{territory}"},
    ),
    ("Leads board", "prospects:lead_board", {}),
    ("Lead detail", "prospects:lead_detail", {}),
    ("Pipeline report", "prospects:pipeline_report", {}),
    ("My day", "prospects:my_day", {}),
]
WORDS = [
    "terril",
    "gîte",
    "brasserie",
    "musée",
    "cité",
    "carreau",
    "parc",
    "fosse",
    "hôtel",
    "estaminet",
    "vélo",
    "trail",
    "atelier",
    "ferme",
    "coron",
    "chevalement",
]
NAMES = [
    "Martin",
    "Lefebvre",
    "Dubois",
    "Leroy",
    "Moreau",
    "Lemaire",
    "Petit",
    "Dupont",
    "Bernard",
    "Delattre",
    "Fontaine",
    "Duhamel",
    "Caron",
    "Lambert",
    "Vasseur",
]


class Command(BaseCommand):
    help = "Generate a large data set and time the list pages (median server time)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--scale",
            type=float,
            default=1.0,
            help="Multiply every generated volume (5: 500,000 organisations and contacts...).",
        )
        for name, _base in VOLUMES:
            parser.add_argument(f"--{name}", type=int, default=None)
        parser.add_argument("--import-rows", type=int, default=10_000)
        parser.add_argument("--repeat", type=int, default=20)
        parser.add_argument(
            "--http",
            action=argparse.BooleanOptionalAction,
            default=True,
            help="Also time the pages over HTTP through gunicorn (one sync worker).",
        )
        parser.add_argument(
            "--pages-only",
            action="store_true",
            help="Time the pages only (not the export, the PDF, the import).",
        )
        parser.add_argument(
            "--output", default=str(Path(settings.BASE_DIR, "docs", "benchmarks.md"))
        )

    def handle(self, *args: Any, **options: Any) -> None:
        for name, base in VOLUMES:
            if options[name] is None:
                options[name] = round(base * options["scale"])
        user = self._bench_user()
        if Organisation.objects.exclude(name__startswith=MARKER).exists():
            raise CommandError(
                "This database holds real data; run the benchmark on its own database "
                "(make bench uses var/bench.sqlite3)."
            )
        self._fill(user, options["organisations"], options["contacts"], options["interactions"])
        self._fill_projects(user, options["projects"])
        self._fill_leads(user, options["leads"])
        self._settle()
        targets = self._targets()
        load = [os.getloadavg()[0]]
        rows = self._measure(user, options["repeat"], targets)
        load.append(os.getloadavg()[0])
        http = self._measure_http(user, options["repeat"], targets) if options["http"] else {}
        load.append(os.getloadavg()[0])
        options["load"] = load
        exported = pdf = imported = None
        if not options["pages_only"]:
            exported = self._measure_export(user)
            pdf = self._measure_specification_pdf(user, repeat=max(3, options["repeat"] // 4))
            imported = self._measure_import(user, rows=options["import_rows"])
        self._report(rows, options, http=http, exported=exported, pdf=pdf, imported=imported)

    # Data -------------------------------------------------------------------------------------

    def _bench_user(self) -> User:
        from django.contrib.auth.models import Group

        user, created = User.objects.get_or_create(username="bench-staff")
        if created:
            user.set_unusable_password()
            user.save()
            user.groups.add(Group.objects.get(name=Role.STAFF))
        return user

    def _fill(self, user: User, organisations: int, contacts: int, interactions: int) -> None:
        rng = random.Random(42)  # noqa: S311 - reproducible fake data
        territories = [
            Territory.objects.get_or_create(slug=f"bench-{n}", defaults={"name": f"Bench {n}"})[0]
            for n in range(8)
        ]
        now = timezone.now()
        started = time.perf_counter()
        with transaction.atomic():
            missing = organisations - Organisation.objects.count()
            batch: list[Organisation] = []
            for n in range(max(0, missing)):
                organisation = Organisation(
                    name=f"{MARKER}{rng.choice(WORDS)} {rng.choice(WORDS)} {n}",
                    kind=rng.choice(Organisation.Kind.values),
                    sector=rng.choice(Organisation.Sector.values),
                    city=rng.choice(["Lens", "Liévin", "Arras", "Douai", "Béthune", "Oignies"]),
                    territory=rng.choice(territories),
                )
                organisation.refresh_search_text()
                batch.append(organisation)
            Organisation.objects.bulk_create(batch, batch_size=5000)
            org_ids = list(Organisation.objects.values_list("pk", flat=True))

            missing = contacts - Contact.objects.count()
            contact_batch: list[Contact] = []
            for n in range(max(0, missing)):
                contact = Contact(
                    organisation_id=rng.choice(org_ids),
                    first_name=rng.choice(["Jeanne", "Paul", "Inès", "Hugo", "Léa", "Marc"]),
                    last_name=f"{rng.choice(NAMES)}{n}",
                    email=f"bench{n}@example.org",
                    last_interaction_at=now - timedelta(days=rng.randint(0, 2000)),
                )
                contact.refresh_search_text()
                contact_batch.append(contact)
            Contact.objects.bulk_create(contact_batch, batch_size=5000)
            contact_pairs = list(Contact.objects.values_list("pk", "organisation_id"))

            missing = interactions - Interaction.objects.count()
            interaction_batch: list[Interaction] = []
            for _n in range(max(0, missing)):
                contact_id, organisation_id = rng.choice(contact_pairs)
                interaction_batch.append(
                    Interaction(
                        kind=rng.choice(Interaction.Kind.values),
                        occurred_at=now - timedelta(minutes=rng.randint(0, 3_000_000)),
                        summary="Échange de suivi.",
                        author=user,
                        organisation_id=organisation_id,
                        contact_id=contact_id,
                    )
                )
                if len(interaction_batch) == 20_000:
                    Interaction.objects.bulk_create(interaction_batch, batch_size=5000)
                    interaction_batch = []
            Interaction.objects.bulk_create(interaction_batch, batch_size=5000)
        self.stdout.write(f"Data ready in {time.perf_counter() - started:.1f} s")

    def _fill_projects(self, user: User, count: int) -> None:
        from projects.models import WORKING_STEPS, Project, ProjectTransition, Step

        missing = count - Project.objects.count()
        if missing <= 0:
            return
        rng = random.Random(7)  # noqa: S311 - reproducible fake data
        org_ids = list(Organisation.objects.values_list("pk", flat=True)[:20_000])
        territory_ids = list(
            Territory.objects.filter(slug__startswith="bench-").values_list("pk", flat=True)
        )
        states = [Step.INTAKE, *WORKING_STEPS, Step.DELIVERED, Step.SUSPENDED]
        now = timezone.now()
        started = Project.objects.count()
        with transaction.atomic():
            projects = []
            for n in range(started, started + missing):
                project = Project(
                    reference=f"DS-BENCH-{n:06d}",
                    title=f"{MARKER}{rng.choice(WORDS)} {rng.choice(WORDS)} {n}",
                    holder_id=rng.choice(org_ids),
                    territory_id=rng.choice(territory_ids),
                    need="Projet généré pour la mesure.",
                    state=rng.choice(states),
                    target_date=(now + timedelta(days=rng.randint(-200, 400))).date(),
                )
                project.search_text = f"{project.reference} {project.title}".lower()
                projects.append(project)
            Project.objects.bulk_create(projects, batch_size=2000)
            logs = [
                ProjectTransition(
                    project_id=pk,
                    name="advance",
                    source="listen",
                    target="impulse",
                    by=user,
                    at=now - timedelta(days=rng.randint(1, 900)),
                )
                for pk in Project.objects.values_list("pk", flat=True)
                for _ in range(3)
            ]
            ProjectTransition.objects.bulk_create(logs, batch_size=5000)

    def _fill_leads(self, user: User, count: int) -> None:
        """Leads over every stage, market and source, owned by five officers and the bench
        staff member, a tenth of them confidential, each with three rows of log."""
        from django.contrib.auth.models import Group

        from crm.models import fold
        from prospects.models import Lead, LeadTransition, Stage

        missing = count - Lead.objects.count()
        if missing <= 0:
            return
        rng = random.Random(11)  # noqa: S311 - reproducible fake data
        officers = []
        for n in range(5):
            officer, created = User.objects.get_or_create(username=f"bench-officer-{n}")
            if created:
                officer.set_unusable_password()
                officer.save()
                officer.groups.add(Group.objects.get(name=Role.OFFICER))
            officers.append(officer)
        owners = [*officers, user]
        org_ids = list(Organisation.objects.values_list("pk", "name")[:20_000])
        territory_ids = list(
            Territory.objects.filter(slug__startswith="bench-").values_list("pk", flat=True)
        )
        now = timezone.now()
        started = Lead.objects.count()
        with transaction.atomic():
            leads = []
            for n in range(started, started + missing):
                organisation_id, organisation_name = rng.choice(org_ids)
                title = f"{MARKER}{rng.choice(WORDS)} {rng.choice(WORDS)} {n}"
                leads.append(
                    Lead(
                        reference=f"PI-BENCH-{n:06d}",
                        title=title,
                        organisation_id=organisation_id,
                        owner=rng.choice(owners),
                        sector=rng.choice(Lead.Sector.values),
                        territory_id=rng.choice(territory_ids),
                        source=rng.choice(Lead.Source.values),
                        origin_market=rng.choice(Lead.Market.values),
                        confidential=rng.random() < 0.1,
                        stage=rng.choice(Stage.values),
                        estimated_investment=rng.randint(1, 400) * 50_000,
                        estimated_jobs=rng.randint(0, 120),
                        next_action="Relancer",
                        next_action_due=(now + timedelta(days=rng.randint(-60, 120))).date(),
                        last_activity_at=now - timedelta(days=rng.randint(0, 400)),
                        created_at=now - timedelta(days=rng.randint(0, 900)),
                        search_text=fold(f"{title} {organisation_name}"),
                    )
                )
            Lead.objects.bulk_create(leads, batch_size=2000)
            logs = [
                LeadTransition(
                    lead_id=pk,
                    name="advance",
                    source=Stage.IDENTIFIED,
                    target=Stage.CONTACTED,
                    by=user,
                    at=now - timedelta(days=rng.randint(1, 900)),
                )
                for pk in Lead.objects.values_list("pk", flat=True)
                for _ in range(3)
            ]
            LeadTransition.objects.bulk_create(logs, batch_size=5000)

    def _settle(self) -> None:
        """What a live database has done after a bulk load, before people use it: statistics
        (ANALYZE) and, on PostgreSQL, the visibility map that lets index-only scans skip the
        table (VACUUM; autovacuum does both within minutes of a large insert). VACUUM cannot
        run in a transaction: inside one (the bench's own test), statistics only."""
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql" and not connection.in_atomic_block:
                tables = connection.introspection.django_table_names(only_existing=True)
                cursor.execute(
                    f"VACUUM (ANALYZE) {', '.join(map(connection.ops.quote_name, tables))}"
                )
            else:
                cursor.execute("ANALYZE")

    # Measures ---------------------------------------------------------------------------------

    def _targets(self) -> list[tuple[str, str, dict[str, str]]]:
        """(page, path, query) for every page of PAGES, on records of the generated data: the
        organisation with the most contacts' exchanges among the first, one of its contacts,
        the first project and lead."""
        from projects.models import Project
        from prospects.models import Lead

        busiest = Interaction.objects.values_list("organisation", flat=True).order_by().first()
        records = {
            "crm:organisation_detail": busiest,
            "crm:contact_detail": (
                Interaction.objects.filter(organisation=busiest)
                .values_list("contact", flat=True)
                .order_by()
                .first()
            ),
            "projects:project_detail": Project.objects.order_by("pk")
            .values_list("pk", flat=True)
            .first(),
            "prospects:lead_detail": Lead.objects.order_by("pk")
            .values_list("pk", flat=True)
            .first(),
        }
        replacements = {
            "territory": str(
                Territory.objects.filter(slug__startswith="bench-")
                .values_list("pk", flat=True)
                .first()
            ),
            "year_ago": (timezone.localdate() - timedelta(days=365)).isoformat(),
        }
        targets = []
        for label, url_name, params in PAGES:
            args = [records[url_name]] if url_name in records else []
            query = {key: value.format(**replacements) for key, value in params.items()}
            targets.append((label, reverse(url_name, args=args), query))
        return targets

    def _measure(
        self, user: User, repeat: int, targets: list[tuple[str, str, dict[str, str]]]
    ) -> list[tuple[str, float, float, int]]:
        """(page, median ms, p95 ms, queries) for every page, through the test client."""
        client = Client(SERVER_NAME="localhost")
        client.force_login(user)
        rows = []
        for label, url, query in targets:
            client.get(url, query)  # warm caches
            timings = []
            for _ in range(repeat):
                with CaptureQueriesContext(connection) as queries:
                    started = time.perf_counter()
                    response = client.get(url, query)
                    timings.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    raise CommandError(f"{label}: HTTP {response.status_code}")
            rows.append((label, statistics.median(timings), p95(timings), len(queries)))
            self.stdout.write(
                f"{label:<36} median {rows[-1][1]:7.1f} ms  p95 {rows[-1][2]:7.1f} ms"
            )
        return rows

    def _measure_http(
        self, user: User, repeat: int, targets: list[tuple[str, str, dict[str, str]]]
    ) -> dict[str, tuple[float, float]]:
        """{page: (median ms, p95 ms)} over HTTP: gunicorn with one sync worker and
        production settings on loopback, on this database, asked by one client on a
        keep-alive connection; time until the whole body is read, as a browser waits.
        Empty when another process cannot see this data (SQLite in memory, a transaction
        not committed)."""
        import http.client
        import tempfile
        from urllib.parse import urlencode

        from prospects.management.commands.loadrun import fetch, serve

        url = database_url(connection.settings_dict)
        if url is None or connection.in_atomic_block:
            # SQLite in memory, or rows not committed yet (the bench's own tests): the
            # server would not see the data.
            self.stdout.write("HTTP series skipped: another process cannot see this data.")
            return {}
        cookie = session_for(user)
        results: dict[str, tuple[float, float]] = {}
        saved = os.environ.get("DATABASE_URL")
        os.environ["DATABASE_URL"] = url  # the server reads the same database as this process
        try:
            with (
                tempfile.TemporaryDirectory() as static_root,
                serve(workers=1, static_root=static_root, stdout=self.stdout) as port,
            ):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                for label, path, query in targets:
                    full = f"{path}?{urlencode(query)}" if query else path
                    fetch(port, full, cookie=cookie, conn=conn)  # warm the worker
                    timings = []
                    for _ in range(repeat):
                        status, seconds = fetch(port, full, cookie=cookie, conn=conn)
                        if status != 200:
                            raise CommandError(f"{label} over HTTP: {status}")
                        timings.append(seconds * 1000)
                    results[label] = (statistics.median(timings), p95(timings))
                    self.stdout.write(
                        f"{label:<36} HTTP median {results[label][0]:7.1f} ms  "
                        f"p95 {results[label][1]:7.1f} ms"
                    )
                conn.close()
        finally:
            if saved is None:
                os.environ.pop("DATABASE_URL", None)
            else:
                os.environ["DATABASE_URL"] = saved
            SessionStore().model.objects.filter(session_key=cookie).delete()
        return results

    def _measure_export(self, user: User) -> dict[str, float]:
        """Every organisation through the export view a person uses ("Exporter vers Excel"
        on the organisation list), beside bare openpyxl write-only writing the same values,
        fetched by the same query, to a temporary file. Time first, then memory in a second
        run under tracemalloc (which slows what it traces)."""
        import tempfile
        import tracemalloc

        from django.test import override_settings
        from openpyxl import Workbook

        client = Client(SERVER_NAME="localhost")
        client.force_login(user)
        url = reverse("crm:organisation_export")
        fields = (*ORGANISATION_EXPORT_FIELDS, "contact_count")

        def ours() -> int:
            # Above EXPORT_SYNC_MAX_ROWS a person gets a job that writes the same file with
            # the same writer; lifted here, the view streams it and the writer is timed alone.
            with override_settings(EXPORT_SYNC_MAX_ROWS=rows + 1):
                response = client.get(url)
            if response.status_code != 200:
                raise CommandError(f"Organisation export: HTTP {response.status_code}")
            # Reading the stream to its end closes the response, as a WSGI server would;
            # closing it again would fire request_finished a second time, which closes the
            # database connection in the middle of the run.
            content: Iterable[bytes] = response.streaming_content  # type: ignore[attr-defined]  # an export streams
            return sum(len(chunk) for chunk in content)

        def bare() -> int:
            queryset = Organisation.objects.for_export().values_list(*fields)
            book = Workbook(write_only=True)
            sheet = book.create_sheet()
            sheet.append(list(fields))
            for row in queryset.iterator(chunk_size=2000):
                sheet.append(
                    [
                        value.replace(tzinfo=None) if hasattr(value, "tzinfo") else value
                        for value in row
                    ]
                )
            with tempfile.TemporaryFile() as out:
                book.save(out)
                return out.tell()

        rows = Organisation.objects.count()
        result: dict[str, float] = {"rows": rows}
        for name, run in (("ours", ours), ("bare", bare)):
            started = time.perf_counter()
            run()
            elapsed = time.perf_counter() - started
            # Stopped whatever happens: left on, it would slow everything after it threefold.
            tracemalloc.start()
            try:
                run()
                _current, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            result[f"{name}_s"] = elapsed
            result[f"{name}_rows_per_s"] = rows / elapsed
            result[f"{name}_peak_mb"] = peak / 1024 / 1024
        result["ratio"] = result["ours_rows_per_s"] / result["bare_rows_per_s"]
        self.stdout.write(
            f"Export of {rows:,} rows: {result['ours_rows_per_s']:,.0f} rows/s vs bare openpyxl "
            f"{result['bare_rows_per_s']:,.0f} rows/s (x{result['ratio']:.2f}), "
            f"peak {result['ours_peak_mb']:.0f} MB"
        )
        return result

    def _measure_specification_pdf(self, user: User, *, repeat: int) -> dict[str, float]:
        """A typical specification (about ten pages, five images) rendered by the product,
        beside bare WeasyPrint on the same final HTML with every resource preloaded in
        memory (the least any renderer has to do). Runs in a rolled-back transaction, files
        in memory: the bench database and media stay as they were."""
        from django.test import override_settings
        from django.utils import translation
        from weasyprint import HTML
        from weasyprint.urls import URLFetcher, URLFetcherResponse

        from crm.pdf import DOCUMENT_OPTIONS, INTERNAL_BASE_URL, ProjectURLFetcher
        from projects.pdf import render_specification, specification_html
        from projects.pdf import specification_snapshot as snapshot

        class Recording(ProjectURLFetcher):
            seen: dict[str, tuple[bytes, str]] = {}

            def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
                response = super().fetch(url, headers)
                Recording.seen[url] = (response.read(), response.content_type)
                data, content_type = Recording.seen[url]
                return URLFetcherResponse(url, data, {"Content-Type": content_type})

        # WeasyPrint ships no types (as `crm.pdf`'s fetcher, which Recording subclasses).
        class Preloaded(URLFetcher):
            def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
                data, content_type = Recording.seen[url]
                return URLFetcherResponse(url, data, {"Content-Type": content_type})

        memory = {
            **settings.STORAGES,
            "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
        }
        with override_settings(STORAGES=memory), transaction.atomic():
            specification = self._typical_specification(user)
            content = snapshot(specification)
            with translation.override("fr"):
                html = specification_html(content, number=1, draft=True)
            HTML(string=html, base_url=INTERNAL_BASE_URL, url_fetcher=Recording()).write_pdf(
                **DOCUMENT_OPTIONS
            )
            ours, bare, pages, size = [], [], 0, 0
            for _ in range(repeat):
                started = time.perf_counter()
                rendered = render_specification(
                    snapshot(specification), number=1, draft=True, language="fr"
                )
                ours.append(time.perf_counter() - started)
                started = time.perf_counter()
                HTML(string=html, base_url=INTERNAL_BASE_URL, url_fetcher=Preloaded()).write_pdf(
                    **DOCUMENT_OPTIONS
                )
                bare.append(time.perf_counter() - started)
                pages, size = rendered.page_count, len(rendered.data)
            transaction.set_rollback(True)
        result = {
            "ours_ms": statistics.median(ours) * 1000,
            "bare_ms": statistics.median(bare) * 1000,
            "pages": pages,
            "size_kb": size / 1024,
            "images": len(content["images"]),
        }
        result["ratio"] = result["ours_ms"] / result["bare_ms"]
        self.stdout.write(
            f"Specification PDF: {result['ours_ms']:.0f} ms vs bare WeasyPrint "
            f"{result['bare_ms']:.0f} ms (x{result['ratio']:.2f}), {pages} pages"
        )
        return result

    def _measure_import(self, user: User, *, rows: int) -> dict[str, float]:
        """A workbook of `rows` new organisations: the dry run, then the apply, timed; the
        apply runs in a transaction rolled back afterwards, so the bench data stays as it was."""
        import tempfile

        from openpyxl import Workbook

        from crm import imports

        territory = Territory.objects.filter(slug__startswith="bench-").first()
        assert territory is not None, "the bench data set has its territories"
        book = Workbook(write_only=True)
        sheet = book.create_sheet()
        sheet.append(["Nom", "Type", "Commune", "Territoire", "E-mail"])
        for n in range(rows):
            sheet.append(
                [f"Import {n}", "Entreprise", "Lens", territory.name, f"import{n}@example.org"]
            )
        with tempfile.TemporaryFile() as stored:
            book.save(stored)
            mapping = {0: "name", 1: "kind", 2: "city", 3: "territory", 4: "email"}
            stored.seek(0)
            started = time.perf_counter()
            plan = imports.plan_import("organisations", stored, mapping, by=user)
            dry_run = time.perf_counter() - started
            stored.seek(0)
            with transaction.atomic():
                started = time.perf_counter()
                imports.apply_import("organisations", stored, mapping, by=user)
                apply = time.perf_counter() - started
                transaction.set_rollback(True)
        self.stdout.write(f"Import of {rows:,} rows: dry run {dry_run:.1f} s, apply {apply:.1f} s")
        return {"rows": rows, "created": plan.created, "dry_run_s": dry_run, "apply_s": apply}

    def _typical_specification(self, user: User) -> Any:
        """About ten pages of text, six milestones, five approved photos on a bench project."""
        import io

        from django.core.files.base import ContentFile
        from PIL import Image

        from projects.actions import specification_for
        from projects.models import (
            SECTION_FIELDS,
            Deliverable,
            DeliverableVersion,
            Milestone,
            Project,
        )

        project = Project.objects.order_by("pk").first()
        if project is None:
            raise CommandError("No project to render a specification for.")
        rng = random.Random(4)  # noqa: S311 - repeatable filler text, not secrets
        for n in range(5):
            deliverable = Deliverable.objects.create(
                project=project, kind="prototype_photo", title=f"bench-photo-{n}", created_by=user
            )
            image = Image.new("RGB", (480, 320), tuple(rng.randrange(256) for _ in range(3)))
            out = io.BytesIO()
            image.save(out, "JPEG", quality=85)
            version = DeliverableVersion(
                deliverable=deliverable,
                number=1,
                original_name=f"photo-{n}.jpg",
                content_type="image/jpeg",
                size=out.tell(),
                uploaded_by=user,
                review_state=DeliverableVersion.Review.APPROVED,
            )
            version.file.save(f"photo-{n}.jpg", ContentFile(out.getvalue()), save=False)
            version.thumbnail.save(f"thumb-{n}.jpg", ContentFile(out.getvalue()), save=False)
            version.save()
        specification = specification_for(project)
        for name in SECTION_FIELDS:
            paragraphs = [
                " ".join(rng.choice(WORDS) for _ in range(90)).capitalize() + "." for _ in range(4)
            ]
            setattr(specification, name, "\n\n".join(paragraphs))
        specification.save()
        for n in range(6):
            Milestone.objects.create(
                specification=specification,
                due_date=timezone.localdate() + timedelta(days=45 * n),
                label=f"Jalon {n + 1}",
            )
        return specification

    def _report(
        self,
        rows: list[tuple[str, float, float, int]],
        options: dict[str, Any],
        *,
        http: dict[str, tuple[float, float]] | None = None,
        exported: dict[str, float] | None = None,
        pdf: dict[str, float] | None = None,
        imported: dict[str, float] | None = None,
    ) -> None:
        import platform

        from projects.models import Project
        from prospects.models import Lead

        counts = (
            f"{Organisation.objects.count():,} organisations, {Contact.objects.count():,} "
            f"contacts, {Interaction.objects.count():,} interactions, "
            f"{Project.objects.count():,} projects, {Lead.objects.count():,} leads"
        )
        vendor = VENDORS.get(connection.vendor, connection.vendor)
        scale = options["scale"]
        key = section_key(connection.vendor, scale)
        output = Path(options["output"])
        # At another scale, each page beside its figure at scale 1, if that was measured.
        baseline = read_pages(output, section_key(connection.vendor, 1)) if scale != 1 else {}
        http = http or {}
        heading = vendor if scale == 1 else f"{vendor}, {scale:g}× volume"
        lines = [
            f"## {heading}",
            "",
            f"Measured {timezone.localtime():%Y-%m-%d %H:%M %Z} on {platform.machine()} "
            f"({os.cpu_count()} cores), {platform.python_implementation()} "
            f"{platform.python_version()}, {vendor} {_server_version()} — {counts} "
            f"(`--scale {scale:g}`).",
            "",
            "### Pages",
            "",
            f"Server time through Django's test client, {options['repeat']} requests each, "
            "logged in as a staff member (who sees everything: the largest lists)"
            + (
                "; then the same pages over HTTP: gunicorn with one sync worker and "
                "production settings on loopback, one client on a keep-alive connection, "
                "time until the whole answer is read"
                if http
                else ""
            )
            + ". Goals (DESIGN §8): < 100 ms median server time"
            + (", p95 < 100 ms over HTTP" if http else "")
            + (", less than 1.5× the figure at scale 1" if baseline else "")
            + ".",
            "",
            # Other work on the machine stretches every figure: say how busy it was.
            "Load average (1 min) while the pages were timed: "
            + " → ".join(f"{value:.1f}" for value in options.get("load", []))
            + f" on {os.cpu_count()} cores.",
            "",
        ]
        header = ["page", "median (ms)", "p95 (ms)", "queries"]
        if http:
            header += ["HTTP median (ms)", "HTTP p95 (ms)"]
        if baseline:
            header += ["× scale 1 (median)"]
        header += ["goal"]
        lines += [
            "| " + " | ".join(header) + " |",
            "|---|" + "---:|" * (len(header) - 2) + "---|",
        ]
        for label, median, worst, queries in rows:
            cells = [label, f"{median:.1f}", f"{worst:.1f}", str(queries)]
            misses = [] if median < 100 else ["median over 100 ms"]
            if http:
                over_http = http.get(label)
                cells += [f"{over_http[0]:.1f}", f"{over_http[1]:.1f}"] if over_http else ["—"] * 2
                if over_http and over_http[1] >= 100:
                    misses.append("HTTP p95 over 100 ms")
            if baseline:
                growth = page_growth(baseline.get(label, {}), median, http.get(label))
                cells.append(f"{growth:.2f}" if growth else "—")
                if growth and growth >= 1.5:
                    misses.append("grows 1.5× or more")
            cells.append("✓" if not misses else "✗ " + ", ".join(misses))
            lines.append("| " + " | ".join(cells) + " |")
        if exported:
            ratio_ok = "✓" if exported["ratio"] >= 0.7 else "✗ under 0.7"
            memory_ok = "✓" if exported["ours_peak_mb"] < 200 else "✗ over 200 MB"
            lines += [
                "",
                "### Excel export",
                "",
                f"Every organisation ({exported['rows']:,.0f} rows, 13 columns) through the "
                "export view a person uses (synchronous for the measure: above "
                "EXPORT_SYNC_MAX_ROWS a background job runs the same writer), beside bare "
                "openpyxl write-only writing the same "
                "values fetched by the same query. Peak memory is the peak of Python "
                "allocations during the export (tracemalloc). Goals: ≥ 0.7 of bare openpyxl's "
                "speed, < 200 MB (DESIGN §8).",
                "",
                "| | rows/s | time (s) | peak memory (MB) |",
                "|---|---:|---:|---:|",
                f"| Carreau | {exported['ours_rows_per_s']:,.0f} | {exported['ours_s']:.1f} | "
                f"{exported['ours_peak_mb']:.1f} |",
                f"| bare openpyxl | {exported['bare_rows_per_s']:,.0f} | "
                f"{exported['bare_s']:.1f} | {exported['bare_peak_mb']:.1f} |",
                "",
                f"Ratio {exported['ratio']:.2f} {ratio_ok}; peak "
                f"{exported['ours_peak_mb']:.1f} MB {memory_ok}.",
            ]
        if pdf:
            verdict = "✓" if pdf["ratio"] <= 1.5 else "✗ over 1.5×"
            lines += [
                "",
                "### Specification PDF",
                "",
                f"A typical specification: {pdf['pages']:.0f} pages, {pdf['images']:.0f} images, "
                f"{pdf['size_kb']:.0f} KB. Carreau's rendering (snapshot, template, checked "
                "fetcher) beside bare WeasyPrint on the same final HTML with every resource "
                "preloaded in memory; median of interleaved runs. Goal: ratio ≤ 1.5 (DESIGN §8).",
                "",
                "| Carreau (ms) | bare WeasyPrint (ms) | ratio | goal |",
                "|---:|---:|---:|---|",
                f"| {pdf['ours_ms']:.0f} | {pdf['bare_ms']:.0f} | {pdf['ratio']:.2f} | {verdict} |",
            ]
        if imported:
            total = imported["dry_run_s"] + imported["apply_s"]
            verdict = "✓" if total < 30 else "✗ over 30 s"
            lines += [
                "",
                "### Excel import",
                "",
                f"A workbook of {imported['rows']:,.0f} new organisations: the dry run, then the "
                "apply with its audit entries (in a transaction rolled back afterwards). Goal: "
                "under 30 s in all.",
                "",
                "| rows | dry run (s) | apply (s) | total (s) | goal |",
                "|---:|---:|---:|---:|---|",
                f"| {imported['rows']:,.0f} | {imported['dry_run_s']:.1f} | "
                f"{imported['apply_s']:.1f} | {total:.1f} | {verdict} |",
            ]
        if options["pages_only"]:
            # The export, PDF and import were not measured this time: keep the last ones.
            kept = earlier_measures(output, key)
            if kept:
                lines += ["", kept.rstrip("\n")]
        text = "\n".join(lines) + "\n"
        write_section(output, key, text)
        self.stdout.write("\n" + text)


VENDORS = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
TITLE = """# Benchmarks

Written by `make bench` (and `manage.py loadrun` for the load run) on the database each
section names; rerun them to refresh a section, the others stay. The goals are DESIGN §8's.
"""


def p95(timings: list[float]) -> float:
    """The 95th percentile (nearest rank on the sorted values; the maximum below 20 values)."""
    ordered = sorted(timings)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def section_key(vendor: str, scale: float) -> str:
    """The benchmarks file's section for a database and a scale: `bench:postgresql`, then
    `bench:postgresql:5x`."""
    return f"bench:{vendor}" if scale == 1 else f"bench:{vendor}:{scale:g}x"


def read_pages(path: Path, key: str) -> dict[str, dict[str, float]]:
    """The pages table of section `key` of the benchmarks file: {page: {column: value}}."""
    if not path.exists():
        return {}
    text = path.read_text(encoding="utf-8")
    start, end = f"<!-- {key} -->", f"<!-- /{key} -->"
    if start not in text or end not in text:
        return {}
    section = text.split(start, 1)[1].split(end, 1)[0]
    if "### Pages" not in section:
        return {}
    table = section.split("### Pages", 1)[1].split("###", 1)[0]
    rows = [line.strip().strip("|").split("|") for line in table.splitlines() if line[:2] == "| "]
    if not rows:
        return {}
    header = [cell.strip() for cell in rows[0]]
    pages: dict[str, dict[str, float]] = {}
    for row in rows[1:]:
        cells = [cell.strip() for cell in row]
        values = {}
        for name, cell in zip(header[1:], cells[1:], strict=False):
            try:
                values[name] = float(cell.replace(",", ""))
            except ValueError:
                continue
        pages[cells[0]] = values
    return pages


def earlier_measures(path: Path, key: str) -> str:
    """What section `key` of the benchmarks file holds after its pages table (the export,
    the PDF, the import), marked as from an earlier run; empty when there is none."""
    if not path.exists():
        return ""
    text = path.read_text(encoding="utf-8")
    start, end = f"<!-- {key} -->", f"<!-- /{key} -->"
    if start not in text or end not in text:
        return ""
    section = text.split(start, 1)[1].split(end, 1)[0]
    if "### Excel export" not in section:
        return ""
    rest = section.split("### Excel export", 1)[1]
    measured = (
        section.split("Measured ", 1)[1].split(" on ", 1)[0] if "Measured " in section else ""
    )
    note = f"(From the run of {measured}: `--pages-only` left them as they were.)\n\n"
    return f"### Excel export\n\n{note if measured else ''}{rest.lstrip()}"


def page_growth(
    before: dict[str, float], median: float, over_http: tuple[float, float] | None
) -> float | None:
    """How many times its figure at scale 1 a page takes now: the HTTP median where both
    runs have one (what a person waits for), else the server time's median."""
    if over_http and before.get("HTTP median (ms)"):
        return over_http[0] / before["HTTP median (ms)"]
    if before.get("median (ms)"):
        return median / before["median (ms)"]
    return None


def database_url(settings_dict: dict[str, Any]) -> str | None:
    """A DATABASE_URL that opens, in another process, the database this connection uses
    (the test database during tests); None for SQLite in memory."""
    from urllib.parse import quote

    name = str(settings_dict["NAME"])
    if settings_dict["ENGINE"].endswith("sqlite3"):
        if name == ":memory:" or name.startswith("file:memorydb"):
            return None
        return f"sqlite:///{name}"
    if settings_dict["ENGINE"].endswith("postgresql"):
        credentials = quote(str(settings_dict["USER"] or ""), safe="")
        if settings_dict["PASSWORD"]:
            credentials += ":" + quote(str(settings_dict["PASSWORD"]), safe="")
        host = settings_dict["HOST"] or "localhost"
        port = f":{settings_dict['PORT']}" if settings_dict["PORT"] else ""
        return f"postgres://{credentials}@{host}{port}/{quote(name, safe='')}"
    return None


def session_for(user: User) -> str:
    """A session key logged in as `user`, created in the database (no password involved)."""
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        load_backend,
    )

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = next(
        path for path in settings.AUTHENTICATION_BACKENDS if hasattr(load_backend(path), "get_user")
    )
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    assert session.session_key is not None  # create() saves the session under a new key
    return session.session_key


def _server_version() -> str:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SHOW server_version")
        else:
            cursor.execute("SELECT sqlite_version()")
        return str(cursor.fetchone()[0]).split(" ")[0]


def write_section(path: Path, key: str, text: str) -> None:
    """Replace the section `key` of the benchmarks file (or add it), keeping the others."""
    start, end = f"<!-- {key} -->", f"<!-- /{key} -->"
    block = f"{start}\n{text}{end}\n"
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    if not current.startswith("# Benchmarks") or "<!-- " not in current:
        current = TITLE  # a file from before the sections: start afresh
    if start in current and end in current:
        before, rest = current.split(start, 1)
        after = rest.split(end, 1)[1].lstrip("\n")
        current = f"{before}{block}\n{after}" if after else f"{before}{block}"
    else:
        current = f"{current.rstrip()}\n\n{block}"
    path.write_text(current, encoding="utf-8")
