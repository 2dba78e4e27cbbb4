"""Fixtures for the replica tests: databases on both backends (the lease works on SQLite too)."""

from __future__ import annotations

import pytest

from tests.dbfixtures import db_url, engine, postgres_url_factory  # noqa: F401


@pytest.fixture
def pg_engine(postgres_url_factory):  # noqa: F811
    """An engine on a fresh PostgreSQL schema, migrated to head."""
    from orchestrator.store.engine import make_engine
    from orchestrator.store.migrate import upgrade

    eng = make_engine(postgres_url_factory())
    try:
        upgrade(eng)
        yield eng
    finally:
        eng.dispose()
