"""Web tests: an app over a migrated store (SQLite and PostgreSQL), a fake clock, a test client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr

from orchestrator.clock import FakeClock
from orchestrator.config import Config
from orchestrator.web import WebState, create_app
from tests.dbfixtures import db_url, engine, postgres_url_factory  # noqa: F401

T0 = datetime(2026, 11, 22, 13, 0, tzinfo=UTC)
TOKEN = "ops-token-0123456789"
PUBLIC_URL = "https://status.example.com"
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "twilio-auth-token-abc"


def make_config(token: str | None = TOKEN) -> Config:
    return Config(
        http={"public_url": PUBLIC_URL, "token": SecretStr(token) if token else None},
        channels={"sms": {"kind": "twilio", "account_sid": SecretStr(ACCOUNT_SID),
                          "auth_token": SecretStr(AUTH_TOKEN), "from": "+15005550006"}})


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def state(engine, clock) -> WebState:  # noqa: F811
    return WebState(engine=engine, config=make_config(), clock=clock, title="Example status")


@pytest.fixture
async def client(state) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(state))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as test:
        yield test


@pytest.fixture
def ops(client) -> httpx.AsyncClient:
    """The client with the ops bearer token on every request."""
    client.headers["Authorization"] = f"Bearer {TOKEN}"
    return client
