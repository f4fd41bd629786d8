"""The arena's migration creates exactly the tables and indexes its SQLAlchemy metadata describes."""

from __future__ import annotations

from sqlalchemy import inspect

from tests.arena._arena_helpers import arena_store_fixture, db_url_fixture  # noqa: F401 - fixtures
from trustplane.arena._store import metadata
from trustplane.core.store import Store, version_locations


def test_migration_matches_the_table_definitions(arena_store: Store) -> None:
    assert any(p.parent.parent.name == "arena" for p in version_locations())
    insp = inspect(arena_store.engine)
    for table in metadata.sorted_tables:
        columns = {c["name"]: c for c in insp.get_columns(table.name)}
        assert set(columns) == {c.name for c in table.columns}, table.name
        for c in table.columns:
            assert columns[c.name]["nullable"] == c.nullable, (table.name, c.name)
        indexes = {i["name"] for i in insp.get_indexes(table.name)}
        assert {i.name for i in table.indexes} <= indexes, table.name
        fks = {(tuple(f["constrained_columns"]), f["referred_table"]) for f in insp.get_foreign_keys(table.name)}
        assert fks == {((fk.parent.name,), fk.column.table.name) for fk in table.foreign_keys}, table.name
