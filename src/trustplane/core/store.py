"""Storage: one SQLAlchemy 2 engine per database URL, SQLite (WAL) by default, Postgres by URL.

Writers that must be serialised across processes (the transparency log's appends, migrations)
use :meth:`Store.write`: on SQLite a ``BEGIN IMMEDIATE`` transaction (one writer at a time, others
wait on the busy timeout); on Postgres a transaction holding an advisory lock.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.sql.expression import Executable

from trustplane.core.config import Settings
from trustplane.core.errors import ConfigError, MissingDependencyError, TrustplaneError

metadata = MetaData()

# --- transparency log tables (migrations/versions/0001_log.py creates them) -----------------------
log_meta = Table(
    "log_meta",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", String(256), nullable=False),
)
log_keys = Table(
    "log_keys",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("public_key", String(64), nullable=False),
    Column("entry_index", BigInteger, nullable=False),  # the genesis/rotation entry that introduced it
    Column("created_ms", BigInteger, nullable=False),
    Column("retired_ms", BigInteger, nullable=True),
)
log_entries = Table(
    "log_entries",
    metadata,
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("kind", String(128), nullable=False, index=True),
    Column("timestamp", BigInteger, nullable=False),
    Column("data", LargeBinary, nullable=False),
)
log_nodes = Table(
    "log_nodes",
    metadata,
    Column("level", Integer, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
)
log_tree_heads = Table(
    "log_tree_heads",
    metadata,
    Column("tree_size", BigInteger, primary_key=True, autoincrement=False),
    Column("root_hash", LargeBinary(32), nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("signature", String(128), nullable=False),
)

_ADVISORY_LOCK_ID = 0x7472757374  # "trust"
MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class StoreError(TrustplaneError):
    code = "store.unavailable"
    title = "Database unavailable"
    status = 503
    exit_code = 69


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs; reject what SQLAlchemy cannot parse."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"TRUSTPLANE_DATABASE_URL is not a database URL: {exc}") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(
            f"unsupported database {parsed.get_backend_name()!r} in TRUSTPLANE_DATABASE_URL",
            hint="use sqlite:///path or postgresql://user@host/db",
        )
    return parsed.render_as_string(hide_password=False)


class Prepared:
    """A Core statement compiled once per dialect and run on the DB-API cursor of an open connection.

    For the few statements on every request's path (the log append, the API-key lookup): there SQLAlchemy's
    per-execution bookkeeping (cache key, execution context, result wrapping, events) costs several times
    the database's own work. The statement runs inside the connection's current transaction, exactly as
    ``conn.execute`` would. Only plain bound parameters are supported (no expanding ``IN``), and values pass
    to the driver as they are, so the columns must be of types the driver takes natively (integers,
    strings, bytes). Rows come back as plain tuples.
    """

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._by_dialect: dict[str, tuple[str, tuple[str, ...] | None, dict[str, Any]]] = {}

    def _compiled(self, dialect: Dialect) -> tuple[str, tuple[str, ...] | None, dict[str, Any]]:
        found = self._by_dialect.get(dialect.name)
        if found is None:
            compiled = self.statement.compile(dialect=dialect)  # type: ignore[attr-defined]
            if any(b.expanding for b in compiled.binds.values()):
                raise TypeError("Prepared statements take no expanding parameters")
            order = tuple(compiled.positiontup or ()) if dialect.positional else None
            fixed = {name: b.value for name, b in compiled.binds.items() if not b.required}  # LIMIT 1 and such
            found = self._by_dialect[dialect.name] = (compiled.string, order, fixed)
        return found

    def _values(self, dialect: Dialect, params: Mapping[str, Any] | None) -> tuple[str, Any]:
        sql, order, fixed = self._compiled(dialect)
        values = {**fixed, **params} if params else fixed
        return sql, (tuple(values[k] for k in order) if order is not None else values)

    @staticmethod
    def _cursor(conn: Connection) -> Any:
        if not conn.in_transaction():
            conn.begin()  # as conn.execute would autobegin (the store's BEGIN is issued here)
        return conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]

    @staticmethod
    def _run(conn: Connection, method: str, sql: str, values: Any) -> Any:
        """Run on a fresh cursor; driver errors become SQLAlchemy's (``OperationalError``, ``IntegrityError``…),
        as ``conn.execute`` would raise them."""
        cursor = Prepared._cursor(conn)
        try:
            getattr(cursor, method)(sql, values)
        except conn.dialect.loaded_dbapi.Error as exc:
            cursor.close()
            raise DBAPIError.instance(sql, values, exc, conn.dialect.loaded_dbapi.Error) from exc
        return cursor

    def execute(self, conn: Connection, params: Mapping[str, Any] | None = None) -> Any:
        """Run once; returns the DB-API cursor (``fetchone``/``fetchall``)."""
        return self._run(conn, "execute", *self._values(conn.dialect, params))

    def executemany(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run once per row of parameters."""
        dialect = conn.dialect
        sql = self._compiled(dialect)[0]
        self._run(conn, "executemany", sql, [self._values(dialect, r)[1] for r in rows]).close()

    def first(self, conn: Connection, params: Mapping[str, Any] | None = None) -> tuple[Any, ...] | None:
        """The first row, or None."""
        cursor = self.execute(conn, params)
        try:
            row = cursor.fetchone()
        finally:
            cursor.close()
        return None if row is None else tuple(row)


class Store:
    """An engine plus the transaction helpers the capabilities use."""

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        self.dialect = make_url(self.url).get_backend_name()
        self.engine = self._create_engine()

    def _create_engine(self) -> Engine:
        if self.dialect == "sqlite":
            database = make_url(self.url).database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(self.url, connect_args={"timeout": 60, "check_same_thread": False})

            @event.listens_for(engine, "connect")
            def _on_connect(dbapi_conn: Any, _record: Any) -> None:
                dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute("PRAGMA busy_timeout=60000")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.close()

            @event.listens_for(engine, "begin")
            def _on_begin(conn: Connection) -> None:
                mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
                conn.exec_driver_sql(f"BEGIN {mode}")

            return engine
        try:
            return create_engine(self.url, pool_pre_ping=True, pool_size=5, max_overflow=10)
        except ModuleNotFoundError as exc:
            raise MissingDependencyError(
                f"the Postgres driver is not installed ({exc.name})",
                hint="pip install 'trustplane[postgres]'",
            ) from None

    @contextmanager
    def read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except OperationalError as exc:
            raise StoreError(f"database error: {exc.orig}") from None

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A transaction that holds the single-writer lock for the whole database (see module doc)."""
        try:
            with self.engine.connect() as conn:
                conn = conn.execution_options(sqlite_begin="IMMEDIATE")
                with conn.begin():
                    if self.dialect == "postgresql":
                        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK_ID})
                    yield conn
        except OperationalError as exc:
            raise StoreError(f"database error: {exc.orig}") from None

    def upgrade(self) -> str:
        """Apply pending Alembic migrations (serialised across processes).

        The core and each capability keep their own migration branch, so the database sits at several heads;
        returns them sorted and comma-separated (``"0001_log,arena_0001,..."``).
        """
        from alembic import command
        from alembic.config import Config
        from alembic.runtime.migration import MigrationContext

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.set_main_option("path_separator", "os")
        cfg.set_main_option("version_locations", os.pathsep.join(str(p) for p in version_locations()))
        try:
            with self.write() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "heads")
                heads = MigrationContext.configure(conn).get_current_heads()
        except SQLAlchemyError as exc:
            raise StoreError(f"database migration failed: {exc}") from None
        return ",".join(sorted(heads)) or "base"

    def current_revision(self) -> str | None:
        """The database's migration heads, sorted and comma-separated; None before the first upgrade."""
        from alembic.runtime.migration import MigrationContext

        with self.read() as conn:
            heads = MigrationContext.configure(conn).get_current_heads()
        return ",".join(sorted(heads)) or None

    def dispose(self) -> None:
        self.engine.dispose()


def version_locations() -> list[Path]:
    """Migration folders: the core's plus any capability's ``trustplane/<cap>/migrations``."""
    root = Path(__file__).resolve().parent.parent
    found = [MIGRATIONS_DIR / "versions"]
    for cap in sorted(root.iterdir()):
        versions = cap / "migrations" / "versions"
        if cap.name != "core" and versions.is_dir():
            found.append(versions)
    return found


_STORES: dict[str, Store] = {}
_STORES_LOCK = threading.Lock()


def get_store(settings: Settings) -> Store:
    """The process-wide :class:`Store` for the settings' database (engines are pooled, so shared)."""
    url = settings.resolved_database_url
    with _STORES_LOCK:
        store = _STORES.get(url)
        if store is None:
            store = Store(url)
            _STORES[url] = store
        return store
