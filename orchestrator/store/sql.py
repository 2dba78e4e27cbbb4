"""SQL helpers that need a different spelling on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, Insert, Table
from sqlalchemy.dialects import postgresql, sqlite


def dialect_insert(conn: Connection, table: Table) -> Insert:
    """`INSERT` for `table` in the connection's dialect, so `.on_conflict_*()` is available."""
    name = conn.dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no ON CONFLICT support for dialect {name!r}")


def insert_ignore(
    conn: Connection,
    table: Table,
    values: Mapping[str, Any],
    *,
    conflict_on: Iterable[str] | None = None,
) -> bool:
    """Insert one row unless it collides with an existing one; True when it was inserted.

    `INSERT ... ON CONFLICT DO NOTHING`: the database decides atomically, so two replicas (or
    a restart) racing to enqueue the same key produce one row and no error. With
    `conflict_on` (column names of a unique constraint) only that constraint is ignored and
    any other violation still raises.
    """
    statement = dialect_insert(conn, table).values(dict(values))
    if conflict_on is None:
        statement = statement.on_conflict_do_nothing()
    else:
        statement = statement.on_conflict_do_nothing(index_elements=list(conflict_on))
    # RETURNING rather than rowcount: with implicit RETURNING of the primary key, drivers
    # disagree on what rowcount means; a returned row is unambiguous on both databases.
    statement = statement.returning(*table.primary_key.columns)
    return conn.execute(statement).first() is not None
