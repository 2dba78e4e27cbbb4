"""Engines for the store: SQLite tuned for one process with a few threads, PostgreSQL via psycopg 3.

On SQLite, SQLAlchemy (not the sqlite3 module) emits BEGIN, so DDL is transactional and a
connection can ask for `BEGIN IMMEDIATE` with the execution option `sqlite_immediate=True`
when it is about to write after reading (otherwise a concurrent writer makes it fail with
"database is locked" instead of waiting).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

DEFAULT_URL = "sqlite:///./orchestrator.db"

# How long a SQLite writer waits for another one before giving up, in milliseconds.
SQLITE_BUSY_TIMEOUT_MS = 10_000
# How long a PostgreSQL connection attempt may take, in seconds: an unreachable server must
# fail fast and clearly rather than hang the CLI or the daemon.
PG_CONNECT_TIMEOUT_S = 10

# Execution option a connection sets before it begins to take SQLite's write lock up front.
SQLITE_IMMEDIATE = "sqlite_immediate"


def normalize_url(url: str | URL) -> URL:
    """The URL with PostgreSQL pointed at psycopg 3 (`postgresql://` and `postgres://` accepted)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(url: str | URL = DEFAULT_URL, **kwargs: Any) -> Engine:
    """A sync engine for `url`; extra keyword arguments go to `create_engine`."""
    parsed = normalize_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        _ensure_sqlite_directory(parsed)
        engine = create_engine(parsed, **kwargs)
        _configure_sqlite(engine, file_backed=_sqlite_path(parsed) is not None)
        return engine
    if backend == "postgresql":
        connect_args = dict(kwargs.pop("connect_args", {}))
        if "connect_timeout" not in parsed.query:
            connect_args.setdefault("connect_timeout", PG_CONNECT_TIMEOUT_S)
        # Replicas must notice a restarted or failed-over server instead of using dead sockets.
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(parsed, connect_args=connect_args, **kwargs)
    return create_engine(parsed, **kwargs)


def _sqlite_path(url: URL) -> Path | None:
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:") or url.query.get("uri"):
        return None
    return Path(database)


def _ensure_sqlite_directory(url: URL) -> None:
    path = _sqlite_path(url)
    if path is not None:
        path.expanduser().parent.mkdir(parents=True, exist_ok=True)


def _configure_sqlite(engine: Engine, *, file_backed: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module (see the module docstring).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if file_backed:
                # WAL: readers never block the writer and the writer never blocks readers.
                cursor.execute("PRAGMA journal_mode=WAL")
            # Off by default in SQLite, per connection: without it FKs are decoration.
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get(SQLITE_IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
