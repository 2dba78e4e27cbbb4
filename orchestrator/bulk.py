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

CHUNK = 1000  # values per IN (...) list: well under every driver's parameter limit

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
        # %b: binary arrays; in text format psycopg quotes element by element with a regex.
        params = ", ".join(f"%b::{COLUMNS[n]}[]" for n in NAMES)
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


def driver_rows(conn: Connection, statement: Any, params: dict[str, Any] | None = None
                ) -> list[Any]:
    """All rows of `statement` as the driver returns them. SQLAlchemy's per-row type
    processing costs more than the claim's SQL itself; callers decode what they need."""
    result = conn.execute(statement, params)
    try:
        return list(result.cursor.fetchall())
    finally:
        result.close()


def row_of(values: dict[str, Any]) -> tuple[Any, ...]:
    """A row for `insert_ignore_many` from a dict with every key of COLUMNS."""
    return tuple(values[name] for name in NAMES)


# Settlement of outbox rows held under one lease token: the values every row of a group
# shares come first, then the token, then which rows.
_SETTLE_SQL = ("UPDATE {table} SET state = {p}, last_error = {p}, attempts = attempts + {p}, "
               "lease_owner = NULL, lease_token = NULL, updated_at = {p}, provider_id = {p}, "
               "next_attempt_at = {p}, lease_expires_at = {p}, sent_at = {p} "
               "WHERE lease_token = {p} AND ")
SettleRow = tuple[int, str | None, datetime | None, datetime | None, datetime | None]
IN_LIST_MIN = 8  # rows with identical values from this many on take one `id IN (...)`


def settle_many(conn: Connection, table: str, shared: tuple[str, str | None, int, datetime],
                token: str, rows: Sequence[SettleRow]) -> int:
    """Settle rows still held under `token`; return how many were updated. `shared` is
    (state, last_error, attempts increment, updated_at); each row is (id, provider_id,
    next_attempt_at, lease_expires_at, sent_at). Rows whose values are identical (a
    SendGrid call's 1,000 recipients share one message id) take one `UPDATE ... IN` per
    chunk, the rest one executemany: straight to the driver, as for inserts."""
    state, error, increment, now = shared
    postgres = conn.dialect.name == "postgresql"
    p = "%s" if postgres else "?"
    times: dict[datetime | None, Any] = {None: None}  # each distinct time converted once

    def convert(value: datetime | None) -> Any:
        if value not in times:
            times[value] = value if postgres else sqlite_time(value)
        return times[value]

    head = (state, error, increment, convert(now))
    same: dict[tuple, list[int]] = {}
    for row_id, provider, next_at, lease_at, sent_at in rows:
        same.setdefault((provider, next_at, lease_at, sent_at), []).append(row_id)
    singles, lists = [], []
    for (provider, next_at, lease_at, sent_at), ids in same.items():
        params = (*head, provider, convert(next_at), convert(lease_at), convert(sent_at), token)
        if len(ids) < IN_LIST_MIN:
            singles += [(*params, row_id) for row_id in ids]
        else:
            lists += [(ids[i:i + CHUNK], params) for i in range(0, len(ids), CHUNK)]
    sql = _SETTLE_SQL.format(table=table, p=p)
    raw = conn.connection.driver_connection
    cursor = raw.cursor()
    applied, before = 0, 0 if postgres else raw.total_changes
    try:
        for chunk, params in lists:
            cursor.execute(f"{sql}id IN ({', '.join([p] * len(chunk))})", (*params, *chunk))
            applied += cursor.rowcount if postgres else 0
        if singles:
            cursor.executemany(f"{sql}id = {p}", singles)
            applied += cursor.rowcount if postgres else 0
    finally:
        cursor.close()
    return applied if postgres else raw.total_changes - before


def matching(conn: Connection, sql: str, values: Sequence[Any]) -> list[Any]:
    """Rows of `sql`, whose one `IN ({})` is filled with `values`, chunk by chunk,
    through the driver (SQLAlchemy coerces each element of an IN list in Python)."""
    p = "%s" if conn.dialect.name == "postgresql" else "?"
    raw = conn.connection.driver_connection
    found: list[Any] = []
    cursor = raw.cursor()
    try:
        for start in range(0, len(values), CHUNK):
            chunk = values[start:start + CHUNK]
            found += cursor.execute(sql.format(", ".join([p] * len(chunk))), chunk).fetchall()
    finally:
        cursor.close()
    return found
