"""Substring search on PostgreSQL: trigram indexes for the folded `search_text` columns.

`search_filter` asks for `search_text LIKE '%word%'`. A B-tree index cannot serve a pattern
that starts with a wildcard, so at 100,000 contacts PostgreSQL read the whole table for every
search (185 ms in `make bench`). A GIN index with `gin_trgm_ops` (the pg_trgm extension,
trusted since PostgreSQL 13, so the database owner may create it) serves exactly that pattern.
SQLite has no such index and searches its (smaller, local) tables fast enough without one, so
the migrations below do nothing there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import migrations

if TYPE_CHECKING:
    from django.db.backends.base.schema import BaseDatabaseSchemaEditor
    from django.db.migrations.state import StateApps


def trigram_index(table: str, name: str) -> migrations.RunPython:
    """A migration operation adding a trigram index on `table.search_text` (PostgreSQL)."""

    def create(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        quote = schema_editor.quote_name
        schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {quote(name)} ON {quote(table)} "
            "USING gin (search_text gin_trgm_ops)"
        )

    def drop(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")

    return migrations.RunPython(create, drop)
