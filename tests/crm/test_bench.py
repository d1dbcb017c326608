"""The benchmark command runs end to end on a tiny data set and refuses real data."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

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
    assert "5 organisations, 8 contacts, 20 interactions, 6 projects, 7 leads" in table
    for page in [
        "Organisations, page 1",
        "Contacts, search",
        "Projects board",
        "Dashboard",
        "Leads board",
        "Pipeline report",
        "My day",
    ]:
        assert f"| {page} |" in table
    assert "## Specification PDF" in table
    assert "## Excel import" in table
    assert "5 images" in table


def test_bench_refuses_a_database_with_real_data(tmp_path: Path) -> None:
    OrganisationFactory(name="Office de tourisme de Lens-Liévin")

    with pytest.raises(CommandError, match="real data"):
        call_command("bench", organisations=1, output=str(tmp_path / "b.md"))
