"""Fixtures for the sandbox tests: one server per module, reset before every test."""

from __future__ import annotations

import pytest

from orchestrator.sandbox import Sandbox
from orchestrator.sandbox.spec import SpecValidator

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2


@pytest.fixture(scope="module")
def running_sandbox():
    with Sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(running_sandbox):
    """The module's sandbox, with no recorded requests, scripted outcomes or state."""
    running_sandbox.reset()
    yield running_sandbox
    running_sandbox.reset()


@pytest.fixture(scope="session")
def spec():
    """The official OpenAPI documents, loaded once per test process."""
    return SpecValidator()
