"""Database fixtures for any test: `db_url` (SQLite file or fresh PostgreSQL schema) and `engine`.

Use them from a top-level conftest with `pytest_plugins = ["tests.dbfixtures"]`, or import the
fixtures by name into a package's conftest. Every test gets a database of its own: a file in
its tmp_path, or a schema `t_<hex>` in the PostgreSQL database `test` that the connection's
search_path points at, dropped at teardown. PostgreSQL tests are marked `postgres` and are
never skipped: when the server is down they fail.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from urllib.parse import quote

import psycopg
import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from orchestrator.store.engine import make_engine
from orchestrator.store.migrate import upgrade

# Override to run the PostgreSQL half elsewhere; the default is the CI server.
POSTGRES_URL = os.environ.get(
    "ORCHESTRATOR_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _admin_conninfo() -> str:
    return make_url(POSTGRES_URL).set(drivername="postgresql").render_as_string(
        hide_password=False
    )


def _schema_url(schema: str) -> str:
    # psycopg passes `options` to the server: every connection of the engine (and of any
    # subprocess given this URL) starts with the schema first in its search_path.
    return f"{POSTGRES_URL}?options={quote(f'-csearch_path={schema}')}"


@pytest.fixture
def postgres_url_factory() -> Iterator[Callable[[], str]]:
    """Make URLs of fresh, empty PostgreSQL schemas; each is dropped at teardown."""
    schemas: list[str] = []

    def make() -> str:
        schema = f"t_{secrets.token_hex(6)}"
        with psycopg.connect(_admin_conninfo(), autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        schemas.append(schema)
        return _schema_url(schema)

    yield make
    if schemas:
        with psycopg.connect(_admin_conninfo(), autocommit=True) as conn:
            # A connection a test leaked would block the drop forever: fail loudly instead.
            conn.execute("SET lock_timeout = '10s'")
            for schema in schemas:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=[
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
])
def db_url(request: pytest.FixtureRequest, tmp_path, postgres_url_factory) -> str:
    """The URL of an empty database of this test's own, once per backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return postgres_url_factory()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on `db_url`, migrated to head; disposed at teardown."""
    eng = make_engine(db_url)
    try:
        upgrade(eng)
        yield eng
    finally:
        eng.dispose()
