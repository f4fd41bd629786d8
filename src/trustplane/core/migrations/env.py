"""Alembic environment: trustplane runs migrations programmatically on a connection it holds."""

from alembic import context

from trustplane.core.store import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - always run through Store.upgrade
    raise RuntimeError("run migrations with `trustplane db upgrade`")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
