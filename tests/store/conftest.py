"""The store's tests use the shared database fixtures (pytest_plugins only works at the root)."""

from tests.dbfixtures import db_url, engine, postgres_url_factory  # noqa: F401
