"""The benchmark command runs end to end on a tiny data set and refuses real data."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from prospects.management.commands.bench import database_url, p95, write_section
from tests.factories import OrganisationFactory

pytestmark = pytest.mark.django_db


def test_bench_fills_measures_and_writes_the_table(tmp_path: Path) -> None:
    output = tmp_path / "benchmarks.md"

    call_command(
        "bench",
        organisations=5,
        contacts=8,
        interactions=20,
        projects=6,
        leads=7,
        import_rows=30,
        repeat=1,
        output=str(output),
        stdout=io.StringIO(),
    )

    table = output.read_text()
    assert table.startswith("# Benchmarks")
    assert f"<!-- bench:{connection.vendor} -->" in table
    assert "5 organisations, 8 contacts, 20 interactions, 6 projects, 7 leads" in table
    assert "| page | median (ms) | p95 (ms) | queries | goal |" in table
    for page in [
        "Organisations, page 1",
        "Contacts, search",
        "Projects board",
        "Dashboard",
        "Notifications",
        "Leads board",
        "Pipeline report",
        "My day",
    ]:
        assert f"| {page} |" in table
    assert "### Specification PDF" in table
    assert "### Excel import" in table
    assert "5 images" in table
    # The export ran through the product's view, beside bare openpyxl, with both goals.
    assert "Every organisation (5 rows, 13 columns)" in table
    assert re.search(r"\| Carreau \| [\d,]+ \| [\d.]+ \| [\d.]+ \|", table)
    assert re.search(r"Ratio \d+\.\d\d (✓|✗ under 0\.7); peak [\d.]+ MB (✓|✗)", table)


def test_a_rerun_replaces_only_its_own_section(tmp_path: Path) -> None:
    output = tmp_path / "benchmarks.md"
    write_section(output, "bench:postgresql", "## PostgreSQL\n\nold figures\n")
    write_section(output, "load:postgresql", "## Load run\n\nload figures\n")
    write_section(output, "bench:postgresql", "## PostgreSQL\n\nnew figures\n")
    write_section(output, "bench:sqlite", "## SQLite\n\nsqlite figures\n")

    text = output.read_text()
    assert "old figures" not in text
    assert text.count("new figures") == 1
    assert text.index("new figures") < text.index("load figures") < text.index("sqlite figures")


def test_p95_is_the_nearest_rank() -> None:
    assert p95([5.0]) == 5.0
    assert p95([float(n) for n in range(1, 21)]) == 19.0
    assert p95([float(n) for n in range(100, 0, -1)]) == 95.0


def test_bench_refuses_a_database_with_real_data(tmp_path: Path) -> None:
    OrganisationFactory(name="Office de tourisme de Lens-Liévin")

    with pytest.raises(CommandError, match="real data"):
        call_command("bench", organisations=1, output=str(tmp_path / "b.md"))


def _pages_row(table: str, page: str) -> list[str]:
    line = next(line for line in table.splitlines() if line.startswith(f"| {page} |"))
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def test_the_scale_multiplies_every_volume_and_has_its_own_section(tmp_path: Path) -> None:
    output = tmp_path / "benchmarks.md"
    # Figures at scale 1, as an earlier run left them.
    write_section(
        output,
        f"bench:{connection.vendor}",
        "## Earlier\n\n### Pages\n\n| page | median (ms) | p95 (ms) | queries | goal |\n"
        "|---|---:|---:|---:|---|\n| Organisations, page 1 | 0.001 | 0.001 | 10 | ✓ |\n",
    )

    call_command(
        "bench",
        scale=0.0001,
        pages_only=True,
        http=False,
        repeat=1,
        output=str(output),
        stdout=io.StringIO(),
    )

    text = output.read_text()
    assert "## Earlier" in text  # scale 1 keeps its section
    section = text.split(f"<!-- bench:{connection.vendor}:0.0001x -->", 1)[1]
    assert "0.0001× volume" in section
    assert "10 organisations, 10 contacts, 50 interactions, 1 projects, 2 leads" in section
    assert "`--scale 0.0001`" in section
    assert "| page | median (ms) | p95 (ms) | queries | × scale 1 (median) | goal |" in section
    # Against a page measured at scale 1: a ratio, and a goal missed by so much growth.
    cells = _pages_row(section, "Organisations, page 1")
    assert float(cells[4]) > 1.5
    assert "grows 1.5× or more" in cells[5]
    # Against a page never measured at scale 1: no ratio.
    assert _pages_row(section, "Contacts, page 1")[4] == "—"
    # Pages only: no export, PDF or import this time.
    assert "### Excel export" not in section
    assert "### Specification PDF" not in section


def test_the_detail_pages_are_measured(tmp_path: Path) -> None:
    output = tmp_path / "benchmarks.md"
    call_command(
        "bench",
        scale=0.0001,
        pages_only=True,
        http=False,
        repeat=1,
        output=str(output),
        stdout=io.StringIO(),
    )
    text = output.read_text()
    for page in ["Organisation detail", "Contact detail", "Project detail", "Lead detail"]:
        assert f"| {page} |" in text


def test_another_process_opens_the_same_database() -> None:
    postgres = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "test_carreau",
        "USER": "carreau",
        "PASSWORD": "p@ss/word",
        "HOST": "127.0.0.1",
        "PORT": 5432,
    }
    assert database_url(postgres) == "postgres://carreau:p%40ss%2Fword@127.0.0.1:5432/test_carreau"
    sqlite = {"ENGINE": "django.db.backends.sqlite3", "NAME": "/srv/bench.sqlite3"}
    assert database_url(sqlite) == "sqlite:////srv/bench.sqlite3"
    assert (
        database_url({**sqlite, "NAME": "file:memorydb_default?mode=memory&cache=shared"}) is None
    )


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="gunicorn opens the test database: PostgreSQL"
)
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("role_groups")
def test_the_http_series_times_every_page_through_gunicorn(tmp_path: Path) -> None:
    output = tmp_path / "benchmarks.md"
    out = io.StringIO()

    call_command(
        "bench",
        scale=0.0001,
        pages_only=True,
        repeat=2,
        output=str(output),
        stdout=out,
    )

    section = output.read_text()
    assert "gunicorn with one sync worker" in section
    assert (
        "| page | median (ms) | p95 (ms) | queries | HTTP median (ms) | HTTP p95 (ms) | goal |"
        in (section)
    )
    for page in ["Organisations, search", "Leads board", "Lead detail"]:
        cells = _pages_row(section, page)
        assert float(cells[4]) > 0 and float(cells[5]) >= float(cells[4])


def test_the_export_is_timed_even_above_the_background_threshold(tmp_path: Path, settings) -> None:
    # A person would get a job past this many rows; the bench times the same writer at once.
    settings.EXPORT_SYNC_MAX_ROWS = 2
    output = tmp_path / "benchmarks.md"

    call_command(
        "bench",
        scale=0.0001,
        http=False,
        repeat=1,
        import_rows=5,
        output=str(output),
        stdout=io.StringIO(),
    )

    assert "Every organisation (10 rows, 13 columns)" in output.read_text()


def test_a_pages_only_run_keeps_the_last_export_pdf_and_import(tmp_path: Path) -> None:
    output = tmp_path / "benchmarks.md"
    write_section(
        output,
        f"bench:{connection.vendor}",
        "## Earlier\n\nMeasured 2026-11-29 10:12 CET on x86_64.\n\n### Pages\n\n| page | median "
        "(ms) | p95 (ms) | queries | goal |\n|---|---:|---:|---:|---|\n\n### Excel export\n\n"
        "export figures\n\n### Excel import\n\nimport figures\n",
    )

    call_command(
        "bench",
        organisations=3,
        contacts=3,
        interactions=3,
        projects=1,
        leads=1,
        pages_only=True,
        http=False,
        repeat=1,
        output=str(output),
        stdout=io.StringIO(),
    )

    text = output.read_text()
    assert "## Earlier" not in text
    assert "3 organisations, 3 contacts" in text
    assert "(From the run of 2026-11-29 10:12 CET: `--pages-only` left them as they were.)" in text
    assert text.count("export figures") == 1 and text.count("import figures") == 1
