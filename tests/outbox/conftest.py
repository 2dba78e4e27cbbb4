"""Fixtures for the outbox tests: databases on both backends (the sandbox is tests/conftest.py's)."""

from tests.dbfixtures import db_url, engine, postgres_url_factory  # noqa: F401
