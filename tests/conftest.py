"""Fixtures every test folder shares: the provider sandboxes and the OpenAPI validator."""

from __future__ import annotations

import pytest

from orchestrator.sandbox import Sandbox
from orchestrator.sandbox.spec import SpecValidator


@pytest.fixture(scope="module")
def running_sandbox():
    """Every provider sandbox on one ephemeral 127.0.0.1 port, for the whole module."""
    with Sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(running_sandbox):
    """The module's sandbox with no recorded requests, scripted outcomes or provider state."""
    running_sandbox.reset()
    yield running_sandbox
    running_sandbox.reset()


@pytest.fixture(scope="session")
def spec():
    """Validator for recorded Twilio and SendGrid traffic (the official OpenAPI documents)."""
    return SpecValidator()
