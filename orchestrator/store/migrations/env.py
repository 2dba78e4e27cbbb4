"""Alembic environment: runs migrations on the connection `orchestrator.store.migrate` hands in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, text

from orchestrator.store.schema import metadata

# Replicas starting together: one migrates, the others wait, then find nothing to do. Keyed
# by schema, so parallel test schemas (or tenants) do not queue behind each other.
PG_MIGRATION_LOCK = (
    "SELECT pg_advisory_xact_lock(hashtext('orchestrator.migrate:' || current_schema()))"
)


def run_migrations(connection: Connection) -> None:
    dialect = connection.dialect.name
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things; batch mode recreates the table instead.
        render_as_batch=dialect == "sqlite",
        compare_type=True,
        # No version_table_schema: alembic_version lives in the first schema of the
        # connection's search_path, beside the tables, so a schema per test run (or per
        # tenant) carries its own migration state.
    )
    with context.begin_transaction():
        if dialect == "postgresql":
            connection.execute(text(PG_MIGRATION_LOCK))
        context.run_migrations()


connection = context.config.attributes.get("connection")
if context.is_offline_mode() or connection is None:
    raise SystemExit(
        "run migrations through orchestrator.store.migrate (or `orchestrator db upgrade`)"
    )
run_migrations(connection)
