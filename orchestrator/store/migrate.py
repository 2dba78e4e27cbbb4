"""Apply, inspect and undo the store's Alembic migrations without an alembic.ini."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine
from sqlalchemy.engine import URL

from orchestrator.store.engine import SQLITE_IMMEDIATE, make_engine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

Target = str | URL | Engine

# Alembic keeps the running migration's context in module globals, so two threads of one
# process must not migrate at once. Other processes are kept apart by the database itself
# (a PostgreSQL advisory lock, SQLite's write lock taken before the revision is read).
_ALEMBIC_LOCK = threading.Lock()


def alembic_config() -> Config:
    """Alembic's configuration for the migrations shipped in this package."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    return config


def head() -> str:
    """The newest revision the package ships."""
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"expected one migration head, found {heads}")
    return heads[0]


def upgrade(target: Target, revision: str = "head") -> None:
    """Migrate the database at `target` (a URL or an engine) up to `revision`."""
    with _ALEMBIC_LOCK, _connection(target) as conn:
        config = alembic_config()
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def downgrade(target: Target, revision: str = "base") -> None:
    """Migrate the database at `target` down to `revision` (everything, by default)."""
    with _ALEMBIC_LOCK, _connection(target) as conn:
        config = alembic_config()
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


def current(target: Target) -> str | None:
    """The revision the database is at, or None when it has never been migrated."""
    with _connection(target, write=False) as conn:
        return MigrationContext.configure(conn).get_current_revision()


@contextmanager
def _connection(target: Target, *, write: bool = True) -> Iterator[Connection]:
    owned = not isinstance(target, Engine)
    engine = make_engine(target) if owned else target
    try:
        with engine.connect() as conn:
            # On SQLite take the write lock before Alembic reads the current revision, so
            # two processes upgrading one file cannot both decide to create the tables.
            if write:
                conn.execution_options(**{SQLITE_IMMEDIATE: True})
            yield conn
            conn.commit()
    finally:
        if owned:
            engine.dispose()
