"""Fixtures for the outbox tests: databases on both backends and one provider sandbox per module."""

from __future__ import annotations

import pytest

from orchestrator.sandbox import Sandbox
from tests.dbfixtures import db_url, engine, postgres_url_factory  # noqa: F401


@pytest.fixture(scope="module")
def running_sandbox():
    with Sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(running_sandbox):
    """The module's sandbox with nothing recorded or scripted."""
    running_sandbox.reset()
    yield running_sandbox
    running_sandbox.reset()
