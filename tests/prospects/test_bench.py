"""The benchmark command runs end to end on a tiny data set and refuses real data."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from prospects.management.commands.bench import p95, write_section
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
