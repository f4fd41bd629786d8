"""A fresh Postgres schema per test, so tests never see each other's rows (or another home's signing key)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from trustplane.core.store import normalise_url

PG_ENV = "TRUSTPLANE_TEST_POSTGRES_URL"


@contextmanager
def fresh_schema_url(prefix: str) -> Iterator[str]:
    """A database URL whose search path is a new, empty schema (dropped afterwards); skips without Postgres."""
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"set {PG_ENV} to run this test on Postgres")
    schema = f"{prefix}_{secrets.token_hex(6)}"
    admin = create_engine(normalise_url(base), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(normalise_url(base)).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
