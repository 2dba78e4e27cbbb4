"""Bulk `INSERT ... ON CONFLICT DO NOTHING` of outbox rows at driver speed, on both databases.

SQLAlchemy's per-parameter processing costs about 50 µs a row and psycopg re-parses each
multi-VALUES statement it builds (seconds per 100,000 rows), so the outbox's bulk insert
talks to the driver directly: one `unnest` of typed arrays per chunk on PostgreSQL, a
plain `executemany` on SQLite. Values are converted here exactly as the column types
would (UTC timestamps; on SQLite the text form SQLAlchemy's DATETIME reads back).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

# Column name -> PostgreSQL array type of the unnest() parameter.
COLUMNS: dict[str, str] = {
    "idempotency_key": "text", "run_id": "int4", "step_key": "text", "channel": "text",
    "recipient": "text", "contact_id": "int4", "audience": "text", "subject": "text",
    "body": "text", "payload": "jsonb", "urgent": "bool", "max_attempts": "int4",
    "next_attempt_at": "timestamptz", "fallback": "jsonb", "state": "text",
    "last_error": "text", "attempts": "int4", "created_at": "timestamptz",
    "updated_at": "timestamptz",
}
NAMES = tuple(COLUMNS)
_TIMES = {i for i, name in enumerate(NAMES) if name in ("next_attempt_at", "created_at",
                                                         "updated_at")}
_JSON = {i for i, name in enumerate(NAMES) if name in ("payload", "fallback")}


def sqlite_time(value: datetime | None) -> str | None:
    """The text SQLAlchemy's SQLite DATETIME stores for an aware time (naive UTC)."""
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


def _converted(values: list[Any], convert: Any) -> list[Any]:
    """`convert` applied to a column: once per distinct value, since a fan-out's rows share
    their timestamps and payloads (hashing is far cheaper than formatting)."""
    seen: dict[Any, Any] = {}
    out = []
    for value in values:
        try:
            out.append(seen[value])
        except KeyError:
            out.append(seen.setdefault(value, convert(value)))
        except TypeError:  # an unhashable payload
            out.append(convert(value))
    return out


def insert_ignore_many(conn: Connection, table: str, rows: Sequence[Sequence[Any]]) -> int:
    """Insert `rows` (each a value per COLUMNS entry, in its order) skipping existing
    idempotency keys; return how many were inserted."""
    if not rows:
        return 0
    columns = [list(column) for column in zip(*rows, strict=True)]
    column_list = ", ".join(NAMES)
    raw = conn.connection.driver_connection
    for i in _JSON:
        columns[i] = _converted(columns[i], _json)
    if conn.dialect.name == "postgresql":
        params = ", ".join(f"%s::{COLUMNS[n]}[]" for n in NAMES)
        sql = (f"INSERT INTO {table} ({column_list}) SELECT * FROM unnest({params}) "
               "ON CONFLICT (idempotency_key) DO NOTHING")
        with raw.cursor() as cursor:
            cursor.execute(sql, columns)
            return cursor.rowcount
    for i in _TIMES:
        columns[i] = _converted(columns[i], sqlite_time)
    placeholders = ", ".join("?" * len(NAMES))
    sql = (f"INSERT INTO {table} ({column_list}) VALUES ({placeholders}) "
           "ON CONFLICT (idempotency_key) DO NOTHING")
    cursor = raw.cursor()
    try:
        before = raw.total_changes
        cursor.executemany(sql, zip(*columns, strict=True))
        return raw.total_changes - before
    finally:
        cursor.close()


def row_of(values: dict[str, Any]) -> tuple[Any, ...]:
    """A row for `insert_ignore_many` from a dict with every key of COLUMNS."""
    return tuple(values[name] for name in NAMES)


# Per-row settlement of outbox rows: the values every row of a group shares come first.
_SETTLE_SQL = ("UPDATE {table} SET state = {p}, last_error = {p}, attempts = attempts + {p}, "
               "lease_owner = NULL, lease_token = NULL, updated_at = {p}, provider_id = {p}, "
               "next_attempt_at = {p}, lease_expires_at = {p}, sent_at = {p} "
               "WHERE id = {p} AND lease_token = {p}")


def settle_many(conn: Connection, table: str, shared: tuple[str, str | None, int, datetime],
                rows: Sequence[tuple[int, str, str | None, datetime | None,
                                     datetime | None, datetime | None]]) -> int:
    """Settle rows one statement each, in one driver executemany. `shared` is (state,
    last_error, attempts increment, updated_at); each row is (id, lease_token,
    provider_id, next_attempt_at, lease_expires_at, sent_at). Returns rows updated."""
    state, error, increment, now = shared
    postgres = conn.dialect.name == "postgresql"
    convert = (lambda v: v) if postgres else sqlite_time
    params = [(state, error, increment, convert(now), provider, convert(next_at),
               convert(lease_at), convert(sent_at), row_id, token)
              for row_id, token, provider, next_at, lease_at, sent_at in rows]
    sql = _SETTLE_SQL.format(table=table, p="%s" if postgres else "?")
    raw = conn.connection.driver_connection
    if postgres:
        with raw.cursor() as cursor:
            cursor.executemany(sql, params)
            return cursor.rowcount
    cursor = raw.cursor()
    try:
        before = raw.total_changes
        cursor.executemany(sql, params)
        return raw.total_changes - before
    finally:
        cursor.close()
