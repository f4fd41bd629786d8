"""The store: SQLite in WAL mode with serialised writers, Alembic upgrades, URL handling, rollback."""

from __future__ import annotations

import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import bindparam, create_engine, inspect, select, text
from sqlalchemy.engine import make_url

from trustplane.core.config import Settings
from trustplane.core.errors import ConfigError
from trustplane.core.store import Prepared, Store, StoreError, get_store, log_meta, normalise_url, version_locations

LOG_TABLES = {"log_meta", "log_keys", "log_entries", "log_nodes", "log_tree_heads", "alembic_version"}


def sqlite_path(store: Store) -> str:
    database = make_url(store.url).database
    assert database
    return database


def test_sqlite_is_in_wal_mode(store: Store) -> None:
    with store.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 60000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    with store.write() as conn:
        conn.execute(log_meta.insert().values(name="k", value="v"))
    assert Path(sqlite_path(store) + "-wal").exists()
    # the mode is persistent: a plain sqlite3 connection sees it too
    raw = sqlite3.connect(sqlite_path(store))
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        raw.close()


def test_store_creates_the_database_directory(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'a' / 'b' / 'db.sqlite'}")
    try:
        assert store.upgrade()
        assert set(inspect(store.engine).get_table_names()) >= LOG_TABLES
        assert (tmp_path / "a" / "b" / "db.sqlite").is_file()
    finally:
        store.dispose()


def test_upgrade_is_idempotent(settings: Settings) -> None:
    store = Store(settings.resolved_database_url)
    try:
        assert store.current_revision() is None
        first = store.upgrade()
        assert first and first == store.current_revision()
        assert set(inspect(store.engine).get_table_names()) >= LOG_TABLES
        with store.write() as conn:
            conn.execute(log_meta.insert().values(name="survives", value="yes"))
        assert store.upgrade() == first
        assert Store(settings.resolved_database_url).upgrade() == first  # a second process/engine
        assert set(inspect(store.engine).get_table_names()) >= LOG_TABLES
        with store.read() as conn:
            assert conn.execute(select(log_meta.c.value).where(log_meta.c.name == "survives")).scalar_one() == "yes"
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() == len(first.split(","))
    finally:
        store.dispose()


def test_version_locations_include_the_core() -> None:
    locations = version_locations()
    assert locations[0].parts[-3:] == ("core", "migrations", "versions")
    assert all(p.is_dir() for p in locations)


@pytest.mark.parametrize(
    "url",
    ["mysql://user@host/db", "oracle+cx_oracle://u@h/db", "mssql+pyodbc://u@h/db", "not a url", "://nothing", ""],
)
def test_unsupported_url(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        Store(url)
    assert "TRUSTPLANE_DATABASE_URL" in info.value.message


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:pw@h:5433/db", "postgresql+psycopg://u:pw@h:5433/db"),
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_normalise_url(url: str, expected: str) -> None:
    assert normalise_url(url) == expected


def test_write_rolls_back_on_exception(store: Store) -> None:
    class BoomError(Exception):
        pass

    with pytest.raises(BoomError), store.write() as conn:
        conn.execute(log_meta.insert().values(name="a", value="1"))
        assert conn.execute(select(log_meta.c.value).where(log_meta.c.name == "a")).scalar_one() == "1"
        raise BoomError
    with store.read() as conn:
        assert conn.execute(select(log_meta)).all() == []
    # and a later write works normally (the lock was released)
    with store.write() as conn:
        conn.execute(log_meta.insert().values(name="b", value="2"))
    with store.read() as conn:
        assert conn.execute(select(log_meta.c.name)).scalars().all() == ["b"]


def test_write_takes_the_write_lock_at_once(store: Store) -> None:
    """``BEGIN IMMEDIATE``: even a write transaction that has only read so far keeps other writers out."""
    other = sqlite3.connect(sqlite_path(store), timeout=0, isolation_level=None)
    try:
        with store.write() as conn:
            conn.execute(select(log_meta)).all()
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
            # readers are not blocked (WAL)
            assert other.execute("SELECT count(*) FROM log_meta").fetchone() == (0,)
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
    finally:
        other.close()


def test_writers_are_serialised(store: Store) -> None:
    """A second writer waits until the first commits, then sees its row."""
    inside = threading.Event()
    order: list[str] = []
    seen: list[list[str]] = []

    def first() -> None:
        with store.write() as conn:
            conn.execute(log_meta.insert().values(name="first", value="1"))
            inside.set()
            time.sleep(0.3)
            order.append("first-commit")

    t = threading.Thread(target=first)
    t.start()
    assert inside.wait(10)
    with store.write() as conn:
        order.append("second-begin")
        seen.append(conn.execute(select(log_meta.c.name)).scalars().all())
    t.join(10)
    assert order == ["first-commit", "second-begin"]
    assert seen == [["first"]]


def test_database_errors_become_store_errors(store: Store) -> None:
    with pytest.raises(StoreError) as info, store.read() as conn:
        conn.execute(text("SELECT * FROM no_such_table"))
    assert info.value.status == 503 and info.value.code == "store.unavailable"


def test_get_store_is_shared_per_url(settings: Settings, tmp_path: Path) -> None:
    a = get_store(settings)
    try:
        assert get_store(settings) is a
        other = Settings(home=tmp_path / "elsewhere")
        b = get_store(other)
        assert b is not a and b.url != a.url
        b.dispose()
    finally:
        a.dispose()


# --- Postgres (only with TRUSTPLANE_TEST_POSTGRES_URL) -----------------------------------------------------
@pytest.fixture
def pg_store() -> Iterator[Store]:
    base = os.environ.get("TRUSTPLANE_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("set TRUSTPLANE_TEST_POSTGRES_URL (e.g. postgresql://postgres@127.0.0.1:5432/test)")
    schema = f"tp_store_{secrets.token_hex(6)}"
    admin = create_engine(normalise_url(base), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(normalise_url(base)).update_query_dict({"options": f"-csearch_path={schema}"})
    store = Store(url.render_as_string(hide_password=False))
    try:
        yield store
    finally:
        store.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.mark.postgres
def test_postgres_upgrade_and_rollback(pg_store: Store) -> None:
    assert pg_store.dialect == "postgresql"
    first = pg_store.upgrade()
    assert first and first == pg_store.upgrade()
    assert set(inspect(pg_store.engine).get_table_names()) >= LOG_TABLES
    with pytest.raises(RuntimeError), pg_store.write() as conn:
        conn.execute(log_meta.insert().values(name="a", value="1"))
        raise RuntimeError
    with pg_store.write() as conn:
        # the advisory lock is held by this transaction
        held = conn.execute(
            text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")
        )
        assert held.scalar_one() == 1
        assert conn.execute(select(log_meta)).all() == []


# --- prepared statements --------------------------------------------------------------------------------------
def _prepared_round_trip(store: Store) -> None:
    store.upgrade()
    insert = Prepared(log_meta.insert())
    by_prefix = Prepared(
        select(log_meta.c.name, log_meta.c.value)
        .where(log_meta.c.name >= bindparam("low"), log_meta.c.value != bindparam("skip"))
        .order_by(log_meta.c.name)
        .limit(2)  # a bound value the caller does not pass
    )
    with store.write() as conn:
        insert.executemany(conn, [{"name": f"k{i}", "value": f"v{i}"} for i in range(4)])
        # inside the same transaction, as conn.execute would be
        assert conn.execute(select(log_meta.c.name).order_by(log_meta.c.name)).scalars().all() == [
            "k0",
            "k1",
            "k2",
            "k3",
        ]
    with pytest.raises(RuntimeError), store.write() as conn:
        insert.executemany(conn, [{"name": "gone", "value": "x"}])
        raise RuntimeError  # rolled back with the transaction
    with store.read() as conn:
        assert by_prefix.first(conn, {"low": "k1", "skip": "v2"}) == ("k1", "v1")
        assert by_prefix.execute(conn, {"low": "k2", "skip": "v2"}).fetchall() == [("k3", "v3")]
        assert by_prefix.first(conn, {"low": "z", "skip": ""}) is None
        assert Prepared(select(log_meta.c.value).where(log_meta.c.name == "gone")).first(conn) is None


def test_prepared_statements_on_sqlite(store: Store) -> None:
    _prepared_round_trip(store)


@pytest.mark.postgres
def test_prepared_statements_on_postgres(pg_store: Store) -> None:
    _prepared_round_trip(pg_store)


def test_prepared_statements_refuse_expanding_parameters(store: Store) -> None:
    statement = Prepared(select(log_meta).where(log_meta.c.name.in_(bindparam("names", expanding=True))))
    with store.read() as conn, pytest.raises(TypeError, match="expanding"):
        statement.first(conn, {"names": ["a"]})


def test_prepared_statement_errors_are_sqlalchemy_errors(store: Store) -> None:
    from sqlalchemy.exc import IntegrityError

    store.upgrade()
    insert = Prepared(log_meta.insert())
    with pytest.raises(IntegrityError), store.write() as conn:
        insert.executemany(conn, [{"name": "same", "value": "1"}, {"name": "same", "value": "2"}])
    with store.read() as conn:
        assert conn.execute(select(log_meta)).all() == []  # the failed transaction left nothing
