"""make_engine picks psycopg 3 for PostgreSQL and sets SQLite up for safe concurrent use."""

from __future__ import annotations

import pytest

from orchestrator.store.engine import DEFAULT_URL, make_engine, normalize_url


@pytest.mark.parametrize(("given", "driver"), [
    ("postgresql://u@h/db", "postgresql+psycopg"),
    ("postgres://u@h/db", "postgresql+psycopg"),
    ("postgresql+psycopg://u@h/db", "postgresql+psycopg"),
    ("sqlite:///x.db", "sqlite"),
])
def test_postgresql_urls_use_psycopg3(given, driver):
    assert normalize_url(given).drivername == driver


def test_default_url_is_a_local_sqlite_file():
    assert DEFAULT_URL == "sqlite:///./orchestrator.db"


def test_sqlite_file_gets_its_directory_and_pragmas(tmp_path):
    path = tmp_path / "nested" / "deeper" / "store.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            pragma = {name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                      for name in ("journal_mode", "foreign_keys", "busy_timeout")}
    finally:
        engine.dispose()
    assert path.exists()
    assert pragma == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 10_000}


def test_sqlite_ddl_is_transactional(tmp_path):
    # SQLAlchemy emits BEGIN itself, so a failed migration step leaves no half-built table.
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        with pytest.raises(RuntimeError), engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE half_built (id INTEGER)")
            raise RuntimeError("step two failed")
        with engine.connect() as conn:
            tables = conn.exec_driver_sql("SELECT name FROM sqlite_master").scalars().all()
    finally:
        engine.dispose()
    assert "half_built" not in tables


@pytest.mark.postgres
def test_postgresql_connects_through_psycopg3(postgres_url_factory):
    engine = make_engine(postgres_url_factory().replace("postgresql+psycopg://", "postgresql://"))
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT current_schema()").scalar().startswith("t_")
        assert engine.dialect.driver == "psycopg"
    finally:
        engine.dispose()
