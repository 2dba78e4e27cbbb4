"""Fixtures for the outbox tests: databases on both backends (sandboxes: tests/conftest.py)."""

from tests.dbfixtures import db_url, engine, postgres_url_factory  # noqa: F401
